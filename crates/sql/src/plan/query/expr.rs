//! Scalar expressions: name resolution against a scope, literals, parameters, operators, CASE,
//! IN lists and BETWEEN. Typing is delegated to `freshet_expr::func`; this module only decides
//! which operator or cast is meant and how untyped literals and parameters meet their context.

use std::cell::RefCell;

use freshet_expr::func::{self, BinaryFunc, BinaryOp, CastContext, Operand, UnaryOp};
use freshet_expr::{RelationExpr, ScalarExpr, TypeError, TypedExpr};
use freshet_repr::{ColumnType, Datum, ScalarType};
use sqlparser::ast;

use super::func::Grouping;
use super::scope::{normalize_ident, Scope};
use super::QueryContext;
use crate::SqlError;

/// An expression after planning: typed, or still waiting for its context to give it a type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Planned {
    Typed(TypedExpr),
    /// A string literal (`Some`) or `NULL` (`None`) with no type yet.
    Unknown(Option<String>),
    /// A parameter `$n` with no client-given type and no value (only while describing).
    Param(usize),
}

impl Planned {
    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self {
            Planned::Typed(t) => Some(t.typ.scalar_type),
            _ => None,
        }
    }
}

/// Where an expression is planned: the columns it may name, enclosing queries' scopes (for
/// detecting correlation), the relation subqueries attach to, and the grouping of an aggregating
/// SELECT.
#[derive(Clone, Copy)]
pub(crate) struct ExprContext<'a> {
    pub qcx: &'a QueryContext<'a>,
    pub scope: &'a Scope,
    pub outer: &'a [Scope],
    /// The relation being built at this level; uncorrelated subqueries are joined onto it.
    pub rel: Option<&'a RefCell<RelationExpr>>,
    pub grouping: Option<&'a Grouping<'a>>,
    /// The clause, for messages (`WHERE`, `SELECT`, ...).
    pub clause: &'static str,
}

impl<'a> ExprContext<'a> {
    pub fn new(qcx: &'a QueryContext<'a>, scope: &'a Scope, clause: &'static str) -> Self {
        ExprContext { qcx, scope, outer: &[], rel: None, grouping: None, clause }
    }

    pub fn with_outer(self, outer: &'a [Scope]) -> Self {
        ExprContext { outer, ..self }
    }

    pub fn with_rel(self, rel: &'a RefCell<RelationExpr>) -> Self {
        ExprContext { rel: Some(rel), ..self }
    }

    pub fn with_grouping(self, grouping: &'a Grouping<'a>) -> Self {
        ExprContext { grouping: Some(grouping), ..self }
    }

    /// The context of an aggregate's arguments: the input columns, no grouping.
    pub fn ungrouped(self) -> Self {
        ExprContext { grouping: None, ..self }
    }

    fn record_param(&self, n: usize, ty: ScalarType) {
        self.qcx.param_types.borrow_mut().entry(n).or_insert(ty);
    }

    /// The operand to hand to `freshet_expr`: an untyped parameter takes `hint` if there is one.
    pub fn operand(&self, planned: Planned, hint: Option<ScalarType>) -> Operand {
        match planned {
            Planned::Typed(t) => Operand::Typed(t),
            Planned::Unknown(s) => Operand::Unknown(s),
            Planned::Param(n) => match hint {
                Some(ty) => {
                    self.record_param(n, ty);
                    Operand::Typed(TypedExpr::literal(Datum::Null, ty))
                }
                None => Operand::Unknown(None),
            },
        }
    }

    /// Resolves whatever is still untyped the way PostgreSQL does at the end: as `text`.
    pub fn typed(&self, planned: Planned) -> TypedExpr {
        match planned {
            Planned::Typed(t) => t,
            Planned::Unknown(Some(s)) => TypedExpr::literal(Datum::Text(s), ScalarType::Text),
            Planned::Unknown(None) => TypedExpr::literal(Datum::Null, ScalarType::Text),
            Planned::Param(n) => {
                self.record_param(n, ScalarType::Text);
                TypedExpr::literal(Datum::Null, ScalarType::Text)
            }
        }
    }

    /// A condition (WHERE, ON, HAVING, CASE WHEN): must be boolean.
    pub fn predicate(&self, planned: Planned) -> Result<ScalarExpr, SqlError> {
        let typed = match planned {
            Planned::Typed(t) => t,
            other => {
                func::plan_cast(self.operand(other, Some(ScalarType::Bool)), ScalarType::Bool, CastContext::Implicit)?
            }
        };
        if typed.typ.scalar_type != ScalarType::Bool {
            return Err(TypeError::DatatypeMismatch(format!(
                "argument of {} must be type boolean, not type {}",
                self.clause, typed.typ.scalar_type
            ))
            .into());
        }
        Ok(typed.expr)
    }

