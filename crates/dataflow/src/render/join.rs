//! Rendering of equi-joins, inner and outer.
//!
//! Both inputs are arranged by their evaluated `Key` (a NULL in any key column never matches,
//! and such rows are left out of the arrangement), matched with `join_core`, and filtered by the
//! residual predicates. Outer joins add the preserved side's unmatched rows, padded with NULLs:
//! `unmatched = input - (input semijoin distinct(matched input rows))`.
//!
//! Arranged values leave out the columns that the key holds as they are (`thinning`), and the
//! joined rows take them from the key.
//!
//! An inner join's input that is a `DISTINCT` is made distinct by the join itself: its rows are
//! keyed first and reduced per `(key, row)`, and the reduction's output arrangement is the one the
//! join reads. That saves the second arrangement (a sort and a copy of every distinct row) that
//! arranging the DISTINCT's output by the join key would cost (Nexmark q8 joins two of them).

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::VecCollection;
use freshet_expr::{JoinKind, Predicates, RowPipeline, ScalarExpr, Scalars};
use freshet_repr::{DataflowError, Datum, Diff, Row, Timestamp};

mod index;
mod thinning;

pub use index::{IndexSpec, StoredRead, StoredSide};
pub use thinning::Thinning;

use super::batcher::arrange_by_key;
use super::pipeline::ImportedRows;
use super::{eval_key, fork_collection, partition, ErrCollection, Key, OkCollection, Rendered};

/// What to join on and how.
pub struct JoinSpec {
    pub left_key: Vec<ScalarExpr>,
    pub right_key: Vec<ScalarExpr>,
    pub residual: Vec<ScalarExpr>,
    pub kind: JoinKind,
    pub left_arity: usize,
    pub right_arity: usize,
    pub left_thinning: Thinning,
    pub right_thinning: Thinning,
}

pub(super) type Keyed<'s> = VecCollection<'s, Timestamp, (Key, Row), Diff>;
pub(super) type ByKey<'s> = Arranged<'s, TraceAgent<ValSpine<Key, Row, Timestamp, Diff>>>;

/// One input of a join.
pub struct JoinInput<'s> {
    pub rendered: Rendered<'s>,
    /// The join makes the rows distinct before matching them (the input is a `DISTINCT` of
    /// `rendered`); only for inner joins, whose inputs are read through the arrangement alone.
    pub distinct: bool,
}

/// Joins `left` and `right`; output rows are left columns followed by right columns, passed
/// through `then` when given: inside the join for inner joins, after it for outer joins (whose
/// unmatched side is found from the joined rows themselves).
pub fn render_join<'s>(
    left: JoinInput<'s>,
    right: JoinInput<'s>,
    spec: JoinSpec,
    then: Option<RowPipeline>,
) -> Rendered<'s> {
    debug_assert!(spec.kind == JoinKind::Inner || !(left.distinct || right.distinct));
    let (left_arranged, left_key_err) = arranged(&left, spec.left_key, spec.left_thinning.clone());
    let (right_arranged, right_key_err) = arranged(&right, spec.right_key, spec.right_thinning.clone());
    let thinnings = (spec.left_thinning, spec.right_thinning);
    let (left, right) = (left.rendered, right.rendered);
    let (inside, after) = if spec.kind == JoinKind::Inner { (then, None) } else { (None, then) };
    // The residual (and `inside`) run on each match: the joined datums are assembled in a reused
    // buffer, and only the output becomes a row.
    let residual = Predicates::new(&spec.residual);
    let mut scratch = Vec::new();
    let (matched, residual_err) = partition(left_arranged.join_core(right_arranged, move |key, l, r| {
        let matched = Match { key, left: l, right: r, thinnings: &thinnings };
        matched_row(matched, &residual, inside.as_ref(), &mut scratch)
    }));

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

/// The stored side of an index join (see `index`): the collection's arrangement and errors, and
/// how the join's side reads it.
pub struct StoredInput<'s> {
    pub rows: ImportedRows<'s>,
    pub err: ErrCollection<'s>,
    pub side: StoredSide,
    pub read: StoredRead,
}

