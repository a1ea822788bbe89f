//! Scalar expressions over the columns of one row.

use std::borrow::Cow;

use freshet_repr::{ColumnType, Datum, EvalError, ScalarType};
use serde::{Deserialize, Serialize};

use crate::func::{BinaryFunc, UnaryFunc, VariadicFunc};

/// An expression evaluated against one row. Column references are positional.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarExpr {
    Column(usize),
    Literal(Datum, ScalarType),
    CallUnary {
        func: UnaryFunc,
        expr: Box<ScalarExpr>,
    },
    CallBinary {
        func: BinaryFunc,
        expr1: Box<ScalarExpr>,
        expr2: Box<ScalarExpr>,
    },
    CallVariadic {
        func: VariadicFunc,
        exprs: Vec<ScalarExpr>,
    },
    /// `CASE WHEN cond THEN then ELSE els END`; only the chosen branch is evaluated.
    If {
        cond: Box<ScalarExpr>,
        then: Box<ScalarExpr>,
        els: Box<ScalarExpr>,
    },
    /// The value of parameter `$index` of a prepared statement, in a plan kept to be reused with
    /// new values: nothing folds it, and `bind_params` replaces it by a literal before the plan
    /// runs. Evaluating one is an error.
    Param {
        index: usize,
        typ: ScalarType,
    },
}

/// The columns an expression reads, by position.
pub trait Columns {
    fn column(&self, index: usize) -> Option<&Datum>;
    /// How many columns there are (for error messages).
    fn width(&self) -> usize;
}

/// Column `index` of `row`; a column past its end is a planner bug, reported as an internal error.
fn column_of<C: Columns + ?Sized>(row: &C, index: usize) -> Result<&Datum, EvalError> {
    row.column(index)
        .ok_or_else(|| EvalError::Internal(format!("column {index} out of range for row of {}", row.width())))
}

impl Columns for [Datum] {
    fn column(&self, index: usize) -> Option<&Datum> {
        self.get(index)
    }

    fn width(&self) -> usize {
        self.len()
    }
}

/// An expression with the type it produces; what the planner passes around while typing SQL.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedExpr {
    pub expr: ScalarExpr,
    pub typ: ColumnType,
}

impl TypedExpr {
    pub fn new(expr: ScalarExpr, typ: ColumnType) -> Self {
        TypedExpr { expr, typ }
    }

    pub fn literal(datum: Datum, scalar_type: ScalarType) -> Self {
        let nullable = datum.is_null();
        TypedExpr { expr: ScalarExpr::Literal(datum, scalar_type), typ: ColumnType::new(scalar_type, nullable) }
    }
}

impl ScalarExpr {
    pub fn column(index: usize) -> Self {
        ScalarExpr::Column(index)
    }

    pub fn literal_true() -> Self {
        ScalarExpr::Literal(Datum::Bool(true), ScalarType::Bool)
    }

    pub fn literal_null(scalar_type: ScalarType) -> Self {
        ScalarExpr::Literal(Datum::Null, scalar_type)
    }

    pub fn call_unary(self, func: UnaryFunc) -> Self {
        ScalarExpr::CallUnary { func, expr: Box::new(self) }
    }

    pub fn call_binary(self, other: ScalarExpr, func: BinaryFunc) -> Self {
        ScalarExpr::CallBinary { func, expr1: Box::new(self), expr2: Box::new(other) }
    }

    /// Evaluates the expression against `row`.
    pub fn eval(&self, row: &[Datum]) -> Result<Datum, EvalError> {
        self.eval_in(row)
    }

    /// Evaluates the expression against columns held in any layout (a row pipeline reads its
    /// input row in place and its computed columns beside it).
    pub fn eval_in<C: Columns + ?Sized>(&self, row: &C) -> Result<Datum, EvalError> {
        match self {
            ScalarExpr::Column(i) => column_of(row, *i).cloned(),
            ScalarExpr::Literal(d, _) => Ok(d.clone()),
            ScalarExpr::CallUnary { func: func @ (UnaryFunc::IsNull | UnaryFunc::IsNotNull), expr } => {
                let is_null = expr.eval_borrowed(row)?.is_null();
                Ok(Datum::Bool(is_null == (*func == UnaryFunc::IsNull)))
            }
            ScalarExpr::Param { index, .. } => Err(EvalError::Internal(format!("parameter ${index} is not bound"))),
            ScalarExpr::CallUnary { func, expr } => {
                // A cast of a text column parses the text in place instead of copying it first.
                if let (UnaryFunc::Cast { to, .. }, ScalarExpr::Column(i)) = (func, &**expr) {
                    if let Some(Datum::Text(text)) = row.column(*i).filter(|_| *to != ScalarType::Text) {
                        return freshet_repr::strconv::parse_datum(text, *to);
                    }
                }
                func.eval(expr.eval_in(row)?)
            }
            ScalarExpr::CallBinary { func, expr1, expr2 } => func.eval(expr1, expr2, row),
            ScalarExpr::CallVariadic { func, exprs } => func.eval(exprs, row),
            ScalarExpr::If { cond, then, els } => {
                if cond.eval_in(row)?.is_true() {
                    then.eval_in(row)
                } else {
                    els.eval_in(row)
                }
            }
        }
    }

