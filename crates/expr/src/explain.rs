//! EXPLAIN output: a plan as an indented operator tree with compact scalar expressions.

use std::fmt::Write;

use freshet_repr::{Datum, GlobalId};

use crate::{JoinKind, RelationExpr, ScalarExpr};

impl RelationExpr {
    /// The plan as text, one operator per line, inputs indented below it. `name` gives the catalog
    /// name of a relation id, when known.
    pub fn explain(&self, name: &dyn Fn(GlobalId) -> Option<String>) -> String {
        let mut out = String::new();
        self.explain_into(&mut out, 0, name);
        out
    }

    fn explain_into(&self, out: &mut String, depth: usize, name: &dyn Fn(GlobalId) -> Option<String>) {
        let indent = "  ".repeat(depth);
        let line = match self {
            RelationExpr::Constant { rows, .. } => format!("Constant ({} rows)", rows.len()),
            RelationExpr::Get { id, .. } => match name(*id) {
                Some(n) => format!("Get {n} ({id})"),
                None => format!("Get {id}"),
            },
            RelationExpr::Map { scalars, .. } => format!("Map {}", list(scalars)),
            RelationExpr::Filter { predicates, .. } => format!("Filter {}", list(predicates)),
            RelationExpr::Project { outputs, .. } => {
                format!("Project ({})", outputs.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", "))
            }
            RelationExpr::FlatMap { func, exprs, .. } => format!("FlatMap {func:?}{}", list(exprs)),
            RelationExpr::Join { left_key, right_key, residual, kind, .. } => {
                let kind = match kind {
                    JoinKind::Inner => "Join",
                    JoinKind::LeftOuter => "LeftJoin",
                    JoinKind::RightOuter => "RightJoin",
                    JoinKind::FullOuter => "FullJoin",
                };
                let keys: Vec<String> =
                    left_key.iter().zip(right_key).map(|(l, r)| format!("{} = {}", scalar(l), scalar(r))).collect();
                let mut line = format!("{kind} on=({})", keys.join(", "));
                if !residual.is_empty() {
                    let _ = write!(line, " residual={}", list(residual));
                }
                line
            }
            RelationExpr::Reduce { group_key, aggregates, .. } => {
                let aggs: Vec<String> = aggregates
                    .iter()
                    .map(|a| {
                        let distinct = if a.distinct { "distinct " } else { "" };
                        format!("{}({distinct}{})", format!("{:?}", a.func).to_lowercase(), scalar(&a.expr))
                    })
                    .collect();
                format!("Reduce group_key={} aggregates=[{}]", list(group_key), aggs.join(", "))
            }
            RelationExpr::Distinct { .. } => "Distinct".to_string(),
            RelationExpr::Union { .. } => "Union".to_string(),
            RelationExpr::Negate { .. } => "Negate".to_string(),
            RelationExpr::Threshold { .. } => "Threshold".to_string(),
            RelationExpr::TopK { group_key, order_by, limit, offset, with_ties, .. } => {
                let order: Vec<String> =
                    order_by.iter().map(|o| format!("#{}{}", o.column, if o.desc { " desc" } else { "" })).collect();
                let ties = if *with_ties { " with_ties" } else { "" };
                format!(
                    "TopK group_key={group_key:?} order_by=[{}] limit={limit:?} offset={offset}{ties}",
                    order.join(", ")
                )
            }
        };
        let _ = writeln!(out, "{indent}{line}");
        for input in self.inputs() {
            input.explain_into(out, depth + 1, name);
        }
    }
}

fn list(exprs: &[ScalarExpr]) -> String {
    format!("({})", exprs.iter().map(scalar).collect::<Vec<_>>().join(", "))
}

/// A scalar expression in a compact, readable form: `#0` for columns, literals as SQL.
pub fn scalar(expr: &ScalarExpr) -> String {
    match expr {
        ScalarExpr::Column(i) => format!("#{i}"),
        ScalarExpr::Param { index, .. } => format!("${index}"),
        ScalarExpr::Literal(Datum::Null, _) => "null".to_string(),
        ScalarExpr::Literal(datum, _) => match (datum, freshet_repr::strconv::format_datum(datum)) {
            (Datum::Text(_) | Datum::Jsonb(_) | Datum::Bytes(_), Some(text)) => format!("'{text}'"),
            (_, Some(text)) => text,
            (_, None) => "null".to_string(),
        },
        ScalarExpr::CallUnary { func, expr } => format!("{}({})", func_name(&format!("{func:?}")), scalar(expr)),
        ScalarExpr::CallBinary { func, expr1, expr2 } => {
            format!("{}({}, {})", func_name(&format!("{func:?}")), scalar(expr1), scalar(expr2))
        }
        ScalarExpr::CallVariadic { func, exprs } => {
            format!("{}({})", func_name(&format!("{func:?}")), exprs.iter().map(scalar).collect::<Vec<_>>().join(", "))
        }
        ScalarExpr::If { cond, then, els } => {
            format!("case when {} then {} else {} end", scalar(cond), scalar(then), scalar(els))
        }
    }
}

/// `CastInt32ToText { .. }` style debug names, reduced to a lower-case function name.
fn func_name(debug: &str) -> String {
    let name: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::BinaryFunc;
    use freshet_repr::{ColumnType, RelationType, ScalarType};

    #[test]
    fn plans_print_as_indented_trees() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, true)]);
        let gt =
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int32(3), ScalarType::Int32), BinaryFunc::Gt);
        let expr = RelationExpr::Get { id: GlobalId(1), typ }.filter(vec![gt]).distinct();
        let text = expr.explain(&|id| (id == GlobalId(1)).then(|| "t".to_string()));
        assert_eq!(text, "Distinct\n  Filter (gt(#0, 3))\n    Get t (u1)\n");
    }
}
