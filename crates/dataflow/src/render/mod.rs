//! Rendering `RelationExpr` plans into differential dataflow collections.
//!
//! Every rendered relation is a pair of collections: the ok rows and the errors (errors as data).
//! An expression that fails to evaluate for some row puts a `DataflowError` into the error
//! collection instead of producing a row; errors of inputs flow, concatenated, to outputs. A peek
//! that finds any error reports it instead of rows.
//!
//! This module owns the per-operator translation only. It must not create or drop dataflows,
//! manage traces or talk to the coordinator; `worker.rs` does that, and hands rendering the
//! already imported inputs of a plan.
//!
//! Identical subtrees of one plan (a CTE referenced twice is planned once per reference) are
//! rendered once and their collections shared, so their work is done once.

mod accumulate;
pub(crate) mod batcher;
mod by_time;
mod distinct;
mod flat_map;
mod fork;
mod grouped;
mod join;
mod key;
mod pipeline;
mod reduce;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::{AsCollection, VecCollection};
use freshet_expr::mfp::RowStep;
use freshet_expr::{
    AggregateExpr, JoinKind, MapFilterProject, RelationExpr, RowPipeline, ScalarExpr, Scalars, TableFunc,
};
use freshet_repr::{DataflowError, Datum, Diff, EvalError, GlobalId, Row, Timestamp};
use timely::dataflow::operators::vec::{Map as _, ToStream as _};
use timely::dataflow::Scope;

/// The ok rows of a rendered relation.
pub type OkCollection<'s> = VecCollection<'s, Timestamp, Row, Diff>;
/// The errors of a rendered relation.
pub type ErrCollection<'s> = VecCollection<'s, Timestamp, DataflowError, Diff>;
/// The arrangement of ok rows: the whole row is the key, the value is unit.
pub type OkTrace = TraceAgent<KeySpine<Row, Timestamp, Diff>>;
/// The arrangement of errors.
pub type ErrTrace = TraceAgent<KeySpine<DataflowError, Timestamp, Diff>>;

pub use fork::{fork, fork_collection, Outputs};
pub use key::Key;
pub use pipeline::ImportedRows;

/// A stored collection imported into a dataflow: its rows arranged, its errors as a collection.
#[derive(Clone)]
pub struct Import<'s> {
    pub ok: ImportedRows<'s>,
    pub err: ErrCollection<'s>,
}

/// A rendered relation: its rows and its errors.
#[derive(Clone)]
pub struct Rendered<'s> {
    pub ok: OkCollection<'s>,
    pub err: ErrCollection<'s>,
}

/// What rendering a plan needs: the scope, the imported inputs and the plan's `as_of`.
pub struct RenderContext<'s> {
    pub scope: Scope<'s, Timestamp>,
    /// The collections that `Get` nodes read, already imported into `scope`.
    pub imports: BTreeMap<GlobalId, Import<'s>>,
    /// The time at which constants appear.
    pub as_of: Timestamp,
    /// Subtrees already rendered in this plan, shared by later identical subtrees.
    rendered: RefCell<HashMap<RelationExpr, Rendered<'s>>>,
}

impl<'s> RenderContext<'s> {
    pub fn new(scope: Scope<'s, Timestamp>, imports: BTreeMap<GlobalId, Import<'s>>, as_of: Timestamp) -> Self {
        RenderContext { scope, imports, as_of, rendered: RefCell::new(HashMap::new()) }
    }

