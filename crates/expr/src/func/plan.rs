//! Typing of named scalar function calls: argument resolution (untyped literals, implicit casts)
//! and the choice of the evaluated function.

use freshet_repr::{Datum, ScalarType};

use super::typing::{binary, coerce, coerce_to_common, operand_type, unary};
use super::{plan_binary_op, plan_cast, BinaryFunc, BinaryOp, CastContext, Operand, UnaryFunc, VariadicFunc};
use crate::{ScalarExpr, TypeError, TypedExpr};

use ScalarType::{Bytes, Date, Float64, Int32, Interval, Jsonb, Numeric, Text, Timestamp, TimestampTz};

fn undefined(name: &str, args: &[Operand]) -> TypeError {
    let types: Vec<&str> = args.iter().map(|a| operand_type(a).map(|t| t.name()).unwrap_or("unknown")).collect();
    TypeError::UndefinedFunction { name: name.to_string(), args: types.join(", ") }
}

/// Coerces `args` to `sig` implicitly; a mismatch is an undefined function, as in PostgreSQL.
fn fixed(name: &str, args: Vec<Operand>, sig: &[ScalarType]) -> Result<Vec<TypedExpr>, TypeError> {
    if args.len() > sig.len() {
        return Err(undefined(name, &args));
    }
    let implicit = |a: &Operand, t: ScalarType| {
        operand_type(a).is_none_or(|from| super::cast_allowed(from, t) == Some(CastContext::Implicit))
    };
    if !args.iter().zip(sig).all(|(a, t)| implicit(a, *t)) {
        return Err(undefined(name, &args));
    }
    args.into_iter().zip(sig).map(|(a, t)| coerce(a, *t)).collect()
}

fn variadic(func: VariadicFunc, exprs: Vec<TypedExpr>) -> TypedExpr {
    let typ = func.output_type(&exprs.iter().map(|e| e.typ).collect::<Vec<_>>());
    TypedExpr::new(ScalarExpr::CallVariadic { func, exprs: exprs.into_iter().map(|e| e.expr).collect() }, typ)
}

fn call(name: &str, args: Vec<Operand>, sig: &[ScalarType], func: VariadicFunc) -> Result<TypedExpr, TypeError> {
    Ok(variadic(func, fixed(name, args, sig)?))
}

fn call_unary(name: &str, args: Vec<Operand>, arg: ScalarType, func: UnaryFunc) -> Result<TypedExpr, TypeError> {
    let mut exprs = fixed(name, args, &[arg])?;
    match exprs.pop() {
        Some(e) => Ok(unary(func, e)),
        None => Err(TypeError::InvalidArgument(format!("{name}: missing argument"))),
    }
}

fn call_binary(name: &str, args: Vec<Operand>, sig: [ScalarType; 2], func: BinaryFunc) -> Result<TypedExpr, TypeError> {
    let mut exprs = fixed(name, args, &sig)?.into_iter();
    match (exprs.next(), exprs.next()) {
        (Some(a), Some(b)) => Ok(binary(func, a, b)),
        _ => Err(TypeError::InvalidArgument(format!("{name}: missing argument"))),
    }
}

/// The type a math function computes in: numeric stays numeric, everything else is double.
fn numeric_or_float(args: &[Operand]) -> ScalarType {
    let all_numeric = args.iter().all(|a| operand_type(a).is_none_or(|t| t.is_integer() || t == Numeric));
    if args.iter().any(|a| operand_type(a) == Some(Numeric)) && all_numeric {
        Numeric
    } else {
        Float64
    }
}

fn text_literal(s: &str) -> Operand {
    Operand::Typed(TypedExpr::literal(Datum::text(s), Text))
}

/// Any argument as text via its output function (`concat`, `jsonb_build_object` keys).
fn to_text(arg: Operand) -> Result<TypedExpr, TypeError> {
    plan_cast(arg, Text, CastContext::Explicit)
}

