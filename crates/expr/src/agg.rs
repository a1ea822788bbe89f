//! Aggregate functions: typing and evaluation over one group's multiset of values.
//!
//! `eval` sees each distinct value with its multiplicity, so it must weigh every value by its count
//! and must not depend on the order values arrive in (order-sensitive aggregates sort first).

use bigdecimal::{BigDecimal, Zero};
use freshet_repr::{ColumnType, Datum, Diff, EvalError, Interval, Row, ScalarType, F32, F64};
use serde::{Deserialize, Serialize};

use crate::func::arith::{int_range, numeric_div, scale_interval};
use crate::func::typing::{coerce, operand_type};
use crate::func::Operand;
use crate::{ScalarExpr, TypeError};

/// An aggregate function over the values of one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregateFunc {
    /// `count(expr)`: non-null values. `count(*)` is `Count` over a constant true.
    Count,
    Sum,
    Min,
    Max,
    Avg,
    BoolAnd,
    BoolOr,
    /// `string_agg(expr, delimiter)`; the delimiter must be a constant. Values are joined in
    /// sorted order, since the input multiset has no order.
    StringAgg {
        delimiter: String,
    },
    /// `jsonb_agg(expr)`: NULLs become JSON nulls; elements in sorted order.
    JsonbAgg,
}

/// One aggregate in a `Reduce`: a function applied to an expression over the input row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateExpr {
    pub func: AggregateFunc,
    pub expr: ScalarExpr,
    pub distinct: bool,
}

impl AggregateExpr {
    pub fn output_type(&self, input: &[ColumnType]) -> ColumnType {
        let arg = crate::func::infer_type(&self.expr, input);
        self.func.output_type(arg)
    }
}

impl AggregateFunc {
    pub fn output_type(&self, arg: ColumnType) -> ColumnType {
        use ScalarType::*;
        let scalar = match self {
            AggregateFunc::Count => return ColumnType::new(Int64, false),
            AggregateFunc::Sum => match arg.scalar_type {
                Int16 | Int32 => Int64,
                Int64 => Numeric,
                other => other,
            },
            AggregateFunc::Avg => match arg.scalar_type {
                Int16 | Int32 | Int64 | Numeric => Numeric,
                Float32 | Float64 => Float64,
                other => other,
            },
            AggregateFunc::Min | AggregateFunc::Max => arg.scalar_type,
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => Bool,
            AggregateFunc::StringAgg { .. } => Text,
            AggregateFunc::JsonbAgg => Jsonb,
        };
        ColumnType::new(scalar, true)
    }

    /// The aggregate of a group, given each distinct value with its (positive) multiplicity.
    pub fn eval(&self, values: &[(Datum, Diff)]) -> Result<Datum, EvalError> {
        let non_null = || values.iter().filter(|(d, n)| !d.is_null() && *n > 0);
        match self {
            AggregateFunc::Count => Ok(Datum::Int64(non_null().map(|(_, n)| *n).sum())),
            AggregateFunc::Sum => sum(non_null()),
            AggregateFunc::Avg => avg(non_null()),
            AggregateFunc::Min => Ok(non_null().map(|(d, _)| d).min().cloned().unwrap_or(Datum::Null)),
            AggregateFunc::Max => Ok(non_null().map(|(d, _)| d).max().cloned().unwrap_or(Datum::Null)),
            AggregateFunc::BoolAnd => Ok(bool_fold(non_null(), false)),
            AggregateFunc::BoolOr => Ok(bool_fold(non_null(), true)),
            AggregateFunc::StringAgg { delimiter } => {
                let mut sorted: Vec<&(Datum, Diff)> = non_null().collect();
                if sorted.is_empty() {
                    return Ok(Datum::Null);
                }
                sorted.sort();
                let mut parts: Vec<String> = Vec::new();
                for (d, n) in sorted {
                    let text = freshet_repr::strconv::format_datum(d).unwrap_or_default();
                    parts.extend(std::iter::repeat_n(text, *n as usize));
                }
                Ok(Datum::text(parts.join(delimiter)))
            }
            AggregateFunc::JsonbAgg => {
                let mut sorted: Vec<&(Datum, Diff)> = values.iter().filter(|(_, n)| *n > 0).collect();
                if sorted.is_empty() {
                    return Ok(Datum::Null);
                }
                sorted.sort();
                let mut items = Vec::new();
                for (d, n) in sorted {
                    items.extend(std::iter::repeat_n(crate::func::datum_to_json(d), *n as usize));
                }
                Ok(Datum::Jsonb(freshet_repr::Jsonb::from_value(&serde_json::Value::Array(items))))
            }
        }
    }

