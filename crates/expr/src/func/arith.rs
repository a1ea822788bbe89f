//! Arithmetic: `+ - * / %` and unary minus on integers, numerics, floats, dates, timestamps and
//! intervals. Operands arrive already promoted to a common type by the planner.

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, Signed, Zero};
use freshet_repr::{Datum, EvalError, Interval, ScalarType, F32, F64};

use super::{type_mismatch, BinaryFunc};

const MICROS_PER_DAY: i64 = Interval::MICROS_PER_DAY;

/// PostgreSQL's minimum number of significant digits in a numeric quotient.
const NUMERIC_MIN_SIG_DIGITS: i64 = 16;
const NUMERIC_MAX_DISPLAY_SCALE: i64 = 1000;

pub(crate) fn int_range(t: ScalarType) -> EvalError {
    EvalError::NumericOutOfRange(format!("{} out of range", t.name()))
}

fn float_overflow() -> EvalError {
    EvalError::NumericOutOfRange("value out of range: overflow".into())
}

fn i16_err() -> EvalError {
    int_range(ScalarType::Int16)
}
fn i32_err() -> EvalError {
    int_range(ScalarType::Int32)
}
fn i64_err() -> EvalError {
    int_range(ScalarType::Int64)
}

fn check_f64(v: f64, a: f64, b: f64) -> Result<Datum, EvalError> {
    if v.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(float_overflow());
    }
    Ok(Datum::float64(v))
}

fn check_f32(v: f32, a: f32, b: f32) -> Result<Datum, EvalError> {
    if v.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(float_overflow());
    }
    Ok(Datum::float32(v))
}

/// The arithmetic operators of integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl IntOp {
    pub(crate) fn of(func: &BinaryFunc) -> Option<IntOp> {
        Some(match func {
            BinaryFunc::Add => IntOp::Add,
            BinaryFunc::Sub => IntOp::Sub,
            BinaryFunc::Mul => IntOp::Mul,
            BinaryFunc::Div => IntOp::Div,
            BinaryFunc::Mod => IntOp::Mod,
            _ => return None,
        })
    }
}

/// `x op y` on bigints: the one definition of bigint arithmetic, shared by the general evaluation
/// and the pipelines' fast path (`mfp::pipeline::fast`).
#[inline]
pub(crate) fn int64(op: IntOp, x: i64, y: i64) -> Result<i64, EvalError> {
    match op {
        IntOp::Add => x.checked_add(y).ok_or_else(i64_err),
        IntOp::Sub => x.checked_sub(y).ok_or_else(i64_err),
        IntOp::Mul => x.checked_mul(y).ok_or_else(i64_err),
        IntOp::Div | IntOp::Mod if y == 0 => Err(EvalError::DivisionByZero),
        IntOp::Div => x.checked_div(y).ok_or_else(i64_err),
        // i64::MIN % -1 overflows in Rust but is 0 in SQL.
        IntOp::Mod => Ok(x.wrapping_rem(y)),
    }
}

pub(crate) fn add(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (a, b) {
        (Int16(x), Int16(y)) => x.checked_add(y).map(Int16).ok_or_else(i16_err),
        (Int32(x), Int32(y)) => x.checked_add(y).map(Int32).ok_or_else(i32_err),
        (Int64(x), Int64(y)) => int64(IntOp::Add, x, y).map(Int64),
        (Float32(F32(x)), Float32(F32(y))) => check_f32(x + y, x, y),
        (Float64(F64(x)), Float64(F64(y))) => check_f64(x + y, x, y),
        (Numeric(x), Numeric(y)) => Ok(Datum::numeric(x.0 + y.0)),
        (Date(d), Int32(n)) | (Int32(n), Date(d)) => d.checked_add(n).map(Date).ok_or_else(date_range),
        (Date(d), Interval(i)) | (Interval(i), Date(d)) => add_interval(date_micros(d), i).map(Timestamp),
        (Timestamp(t), Interval(i)) | (Interval(i), Timestamp(t)) => add_interval(t, i).map(Timestamp),
        (TimestampTz(t), Interval(i)) | (Interval(i), TimestampTz(t)) => add_interval(t, i).map(TimestampTz),
        (Interval(x), Interval(y)) => interval_add(x, y).map(Interval),
        (a, _) => Err(type_mismatch("+", &a)),
    }
}

