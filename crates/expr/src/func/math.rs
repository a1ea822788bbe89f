//! Mathematical functions over integers, numerics and floats. Numeric inputs stay numeric (exact
//! where PostgreSQL is exact); transcendental numeric results go through f64 and are rounded to
//! PostgreSQL's 16 significant digits.

use bigdecimal::{BigDecimal, RoundingMode, Signed, Zero};
use freshet_repr::{Datum, EvalError, F64};

use super::arith::{div_round, int_range};
use super::cast::{f64_to_numeric, numeric_to_f64};
use super::{type_mismatch, BinaryFunc, UnaryFunc};

fn log_err(msg: &str) -> EvalError {
    EvalError::InvalidArgumentForLog(msg.into())
}

fn power_err(msg: &str) -> EvalError {
    EvalError::InvalidArgumentForPower(msg.into())
}

pub(crate) fn eval_unary(func: &UnaryFunc, d: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (func, d) {
        (UnaryFunc::Abs, Int16(v)) => {
            v.checked_abs().map(Int16).ok_or_else(|| int_range(freshet_repr::ScalarType::Int16))
        }
        (UnaryFunc::Abs, Int32(v)) => {
            v.checked_abs().map(Int32).ok_or_else(|| int_range(freshet_repr::ScalarType::Int32))
        }
        (UnaryFunc::Abs, Int64(v)) => {
            v.checked_abs().map(Int64).ok_or_else(|| int_range(freshet_repr::ScalarType::Int64))
        }
        (UnaryFunc::Abs, Float32(v)) => Ok(Datum::float32(v.0.abs())),
        (_, Numeric(n)) => numeric_unary(func, &n.0).map(Datum::numeric),
        (_, Float64(F64(v))) => float_unary(func, v).map(Datum::float64),
        (_, d) => Err(type_mismatch("math function", &d)),
    }
}

fn float_unary(func: &UnaryFunc, v: f64) -> Result<f64, EvalError> {
    Ok(match func {
        UnaryFunc::Abs => v.abs(),
        UnaryFunc::Ceil => v.ceil(),
        UnaryFunc::Floor => v.floor(),
        // PostgreSQL rounds doubles with rint(): half to even.
        UnaryFunc::Round => v.round_ties_even(),
        UnaryFunc::Trunc => v.trunc(),
        UnaryFunc::Sqrt if v < 0.0 => return Err(power_err("cannot take square root of a negative number")),
        UnaryFunc::Sqrt => v.sqrt(),
        UnaryFunc::Exp => {
            let r = v.exp();
            if r.is_infinite() && v.is_finite() {
                return Err(EvalError::NumericOutOfRange("value out of range: overflow".into()));
            }
            r
        }
        UnaryFunc::Ln | UnaryFunc::Log10 if v == 0.0 => return Err(log_err("cannot take logarithm of zero")),
        UnaryFunc::Ln | UnaryFunc::Log10 if v < 0.0 => {
            return Err(log_err("cannot take logarithm of a negative number"))
        }
        UnaryFunc::Ln => v.ln(),
        UnaryFunc::Log10 => v.log10(),
        UnaryFunc::Sign if v == 0.0 || v.is_nan() => v,
        UnaryFunc::Sign => v.signum(),
        _ => return Err(type_mismatch("math function", &Datum::float64(v))),
    })
}

/// A transcendental result as a numeric at PostgreSQL's typical scale (16 significant digits).
fn approx_numeric(v: f64) -> Result<BigDecimal, EvalError> {
    let exact = f64_to_numeric(v, 16)?;
    let scale = exact.as_bigint_and_exponent().1;
    let digits_before_point = if v.abs() >= 1.0 { v.abs().log10().floor() as i64 + 1 } else { 0 };
    let rscale = 16 - (digits_before_point - 1).max(0);
    Ok(exact.with_scale_round(scale.max(rscale).max(0), RoundingMode::HalfUp))
}