    /// Casts `planned` to `target` implicitly (CASE branches, VALUES columns, set operations).
    pub fn coerce(&self, planned: Planned, target: ScalarType) -> Result<TypedExpr, SqlError> {
        Ok(func::plan_cast(self.operand(planned, Some(target)), target, CastContext::Implicit)?)
    }
}

/// Plans `e` in `ecx`.
pub(crate) fn plan_expr(ecx: &ExprContext, e: &ast::Expr) -> Result<Planned, SqlError> {
    if let Some(grouping) = ecx.grouping {
        if let Some(planned) = grouping.match_expr(ecx, e)? {
            return Ok(planned);
        }
    }
    use ast::Expr;
    match e {
        Expr::Identifier(id) => plan_ident(ecx, std::slice::from_ref(id)),
        Expr::CompoundIdentifier(ids) => plan_ident(ecx, ids),
        Expr::Value(v) => plan_value(ecx, &v.value),
        Expr::Nested(inner) => plan_expr(ecx, inner),
        Expr::TypedString(ts) => {
            let ty = scalar_type_of(&ts.data_type)?;
            let text = ts.value.value.clone().into_string();
            Ok(Planned::Typed(func::plan_cast(Operand::Unknown(text), ty, CastContext::Explicit)?))
        }
        Expr::Interval(iv) => plan_interval(iv),
        Expr::Cast { kind, expr, data_type, format } => {
            if !matches!(kind, ast::CastKind::Cast | ast::CastKind::DoubleColon) || format.is_some() {
                return Err(SqlError::Unsupported(format!("{kind:?}")));
            }
            let ty = scalar_type_of(data_type)?;
            let inner = plan_expr(ecx, expr)?;
            Ok(Planned::Typed(func::plan_cast(ecx.operand(inner, Some(ty)), ty, CastContext::Explicit)?))
        }
        // `^` is PostgreSQL's exponentiation: the same as power(), numeric stays numeric.
        Expr::BinaryOp { left, op: ast::BinaryOperator::PGExp, right } => {
            let args = vec![ecx.operand(plan_expr(ecx, left)?, None), ecx.operand(plan_expr(ecx, right)?, None)];
            Ok(Planned::Typed(func::plan_function("power", args)?))
        }
        Expr::BinaryOp { left, op, right } => {
            let op = binary_op(op)?;
            binary(ecx, op, plan_expr(ecx, left)?, plan_expr(ecx, right)?)
        }
        Expr::UnaryOp { op, expr } => plan_unary(ecx, op, expr),
        Expr::IsNull(x) => unary(ecx, UnaryOp::IsNull, x),
        Expr::IsNotNull(x) => unary(ecx, UnaryOp::IsNotNull, x),
        Expr::IsTrue(x) => unary(ecx, UnaryOp::IsTrue, x),
        Expr::IsNotTrue(x) => unary(ecx, UnaryOp::IsNotTrue, x),
        Expr::IsFalse(x) => unary(ecx, UnaryOp::IsFalse, x),
        Expr::IsNotFalse(x) => unary(ecx, UnaryOp::IsNotFalse, x),
        Expr::IsUnknown(x) => unary(ecx, UnaryOp::IsNull, x),
        Expr::IsNotUnknown(x) => unary(ecx, UnaryOp::IsNotNull, x),
        Expr::IsDistinctFrom(a, b) => binary(ecx, BinaryOp::IsDistinctFrom, plan_expr(ecx, a)?, plan_expr(ecx, b)?),
        Expr::IsNotDistinctFrom(a, b) => {
            binary(ecx, BinaryOp::IsNotDistinctFrom, plan_expr(ecx, a)?, plan_expr(ecx, b)?)
        }
        Expr::Like { negated, any, expr, pattern, escape_char }
        | Expr::ILike { negated, any, expr, pattern, escape_char } => {
            if *any || escape_char.is_some() {
                return Err(SqlError::Unsupported("LIKE ANY and LIKE ... ESCAPE".into()));
            }
            let op = match (matches!(e, Expr::ILike { .. }), negated) {
                (false, false) => BinaryOp::Like,
                (false, true) => BinaryOp::NotLike,
                (true, false) => BinaryOp::ILike,
                (true, true) => BinaryOp::NotILike,
            };
            binary(ecx, op, plan_expr(ecx, expr)?, plan_expr(ecx, pattern)?)
        }
        Expr::Between { expr, negated, low, high } => plan_between(ecx, expr, *negated, low, high),
        Expr::In { expr, target, negated, .. } => match target {
            ast::InTarget::List(list) => plan_in_list(ecx, expr, list, *negated),
            ast::InTarget::Subquery(q) => super::subquery::plan_in_subquery(ecx, expr, q, *negated),
            _ => Err(SqlError::Unsupported(format!("IN target in {e}"))),
        },
        Expr::AnyOp { left, compare_op, right, .. } => super::subquery::plan_any(ecx, left, compare_op, right, false),
        Expr::AllOp { left, compare_op, right } => super::subquery::plan_any(ecx, left, compare_op, right, true),
        Expr::Exists { subquery, negated } => super::subquery::plan_exists(ecx, subquery, *negated),
        Expr::Subquery(q) => super::subquery::plan_scalar_subquery(ecx, q),
        Expr::Case { operand, conditions, else_result, .. } => {
            plan_case(ecx, operand.as_deref(), conditions, else_result.as_deref())
        }
        _ => super::func::plan_special(ecx, e),
    }
}