    /// Like `eval_in`, but a column or a literal is borrowed rather than copied.
    pub fn eval_borrowed<'a, C: Columns + ?Sized>(&'a self, row: &'a C) -> Result<Cow<'a, Datum>, EvalError> {
        match self {
            ScalarExpr::Column(i) => column_of(row, *i).map(Cow::Borrowed),
            ScalarExpr::Literal(d, _) => Ok(Cow::Borrowed(d)),
            computed => computed.eval_in(row).map(Cow::Owned),
        }
    }

    /// Whether evaluating the expression never fails, whatever the row: it combines columns and
    /// literals through comparisons, AND, OR, NOT and NULL tests only.
    pub fn cannot_fail(&self) -> bool {
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(..) => true,
            ScalarExpr::CallUnary { func: UnaryFunc::Not | UnaryFunc::IsNull | UnaryFunc::IsNotNull, expr } => {
                expr.cannot_fail()
            }
            ScalarExpr::CallBinary { func, expr1, expr2 }
                if func.is_comparison() || matches!(func, BinaryFunc::And | BinaryFunc::Or) =>
            {
                expr1.cannot_fail() && expr2.cannot_fail()
            }
            _ => false,
        }
    }

    /// Whether the expression reads no columns and no parameters (so it can be evaluated once, at
    /// plan time).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(e, ScalarExpr::Column(_) | ScalarExpr::Param { .. }) {
                constant = false;
            }
        });
        constant
    }

    /// Replaces every parameter `$i` by a literal of `values[i - 1]`; `false` (and the expression
    /// partly bound) when a parameter has no value.
    pub fn bind_params(&mut self, values: &[Datum]) -> bool {
        if let ScalarExpr::Param { index, typ } = self {
            let Some(value) = index.checked_sub(1).and_then(|i| values.get(i)) else { return false };
            *self = ScalarExpr::Literal(value.clone(), *typ);
            return true;
        }
        let mut bound = true;
        self.for_each_child_mut(|child| bound &= child.bind_params(values));
        bound
    }

    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a ScalarExpr)) {
        f(self);
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(..) | ScalarExpr::Param { .. } => {}
            ScalarExpr::CallUnary { expr, .. } => expr.visit(f),
            ScalarExpr::CallBinary { expr1, expr2, .. } => {
                expr1.visit(f);
                expr2.visit(f);
            }
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter().for_each(|e| e.visit(f)),
            ScalarExpr::If { cond, then, els } => {
                cond.visit(f);
                then.visit(f);
                els.visit(f);
            }
        }
    }

    /// Rewrites every column reference `i` to `map(i)`.
    pub fn permute(&mut self, map: &impl Fn(usize) -> usize) {
        match self {
            ScalarExpr::Column(i) => *i = map(*i),
            _ => self.for_each_child_mut(|child| child.permute(map)),
        }
    }

    /// Calls `f` on each direct subexpression, in evaluation order. A callback rather than a list:
    /// the planner permutes columns and binds parameters on every statement, and a list would be an
    /// allocation per node.
    pub fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut ScalarExpr)) {
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(..) | ScalarExpr::Param { .. } => {}
            ScalarExpr::CallUnary { expr, .. } => f(expr),
            ScalarExpr::CallBinary { expr1, expr2, .. } => {
                f(expr1);
                f(expr2);
            }
            ScalarExpr::CallVariadic { exprs, .. } => exprs.iter_mut().for_each(f),
            ScalarExpr::If { cond, then, els } => {
                f(cond);
                f(then);
                f(els);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> ScalarExpr {
        ScalarExpr::Literal(Datum::Text(value.into()), ScalarType::Text)
    }

    #[test]
    fn comparisons_and_logic_over_columns_cannot_fail() {
        let state = ScalarExpr::column(3);
        let either = state
            .clone()
            .call_binary(text("or"), BinaryFunc::Eq)
            .call_binary(state.clone().call_binary(text("ca"), BinaryFunc::Eq), BinaryFunc::Or);
        assert!(either.cannot_fail());
        assert!(either.clone().call_unary(UnaryFunc::Not).cannot_fail());
        assert!(state.clone().call_unary(UnaryFunc::IsNull).call_binary(either, BinaryFunc::And).cannot_fail());
    }

    #[test]
    fn arithmetic_and_casts_can_fail() {
        let ten = ScalarExpr::Literal(Datum::Int64(10), ScalarType::Int64);
        let quotient = ten.clone().call_binary(ScalarExpr::column(1), BinaryFunc::Div);
        assert!(!quotient.clone().call_binary(ten.clone(), BinaryFunc::Gt).cannot_fail());
        let cast = ScalarExpr::column(0).call_unary(UnaryFunc::Cast { from: ScalarType::Text, to: ScalarType::Int64 });
        assert!(!cast.call_binary(ten, BinaryFunc::Eq).cannot_fail());
    }
}
