//! Errors of parsing and planning, each with the SQLSTATE PostgreSQL would report.

use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq)]
pub enum SqlError {
    #[error("{0}")]
    Parse(String),
    #[error("relation \"{0}\" does not exist")]
    UnknownRelation(String),
    #[error("column \"{0}\" does not exist")]
    UnknownColumn(String),
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: String, name: String },
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error(transparent)]
    Type(#[from] freshet_expr::TypeError),
    #[error(transparent)]
    Eval(#[from] freshet_repr::EvalError),
    #[error("column \"{0}\" must appear in the GROUP BY clause or be used in an aggregate function")]
    Grouping(String),
    /// Aggregates where they are not allowed (WHERE, GROUP BY, nested): 42803 like `Grouping`.
    #[error("{0}")]
    InvalidGrouping(String),
    /// ORDER BY/GROUP BY positions out of range, DISTINCT with ORDER BY outside the list: 42P10.
    #[error("{0}")]
    InvalidColumnReference(String),
    #[error("{0}")]
    InvalidObjectDefinition(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    WrongObjectType(String),
    #[error("{0}")]
    DependentObjects(String),
    #[error("type \"{0}\" does not exist")]
    UnknownType(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    /// A named object of a specific kind (`source "x" does not exist`).
    #[error("{kind} \"{name}\" does not exist")]
    UnknownObject { kind: String, name: String },
    #[error("column \"{column}\" of relation \"{relation}\" does not exist")]
    UnknownTableColumn { column: String, relation: String },
    #[error("schema \"{0}\" does not exist")]
    UnknownSchema(String),
    #[error("null value in column \"{column}\" of relation \"{relation}\" violates not-null constraint")]
    NotNullViolation { column: String, relation: String },
    /// An unsupported feature whose message is complete as written (unlike `Unsupported`, which
    /// appends "is not supported").
    #[error("{0}")]
    FeatureNotSupported(String),
}

impl SqlError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SqlError::Parse(_) => "42601",
            SqlError::UnknownRelation(_) => "42P01",
            SqlError::UnknownColumn(_) => "42703",
            SqlError::AmbiguousColumn(_) => "42702",
            SqlError::AlreadyExists { .. } => "42P07",
            SqlError::Unsupported(_) => "0A000",
            SqlError::Type(e) => e.sqlstate(),
            SqlError::Eval(e) => e.sqlstate(),
            SqlError::Grouping(_) | SqlError::InvalidGrouping(_) => "42803",
            SqlError::InvalidColumnReference(_) => "42P10",
            SqlError::InvalidObjectDefinition(_) => "42P17",
            SqlError::InvalidParameter(_) => "22023",
            SqlError::WrongObjectType(_) => "42809",
            SqlError::DependentObjects(_) => "2BP01",
            SqlError::UnknownType(_) => "42704",
            SqlError::DuplicateColumn(_) => "42701",
            SqlError::UnknownObject { .. } => "42P01",
            SqlError::UnknownTableColumn { .. } => "42703",
            SqlError::UnknownSchema(_) => "3F000",
            SqlError::NotNullViolation { .. } => "23502",
            SqlError::FeatureNotSupported(_) => "0A000",
        }
    }
}
