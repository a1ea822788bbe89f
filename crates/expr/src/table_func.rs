//! Table functions: functions that produce zero or more rows per input row (`jsonb_array_elements`,
//! `jsonb_each`, `generate_series`). NULL arguments produce no rows, as in PostgreSQL.

use freshet_repr::{ColumnType, Datum, EvalError, Interval, Jsonb, Row, ScalarType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::func::arith::add_interval;
use crate::func::jsonb::json_to_text;
use crate::func::typing::{coerce, operand_type, promote};
use crate::func::Operand;
use crate::{ScalarExpr, TypeError};

/// Most rows one `generate_series` call may produce, so a typo cannot exhaust memory.
const MAX_SERIES_ROWS: usize = 100_000_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TableFunc {
    /// `jsonb_array_elements(jsonb)`: one `value jsonb` row per element.
    JsonbArrayElements,
    /// `jsonb_array_elements_text(jsonb)`: one `value text` row per element.
    JsonbArrayElementsText,
    /// `jsonb_each(jsonb)`: `(key text, value jsonb)` per object field.
    JsonbEach,
    /// `jsonb_each_text(jsonb)`: `(key text, value text)` per object field.
    JsonbEachText,
    /// `jsonb_object_keys(jsonb)`: one `text` row per key.
    JsonbObjectKeys,
    /// `generate_series(start, stop[, step])` over int4 or int8 (the argument type).
    GenerateSeriesInt(ScalarType),
    /// `generate_series(start, stop, interval)` over timestamp or timestamptz.
    GenerateSeriesTimestamp(ScalarType),
}

impl TableFunc {
    pub fn output_type(&self) -> Vec<ColumnType> {
        let col = |t: ScalarType, nullable: bool| ColumnType::new(t, nullable);
        match self {
            TableFunc::JsonbArrayElements => vec![col(ScalarType::Jsonb, false)],
            TableFunc::JsonbArrayElementsText => vec![col(ScalarType::Text, true)],
            TableFunc::JsonbEach => vec![col(ScalarType::Text, false), col(ScalarType::Jsonb, false)],
            TableFunc::JsonbEachText => vec![col(ScalarType::Text, false), col(ScalarType::Text, true)],
            TableFunc::JsonbObjectKeys => vec![col(ScalarType::Text, false)],
            TableFunc::GenerateSeriesInt(t) | TableFunc::GenerateSeriesTimestamp(t) => vec![col(*t, false)],
        }
    }

    pub fn output_names(&self) -> Vec<&'static str> {
        match self {
            TableFunc::JsonbArrayElements | TableFunc::JsonbArrayElementsText => vec!["value"],
            TableFunc::JsonbEach | TableFunc::JsonbEachText => vec!["key", "value"],
            TableFunc::JsonbObjectKeys => vec!["jsonb_object_keys"],
            TableFunc::GenerateSeriesInt(_) | TableFunc::GenerateSeriesTimestamp(_) => vec!["generate_series"],
        }
    }

    /// The rows produced for one input row's evaluated arguments.
    pub fn eval(&self, args: &[Datum]) -> Result<Vec<Row>, EvalError> {
        if args.iter().any(Datum::is_null) {
            return Ok(Vec::new());
        }
        match self {
            TableFunc::GenerateSeriesInt(_) => series_int(args),
            TableFunc::GenerateSeriesTimestamp(_) => series_timestamp(args),
            _ => match args {
                [Datum::Jsonb(j)] => self.eval_jsonb(&j.value()),
                _ => Err(EvalError::Internal(format!("{self:?} applied to {args:?}"))),
            },
        }
    }

    fn eval_jsonb(&self, v: &Value) -> Result<Vec<Row>, EvalError> {
        let row = |d: Vec<Datum>| Row::new(d);
        let jsonb = |v: &Value| Datum::Jsonb(Jsonb::from_value(v));
        match (self, v) {
            (TableFunc::JsonbArrayElements, Value::Array(items)) => {
                Ok(items.iter().map(|v| row(vec![jsonb(v)])).collect())
            }
            (TableFunc::JsonbArrayElementsText, Value::Array(items)) => {
                Ok(items.iter().map(|v| row(vec![json_to_text(v)])).collect())
            }
            (TableFunc::JsonbEach, Value::Object(map)) => {
                Ok(map.iter().map(|(k, v)| row(vec![Datum::text(k.clone()), jsonb(v)])).collect())
            }
            (TableFunc::JsonbEachText, Value::Object(map)) => {
                Ok(map.iter().map(|(k, v)| row(vec![Datum::text(k.clone()), json_to_text(v)])).collect())
            }
            (TableFunc::JsonbObjectKeys, Value::Object(map)) => {
                Ok(map.keys().map(|k| row(vec![Datum::text(k.clone())])).collect())
            }
            (TableFunc::JsonbArrayElements | TableFunc::JsonbArrayElementsText, other) => {
                let what = if other.is_object() { "an object" } else { "a scalar" };
                Err(EvalError::InvalidParameterValue(format!("cannot extract elements from {what}")))
            }
            (TableFunc::JsonbObjectKeys, other) => {
                let what = if other.is_array() { "an array" } else { "a scalar" };
                Err(EvalError::InvalidParameterValue(format!("cannot call jsonb_object_keys on {what}")))
            }
            _ => Err(EvalError::InvalidParameterValue("cannot call jsonb_each on a non-object".into())),
        }
    }
}