/// A `concat`/`concat_ws` value argument: booleans stay booleans so that evaluation can print them
/// with the output function (`t`), not the text cast (`true`).
fn concat_arg(arg: Operand) -> Result<TypedExpr, TypeError> {
    match operand_type(&arg) {
        Some(ScalarType::Bool) => coerce(arg, ScalarType::Bool),
        _ => to_text(arg),
    }
}

/// An argument taken as-is, with untyped literals read as text.
fn as_is(arg: Operand) -> Result<TypedExpr, TypeError> {
    match operand_type(&arg) {
        Some(t) => coerce(arg, t),
        None => coerce(arg, Text),
    }
}

/// Types a call of the scalar function `name` (lower case).
///
/// `extract(field FROM x)` is `plan_function("extract", [field as untyped literal, x])`;
/// `position(needle IN haystack)` is `plan_function("position", [haystack, needle])`.
pub fn plan_function(name: &str, args: Vec<Operand>) -> Result<TypedExpr, TypeError> {
    let n = args.len();
    match (name, n) {
        ("coalesce" | "greatest" | "least", 1..) => {
            let func = match name {
                "coalesce" => VariadicFunc::Coalesce,
                "greatest" => VariadicFunc::Greatest,
                _ => VariadicFunc::Least,
            };
            Ok(variadic(func, coerce_to_common(args)?.0))
        }
        ("nullif", 2) => {
            let mut exprs = coerce_to_common(args)?.0.into_iter();
            match (exprs.next(), exprs.next()) {
                (Some(a), Some(b)) => Ok(binary(BinaryFunc::NullIf, a, b)),
                _ => Err(TypeError::InvalidArgument("nullif: missing argument".into())),
            }
        }
        ("concat", 1..) => {
            Ok(variadic(VariadicFunc::Concat, args.into_iter().map(concat_arg).collect::<Result<_, _>>()?))
        }
        ("concat_ws", 1..) => {
            let mut iter = args.into_iter();
            let mut exprs = match iter.next() {
                Some(sep) => fixed("concat_ws", vec![sep], &[Text])?,
                None => Vec::new(),
            };
            exprs.extend(iter.map(concat_arg).collect::<Result<Vec<_>, _>>()?);
            Ok(variadic(VariadicFunc::ConcatWs, exprs))
        }
        _ => plan_family(name, args),
    }
}

fn plan_family(name: &str, args: Vec<Operand>) -> Result<TypedExpr, TypeError> {
    if let Some(planned) = plan_string(name, &args) {
        return planned.build(name, args);
    }
    if let Some(planned) = plan_math(name, &args) {
        return planned.build(name, args);
    }
    plan_other(name, args)
}

