//! Errors a statement can end with; each knows its SQLSTATE, which the wire layer reports.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoordError {
    #[error(transparent)]
    Sql(#[from] freshet_sql::SqlError),
    #[error(transparent)]
    Dataflow(#[from] freshet_repr::DataflowError),
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("{0}")]
    Storage(String),
    #[error("{0}")]
    Source(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoordError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            CoordError::Sql(e) => e.sqlstate(),
            CoordError::Dataflow(e) => e.sqlstate(),
            CoordError::Canceled => "57014",
            CoordError::Storage(_) => "58030",
            CoordError::Source(_) => "XX000",
            CoordError::Internal(_) => "XX000",
        }
    }
}