fn numeric_unary(func: &UnaryFunc, n: &BigDecimal) -> Result<BigDecimal, EvalError> {
    Ok(match func {
        UnaryFunc::Abs => n.abs(),
        UnaryFunc::Ceil => n.with_scale_round(0, RoundingMode::Ceiling),
        UnaryFunc::Floor => n.with_scale_round(0, RoundingMode::Floor),
        UnaryFunc::Round => n.with_scale_round(0, RoundingMode::HalfUp),
        UnaryFunc::Trunc => n.with_scale_round(0, RoundingMode::Down),
        UnaryFunc::Sign => BigDecimal::from(if n.is_zero() {
            0
        } else if n.is_negative() {
            -1
        } else {
            1
        }),
        UnaryFunc::Sqrt if n.is_negative() => return Err(power_err("cannot take square root of a negative number")),
        UnaryFunc::Sqrt => {
            let scale = n.as_bigint_and_exponent().1.max(0);
            let digits_before_point = (n.with_scale(0).abs().to_string().trim_start_matches('0').len() as i64 + 1) / 2;
            let rscale = (16 - digits_before_point).max(scale).max(0);
            n.sqrt().unwrap_or_default().with_scale_round(rscale, RoundingMode::HalfUp)
        }
        UnaryFunc::Ln | UnaryFunc::Log10 if n.is_zero() => return Err(log_err("cannot take logarithm of zero")),
        UnaryFunc::Ln | UnaryFunc::Log10 if n.is_negative() => {
            return Err(log_err("cannot take logarithm of a negative number"))
        }
        UnaryFunc::Ln => approx_numeric(numeric_to_f64(n).ln())?,
        UnaryFunc::Log10 => approx_numeric(numeric_to_f64(n).log10())?,
        UnaryFunc::Exp => {
            let r = numeric_to_f64(n).exp();
            if r.is_infinite() {
                return Err(EvalError::NumericOutOfRange("value overflows numeric format".into()));
            }
            approx_numeric(r)?
        }
        _ => return Err(type_mismatch("math function", &Datum::numeric(n.clone()))),
    })
}

pub(crate) fn eval_binary(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    use Datum::*;
    match (func, a, b) {
        (BinaryFunc::RoundScale | BinaryFunc::TruncScale, Numeric(n), Int32(s)) => {
            let mode = if *func == BinaryFunc::RoundScale { RoundingMode::HalfUp } else { RoundingMode::Down };
            let rounded = n.0.with_scale_round(s as i64, mode);
            Ok(Datum::numeric(if s < 0 { rounded.with_scale(0) } else { rounded }))
        }
        (BinaryFunc::Power, Float64(F64(x)), Float64(F64(y))) => float_power(x, y).map(Datum::float64),
        (BinaryFunc::Power, Numeric(x), Numeric(y)) => numeric_power(&x.0, &y.0).map(Datum::numeric),
        (BinaryFunc::Log, Float64(F64(base)), Float64(F64(x))) => {
            check_log_args(base, x)?;
            Ok(Datum::float64(x.ln() / base.ln()))
        }
        (BinaryFunc::Log, Numeric(base), Numeric(x)) => {
            let (base, x) = (numeric_to_f64(&base.0), numeric_to_f64(&x.0));
            check_log_args(base, x)?;
            approx_numeric(x.ln() / base.ln()).map(Datum::numeric)
        }
        (_, a, _) => Err(type_mismatch("math function", &a)),
    }
}

fn check_log_args(base: f64, x: f64) -> Result<(), EvalError> {
    if base == 0.0 || x == 0.0 {
        return Err(log_err("cannot take logarithm of zero"));
    }
    if base < 0.0 || x < 0.0 {
        return Err(log_err("cannot take logarithm of a negative number"));
    }
    if base == 1.0 {
        return Err(EvalError::DivisionByZero);
    }
    Ok(())
}

fn float_power(x: f64, y: f64) -> Result<f64, EvalError> {
    if x == 0.0 && y < 0.0 {
        return Err(power_err("zero raised to a negative power is undefined"));
    }
    if x < 0.0 && y.fract() != 0.0 {
        return Err(power_err("a negative number raised to a non-integer power yields a complex result"));
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(EvalError::NumericOutOfRange("value out of range: overflow".into()));
    }
    Ok(r)
}

