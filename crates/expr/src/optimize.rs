//! Plan rewrites that keep a plan's result and make it cheaper to maintain.
//!
//! * Constant folding: a scalar subexpression that reads no column (`cast(2000)`, `1 + 2`) is
//!   evaluated once here instead of once per row. One that fails to evaluate is left alone, so the
//!   error still surfaces only for rows that reach it.
//! * Column pruning: each operator asks its input for the columns it reads and no others, so a
//!   join or a table function does not carry (and copy, arrange, compare) columns nobody uses.
//!   Maps, filters and projections directly over a stored collection are left as they are: they
//!   run as one pipeline over the arrangement, and a point read recognises their shape.
//!
//! * Joins of a relation to its own per-group maximum or minimum become one ranking
//!   (`extremum_join`).
//!
//! This module must not consult the catalog or the cluster: it rewrites one expression.

mod extremum_join;

use std::collections::BTreeSet;

use crate::{MapFilterProject, RelationExpr, ScalarExpr};

/// `expr` with constant subexpressions folded and unread columns pruned.
pub fn optimize(mut expr: RelationExpr) -> RelationExpr {
    fold_constants(&mut expr);
    // Before pruning, both copies of the relation are as written; pruning may narrow them
    // differently (a join inside the relation keeps the columns each reader needs).
    extremum_join::rank_extremum_joins(&mut expr);
    let arity = expr.arity();
    let mut expr = prune(&expr, &(0..arity).collect::<Vec<_>>());
    if extremum_join::rank_extremum_joins(&mut expr) {
        // Pruning again composes the ranking's projection with the ones around it.
        expr = prune(&expr, &(0..arity).collect::<Vec<_>>());
    }
    expr
}

/// Replaces every column-free scalar subexpression that evaluates by its value.
pub fn fold_constants(expr: &mut RelationExpr) {
    expr.visit_mut(&mut |node| {
        for scalar in scalars_mut(node) {
            fold_scalar(scalar);
        }
    });
}

/// The scalar expressions of one node (not of its inputs): maps, predicates, table-function
/// arguments, join keys and residuals, group keys and aggregate arguments.
pub(crate) fn scalars_mut(node: &mut RelationExpr) -> smallvec::SmallVec<[&mut ScalarExpr; 4]> {
    match node {
        RelationExpr::Map { scalars, .. } => scalars.iter_mut().collect(),
        RelationExpr::Filter { predicates, .. } => predicates.iter_mut().collect(),
        RelationExpr::FlatMap { exprs, .. } => exprs.iter_mut().collect(),
        RelationExpr::Join { left_key, right_key, residual, .. } => {
            left_key.iter_mut().chain(right_key.iter_mut()).chain(residual.iter_mut()).collect()
        }
        RelationExpr::Reduce { group_key, aggregates, .. } => {
            group_key.iter_mut().chain(aggregates.iter_mut().map(|a| &mut a.expr)).collect()
        }
        _ => smallvec::SmallVec::new(),
    }
}

fn fold_scalar(scalar: &mut ScalarExpr) {
    if matches!(scalar, ScalarExpr::Literal(..) | ScalarExpr::Column(_)) {
        return;
    }
    if scalar.is_constant() {
        if let Ok(value) = scalar.eval(&[]) {
            let typ = crate::func::infer_type(scalar, &[]);
            *scalar = ScalarExpr::Literal(value, typ.scalar_type);
        }
        return;
    }
    scalar.for_each_child_mut(fold_scalar);
}

/// The columns `exprs` read.
fn column_refs<'a>(exprs: impl IntoIterator<Item = &'a ScalarExpr>) -> BTreeSet<usize> {
    let mut refs = BTreeSet::new();
    for expr in exprs {
        expr.visit(&mut |e| {
            if let ScalarExpr::Column(c) = e {
                refs.insert(*c);
            }
        });
    }
    refs
}