/// Types `op` over two planned operands; an untyped parameter takes the other side's type.
pub(crate) fn binary(ecx: &ExprContext, op: BinaryOp, l: Planned, r: Planned) -> Result<Planned, SqlError> {
    let (lhint, rhint) = match op {
        BinaryOp::And | BinaryOp::Or => (Some(ScalarType::Bool), Some(ScalarType::Bool)),
        BinaryOp::Like
        | BinaryOp::NotLike
        | BinaryOp::ILike
        | BinaryOp::NotILike
        | BinaryOp::RegexMatch
        | BinaryOp::RegexIMatch
        | BinaryOp::NotRegexMatch
        | BinaryOp::NotRegexIMatch => (Some(ScalarType::Text), Some(ScalarType::Text)),
        BinaryOp::JsonGet | BinaryOp::JsonGetText | BinaryOp::JsonHasKey => {
            (Some(ScalarType::Jsonb), Some(ScalarType::Text))
        }
        BinaryOp::JsonGetPath | BinaryOp::JsonGetPathText => (Some(ScalarType::Jsonb), Some(ScalarType::Text)),
        BinaryOp::JsonContains | BinaryOp::JsonContainedBy => (Some(ScalarType::Jsonb), Some(ScalarType::Jsonb)),
        _ => (r.scalar_type(), l.scalar_type()),
    };
    let (l, r) = (ecx.operand(l, lhint), ecx.operand(r, rhint));
    Ok(Planned::Typed(func::plan_binary_op(op, l, r)?))
}

fn unary(ecx: &ExprContext, op: UnaryOp, e: &ast::Expr) -> Result<Planned, SqlError> {
    let hint = match op {
        UnaryOp::Neg => None,
        UnaryOp::IsNull | UnaryOp::IsNotNull => None,
        _ => Some(ScalarType::Bool),
    };
    let inner = plan_expr(ecx, e)?;
    Ok(Planned::Typed(func::plan_unary_op(op, ecx.operand(inner, hint))?))
}

fn plan_unary(ecx: &ExprContext, op: &ast::UnaryOperator, e: &ast::Expr) -> Result<Planned, SqlError> {
    match op {
        ast::UnaryOperator::Not => unary(ecx, UnaryOp::Not, e),
        ast::UnaryOperator::Plus => plan_expr(ecx, e),
        ast::UnaryOperator::Minus => {
            // `-2147483648` is an int4 literal, not the negation of an int8 one.
            if let ast::Expr::Value(v) = e {
                if let ast::Value::Number(n, _) = &v.value {
                    return Ok(Planned::Typed(number_literal(&format!("-{n}"))?));
                }
            }
            unary(ecx, UnaryOp::Neg, e)
        }
        other => Err(SqlError::Unsupported(format!("operator {other}"))),
    }
}

