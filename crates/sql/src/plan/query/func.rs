//! Function calls and the SQL special forms that are functions in disguise (EXTRACT, SUBSTRING,
//! TRIM, POSITION, CURRENT_TIMESTAMP, ...), and aggregates with the grouping they live in.
//!
//! Typing of every function is `freshet_expr`'s; this module only maps syntax to a function name
//! and arguments, and evaluates the session functions (`now()`, `current_user`) at plan time.

use std::cell::RefCell;
use std::ops::ControlFlow;

use freshet_expr::func::{self, Operand};
use freshet_expr::{agg, AggregateExpr, RelationExpr, ScalarExpr, TypeError, TypedExpr};
use freshet_repr::{ColumnType, Datum, ScalarType};
use sqlparser::ast;

use super::expr::{plan_expr, ExprContext, Planned};
use super::scope::object_name;
use crate::SqlError;

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "jsonb_agg",
    "json_agg",
    "jsonb_object_agg",
    "json_object_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
];

fn function_name(f: &ast::Function) -> Result<String, SqlError> {
    object_name(&f.name)
}

fn is_aggregate(f: &ast::Function) -> bool {
    f.over.is_none() && function_name(f).is_ok_and(|n| AGGREGATES.contains(&n.as_str()))
}

/// Whether `e` calls an aggregate of this query level (not counting those of subqueries).
pub(crate) fn contains_aggregate(e: &ast::Expr) -> bool {
    struct Finder {
        depth: usize,
    }
    impl ast::Visitor for Finder {
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
            match e {
                ast::Expr::Function(f) if self.depth == 0 && is_aggregate(f) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    ast::Visit::visit(e, &mut Finder { depth: 0 }).is_break()
}

/// The GROUP BY of an aggregating SELECT: expressions above it see the group key columns followed
/// by one column per aggregate.
pub(crate) struct Grouping<'a> {
    /// The Reduce's input (aggregate argument types are read from it).
    pub input: &'a RefCell<RelationExpr>,
    pub keys: Vec<TypedExpr>,
    pub aggs: RefCell<Vec<AggregateExpr>>,
    /// Subqueries of the SELECT list and HAVING, joined after the Reduce (whose arity is only
    /// known at the end): (relation, left key over the Reduce's output).
    pub pending: RefCell<Vec<PendingJoin>>,
}

/// A subquery to left-join onto a Reduce's output.
pub(crate) struct PendingJoin {
    pub rel: RelationExpr,
    pub left_key: Vec<ScalarExpr>,
    pub right_key: Vec<ScalarExpr>,
}

/// Columns of subqueries joined after a Reduce are numbered from here until the Reduce is built.
pub(crate) const PENDING_BASE: usize = usize::MAX / 4;

impl<'a> Grouping<'a> {
    pub fn new(input: &'a RefCell<RelationExpr>, keys: Vec<TypedExpr>) -> Self {
        Grouping { input, keys, aggs: RefCell::new(Vec::new()), pending: RefCell::new(Vec::new()) }
    }

    /// Records a subquery join to make after the Reduce, on `left_key` (over the Reduce's output)
    /// = `right_key` (over `rel`); returns its placeholder column offset.
    pub fn defer_join_on(&self, rel: RelationExpr, left_key: Vec<ScalarExpr>, right_key: Vec<ScalarExpr>) -> usize {
        let mut pending = self.pending.borrow_mut();
        let offset = PENDING_BASE + pending.iter().map(|p| p.rel.arity()).sum::<usize>();
        pending.push(PendingJoin { rel, left_key, right_key });
        offset
    }

    fn add_aggregate(&self, agg: AggregateExpr) -> TypedExpr {
        let input_types = self.input.borrow().typ().columns;
        let typ = agg.output_type(&input_types);
        let mut aggs = self.aggs.borrow_mut();
        let index = match aggs.iter().position(|a| *a == agg) {
            Some(i) => i,
            None => {
                aggs.push(agg);
                aggs.len() - 1
            }
        };
        TypedExpr::new(ScalarExpr::Column(self.keys.len() + index), typ)
    }

    /// The group key column for input column `i`, or a grouping error naming `name`.
    pub fn input_column(&self, i: usize, name: &str) -> Result<TypedExpr, SqlError> {
        match self.keys.iter().position(|k| k.expr == ScalarExpr::Column(i)) {
            Some(k) => Ok(TypedExpr::new(ScalarExpr::Column(k), self.keys[k].typ)),
            None => Err(SqlError::Grouping(name.to_string())),
        }
    }

    /// Plans `e` if it is an aggregate call or a group key; `None` to plan it structurally.
    pub fn match_expr(&self, ecx: &ExprContext, e: &ast::Expr) -> Result<Option<Planned>, SqlError> {
        if let ast::Expr::Function(f) = e {
            if is_aggregate(f) {
                return plan_aggregate_call(ecx, self, f).map(Some);
            }
        }
        if contains_aggregate(e) {
            return Ok(None);
        }
        // Plan over the input columns without side effects (no subquery joins) and compare.
        let probe = ExprContext { grouping: None, rel: None, ..*ecx };
        let planned = plan_expr(&probe, e);
        let is_column = matches!(e, ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_));
        match planned {
            Ok(Planned::Typed(t)) => {
                if let Some(k) = self.keys.iter().position(|k| k.expr == t.expr && !t.expr.is_constant()) {
                    return Ok(Some(Planned::Typed(TypedExpr::new(ScalarExpr::Column(k), self.keys[k].typ))));
                }
                if is_column {
                    return Err(SqlError::Grouping(e.to_string()));
                }
                Ok(None)
            }
            Err(err) if is_column => Err(err),
            _ => Ok(None),
        }
    }
}

