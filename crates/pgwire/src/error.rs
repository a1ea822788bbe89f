//! Errors of the wire layer and their one mapping to PostgreSQL ErrorResponses.
//!
//! Every error a client sees passes through [`error_info`] or [`coord_error`] here, so severity,
//! SQLSTATE and message are decided in one place. This module must not decide *whether* to
//! report an error, only how it looks.

use std::any::Any;

use freshet_coord::CoordError;
use freshet_repr::{EvalError, ScalarType};
use pgwire::error::{ErrorInfo, PgWireError};
use thiserror::Error;

/// Errors the wire layer itself detects in what a client sent.
#[derive(Debug, Error)]
pub enum WireError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("bind message supplies {given} parameters, but prepared statement requires {expected}")]
    ParamCount { given: usize, expected: usize },
    #[error("bind message has {formats} result formats but query has {columns} columns")]
    ResultFormatCount { formats: usize, columns: usize },
    #[error("cannot insert multiple commands into a prepared statement")]
    MultipleStatements,
    #[error("internal error: {0}")]
    Panic(String),
    #[error("SUBSCRIBE must be the only statement in its query string")]
    SubscribeNotAlone,
}

/// Why one Bind parameter could not be decoded.
#[derive(Debug, Error)]
pub enum ParamError {
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    InvalidUtf8,
    #[error("incorrect binary data format in bind parameter of type {0}")]
    InvalidBinary(ScalarType),
    #[error("unsupported format code: {0}")]
    UnknownFormatCode(i16),
    #[error("bind message has {codes} parameter formats but {fields} parameters")]
    FormatCount { codes: usize, fields: usize },
    #[error(transparent)]
    Text(EvalError),
}

impl ParamError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ParamError::InvalidUtf8 => "22021",
            ParamError::InvalidBinary(_) => "22P03",
            ParamError::UnknownFormatCode(_) | ParamError::FormatCount { .. } => "08P01",
            ParamError::Text(e) => e.sqlstate(),
        }
    }
}

impl WireError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            WireError::Param(e) => e.sqlstate(),
            WireError::ParamCount { .. } | WireError::ResultFormatCount { .. } => "08P01",
            WireError::MultipleStatements => "42601",
            WireError::Panic(_) => "XX000",
            WireError::SubscribeNotAlone => "0A000",
        }
    }
}

const SEVERITY_ERROR: &str = "ERROR";

/// The ErrorResponse for a coordinator error (boxed: `ErrorInfo` is large and pgwire boxes it).
pub fn coord_error(err: &CoordError) -> Box<ErrorInfo> {
    Box::new(ErrorInfo::new(SEVERITY_ERROR.to_string(), err.sqlstate().to_string(), err.to_string()))
}

/// The ErrorResponse for a wire-layer error.
pub fn error_info(err: &WireError) -> Box<ErrorInfo> {
    Box::new(ErrorInfo::new(SEVERITY_ERROR.to_string(), err.sqlstate().to_string(), err.to_string()))
}

/// Either error as the `PgWireError` pgwire's handlers return.
pub fn to_pgwire(info: Box<ErrorInfo>) -> PgWireError {
    PgWireError::UserError(info)
}

/// The error a panic in statement execution turns into (the panic message, when it has one).
pub fn panic_error(payload: &(dyn Any + Send)) -> WireError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "statement execution panicked".to_string());
    WireError::Panic(message)
}

impl From<WireError> for PgWireError {
    fn from(err: WireError) -> PgWireError {
        to_pgwire(error_info(&err))
    }
}

impl From<ParamError> for PgWireError {
    fn from(err: ParamError) -> PgWireError {
        WireError::Param(err).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coord_errors_keep_sqlstate_and_message() {
        let info = coord_error(&CoordError::Canceled);
        assert_eq!((info.severity.as_str(), info.code.as_str()), ("ERROR", "57014"));
        assert_eq!(info.message, "canceling statement due to user request");

        let info = coord_error(&CoordError::Storage("disk full".into()));
        assert_eq!((info.code.as_str(), info.message.as_str()), ("58030", "disk full"));

        let eval = EvalError::DivisionByZero;
        let info = coord_error(&CoordError::Dataflow(freshet_repr::DataflowError::from(eval)));
        assert_eq!(info.code, "22012");
    }

    #[test]
    fn wire_errors_have_postgres_codes() {
        let count = WireError::ParamCount { given: 1, expected: 2 };
        assert_eq!(error_info(&count).code, "08P01");
        assert_eq!(error_info(&count).message, "bind message supplies 1 parameters, but prepared statement requires 2");
        assert_eq!(error_info(&WireError::MultipleStatements).code, "42601");
        assert_eq!(error_info(&ParamError::InvalidBinary(ScalarType::Int32).into()).code, "22P03");
        assert_eq!(error_info(&ParamError::InvalidUtf8.into()).code, "22021");
        let text = ParamError::Text(EvalError::InvalidTextRepresentation { ty: "integer".into(), text: "x".into() });
        assert_eq!(error_info(&text.into()).code, "22P02");
    }

    #[test]
    fn panics_become_internal_errors() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let info = error_info(&panic_error(payload.as_ref()));
        assert_eq!((info.code.as_str(), info.message.as_str()), ("XX000", "internal error: boom"));
        let payload: Box<dyn Any + Send> = Box::new(String::from("formatted boom"));
        assert_eq!(error_info(&panic_error(payload.as_ref())).message, "internal error: formatted boom");
        let payload: Box<dyn Any + Send> = Box::new(17u32);
        assert_eq!(error_info(&panic_error(payload.as_ref())).message, "internal error: statement execution panicked");
    }

    #[test]
    fn pgwire_errors_carry_the_info() {
        match PgWireError::from(WireError::MultipleStatements) {
            PgWireError::UserError(info) => assert_eq!(info.code, "42601"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