/// Joins `keyed`, keyed by the one bigint expression `key`, with the stored rows whose first datum
/// equals the key; `then` runs inside the join.
pub fn render_index_join<'s>(
    keyed: Rendered<'s>,
    key: Vec<ScalarExpr>,
    keyed_thinning: Thinning,
    stored: StoredInput<'s>,
    residual: &[ScalarExpr],
    then: Option<RowPipeline>,
) -> Rendered<'s> {
    let (keyed_rows, key_err) = self::keyed(keyed.ok, key, keyed_thinning.clone());
    let arranged = index::arrange_for_index(keyed_rows);
    let spec = IndexSpec {
        stored_side: stored.side,
        stored_filter: Predicates::new(&stored.read.filter),
        stored_columns: stored.read.columns,
        keyed_thinning,
        residual: Predicates::new(residual),
        then,
    };
    let (ok, residual_err) = partition(index::index_join(arranged, stored.rows, spec));
    Rendered { ok, err: keyed.err.concat(stored.err).concat(key_err).concat(residual_err) }
}

/// A match of the join: the key, and the two sides' arranged values.
struct Match<'a> {
    key: &'a Key,
    left: &'a Row,
    right: &'a Row,
    thinnings: &'a (Thinning, Thinning),
}

/// The joined row of a match if the residual holds, through `then`; the first failing predicate
/// or expression is the error.
fn matched_row(
    matched: Match<'_>,
    residual: &Predicates,
    then: Option<&RowPipeline>,
    scratch: &mut Vec<Datum>,
) -> Option<Result<Row, DataflowError>> {
    let (left_thinning, right_thinning) = matched.thinnings;
    let thinned = left_thinning.thins() || right_thinning.thins();
    if residual.is_empty() && then.is_none() && !thinned {
        return Some(Ok(matched.left.concat(matched.right)));
    }
    scratch.clear();
    left_thinning.rebuild_into(matched.key, matched.left, scratch);
    right_thinning.rebuild_into(matched.key, matched.right, scratch);
    finish_match(scratch, residual, then)
}

/// The joined row whose datums are `scratch` if the residual holds, through `then`; the first
/// failing predicate or expression is the error.
fn finish_match(
    scratch: &mut Vec<Datum>,
    residual: &Predicates,
    then: Option<&RowPipeline>,
) -> Option<Result<Row, DataflowError>> {
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

/// `input`'s rows arranged by their evaluated key (made distinct first when asked), and the key's
/// evaluation errors.
fn arranged<'s>(input: &JoinInput<'s>, keys: Vec<ScalarExpr>, thinning: Thinning) -> (ByKey<'s>, ErrCollection<'s>) {
    let (keyed, key_err) = keyed(input.rendered.ok.clone(), keys, thinning);
    let arranged =
        if input.distinct { super::distinct::distinct_by_key(keyed) } else { arrange_by_key(keyed, "ArrangeByKey") };
    (arranged, key_err)
}

/// Pairs every row's evaluated key with its thinned value, leaving out rows with a NULL key.
fn keyed<'s>(ok: OkCollection<'s>, keys: Vec<ScalarExpr>, thinning: Thinning) -> (Keyed<'s>, ErrCollection<'s>) {
    let keys = Scalars::new(&keys);
    fork_collection(ok.inner, "JoinKey", move |batch: &mut Vec<(Row, Timestamp, Diff)>, out| {
        for (row, time, diff) in batch.drain(..) {
            match eval_key(&keys, &row) {
                Ok(Some(key)) => out.row((key, thinning.thin(row)), time, diff),
                Ok(None) => {}
                Err(error) => out.error(error, time, diff),
            }
        }
    })
}

/// The rows of `input` that do not occur in `matched` (each input copy is kept or dropped whole).
fn unmatched<'s>(input: OkCollection<'s>, matched: OkCollection<'s>) -> OkCollection<'s> {
    let matched = super::distinct::threshold(matched, "Distinct", super::distinct::present);
    let kept = input.clone().map(|row| (row, ())).semijoin(matched).map(|(row, ())| row);
    input.concat(kept.negate())
}

fn nulls(count: usize) -> Row {
    Row::new(vec![Datum::Null; count])
}