fn plan_aggregate_call(ecx: &ExprContext, grouping: &Grouping, f: &ast::Function) -> Result<Planned, SqlError> {
    let name = function_name(f)?;
    let inner = ExprContext { clause: "aggregate function calls", ..ecx.ungrouped() };
    let (distinct, args) = match &f.args {
        ast::FunctionArguments::List(list) => {
            if !list.clauses.is_empty() {
                return Err(SqlError::Unsupported(format!("clauses in {name}()")));
            }
            (matches!(list.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct)), list.args.as_slice())
        }
        ast::FunctionArguments::None => (false, &[][..]),
        ast::FunctionArguments::Subquery(_) => return Err(SqlError::Unsupported("subquery arguments".into())),
    };
    if !f.within_group.is_empty() {
        return Err(SqlError::Unsupported("WITHIN GROUP".into()));
    }
    let mut operands = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) if name == "count" => {}
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                let planned = plan_expr(&inner, e)?;
                operands.push(inner.operand(planned, None));
            }
            other => return Err(SqlError::Unsupported(format!("argument {other} of {name}"))),
        }
    }
    let mut aggregate = agg::plan_aggregate(&name, distinct, operands)?;
    if let Some(filter) = &f.filter {
        let cond = ExprContext { clause: "FILTER", ..inner }.predicate(plan_expr(&inner, filter)?)?;
        let input_types = grouping.input.borrow().typ().columns;
        let arg_type = func::infer_type(&aggregate.expr, &input_types).scalar_type;
        aggregate.expr = ScalarExpr::If {
            cond: Box::new(cond),
            then: Box::new(aggregate.expr),
            els: Box::new(ScalarExpr::literal_null(arg_type)),
        };
    }
    Ok(Planned::Typed(grouping.add_aggregate(aggregate)))
}

/// Plans function calls and the special forms; everything else is unsupported.
pub(crate) fn plan_special(ecx: &ExprContext, e: &ast::Expr) -> Result<Planned, SqlError> {
    use ast::Expr;
    match e {
        Expr::Function(f) => plan_function_call(ecx, f),
        Expr::Extract { field, expr, .. } => {
            let field = match field {
                ast::DateTimeField::Custom(id) => id.value.to_lowercase(),
                other => other.to_string().to_lowercase(),
            };
            let x = plan_expr(ecx, expr)?;
            let args = vec![Operand::Unknown(Some(field)), ecx.operand(x, None)];
            call_with_fallback("extract", "date_part", args.clone(), args)
        }
        Expr::Substring { expr, substring_from, substring_for, .. } => {
            let mut args = vec![plan_operand(ecx, expr)?];
            match (substring_from, substring_for) {
                (Some(from), len) => {
                    args.push(plan_operand(ecx, from)?);
                    if let Some(len) = len {
                        args.push(plan_operand(ecx, len)?);
                    }
                }
                (None, Some(len)) => {
                    args.push(Operand::Typed(TypedExpr::literal(Datum::Int32(1), ScalarType::Int32)));
                    args.push(plan_operand(ecx, len)?);
                }
                (None, None) => {}
            }
            call("substring", args)
        }
        Expr::Trim { trim_where, trim_what, expr, trim_characters } => {
            let name = match trim_where {
                Some(ast::TrimWhereField::Leading) => "ltrim",
                Some(ast::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            };
            let mut args = vec![plan_operand(ecx, expr)?];
            if let Some(what) = trim_what {
                args.push(plan_operand(ecx, what)?);
            }
            for c in trim_characters.iter().flatten() {
                args.push(plan_operand(ecx, c)?);
            }
            call(name, args)
        }
        Expr::Position { expr, r#in } => {
            let (needle, haystack) = (plan_operand(ecx, expr)?, plan_operand(ecx, r#in)?);
            call("position", vec![haystack, needle])
        }
        Expr::Ceil { expr, field } | Expr::Floor { expr, field } => {
            let name = if matches!(e, Expr::Ceil { .. }) { "ceil" } else { "floor" };
            if !matches!(field, ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)) {
                return Err(SqlError::Unsupported(format!("{name} with a field or scale")));
            }
            call(name, vec![plan_operand(ecx, expr)?])
        }
        Expr::AtTimeZone { timestamp, time_zone } => {
            call("timezone", vec![plan_operand(ecx, time_zone)?, plan_operand(ecx, timestamp)?])
        }
        other => Err(SqlError::Unsupported(format!("expression {other}"))),
    }
}

fn plan_operand(ecx: &ExprContext, e: &ast::Expr) -> Result<Operand, SqlError> {
    let planned = plan_expr(ecx, e)?;
    Ok(ecx.operand(planned, None))
}

fn call(name: &str, args: Vec<Operand>) -> Result<Planned, SqlError> {
    Ok(Planned::Typed(func::plan_function(name, args)?))
}

/// Calls `name`, or `fallback` if the library does not know `name` (for SQL forms that map to
/// either a standard or a PostgreSQL-specific function).
fn call_with_fallback(
    name: &str,
    fallback: &str,
    args: Vec<Operand>,
    fallback_args: Vec<Operand>,
) -> Result<Planned, SqlError> {
    match func::plan_function(name, args) {
        Err(TypeError::UndefinedFunction { .. }) => call(fallback, fallback_args),
        other => Ok(Planned::Typed(other?)),
    }
}

fn plan_function_call(ecx: &ExprContext, f: &ast::Function) -> Result<Planned, SqlError> {
    let name = function_name(f)?;
    if f.over.is_some() {
        return Err(SqlError::Unsupported("window functions".into()));
    }
    if is_aggregate(f) {
        return Err(SqlError::InvalidGrouping(format!("aggregate functions are not allowed in {}", ecx.clause)));
    }
    if f.filter.is_some() || !f.within_group.is_empty() {
        return Err(SqlError::Unsupported(format!("FILTER or WITHIN GROUP on {name}, which is not an aggregate")));
    }
    let args: &[ast::FunctionArg] = match &f.args {
        ast::FunctionArguments::None => {
            if let Some(value) = session_function(ecx, &name, true) {
                return Ok(Planned::Typed(value));
            }
            &[]
        }
        ast::FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(SqlError::Unsupported(format!("DISTINCT or clauses in {name}()")));
            }
            &list.args
        }
        ast::FunctionArguments::Subquery(_) => return Err(SqlError::Unsupported("subquery arguments".into())),
    };
    if args.is_empty() {
        if let Some(value) = session_function(ecx, &name, false) {
            return Ok(Planned::Typed(value));
        }
    }
    let mut operands = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => operands.push(plan_operand(ecx, e)?),
            other => return Err(SqlError::Unsupported(format!("argument {other} of {name}"))),
        }
    }
    if super::srf::is_table_function(&name) {
        return super::srf::plan_call(ecx, &name, operands);
    }
    call(&name, operands)
}

