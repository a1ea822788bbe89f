//! The relational plan IR: what a query or view computes, as a tree of operators over relations.
//! The dataflow layer renders it into incrementally maintained collections.

use freshet_repr::{ColumnType, Datum, Diff, GlobalId, RelationType, Row};
use serde::{Deserialize, Serialize};
use smallvec::{smallvec, SmallVec};

use crate::{AggregateExpr, ScalarExpr, TableFunc};

/// Join variants the dataflow renders natively. Outer joins are rendered as an inner join plus the
/// unmatched rows of the preserved side(s) padded with NULLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JoinKind {
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
}

/// A relational operator tree. Every node's output columns are positional; `typ()` gives them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RelationExpr {
    /// A fixed multiset of rows.
    Constant { rows: Vec<(Row, Diff)>, typ: RelationType },
    /// The contents of a catalog relation (table, source, materialized view, progress collection).
    Get { id: GlobalId, typ: RelationType },
    /// Appends one column per expression; each expression may refer to columns appended before it.
    Map { input: Box<RelationExpr>, scalars: Vec<ScalarExpr> },
    /// Keeps the rows for which every predicate is true.
    Filter { input: Box<RelationExpr>, predicates: Vec<ScalarExpr> },
    /// Keeps the listed columns, in order (columns may repeat).
    Project { input: Box<RelationExpr>, outputs: Vec<usize> },
    /// Appends the columns of each row the table function produces for the row (zero or more rows).
    FlatMap { input: Box<RelationExpr>, func: TableFunc, exprs: Vec<ScalarExpr> },
    /// Joins `left` and `right` where `left_key[i] = right_key[i]` for all i (SQL equality: NULL keys
    /// never match), then keeps rows for which every `residual` predicate over the concatenated row
    /// is true. Output: left columns followed by right columns.
    Join {
        left: Box<RelationExpr>,
        right: Box<RelationExpr>,
        left_key: Vec<ScalarExpr>,
        right_key: Vec<ScalarExpr>,
        residual: Vec<ScalarExpr>,
        kind: JoinKind,
    },
    /// Groups by `group_key` and computes `aggregates` per group. Output: the key columns followed by
    /// one column per aggregate. With an empty key over an empty input, no row is produced; the
    /// planner adds the SQL "one row of defaults" behaviour where needed.
    Reduce { input: Box<RelationExpr>, group_key: Vec<ScalarExpr>, aggregates: Vec<AggregateExpr> },
    /// Each distinct row once.
    Distinct { input: Box<RelationExpr> },
    /// The multiset sum of the inputs, which must have the same arity.
    Union { inputs: Vec<RelationExpr> },
    /// Negates every multiplicity (for EXCEPT ALL and anti-joins).
    Negate { input: Box<RelationExpr> },
    /// Keeps rows with positive multiplicity.
    Threshold { input: Box<RelationExpr> },
    /// Per group, the rows ranked `offset..offset+limit` by `order_by` (all if `limit` is None);
    /// `with_ties` also keeps the rows that `order_by` ranks equal to the last one kept (SQL's
    /// `FETCH FIRST n ROWS WITH TIES`).
    TopK {
        input: Box<RelationExpr>,
        group_key: Vec<usize>,
        order_by: Vec<ColumnOrder>,
        limit: Option<usize>,
        offset: usize,
        #[serde(default)]
        with_ties: bool,
    },
}

/// One ORDER BY term over a positional column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnOrder {
    pub column: usize,
    pub desc: bool,
    pub nulls_last: bool,
}

/// A node's direct inputs: held inline for all but a union of more than two, since plans are
/// walked on every execution of a prepared query (binding its parameters).
pub type Inputs<T> = SmallVec<[T; 2]>;

/// The direct inputs of a node, left to right, borrowed through `$iter` (`iter` or `iter_mut`)
/// and `$borrow` (`&` or `&mut`): one match for both borrows, so that a new variant cannot be
/// missed in one of them.
macro_rules! inputs_of {
    ($node:expr, $iter:ident, $($borrow:tt)+) => {
        match $node {
            RelationExpr::Constant { .. } | RelationExpr::Get { .. } => SmallVec::new(),
            RelationExpr::Map { input, .. }
            | RelationExpr::Filter { input, .. }
            | RelationExpr::Project { input, .. }
            | RelationExpr::FlatMap { input, .. }
            | RelationExpr::Reduce { input, .. }
            | RelationExpr::Distinct { input }
            | RelationExpr::Negate { input }
            | RelationExpr::Threshold { input }
            | RelationExpr::TopK { input, .. } => smallvec![$($borrow)+ **input],
            RelationExpr::Join { left, right, .. } => smallvec![$($borrow)+ **left, $($borrow)+ **right],
            RelationExpr::Union { inputs } => inputs.$iter().collect(),
        }
    };
}

