//! Rewrites a join of a relation to its own per-group maximum (or minimum) into one ranking.
//!
//! `X JOIN (SELECT k, max(e) AS m FROM X GROUP BY k) g ON X.k = g.k AND X.e = g.m` keeps the rows
//! of `X` that hold their group's greatest `e` (Nexmark q7, "the rows with the latest timestamp
//! per key"). Maintained as written, it arranges `X` twice: by `k` for the aggregate and by
//! `(k, e)` for the join. As a `TopK` per `k` ordered by `e` that keeps ties, it arranges `X`
//! once, and the ranking reads each group's rows as the aggregate did.
//!
//! The rewrite only applies where the two plans agree on every row and every value:
//! * the join is inner, has no residual, and equates every output column of the aggregate
//!   (each group key and the aggregate) to the same expression over `X`'s columns;
//! * the aggregate's input is `X` itself or a projection of what `X` projects;
//! * every joined value has a type whose equality is identity (integers, text, bytes, booleans,
//!   dates, timestamps), so a row's own key and extremum are the values the join would have
//!   output from the aggregate's side (`0.0` and `-0.0` join as equal but print differently);
//! * rows whose key or value is NULL are filtered out first: a NULL never joins, and max and min
//!   skip NULLs.
//!
//! This module must not consult the catalog: it rewrites one expression.

use crate::func::{infer_type, UnaryFunc};
use crate::relation::ColumnOrder;
use crate::{AggregateExpr, AggregateFunc, JoinKind, RelationExpr, ScalarExpr};

/// Replaces every join of a relation to its own per-group extremum by a ranking; whether there
/// was one.
pub fn rank_extremum_joins(expr: &mut RelationExpr) -> bool {
    let mut ranked_any = false;
    expr.visit_mut(&mut |node| {
        if let Some(ranked) = as_ranking(node) {
            *node = ranked;
            ranked_any = true;
        }
    });
    ranked_any
}

fn as_ranking(node: &RelationExpr) -> Option<RelationExpr> {
    let RelationExpr::Join { left, right, left_key, right_key, residual, kind: JoinKind::Inner } = node else {
        return None;
    };
    if !residual.is_empty() {
        return None;
    }
    if let Some(ranked) = rank(left, right, left_key, right_key) {
        return Some(ranked);
    }
    // The rows are on the right: the aggregate's columns come first in the join's output.
    let ranked = rank(right, left, right_key, left_key)?;
    let (rows, extremum) = (right.arity(), left.arity());
    Some(ranked.project((rows..rows + extremum).chain(0..rows).collect()))
}

/// `rows JOIN extremum ON row_keys = extremum_keys` as a ranking of `rows`, with the output
/// columns of the join with `rows` on the left, or None where the rewrite does not apply.
fn rank(
    rows: &RelationExpr,
    extremum: &RelationExpr,
    row_keys: &[ScalarExpr],
    extremum_keys: &[ScalarExpr],
) -> Option<RelationExpr> {
    let RelationExpr::Reduce { input, group_key, aggregates } = extremum else { return None };
    let [AggregateExpr { func, expr: argument, .. }] = aggregates.as_slice() else { return None };
    let desc = match func {
        AggregateFunc::Max => true,
        AggregateFunc::Min => false,
        _ => return None,
    };
    let columns = columns_within(rows, input)?;
    let over_rows = |e: &ScalarExpr| {
        let mut e = e.clone();
        e.permute(&|c| columns.get(c).copied().unwrap_or(usize::MAX));
        e
    };
    let wanted: Vec<ScalarExpr> = group_key.iter().chain([argument]).map(over_rows).collect();
    if joined_to(row_keys, extremum_keys, wanted.len())? != wanted.iter().collect::<Vec<_>>() {
        return None;
    }
    let types = rows.typ().columns;
    let typed: Vec<_> = wanted.iter().map(|e| infer_type(e, &types)).collect();
    if !typed.iter().all(|t| t.scalar_type.equal_values_are_identical()) {
        return None;
    }
    // Computed keys become columns; plain columns are ranked where they are.
    let arity = rows.arity();
    let mut scalars = Vec::new();
    let mut positions = Vec::new();
    for e in &wanted {
        match e {
            ScalarExpr::Column(c) => positions.push(*c),
            computed => {
                positions.push(arity + scalars.len());
                scalars.push(computed.clone());
            }
        }
    }
    let not_null = positions
        .iter()
        .zip(&typed)
        .filter(|(_, t)| t.nullable)
        .map(|(p, _)| ScalarExpr::Column(*p).call_unary(UnaryFunc::IsNotNull))
        .collect::<Vec<_>>();
    let mut input = rows.clone();
    if !scalars.is_empty() {
        input = input.map(scalars);
    }
    if !not_null.is_empty() {
        input = input.filter(not_null);
    }
    let (keys, value) = positions.split_at(group_key.len());
    let ranked = RelationExpr::TopK {
        input: Box::new(input),
        group_key: keys.to_vec(),
        order_by: vec![ColumnOrder { column: value[0], desc, nulls_last: true }],
        limit: Some(1),
        offset: 0,
        with_ties: true,
    };
    Some(ranked.project((0..arity).chain(positions).collect()))
}

/// For each of the aggregate's `outputs` columns, the row-side expression the join equates it
/// to, or None unless the join equates each of them exactly once and nothing else.
fn joined_to<'a>(
    row_keys: &'a [ScalarExpr],
    extremum_keys: &[ScalarExpr],
    outputs: usize,
) -> Option<Vec<&'a ScalarExpr>> {
    if row_keys.len() != outputs || extremum_keys.len() != outputs {
        return None;
    }
    let mut joined = vec![None; outputs];
    for (row_key, extremum_key) in row_keys.iter().zip(extremum_keys) {
        let ScalarExpr::Column(c) = extremum_key else { return None };
        if joined.get_mut(*c)?.replace(row_key).is_some() {
            return None;
        }
    }
    joined.into_iter().collect()
}

/// Where each column of `input` sits among `rows`' columns, when `input` reads the same relation
/// as `rows` (both possibly through a projection of it).
fn columns_within(rows: &RelationExpr, input: &RelationExpr) -> Option<Vec<usize>> {
    let (rows_base, rows_columns) = split_projection(rows);
    let (input_base, input_columns) = split_projection(input);
    if rows_base != input_base {
        return None;
    }
    input_columns.iter().map(|c| rows_columns.iter().position(|r| r == c)).collect()
}

fn split_projection(expr: &RelationExpr) -> (&RelationExpr, Vec<usize>) {
    match expr {
        RelationExpr::Project { input, outputs } => (input, outputs.clone()),
        other => (other, (0..other.arity()).collect()),
    }
}

#[cfg(test)]
mod tests;
