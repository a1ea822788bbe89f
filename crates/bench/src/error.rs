//! The suite's one error type. Every measurement returns it; `main` prints it and exits non-zero, so
//! a broken benchmark is never reported as a figure.

use std::time::Duration;

/// Why a benchmark could not produce its figure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Command { program: String, status: String, stderr: String },
    #[error("{what} did not happen within {limit:?}")]
    Timeout { what: String, limit: Duration },
    #[error("SQL `{sql}` failed: {message}")]
    Sql { sql: String, message: String },
    #[error("Kinesis {call} failed: {message}")]
    Kinesis { call: &'static str, message: String },
    #[error("unexpected output from {what}: {detail}")]
    Parse { what: String, detail: String },
    #[error("{0}")]
    Setup(String),
}

impl BenchError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Io { what: what.into(), source }
    }

    pub fn kinesis<E: std::error::Error>(call: &'static str, err: E) -> BenchError {
        BenchError::Kinesis { call, message: full_chain(&err) }
    }
}

/// The error and all its sources on one line (SDK errors hide the cause in the chain).
fn full_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub type Result<T> = std::result::Result<T, BenchError>;