pub(crate) fn sub(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (a, b) {
        (Int16(x), Int16(y)) => x.checked_sub(y).map(Int16).ok_or_else(i16_err),
        (Int32(x), Int32(y)) => x.checked_sub(y).map(Int32).ok_or_else(i32_err),
        (Int64(x), Int64(y)) => int64(IntOp::Sub, x, y).map(Int64),
        (Float32(F32(x)), Float32(F32(y))) => check_f32(x - y, x, y),
        (Float64(F64(x)), Float64(F64(y))) => check_f64(x - y, x, y),
        (Numeric(x), Numeric(y)) => Ok(Datum::numeric(x.0 - y.0)),
        (Date(x), Date(y)) => Ok(Int32(x - y)),
        (Date(d), Int32(n)) => d.checked_sub(n).map(Date).ok_or_else(date_range),
        (Date(d), Interval(i)) => add_interval(date_micros(d), negate_interval(i)?).map(Timestamp),
        (Timestamp(t), Interval(i)) => add_interval(t, negate_interval(i)?).map(Timestamp),
        (TimestampTz(t), Interval(i)) => add_interval(t, negate_interval(i)?).map(TimestampTz),
        (Timestamp(x), Timestamp(y)) | (TimestampTz(x), TimestampTz(y)) => timestamp_diff(x, y).map(Interval),
        (Interval(x), Interval(y)) => interval_add(x, negate_interval(y)?).map(Interval),
        (a, _) => Err(type_mismatch("-", &a)),
    }
}

pub(crate) fn mul(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (a, b) {
        (Int16(x), Int16(y)) => x.checked_mul(y).map(Int16).ok_or_else(i16_err),
        (Int32(x), Int32(y)) => x.checked_mul(y).map(Int32).ok_or_else(i32_err),
        (Int64(x), Int64(y)) => int64(IntOp::Mul, x, y).map(Int64),
        (Float32(F32(x)), Float32(F32(y))) => check_f32(x * y, x, y),
        (Float64(F64(x)), Float64(F64(y))) => check_f64(x * y, x, y),
        (Numeric(x), Numeric(y)) => Ok(Datum::numeric(x.0 * y.0)),
        (Interval(i), Float64(F64(f))) | (Float64(F64(f)), Interval(i)) => scale_interval(i, f).map(Interval),
        (a, _) => Err(type_mismatch("*", &a)),
    }
}

pub(crate) fn div(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (a, b) {
        (Int64(x), Int64(y)) => int64(IntOp::Div, x, y).map(Int64),
        (Int16(_), Int16(0)) | (Int32(_), Int32(0)) => Err(EvalError::DivisionByZero),
        (Int16(x), Int16(y)) => x.checked_div(y).map(Int16).ok_or_else(i16_err),
        (Int32(x), Int32(y)) => x.checked_div(y).map(Int32).ok_or_else(i32_err),
        (Float32(_), Float32(F32(0.0))) => Err(EvalError::DivisionByZero),
        (Float64(_), Float64(F64(0.0))) => Err(EvalError::DivisionByZero),
        (Float32(F32(x)), Float32(F32(y))) => check_f32(x / y, x, y),
        (Float64(F64(x)), Float64(F64(y))) => check_f64(x / y, x, y),
        (Numeric(x), Numeric(y)) => numeric_div(&x.0, &y.0).map(Datum::numeric),
        (Interval(_), Float64(F64(0.0))) => Err(EvalError::DivisionByZero),
        (Interval(i), Float64(F64(f))) => scale_interval(i, 1.0 / f).map(Interval),
        (a, _) => Err(type_mismatch("/", &a)),
    }
}

pub(crate) fn modulo(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (a, b) {
        (Int64(x), Int64(y)) => int64(IntOp::Mod, x, y).map(Int64),
        (Int16(_), Int16(0)) | (Int32(_), Int32(0)) => Err(EvalError::DivisionByZero),
        // i32::MIN % -1 overflows in Rust but is 0 in SQL.
        (Int16(x), Int16(y)) => Ok(Int16(x.wrapping_rem(y))),
        (Int32(x), Int32(y)) => Ok(Int32(x.wrapping_rem(y))),
        (Numeric(_), Numeric(y)) if y.0.is_zero() => Err(EvalError::DivisionByZero),
        (Numeric(x), Numeric(y)) => Ok(Datum::numeric(x.0 % y.0)),
        (a, _) => Err(type_mismatch("%", &a)),
    }
}