    /// Renders `expr` into its ok and error collections, reusing an identical subtree's rendering.
    pub fn render(&self, expr: &RelationExpr) -> Rendered<'s> {
        if matches!(expr, RelationExpr::Constant { .. }) {
            return self.render_node(expr);
        }
        if let Some(done) = self.rendered.borrow().get(expr) {
            return done.clone();
        }
        let done = self.render_node(expr);
        self.rendered.borrow_mut().insert(expr.clone(), done.clone());
        done
    }

    fn render_node(&self, expr: &RelationExpr) -> Rendered<'s> {
        match expr {
            RelationExpr::Constant { rows, .. } => self.render_constant(rows),
            RelationExpr::Get { id, .. } => self.render_get(*id),
            RelationExpr::Map { .. } | RelationExpr::Filter { .. } | RelationExpr::Project { .. } => {
                self.render_pipeline(expr)
            }
            RelationExpr::FlatMap { input, func, exprs } => self.render_flat_map(input, func, exprs, None),
            RelationExpr::Join { .. } => self.render_join(expr, None),
            RelationExpr::Reduce { input, group_key, aggregates } => self.render_reduce(input, group_key, aggregates),
            RelationExpr::TopK { input, group_key, order_by, limit, offset, with_ties } => {
                let spec = reduce::TopKSpec {
                    group_key: group_key.clone(),
                    order_by: order_by.clone(),
                    limit: *limit,
                    offset: *offset,
                    with_ties: *with_ties,
                };
                reduce::render_top_k(self.render(input), spec)
            }
            RelationExpr::Distinct { input } => {
                let input = self.render(input);
                Rendered { ok: distinct::threshold(input.ok, "Distinct", distinct::present), err: input.err }
            }
            RelationExpr::Union { inputs } => self.render_union(inputs),
            RelationExpr::Negate { input } => {
                let input = self.render(input);
                Rendered { ok: input.ok.negate(), err: input.err }
            }
            RelationExpr::Threshold { input } => {
                let input = self.render(input);
                let ok = distinct::threshold(input.ok, "Threshold", |count| count.max(0));
                Rendered { ok, err: input.err }
            }
        }
    }

    /// Renders the maps, filters and projections on top of `expr` as one operator; over a stored
    /// collection, that operator reads the imported arrangement directly.
    fn render_pipeline(&self, expr: &RelationExpr) -> Rendered<'s> {
        let (input, mfp) = MapFilterProject::peel(expr);
        let pipeline = mfp.compile(input.arity());
        if let RelationExpr::Get { id, .. } = input {
            if let Some(import) = self.imports.get(id) {
                let (ok, err) = pipeline::over_arrangement(&import.ok, pipeline);
                return Rendered { ok, err: import.err.clone().concat(err) };
            }
        }
        if let RelationExpr::Join { .. } = input {
            if !pipeline.is_identity() {
                return self.render_join(input, Some(pipeline));
            }
        }
        if let RelationExpr::FlatMap { input: inner, func, exprs } = input {
            if !pipeline.is_identity() {
                return self.render_flat_map(inner, func, exprs, Some(pipeline));
            }
        }
        let input = self.render(input);
        if pipeline.is_identity() {
            return input;
        }
        let (ok, err) = pipeline::over_collection(input.ok, pipeline);
        Rendered { ok, err: input.err.concat(err) }
    }

    /// Renders `func` of `exprs` over `input`, its rows passed through `then` when given.
    fn render_flat_map(
        &self,
        input: &RelationExpr,
        func: &TableFunc,
        exprs: &[ScalarExpr],
        then: Option<RowPipeline>,
    ) -> Rendered<'s> {
        let mut flat_map = flat_map::FlatMap::new(func, exprs, input.arity(), then);
        let input = self.render(input);
        let (ok, err) = split(input.ok, "FlatMap", move |row, time, diff, out| {
            flat_map.expand(row, &mut |result| out.result(result.map(flat_map::take_row), time, diff))
        });
        Rendered { ok, err: input.err.concat(err) }
    }

    /// Renders `expr` as an aggregation reads it: when it is a flat map with maps, filters and
    /// projections above, the flat map's input and what each of its rows stands for, so that the
    /// aggregation consumes the produced rows as they are made; otherwise `expr` itself.
    fn render_expansion(&self, expr: &RelationExpr) -> (Rendered<'s>, flat_map::Expansion) {
        let (input, mfp) = MapFilterProject::peel(expr);
        if let RelationExpr::FlatMap { input: inner, func, exprs } = input {
            let pipeline = mfp.compile(input.arity());
            let pipeline = (!pipeline.is_identity()).then_some(pipeline);
            let flat_map = flat_map::FlatMap::new(func, exprs, inner.arity(), pipeline);
            return (self.render(inner), flat_map::Expansion::FlatMap(Box::new(flat_map)));
        }
        (self.render(expr), flat_map::Expansion::Plain)
    }

    /// Renders the join `expr`, its rows passed through `then` when given.
    fn render_join(&self, expr: &RelationExpr, then: Option<RowPipeline>) -> Rendered<'s> {
        let RelationExpr::Join { left, right, left_key, right_key, residual, kind } = expr else {
            return self.render(expr);
        };
        let spec = join::JoinSpec {
            left_key: left_key.clone(),
            right_key: right_key.clone(),
            residual: residual.clone(),
            kind: *kind,
            left_arity: left.arity(),
            right_arity: right.arity(),
            left_thinning: join::Thinning::new(left_key, &left.typ().columns),
            right_thinning: join::Thinning::new(right_key, &right.typ().columns),
        };
        if *kind == JoinKind::Inner {
            if let Some(joined) = self.render_index_join(expr, &spec, then.clone()) {
                return joined;
            }
        }
        let input = |side: &RelationExpr| match side {
            RelationExpr::Distinct { input } if *kind == JoinKind::Inner => {
                join::JoinInput { rendered: self.render(input), distinct: true }
            }
            side => join::JoinInput { rendered: self.render(side), distinct: false },
        };
        join::render_join(input(left), input(right), spec, then)
    }

    /// Renders the inner join `expr` as an index join (`join::index`) when one side is a stored
    /// collection, read as it is, projected or filtered by predicates that cannot fail, joined on
    /// its first column, a bigint, and the other side is not a DISTINCT that the join would make
    /// distinct itself.
    fn render_index_join(
        &self,
        expr: &RelationExpr,
        spec: &join::JoinSpec,
        then: Option<RowPipeline>,
    ) -> Option<Rendered<'s>> {
        let RelationExpr::Join { left, right, left_key, right_key, residual, .. } = expr else { return None };
        let (side, (import, read), keyed, key, thinning) = if let Some(stored) = self.indexed(right, right_key) {
            (join::StoredSide::Right, stored, left, left_key, &spec.left_thinning)
        } else {
            (join::StoredSide::Left, self.indexed(left, left_key)?, right, right_key, &spec.right_thinning)
        };
        if matches!(**keyed, RelationExpr::Distinct { .. }) {
            return None;
        }
        let stored = join::StoredInput { rows: import.ok.clone(), err: import.err.clone(), side, read };
        Some(join::render_index_join(self.render(keyed), key.clone(), thinning.clone(), stored, residual, then))
    }

    /// The imported collection that `side` reads and how, when `side` is that collection under
    /// projections and filters that cannot fail (a filter that can is evaluated on every row, not
    /// only on those that match), and `key` is the collection's first column, a bigint.
    fn indexed(&self, side: &RelationExpr, key: &[ScalarExpr]) -> Option<(&Import<'s>, join::StoredRead)> {
        let [ScalarExpr::Column(column)] = key else { return None };
        let (get, mfp) = MapFilterProject::peel(side);
        let RelationExpr::Get { id, typ } = get else { return None };
        // Each of the side's columns as a column of the collection.
        let mut columns: Vec<usize> = (0..get.arity()).collect();
        let mut filter = Vec::new();
        for step in &mfp.steps {
            match step {
                RowStep::Filter(predicates) => {
                    for predicate in predicates {
                        if !predicate.cannot_fail() {
                            return None;
                        }
                        let mut predicate = predicate.clone();
                        predicate.permute(&|c| columns.get(c).copied().unwrap_or(usize::MAX));
                        filter.push(predicate);
                    }
                }
                RowStep::Project(outputs) => {
                    columns = outputs.iter().map(|&c| columns.get(c).copied().unwrap_or(usize::MAX)).collect();
                }
                RowStep::Map(_) => return None,
            }
        }
        let first = typ.columns.first()?;
        if columns.get(*column) != Some(&0) || first.scalar_type != freshet_repr::ScalarType::Int64 {
            return None;
        }
        Some((self.imports.get(id)?, join::StoredRead { filter, columns }))
    }

    /// Renders a grouped aggregation over rows of `[key..., argument...]`: the group key and the
    /// aggregates' arguments are appended to the input as maps, so that their evaluation joins the
    /// input's row pipeline and only those columns travel to the grouping.
    fn render_reduce(
        &self,
        input: &RelationExpr,
        group_key: &[ScalarExpr],
        aggregates: &[AggregateExpr],
    ) -> Rendered<'s> {
        let arity = input.arity();
        let scalars: Vec<ScalarExpr> =
            group_key.iter().cloned().chain(aggregates.iter().map(|agg| agg.expr.clone())).collect();
        let width = scalars.len();
        let keyed = input.clone().map(scalars).project((arity..arity + width).collect());
        let key_arity = group_key.len();
        match accumulate::accumulable(aggregates, &input.typ().columns) {
            Some(kinds) => {
                let (rows, expansion) = self.render_expansion(&keyed);
                accumulate::render_accumulable(rows, expansion, key_arity, kinds)
            }
            None => reduce::render_reduce(
                self.render(&keyed),
                key_arity,
                aggregates.iter().map(|a| (a.func.clone(), a.distinct)).collect(),
            ),
        }
    }

    fn render_constant(&self, rows: &[(Row, Diff)]) -> Rendered<'s> {
        // Only worker 0 introduces the rows, so that they are counted once across the cluster.
        let rows = if self.scope.index() == 0 { rows.to_vec() } else { Vec::new() };
        let as_of = self.as_of;
        let ok = rows.to_stream(self.scope).map(move |(row, diff)| (row, as_of, diff)).as_collection();
        Rendered { ok, err: empty_errors(self.scope) }
    }

    fn render_get(&self, id: GlobalId) -> Rendered<'s> {
        match self.imports.get(&id) {
            Some(import) => {
                Rendered { ok: import.ok.clone().as_collection(|row, ()| row.clone()), err: import.err.clone() }
            }
            // The worker imports every dependency before rendering, so this is a planner bug; it
            // surfaces as an error in the view rather than a crash of the worker.
            None => {
                let message = format!("collection {id} is not available to this dataflow");
                let err = vec![(DataflowError::Eval(EvalError::Internal(message)), self.as_of, 1)];
                let err = if self.scope.index() == 0 { err } else { Vec::new() };
                Rendered { ok: empty_rows(self.scope), err: err.to_stream(self.scope).as_collection() }
            }
        }
    }

    fn render_union(&self, inputs: &[RelationExpr]) -> Rendered<'s> {
        let mut rendered = inputs.iter().map(|input| self.render(input));
        let Some(first) = rendered.next() else {
            return Rendered { ok: empty_rows(self.scope), err: empty_errors(self.scope) };
        };
        rendered.fold(first, |acc, next| Rendered { ok: acc.ok.concat(next.ok), err: acc.err.concat(next.err) })
    }
}