/// A resolved signature, applied to the arguments once chosen.
enum Planned {
    Unary(ScalarType, UnaryFunc),
    Binary([ScalarType; 2], BinaryFunc),
    Variadic(&'static [ScalarType], VariadicFunc),
}

impl Planned {
    fn build(self, name: &str, args: Vec<Operand>) -> Result<TypedExpr, TypeError> {
        match self {
            Planned::Unary(t, f) => call_unary(name, args, t, f),
            Planned::Binary(sig, f) => call_binary(name, args, sig, f),
            Planned::Variadic(sig, f) => call(name, args, sig, f),
        }
    }
}

fn plan_string(name: &str, args: &[Operand]) -> Option<Planned> {
    use Planned::*;
    let first_is_bytes = args.first().and_then(operand_type) == Some(Bytes);
    Some(match (name, args.len()) {
        ("lower", 1) => Unary(Text, UnaryFunc::Lower),
        ("upper", 1) => Unary(Text, UnaryFunc::Upper),
        ("length" | "octet_length", 1) if first_is_bytes => Unary(Bytes, UnaryFunc::OctetLength),
        ("md5", 1) if first_is_bytes => Unary(Bytes, UnaryFunc::Md5),
        ("length" | "char_length" | "character_length", 1) => Unary(Text, UnaryFunc::CharLength),
        ("octet_length", 1) => Unary(Text, UnaryFunc::OctetLength),
        ("reverse", 1) => Unary(Text, UnaryFunc::Reverse),
        ("initcap", 1) => Unary(Text, UnaryFunc::Initcap),
        ("md5", 1) => Unary(Text, UnaryFunc::Md5),
        ("ascii", 1) => Unary(Text, UnaryFunc::Ascii),
        ("chr", 1) => Unary(Int32, UnaryFunc::Chr),
        ("get_byte", 2) => Binary([Bytes, Int32], BinaryFunc::GetByte),
        ("substr" | "substring", 2..=3) => Variadic(&[Text, Int32, Int32], VariadicFunc::Substr),
        ("split_part", 3) => Variadic(&[Text, Text, Int32], VariadicFunc::SplitPart),
        ("replace", 3) => Variadic(&[Text, Text, Text], VariadicFunc::Replace),
        ("lpad", 2..=3) => Variadic(&[Text, Int32, Text], VariadicFunc::Lpad),
        ("rpad", 2..=3) => Variadic(&[Text, Int32, Text], VariadicFunc::Rpad),
        ("regexp_replace", 3..=4) => Variadic(&[Text, Text, Text, Text], VariadicFunc::RegexpReplace),
        ("btrim" | "trim", 2) => Binary([Text, Text], BinaryFunc::BTrim),
        ("ltrim", 2) => Binary([Text, Text], BinaryFunc::LTrim),
        ("rtrim", 2) => Binary([Text, Text], BinaryFunc::RTrim),
        ("position" | "strpos", 2) => Binary([Text, Text], BinaryFunc::Position),
        ("left", 2) => Binary([Text, Int32], BinaryFunc::Left),
        ("right", 2) => Binary([Text, Int32], BinaryFunc::Right),
        ("repeat", 2) => Binary([Text, Int32], BinaryFunc::Repeat),
        ("starts_with", 2) => Binary([Text, Text], BinaryFunc::StartsWith),
        ("convert_from", 2) => Binary([Bytes, Text], BinaryFunc::ConvertFrom),
        ("convert_to", 2) => Binary([Text, Text], BinaryFunc::ConvertTo),
        ("encode", 2) => Binary([Bytes, Text], BinaryFunc::Encode),
        ("decode", 2) => Binary([Text, Text], BinaryFunc::Decode),
        _ => return None,
    })
}

fn plan_math(name: &str, args: &[Operand]) -> Option<Planned> {
    use Planned::*;
    let t = numeric_or_float(args);
    Some(match (name, args.len()) {
        ("ceil" | "ceiling", 1) => Unary(t, UnaryFunc::Ceil),
        ("floor", 1) => Unary(t, UnaryFunc::Floor),
        ("round", 1) => Unary(t, UnaryFunc::Round),
        ("trunc", 1) => Unary(t, UnaryFunc::Trunc),
        ("sqrt", 1) => Unary(t, UnaryFunc::Sqrt),
        ("exp", 1) => Unary(t, UnaryFunc::Exp),
        ("ln", 1) => Unary(t, UnaryFunc::Ln),
        ("log" | "log10", 1) => Unary(t, UnaryFunc::Log10),
        ("sign", 1) => Unary(t, UnaryFunc::Sign),
        ("round", 2) => Binary([Numeric, Int32], BinaryFunc::RoundScale),
        ("trunc", 2) => Binary([Numeric, Int32], BinaryFunc::TruncScale),
        ("power" | "pow", 2) => Binary([t, t], BinaryFunc::Power),
        ("log", 2) => Binary([t, t], BinaryFunc::Log),
        ("to_timestamp", 1) => Unary(Float64, UnaryFunc::ToTimestamp),
        ("make_date", 3) => Variadic(&[Int32, Int32, Int32], VariadicFunc::MakeDate),
        ("jsonb_typeof", 1) => Unary(Jsonb, UnaryFunc::JsonbTypeof),
        ("jsonb_array_length", 1) => Unary(Jsonb, UnaryFunc::JsonbArrayLength),
        _ => return None,
    })
}

fn plan_other(name: &str, args: Vec<Operand>) -> Result<TypedExpr, TypeError> {
    let n = args.len();
    match (name, n) {
        ("btrim" | "trim" | "ltrim" | "rtrim", 1) => {
            let mut args = args;
            args.push(text_literal(" "));
            plan_function(name, args)
        }
        ("abs", 1) => {
            let t = operand_type(&args[0]).unwrap_or(Float64);
            if !t.is_numeric() {
                return Err(undefined(name, &args));
            }
            let t = if t == ScalarType::Float32 { Float64 } else { t };
            call_unary(name, args, t, UnaryFunc::Abs)
        }
        ("mod", 2) => {
            let mut iter = args.into_iter();
            match (iter.next(), iter.next()) {
                (Some(a), Some(b)) => plan_binary_op(BinaryOp::Modulo, a, b),
                _ => Err(TypeError::InvalidArgument("mod: missing argument".into())),
            }
        }
        // Resolved at plan time: the argument is never evaluated.
        ("pg_typeof", 1) => {
            let t = operand_type(&args[0]).map(|t| t.name()).unwrap_or("unknown");
            Ok(TypedExpr::literal(Datum::text(t), Text))
        }
        ("to_jsonb", 1) => {
            Ok(unary(UnaryFunc::ToJsonb, as_is(args.into_iter().next().ok_or_else(|| undefined(name, &[]))?)?))
        }
        ("jsonb_build_array", _) => {
            Ok(variadic(VariadicFunc::JsonbBuildArray, args.into_iter().map(as_is).collect::<Result<_, _>>()?))
        }
        ("jsonb_build_object", _) if n.is_multiple_of(2) => {
            Ok(variadic(VariadicFunc::JsonbBuildObject, args.into_iter().map(as_is).collect::<Result<_, _>>()?))
        }
        ("jsonb_build_object", _) => {
            Err(TypeError::InvalidArgument("argument list must have even number of elements".into()))
        }
        ("date_trunc", 2) => plan_datetime(name, args, BinaryFunc::DateTrunc, &[Timestamp, TimestampTz]),
        ("extract", 2) => plan_datetime(name, args, BinaryFunc::Extract, &[Date, Timestamp, TimestampTz, Interval]),
        ("date_part", 2) => plan_datetime(name, args, BinaryFunc::DatePart, &[Date, Timestamp, TimestampTz, Interval]),
        ("to_char", 2) => {
            let source = match operand_type(&args[0]) {
                Some(Timestamp) => Timestamp,
                Some(TimestampTz | Date) | None => TimestampTz,
                Some(t) => return Err(TypeError::Unsupported(format!("to_char of type {t}"))),
            };
            call_binary(name, args, [source, Text], BinaryFunc::ToChar)
        }
        ("age", 2) => {
            let both_plain = args.iter().all(|a| operand_type(a).is_none_or(|t| t == Timestamp || t == Date));
            let t = if both_plain && args.iter().any(|a| operand_type(a).is_some()) { Timestamp } else { TimestampTz };
            call_binary(name, args, [t, t], BinaryFunc::Age)
        }
        ("timezone", 2) => plan_datetime(name, args, BinaryFunc::Timezone, &[Timestamp, TimestampTz]),
        _ => Err(undefined(name, &args)),
    }
}

/// `(unit text, source)` where source must be one of `accepted`; other temporal types convert to
/// timestamptz, as PostgreSQL's preferred datetime type.
fn plan_datetime(
    name: &str,
    args: Vec<Operand>,
    func: BinaryFunc,
    accepted: &[ScalarType],
) -> Result<TypedExpr, TypeError> {
    let source = match operand_type(&args[1]) {
        Some(t) if accepted.contains(&t) => t,
        Some(Date) | None => TimestampTz,
        Some(_) => return Err(undefined(name, &args)),
    };
    call_binary(name, args, [Text, source], func)
}
