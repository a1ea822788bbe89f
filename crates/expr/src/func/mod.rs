//! Scalar functions, operators and casts: their typing (what the planner may build) and their
//! evaluation (what a dataflow runs per row).
//!
//! Typing follows PostgreSQL: an untyped literal (`'5'`, `NULL`) takes the type its context needs;
//! integer arithmetic checks overflow (22003); division by zero is 22012.
//!
//! This module owns the function enums and their dispatch; the families live in submodules
//! (`arith`, `string`, `math`, `jsonb`, `datetime`, `bytes`), typing in `typing`, `cast` and
//! `plan`. Nothing here knows SQL syntax: the planner hands over names and [`Operand`]s.

pub(crate) mod arith;
mod bytes;
mod cast;
mod datetime;
mod format;
pub(crate) mod jsonb;
mod math;
mod numeric_arith;
mod plan;
mod string;
pub(crate) mod typing;

use freshet_repr::{ColumnType, Datum, EvalError, ScalarType};
use serde::{Deserialize, Serialize};

use crate::scalar::Columns;
use crate::{ScalarExpr, TypedExpr};

pub use cast::{cast_allowed, cast_datum, plan_cast};
pub use datetime::extract_numeric;
pub use jsonb::datum_to_json;
pub use plan::plan_function;
pub use typing::{coerce_to_common, common_type, infer_type, plan_binary_op, plan_unary_op};

/// An operand before typing: a typed expression, or a literal whose type comes from its context.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Typed(TypedExpr),
    /// A quoted string literal with no type yet (`'2024-01-01'`), or `NULL` (`None`).
    Unknown(Option<String>),
}