/// An empty ok collection.
pub fn empty_rows(scope: Scope<'_, Timestamp>) -> OkCollection<'_> {
    Vec::<(Row, Timestamp, Diff)>::new().to_stream(scope).as_collection()
}

/// An empty error collection.
pub fn empty_errors(scope: Scope<'_, Timestamp>) -> ErrCollection<'_> {
    Vec::<(DataflowError, Timestamp, Diff)>::new().to_stream(scope).as_collection()
}

/// Runs `logic` on every update of `ok`; it gives its rows and errors (at whatever time and diff,
/// usually the update's) to the outputs.
pub fn split<'s, L>(ok: OkCollection<'s>, name: &str, mut logic: L) -> (OkCollection<'s>, ErrCollection<'s>)
where
    L: FnMut(Row, Timestamp, Diff, &mut Outputs<'_, '_, '_>) + 'static,
{
    fork_collection(ok.inner, name, move |batch: &mut Vec<(Row, Timestamp, Diff)>, out| {
        for (row, time, diff) in batch.drain(..) {
            logic(row, time, diff, out);
        }
    })
}

/// Rows and errors apart.
pub fn partition<'s>(
    results: VecCollection<'s, Timestamp, Result<Row, DataflowError>, Diff>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    fork_collection(results.inner, "OkErr", |batch: &mut Vec<_>, out| {
        for (result, time, diff) in batch.drain(..) {
            out.result(result, time, diff);
        }
    })
}