impl RelationExpr {
    /// The column types this expression produces. `input_type` of a Get is carried in the node.
    pub fn typ(&self) -> RelationType {
        match self {
            RelationExpr::Constant { typ, .. } | RelationExpr::Get { typ, .. } => typ.clone(),
            RelationExpr::Map { input, scalars } => {
                let mut typ = input.typ();
                for scalar in scalars {
                    let column = crate::func::infer_type(scalar, &typ.columns);
                    typ.columns.push(column);
                }
                typ
            }
            RelationExpr::Filter { input, .. }
            | RelationExpr::Distinct { input }
            | RelationExpr::Negate { input }
            | RelationExpr::Threshold { input }
            | RelationExpr::TopK { input, .. } => input.typ(),
            RelationExpr::Project { input, outputs } => {
                let typ = input.typ();
                RelationType::new(outputs.iter().map(|&i| typ.columns[i]).collect())
            }
            RelationExpr::FlatMap { input, func, .. } => {
                let mut typ = input.typ();
                typ.columns.extend(func.output_type());
                typ
            }
            RelationExpr::Join { left, right, kind, .. } => {
                let nullable_left = matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter);
                let nullable_right = matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter);
                let with_nulls = |cols: Vec<ColumnType>, nullable: bool| {
                    cols.into_iter().map(move |c| ColumnType::new(c.scalar_type, c.nullable || nullable))
                };
                let mut columns: Vec<ColumnType> = with_nulls(left.typ().columns, nullable_left).collect();
                columns.extend(with_nulls(right.typ().columns, nullable_right));
                RelationType::new(columns)
            }
            RelationExpr::Reduce { input, group_key, aggregates } => {
                let input_typ = input.typ();
                let mut columns: Vec<ColumnType> =
                    group_key.iter().map(|k| crate::func::infer_type(k, &input_typ.columns)).collect();
                columns.extend(aggregates.iter().map(|a| a.output_type(&input_typ.columns)));
                RelationType::new(columns)
            }
            RelationExpr::Union { inputs } => {
                let mut iter = inputs.iter().map(RelationExpr::typ);
                let mut typ = iter.next().unwrap_or_default();
                for other in iter {
                    for (col, o) in typ.columns.iter_mut().zip(other.columns) {
                        col.nullable |= o.nullable;
                    }
                }
                typ
            }
        }
    }

    pub fn arity(&self) -> usize {
        self.typ().arity()
    }

    /// The ids of every catalog relation this expression reads.
    pub fn depends_on(&self) -> Vec<GlobalId> {
        let mut ids = Vec::new();
        self.visit(&mut |e| {
            if let RelationExpr::Get { id, .. } = e {
                if !ids.contains(id) {
                    ids.push(*id);
                }
            }
        });
        ids
    }

    /// Calls `f` on this node and every descendant, parents first.
    pub fn visit(&self, f: &mut impl FnMut(&RelationExpr)) {
        f(self);
        for input in self.inputs() {
            input.visit(f);
        }
    }

    /// Calls `f` on this node and then on every descendant of what `f` left, parents first.
    pub fn visit_mut(&mut self, f: &mut impl FnMut(&mut RelationExpr)) {
        f(self);
        for input in self.inputs_mut() {
            input.visit_mut(f);
        }
    }

    /// Replaces every parameter `$i` in the plan by a literal of `values[i - 1]`; `false` when a
    /// parameter has no value.
    pub fn bind_params(&mut self, values: &[Datum]) -> bool {
        let mut bound = true;
        self.visit_mut(&mut |node| {
            for scalar in crate::optimize::scalars_mut(node) {
                bound &= scalar.bind_params(values);
            }
        });
        bound
    }

    fn inputs_mut(&mut self) -> Inputs<&mut RelationExpr> {
        inputs_of!(self, iter_mut, &mut)
    }

    /// The direct inputs of this node, left to right.
    pub fn inputs(&self) -> Inputs<&RelationExpr> {
        inputs_of!(self, iter, &)
    }

    // Builders, so that planner code reads as a pipeline.

    pub fn map(self, scalars: Vec<ScalarExpr>) -> Self {
        if scalars.is_empty() {
            return self;
        }
        RelationExpr::Map { input: Box::new(self), scalars }
    }

    pub fn filter(self, predicates: Vec<ScalarExpr>) -> Self {
        if predicates.is_empty() {
            return self;
        }
        RelationExpr::Filter { input: Box::new(self), predicates }
    }

    pub fn project(self, outputs: Vec<usize>) -> Self {
        RelationExpr::Project { input: Box::new(self), outputs }
    }

    pub fn distinct(self) -> Self {
        RelationExpr::Distinct { input: Box::new(self) }
    }

    pub fn negate(self) -> Self {
        RelationExpr::Negate { input: Box::new(self) }
    }

    pub fn threshold(self) -> Self {
        RelationExpr::Threshold { input: Box::new(self) }
    }

    pub fn union(self, other: RelationExpr) -> Self {
        RelationExpr::Union { inputs: vec![self, other] }
    }
}