/// How strict a cast is: PostgreSQL allows more conversions explicitly than implicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
    /// `jsonb <@ jsonb`
    JsonContainedBy,
    /// `jsonb ? text`
    JsonHasKey,
    /// `IS DISTINCT FROM`
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM`
    IsNotDistinctFrom,
    /// `text ~ text` (POSIX regular expression match)
    RegexMatch,
    /// `text ~* text`
    RegexIMatch,
    /// `text !~ text`
    NotRegexMatch,
    /// `text !~* text`
    NotRegexIMatch,
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
    IsNotNull,
    IsTrue,
    IsNotTrue,
    IsFalse,
    IsNotFalse,
    /// A cast between scalar types.
    Cast {
        from: ScalarType,
        to: ScalarType,
    },
    Neg,
    Lower,
    Upper,
    CharLength,
    OctetLength,
    Reverse,
    Initcap,
    Md5,
    /// `ascii(text)`: the code point of the first character.
    Ascii,
    /// `chr(int)`: the character with that code point.
    Chr,
    Abs,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sqrt,
    Exp,
    Ln,
    Log10,
    Sign,
    JsonbTypeof,
    JsonbArrayLength,
    ToJsonb,
    /// `to_timestamp(float8)`: seconds since the epoch to timestamptz.
    ToTimestamp,
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
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    IsDistinctFrom,
    IsNotDistinctFrom,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `text || text`
    TextConcat,
    /// `bytea || bytea`
    BytesConcat,
    /// `jsonb || jsonb`
    JsonbConcat,
    Like,
    ILike,
    RegexMatch {
        case_insensitive: bool,
    },
    JsonGet,
    JsonGetText,
    JsonGetPath,
    JsonGetPathText,
    JsonContains,
    JsonHasKey,
    /// `strpos(haystack, needle)`
    Position,
    Left,
    Right,
    Repeat,
    StartsWith,
    BTrim,
    LTrim,
    RTrim,
    RoundScale,
    TruncScale,
    Power,
    /// `log(base, x)`
    Log,
    ConvertFrom,
    ConvertTo,
    Encode,
    /// `get_byte(bytea, int)`.
    GetByte,
    Decode,
    /// `date_trunc(unit, timestamp|timestamptz)`
    DateTrunc,
    /// `extract(field FROM x)`: numeric.
    Extract,
    /// `date_part(field, x)`: double precision.
    DatePart,
    /// `timezone(zone, ts)` (`ts AT TIME ZONE zone`): timestamp <-> timestamptz; only UTC-equivalent
    /// zones, since the session time zone is always UTC.
    Timezone,
    /// `to_char(timestamp|timestamptz, template)`
    ToChar,
    /// `age(timestamp, timestamp)`
    Age,
    NullIf,
}

/// Evaluated functions of any number of arguments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VariadicFunc {
    Coalesce,
    Greatest,
    Least,
    /// `concat(...)`: arguments already cast to text; NULLs are skipped.
    Concat,
    /// `concat_ws(sep, ...)`
    ConcatWs,
    Substr,
    SplitPart,
    Replace,
    Lpad,
    Rpad,
    RegexpReplace,
    JsonbBuildObject,
    JsonbBuildArray,
    MakeDate,
    /// `(more_than_one_row bool, value)`: raises `MultipleRowsFromSubquery` (21000) when the first
    /// argument is true, else yields the second. The planner's check that a scalar subquery
    /// produced at most one row, evaluated as data so that the error reaches the query's result.
    SingleRowCheck,
}

impl UnaryFunc {
    pub fn eval(&self, datum: Datum) -> Result<Datum, EvalError> {
        use UnaryFunc::*;
        match self {
            IsNull => return Ok(Datum::Bool(datum.is_null())),
            IsNotNull => return Ok(Datum::Bool(!datum.is_null())),
            IsTrue => return Ok(Datum::Bool(datum == Datum::Bool(true))),
            IsNotTrue => return Ok(Datum::Bool(datum != Datum::Bool(true))),
            IsFalse => return Ok(Datum::Bool(datum == Datum::Bool(false))),
            IsNotFalse => return Ok(Datum::Bool(datum != Datum::Bool(false))),
            _ if datum.is_null() => return Ok(Datum::Null),
            _ => {}
        }
        match self {
            Not => match datum {
                Datum::Bool(b) => Ok(Datum::Bool(!b)),
                other => Err(type_mismatch("NOT", &other)),
            },
            Cast { to, .. } => cast_datum(datum, *to),
            Neg => arith::neg(datum),
            Lower | Upper | CharLength | OctetLength | Reverse | Initcap | Md5 | Ascii => {
                string::eval_unary(self, datum)
            }
            Chr => string::chr(datum),
            Abs | Ceil | Floor | Round | Trunc | Sqrt | Exp | Ln | Log10 | Sign => math::eval_unary(self, datum),
            JsonbTypeof | JsonbArrayLength | ToJsonb => jsonb::eval_unary(self, datum),
            ToTimestamp => datetime::to_timestamp(datum),
            IsNull | IsNotNull | IsTrue | IsNotTrue | IsFalse | IsNotFalse => Ok(Datum::Null),
        }
    }

    pub fn output_type(&self, input: ColumnType) -> ColumnType {
        use UnaryFunc::*;
        let same = |t: ScalarType| ColumnType::new(t, input.nullable);
        match self {
            IsNull | IsNotNull | IsTrue | IsNotTrue | IsFalse | IsNotFalse => ColumnType::new(ScalarType::Bool, false),
            Not => same(ScalarType::Bool),
            Cast { to, .. } => same(*to),
            Neg | Abs | Ceil | Floor | Round | Trunc | Sqrt | Exp | Ln | Log10 | Sign => same(input.scalar_type),
            Lower | Upper | Reverse | Initcap | Md5 | JsonbTypeof | Chr => same(ScalarType::Text),
            CharLength | OctetLength | JsonbArrayLength | Ascii => same(ScalarType::Int32),
            ToJsonb => same(ScalarType::Jsonb),
            ToTimestamp => same(ScalarType::TimestampTz),
        }
    }
}

impl BinaryFunc {
    /// Evaluates both arguments (lazily where SQL short-circuits) against `row`.
    pub fn eval<C: Columns + ?Sized>(&self, a: &ScalarExpr, b: &ScalarExpr, row: &C) -> Result<Datum, EvalError> {
        match self {
            BinaryFunc::And => {
                let left = a.eval_in(row)?;
                if left == Datum::Bool(false) {
                    return Ok(left);
                }
                let right = b.eval_in(row)?;
                Ok(match (left, right) {
                    (_, Datum::Bool(false)) => Datum::Bool(false),
                    (Datum::Bool(true), Datum::Bool(true)) => Datum::Bool(true),
                    _ => Datum::Null,
                })
            }
            BinaryFunc::Or => {
                let left = a.eval_in(row)?;
                if left == Datum::Bool(true) {
                    return Ok(left);
                }
                let right = b.eval_in(row)?;
                Ok(match (left, right) {
                    (_, Datum::Bool(true)) => Datum::Bool(true),
                    (Datum::Bool(false), Datum::Bool(false)) => Datum::Bool(false),
                    _ => Datum::Null,
                })
            }
            // `doc ->> 'key'`: the key is borrowed, not copied for every row.
            BinaryFunc::JsonGet | BinaryFunc::JsonGetText => match b {
                ScalarExpr::Literal(key, _) if !key.is_null() => self.eval_json_get(a.eval_in(row)?, key),
                _ => self.eval_datums(a.eval_in(row)?, b.eval_in(row)?),
            },
            // Comparisons read columns and literals where they are: `state = 'or'` copied the
            // text of every row before.
            func if func.is_comparison() => {
                let (left, right) = (a.eval_borrowed(row)?, b.eval_borrowed(row)?);
                Ok(self.compare(&left, &right))
            }
            BinaryFunc::Add | BinaryFunc::Sub | BinaryFunc::Mul => numeric_arith::eval(self, a, b, row),
            _ => self.eval_datums(a.eval_in(row)?, b.eval_in(row)?),
        }
    }

    /// `doc -> key` or `doc ->> key` (`self` is `JsonGet` or `JsonGetText`) for a key that is not
    /// NULL.
    pub(crate) fn eval_json_get(&self, doc: Datum, key: &Datum) -> Result<Datum, EvalError> {
        match doc {
            Datum::Null => Ok(Datum::Null),
            doc => jsonb::eval_binary(self, doc, key),
        }
    }

    /// A comparison of two values of the same type (NULL if either is NULL).
    fn compare(&self, left: &Datum, right: &Datum) -> Datum {
        if left.is_null() || right.is_null() {
            return Datum::Null;
        }
        Datum::Bool(self.holds(left, right))
    }

    /// Whether comparison `self` (`=`, `<>`, `<`, `<=`, `>`, `>=`; anything else is `>=`) holds
    /// for two non-NULL values: the one definition for datums and for the pipelines' bigints.
    #[inline]
    pub(crate) fn holds<T: PartialOrd>(&self, left: &T, right: &T) -> bool {
        match self {
            BinaryFunc::Eq => left == right,
            BinaryFunc::NotEq => left != right,
            BinaryFunc::Lt => left < right,
            BinaryFunc::Lte => left <= right,
            BinaryFunc::Gt => left > right,
            _ => left >= right,
        }
    }

    /// Whether `self` is one of the six comparisons `holds` decides.
    pub(crate) fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryFunc::Eq | BinaryFunc::NotEq | BinaryFunc::Lt | BinaryFunc::Lte | BinaryFunc::Gt | BinaryFunc::Gte
        )
    }

    /// Applies the function to two evaluated arguments (`And`/`Or` without short-circuiting).
    pub fn eval_datums(&self, left: Datum, right: Datum) -> Result<Datum, EvalError> {
        use BinaryFunc::*;
        match self {
            IsDistinctFrom => return Ok(Datum::Bool(left != right)),
            IsNotDistinctFrom => return Ok(Datum::Bool(left == right)),
            NullIf => return Ok(if !left.is_null() && left == right { Datum::Null } else { left }),
            And => return Ok(three_valued(left, right, false)),
            Or => return Ok(three_valued(left, right, true)),
            _ if left.is_null() || right.is_null() => return Ok(Datum::Null),
            _ => {}
        }
        match self {
            Eq | NotEq | Lt | Lte | Gt | Gte => Ok(self.compare(&left, &right)),
            Add => arith::add(left, right),
            Sub => arith::sub(left, right),
            Mul => arith::mul(left, right),
            Div => arith::div(left, right),
            Mod => arith::modulo(left, right),
            TextConcat
            | Like
            | ILike
            | RegexMatch { .. }
            | Position
            | Left
            | Right
            | Repeat
            | StartsWith
            | BTrim
            | LTrim
            | RTrim => string::eval_binary(self, left, right),
            BytesConcat | ConvertFrom | ConvertTo | Encode | Decode | GetByte => bytes::eval_binary(self, left, right),
            JsonbConcat | JsonGet | JsonGetText | JsonGetPath | JsonGetPathText | JsonContains | JsonHasKey => {
                jsonb::eval_binary(self, left, &right)
            }
            RoundScale | TruncScale | Power | Log => math::eval_binary(self, left, right),
            DateTrunc | Extract | DatePart | Timezone => datetime::eval_binary(self, left, right),
            ToChar => format::eval_to_char(left, right),
            Age => format::eval_age(left, right),
            IsDistinctFrom | IsNotDistinctFrom | NullIf | And | Or => Ok(Datum::Null),
        }
    }

    pub fn output_type(&self, left: ColumnType, right: ColumnType) -> ColumnType {
        use BinaryFunc::*;
        let nullable = left.nullable || right.nullable;
        let t = |s: ScalarType| ColumnType::new(s, nullable);
        match self {
            Eq
            | And
            | Or
            | NotEq
            | Lt
            | Lte
            | Gt
            | Gte
            | Like
            | ILike
            | RegexMatch { .. }
            | StartsWith
            | JsonContains
            | JsonHasKey => t(ScalarType::Bool),
            IsDistinctFrom | IsNotDistinctFrom => ColumnType::new(ScalarType::Bool, false),
            Add | Sub | Mul | Div | Mod => t(arith::output_type(self, left.scalar_type, right.scalar_type)),
            TextConcat | Left | Right | Repeat | BTrim | LTrim | RTrim | ConvertFrom | Encode | ToChar => {
                t(ScalarType::Text)
            }
            Age => t(ScalarType::Interval),
            GetByte => t(ScalarType::Int32),
            BytesConcat | ConvertTo | Decode => t(ScalarType::Bytes),
            JsonbConcat => t(ScalarType::Jsonb),
            JsonGet | JsonGetPath => ColumnType::new(ScalarType::Jsonb, true),
            JsonGetText | JsonGetPathText => ColumnType::new(ScalarType::Text, true),
            Position => t(ScalarType::Int32),
            RoundScale | TruncScale => t(left.scalar_type),
            Power | Log => t(left.scalar_type),
            DateTrunc => t(right.scalar_type),
            Extract => t(ScalarType::Numeric),
            DatePart => t(ScalarType::Float64),
            Timezone if right.scalar_type == ScalarType::TimestampTz => t(ScalarType::Timestamp),
            Timezone => t(ScalarType::TimestampTz),
            NullIf => ColumnType::new(left.scalar_type, true),
        }
    }
}

/// `AND` (`or == false`) and `OR` (`or == true`) over evaluated operands.
fn three_valued(left: Datum, right: Datum, or: bool) -> Datum {
    let dominant = Datum::Bool(or);
    if left == dominant || right == dominant {
        dominant
    } else if left.is_null() || right.is_null() {
        Datum::Null
    } else {
        Datum::Bool(!or)
    }
}

impl VariadicFunc {
    pub fn eval<C: Columns + ?Sized>(&self, exprs: &[ScalarExpr], row: &C) -> Result<Datum, EvalError> {
        if *self == VariadicFunc::Coalesce {
            // Lazy: later arguments are not evaluated (and cannot fail) once one is non-null.
            for expr in exprs {
                let d = expr.eval_in(row)?;
                if !d.is_null() {
                    return Ok(d);
                }
            }
            return Ok(Datum::Null);
        }
        let datums = exprs.iter().map(|e| e.eval_in(row)).collect::<Result<Vec<_>, _>>()?;
        self.eval_datums(datums)
    }

    /// Applies the function to evaluated arguments.
    pub fn eval_datums(&self, datums: Vec<Datum>) -> Result<Datum, EvalError> {
        use VariadicFunc::*;
        match self {
            Coalesce => Ok(datums.into_iter().find(|d| !d.is_null()).unwrap_or(Datum::Null)),
            Greatest => Ok(datums.into_iter().filter(|d| !d.is_null()).max().unwrap_or(Datum::Null)),
            Least => Ok(datums.into_iter().filter(|d| !d.is_null()).min().unwrap_or(Datum::Null)),
            Concat | ConcatWs => string::eval_concat(self, &datums),
            JsonbBuildObject | JsonbBuildArray => jsonb::eval_build(self, &datums),
            SingleRowCheck => match datums.as_slice() {
                [Datum::Bool(true), _] => Err(EvalError::MultipleRowsFromSubquery),
                [_, value] => Ok(value.clone()),
                _ => Err(EvalError::Internal(format!("SingleRowCheck applied to {datums:?}"))),
            },
            _ if datums.iter().any(Datum::is_null) => Ok(Datum::Null),
            Substr | SplitPart | Replace | Lpad | Rpad | RegexpReplace => string::eval_variadic(self, &datums),
            MakeDate => datetime::make_date(&datums),
        }
    }

    pub fn output_type(&self, inputs: &[ColumnType]) -> ColumnType {
        use VariadicFunc::*;
        let any_nullable = inputs.iter().any(|c| c.nullable);
        match self {
            Coalesce | Greatest | Least => {
                let scalar = inputs.first().map(|c| c.scalar_type).unwrap_or(ScalarType::Text);
                ColumnType::new(scalar, inputs.iter().all(|c| c.nullable))
            }
            Concat => ColumnType::new(ScalarType::Text, false),
            ConcatWs => ColumnType::new(ScalarType::Text, inputs.first().is_none_or(|c| c.nullable)),
            Substr | SplitPart | Replace | Lpad | Rpad | RegexpReplace => {
                ColumnType::new(ScalarType::Text, any_nullable)
            }
            JsonbBuildObject | JsonbBuildArray => ColumnType::new(ScalarType::Jsonb, false),
            MakeDate => ColumnType::new(ScalarType::Date, any_nullable),
            SingleRowCheck => inputs.get(1).copied().unwrap_or(ColumnType::new(ScalarType::Text, true)),
        }
    }
}

/// An argument of a type the function was not planned for: a planner bug, not a user error.
pub(crate) fn type_mismatch(func: &str, datum: &Datum) -> EvalError {
    EvalError::Internal(format!("{func} applied to unexpected value {datum:?}"))
}

#[cfg(test)]
mod tests;
