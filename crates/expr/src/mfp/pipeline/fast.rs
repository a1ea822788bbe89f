//! A fast path for the bigint arithmetic and comparisons that pipelines compute per row (window
//! starts `date_time / 10000 * 10000`, filters like `auction % 123 = 0`): evaluated on `i64`s
//! instead of through `ScalarExpr::eval_in`, whose every step returns a `Datum` result through
//! memory. Results and errors are those of the general evaluation: operands are evaluated in the
//! same order, NULL propagates the same way, and both share `arith::int64`. A slot that holds
//! anything but a bigint or NULL sends the step back to the general evaluation, which then
//! computes it from the start. This module must not decide which steps a pipeline has.

use freshet_repr::{Datum, EvalError};

use crate::func::arith::{self, IntOp};
use crate::func::BinaryFunc;
use crate::{Columns, ScalarExpr};

/// A bigint-valued expression of slots, literals and arithmetic.
#[derive(Clone, Debug)]
pub(super) enum IntExpr {
    Slot(usize),
    Literal(i64),
    Arith(IntOp, Box<IntExpr>, Box<IntExpr>),
}

/// A step's fast form.
#[derive(Clone, Debug)]
pub(super) enum Fast {
    /// Bigint arithmetic.
    Value(IntExpr),
    /// A comparison (`BinaryFunc::is_comparison`) of two bigint values.
    Compare(BinaryFunc, IntExpr, IntExpr),
}

/// Why the fast path stopped.
pub(super) enum Stop {
    /// The step fails, as the general evaluation would.
    Error(EvalError),
    /// A slot held something else than a bigint or NULL.
    NotBigint,
}

impl From<EvalError> for Stop {
    fn from(error: EvalError) -> Self {
        Stop::Error(error)
    }
}

impl Fast {
    /// The fast form of `expr`, if it is bigint arithmetic (at least one operator) or a comparison
    /// of bigint arithmetic, slots or literals.
    pub(super) fn compile(expr: &ScalarExpr) -> Option<Fast> {
        if let ScalarExpr::CallBinary { func, expr1, expr2 } = expr {
            if func.is_comparison() {
                return Some(Fast::Compare(func.clone(), IntExpr::compile(expr1)?, IntExpr::compile(expr2)?));
            }
        }
        // A bare slot or literal is a copy either way.
        IntExpr::compile(expr).filter(|int| matches!(int, IntExpr::Arith(..))).map(Fast::Value)
    }

    /// The step's value over `slots`.
    #[inline]
    pub(super) fn eval<C: Columns + ?Sized>(&self, slots: &C) -> Result<Datum, Stop> {
        match self {
            Fast::Value(int) => Ok(int.eval(slots)?.map_or(Datum::Null, Datum::Int64)),
            Fast::Compare(comparison, left, right) => {
                let (left, right) = (left.eval(slots)?, right.eval(slots)?);
                Ok(match (left, right) {
                    (Some(left), Some(right)) => Datum::Bool(comparison.holds(&left, &right)),
                    _ => Datum::Null,
                })
            }
        }
    }
}

impl IntExpr {
    fn compile(expr: &ScalarExpr) -> Option<IntExpr> {
        match expr {
            ScalarExpr::Column(slot) => Some(IntExpr::Slot(*slot)),
            ScalarExpr::Literal(Datum::Int64(value), _) => Some(IntExpr::Literal(*value)),
            ScalarExpr::CallBinary { func, expr1, expr2 } => {
                let op = IntOp::of(func)?;
                Some(IntExpr::Arith(op, Box::new(IntExpr::compile(expr1)?), Box::new(IntExpr::compile(expr2)?)))
            }
            _ => None,
        }
    }

    /// The value, `None` for NULL.
    fn eval<C: Columns + ?Sized>(&self, slots: &C) -> Result<Option<i64>, Stop> {
        match self {
            IntExpr::Slot(slot) => match slots.column(*slot) {
                Some(Datum::Int64(value)) => Ok(Some(*value)),
                Some(Datum::Null) => Ok(None),
                _ => Err(Stop::NotBigint),
            },
            IntExpr::Literal(value) => Ok(Some(*value)),
            IntExpr::Arith(op, left, right) => {
                let (left, right) = (left.eval(slots)?, right.eval(slots)?);
                match (left, right) {
                    (Some(left), Some(right)) => Ok(Some(arith::int64(*op, left, right)?)),
                    _ => Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
