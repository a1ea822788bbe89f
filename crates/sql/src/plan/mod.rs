//! Plans: what a statement means, ready for the coordinator to execute. No SQL text survives here
//! except what is kept for `SHOW CREATE`.

mod ddl;
mod dml;
pub mod query;
mod show;
pub mod source;
#[cfg(test)]
mod source_tests;
pub mod statement;
mod subscribe;
#[cfg(test)]
mod tests;

pub use show::result_desc;

use freshet_expr::{RelationExpr, ScalarExpr};
use freshet_repr::{GlobalId, RelationDesc, ScalarType};
use freshet_storage::SourceDesc;

use crate::catalog::ObjectKind;

/// The parsed (not yet validated) `CREATE SOURCE ... FROM KINESIS` statement.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateSourceStatement {
    pub name: String,
    pub if_not_exists: bool,
    pub columns: Vec<String>,
    pub arn: String,
    /// WITH options, lower-cased keys, raw values.
    pub options: Vec<(String, String)>,
    pub format: FormatSpec,
    pub envelope: Option<String>,
    pub progress_name: Option<String>,
    /// The statement as written (secrets included; redact before showing or storing it).
    pub sql: String,
}

/// The FORMAT clause as written.
#[derive(Clone, Debug, PartialEq)]
pub enum FormatSpec {
    Bytes,
    Text,
    Json,
    Csv { columns: usize },
    Regex { pattern: String },
    Protobuf { message: String, schema_file: String },
}

/// What to do with the rows of a SELECT after they are read: the ORDER BY, LIMIT and OFFSET that
/// are applied once, outside the dataflow, and the final projection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowSetFinishing {
    pub order_by: Vec<freshet_expr::relation::ColumnOrder>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub project: Vec<usize>,
}

/// A statement's shape for the extended protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementDesc {
    pub params: Vec<ScalarType>,
    /// `None` for statements that return no rows.
    pub result: Option<RelationDesc>,
}

/// The change an UPDATE or DELETE makes to each selected row.
#[derive(Clone, Debug, PartialEq)]
pub enum MutationKind {
    Delete,
    /// For each column, the expression over the old row giving the new value.
    Update(Vec<ScalarExpr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    CreateTable {
        name: String,
        desc: RelationDesc,
        if_not_exists: bool,
        create_sql: String,
    },
    CreateSource {
        name: String,
        if_not_exists: bool,
        source: SourceDesc,
        desc: RelationDesc,
        progress_name: String,
        create_sql: String,
    },
    CreateView {
        name: String,
        if_not_exists: bool,
        or_replace: bool,
        materialized: bool,
        expr: RelationExpr,
        desc: RelationDesc,
        create_sql: String,
    },
    /// INSERT: the rows of `rows` (typed to the table's columns) are added to `target`.
    Insert {
        target: GlobalId,
        rows: RelationExpr,
    },
    /// UPDATE/DELETE: the rows of `selection` (whole rows of `target`) are removed, and for UPDATE
    /// replaced by the mapped rows.
    Mutate {
        target: GlobalId,
        selection: RelationExpr,
        kind: MutationKind,
    },
    Select {
        expr: RelationExpr,
        desc: RelationDesc,
        finishing: RowSetFinishing,
    },
    /// SUBSCRIBE: `expr`'s rows as of the start (if `snapshot`), then every change; `desc` is the
    /// result's shape, `mz_timestamp` (, `mz_progressed` with `progress`) and `mz_diff` before
    /// `expr`'s columns. With `copy`, the rows go out as COPY text data
    /// (`COPY (SUBSCRIBE ...) TO STDOUT`).
    Subscribe {
        expr: RelationExpr,
        desc: RelationDesc,
        snapshot: bool,
        progress: bool,
        copy: bool,
    },
    Drop {
        kind: ObjectKind,
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    ShowObjects {
        kind: ObjectKind,
    },
    ShowColumns {
        id: GlobalId,
    },
    ShowCreate {
        kind: ObjectKind,
        name: String,
    },
    ShowVariable {
        name: String,
    },
    SetVariable {
        name: String,
        value: Option<String>,
    },
    Explain {
        expr: RelationExpr,
    },
    StartTransaction,
    Commit,
    Rollback,
    Empty,
}