    /// The value over an empty input without GROUP BY (`count` is 0, the others NULL).
    pub fn default_value(&self) -> Datum {
        match self {
            AggregateFunc::Count => Datum::Int64(0),
            _ => Datum::Null,
        }
    }
}

/// One group's output row: its `key`, then each aggregate `(function, distinct)` over the group's
/// argument rows (column `i` of each row is the argument of aggregate `i`). Each aggregate sees each
/// distinct value with its multiplicity (1 for DISTINCT aggregates). Both the dataflow's reduce and
/// the coordinator's evaluation of constant plans use this, so they cannot disagree.
pub fn aggregate_group(
    key: &[Datum],
    values: &[(&Row, Diff)],
    funcs: &[(AggregateFunc, bool)],
) -> Result<Row, EvalError> {
    let mut row = Row::with_capacity(key.len() + funcs.len());
    key.iter().for_each(|datum| row.push(datum.clone()));
    for (index, (func, distinct)) in funcs.iter().enumerate() {
        if let Some(extreme) = extreme_in_place(func, values, index) {
            row.push(extreme);
            continue;
        }
        let column = values.iter().map(|(args, diff)| (args.get(index).cloned().unwrap_or(Datum::Null), *diff));
        let mut column = consolidate_values(column.collect())?;
        if *distinct {
            column.iter_mut().for_each(|(_, diff)| *diff = 1);
        }
        row.push(func.eval(&column)?);
    }
    Ok(row)
}

/// Sums the multiplicities of equal values; a negative total means the input retracted rows it
/// never had, which is reported instead of aggregating nonsense.
/// `min`/`max` of column `index` read where the values lie, when every multiplicity is positive
/// (then neither counts nor duplicates change the answer): a reduction's groups can hold many
/// thousands of values, and the general path clones and sorts them all. `None`: use that path.
fn extreme_in_place(func: &AggregateFunc, values: &[(&Row, Diff)], index: usize) -> Option<Datum> {
    if !matches!(func, AggregateFunc::Min | AggregateFunc::Max) || values.iter().any(|(_, diff)| *diff <= 0) {
        return None;
    }
    let column = values.iter().filter_map(|(args, _)| args.get(index)).filter(|d| !d.is_null());
    let extreme = if *func == AggregateFunc::Min { column.min() } else { column.max() };
    Some(extreme.cloned().unwrap_or(Datum::Null))
}

fn consolidate_values(mut values: Vec<(Datum, Diff)>) -> Result<Vec<(Datum, Diff)>, EvalError> {
    freshet_repr::consolidate(&mut values);
    if values.iter().any(|(_, diff)| *diff < 0) {
        return Err(EvalError::Internal("negative multiplicity in aggregate input".into()));
    }
    Ok(values)
}

/// `bool_and` (`or == false`) / `bool_or` (`or == true`): NULL over no values.
fn bool_fold<'a>(values: impl Iterator<Item = &'a (Datum, Diff)>, or: bool) -> Datum {
    let mut result = None;
    for (d, _) in values {
        let b = d.is_true();
        result = Some(if or { result.unwrap_or(false) || b } else { result.unwrap_or(true) && b });
    }
    result.map(Datum::Bool).unwrap_or(Datum::Null)
}

