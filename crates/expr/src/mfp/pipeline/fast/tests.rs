//! The fast path against the general evaluation, over every operator and edge value.

use freshet_repr::{Datum, ScalarType};

use super::{Fast, Stop};
use crate::func::BinaryFunc;
use crate::ScalarExpr;

fn col(slot: usize) -> ScalarExpr {
    ScalarExpr::Column(slot)
}

fn int(value: i64) -> ScalarExpr {
    ScalarExpr::Literal(Datum::Int64(value), ScalarType::Int64)
}

const EDGES: [i64; 9] = [i64::MIN, i64::MIN + 1, -10_001, -1, 0, 1, 7, 10_000, i64::MAX];

/// Every pair of edge values and NULL, as rows of two slots.
fn rows() -> Vec<Vec<Datum>> {
    let values: Vec<Datum> = EDGES.iter().map(|v| Datum::Int64(*v)).chain([Datum::Null]).collect();
    values.iter().flat_map(|a| values.iter().map(move |b| vec![a.clone(), b.clone()])).collect()
}

/// `expr` compiles to a fast form that agrees with the general evaluation on every row.
fn agrees(expr: &ScalarExpr) {
    let fast = Fast::compile(expr).unwrap_or_else(|| panic!("{expr:?} has no fast form"));
    for row in rows() {
        let general = expr.eval(&row);
        let got = match fast.eval(row.as_slice()) {
            Ok(datum) => Ok(datum),
            Err(Stop::Error(error)) => Err(error),
            Err(Stop::NotBigint) => panic!("{expr:?} over {row:?} left the fast path"),
        };
        assert_eq!(got, general, "{expr:?} over {row:?}");
    }
}

#[test]
fn arithmetic_and_comparisons_agree_with_the_general_evaluation() {
    let arithmetic = [BinaryFunc::Add, BinaryFunc::Sub, BinaryFunc::Mul, BinaryFunc::Div, BinaryFunc::Mod];
    let comparisons =
        [BinaryFunc::Eq, BinaryFunc::NotEq, BinaryFunc::Lt, BinaryFunc::Lte, BinaryFunc::Gt, BinaryFunc::Gte];
    for func in arithmetic.iter().chain(&comparisons) {
        agrees(&col(0).call_binary(col(1), func.clone()));
    }
    // Nested, with literals: window starts, and an error on the left before a NULL on the right.
    let window = col(0).call_binary(int(10_000), BinaryFunc::Div).call_binary(int(10_000), BinaryFunc::Mul);
    agrees(&window);
    agrees(&window.clone().call_binary(col(1), BinaryFunc::Sub));
    agrees(&col(0).call_binary(int(123), BinaryFunc::Mod).call_binary(int(0), BinaryFunc::Eq));
    agrees(&col(0).call_binary(int(0), BinaryFunc::Div).call_binary(col(1), BinaryFunc::Add));
    agrees(&window.call_binary(col(1).call_binary(int(2), BinaryFunc::Mul), BinaryFunc::Gte));
}

#[test]
fn only_bigint_arithmetic_has_a_fast_form_and_other_values_leave_it() {
    assert!(Fast::compile(&col(0)).is_none(), "a bare slot is a copy");
    assert!(Fast::compile(&int(1)).is_none());
    let text = ScalarExpr::Literal(Datum::text("x"), ScalarType::Text);
    assert!(Fast::compile(&col(0).call_binary(text, BinaryFunc::Eq)).is_none());
    assert!(Fast::compile(&col(0).call_binary(col(1), BinaryFunc::TextConcat)).is_none());
    // A slot of another type at run time: the general evaluation takes over.
    let fast = Fast::compile(&col(0).call_binary(int(1), BinaryFunc::Add)).unwrap();
    assert!(matches!(fast.eval([Datum::Int32(1)].as_slice()), Err(Stop::NotBigint)));
    assert!(matches!(fast.eval([].as_slice()), Err(Stop::NotBigint)));
}
