//! Evaluating plans that read no relation (`SELECT 1`, `INSERT ... VALUES`, and what is left of a
//! read once its point lookups became constants) in the coordinator, without building a dataflow.
//! Grouping and DISTINCT evaluate with the same functions the dataflow uses.

use freshet_expr::agg::aggregate_group;
use freshet_expr::{AggregateExpr, AggregateFunc, RelationExpr, ScalarExpr};
use freshet_repr::{Diff, EvalError, Row};

/// The rows of `expr` if it can be evaluated here; `None` when it needs the dataflow cluster.
pub fn try_eval(expr: &RelationExpr) -> Option<Result<Vec<(Row, Diff)>, EvalError>> {
    if !is_local(expr) {
        return None;
    }
    // A plan may add and retract the same row (the default row of an aggregate without GROUP BY),
    // and readers take negative counts as errors: such results are consolidated, as a dataflow's
    // output is. Others keep their order (VALUES lists come back as written).
    Some(eval(expr).map(|rows| match rows.iter().any(|(_, diff)| *diff < 0) {
        true => consolidated(rows).collect(),
        false => rows,
    }))
}

fn is_local(expr: &RelationExpr) -> bool {
    let mut local = true;
    expr.visit(&mut |e| {
        if !matches!(
            e,
            RelationExpr::Constant { .. }
                | RelationExpr::Map { .. }
                | RelationExpr::Filter { .. }
                | RelationExpr::Project { .. }
                | RelationExpr::FlatMap { .. }
                | RelationExpr::Union { .. }
                | RelationExpr::Negate { .. }
                | RelationExpr::Reduce { .. }
                | RelationExpr::Distinct { .. }
                | RelationExpr::Threshold { .. }
        ) {
            local = false;
        }
    });
    local
}

fn eval(expr: &RelationExpr) -> Result<Vec<(Row, Diff)>, EvalError> {
    Ok(match expr {
        RelationExpr::Constant { rows, .. } => rows.clone(),
        RelationExpr::Map { input, scalars } => {
            let mut out = Vec::new();
            for (row, diff) in eval(input)? {
                let mut datums = row.into_datums();
                for scalar in scalars {
                    let value = scalar.eval(&datums)?;
                    datums.push(value);
                }
                out.push((Row::new(datums), diff));
            }
            out
        }
        RelationExpr::Filter { input, predicates } => {
            let mut out = Vec::new();
            for (row, diff) in eval(input)? {
                let mut keep = true;
                for p in predicates {
                    if !p.eval(row.datums())?.is_true() {
                        keep = false;
                        break;
                    }
                }
                if keep {
                    out.push((row, diff));
                }
            }
            out
        }
        RelationExpr::Project { input, outputs } => {
            eval(input)?.into_iter().map(|(row, diff)| (row.project(outputs), diff)).collect()
        }
        RelationExpr::FlatMap { input, func, exprs } => {
            let mut out = Vec::new();
            for (row, diff) in eval(input)? {
                let args = exprs.iter().map(|e| e.eval(row.datums())).collect::<Result<Vec<_>, _>>()?;
                for produced in func.eval(&args)? {
                    out.push((row.concat(&produced), diff));
                }
            }
            out
        }
        RelationExpr::Union { inputs } => {
            let mut out = Vec::new();
            for input in inputs {
                out.extend(eval(input)?);
            }
            out
        }
        RelationExpr::Negate { input } => eval(input)?.into_iter().map(|(row, diff)| (row, -diff)).collect(),
        RelationExpr::Reduce { input, group_key, aggregates } => reduce(eval(input)?, group_key, aggregates)?,
        // As differential's `distinct`: every row whose multiplicity does not sum to zero, once.
        RelationExpr::Distinct { input } => consolidated(eval(input)?).map(|(row, _)| (row, 1)).collect(),
        RelationExpr::Threshold { input } => consolidated(eval(input)?).filter(|(_, diff)| *diff > 0).collect(),
        other => return Err(EvalError::Internal(format!("cannot evaluate {other:?} locally"))),
    })
}

fn consolidated(mut rows: Vec<(Row, Diff)>) -> impl Iterator<Item = (Row, Diff)> {
    freshet_repr::consolidate(&mut rows);
    rows.into_iter()
}

/// Groups `rows` by `group_key` and aggregates each group, as the dataflow's reduce does: a group
/// whose rows all cancel out has no output row.
fn reduce(
    rows: Vec<(Row, Diff)>,
    group_key: &[ScalarExpr],
    aggregates: &[AggregateExpr],
) -> Result<Vec<(Row, Diff)>, EvalError> {
    let mut keyed: Vec<((Row, Row), Diff)> = Vec::with_capacity(rows.len());
    for (row, diff) in rows {
        let key = group_key.iter().map(|e| e.eval(row.datums())).collect::<Result<Row, _>>()?;
        let args = aggregates.iter().map(|a| a.expr.eval(row.datums())).collect::<Result<Row, _>>()?;
        keyed.push(((key, args), diff));
    }
    freshet_repr::consolidate(&mut keyed);
    let funcs: Vec<(AggregateFunc, bool)> = aggregates.iter().map(|a| (a.func.clone(), a.distinct)).collect();
    let mut out = Vec::new();
    for group in keyed.chunk_by(|a, b| a.0 .0 == b.0 .0) {
        let values: Vec<(&Row, Diff)> = group.iter().map(|((_, args), diff)| (args, *diff)).collect();
        out.push((aggregate_group(group[0].0 .0.datums(), &values, &funcs)?, 1));
    }
    Ok(out)
}