/// Where each of a relation's kept columns (`kept`, ascending) lands once the others are gone.
struct Renumbering {
    kept: Vec<usize>,
}

impl Renumbering {
    fn new(kept: BTreeSet<usize>) -> Self {
        Renumbering { kept: kept.into_iter().collect() }
    }

    /// The new position of old column `c`; every caller only asks about kept columns.
    fn position(&self, c: usize) -> usize {
        self.kept.binary_search(&c).unwrap_or(usize::MAX)
    }

    fn len(&self) -> usize {
        self.kept.len()
    }

    fn apply(&self, expr: &ScalarExpr) -> ScalarExpr {
        let mut expr = expr.clone();
        expr.permute(&|c| self.position(c));
        expr
    }
}

/// `expr` projected to `columns` (in that order), with a Project only where one is needed.
fn project(expr: RelationExpr, columns: Vec<usize>) -> RelationExpr {
    if columns.len() == expr.arity() && columns.iter().enumerate().all(|(i, c)| i == *c) {
        return expr;
    }
    match expr {
        RelationExpr::Project { input, outputs } => {
            let composed = columns.iter().map(|&c| outputs.get(c).copied().unwrap_or(usize::MAX)).collect();
            project(*input, composed)
        }
        other => other.project(columns),
    }
}

/// An expression that produces exactly `columns` of `expr`'s output, in that order, reading no
/// more of its inputs than that needs.
fn prune(expr: &RelationExpr, columns: &[usize]) -> RelationExpr {
    let (bottom, _) = MapFilterProject::peel(expr);
    if matches!(bottom, RelationExpr::Get { .. } | RelationExpr::Constant { .. }) {
        return project(expr.clone(), columns.to_vec());
    }
    let demanded: BTreeSet<usize> = columns.iter().copied().collect();
    let (rebuilt, renumbering) = match expr {
        RelationExpr::Get { .. } | RelationExpr::Constant { .. } => return project(expr.clone(), columns.to_vec()),
        RelationExpr::Project { input, outputs } => {
            let inner: Vec<usize> = columns.iter().map(|&c| outputs.get(c).copied().unwrap_or(usize::MAX)).collect();
            let needed = Renumbering::new(inner.iter().copied().collect());
            let input = prune(input, &needed.kept);
            return project(input, inner.iter().map(|&c| needed.position(c)).collect());
        }
        RelationExpr::Filter { input, predicates } => {
            let mut needed = demanded.clone();
            needed.extend(column_refs(predicates));
            let needed = Renumbering::new(needed);
            let input = prune(input, &needed.kept);
            (input.filter(predicates.iter().map(|p| needed.apply(p)).collect()), needed)
        }
        RelationExpr::Map { input, scalars } => return prune_map(input, scalars, &demanded, columns),
        RelationExpr::FlatMap { input, func, exprs } => {
            let arity = input.arity();
            let mut needed: BTreeSet<usize> = demanded.iter().copied().filter(|c| *c < arity).collect();
            needed.extend(column_refs(exprs));
            let needed = Renumbering::new(needed);
            let input = prune(input, &needed.kept);
            let exprs = exprs.iter().map(|e| needed.apply(e)).collect();
            let produced = func.output_type().len();
            let rebuilt = RelationExpr::FlatMap { input: Box::new(input), func: func.clone(), exprs };
            let outputs = shifted(columns, arity, &needed);
            debug_assert!(outputs.iter().all(|c| *c < needed.len() + produced));
            return project(rebuilt, outputs);
        }
        RelationExpr::Join { left, right, left_key, right_key, residual, kind } => {
            return prune_join(left, right, (left_key, right_key, residual), *kind, columns);
        }
        RelationExpr::Reduce { input, group_key, aggregates } => {
            let needed = Renumbering::new(column_refs(group_key.iter().chain(aggregates.iter().map(|a| &a.expr))));
            let input = prune(input, &needed.kept);
            let group_key = group_key.iter().map(|k| needed.apply(k)).collect();
            let aggregates = aggregates
                .iter()
                .map(|a| {
                    let mut a = a.clone();
                    a.expr = needed.apply(&a.expr);
                    a
                })
                .collect();
            let rebuilt = RelationExpr::Reduce { input: Box::new(input), group_key, aggregates };
            return project(rebuilt, columns.to_vec());
        }
        RelationExpr::Negate { input } => return prune(input, columns).negate(),
        RelationExpr::Union { inputs } => {
            return RelationExpr::Union { inputs: inputs.iter().map(|i| prune(i, columns)).collect() }
        }
        // These read whole rows: a row's other columns decide which rows are distinct, positive or
        // ranked first.
        RelationExpr::Distinct { input } => (prune_all(input).distinct(), all(expr)),
        RelationExpr::Threshold { input } => (prune_all(input).threshold(), all(expr)),
        RelationExpr::TopK { input, group_key, order_by, limit, offset, with_ties } => {
            let rebuilt = RelationExpr::TopK {
                input: Box::new(prune_all(input)),
                group_key: group_key.clone(),
                order_by: order_by.clone(),
                limit: *limit,
                offset: *offset,
                with_ties: *with_ties,
            };
            (rebuilt, all(expr))
        }
    };
    project(rebuilt, columns.iter().map(|&c| renumbering.position(c)).collect())
}