fn step_zero() -> EvalError {
    EvalError::InvalidParameterValue("step size cannot equal zero".into())
}

fn too_many() -> EvalError {
    EvalError::InvalidParameterValue(format!("generate_series would produce more than {MAX_SERIES_ROWS} rows"))
}

fn as_i64(d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Int32(v) => Ok(*v as i64),
        Datum::Int64(v) => Ok(*v),
        other => Err(EvalError::Internal(format!("generate_series over {other:?}"))),
    }
}

fn series_int(args: &[Datum]) -> Result<Vec<Row>, EvalError> {
    let (start, stop) = match args {
        [a, b] | [a, b, _] => (as_i64(a)?, as_i64(b)?),
        _ => return Err(EvalError::Internal("generate_series needs 2 or 3 arguments".into())),
    };
    let step = args.get(2).map(as_i64).transpose()?.unwrap_or(1);
    if step == 0 {
        return Err(step_zero());
    }
    let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
        0
    } else {
        ((stop as i128 - start as i128) / step as i128 + 1) as u128
    };
    if count > MAX_SERIES_ROWS as u128 {
        return Err(too_many());
    }
    let wrap = |v: i64| if matches!(args[0], Datum::Int32(_)) { Datum::Int32(v as i32) } else { Datum::Int64(v) };
    // Every value lies between start and stop, but `i * step` alone may not fit in an i64.
    Ok((0..count as i128).map(|i| Row::new(vec![wrap((start as i128 + i * step as i128) as i64)])).collect())
}

