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
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    TransactionAborted,
    #[error("a transaction that has written cannot read: COMMIT (or ROLLBACK) first")]
    ReadAfterWriteInTransaction,
    #[error("{0}")]
    Storage(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownVariable(String),
    #[error("null value in column \"{column}\" of relation \"{relation}\" violates not-null constraint")]
    NotNullViolation { column: String, relation: String },
    #[error("{kind} \"{name}\" does not exist")]
    UnknownObject { kind: String, name: String },
    #[error("{0}")]
    Source(String),
    #[error("cannot create \"{0}\": schema mz_internal is read-only")]
    ReadOnlySchema(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("SUBSCRIBE ended because relation \"{0}\" was dropped")]
    SubscribeInputDropped(String),
}

impl CoordError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            CoordError::Sql(e) => e.sqlstate(),
            CoordError::Dataflow(e) => e.sqlstate(),
            CoordError::Canceled => "57014",
            CoordError::TransactionAborted => "25P02",
            CoordError::ReadAfterWriteInTransaction => "25000",
            CoordError::Storage(_) => "58030",
            CoordError::UnknownVariable(_) => "42704",
            CoordError::NotNullViolation { .. } => "23502",
            CoordError::UnknownObject { .. } => "42P01",
            CoordError::Source(_) => "XX000",
            CoordError::ReadOnlySchema(_) => "42501",
            CoordError::Internal(_) => "XX000",
            // As when the relation is looked up and not found.
            CoordError::SubscribeInputDropped(_) => "42P01",
        }
    }
}
