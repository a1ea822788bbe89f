//! Operator typing: resolving untyped literals from context, implicit promotion, and the choice of
//! the evaluated function for each SQL operator. Also `common_type` for CASE/UNION/IN/VALUES.

use freshet_repr::{ColumnType, ScalarType};

use super::{plan_cast, BinaryFunc, BinaryOp, CastContext, Operand, UnaryFunc, UnaryOp};
use crate::{ScalarExpr, TypeError, TypedExpr};

/// The type `expr` produces over input columns `input`.
pub fn infer_type(expr: &ScalarExpr, input: &[ColumnType]) -> ColumnType {
    match expr {
        ScalarExpr::Column(i) => input.get(*i).copied().unwrap_or(ColumnType::new(ScalarType::Text, true)),
        ScalarExpr::Literal(d, t) => ColumnType::new(*t, d.is_null()),
        ScalarExpr::Param { typ, .. } => ColumnType::new(*typ, true),
        ScalarExpr::CallUnary { func, expr } => func.output_type(infer_type(expr, input)),
        ScalarExpr::CallBinary { func, expr1, expr2 } => {
            func.output_type(infer_type(expr1, input), infer_type(expr2, input))
        }
        ScalarExpr::CallVariadic { func, exprs } => {
            let types: Vec<ColumnType> = exprs.iter().map(|e| infer_type(e, input)).collect();
            func.output_type(&types)
        }
        ScalarExpr::If { then, els, .. } => {
            let (t, e) = (infer_type(then, input), infer_type(els, input));
            ColumnType::new(t.scalar_type, t.nullable || e.nullable)
        }
    }
}

/// Rank in PostgreSQL's implicit numeric promotion chain.
fn numeric_rank(t: ScalarType) -> Option<u8> {
    Some(match t {
        ScalarType::Int16 => 0,
        ScalarType::Int32 => 1,
        ScalarType::Int64 => 2,
        ScalarType::Numeric => 3,
        ScalarType::Float32 => 4,
        ScalarType::Float64 => 5,
        _ => return None,
    })
}

fn temporal_rank(t: ScalarType) -> Option<u8> {
    Some(match t {
        ScalarType::Date => 0,
        ScalarType::Timestamp => 1,
        ScalarType::TimestampTz => 2,
        _ => return None,
    })
}

/// The type both `a` and `b` implicitly convert to, if any.
pub(crate) fn promote(a: ScalarType, b: ScalarType) -> Option<ScalarType> {
    if a == b {
        return Some(a);
    }
    let pick = |ra: Option<u8>, rb: Option<u8>| match (ra, rb) {
        (Some(x), Some(y)) => Some(if x >= y { a } else { b }),
        _ => None,
    };
    pick(numeric_rank(a), numeric_rank(b)).or_else(|| pick(temporal_rank(a), temporal_rank(b)))
}

/// The type that values of all `types` convert to implicitly (CASE, COALESCE, UNION, IN, VALUES).
pub fn common_type(types: &[ScalarType]) -> Result<ScalarType, TypeError> {
    let mut iter = types.iter().copied();
    let first = iter.next().unwrap_or(ScalarType::Text);
    iter.try_fold(first, |acc, t| {
        promote(acc, t).ok_or_else(|| TypeError::DatatypeMismatch(format!("types {acc} and {t} cannot be matched")))
    })
}

/// Converts all operands to their common type: untyped literals take the type of the typed ones,
/// and all-untyped lists are text.
pub fn coerce_to_common(args: Vec<Operand>) -> Result<(Vec<TypedExpr>, ScalarType), TypeError> {
    let typed: Vec<ScalarType> = args.iter().filter_map(operand_type).collect();
    let target = if typed.is_empty() { ScalarType::Text } else { common_type(&typed)? };
    let exprs = args.into_iter().map(|a| coerce(a, target)).collect::<Result<Vec<_>, _>>()?;
    Ok((exprs, target))
}

pub(crate) fn operand_type(op: &Operand) -> Option<ScalarType> {
    match op {
        Operand::Typed(t) => Some(t.typ.scalar_type),
        Operand::Unknown(_) => None,
    }
}