fn sum<'a>(values: impl Iterator<Item = &'a (Datum, Diff)>) -> Result<Datum, EvalError> {
    let values: Vec<&(Datum, Diff)> = values.collect();
    let Some((first, _)) = values.first() else {
        return Ok(Datum::Null);
    };
    match first {
        Datum::Int16(_) | Datum::Int32(_) => {
            let mut total: i128 = 0;
            for (d, n) in &values {
                let v = match d {
                    Datum::Int16(v) => *v as i128,
                    Datum::Int32(v) => *v as i128,
                    other => return Err(unexpected("sum", other)),
                };
                total += v * *n as i128;
            }
            i64::try_from(total).map(Datum::Int64).map_err(|_| int_range(ScalarType::Int64))
        }
        Datum::Int64(_) | Datum::Numeric(_) => Ok(Datum::numeric(decimal_sum(&values)?.0)),
        Datum::Float32(_) => {
            let total: f32 = values.iter().map(|(d, n)| float_of(d) as f32 * *n as f32).sum();
            Ok(Datum::Float32(F32(total)))
        }
        Datum::Float64(_) => Ok(Datum::Float64(F64(values.iter().map(|(d, n)| float_of(d) * *n as f64).sum()))),
        Datum::Interval(_) => interval_sum(&values).map(Datum::Interval),
        other => Err(unexpected("sum", other)),
    }
}

fn unexpected(func: &str, d: &Datum) -> EvalError {
    EvalError::Internal(format!("{func} over unexpected value {d:?}"))
}

fn float_of(d: &Datum) -> f64 {
    match d {
        Datum::Float32(F32(v)) => *v as f64,
        Datum::Float64(F64(v)) => *v,
        _ => f64::NAN,
    }
}

/// Exact sum and count of integer or numeric values.
fn decimal_sum(values: &[&(Datum, Diff)]) -> Result<(BigDecimal, i64), EvalError> {
    let mut total = BigDecimal::zero();
    let mut count = 0i64;
    for (d, n) in values {
        let v = match d {
            Datum::Int16(v) => BigDecimal::from(*v),
            Datum::Int32(v) => BigDecimal::from(*v),
            Datum::Int64(v) => BigDecimal::from(*v),
            Datum::Numeric(v) => v.0.clone(),
            other => return Err(unexpected("sum", other)),
        };
        total += v * BigDecimal::from(*n);
        count += n;
    }
    Ok((total, count))
}

fn interval_sum(values: &[&(Datum, Diff)]) -> Result<Interval, EvalError> {
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i128);
    for (d, n) in values {
        let Datum::Interval(i) = d else {
            return Err(unexpected("sum", d));
        };
        months += i.months as i64 * n;
        days += i.days as i64 * n;
        micros += i.micros as i128 * *n as i128;
    }
    let range = || EvalError::DatetimeOutOfRange("interval out of range".into());
    Ok(Interval {
        months: i32::try_from(months).map_err(|_| range())?,
        days: i32::try_from(days).map_err(|_| range())?,
        micros: i64::try_from(micros).map_err(|_| range())?,
    })
}

fn avg<'a>(values: impl Iterator<Item = &'a (Datum, Diff)>) -> Result<Datum, EvalError> {
    let values: Vec<&(Datum, Diff)> = values.collect();
    let Some((first, _)) = values.first() else {
        return Ok(Datum::Null);
    };
    match first {
        Datum::Float32(_) | Datum::Float64(_) => {
            let count: i64 = values.iter().map(|(_, n)| n).sum();
            let total: f64 = values.iter().map(|(d, n)| float_of(d) * *n as f64).sum();
            Ok(Datum::float64(total / count as f64))
        }
        Datum::Interval(_) => {
            let count: i64 = values.iter().map(|(_, n)| n).sum();
            scale_interval(interval_sum(&values)?, 1.0 / count as f64).map(Datum::Interval)
        }
        _ => {
            let (total, count) = decimal_sum(&values)?;
            numeric_div(&total, &BigDecimal::from(count)).map(Datum::numeric)
        }
    }
}

fn undefined(name: &str, args: &[Operand]) -> TypeError {
    let types: Vec<&str> = args.iter().map(|a| operand_type(a).map(|t| t.name()).unwrap_or("unknown")).collect();
    TypeError::UndefinedFunction { name: name.to_string(), args: types.join(", ") }
}