/// Functions of the session and statement, evaluated once at plan time. `bare` is true when
/// written without parentheses (`CURRENT_TIMESTAMP`, `current_user`).
fn session_function(ecx: &ExprContext, name: &str, bare: bool) -> Option<TypedExpr> {
    let catalog = ecx.qcx.catalog;
    let text = |s: String| Some(TypedExpr::literal(Datum::Text(s), ScalarType::Text));
    match (name, bare) {
        ("now" | "transaction_timestamp" | "statement_timestamp", false) | ("current_timestamp", _) => {
            Some(TypedExpr::literal(Datum::TimestampTz(statement_micros(ecx)), ScalarType::TimestampTz))
        }
        ("localtimestamp", _) => {
            Some(TypedExpr::literal(Datum::Timestamp(statement_micros(ecx)), ScalarType::Timestamp))
        }
        ("current_date", true) => {
            let days = statement_micros(ecx).div_euclid(freshet_repr::Interval::MICROS_PER_DAY);
            Some(TypedExpr::literal(Datum::Date(i32::try_from(days).ok()?), ScalarType::Date))
        }
        ("current_database", false) => text(catalog.session_variable("database").unwrap_or_else(|| "freshet".into())),
        ("current_schema", _) => text("public".into()),
        ("current_user" | "session_user" | "user" | "current_role", true) => {
            text(catalog.session_variable("user").unwrap_or_else(|| "freshet".into()))
        }
        ("version", false) => text(
            catalog
                .session_variable("server_version_full")
                .unwrap_or_else(|| format!("PostgreSQL 16.0 (Freshet {})", env!("CARGO_PKG_VERSION"))),
        ),
        _ => None,
    }
}

/// The statement's timestamp: the coordinator's `statement_timestamp` (microseconds since the
/// epoch) so that every `now()` in a statement agrees, or the clock when planning alone.
fn statement_micros(ecx: &ExprContext) -> i64 {
    if let Some(micros) = ecx.qcx.catalog.session_variable("statement_timestamp").and_then(|v| v.parse().ok()) {
        return micros;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Column types of a planned aggregate's default row (over empty input without GROUP BY).
pub(crate) fn default_row(aggs: &[AggregateExpr], types: &[ColumnType]) -> Vec<(Datum, ColumnType)> {
    aggs.iter()
        .zip(types)
        .map(|(a, t)| {
            let d = a.func.default_value();
            let nullable = t.nullable || d.is_null();
            (d, ColumnType::new(t.scalar_type, nullable))
        })
        .collect()
}