/// Converts `op` to `to` in an implicit context.
pub(crate) fn coerce(op: Operand, to: ScalarType) -> Result<TypedExpr, TypeError> {
    plan_cast(op, to, CastContext::Implicit)
}

pub(crate) fn binary(func: BinaryFunc, l: TypedExpr, r: TypedExpr) -> TypedExpr {
    let typ = func.output_type(l.typ, r.typ);
    TypedExpr::new(l.expr.call_binary(r.expr, func), typ)
}

pub(crate) fn unary(func: UnaryFunc, e: TypedExpr) -> TypedExpr {
    let typ = func.output_type(e.typ);
    TypedExpr::new(e.expr.call_unary(func), typ)
}

fn type_name(op: &Operand) -> &'static str {
    operand_type(op).map(|t| t.name()).unwrap_or("unknown")
}

fn no_operator(op: BinaryOp, l: &Operand, r: &Operand) -> TypeError {
    TypeError::UndefinedOperator(format!("{} {} {}", type_name(l), op_symbol(op), type_name(r)))
}

fn op_symbol(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Eq | IsDistinctFrom | IsNotDistinctFrom => "=",
        NotEq => "<>",
        Lt => "<",
        LtEq => "<=",
        Gt => ">",
        GtEq => ">=",
        Plus => "+",
        Minus => "-",
        Multiply => "*",
        Divide => "/",
        Modulo => "%",
        And => "AND",
        Or => "OR",
        Concat => "||",
        Like | NotLike => "~~",
        ILike | NotILike => "~~*",
        JsonGet => "->",
        JsonGetText => "->>",
        JsonGetPath => "#>",
        JsonGetPathText => "#>>",
        JsonContains => "@>",
        JsonContainedBy => "<@",
        JsonHasKey => "?",
        RegexMatch => "~",
        RegexIMatch => "~*",
        NotRegexMatch => "!~",
        NotRegexIMatch => "!~*",
    }
}

/// Resolves both operands of a comparison-like operator to one type.
fn unify(op: BinaryOp, left: Operand, right: Operand) -> Result<(TypedExpr, TypedExpr), TypeError> {
    let target = match (operand_type(&left), operand_type(&right)) {
        (None, None) => ScalarType::Text,
        (Some(t), None) | (None, Some(t)) => t,
        (Some(a), Some(b)) => promote(a, b).ok_or_else(|| no_operator(op, &left, &right))?,
    };
    Ok((coerce(left, target)?, coerce(right, target)?))
}

fn coerce_bool(op: Operand, what: &str) -> Result<TypedExpr, TypeError> {
    match operand_type(&op) {
        None | Some(ScalarType::Bool) => coerce(op, ScalarType::Bool),
        Some(t) => Err(TypeError::DatatypeMismatch(format!("argument of {what} must be type boolean, not type {t}"))),
    }
}

/// Coerces `op` to `to`, reporting an undefined operator when its type cannot convert implicitly.
fn coerce_for(op: BinaryOp, l: &Operand, r: &Operand, which: Operand, to: ScalarType) -> Result<TypedExpr, TypeError> {
    match operand_type(&which) {
        Some(t) if t != to && super::cast_allowed(t, to) != Some(CastContext::Implicit) => Err(no_operator(op, l, r)),
        _ => coerce(which, to),
    }
}

/// Types `left op right`.
pub fn plan_binary_op(op: BinaryOp, left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    use BinaryOp::*;
    let cmp = |func: BinaryFunc, left: Operand, right: Operand| {
        let (l, r) = unify(op, left, right)?;
        Ok(binary(func, l, r))
    };
    match op {
        And | Or => {
            let what = if op == And { "AND" } else { "OR" };
            let func = if op == And { BinaryFunc::And } else { BinaryFunc::Or };
            Ok(binary(func, coerce_bool(left, what)?, coerce_bool(right, what)?))
        }
        Eq => cmp(BinaryFunc::Eq, left, right),
        NotEq => cmp(BinaryFunc::NotEq, left, right),
        Lt => cmp(BinaryFunc::Lt, left, right),
        LtEq => cmp(BinaryFunc::Lte, left, right),
        Gt => cmp(BinaryFunc::Gt, left, right),
        GtEq => cmp(BinaryFunc::Gte, left, right),
        IsDistinctFrom => cmp(BinaryFunc::IsDistinctFrom, left, right),
        IsNotDistinctFrom => cmp(BinaryFunc::IsNotDistinctFrom, left, right),
        Plus | Minus | Multiply | Divide | Modulo => plan_arith(op, left, right),
        Concat => plan_concat(left, right),
        Like | NotLike | ILike | NotILike | RegexMatch | RegexIMatch | NotRegexMatch | NotRegexIMatch => {
            plan_text_match(op, left, right)
        }
        JsonGet | JsonGetText | JsonGetPath | JsonGetPathText | JsonContains | JsonContainedBy | JsonHasKey => {
            plan_json_op(op, left, right)
        }
    }
}