fn prune_all(expr: &RelationExpr) -> RelationExpr {
    prune(expr, &(0..expr.arity()).collect::<Vec<_>>())
}

fn all(expr: &RelationExpr) -> Renumbering {
    Renumbering::new((0..expr.arity()).collect())
}

/// New positions of `columns` of a node whose output is its input's columns (`arity` of them, of
/// which `needed` are kept) followed by columns it adds itself.
fn shifted(columns: &[usize], arity: usize, needed: &Renumbering) -> Vec<usize> {
    columns.iter().map(|&c| if c < arity { needed.position(c) } else { needed.len() + (c - arity) }).collect()
}

fn prune_map(
    input: &RelationExpr,
    scalars: &[ScalarExpr],
    demanded: &BTreeSet<usize>,
    columns: &[usize],
) -> RelationExpr {
    let arity = input.arity();
    // Walk the scalars last to first: a kept scalar keeps the earlier ones it reads.
    let mut kept_scalars = vec![false; scalars.len()];
    let mut needed_inputs: BTreeSet<usize> = demanded.iter().copied().filter(|c| *c < arity).collect();
    for c in demanded.iter().filter(|c| **c >= arity) {
        if let Some(flag) = kept_scalars.get_mut(c - arity) {
            *flag = true;
        }
    }
    for (index, scalar) in scalars.iter().enumerate().rev() {
        if !kept_scalars[index] {
            continue;
        }
        for c in column_refs([scalar]) {
            match c.checked_sub(arity) {
                None => {
                    needed_inputs.insert(c);
                }
                Some(earlier) => {
                    if let Some(flag) = kept_scalars.get_mut(earlier) {
                        *flag = true;
                    }
                }
            }
        }
    }
    let needed = Renumbering::new(needed_inputs);
    let kept_positions: Vec<usize> = (0..scalars.len()).filter(|i| kept_scalars[*i]).collect();
    let position = |c: usize| match c.checked_sub(arity) {
        None => needed.position(c),
        Some(scalar) => needed.len() + kept_positions.binary_search(&scalar).unwrap_or(usize::MAX),
    };
    let new_scalars = kept_positions
        .iter()
        .map(|&i| {
            let mut scalar = scalars[i].clone();
            scalar.permute(&position);
            scalar
        })
        .collect();
    let rebuilt = prune(input, &needed.kept).map(new_scalars);
    project(rebuilt, columns.iter().map(|&c| position(c)).collect())
}