/// Types the aggregate `name` (lower case) over `args`; `count(*)` arrives with no arguments.
pub fn plan_aggregate(name: &str, distinct: bool, args: Vec<Operand>) -> Result<AggregateExpr, TypeError> {
    let arg_type = args.first().map(operand_type);
    let func = match (name, args.len()) {
        ("count", 0) => {
            return Ok(AggregateExpr { func: AggregateFunc::Count, expr: ScalarExpr::literal_true(), distinct })
        }
        ("count", 1) => AggregateFunc::Count,
        ("sum", 1) => AggregateFunc::Sum,
        ("avg", 1) => AggregateFunc::Avg,
        ("min", 1) => AggregateFunc::Min,
        ("max", 1) => AggregateFunc::Max,
        ("bool_and" | "every", 1) => AggregateFunc::BoolAnd,
        ("bool_or", 1) => AggregateFunc::BoolOr,
        ("jsonb_agg", 1) => AggregateFunc::JsonbAgg,
        ("string_agg", 2) => AggregateFunc::StringAgg { delimiter: string_agg_delimiter(&args[1])? },
        _ => return Err(undefined(name, &args)),
    };
    let target = match (&func, arg_type.flatten()) {
        (AggregateFunc::Sum | AggregateFunc::Avg, None) => ScalarType::Float64,
        (AggregateFunc::Sum | AggregateFunc::Avg, Some(t)) if t.is_numeric() || t == ScalarType::Interval => t,
        (AggregateFunc::Sum | AggregateFunc::Avg, Some(_)) => return Err(undefined(name, &args)),
        (AggregateFunc::BoolAnd | AggregateFunc::BoolOr, None | Some(ScalarType::Bool)) => ScalarType::Bool,
        (AggregateFunc::BoolAnd | AggregateFunc::BoolOr, Some(_)) => return Err(undefined(name, &args)),
        (AggregateFunc::StringAgg { .. }, None | Some(ScalarType::Text)) => ScalarType::Text,
        (AggregateFunc::StringAgg { .. }, Some(_)) => return Err(undefined(name, &args)),
        // PostgreSQL has no min/max for these types.
        (AggregateFunc::Min | AggregateFunc::Max, Some(ScalarType::Bool | ScalarType::Jsonb | ScalarType::Bytes)) => {
            return Err(undefined(name, &args))
        }
        (_, Some(t)) => t,
        (_, None) => ScalarType::Text,
    };
    let arg = args.into_iter().next().ok_or_else(|| undefined(name, &[]))?;
    Ok(AggregateExpr { func, expr: coerce(arg, target)?.expr, distinct })
}