/// Maps a parser operator to the operator `freshet_expr` types.
fn binary_op(op: &ast::BinaryOperator) -> Result<BinaryOp, SqlError> {
    use ast::BinaryOperator as B;
    Ok(match op {
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        B::Plus => BinaryOp::Plus,
        B::Minus => BinaryOp::Minus,
        B::Multiply => BinaryOp::Multiply,
        B::Divide => BinaryOp::Divide,
        B::Modulo => BinaryOp::Modulo,
        B::And => BinaryOp::And,
        B::Or => BinaryOp::Or,
        B::StringConcat => BinaryOp::Concat,
        B::PGLikeMatch => BinaryOp::Like,
        B::PGNotLikeMatch => BinaryOp::NotLike,
        B::PGILikeMatch => BinaryOp::ILike,
        B::PGNotILikeMatch => BinaryOp::NotILike,
        B::Arrow => BinaryOp::JsonGet,
        B::LongArrow => BinaryOp::JsonGetText,
        B::HashArrow => BinaryOp::JsonGetPath,
        B::HashLongArrow => BinaryOp::JsonGetPathText,
        B::AtArrow => BinaryOp::JsonContains,
        B::ArrowAt => BinaryOp::JsonContainedBy,
        B::PGRegexMatch => BinaryOp::RegexMatch,
        B::PGRegexIMatch => BinaryOp::RegexIMatch,
        B::PGRegexNotMatch => BinaryOp::NotRegexMatch,
        B::PGRegexNotIMatch => BinaryOp::NotRegexIMatch,
        B::Question => BinaryOp::JsonHasKey,
        other => return Err(SqlError::Unsupported(format!("operator {other}"))),
    })
}

/// Resolves `a`, `t.a` or `schema.t.a`.
fn plan_ident(ecx: &ExprContext, parts: &[ast::Ident]) -> Result<Planned, SqlError> {
    let names: Vec<String> = parts.iter().map(normalize_ident).collect();
    let (table, column) = match names.as_slice() {
        [c] => (None, c.as_str()),
        [t, c] => (Some(t.as_str()), c.as_str()),
        [_, t, c] => (Some(t.as_str()), c.as_str()),
        _ => return Err(SqlError::Unsupported(format!("column reference {}", names.join(".")))),
    };
    let full = table.map_or_else(|| column.to_string(), |t| format!("{t}.{column}"));
    if let Some(t) = table {
        if !ecx.scope.has_table(t) && !ecx.outer.iter().any(|s| s.has_table(t)) {
            return Err(SqlError::UnknownRelation(t.to_string()));
        }
    }
    if let Some(i) = ecx.scope.resolve(table, column)? {
        return Ok(Planned::Typed(TypedExpr::new(ScalarExpr::Column(i), ecx.scope.items[i].typ)));
    }
    for outer in ecx.outer.iter().rev() {
        if outer.resolve(table, column)?.is_some() {
            return Err(SqlError::Unsupported(format!(
                "correlated subqueries (reference to \"{full}\" of an enclosing query)"
            )));
        }
    }
    Err(SqlError::UnknownColumn(full))
}

fn plan_value(ecx: &ExprContext, v: &ast::Value) -> Result<Planned, SqlError> {
    match v {
        ast::Value::Number(n, _) => Ok(Planned::Typed(number_literal(n)?)),
        ast::Value::Boolean(b) => Ok(Planned::Typed(TypedExpr::literal(Datum::Bool(*b), ScalarType::Bool))),
        ast::Value::Null => Ok(Planned::Unknown(None)),
        ast::Value::Placeholder(p) => plan_param(ecx, p),
        other => match other.clone().into_string() {
            Some(s) => Ok(Planned::Unknown(Some(s))),
            None => Err(SqlError::Unsupported(format!("literal {other}"))),
        },
    }
}

/// Integers are int4 if they fit, else int8, else numeric; anything with a point or exponent is
/// numeric (PostgreSQL's rules).
pub(crate) fn number_literal(n: &str) -> Result<TypedExpr, SqlError> {
    if let Ok(v) = n.parse::<i32>() {
        return Ok(TypedExpr::literal(Datum::Int32(v), ScalarType::Int32));
    }
    if let Ok(v) = n.parse::<i64>() {
        return Ok(TypedExpr::literal(Datum::Int64(v), ScalarType::Int64));
    }
    let datum = freshet_repr::strconv::parse_datum(n, ScalarType::Numeric)?;
    Ok(TypedExpr::literal(datum, ScalarType::Numeric))
}