pub(crate) fn neg(a: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match a {
        Int16(x) => x.checked_neg().map(Int16).ok_or_else(i16_err),
        Int32(x) => x.checked_neg().map(Int32).ok_or_else(i32_err),
        Int64(x) => x.checked_neg().map(Int64).ok_or_else(i64_err),
        Float32(F32(x)) => Ok(Datum::float32(-x)),
        Float64(F64(x)) => Ok(Datum::float64(-x)),
        Numeric(x) => Ok(Datum::numeric(-x.0)),
        Interval(i) => negate_interval(i).map(Interval),
        a => Err(type_mismatch("-", &a)),
    }
}

/// The result type of an arithmetic operator over (already promoted) operand types.
pub(crate) fn output_type(func: &BinaryFunc, left: ScalarType, right: ScalarType) -> ScalarType {
    use ScalarType::*;
    match (func, left, right) {
        (BinaryFunc::Sub, Date, Date) => Int32,
        (BinaryFunc::Sub, Timestamp, Timestamp) | (BinaryFunc::Sub, TimestampTz, TimestampTz) => Interval,
        (_, Date, Interval) | (_, Interval, Date) => Timestamp,
        (_, Interval, Timestamp) | (_, Interval, TimestampTz) => right,
        (_, Int16 | Int32, Date) | (_, Float64, Interval) => right,
        _ => left,
    }
}

fn date_range() -> EvalError {
    EvalError::DatetimeOutOfRange("date out of range".into())
}

fn ts_range() -> EvalError {
    EvalError::DatetimeOutOfRange("timestamp out of range".into())
}

fn interval_range() -> EvalError {
    EvalError::DatetimeOutOfRange("interval out of range".into())
}

pub(crate) fn date_micros(days: i32) -> i64 {
    days as i64 * MICROS_PER_DAY
}

fn negate_interval(i: Interval) -> Result<Interval, EvalError> {
    Ok(Interval {
        months: i.months.checked_neg().ok_or_else(interval_range)?,
        days: i.days.checked_neg().ok_or_else(interval_range)?,
        micros: i.micros.checked_neg().ok_or_else(interval_range)?,
    })
}

fn interval_add(a: Interval, b: Interval) -> Result<Interval, EvalError> {
    Ok(Interval {
        months: a.months.checked_add(b.months).ok_or_else(interval_range)?,
        days: a.days.checked_add(b.days).ok_or_else(interval_range)?,
        micros: a.micros.checked_add(b.micros).ok_or_else(interval_range)?,
    })
}

/// `interval * factor` the PostgreSQL way: fractional months spill into days, fractional days into
/// microseconds.
pub(crate) fn scale_interval(i: Interval, factor: f64) -> Result<Interval, EvalError> {
    let months = i.months as f64 * factor;
    let whole_months = months.trunc();
    let days = i.days as f64 * factor + (months - whole_months) * 30.0;
    let whole_days = days.trunc();
    let micros = i.micros as f64 * factor + (days - whole_days) * MICROS_PER_DAY as f64;
    let fits = |v: f64, max: f64| v.is_finite() && v.abs() <= max;
    if !fits(whole_months, i32::MAX as f64) || !fits(whole_days, i32::MAX as f64) || !fits(micros, 9.2e18) {
        return Err(interval_range());
    }
    Ok(Interval { months: whole_months as i32, days: whole_days as i32, micros: micros.round() as i64 })
}

/// Adds months (clamping the day to the month's end, as PostgreSQL does), then days, then micros.
pub(crate) fn add_interval(ts: i64, i: Interval) -> Result<i64, EvalError> {
    use chrono::Months;
    let mut dt = freshet_repr::strconv::datetime_from_micros(ts).ok_or_else(ts_range)?;
    if i.months != 0 {
        let months = Months::new(i.months.unsigned_abs());
        dt = if i.months > 0 { dt.checked_add_months(months) } else { dt.checked_sub_months(months) }
            .ok_or_else(ts_range)?;
    }
    let base = freshet_repr::strconv::micros_from_datetime(dt);
    let days = (i.days as i64).checked_mul(MICROS_PER_DAY).ok_or_else(ts_range)?;
    base.checked_add(days).and_then(|v| v.checked_add(i.micros)).ok_or_else(ts_range)
}

