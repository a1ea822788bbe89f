//! Casts: which conversions PostgreSQL allows in which context, and how each converts a value.

use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive};
use freshet_repr::strconv::{format_datum, parse_datum};
use freshet_repr::{ColumnType, Datum, EvalError, ScalarType, F32, F64};

use super::arith::{date_micros, int_range};
use super::{CastContext, Operand, UnaryFunc};
use crate::{TypeError, TypedExpr};

/// The loosest context in which PostgreSQL casts `from` to `to`, or `None` if it never does.
pub fn cast_allowed(from: ScalarType, to: ScalarType) -> Option<CastContext> {
    use ScalarType::*;
    if from == to {
        return Some(CastContext::Implicit);
    }
    Some(match (from, to) {
        (Int16, Int32 | Int64 | Numeric | Float32 | Float64)
        | (Int32, Int64 | Numeric | Float32 | Float64)
        | (Int64, Numeric | Float32 | Float64)
        | (Numeric, Float32 | Float64)
        | (Float32, Float64)
        | (Date, Timestamp | TimestampTz)
        | (Timestamp, TimestampTz) => CastContext::Implicit,
        (f, t) if f.is_numeric() && t.is_numeric() => CastContext::Assignment,
        (Timestamp | TimestampTz, Date) | (TimestampTz, Timestamp) => CastContext::Assignment,
        (_, Text) => CastContext::Assignment,
        (Text, _) => CastContext::Explicit,
        (Bool, Int32) | (Int32, Bool) => CastContext::Explicit,
        (Jsonb, Bool | Int16 | Int32 | Int64 | Numeric | Float32 | Float64) => CastContext::Explicit,
        _ => return None,
    })
}

/// Types a cast of `expr` to `to`.
pub fn plan_cast(expr: Operand, to: ScalarType, context: CastContext) -> Result<TypedExpr, TypeError> {
    match expr {
        Operand::Unknown(None) => Ok(TypedExpr::literal(Datum::Null, to)),
        Operand::Unknown(Some(text)) => {
            let datum = parse_datum(&text, to).map_err(TypeError::InvalidLiteral)?;
            Ok(TypedExpr::literal(datum, to))
        }
        Operand::Typed(t) if t.typ.scalar_type == to => Ok(t),
        Operand::Typed(t) => {
            let from = t.typ.scalar_type;
            match cast_allowed(from, to) {
                Some(needed) if needed <= context => {
                    let func = UnaryFunc::Cast { from, to };
                    Ok(TypedExpr::new(t.expr.call_unary(func), ColumnType::new(to, t.typ.nullable)))
                }
                _ => Err(TypeError::CannotCast { from: from.name().into(), to: to.name().into() }),
            }
        }
    }
}

/// Converts `datum` to type `to` (text in and out uses PostgreSQL's text forms).
pub fn cast_datum(datum: Datum, to: ScalarType) -> Result<Datum, EvalError> {
    if datum.is_null() || datum.scalar_type() == Some(to) {
        return Ok(datum);
    }
    use Datum::*;
    match (datum, to) {
        (Text(s), _) => parse_datum(&s, to),
        // The bool-to-text cast says `true`, unlike bool's output function (`t`).
        (Bool(b), ScalarType::Text) => Ok(Text(b.to_string())),
        (d, ScalarType::Text) => Ok(Text(format_datum(&d).unwrap_or_default())),
        (Int16(v), t) => from_i64(v as i64, t),
        (Int32(v), t) => from_i64(v as i64, t),
        (Int64(v), t) => from_i64(v, t),
        (Float32(F32(v)), t) => from_f64(v as f64, t, 6),
        (Float64(F64(v)), t) => from_f64(v, t, 15),
        (Numeric(v), t) => from_numeric(&v.0, t),
        (Bool(b), ScalarType::Int32) => Ok(Int32(b as i32)),
        (Jsonb(j), t) => from_json(&j.value(), t),
        (Date(d), ScalarType::Timestamp) => Ok(Timestamp(date_micros(d))),
        (Date(d), ScalarType::TimestampTz) => Ok(TimestampTz(date_micros(d))),
        (Timestamp(t), ScalarType::TimestampTz) => Ok(TimestampTz(t)),
        (TimestampTz(t), ScalarType::Timestamp) => Ok(Timestamp(t)),
        (Timestamp(t) | TimestampTz(t), ScalarType::Date) => {
            i32::try_from(t.div_euclid(freshet_repr::Interval::MICROS_PER_DAY))
                .map(Date)
                .map_err(|_| EvalError::DatetimeOutOfRange("date out of range".into()))
        }
        (d, t) => Err(no_cast(&d, t)),
    }
}

fn no_cast(d: &Datum, to: ScalarType) -> EvalError {
    let from = d.scalar_type().map(|t| t.name()).unwrap_or("unknown");
    EvalError::Internal(format!("no cast from {from} to {to}"))
}

