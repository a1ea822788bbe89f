//! Errors that are data: they flow through dataflows beside the rows they replace, so that a query
//! over a relation reports them and dropping the relation retracts them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A failure evaluating a scalar expression on one row.
#[derive(Clone, Debug, Error, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EvalError {
    #[error("division by zero")]
    DivisionByZero,
    /// The full message, e.g. "integer out of range".
    #[error("{0}")]
    NumericOutOfRange(String),
    #[error("invalid input syntax for type {ty}: \"{text}\"")]
    InvalidTextRepresentation { ty: String, text: String },
    #[error("invalid input value: {0}")]
    InvalidParameterValue(String),
    #[error("more than one row returned by a subquery used as an expression")]
    MultipleRowsFromSubquery,
    #[error("value too long: {0}")]
    StringDataRightTruncation(String),
    #[error("{0}")]
    DatetimeOutOfRange(String),
    /// Date/time text that is not in any accepted format.
    #[error("invalid input syntax for type {ty}: \"{text}\"")]
    InvalidDatetimeFormat { ty: String, text: String },
    #[error("{0}")]
    InvalidRegex(String),
    /// Bytes that are not valid in the named encoding (`convert_from`).
    #[error("{0}")]
    CharacterNotInRepertoire(String),
    /// `substr` with a negative length.
    #[error("{0}")]
    SubstringError(String),
    /// A LIKE pattern ending in its escape character.
    #[error("{0}")]
    InvalidEscapeSequence(String),
    /// `ln`/`log` of zero or a negative number.
    #[error("{0}")]
    InvalidArgumentForLog(String),
    /// `sqrt` of a negative number, `power` with an undefined result.
    #[error("{0}")]
    InvalidArgumentForPower(String),
    /// `chr` of a code point the encoding cannot hold.
    #[error("{0}")]
    ProgramLimitExceeded(String),
    /// `get_byte` outside the value.
    #[error("{0}")]
    ArraySubscriptError(String),
    #[error("{0}")]
    Internal(String),
}

impl EvalError {
    /// The SQLSTATE PostgreSQL reports for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            EvalError::DivisionByZero => "22012",
            EvalError::NumericOutOfRange(_) => "22003",
            EvalError::InvalidTextRepresentation { .. } => "22P02",
            EvalError::InvalidParameterValue(_) => "22023",
            EvalError::ProgramLimitExceeded(_) => "54000",
            EvalError::ArraySubscriptError(_) => "2202E",
            EvalError::MultipleRowsFromSubquery => "21000",
            EvalError::StringDataRightTruncation(_) => "22001",
            EvalError::DatetimeOutOfRange(_) => "22008",
            EvalError::InvalidDatetimeFormat { .. } => "22007",
            EvalError::InvalidRegex(_) => "2201B",
            EvalError::CharacterNotInRepertoire(_) => "22021",
            EvalError::SubstringError(_) => "22011",
            EvalError::InvalidEscapeSequence(_) => "22025",
            EvalError::InvalidArgumentForLog(_) => "2201E",
            EvalError::InvalidArgumentForPower(_) => "2201F",
            EvalError::Internal(_) => "XX000",
        }
    }
}

/// A source record that its format could not decode.
#[derive(Clone, Debug, Error, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[error("Decode error: {message} (shard {shard}, sequence number {sequence_number}, original bytes: {})", hex_preview(.bytes))]
pub struct DecodeError {
    pub message: String,
    pub shard: String,
    pub sequence_number: String,
    pub bytes: Vec<u8>,
}

fn hex_preview(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let mut out: String = bytes.iter().take(MAX).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > MAX {
        out.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    out
}

/// Any error that a dataflow carries as data.
#[derive(Clone, Debug, Error, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DataflowError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The source itself failed (stream deleted, data expired before it was read, ...).
    #[error("source {source_name}: {message}")]
    Source { source_name: String, message: String },
}

impl DataflowError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            DataflowError::Eval(e) => e.sqlstate(),
            DataflowError::Decode(_) => "XX001",
            DataflowError::Source { .. } => "XX000",
        }
    }
}
