//! Scalar functions, operators and casts: their typing (what the planner may build) and their
//! evaluation (what a dataflow runs per row).
//!
//! Typing follows PostgreSQL: an untyped literal (`'5'`, `NULL`) takes the type its context needs;
//! integer arithmetic checks overflow (22003); division by zero is 22012.

use freshet_repr::{ColumnType, Datum, EvalError, ScalarType};
use serde::{Deserialize, Serialize};

use crate::{ScalarExpr, TypeError, TypedExpr};

/// An operand before typing: a typed expression, or a literal whose type comes from its context.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Typed(TypedExpr),
    /// A quoted string literal with no type yet (`'2024-01-01'`), or `NULL` (`None`).
    Unknown(Option<String>),
}

/// How strict a cast is: PostgreSQL allows more conversions explicitly than implicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastContext {
    Implicit,
    Assignment,
    Explicit,
}

/// SQL binary operators the planner can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    And,
    Or,
    Concat,
    Like,
    NotLike,
    ILike,
    NotILike,
    /// `jsonb -> text|int`
    JsonGet,
    /// `jsonb ->> text|int`
    JsonGetText,
    /// `jsonb #> text[]` (path given as a text literal like '{a,b}')
    JsonGetPath,
    /// `jsonb #>> text[]`
    JsonGetPathText,
    /// `jsonb @> jsonb`
    JsonContains,
    /// `jsonb ? text`
    JsonHasKey,
    /// `IS DISTINCT FROM`
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM`
    IsNotDistinctFrom,
}

/// SQL unary operators and predicates the planner can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
    IsNull,
    IsNotNull,
    IsTrue,
    IsNotTrue,
    IsFalse,
    IsNotFalse,
}

/// Evaluated functions of one argument.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UnaryFunc {
    Not,
    IsNull,
    /// A cast between scalar types.
    Cast { from: ScalarType, to: ScalarType },
}

/// Evaluated functions of two arguments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BinaryFunc {
    /// SQL `=` on two values of the same type (NULL if either is NULL).
    Eq,
    /// SQL `AND` with three-valued logic.
    And,
    /// SQL `OR` with three-valued logic.
    Or,
}

/// Evaluated functions of any number of arguments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VariadicFunc {
    Coalesce,
}

impl UnaryFunc {
    pub fn eval(&self, datum: Datum) -> Result<Datum, EvalError> {
        match self {
            UnaryFunc::Not => Ok(match datum {
                Datum::Bool(b) => Datum::Bool(!b),
                _ => Datum::Null,
            }),
            UnaryFunc::IsNull => Ok(Datum::Bool(datum.is_null())),
            UnaryFunc::Cast { to, .. } => cast_datum(datum, *to),
        }
    }

    pub fn output_type(&self, input: ColumnType) -> ColumnType {
        match self {
            UnaryFunc::Not => ColumnType::new(ScalarType::Bool, input.nullable),
            UnaryFunc::IsNull => ColumnType::new(ScalarType::Bool, false),
            UnaryFunc::Cast { to, .. } => ColumnType::new(*to, input.nullable),
        }
    }
}

impl BinaryFunc {
    /// Evaluates both arguments (lazily where SQL short-circuits) against `row`.
    pub fn eval(&self, a: &ScalarExpr, b: &ScalarExpr, row: &[Datum]) -> Result<Datum, EvalError> {
        match self {
            BinaryFunc::And => {
                let left = a.eval(row)?;
                if left == Datum::Bool(false) {
                    return Ok(left);
                }
                let right = b.eval(row)?;
                Ok(match (left, right) {
                    (_, Datum::Bool(false)) => Datum::Bool(false),
                    (Datum::Bool(true), Datum::Bool(true)) => Datum::Bool(true),
                    _ => Datum::Null,
                })
            }
            BinaryFunc::Or => {
                let left = a.eval(row)?;
                if left == Datum::Bool(true) {
                    return Ok(left);
                }
                let right = b.eval(row)?;
                Ok(match (left, right) {
                    (_, Datum::Bool(true)) => Datum::Bool(true),
                    (Datum::Bool(false), Datum::Bool(false)) => Datum::Bool(false),
                    _ => Datum::Null,
                })
            }
            BinaryFunc::Eq => {
                let (left, right) = (a.eval(row)?, b.eval(row)?);
                if left.is_null() || right.is_null() {
                    return Ok(Datum::Null);
                }
                Ok(Datum::Bool(left == right))
            }
        }
    }

    pub fn output_type(&self, left: ColumnType, right: ColumnType) -> ColumnType {
        ColumnType::new(ScalarType::Bool, left.nullable || right.nullable)
    }
}

impl VariadicFunc {
    pub fn eval(&self, exprs: &[ScalarExpr], row: &[Datum]) -> Result<Datum, EvalError> {
        match self {
            VariadicFunc::Coalesce => {
                for expr in exprs {
                    let d = expr.eval(row)?;
                    if !d.is_null() {
                        return Ok(d);
                    }
                }
                Ok(Datum::Null)
            }
        }
    }

    pub fn output_type(&self, inputs: &[ColumnType]) -> ColumnType {
        match self {
            VariadicFunc::Coalesce => {
                let scalar = inputs.first().map(|c| c.scalar_type).unwrap_or(ScalarType::Text);
                ColumnType::new(scalar, inputs.iter().all(|c| c.nullable))
            }
        }
    }
}

/// Converts `datum` to type `to` (text in and out uses PostgreSQL's text forms).
pub fn cast_datum(datum: Datum, to: ScalarType) -> Result<Datum, EvalError> {
    if datum.is_null() || datum.scalar_type() == Some(to) {
        return Ok(datum);
    }
    match (&datum, to) {
        (Datum::Text(s), _) => freshet_repr::strconv::parse_datum(s, to),
        (_, ScalarType::Text) => Ok(Datum::Text(freshet_repr::strconv::format_datum(&datum).unwrap_or_default())),
        (Datum::Int32(v), ScalarType::Int64) => Ok(Datum::Int64(*v as i64)),
        _ => Err(EvalError::Internal(format!("no cast from {:?} to {to}", datum.scalar_type()))),
    }
}

/// The type `expr` produces over input columns `input`.
pub fn infer_type(expr: &ScalarExpr, input: &[ColumnType]) -> ColumnType {
    match expr {
        ScalarExpr::Column(i) => input.get(*i).copied().unwrap_or(ColumnType::new(ScalarType::Text, true)),
        ScalarExpr::Literal(d, t) => ColumnType::new(*t, d.is_null()),
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

/// Types `left op right`.
pub fn plan_binary_op(op: BinaryOp, left: Operand, right: Operand) -> Result<TypedExpr, TypeError> {
    let _ = (left, right);
    Err(TypeError::UndefinedOperator(format!("{op:?}")))
}

/// Types `op expr`.
pub fn plan_unary_op(op: UnaryOp, expr: Operand) -> Result<TypedExpr, TypeError> {
    let _ = expr;
    Err(TypeError::UndefinedOperator(format!("{op:?}")))
}

/// Types a cast of `expr` to `to`.
pub fn plan_cast(expr: Operand, to: ScalarType, context: CastContext) -> Result<TypedExpr, TypeError> {
    let _ = context;
    match expr {
        Operand::Unknown(None) => Ok(TypedExpr::literal(Datum::Null, to)),
        Operand::Unknown(Some(text)) => {
            let datum = freshet_repr::strconv::parse_datum(&text, to)
                .map_err(|e| TypeError::InvalidArgument(e.to_string()))?;
            Ok(TypedExpr::literal(datum, to))
        }
        Operand::Typed(t) if t.typ.scalar_type == to => Ok(t),
        Operand::Typed(t) => {
            let func = UnaryFunc::Cast { from: t.typ.scalar_type, to };
            Ok(TypedExpr::new(t.expr.call_unary(func), ColumnType::new(to, t.typ.nullable)))
        }
    }
}

/// Types a call of the scalar function `name` (lower case).
pub fn plan_function(name: &str, args: Vec<Operand>) -> Result<TypedExpr, TypeError> {
    Err(TypeError::UndefinedFunction { name: name.to_string(), args: format!("{} arguments", args.len()) })
}

/// The type that values of all `types` convert to implicitly (CASE, COALESCE, UNION, IN, VALUES).
pub fn common_type(types: &[ScalarType]) -> Result<ScalarType, TypeError> {
    let mut iter = types.iter().copied();
    let first = iter.next().unwrap_or(ScalarType::Text);
    iter.try_fold(first, |acc, t| {
        if acc == t {
            Ok(acc)
        } else {
            Err(TypeError::DatatypeMismatch(format!("types {acc} and {t} cannot be matched")))
        }
    })
}