fn plan_text_match(op: BinaryOp, left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    use BinaryOp::*;
    let (func, negate) = match op {
        Like => (BinaryFunc::Like, false),
        NotLike => (BinaryFunc::Like, true),
        ILike => (BinaryFunc::ILike, false),
        NotILike => (BinaryFunc::ILike, true),
        RegexMatch => (BinaryFunc::RegexMatch { case_insensitive: false }, false),
        RegexIMatch => (BinaryFunc::RegexMatch { case_insensitive: true }, false),
        NotRegexMatch => (BinaryFunc::RegexMatch { case_insensitive: false }, true),
        _ => (BinaryFunc::RegexMatch { case_insensitive: true }, true),
    };
    let l = coerce_for(op, &left, &right, left.clone(), ScalarType::Text)?;
    let r = coerce_for(op, &left, &right, right.clone(), ScalarType::Text)?;
    let matched = binary(func, l, r);
    Ok(if negate { unary(UnaryFunc::Not, matched) } else { matched })
}

fn plan_json_op(op: BinaryOp, left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    use BinaryOp::*;
    if op == JsonContainedBy {
        return plan_json_op(JsonContains, right, left);
    }
    let l = coerce_for(op, &left, &right, left.clone(), ScalarType::Jsonb)?;
    let (func, rtype) = match op {
        JsonGet | JsonGetText => {
            let func = if op == JsonGet { BinaryFunc::JsonGet } else { BinaryFunc::JsonGetText };
            match operand_type(&right) {
                Some(t) if t.is_integer() => (func, ScalarType::Int64),
                _ => (func, ScalarType::Text),
            }
        }
        JsonGetPath => (BinaryFunc::JsonGetPath, ScalarType::Text),
        JsonGetPathText => (BinaryFunc::JsonGetPathText, ScalarType::Text),
        JsonContains => (BinaryFunc::JsonContains, ScalarType::Jsonb),
        _ => (BinaryFunc::JsonHasKey, ScalarType::Text),
    };
    let r = coerce_for(op, &left, &right, right.clone(), rtype)?;
    Ok(binary(func, l, r))
}

fn plan_concat(left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    let (lt, rt) = (operand_type(&left), operand_type(&right));
    let both_are =
        |t: ScalarType| lt.is_none_or(|x| x == t) && rt.is_none_or(|x| x == t) && (lt == Some(t) || rt == Some(t));
    if both_are(ScalarType::Jsonb) {
        return Ok(binary(
            BinaryFunc::JsonbConcat,
            coerce(left, ScalarType::Jsonb)?,
            coerce(right, ScalarType::Jsonb)?,
        ));
    }
    if both_are(ScalarType::Bytes) {
        return Ok(binary(
            BinaryFunc::BytesConcat,
            coerce(left, ScalarType::Bytes)?,
            coerce(right, ScalarType::Bytes)?,
        ));
    }
    let is_text = |t: Option<ScalarType>| t.is_none_or(|t| t == ScalarType::Text);
    if !is_text(lt) && !is_text(rt) {
        return Err(no_operator(BinaryOp::Concat, &left, &right));
    }
    // `text || anynonarray`: the other side goes through its output function.
    let to_text = |op: Operand| plan_cast(op, ScalarType::Text, CastContext::Explicit);
    Ok(binary(BinaryFunc::TextConcat, to_text(left)?, to_text(right)?))
}