fn plan_param(ecx: &ExprContext, p: &str) -> Result<Planned, SqlError> {
    let n: usize = p
        .strip_prefix('$')
        .and_then(|d| d.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| SqlError::Parse(format!("invalid parameter {p}")))?;
    let params = ecx.qcx.params;
    let hint = params.types.get(n - 1).copied().flatten();
    if params.bind_later {
        // Without a type the value would decide it; such statements are planned with values.
        let typ = hint.ok_or_else(|| SqlError::Parse(format!("parameter ${n} has no type to plan it with")))?;
        let param = ScalarExpr::Param { index: n, typ };
        return Ok(Planned::Typed(TypedExpr::new(param, ColumnType::new(typ, true))));
    }
    if !params.values.is_empty() {
        let value = params.values.get(n - 1).ok_or_else(|| SqlError::Parse(format!("there is no parameter ${n}")))?;
        return Ok(match hint.or_else(|| value.scalar_type()) {
            Some(ty) => Planned::Typed(TypedExpr::literal(value.clone(), ty)),
            None => Planned::Unknown(None),
        });
    }
    Ok(match hint {
        Some(ty) => {
            ecx.record_param(n, ty);
            Planned::Typed(TypedExpr::literal(Datum::Null, ty))
        }
        None => Planned::Param(n),
    })
}

fn plan_interval(iv: &ast::Interval) -> Result<Planned, SqlError> {
    let ast::Expr::Value(v) = iv.value.as_ref() else {
        return Err(SqlError::Unsupported(format!("interval expression {}", iv.value)));
    };
    let mut text = v.value.clone().into_string().ok_or_else(|| SqlError::Unsupported(format!("interval {v}")))?;
    if let Some(unit) = &iv.leading_field {
        if iv.last_field.is_none() {
            text = format!("{text} {}", unit.to_string().to_lowercase());
        }
    }
    let typed = func::plan_cast(Operand::Unknown(Some(text)), ScalarType::Interval, CastContext::Explicit)?;
    Ok(Planned::Typed(typed))
}

fn plan_between(
    ecx: &ExprContext,
    e: &ast::Expr,
    negated: bool,
    low: &ast::Expr,
    high: &ast::Expr,
) -> Result<Planned, SqlError> {
    let x = plan_expr(ecx, e)?;
    let ge = binary(ecx, BinaryOp::GtEq, x.clone(), plan_expr(ecx, low)?)?;
    let le = binary(ecx, BinaryOp::LtEq, x, plan_expr(ecx, high)?)?;
    let both = binary(ecx, BinaryOp::And, ge, le)?;
    negate_if(ecx, both, negated)
}

fn negate_if(ecx: &ExprContext, p: Planned, negated: bool) -> Result<Planned, SqlError> {
    if !negated {
        return Ok(p);
    }
    Ok(Planned::Typed(func::plan_unary_op(UnaryOp::Not, ecx.operand(p, Some(ScalarType::Bool)))?))
}

fn plan_in_list(ecx: &ExprContext, e: &ast::Expr, list: &[ast::Expr], negated: bool) -> Result<Planned, SqlError> {
    let x = plan_expr(ecx, e)?;
    let mut acc: Option<Planned> = None;
    for item in list {
        let eq = binary(ecx, BinaryOp::Eq, x.clone(), plan_expr(ecx, item)?)?;
        acc = Some(match acc {
            None => eq,
            Some(prev) => binary(ecx, BinaryOp::Or, prev, eq)?,
        });
    }
    let acc = acc.ok_or_else(|| SqlError::Parse("syntax error: empty IN list".into()))?;
    negate_if(ecx, acc, negated)
}

fn plan_case(
    ecx: &ExprContext,
    operand: Option<&ast::Expr>,
    conditions: &[ast::CaseWhen],
    else_result: Option<&ast::Expr>,
) -> Result<Planned, SqlError> {
    let operand = operand.map(|o| plan_expr(ecx, o)).transpose()?;
    let mut conds = Vec::with_capacity(conditions.len());
    let mut results = Vec::with_capacity(conditions.len() + 1);
    for when in conditions {
        let cond = plan_expr(ecx, &when.condition)?;
        let cond = match &operand {
            Some(op) => binary(ecx, BinaryOp::Eq, op.clone(), cond)?,
            None => cond,
        };
        conds.push(ExprContext { clause: "CASE/WHEN", ..*ecx }.predicate(cond)?);
        results.push(plan_expr(ecx, &when.result)?);
    }
    let els = else_result.map(|e| plan_expr(ecx, e)).transpose()?;
    results.extend(els.clone());
    let target = common_type_of(&results)?;
    let mut typed: Vec<TypedExpr> = results.into_iter().map(|r| ecx.coerce(r, target)).collect::<Result<_, _>>()?;
    let mut nullable = typed.iter().any(|t| t.typ.nullable);
    let mut acc = match els {
        Some(_) => typed.pop().map(|t| t.expr).unwrap_or_else(|| ScalarExpr::literal_null(target)),
        None => {
            nullable = true;
            ScalarExpr::literal_null(target)
        }
    };
    for (cond, then) in conds.into_iter().zip(typed).rev() {
        acc = ScalarExpr::If { cond: Box::new(cond), then: Box::new(then.expr), els: Box::new(acc) };
    }
    Ok(Planned::Typed(TypedExpr::new(acc, ColumnType::new(target, nullable))))
}

