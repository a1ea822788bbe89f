//! Rendering of equi-joins, inner and outer.
//!
//! Both inputs are arranged by their evaluated key `Row` (a NULL in any key column never matches,
//! and such rows are left out of the arrangement), matched with `join_core`, and filtered by the
//! residual predicates. Outer joins add the preserved side's unmatched rows, padded with NULLs:
//! `unmatched = input - (input semijoin distinct(matched input rows))`.

use differential_dataflow::VecCollection;
use freshet_expr::{JoinKind, Predicates, RowPipeline, ScalarExpr, Scalars};
use freshet_repr::{DataflowError, Datum, Diff, Row, Timestamp};

use super::batcher::arrange_by_key;
use super::{eval_key, fork_collection, partition, ErrCollection, Key, OkCollection, Rendered};

/// What to join on and how.
pub struct JoinSpec {
    pub left_key: Vec<ScalarExpr>,
    pub right_key: Vec<ScalarExpr>,
    pub residual: Vec<ScalarExpr>,
    pub kind: JoinKind,
    pub left_arity: usize,
    pub right_arity: usize,
}

type Keyed<'s> = VecCollection<'s, Timestamp, (Key, Row), Diff>;

/// Joins `left` and `right`; output rows are left columns followed by right columns, passed
/// through `then` when given: inside the join for inner joins, after it for outer joins (whose
/// unmatched side is found from the joined rows themselves).
pub fn render_join<'s>(
    left: Rendered<'s>,
    right: Rendered<'s>,
    spec: JoinSpec,
    then: Option<RowPipeline>,
) -> Rendered<'s> {
    let (left_keyed, left_key_err) = keyed(left.ok.clone(), spec.left_key);
    let (right_keyed, right_key_err) = keyed(right.ok.clone(), spec.right_key);
    let (inside, after) = if spec.kind == JoinKind::Inner { (then, None) } else { (None, then) };
    // The residual (and `inside`) run on each match: the joined datums are assembled in a reused
    // buffer, and only the output becomes a row.
    let residual = Predicates::new(&spec.residual);
    let mut scratch = Vec::new();
    let (matched, residual_err) = partition(
        arrange_by_key(left_keyed, "ArrangeByKey")
            .join_core(arrange_by_key(right_keyed, "ArrangeByKey"), move |_key, l, r| {
                matched_row(l, r, &residual, inside.as_ref(), &mut scratch)
            }),
    );

    let mut ok = matched.clone();
    let (left_arity, right_arity) = (spec.left_arity, spec.right_arity);
    if matches!(spec.kind, JoinKind::LeftOuter | JoinKind::FullOuter) {
        let matched_left = matched.clone().map(move |row| row.iter().take(left_arity).cloned().collect::<Row>());
        let unmatched = unmatched(left.ok, matched_left);
        ok = ok.concat(unmatched.map(move |row| row.concat(&nulls(right_arity))));
    }
    if matches!(spec.kind, JoinKind::RightOuter | JoinKind::FullOuter) {
        let matched_right = matched.map(move |row| row.iter().skip(left_arity).cloned().collect::<Row>());
        let unmatched = unmatched(right.ok, matched_right);
        ok = ok.concat(unmatched.map(move |row| nulls(left_arity).concat(&row)));
    }
    let err = left.err.concat(right.err).concat(left_key_err).concat(right_key_err).concat(residual_err);
    match after {
        Some(pipeline) => {
            let (ok, pipeline_err) = super::pipeline::over_collection(ok, pipeline);
            Rendered { ok, err: err.concat(pipeline_err) }
        }
        None => Rendered { ok, err },
    }
}

/// The match of `l` and `r` if the residual holds, through `then`; the first failing predicate or
/// expression is the error.
fn matched_row(
    l: &Row,
    r: &Row,
    residual: &Predicates,
    then: Option<&RowPipeline>,
    scratch: &mut Vec<Datum>,
) -> Option<Result<Row, DataflowError>> {
    if residual.is_empty() && then.is_none() {
        return Some(Ok(l.concat(r)));
    }
    scratch.clear();
    scratch.extend(l.iter().cloned());
    scratch.extend(r.iter().cloned());
    match residual.hold(scratch) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(error) => return Some(Err(error.into())),
    }
    match then {
        Some(pipeline) => pipeline.apply(scratch).map_err(DataflowError::from).transpose(),
        None => Some(Ok(scratch.drain(..).collect())),
    }
}

/// Pairs every row with its evaluated key, leaving out rows with a NULL key.
fn keyed<'s>(ok: OkCollection<'s>, keys: Vec<ScalarExpr>) -> (Keyed<'s>, ErrCollection<'s>) {
    let keys = Scalars::new(&keys);
    fork_collection(ok.inner, "JoinKey", move |batch: &mut Vec<(Row, Timestamp, Diff)>, out| {
        for (row, time, diff) in batch.drain(..) {
            match eval_key(&keys, &row) {
                Ok(Some(key)) => out.row((key, row), time, diff),
                Ok(None) => {}
                Err(error) => out.error(error, time, diff),
            }
        }
    })
}

/// The rows of `input` that do not occur in `matched` (each input copy is kept or dropped whole).
fn unmatched<'s>(input: OkCollection<'s>, matched: OkCollection<'s>) -> OkCollection<'s> {
    let matched = super::reduce::threshold(matched, "Distinct", |_count| 1);
    let kept = input.clone().map(|row| (row, ())).semijoin(matched).map(|(row, ())| row);
    input.concat(kept.negate())
}

fn nulls(count: usize) -> Row {
    Row::new(vec![Datum::Null; count])
}
