use freshet_repr::{Datum, EvalError, Row, ScalarType};

use super::HoistedPipeline;
use crate::func::{BinaryFunc, UnaryFunc};
use crate::mfp::{MapFilterProject, RowStep};
use crate::{RowPipeline, ScalarExpr};

fn col(i: usize) -> ScalarExpr {
    ScalarExpr::Column(i)
}

fn int(v: i64) -> ScalarExpr {
    ScalarExpr::Literal(Datum::Int64(v), ScalarType::Int64)
}

fn call(a: ScalarExpr, func: BinaryFunc, b: ScalarExpr) -> ScalarExpr {
    a.call_binary(b, func)
}

fn pipeline(steps: Vec<RowStep>, arity: usize) -> RowPipeline {
    MapFilterProject { steps }.compile(arity)
}

fn ints(values: &[i64]) -> Vec<Datum> {
    values.iter().map(|v| Datum::Int64(*v)).collect()
}

/// Every row through the hoisted pipeline, with values computed per part as a flat map would,
/// against the plain pipeline.
fn assert_same(plain: &RowPipeline, hoisted: &HoistedPipeline, outer_width: usize, rows: &[Vec<Datum>]) {
    let mut values = Vec::new();
    // One row reused for every result, as a flat map feeding an aggregation uses it.
    let mut out = Row::default();
    for row in rows {
        let outer = hoisted.outer_values(&row[..outer_width], &mut values).then_some(values.as_slice());
        let inner = hoisted.inner_values(row);
        let got = hoisted.apply_into(row, outer, inner.as_deref(), &mut out).map(|kept| kept.then(|| out.clone()));
        assert_eq!(got, plain.apply(row), "row {row:?}");
    }
}

#[test]
fn hopping_window_arithmetic_is_split_by_part_and_agrees_with_the_plain_steps() {
    // [auction, date_time | k] -> (auction, date_time / 2000 * 2000 - (k * 2000)::bigint), as in q5.
    let last = call(call(col(1), BinaryFunc::Div, int(2000)), BinaryFunc::Mul, int(2000));
    let shift = call(col(2), BinaryFunc::Mul, ScalarExpr::Literal(Datum::Int32(2000), ScalarType::Int32))
        .call_unary(UnaryFunc::Cast { from: ScalarType::Int32, to: ScalarType::Int64 });
    let start = call(last.clone(), BinaryFunc::Sub, shift.clone());
    let plain = pipeline(vec![RowStep::Map(vec![start]), RowStep::Project(vec![0, 3])], 3);
    let hoisted = HoistedPipeline::new(&plain, 2, true).expect("both parts hoist");
    let (outer, inner): (Vec<_>, Vec<_>) = (hoisted.outer.exprs().collect(), hoisted.inner.exprs().collect());
    assert_eq!((outer, inner), (vec![&last], vec![&shift]));
    // date_time is read only through its hoisted window; the plain steps read every column.
    assert_eq!(hoisted.direct_outer_columns(), [0]);
    assert_eq!(plain.input_columns(), [0, 1, 2]);
    let rows: Vec<Vec<Datum>> = (0..5).map(|k| vec![Datum::Int64(7), Datum::Int64(123_456), Datum::Int32(k)]).collect();
    assert_same(&plain, &hoisted, 2, &rows);
    // Without inner hoisting only the outer part is taken out.
    let outer_only = HoistedPipeline::new(&plain, 2, false).unwrap();
    assert!(outer_only.inner.is_empty() && outer_only.outer.len() == 1);
    assert_same(&plain, &outer_only, 2, &rows);
    // An overflowing shift: the inner value fails, the row goes the plain way, with its error.
    let overflow = vec![Datum::Int64(7), Datum::Int64(1), Datum::Int32(i32::MAX)];
    assert!(hoisted.inner_values(&overflow).is_none());
    assert!(matches!(plain.apply(&overflow), Err(EvalError::NumericOutOfRange(_))));
    assert_same(&plain, &hoisted, 2, &[overflow]);
}

#[test]
fn a_failing_hoisted_value_under_a_condition_changes_nothing() {
    // CASE WHEN k > 0 THEN 10 / a ELSE -1 END over [a | k]: with a = 0 the hoisted 10 / a fails,
    // yet rows with k <= 0 never evaluated it.
    let divide = call(int(10), BinaryFunc::Div, col(0));
    let case = ScalarExpr::If {
        cond: Box::new(call(col(1), BinaryFunc::Gt, int(0))),
        then: Box::new(divide.clone()),
        els: Box::new(int(-1)),
    };
    let plain = pipeline(vec![RowStep::Map(vec![case]), RowStep::Project(vec![2])], 2);
    let hoisted = HoistedPipeline::new(&plain, 1, true).unwrap();
    assert_eq!(hoisted.outer.exprs().collect::<Vec<_>>(), [&divide]);
    let mut values = vec![Datum::Int64(1)];
    assert!(!hoisted.outer_values(&ints(&[0]), &mut values) && values.is_empty());
    let rows = [ints(&[0, 0]), ints(&[0, 1]), ints(&[5, 1]), ints(&[5, 0])];
    assert_eq!(plain.apply(&rows[0]), Ok(Some(ints(&[-1]).into())));
    assert_eq!(plain.apply(&rows[1]), Err(EvalError::DivisionByZero));
    assert_same(&plain, &hoisted, 1, &rows);
}

#[test]
fn filters_hoist_and_shared_subexpressions_are_evaluated_once() {
    // WHERE a * 3 > 10, then (a * 3 + k, a * 3) over [a | k].
    let triple = call(col(0), BinaryFunc::Mul, int(3));
    let plain = pipeline(
        vec![
            RowStep::Filter(vec![call(triple.clone(), BinaryFunc::Gt, int(10))]),
            RowStep::Map(vec![call(triple.clone(), BinaryFunc::Add, col(1)), triple.clone()]),
            RowStep::Project(vec![2, 3]),
        ],
        2,
    );
    let hoisted = HoistedPipeline::new(&plain, 1, true).unwrap();
    // The whole filter is one outer value; the triple appears once, whatever its number of uses.
    assert_eq!(hoisted.outer.len(), 2);
    assert!(hoisted.inner.is_empty());
    assert_same(&plain, &hoisted, 1, &[ints(&[1, 1]), ints(&[4, 2]), ints(&[4, -2])]);
}

#[test]
fn nothing_to_hoist_is_none() {
    // Reads of bare columns and expressions over both parts stay as they are.
    let plain = pipeline(vec![RowStep::Map(vec![call(col(0), BinaryFunc::Add, col(1)), col(0)])], 2);
    assert!(HoistedPipeline::new(&plain, 1, true).is_none());
}
