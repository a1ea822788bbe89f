//! Numeric `+`, `-` and `*`, with their arguments read where they are and PostgreSQL's result
//! scales. A numeric is a box and a digit vector: `0.908 * price` (Nexmark q1) copied the literal
//! and built a numeric from the bigint column for every row before multiplying, three numerics per
//! row where only the result is needed; here only the result is built. Results are exact, at the
//! larger scale of the operands for a sum and at the sum of their scales for a product (`1.0 *
//! 2.5` is `2.50`). Other operand types go to `BinaryFunc::eval_datums`; this module must not
//! decide anything for them.

use std::borrow::Cow;

use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use freshet_repr::{Datum, EvalError, ScalarType};

use super::{BinaryFunc, UnaryFunc};
use crate::scalar::Columns;
use crate::ScalarExpr;

/// Applies `func` (`Add`, `Sub` or `Mul`) to `a` and `b` evaluated against `row`.
pub(super) fn eval<C: Columns + ?Sized>(
    func: &BinaryFunc,
    a: &ScalarExpr,
    b: &ScalarExpr,
    row: &C,
) -> Result<Datum, EvalError> {
    let (left, right) = (Operand::eval(a, row)?, Operand::eval(b, row)?);
    let exact = match (left.as_numeric(), right.as_numeric()) {
        (Some(x), Some(y)) => match func {
            BinaryFunc::Mul => product(x, y),
            BinaryFunc::Add => sum(x, y, false),
            BinaryFunc::Sub => sum(x, y, true),
            _ => None,
        },
        _ => None,
    };
    match exact {
        Some(value) => Ok(Datum::numeric(value)),
        None => func.eval_datums(left.into_datum(), right.into_datum()),
    }
}

/// One evaluated argument: borrowed when it is a column or a literal, and an integer on its way
/// to becoming a numeric (`price` in `0.908 * price`) kept as the integer.
enum Operand<'a> {
    Datum(Cow<'a, Datum>),
    IntAsNumeric(i64),
}

/// A numeric operand, without building a numeric for an integer.
#[derive(Clone, Copy)]
enum NumericRef<'a> {
    Decimal(&'a BigDecimal),
    Int(i64),
}

impl<'a> Operand<'a> {
    fn eval<C: Columns + ?Sized>(expr: &'a ScalarExpr, row: &'a C) -> Result<Self, EvalError> {
        let ScalarExpr::CallUnary { func: cast @ UnaryFunc::Cast { to: ScalarType::Numeric, .. }, expr: inner } = expr
        else {
            return expr.eval_borrowed(row).map(Operand::Datum);
        };
        let value = inner.eval_borrowed(row)?;
        Ok(match *value {
            Datum::Int16(v) => Operand::IntAsNumeric(v.into()),
            Datum::Int32(v) => Operand::IntAsNumeric(v.into()),
            Datum::Int64(v) => Operand::IntAsNumeric(v),
            _ => Operand::Datum(Cow::Owned(cast.eval(value.into_owned())?)),
        })
    }

    fn as_numeric(&self) -> Option<NumericRef<'_>> {
        match self {
            Operand::Datum(datum) => match &**datum {
                Datum::Numeric(n) => Some(NumericRef::Decimal(&n.0)),
                _ => None,
            },
            Operand::IntAsNumeric(v) => Some(NumericRef::Int(*v)),
        }
    }

    fn into_datum(self) -> Datum {
        match self {
            Operand::Datum(datum) => datum.into_owned(),
            Operand::IntAsNumeric(v) => Datum::numeric(BigDecimal::from(v)),
        }
    }
}

impl<'a> NumericRef<'a> {
    /// The digits and a scale that is never negative, as PostgreSQL keeps every numeric (`1E+3`
    /// is 1000, scale 0); `None` for a value that would need more than `MAX_RESCALE` digits.
    fn digits_and_scale(self) -> Option<(Cow<'a, BigInt>, i64)> {
        match self {
            NumericRef::Decimal(d) => match d.as_bigint_and_scale() {
                (digits, scale) if scale < 0 => Some((rescaled(digits, -scale)?, 0)),
                kept => Some(kept),
            },
            NumericRef::Int(v) => Some((Cow::Owned(BigInt::from(v)), 0)),
        }
    }
}

/// The most digits that aligning two operands may append to one of them.
const MAX_RESCALE: i64 = 1000;

/// `digits` times `10^by`.
fn rescaled(digits: Cow<'_, BigInt>, by: i64) -> Option<Cow<'_, BigInt>> {
    match by {
        0 => Some(digits),
        1..=MAX_RESCALE => Some(Cow::Owned(&*digits * BigInt::from(10).pow(by as u32))),
        _ => None,
    }
}

/// The exact sum or difference, at the larger of the operands' scales (PostgreSQL's `numeric_add`
/// result scale).
fn sum(x: NumericRef<'_>, y: NumericRef<'_>, subtract: bool) -> Option<BigDecimal> {
    let ((xd, xs), (yd, ys)) = (x.digits_and_scale()?, y.digits_and_scale()?);
    let scale = xs.max(ys);
    let (xd, yd) = (rescaled(xd, scale - xs)?, rescaled(yd, scale - ys)?);
    Some(BigDecimal::new(if subtract { &*xd - &*yd } else { &*xd + &*yd }, scale))
}

/// The exact product, with the sum of the operands' scales as its scale (PostgreSQL's `numeric_mul`
/// result scale).
fn product(x: NumericRef<'_>, y: NumericRef<'_>) -> Option<BigDecimal> {
    match (x, y) {
        (NumericRef::Decimal(d), NumericRef::Int(v)) | (NumericRef::Int(v), NumericRef::Decimal(d)) => {
            let (digits, scale) = NumericRef::Decimal(d).digits_and_scale()?;
            Some(BigDecimal::new(&*digits * v, scale))
        }
        (x, y) => {
            let ((xd, xs), (yd, ys)) = (x.digits_and_scale()?, y.digits_and_scale()?);
            Some(BigDecimal::new(&*xd * &*yd, xs + ys))
        }
    }
}