/// `timestamp - timestamp`: whole days plus the remaining time, like PostgreSQL's `justify_hours`.
fn timestamp_diff(a: i64, b: i64) -> Result<Interval, EvalError> {
    let diff = a.checked_sub(b).ok_or_else(interval_range)?;
    let days = diff / MICROS_PER_DAY;
    Ok(Interval { months: 0, days: days as i32, micros: diff % MICROS_PER_DAY })
}

/// Base-10000 weight and leading base-10000 digit of a non-zero decimal, as PostgreSQL stores it.
fn weight_and_first_digit(v: &BigDecimal) -> (i64, u32) {
    let (int, scale) = v.as_bigint_and_exponent();
    let digits = int.magnitude().to_string();
    let exp10 = digits.len() as i64 - 1 - scale;
    let weight = exp10.div_euclid(4);
    let lead_len = (exp10 - weight * 4 + 1) as usize;
    let mut lead: String = digits.chars().take(lead_len).collect();
    while lead.len() < lead_len {
        lead.push('0');
    }
    (weight, lead.parse().unwrap_or(1))
}

/// The display scale PostgreSQL gives a numeric quotient (`select_div_scale`).
fn div_scale(a: &BigDecimal, b: &BigDecimal) -> i64 {
    let scale_of = |v: &BigDecimal| v.as_bigint_and_exponent().1.max(0);
    let (w1, d1) = if a.is_zero() { (0, 0) } else { weight_and_first_digit(a) };
    let (w2, d2) = weight_and_first_digit(b);
    let mut qweight = w1 - w2;
    if d1 <= d2 {
        qweight -= 1;
    }
    let rscale = NUMERIC_MIN_SIG_DIGITS - qweight * 4;
    rscale.max(scale_of(a)).max(scale_of(b)).clamp(0, NUMERIC_MAX_DISPLAY_SCALE)
}

