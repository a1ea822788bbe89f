//! Evaluating plans that read no relation (`SELECT 1`, `INSERT ... VALUES`) in the coordinator,
//! without building a dataflow.

use freshet_expr::RelationExpr;
use freshet_repr::{Datum, Diff, EvalError, Row};

/// The rows of `expr` if it can be evaluated here; `None` when it needs the dataflow cluster.
pub fn try_eval(expr: &RelationExpr) -> Option<Result<Vec<(Row, Diff)>, EvalError>> {
    if !is_local(expr) {
        return None;
    }
    Some(eval(expr))
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
                let mut datums: Vec<Datum> = row.into_datums();
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
        other => return Err(EvalError::Internal(format!("cannot evaluate {other:?} locally"))),
    })
}