/// The common type of the typed members (`text` if none is typed, as PostgreSQL resolves an
/// all-unknown CASE or VALUES column).
pub(crate) fn common_type_of(planned: &[Planned]) -> Result<ScalarType, SqlError> {
    let types: Vec<ScalarType> = planned.iter().filter_map(Planned::scalar_type).collect();
    if types.is_empty() {
        return Ok(ScalarType::Text);
    }
    Ok(func::common_type(&types)?)
}

/// Resolves a SQL type name, ignoring modifiers such as `varchar(10)` or `numeric(10, 2)`.
pub(crate) fn scalar_type_of(dt: &ast::DataType) -> Result<ScalarType, SqlError> {
    let text = dt.to_string().to_lowercase();
    let mut base = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => base.push(c),
            _ => {}
        }
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    ScalarType::from_sql_name(&base).ok_or_else(|| SqlError::Unsupported(format!("type \"{base}\"")))
}

/// PostgreSQL's internal name of a type, which a cast gives its output column (`'1'::int` is
/// named `int4`).
pub(crate) fn type_column_name(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::Bool => "bool",
        ScalarType::Int16 => "int2",
        ScalarType::Int32 => "int4",
        ScalarType::Int64 => "int8",
        ScalarType::Float32 => "float4",
        ScalarType::Float64 => "float8",
        ScalarType::Numeric => "numeric",
        ScalarType::Text => "text",
        ScalarType::Bytes => "bytea",
        ScalarType::Jsonb => "jsonb",
        ScalarType::Date => "date",
        ScalarType::Timestamp => "timestamp",
        ScalarType::TimestampTz => "timestamptz",
        ScalarType::Interval => "interval",
    }
}

/// The name PostgreSQL gives an output column computed by `e` (`None` means `?column?`).
pub(crate) fn column_name(e: &ast::Expr) -> Option<String> {
    use ast::Expr;
    match e {
        Expr::Identifier(id) => Some(normalize_ident(id)),
        Expr::CompoundIdentifier(ids) => ids.last().map(normalize_ident),
        Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).map(normalize_ident),
        Expr::Cast { expr, data_type, .. } => {
            column_name(expr).or_else(|| scalar_type_of(data_type).ok().map(|t| type_column_name(t).to_string()))
        }
        Expr::TypedString(ts) => scalar_type_of(&ts.data_type).ok().map(|t| type_column_name(t).to_string()),
        Expr::Interval(_) => Some("interval".into()),
        Expr::Nested(inner) => column_name(inner),
        Expr::Case { .. } => Some("case".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Subquery(q) => match q.body.as_ref() {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => column_name(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => Some(normalize_ident(alias)),
                _ => None,
            },
            _ => None,
        },
        Expr::Value(v) if matches!(v.value, ast::Value::Boolean(_)) => Some("bool".into()),
        Expr::Extract { .. } => Some("extract".into()),
        Expr::Substring { .. } => Some("substring".into()),
        Expr::Trim { trim_where, .. } => Some(
            match trim_where {
                Some(ast::TrimWhereField::Leading) => "ltrim",
                Some(ast::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            }
            .into(),
        ),
        Expr::Position { .. } => Some("position".into()),
        Expr::Ceil { .. } => Some("ceil".into()),
        Expr::Floor { .. } => Some("floor".into()),
        Expr::Array(_) => Some("array".into()),
        _ => None,
    }
}

/// Splits a predicate into its top-level AND-ed conjuncts.
pub(crate) fn conjuncts(e: ScalarExpr, out: &mut Vec<ScalarExpr>) {
    match e {
        ScalarExpr::CallBinary { func: BinaryFunc::And, expr1, expr2 } => {
            conjuncts(*expr1, out);
            conjuncts(*expr2, out);
        }
        other => out.push(other),
    }
}