fn from_i64(v: i64, to: ScalarType) -> Result<Datum, EvalError> {
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(i16::try_from(v).map_err(|_| int_range(to))?),
        ScalarType::Int32 => Datum::Int32(i32::try_from(v).map_err(|_| int_range(to))?),
        ScalarType::Int64 => Datum::Int64(v),
        ScalarType::Float32 => Datum::float32(v as f32),
        ScalarType::Float64 => Datum::float64(v as f64),
        ScalarType::Numeric => Datum::numeric(BigDecimal::from(v)),
        ScalarType::Bool => Datum::Bool(v != 0),
        _ => return Err(no_cast(&Datum::Int64(v), to)),
    })
}

/// Float to integer rounds half to even (`rint`); float to numeric keeps `digits` significant
/// digits, as PostgreSQL's `float8_numeric` does.
fn from_f64(v: f64, to: ScalarType, digits: usize) -> Result<Datum, EvalError> {
    let int_in_range = |lo: f64, hi: f64| {
        let r = v.round_ties_even();
        if v.is_nan() || r < lo || r >= hi {
            Err(int_range(to))
        } else {
            Ok(r)
        }
    };
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(int_in_range(-32768.0, 32768.0)? as i16),
        ScalarType::Int32 => Datum::Int32(int_in_range(-2147483648.0, 2147483648.0)? as i32),
        ScalarType::Int64 => Datum::Int64(int_in_range(-9.223372036854776e18, 9.223372036854776e18)? as i64),
        ScalarType::Float32 => {
            let f = v as f32;
            if f.is_infinite() && v.is_finite() {
                return Err(EvalError::NumericOutOfRange("value out of range: overflow".into()));
            }
            Datum::float32(f)
        }
        ScalarType::Float64 => Datum::float64(v),
        ScalarType::Numeric => Datum::numeric(f64_to_numeric(v, digits)?),
        _ => return Err(no_cast(&Datum::float64(v), to)),
    })
}

/// `v` as a numeric with `digits` significant digits and no trailing fractional zeros.
pub(crate) fn f64_to_numeric(v: f64, digits: usize) -> Result<BigDecimal, EvalError> {
    if !v.is_finite() {
        return Err(EvalError::InvalidParameterValue(format!("cannot convert {v} to numeric")));
    }
    let text = format!("{:.*e}", digits.saturating_sub(1), v);
    let parsed = BigDecimal::from_str(&text).map_err(|e| EvalError::Internal(e.to_string()))?;
    Ok(trim_scale(parsed))
}

/// Drops trailing fractional zeros but never goes below scale 0.
pub(crate) fn trim_scale(v: BigDecimal) -> BigDecimal {
    let normalized = v.normalized();
    if normalized.as_bigint_and_exponent().1 < 0 {
        normalized.with_scale(0)
    } else {
        normalized
    }
}

fn from_numeric(v: &BigDecimal, to: ScalarType) -> Result<Datum, EvalError> {
    let rounded = || v.with_scale_round(0, RoundingMode::HalfUp);
    Ok(match to {
        ScalarType::Int16 => Datum::Int16(rounded().to_i16().ok_or_else(|| int_range(to))?),
        ScalarType::Int32 => Datum::Int32(rounded().to_i32().ok_or_else(|| int_range(to))?),
        ScalarType::Int64 => Datum::Int64(rounded().to_i64().ok_or_else(|| int_range(to))?),
        ScalarType::Float32 => Datum::float32(v.to_string().parse::<f32>().unwrap_or(f32::NAN)),
        ScalarType::Float64 => Datum::float64(numeric_to_f64(v)),
        _ => return Err(no_cast(&Datum::numeric(v.clone()), to)),
    })
}