/// Evaluates key expressions; `None` when any key is NULL (SQL equality never matches NULL).
/// Keys that read columns as they are (most join keys) read the datums in place.
pub fn eval_key(keys: &Scalars, row: &Row) -> Result<Option<Key>, DataflowError> {
    match keys.columns() {
        Some(columns) => {
            let column = |column: usize| {
                row.get(column).map(Cow::Borrowed).ok_or_else(|| {
                    let message = format!("column {column} out of range for row of {}", row.len());
                    DataflowError::Eval(EvalError::Internal(message))
                })
            };
            key_of(columns.len(), columns.iter().map(|&c| column(c)))
        }
        None => key_of(keys.len(), keys.eval(row.datums()).map(|value| Ok(Cow::Owned(value?)))),
    }
}

/// The key of `len` values, taken in order; `None` at the first NULL, before the next value is
/// computed. The usual one- and two-column keys are built without a row when they are bigints,
/// and only a datum that goes into a row is copied.
fn key_of<'a>(
    len: usize,
    mut values: impl Iterator<Item = Result<Cow<'a, Datum>, DataflowError>>,
) -> Result<Option<Key>, DataflowError> {
    let mut next = || values.next().transpose().map(|value| value.filter(|d| !d.is_null()));
    match len {
        1 => Ok(next()?.map(|value| match value.as_ref() {
            Datum::Int64(value) => Key::Int(*value),
            _ => Key::Row(Row::new(vec![value.into_owned()])),
        })),
        2 => {
            let Some(first) = next()? else { return Ok(None) };
            let Some(second) = next()? else { return Ok(None) };
            Ok(Some(match (first.as_ref(), second.as_ref()) {
                (Datum::Int64(a), Datum::Int64(b)) => Key::Int2(*a, *b),
                _ => Key::Row(Row::new(vec![first.into_owned(), second.into_owned()])),
            }))
        }
        _ => {
            let mut datums = Row::with_capacity(len);
            for _ in 0..len {
                let Some(value) = next()? else { return Ok(None) };
                datums.push(value.into_owned());
            }
            Ok(Some(Key::from_datums(datums)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Row {
        values.iter().map(|v| Datum::Int64(*v)).collect()
    }

    #[test]
    fn column_keys_read_in_place_are_the_evaluated_keys() {
        let rows = [
            ints(&[1, 2, 3]),
            Row::new(vec![Datum::Int64(1), Datum::Text("a".into()), Datum::Int32(3)]),
            Row::new(vec![Datum::Null, Datum::Int64(2), Datum::Int64(3)]),
            Row::new(vec![Datum::Int64(1), Datum::Int64(2), Datum::Null]),
        ];
        let column_lists: [&[usize]; 6] = [&[0], &[1], &[2, 0], &[1, 2], &[0, 1, 2], &[]];
        // `Call` wraps a column so that the key is evaluated, not read in place.
        let evaluated = |c: usize| ScalarExpr::CallVariadic {
            func: freshet_expr::func::VariadicFunc::Coalesce,
            exprs: vec![ScalarExpr::Column(c)],
        };
        for columns in column_lists {
            let read = Scalars::new(&columns.iter().map(|c| ScalarExpr::Column(*c)).collect::<Vec<_>>());
            let computed = Scalars::new(&columns.iter().map(|c| evaluated(*c)).collect::<Vec<_>>());
            assert!(read.columns().is_some());
            assert_eq!(computed.columns().is_some(), columns.is_empty());
            for row in &rows {
                assert_eq!(eval_key(&read, row).unwrap(), eval_key(&computed, row).unwrap(), "{columns:?} of {row:?}");
            }
        }
        let beyond = Scalars::new(&[ScalarExpr::Column(5)]);
        assert!(eval_key(&beyond, &ints(&[1])).is_err());
    }

    #[test]
    fn keys_with_null_never_match() {
        let keys = Scalars::new(&[ScalarExpr::Column(0), ScalarExpr::Column(1)]);
        assert_eq!(eval_key(&keys, &ints(&[1, 2])).unwrap(), Some(Key::Int2(1, 2)));
        let text = Row::new(vec![Datum::Int64(1), Datum::Text("a".into())]);
        assert_eq!(eval_key(&keys, &text).unwrap(), Some(Key::Row(text.clone())));
        assert_eq!(eval_key(&keys, &Row::new(vec![Datum::Null, Datum::Text("a".into())])).unwrap(), None);
        assert_eq!(eval_key(&keys, &Row::new(vec![Datum::Int64(1), Datum::Null])).unwrap(), None);
    }
}
