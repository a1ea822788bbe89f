//! Row-at-a-time pipelines (maps, filters and projections) peeled off the top of a plan, so that a
//! query reading one stored collection can be answered from that collection's arrangement without
//! building a dataflow.

use freshet_repr::{Datum, EvalError, GlobalId, Row};
use serde::{Deserialize, Serialize};

use crate::{RelationExpr, ScalarExpr};

/// One row-at-a-time step, with `RelationExpr`'s meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowStep {
    Map(Vec<ScalarExpr>),
    Filter(Vec<ScalarExpr>),
    Project(Vec<usize>),
}

/// Steps applied in order to each row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MapFilterProject {
    pub steps: Vec<RowStep>,
}

impl MapFilterProject {
    /// Splits `expr` into the stored collection it reads and the row steps above it, when `expr`
    /// is only maps, filters and projections over one `Get`.
    pub fn extract(expr: &RelationExpr) -> Option<(GlobalId, MapFilterProject)> {
        let mut steps = Vec::new();
        let mut current = expr;
        loop {
            match current {
                RelationExpr::Get { id, .. } => {
                    steps.reverse();
                    return Some((*id, MapFilterProject { steps }));
                }
                RelationExpr::Map { input, scalars } => {
                    steps.push(RowStep::Map(scalars.clone()));
                    current = input;
                }
                RelationExpr::Filter { input, predicates } => {
                    steps.push(RowStep::Filter(predicates.clone()));
                    current = input;
                }
                RelationExpr::Project { input, outputs } => {
                    steps.push(RowStep::Project(outputs.clone()));
                    current = input;
                }
                _ => return None,
            }
        }
    }

    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// The value the input's first column must equal for a row to pass, when a filter ahead of
    /// every map and projection says `#0 = <constant>`. Rows are ordered by their first column
    /// first, so a reader can seek to that value instead of scanning; the filter still runs.
    pub fn leading_column_literal(&self) -> Option<Datum> {
        for step in &self.steps {
            let RowStep::Filter(predicates) = step else { return None };
            if let Some(value) = predicates.iter().find_map(column_zero_equals) {
                return Some(value);
            }
        }
        None
    }

    /// The row after every step, `None` if a filter dropped it.
    pub fn apply(&self, row: &Row) -> Result<Option<Row>, EvalError> {
        if self.steps.is_empty() {
            return Ok(Some(row.clone()));
        }
        let mut datums: Vec<Datum> = row.datums().to_vec();
        for step in &self.steps {
            match step {
                RowStep::Map(scalars) => {
                    for scalar in scalars {
                        let value = scalar.eval(&datums)?;
                        datums.push(value);
                    }
                }
                RowStep::Filter(predicates) => {
                    for predicate in predicates {
                        if !predicate.eval(&datums)?.is_true() {
                            return Ok(None);
                        }
                    }
                }
                RowStep::Project(outputs) => {
                    let mut projected = Vec::with_capacity(outputs.len());
                    for &i in outputs {
                        let datum = datums
                            .get(i)
                            .ok_or_else(|| EvalError::Internal(format!("projection of missing column {i}")))?;
                        projected.push(datum.clone());
                    }
                    datums = projected;
                }
            }
        }
        Ok(Some(Row::new(datums)))
    }
}

/// `v` when `predicate` is `#0 = v` or `v = #0` with `v` a non-null constant.
fn column_zero_equals(predicate: &ScalarExpr) -> Option<Datum> {
    let ScalarExpr::CallBinary { func: crate::func::BinaryFunc::Eq, expr1, expr2 } = predicate else { return None };
    let constant = match (expr1.as_ref(), expr2.as_ref()) {
        (ScalarExpr::Column(0), other) | (other, ScalarExpr::Column(0)) => other,
        _ => return None,
    };
    if !constant.is_constant() {
        return None;
    }
    constant.eval(&[]).ok().filter(|value| !value.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::BinaryFunc;
    use freshet_repr::{ColumnType, RelationType, ScalarType};

    #[test]
    fn extracts_and_applies_steps_in_plan_order() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 2]);
        let get = RelationExpr::Get { id: GlobalId(7), typ };
        let is_two =
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int32(2), ScalarType::Int32), BinaryFunc::Eq);
        let expr = get.filter(vec![is_two]).map(vec![ScalarExpr::Column(1)]).project(vec![2, 0]);
        let (id, mfp) = MapFilterProject::extract(&expr).expect("pure row pipeline");
        assert_eq!(id, GlobalId(7));
        let row = |a, b| Row::new(vec![Datum::Int32(a), Datum::Int32(b)]);
        assert_eq!(mfp.apply(&row(2, 9)), Ok(Some(Row::new(vec![Datum::Int32(9), Datum::Int32(2)]))));
        assert_eq!(mfp.apply(&row(3, 9)), Ok(None));
        assert!(MapFilterProject::extract(&expr.distinct()).is_none());
    }

    #[test]
    fn finds_the_leading_column_constant_only_ahead_of_maps_and_projections() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int32, false); 2]);
        let get = RelationExpr::Get { id: GlobalId(7), typ };
        let lit = |v| ScalarExpr::Literal(Datum::Int32(v), ScalarType::Int32);
        let first_is = |v| lit(v).call_binary(ScalarExpr::Column(0), BinaryFunc::Eq);
        let second_is = |v| ScalarExpr::Column(1).call_binary(lit(v), BinaryFunc::Eq);
        let leading = |expr: &RelationExpr| MapFilterProject::extract(expr).unwrap().1.leading_column_literal();
        assert_eq!(leading(&get.clone().filter(vec![second_is(1), first_is(5)])), Some(Datum::Int32(5)));
        assert_eq!(leading(&get.clone().filter(vec![second_is(1)])), None);
        assert_eq!(leading(&get.clone().project(vec![1, 0]).filter(vec![first_is(5)])), None);
        let null =
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Null, ScalarType::Int32), BinaryFunc::Eq);
        assert_eq!(leading(&get.filter(vec![null])), None);
    }
}
