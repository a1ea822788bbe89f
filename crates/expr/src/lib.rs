//! Freshet's plan IR: scalar expressions (`ScalarExpr`), aggregates, table functions, and the
//! relational plan (`RelationExpr`) that the SQL planner produces and the dataflow layer renders.
//!
//! This crate owns what expressions mean (typing and evaluation of every function, operator and
//! cast). It must not know SQL syntax, catalogs, timely/differential, or the wire protocol.

pub mod agg;
pub mod explain;
pub mod func;
pub mod mfp;
pub mod optimize;
pub mod relation;
pub mod scalar;
pub mod table_func;

pub use agg::{AggregateExpr, AggregateFunc};
pub use mfp::{HoistedPipeline, MapFilterProject, Predicates, RowPipeline, Scalars};
pub use optimize::optimize;
pub use relation::{JoinKind, RelationExpr};
pub use scalar::{Columns, ScalarExpr, TypedExpr};
pub use table_func::TableFunc;

/// A failure to type an expression: an unknown function, wrong argument types, an impossible cast.
/// The planner turns it into a SQL error (42883 undefined function, 42804 datatype mismatch, ...).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    #[error("function {name}({args}) does not exist")]
    UndefinedFunction { name: String, args: String },
    #[error("operator does not exist: {0}")]
    UndefinedOperator(String),
    #[error("cannot cast type {from} to {to}")]
    CannotCast { from: String, to: String },
    #[error("{0}")]
    DatatypeMismatch(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A literal that does not parse as the type its context gives it (`int_col = 'abc'`, 22P02).
    #[error("{0}")]
    InvalidLiteral(freshet_repr::EvalError),
}

impl TypeError {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            TypeError::UndefinedFunction { .. } | TypeError::UndefinedOperator(_) => "42883",
            TypeError::CannotCast { .. } | TypeError::DatatypeMismatch(_) => "42804",
            TypeError::InvalidArgument(_) => "22023",
            TypeError::Unsupported(_) => "0A000",
            TypeError::InvalidLiteral(e) => e.sqlstate(),
        }
    }
}