/// Exact for small integral exponents; otherwise computed in f64.
fn numeric_power(x: &BigDecimal, y: &BigDecimal) -> Result<BigDecimal, EvalError> {
    if x.is_zero() && y.is_negative() {
        return Err(power_err("zero raised to a negative power is undefined"));
    }
    let integral = y.is_integer();
    if x.is_negative() && !integral {
        return Err(power_err("a negative number raised to a non-integer power yields a complex result"));
    }
    if integral && y.abs() <= 1000 {
        let n = numeric_to_f64(y) as i64;
        let mut acc = BigDecimal::from(1);
        for _ in 0..n.unsigned_abs() {
            acc *= x;
        }
        // PostgreSQL's result scale for an integer exponent: at least 16 digits, at least the base's.
        let rscale = x.as_bigint_and_exponent().1.clamp(16, 1000);
        if n < 0 {
            return Ok(div_round(&BigDecimal::from(1), &acc, rscale));
        }
        return Ok(acc.with_scale_round(rscale, RoundingMode::HalfUp));
    }
    let r = float_power(numeric_to_f64(x), numeric_to_f64(y))?;
    approx_numeric(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn num(s: &str) -> Datum {
        Datum::numeric(BigDecimal::from_str(s).unwrap())
    }

    fn show(d: Result<Datum, EvalError>) -> String {
        freshet_repr::strconv::format_datum(&d.unwrap()).unwrap()
    }

    #[test]
    fn rounding() {
        assert_eq!(show(eval_unary(&UnaryFunc::Round, num("2.5"))), "3");
        assert_eq!(show(eval_unary(&UnaryFunc::Round, num("-2.5"))), "-3");
        assert_eq!(eval_unary(&UnaryFunc::Round, Datum::float64(2.5)), Ok(Datum::float64(2.0)));
        assert_eq!(show(eval_binary(&BinaryFunc::RoundScale, num("1234.5678"), Datum::Int32(2))), "1234.57");
        assert_eq!(show(eval_binary(&BinaryFunc::RoundScale, num("1250.5"), Datum::Int32(-2))), "1300");
        assert_eq!(show(eval_binary(&BinaryFunc::TruncScale, num("-1.279"), Datum::Int32(1))), "-1.2");
        assert_eq!(show(eval_unary(&UnaryFunc::Ceil, num("-1.5"))), "-1");
        assert_eq!(show(eval_unary(&UnaryFunc::Floor, num("-1.5"))), "-2");
        assert_eq!(eval_unary(&UnaryFunc::Floor, Datum::float64(-1.5)), Ok(Datum::float64(-2.0)));
    }

    #[test]
    fn abs_sign_sqrt() {
        assert_eq!(eval_unary(&UnaryFunc::Abs, Datum::Int32(-4)), Ok(Datum::Int32(4)));
        assert_eq!(eval_unary(&UnaryFunc::Abs, Datum::Int32(i32::MIN)).unwrap_err().sqlstate(), "22003");
        assert_eq!(show(eval_unary(&UnaryFunc::Sign, num("-3.2"))), "-1");
        assert_eq!(show(eval_unary(&UnaryFunc::Sqrt, num("2"))), "1.414213562373095");
        assert_eq!(eval_unary(&UnaryFunc::Sqrt, Datum::float64(-1.0)).unwrap_err().sqlstate(), "2201F");
    }

    #[test]
    fn logs_and_powers() {
        assert_eq!(eval_unary(&UnaryFunc::Ln, Datum::float64(0.0)).unwrap_err().sqlstate(), "2201E");
        assert_eq!(eval_unary(&UnaryFunc::Log10, num("-1")).unwrap_err().sqlstate(), "2201E");
        assert_eq!(show(eval_unary(&UnaryFunc::Log10, num("100"))), "2.0000000000000000");
        assert_eq!(
            eval_binary(&BinaryFunc::Power, Datum::float64(2.0), Datum::float64(10.0)),
            Ok(Datum::float64(1024.0))
        );
        assert_eq!(show(eval_binary(&BinaryFunc::Power, num("1.5"), num("2"))), "2.2500000000000000");
        assert_eq!(show(eval_binary(&BinaryFunc::Power, num("2"), num("-2"))), "0.2500000000000000");
        let err = eval_binary(&BinaryFunc::Power, Datum::float64(0.0), Datum::float64(-1.0)).unwrap_err();
        assert_eq!(err.sqlstate(), "2201F");
        assert_eq!(eval_binary(&BinaryFunc::Log, Datum::float64(2.0), Datum::float64(8.0)), Ok(Datum::float64(3.0)));
    }
}