fn series_timestamp(args: &[Datum]) -> Result<Vec<Row>, EvalError> {
    let (start, stop, step, tz) = match args {
        [Datum::Timestamp(a), Datum::Timestamp(b), Datum::Interval(s)] => (*a, *b, *s, false),
        [Datum::TimestampTz(a), Datum::TimestampTz(b), Datum::Interval(s)] => (*a, *b, *s, true),
        _ => return Err(EvalError::Internal(format!("generate_series over {args:?}"))),
    };
    let zero = Interval::default();
    if step == zero {
        return Err(step_zero());
    }
    let forward = step > zero;
    let mut rows = Vec::new();
    let mut cur = start;
    while (forward && cur <= stop) || (!forward && cur >= stop) {
        if rows.len() >= MAX_SERIES_ROWS {
            return Err(too_many());
        }
        rows.push(Row::new(vec![if tz { Datum::TimestampTz(cur) } else { Datum::Timestamp(cur) }]));
        cur = match add_interval(cur, step) {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    Ok(rows)
}

fn undefined(name: &str, args: &[Operand]) -> TypeError {
    let types: Vec<&str> = args.iter().map(|a| operand_type(a).map(|t| t.name()).unwrap_or("unknown")).collect();
    TypeError::UndefinedFunction { name: name.to_string(), args: types.join(", ") }
}

/// Types a table function call in FROM.
pub fn plan_table_function(name: &str, args: Vec<Operand>) -> Result<(TableFunc, Vec<ScalarExpr>), TypeError> {
    let func = match (name, args.len()) {
        ("jsonb_array_elements", 1) => TableFunc::JsonbArrayElements,
        ("jsonb_array_elements_text", 1) => TableFunc::JsonbArrayElementsText,
        ("jsonb_each", 1) => TableFunc::JsonbEach,
        ("jsonb_each_text", 1) => TableFunc::JsonbEachText,
        ("jsonb_object_keys", 1) => TableFunc::JsonbObjectKeys,
        ("generate_series", 2 | 3) => return plan_generate_series(args),
        _ => return Err(undefined(name, &args)),
    };
    if operand_type(&args[0]).is_some_and(|t| t != ScalarType::Jsonb) {
        return Err(undefined(name, &args));
    }
    let exprs = args.into_iter().map(|a| coerce(a, ScalarType::Jsonb).map(|t| t.expr)).collect::<Result<_, _>>()?;
    Ok((func, exprs))
}

fn plan_generate_series(args: Vec<Operand>) -> Result<(TableFunc, Vec<ScalarExpr>), TypeError> {
    let bounds: Vec<ScalarType> = args.iter().take(2).filter_map(operand_type).collect();
    let bound = match bounds.iter().try_fold(None, |acc: Option<ScalarType>, t| match acc {
        None => Some(Some(*t)),
        Some(a) => promote(a, *t).map(Some),
    }) {
        Some(Some(t)) => t,
        Some(None) => ScalarType::Int32,
        None => return Err(undefined("generate_series", &args)),
    };
    let (func, types) = match bound {
        ScalarType::Int16 | ScalarType::Int32 => {
            (TableFunc::GenerateSeriesInt(ScalarType::Int32), [ScalarType::Int32; 3])
        }
        ScalarType::Int64 => (TableFunc::GenerateSeriesInt(ScalarType::Int64), [ScalarType::Int64; 3]),
        ScalarType::Timestamp | ScalarType::TimestampTz | ScalarType::Date if args.len() == 3 => {
            let t = if bound == ScalarType::Timestamp { ScalarType::Timestamp } else { ScalarType::TimestampTz };
            (TableFunc::GenerateSeriesTimestamp(t), [t, t, ScalarType::Interval])
        }
        _ => return Err(undefined("generate_series", &args)),
    };
    let step_ok = args.get(2).and_then(operand_type).is_none_or(|t| {
        t == types[2] || crate::func::cast_allowed(t, types[2]) == Some(crate::func::CastContext::Implicit)
    });
    if !step_ok {
        return Err(undefined("generate_series", &args));
    }
    let exprs = args.into_iter().zip(types).map(|(a, t)| coerce(a, t).map(|e| e.expr)).collect::<Result<_, _>>()?;
    Ok((func, exprs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypedExpr;

    fn j(s: &str) -> Datum {
        Datum::Jsonb(Jsonb::parse(s).unwrap())
    }

    fn firsts(rows: Vec<Row>) -> Vec<Datum> {
        rows.into_iter().map(|r| r.datums()[0].clone()).collect()
    }

    #[test]
    fn jsonb_table_functions() {
        let rows = TableFunc::JsonbArrayElements.eval(&[j("[1, \"a\", null]")]).unwrap();
        assert_eq!(firsts(rows), vec![j("1"), j("\"a\""), j("null")]);
        let rows = TableFunc::JsonbArrayElementsText.eval(&[j("[1, \"a\", null]")]).unwrap();
        assert_eq!(firsts(rows), vec![Datum::text("1"), Datum::text("a"), Datum::Null]);
        let rows = TableFunc::JsonbEach.eval(&[j(r#"{"b": [1], "a": 2}"#)]).unwrap();
        assert_eq!(rows[0], Row::new(vec![Datum::text("a"), j("2")]));
        assert_eq!(rows[1], Row::new(vec![Datum::text("b"), j("[1]")]));
        let rows = TableFunc::JsonbEachText.eval(&[j(r#"{"s": "x"}"#)]).unwrap();
        assert_eq!(rows[0], Row::new(vec![Datum::text("s"), Datum::text("x")]));
        assert_eq!(firsts(TableFunc::JsonbObjectKeys.eval(&[j(r#"{"k": 1}"#)]).unwrap()), vec![Datum::text("k")]);
        assert_eq!(TableFunc::JsonbArrayElements.eval(&[j("{}")]).unwrap_err().sqlstate(), "22023");
        assert_eq!(TableFunc::JsonbEach.eval(&[j("[]")]).unwrap_err().sqlstate(), "22023");
        assert_eq!(TableFunc::JsonbArrayElements.eval(&[Datum::Null]), Ok(vec![]));
        assert_eq!(TableFunc::JsonbEach.output_names(), vec!["key", "value"]);
    }

    #[test]
    fn integer_series() {
        let f = TableFunc::GenerateSeriesInt(ScalarType::Int32);
        let series = |args: &[Datum]| firsts(f.eval(args).unwrap());
        assert_eq!(
            series(&[Datum::Int32(1), Datum::Int32(3)]),
            vec![Datum::Int32(1), Datum::Int32(2), Datum::Int32(3)]
        );
        assert_eq!(series(&[Datum::Int32(5), Datum::Int32(1), Datum::Int32(-2)]).len(), 3);
        assert_eq!(series(&[Datum::Int32(5), Datum::Int32(1)]), vec![]);
        let wide = TableFunc::GenerateSeriesInt(ScalarType::Int64);
        let rows = wide.eval(&[Datum::Int64(i64::MIN), Datum::Int64(i64::MAX), Datum::Int64(i64::MAX)]).unwrap();
        assert_eq!(firsts(rows), vec![Datum::Int64(i64::MIN), Datum::Int64(-1), Datum::Int64(i64::MAX - 1)]);
        assert_eq!(f.eval(&[Datum::Int32(1), Datum::Int32(2), Datum::Int32(0)]).unwrap_err().sqlstate(), "22023");
    }

    #[test]
    fn timestamp_series_and_planning() {
        let ts = |s| freshet_repr::strconv::parse_datum(s, ScalarType::Timestamp).unwrap();
        let args = vec![
            Operand::Typed(TypedExpr::literal(ts("2024-01-01 00:00:00"), ScalarType::Timestamp)),
            Operand::Unknown(Some("2024-01-01 02:00:00".into())),
            Operand::Unknown(Some("1 hour".into())),
        ];
        let (func, exprs) = plan_table_function("generate_series", args).unwrap();
        assert_eq!(func, TableFunc::GenerateSeriesTimestamp(ScalarType::Timestamp));
        let datums: Vec<Datum> = exprs.iter().map(|e| e.eval(&[]).unwrap()).collect();
        assert_eq!(func.eval(&datums).unwrap().len(), 3);
        let ints = vec![
            Operand::Typed(TypedExpr::literal(Datum::Int64(1), ScalarType::Int64)),
            Operand::Unknown(Some("3".into())),
        ];
        let (func, _) = plan_table_function("generate_series", ints).unwrap();
        assert_eq!(func, TableFunc::GenerateSeriesInt(ScalarType::Int64));
        let bad = plan_table_function(
            "jsonb_each",
            vec![Operand::Typed(TypedExpr::literal(Datum::Int32(1), ScalarType::Int32))],
        );
        assert_eq!(bad.unwrap_err().sqlstate(), "42883");
        let (func, _) = plan_table_function("jsonb_each", vec![Operand::Unknown(Some("{}".into()))]).unwrap();
        assert_eq!(func, TableFunc::JsonbEach);
    }
}
