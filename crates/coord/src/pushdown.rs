//! Point lookups and counts inside larger reads. A part of a plan that is maps, filters and
//! projections over one stored collection is read by the workers from the collection's
//! arrangement when it returns few rows: when it fixes the collection's first column to a
//! constant (a seek), or when it keeps no column (each worker answers one row and its
//! multiplicity). The rest of the plan then runs over those few rows (in the coordinator when it
//! can, else as a small dataflow over constants). Without this, `SELECT count(*) FROM mv WHERE id
//! = 5` would build a dataflow that scans all of `mv`, and `SELECT count(*) FROM mv` one that
//! copies every row of it.
//!
//! This module must not choose timestamps: every lookup reads at the caller's one time.

use freshet_dataflow::Cluster;
use freshet_expr::{MapFilterProject, RelationExpr};
use freshet_repr::{DataflowError, GlobalId, Timestamp};

/// A lookup that returns more rows than this is not worth it: its rows would travel to the
/// coordinator and back to every worker inside the plan; the plan scans in the dataflow instead.
const MAX_LOOKUP_ROWS: usize = 10_000;

/// `expr` with each point lookup replaced by the rows it reads at `ts`; `None` when it has none
/// or one of them reads more than `MAX_LOOKUP_ROWS` rows.
pub async fn seek_point_lookups(
    cluster: &Cluster,
    expr: &RelationExpr,
    ts: Timestamp,
) -> Result<Option<RelationExpr>, DataflowError> {
    let mut lookups = Vec::new();
    collect_lookups(expr, &mut lookups);
    if lookups.is_empty() {
        return Ok(None);
    }
    let mut narrowed = expr.clone();
    for Lookup { expr: lookup, id, mfp } in lookups {
        let rows = cluster.peek_with(id, ts, mfp).await?;
        if rows.len() > MAX_LOOKUP_ROWS {
            return Ok(None);
        }
        let constant = RelationExpr::Constant { rows, typ: lookup.typ() };
        narrowed.visit_mut(&mut |node| {
            if *node == lookup {
                *node = constant.clone();
            }
        });
    }
    Ok(Some(narrowed))
}

/// A row pipeline over one stored collection that fixes the collection's first column or keeps no
/// column.
struct Lookup {
    expr: RelationExpr,
    id: GlobalId,
    mfp: MapFilterProject,
}

/// The outermost lookups of `expr`, once each.
fn collect_lookups(expr: &RelationExpr, out: &mut Vec<Lookup>) {
    if let Some((id, mfp)) = MapFilterProject::extract(expr) {
        let few_rows = mfp.leading_column_literal().is_some() || mfp.projects_no_columns();
        if few_rows && !out.iter().any(|l| l.expr == *expr) {
            out.push(Lookup { expr: expr.clone(), id, mfp });
        }
        return;
    }
    for input in expr.inputs() {
        collect_lookups(input, out);
    }
}

#[cfg(test)]
mod tests {
    use freshet_expr::func::BinaryFunc;
    use freshet_expr::ScalarExpr;
    use freshet_repr::{ColumnType, Datum, RelationType, ScalarType};

    use super::*;

    #[test]
    fn finds_the_outermost_pipelines_that_fix_the_first_column_or_keep_none() {
        let typ = RelationType::new(vec![ColumnType::new(ScalarType::Int64, false); 2]);
        let get = |id| RelationExpr::Get { id: GlobalId(id), typ: typ.clone() };
        let first_is = |v| {
            ScalarExpr::Column(0).call_binary(ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64), BinaryFunc::Eq)
        };
        let second_is = |v| {
            ScalarExpr::Column(1).call_binary(ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64), BinaryFunc::Eq)
        };
        let lookup = get(1).filter(vec![first_is(5)]).project(vec![1]);
        let scan = get(2).filter(vec![second_is(5)]);
        let count = get(3).filter(vec![second_is(7)]).project(vec![]);
        // Keeps no column, then computes one: one row per arranged row again.
        let computed = get(4).project(vec![]).map(vec![ScalarExpr::Literal(Datum::Int64(1), ScalarType::Int64)]);
        let plan = lookup.clone().union(lookup.clone()).union(scan).union(count.clone()).union(computed).distinct();
        let mut found = Vec::new();
        collect_lookups(&plan, &mut found);
        let found: Vec<(RelationExpr, GlobalId)> = found.into_iter().map(|l| (l.expr, l.id)).collect();
        assert_eq!(found, vec![(lookup, GlobalId(1)), (count, GlobalId(3))]);
    }
}