/// Numeric division, rounded half away from zero at PostgreSQL's result scale.
pub(crate) fn numeric_div(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal, EvalError> {
    if b.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    let rscale = div_scale(a, b);
    Ok(div_round(a, b, rscale))
}

/// `a / b` rounded half away from zero to `rscale` decimal places, computed exactly on integers.
pub(crate) fn div_round(a: &BigDecimal, b: &BigDecimal, rscale: i64) -> BigDecimal {
    let (ai, sa) = a.as_bigint_and_exponent();
    let (bi, sb) = b.as_bigint_and_exponent();
    // a/b * 10^rscale = ai * 10^(rscale + sb - sa) / bi
    let k = rscale + sb - sa;
    let ten = BigInt::from(10);
    let (num, den) = if k >= 0 { (ai * ten.pow(k as u32), bi) } else { (ai, bi * ten.pow((-k) as u32)) };
    let negative = num.is_negative() != den.is_negative();
    let (num, den) = (num.abs(), den.abs());
    let mut q = &num / &den;
    let r = num - &q * &den;
    if r * 2 >= den {
        q += 1;
    }
    BigDecimal::new(if negative { -q } else { q }, rscale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn num(s: &str) -> Datum {
        Datum::numeric(BigDecimal::from_str(s).unwrap())
    }

    fn text(d: &Datum) -> String {
        freshet_repr::strconv::format_datum(d).unwrap()
    }

    #[test]
    fn integer_overflow_is_22003_with_postgres_message() {
        let err = add(Datum::Int32(i32::MAX), Datum::Int32(1)).unwrap_err();
        assert_eq!(err.sqlstate(), "22003");
        assert_eq!(err.to_string(), "integer out of range");
        assert_eq!(mul(Datum::Int64(i64::MAX), Datum::Int64(2)).unwrap_err().to_string(), "bigint out of range");
        assert_eq!(sub(Datum::Int16(-32768), Datum::Int16(1)).unwrap_err().to_string(), "smallint out of range");
        assert_eq!(neg(Datum::Int32(i32::MIN)).unwrap_err().sqlstate(), "22003");
        assert_eq!(div(Datum::Int32(i32::MIN), Datum::Int32(-1)).unwrap_err().sqlstate(), "22003");
        assert_eq!(modulo(Datum::Int32(i32::MIN), Datum::Int32(-1)), Ok(Datum::Int32(0)));
    }

    #[test]
    fn division_by_zero_is_22012() {
        assert_eq!(div(Datum::Int32(1), Datum::Int32(0)).unwrap_err().sqlstate(), "22012");
        assert_eq!(modulo(Datum::Int64(1), Datum::Int64(0)), Err(EvalError::DivisionByZero));
        assert_eq!(div(Datum::float64(1.0), Datum::float64(0.0)), Err(EvalError::DivisionByZero));
        assert_eq!(div(num("1"), num("0")), Err(EvalError::DivisionByZero));
        assert_eq!(div(Datum::float64(1.0), Datum::float64(-0.0)), Err(EvalError::DivisionByZero));
        assert_eq!(modulo(num("1.5"), num("0.0")), Err(EvalError::DivisionByZero));
    }

    #[test]
    fn numeric_modulo_takes_the_dividends_sign() {
        assert_eq!(text(&modulo(num("-7.5"), num("2")).unwrap()), "-1.5");
        assert_eq!(text(&modulo(num("7"), num("-3")).unwrap()), "1");
        assert_eq!(neg(num("2.50")), Ok(num("-2.50")));
    }

    #[test]
    fn integer_division_truncates() {
        assert_eq!(div(Datum::Int32(7), Datum::Int32(2)), Ok(Datum::Int32(3)));
        assert_eq!(div(Datum::Int32(-7), Datum::Int32(2)), Ok(Datum::Int32(-3)));
        assert_eq!(modulo(Datum::Int32(-7), Datum::Int32(3)), Ok(Datum::Int32(-1)));
    }

    #[test]
    fn numeric_division_uses_postgres_scale() {
        assert_eq!(text(&div(num("1"), num("3")).unwrap()), "0.33333333333333333333");
        assert_eq!(text(&div(num("3"), num("2")).unwrap()), "1.5000000000000000");
        assert_eq!(text(&div(num("10"), num("4")).unwrap()), "2.5000000000000000");
        assert_eq!(text(&div(num("2"), num("3")).unwrap()), "0.66666666666666666667");
        assert_eq!(text(&div(num("-2"), num("3")).unwrap()), "-0.66666666666666666667");
        assert_eq!(text(&add(num("1.5"), num("2.25")).unwrap()), "3.75");
        assert_eq!(text(&mul(num("1.5"), num("2.25")).unwrap()), "3.375");
    }

    #[test]
    fn float_overflow_is_an_error() {
        assert_eq!(mul(Datum::float64(1e308), Datum::float64(10.0)).unwrap_err().sqlstate(), "22003");
        assert_eq!(add(Datum::float64(0.1), Datum::float64(0.2)), Ok(Datum::float64(0.1 + 0.2)));
    }

    #[test]
    fn date_and_interval_arithmetic() {
        let ts = |s| freshet_repr::strconv::parse_datum(s, ScalarType::Timestamp).unwrap();
        let iv = |s| freshet_repr::strconv::parse_datum(s, ScalarType::Interval).unwrap();
        let date = |s| freshet_repr::strconv::parse_datum(s, ScalarType::Date).unwrap();
        assert_eq!(add(date("2024-02-28"), Datum::Int32(2)), Ok(date("2024-03-01")));
        assert_eq!(sub(date("2024-03-01"), date("2024-02-28")), Ok(Datum::Int32(2)));
        assert_eq!(add(ts("2024-01-31 10:00:00"), iv("1 mon")), Ok(ts("2024-02-29 10:00:00")));
        assert_eq!(sub(ts("2024-01-02 12:00:00"), iv("1 day 2 hours")), Ok(ts("2024-01-01 10:00:00")));
        assert_eq!(add(date("2024-01-01"), iv("1 hour")), Ok(ts("2024-01-01 01:00:00")));
        let diff = sub(ts("2024-01-03 06:00:00"), ts("2024-01-01 00:00:00")).unwrap();
        assert_eq!(text(&diff), "2 days 06:00:00");
        assert_eq!(text(&mul(iv("1 hour"), Datum::float64(2.5)).unwrap()), "02:30:00");
        assert_eq!(text(&add(iv("1 day"), iv("1 hour")).unwrap()), "1 day 01:00:00");
    }
}