/// Which operand types an arithmetic operator is defined on, after promotion: returns the types the
/// left and right operands must be cast to.
fn arith_signature(op: BinaryOp, l: ScalarType, r: ScalarType) -> Option<(ScalarType, ScalarType)> {
    use BinaryOp::*;
    use ScalarType::*;
    if let (Some(_), Some(_)) = (numeric_rank(l), numeric_rank(r)) {
        let p = promote(l, r)?;
        let modulo_ok = p.is_integer() || p == Numeric;
        return (op != Modulo || modulo_ok).then_some((p, p));
    }
    match (op, l, r) {
        (Plus | Minus, Date, Int16 | Int32) => Some((Date, Int32)),
        (Plus, Int16 | Int32, Date) => Some((Int32, Date)),
        (Plus | Minus, Date | Timestamp | TimestampTz, Interval) => Some((l, Interval)),
        (Plus, Interval, Date | Timestamp | TimestampTz) => Some((Interval, r)),
        (Plus | Minus, Interval, Interval) => Some((Interval, Interval)),
        (Minus, Date, Date) => Some((Date, Date)),
        (Minus, _, _) if temporal_rank(l).is_some() && temporal_rank(r).is_some() => {
            let p = promote(l, r)?;
            Some((p, p))
        }
        (Multiply | Divide, Interval, _) if r.is_numeric() => Some((Interval, Float64)),
        (Multiply, _, Interval) if l.is_numeric() => Some((Float64, Interval)),
        _ => None,
    }
}

/// The type an untyped literal takes opposite an operand of type `t`.
fn arith_unknown_type(op: BinaryOp, t: ScalarType) -> ScalarType {
    if arith_signature(op, t, t).is_some() {
        t
    } else if temporal_rank(t).is_some() {
        ScalarType::Interval
    } else if t == ScalarType::Interval {
        ScalarType::Float64
    } else {
        t
    }
}

fn plan_arith(op: BinaryOp, left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    let (lt, rt) = match (operand_type(&left), operand_type(&right)) {
        (None, None) => {
            return Err(TypeError::UndefinedOperator(format!(
                "operator is not unique: unknown {} unknown",
                op_symbol(op)
            )))
        }
        (Some(l), None) => (l, arith_unknown_type(op, l)),
        (None, Some(r)) => (arith_unknown_type(op, r), r),
        (Some(l), Some(r)) => (l, r),
    };
    let (lto, rto) = arith_signature(op, lt, rt).ok_or_else(|| no_operator(op, &left, &right))?;
    let func = match op {
        BinaryOp::Plus => BinaryFunc::Add,
        BinaryOp::Minus => BinaryFunc::Sub,
        BinaryOp::Multiply => BinaryFunc::Mul,
        BinaryOp::Divide => BinaryFunc::Div,
        _ => BinaryFunc::Mod,
    };
    Ok(binary(func, coerce(left, lto)?, coerce(right, rto)?))
}

/// Types `op expr`.
pub fn plan_unary_op(op: UnaryOp, expr: Operand) -> Result<TypedExpr, TypeError> {
    let func = match op {
        UnaryOp::Not => return Ok(unary(UnaryFunc::Not, coerce_bool(expr, "NOT")?)),
        UnaryOp::Neg => {
            let e = match operand_type(&expr) {
                None => coerce(expr, ScalarType::Float64)?,
                Some(t) if t.is_numeric() || t == ScalarType::Interval => coerce(expr, t)?,
                Some(t) => return Err(TypeError::UndefinedOperator(format!("- {t}"))),
            };
            return Ok(unary(UnaryFunc::Neg, e));
        }
        UnaryOp::IsNull | UnaryOp::IsNotNull => {
            let func = if op == UnaryOp::IsNull { UnaryFunc::IsNull } else { UnaryFunc::IsNotNull };
            let e = match operand_type(&expr) {
                Some(t) => coerce(expr, t)?,
                None => coerce(expr, ScalarType::Text)?,
            };
            return Ok(unary(func, e));
        }
        UnaryOp::IsTrue => UnaryFunc::IsTrue,
        UnaryOp::IsNotTrue => UnaryFunc::IsNotTrue,
        UnaryOp::IsFalse => UnaryFunc::IsFalse,
        UnaryOp::IsNotFalse => UnaryFunc::IsNotFalse,
    };
    Ok(unary(func, coerce_bool(expr, "IS")?))
}
