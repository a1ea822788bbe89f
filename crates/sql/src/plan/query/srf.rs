//! Set-returning functions in the select list (`SELECT id, jsonb_array_elements(tags) FROM t`):
//! the call becomes a `FlatMap` over the SELECT's relation and the expression reads its column,
//! as in PostgreSQL 10+. Only one such call per select list (PostgreSQL zips several by row
//! index, which has no plan here yet) and only in non-aggregating SELECTs; elsewhere they are
//! reported as unsupported. Typing is `freshet_expr::table_func`'s.

use std::ops::ControlFlow;

use freshet_expr::func::Operand;
use freshet_expr::{table_func, RelationExpr, ScalarExpr, TypedExpr};
use sqlparser::ast;

use super::expr::{ExprContext, Planned};
use super::scope::object_name;
use crate::SqlError;

const TABLE_FUNCTIONS: &[&str] = &[
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_object_keys",
    "generate_series",
];

pub(crate) fn is_table_function(name: &str) -> bool {
    TABLE_FUNCTIONS.contains(&name)
}

/// How many set-returning calls `e` makes at this query level (not counting its subqueries').
pub(crate) fn count_calls(e: &ast::Expr) -> usize {
    struct Counter {
        depth: usize,
        calls: usize,
    }
    impl ast::Visitor for Counter {
        type Break = ();
        fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &ast::Expr) -> ControlFlow<()> {
            if let ast::Expr::Function(f) = e {
                if self.depth == 0 && object_name(&f.name).is_ok_and(|n| is_table_function(&n)) {
                    self.calls += 1;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut counter = Counter { depth: 0, calls: 0 };
    let _ = ast::Visit::visit(e, &mut counter);
    counter.calls
}

/// Rejects select lists with more than one set-returning call.
pub(crate) fn check_select_list<'e>(exprs: impl Iterator<Item = &'e ast::Expr>) -> Result<(), SqlError> {
    if exprs.map(count_calls).sum::<usize>() > 1 {
        return Err(SqlError::Unsupported("more than one set-returning function in a select list".into()));
    }
    Ok(())
}

/// Plans a set-returning call in the select list: flat-maps the SELECT's relation and reads the
/// produced column.
pub(crate) fn plan_call(ecx: &ExprContext, name: &str, args: Vec<Operand>) -> Result<Planned, SqlError> {
    let not_here = || SqlError::Unsupported(format!("set-returning functions in {}", ecx.clause));
    let cell = match (ecx.clause, ecx.rel, ecx.grouping) {
        ("SELECT", Some(cell), None) => cell,
        ("SELECT", _, Some(_)) => {
            return Err(SqlError::Unsupported("set-returning functions in an aggregating select list".into()))
        }
        _ => return Err(not_here()),
    };
    let (func, exprs) = table_func::plan_table_function(name, args)?;
    let [typ] = func.output_type()[..] else {
        return Err(SqlError::Unsupported(format!("{name} in a select list (it returns records; call it in FROM)")));
    };
    let input = super::select::take(cell);
    let column = input.arity();
    cell.replace(RelationExpr::FlatMap { input: Box::new(input), func, exprs });
    Ok(Planned::Typed(TypedExpr::new(ScalarExpr::Column(column), typ)))
}