fn string_agg_delimiter(arg: &Operand) -> Result<String, TypeError> {
    match arg {
        Operand::Unknown(Some(s)) => Ok(s.clone()),
        // A constant expression (a literal, perhaps under a cast) is folded once here.
        Operand::Typed(t) if t.expr.is_constant() => match t.expr.eval(&[]) {
            Ok(Datum::Text(s)) => Ok(s),
            Ok(other) => Err(TypeError::DatatypeMismatch(format!("string_agg delimiter must be text, not {other:?}"))),
            Err(e) => Err(TypeError::InvalidLiteral(e)),
        },
        Operand::Typed(_) => Err(TypeError::Unsupported("string_agg with a non-constant delimiter".into())),
        Operand::Unknown(None) => Err(TypeError::Unsupported("string_agg with a NULL delimiter".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypedExpr;
    use std::str::FromStr;

    fn col(t: ScalarType) -> Operand {
        Operand::Typed(TypedExpr::new(ScalarExpr::Column(0), ColumnType::new(t, true)))
    }

    fn ints(values: &[i64]) -> Row {
        values.iter().map(|v| Datum::Int64(*v)).collect()
    }

    #[test]
    fn aggregates_see_consolidated_values_and_distinct_counts_once() {
        // One argument column per aggregate.
        let rows = [ints(&[5, 5]), ints(&[5, 5]), ints(&[7, 7])];
        let values = [(&rows[0], 2), (&rows[1], -1), (&rows[2], 3)];
        let funcs = [(AggregateFunc::Count, false), (AggregateFunc::Count, true)];
        let result = aggregate_group(ints(&[9]).datums(), &values, &funcs).unwrap();
        assert_eq!(result, ints(&[9, 4, 2]));
        let negative = [(&rows[0], -1)];
        assert!(aggregate_group(ints(&[9]).datums(), &negative, &funcs).is_err());
    }

    #[test]
    fn min_and_max_read_in_place_agree_with_the_general_path() {
        let rows = [
            Row::new(vec![Datum::Int64(4), Datum::text("b")]),
            Row::new(vec![Datum::Null, Datum::Null]),
            Row::new(vec![Datum::Int64(-2), Datum::text("a")]),
            Row::new(vec![Datum::Int64(9), Datum::Null]),
        ];
        let funcs = [(AggregateFunc::Min, false), (AggregateFunc::Max, false)];
        for take in 0..=rows.len() {
            let values: Vec<(&Row, Diff)> = rows.iter().take(take).map(|r| (r, 2)).collect();
            let general: Vec<Datum> = (0..2)
                .map(|i| {
                    let column = values.iter().map(|(r, n)| (r.datums()[i].clone(), *n)).collect::<Vec<_>>();
                    funcs[i].0.eval(&column).unwrap()
                })
                .collect();
            for column in 0..2 {
                let in_place = extreme_in_place(&funcs[column].0, &values, column);
                assert_eq!(in_place.as_ref(), Some(&general[column]), "{take} values, column {column}");
            }
        }
        let result = aggregate_group(ints(&[1]).datums(), &[(&rows[0], 1), (&rows[2], 3)], &funcs).unwrap();
        assert_eq!(result, Row::new(vec![Datum::Int64(1), Datum::Int64(-2), Datum::text("b")]));
        // A negative multiplicity takes the general path, which reports it.
        assert_eq!(extreme_in_place(&AggregateFunc::Max, &[(&rows[0], -1)], 0), None);
        assert!(aggregate_group(ints(&[1]).datums(), &[(&rows[0], 2), (&rows[3], -1)], &funcs).is_err());
        assert_eq!(extreme_in_place(&AggregateFunc::Sum, &[(&rows[0], 1)], 0), None);
    }

    fn show(d: Datum) -> String {
        freshet_repr::strconv::format_datum(&d).unwrap_or_else(|| "NULL".into())
    }

    #[test]
    fn count_weighs_multiplicities_and_skips_nulls() {
        let vals = [(Datum::Int32(1), 3), (Datum::Null, 2), (Datum::Int32(5), 1)];
        assert_eq!(AggregateFunc::Count.eval(&vals), Ok(Datum::Int64(4)));
        assert_eq!(AggregateFunc::Count.eval(&[(Datum::Null, 1)]), Ok(Datum::Int64(0)));
        assert_eq!(AggregateFunc::Count.default_value(), Datum::Int64(0));
        assert_eq!(AggregateFunc::Sum.default_value(), Datum::Null);
    }

    #[test]
    fn sum_types_and_overflow() {
        let vals = [(Datum::Int32(i32::MAX), 3), (Datum::Null, 1)];
        assert_eq!(AggregateFunc::Sum.eval(&vals), Ok(Datum::Int64(3 * i32::MAX as i64)));
        let big = [(Datum::Int64(i64::MAX), 2)];
        assert_eq!(show(AggregateFunc::Sum.eval(&big).unwrap()), "18446744073709551614");
        assert_eq!(AggregateFunc::Sum.eval(&[(Datum::Null, 4)]), Ok(Datum::Null));
        let num = |s| Datum::numeric(BigDecimal::from_str(s).unwrap());
        assert_eq!(show(AggregateFunc::Sum.eval(&[(num("1.5"), 2), (num("0.25"), 1)]).unwrap()), "3.25");
        assert_eq!(AggregateFunc::Sum.eval(&[(Datum::float64(0.5), 4)]), Ok(Datum::float64(2.0)));
        let t = |s| ColumnType::new(s, false);
        assert_eq!(AggregateFunc::Sum.output_type(t(ScalarType::Int32)).scalar_type, ScalarType::Int64);
        assert_eq!(AggregateFunc::Sum.output_type(t(ScalarType::Int64)).scalar_type, ScalarType::Numeric);
        assert_eq!(AggregateFunc::Sum.output_type(t(ScalarType::Float32)).scalar_type, ScalarType::Float32);
    }

    #[test]
    fn avg_min_max_bools() {
        let ints = [(Datum::Int32(1), 1), (Datum::Int32(2), 1), (Datum::Null, 5)];
        assert_eq!(show(AggregateFunc::Avg.eval(&ints).unwrap()), "1.5000000000000000");
        assert_eq!(
            AggregateFunc::Avg.eval(&[(Datum::float64(1.0), 1), (Datum::float64(2.0), 3)]),
            Ok(Datum::float64(1.75))
        );
        assert_eq!(AggregateFunc::Min.eval(&ints), Ok(Datum::Int32(1)));
        assert_eq!(AggregateFunc::Max.eval(&ints), Ok(Datum::Int32(2)));
        assert_eq!(AggregateFunc::Max.eval(&[(Datum::Null, 1)]), Ok(Datum::Null));
        let bools = [(Datum::Bool(true), 2), (Datum::Bool(false), 1), (Datum::Null, 1)];
        assert_eq!(AggregateFunc::BoolAnd.eval(&bools), Ok(Datum::Bool(false)));
        assert_eq!(AggregateFunc::BoolOr.eval(&bools), Ok(Datum::Bool(true)));
        assert_eq!(AggregateFunc::BoolOr.eval(&[(Datum::Null, 1)]), Ok(Datum::Null));
        let iv = |s| freshet_repr::strconv::parse_datum(s, ScalarType::Interval).unwrap();
        assert_eq!(show(AggregateFunc::Avg.eval(&[(iv("1 hour"), 1), (iv("2 hours"), 1)]).unwrap()), "01:30:00");
        assert_eq!(show(AggregateFunc::Sum.eval(&[(iv("1 day"), 2)]).unwrap()), "2 days");
    }

    #[test]
    fn string_and_jsonb_agg() {
        let agg = plan_aggregate("string_agg", false, vec![col(ScalarType::Text), Operand::Unknown(Some(", ".into()))]);
        let func = agg.unwrap().func;
        let vals = [(Datum::text("b"), 2), (Datum::text("a"), 1), (Datum::Null, 1)];
        assert_eq!(func.eval(&vals), Ok(Datum::text("a, b, b")));
        let sep = crate::func::plan_cast(
            Operand::Unknown(Some("|".into())),
            ScalarType::Text,
            crate::func::CastContext::Explicit,
        );
        let agg =
            plan_aggregate("string_agg", true, vec![col(ScalarType::Text), Operand::Typed(sep.unwrap())]).unwrap();
        assert_eq!(agg.func, AggregateFunc::StringAgg { delimiter: "|".into() });
        let dynamic = plan_aggregate("string_agg", false, vec![col(ScalarType::Text), col(ScalarType::Text)]);
        assert_eq!(dynamic.unwrap_err().sqlstate(), "0A000");
        let json = AggregateFunc::JsonbAgg.eval(&[(Datum::Int32(2), 1), (Datum::Null, 1)]).unwrap();
        assert_eq!(show(json), "[null, 2]");
    }

    #[test]
    fn planning_aggregates() {
        assert_eq!(plan_aggregate("count", true, vec![]).unwrap().expr, ScalarExpr::literal_true());
        let avg = plan_aggregate("avg", false, vec![col(ScalarType::Int32)]).unwrap();
        assert_eq!(avg.output_type(&[ColumnType::new(ScalarType::Int32, true)]).scalar_type, ScalarType::Numeric);
        assert_eq!(plan_aggregate("sum", false, vec![col(ScalarType::Text)]).unwrap_err().sqlstate(), "42883");
        assert_eq!(plan_aggregate("median", false, vec![col(ScalarType::Int32)]).unwrap_err().sqlstate(), "42883");
        assert!(plan_aggregate("bool_and", false, vec![col(ScalarType::Bool)]).is_ok());
        for t in [ScalarType::Bool, ScalarType::Jsonb, ScalarType::Bytes] {
            assert_eq!(plan_aggregate("max", false, vec![col(t)]).unwrap_err().sqlstate(), "42883");
        }
        assert!(plan_aggregate("min", false, vec![col(ScalarType::Interval)]).is_ok());
    }
}