fn prune_join(
    left: &RelationExpr,
    right: &RelationExpr,
    (left_key, right_key, residual): (&[ScalarExpr], &[ScalarExpr], &[ScalarExpr]),
    kind: crate::JoinKind,
    columns: &[usize],
) -> RelationExpr {
    let left_arity = left.arity();
    let residual_refs = column_refs(residual);
    let mut needed_left: BTreeSet<usize> = columns.iter().copied().filter(|c| *c < left_arity).collect();
    needed_left.extend(column_refs(left_key));
    needed_left.extend(residual_refs.iter().copied().filter(|c| *c < left_arity));
    let mut needed_right: BTreeSet<usize> = columns.iter().filter_map(|c| c.checked_sub(left_arity)).collect();
    needed_right.extend(column_refs(right_key));
    needed_right.extend(residual_refs.iter().filter_map(|c| c.checked_sub(left_arity)));
    let (needed_left, needed_right) = (Renumbering::new(needed_left), Renumbering::new(needed_right));
    let position = |c: usize| match c.checked_sub(left_arity) {
        None => needed_left.position(c),
        Some(r) => needed_left.len() + needed_right.position(r),
    };
    let residual = residual
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.permute(&position);
            p
        })
        .collect();
    let rebuilt = RelationExpr::Join {
        left: Box::new(prune(left, &needed_left.kept)),
        right: Box::new(prune(right, &needed_right.kept)),
        left_key: left_key.iter().map(|k| needed_left.apply(k)).collect(),
        right_key: right_key.iter().map(|k| needed_right.apply(k)).collect(),
        residual,
        kind,
    };
    project(rebuilt, columns.iter().map(|&c| position(c)).collect())
}

#[cfg(test)]
mod tests {
    use freshet_repr::{ColumnType, Datum, GlobalId, RelationType, ScalarType};

    use super::*;
    use crate::func::{BinaryFunc, UnaryFunc};
    use crate::{AggregateExpr, AggregateFunc, JoinKind, TableFunc};