pub(crate) fn numeric_to_f64(v: &BigDecimal) -> f64 {
    v.to_string().parse::<f64>().unwrap_or(f64::NAN)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "numeric",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// PostgreSQL 15's jsonb casts: only a JSON boolean to bool and a JSON number to a numeric type.
fn from_json(v: &serde_json::Value, to: ScalarType) -> Result<Datum, EvalError> {
    let wrong =
        || EvalError::InvalidParameterValue(format!("cannot cast jsonb {} to type {}", json_kind(v), to.name()));
    match (v, to) {
        (serde_json::Value::Bool(b), ScalarType::Bool) => Ok(Datum::Bool(*b)),
        (serde_json::Value::Number(n), t) if t.is_numeric() => {
            let decimal = BigDecimal::from_str(&n.to_string()).map_err(|_| wrong())?;
            let numeric = Datum::numeric(decimal);
            if t == ScalarType::Numeric {
                Ok(numeric)
            } else {
                cast_datum(numeric, t)
            }
        }
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Datum {
        Datum::numeric(BigDecimal::from_str(s).unwrap())
    }

    fn jsonb(s: &str) -> Datum {
        Datum::Jsonb(freshet_repr::Jsonb::parse(s).unwrap())
    }

    #[test]
    fn numeric_casts_round_and_check_range() {
        assert_eq!(cast_datum(num("2.5"), ScalarType::Int32), Ok(Datum::Int32(3)));
        assert_eq!(cast_datum(num("-2.5"), ScalarType::Int32), Ok(Datum::Int32(-3)));
        assert_eq!(cast_datum(Datum::float64(2.5), ScalarType::Int32), Ok(Datum::Int32(2)));
        assert_eq!(cast_datum(Datum::float64(3.5), ScalarType::Int64), Ok(Datum::Int64(4)));
        assert_eq!(cast_datum(Datum::Int64(1 << 40), ScalarType::Int32).unwrap_err().sqlstate(), "22003");
        assert_eq!(cast_datum(Datum::float64(1e10), ScalarType::Int32).unwrap_err().sqlstate(), "22003");
        assert_eq!(cast_datum(Datum::float64(f64::NAN), ScalarType::Int16).unwrap_err().sqlstate(), "22003");
        assert_eq!(cast_datum(Datum::Int32(7), ScalarType::Numeric), Ok(num("7")));
        assert_eq!(cast_datum(Datum::float64(0.1), ScalarType::Numeric), Ok(num("0.1")));
        assert_eq!(cast_datum(num("1.25"), ScalarType::Float64), Ok(Datum::float64(1.25)));
        assert_eq!(cast_datum(Datum::Int16(-3), ScalarType::Int64), Ok(Datum::Int64(-3)));
    }

    #[test]
    fn text_and_bool_casts() {
        assert_eq!(cast_datum(Datum::text(" 42 "), ScalarType::Int32), Ok(Datum::Int32(42)));
        assert_eq!(cast_datum(Datum::text("x"), ScalarType::Int32).unwrap_err().sqlstate(), "22P02");
        assert_eq!(cast_datum(Datum::Bool(true), ScalarType::Text), Ok(Datum::text("true")));
        assert_eq!(cast_datum(Datum::Bool(true), ScalarType::Int32), Ok(Datum::Int32(1)));
        assert_eq!(cast_datum(Datum::Int32(0), ScalarType::Bool), Ok(Datum::Bool(false)));
        assert_eq!(cast_datum(Datum::Null, ScalarType::Int32), Ok(Datum::Null));
    }

    #[test]
    fn jsonb_casts_follow_postgres_15() {
        assert_eq!(cast_datum(jsonb("1"), ScalarType::Int32), Ok(Datum::Int32(1)));
        assert_eq!(cast_datum(jsonb("1.5"), ScalarType::Numeric), Ok(num("1.5")));
        assert_eq!(cast_datum(jsonb("true"), ScalarType::Bool), Ok(Datum::Bool(true)));
        let err = cast_datum(jsonb("\"1\""), ScalarType::Int32).unwrap_err();
        assert_eq!(err.to_string(), "invalid input value: cannot cast jsonb string to type integer");
        assert_eq!(cast_datum(jsonb(r#"{"a":1}"#), ScalarType::Text), Ok(Datum::text(r#"{"a": 1}"#)));
        assert_eq!(cast_datum(Datum::text(r#"{"a":1}"#), ScalarType::Jsonb), Ok(jsonb(r#"{"a": 1}"#)));
    }

    #[test]
    fn temporal_casts() {
        let ts = parse_datum("2024-03-01 12:00:00", ScalarType::Timestamp).unwrap();
        let date = parse_datum("2024-03-01", ScalarType::Date).unwrap();
        assert_eq!(cast_datum(ts.clone(), ScalarType::Date), Ok(date.clone()));
        let midnight = parse_datum("2024-03-01 00:00:00", ScalarType::Timestamp).unwrap();
        assert_eq!(cast_datum(date, ScalarType::Timestamp), Ok(midnight));
        let before_epoch = parse_datum("1969-12-31 23:00:00", ScalarType::Timestamp).unwrap();
        assert_eq!(cast_datum(before_epoch, ScalarType::Date), Ok(Datum::Date(-1)));
    }

    #[test]
    fn cast_contexts() {
        assert_eq!(cast_allowed(ScalarType::Int32, ScalarType::Int64), Some(CastContext::Implicit));
        assert_eq!(cast_allowed(ScalarType::Int64, ScalarType::Int32), Some(CastContext::Assignment));
        assert_eq!(cast_allowed(ScalarType::Text, ScalarType::Int32), Some(CastContext::Explicit));
        assert_eq!(cast_allowed(ScalarType::Date, ScalarType::Int32), None);
        let col = TypedExpr::new(crate::ScalarExpr::Column(0), ColumnType::new(ScalarType::Int64, true));
        let err = plan_cast(Operand::Typed(col.clone()), ScalarType::Int32, CastContext::Implicit).unwrap_err();
        assert_eq!(err.sqlstate(), "42804");
        assert!(plan_cast(Operand::Typed(col), ScalarType::Int32, CastContext::Explicit).is_ok());
        let err = plan_cast(Operand::Unknown(Some("abc".into())), ScalarType::Int32, CastContext::Explicit);
        assert_eq!(err.unwrap_err().sqlstate(), "22P02");
    }
}