    fn get(id: u64, arity: usize) -> RelationExpr {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int64, true); arity]);
        RelationExpr::Get { id: GlobalId(id), typ }
    }

    fn int(v: i64) -> ScalarExpr {
        ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64)
    }

    fn col(c: usize) -> ScalarExpr {
        ScalarExpr::Column(c)
    }

    #[test]
    fn constants_fold_and_failing_constants_stay() {
        let cast = ScalarExpr::Literal(Datum::Int32(2000), ScalarType::Int32)
            .call_unary(UnaryFunc::Cast { from: ScalarType::Int32, to: ScalarType::Int64 });
        let window = col(0).call_binary(cast, BinaryFunc::Div);
        let failing = int(1).call_binary(int(0), BinaryFunc::Div);
        let mut expr = get(1, 1).map(vec![window, failing.clone()]);
        fold_constants(&mut expr);
        let RelationExpr::Map { scalars, .. } = &expr else { panic!("{expr:?}") };
        assert_eq!(scalars[0], col(0).call_binary(int(2000), BinaryFunc::Div));
        assert_eq!(scalars[1], failing, "1 / 0 must fail per row, not at plan time");
    }

    #[test]
    fn a_table_function_gets_only_the_columns_it_and_its_readers_use() {
        // SELECT #0, #3 * k FROM five-column t CROSS JOIN generate_series(1, 5) AS k
        let series = RelationExpr::FlatMap {
            input: Box::new(get(1, 5)),
            func: TableFunc::GenerateSeriesInt(ScalarType::Int64),
            exprs: vec![int(1), int(5)],
        };
        let expr = series.map(vec![col(3).call_binary(col(5), BinaryFunc::Mul)]).project(vec![0, 6]);
        let optimized = optimize(expr.clone());
        let expected = RelationExpr::FlatMap {
            input: Box::new(get(1, 5).project(vec![0, 3])),
            func: TableFunc::GenerateSeriesInt(ScalarType::Int64),
            exprs: vec![int(1), int(5)],
        }
        .map(vec![col(1).call_binary(col(2), BinaryFunc::Mul)])
        .project(vec![0, 3]);
        assert_eq!(optimized, expected);
        assert_eq!(optimized.typ(), expr.typ());
    }

    #[test]
    fn join_inputs_keep_their_keys_residual_and_outputs() {
        // left (a0..a3) JOIN right (b0..b2) ON a0 = b1 WHERE a2 < b2, output a3, b0
        let join = RelationExpr::Join {
            left: Box::new(get(1, 4)),
            right: Box::new(get(2, 3)),
            left_key: vec![col(0)],
            right_key: vec![col(1)],
            residual: vec![col(2).call_binary(col(6), BinaryFunc::Lt)],
            kind: JoinKind::LeftOuter,
        };
        let optimized = optimize(join.project(vec![3, 4]));
        let expected = RelationExpr::Join {
            left: Box::new(get(1, 4).project(vec![0, 2, 3])),
            right: Box::new(get(2, 3)),
            left_key: vec![col(0)],
            right_key: vec![col(1)],
            residual: vec![col(1).call_binary(col(5), BinaryFunc::Lt)],
            kind: JoinKind::LeftOuter,
        }
        .project(vec![2, 3]);
        assert_eq!(optimized, expected);
    }

    #[test]
    fn a_reduce_reads_its_key_and_arguments_and_distinct_reads_whole_rows() {
        let count = AggregateExpr { func: AggregateFunc::Count, expr: col(4), distinct: false };
        let joined = RelationExpr::Join {
            left: Box::new(get(1, 3)),
            right: Box::new(get(2, 3)),
            left_key: vec![col(0)],
            right_key: vec![col(0)],
            residual: vec![],
            kind: JoinKind::Inner,
        };
        let reduce = RelationExpr::Reduce { input: Box::new(joined), group_key: vec![col(1)], aggregates: vec![count] };
        let RelationExpr::Reduce { input, group_key, aggregates } = optimize(reduce) else { panic!() };
        // The join's output is cut to the key (#1) and the argument (#4), now #0 and #1.
        assert_eq!((group_key, aggregates[0].expr.clone()), (vec![col(0)], col(1)));
        let RelationExpr::Project { input, outputs } = *input else { panic!() };
        assert_eq!(outputs, vec![1, 3]);
        let RelationExpr::Join { left, right, .. } = *input else { panic!() };
        assert_eq!((*left, *right), (get(1, 3).project(vec![0, 1]), get(2, 3).project(vec![0, 1])));

        let distinct = RelationExpr::Join {
            left: Box::new(get(1, 2).distinct()),
            right: Box::new(get(2, 1)),
            left_key: vec![col(0)],
            right_key: vec![col(0)],
            residual: vec![],
            kind: JoinKind::Inner,
        };
        let optimized = optimize(distinct.clone().project(vec![0]));
        let RelationExpr::Project { input, .. } = &optimized else { panic!("{optimized:?}") };
        let RelationExpr::Join { left, .. } = input.as_ref() else { panic!() };
        // DISTINCT over both columns, then the one the join reads.
        assert_eq!(**left, get(1, 2).distinct().project(vec![0]));
    }

    #[test]
    fn pipelines_over_stored_collections_keep_their_shape() {
        let point = get(1, 3).filter(vec![col(0).call_binary(int(5), BinaryFunc::Eq)]).project(vec![2]);
        assert_eq!(optimize(point.clone()), point);
        let union = RelationExpr::Union { inputs: vec![get(1, 2), get(2, 2)] }.project(vec![1]);
        assert_eq!(
            optimize(union),
            RelationExpr::Union { inputs: vec![get(1, 2).project(vec![1]), get(2, 2).project(vec![1])] }
        );
    }
}
