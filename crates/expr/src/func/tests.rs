//! Tests of planning through the public entry points: operand resolution, promotion, NULL
//! semantics and the values the planned expressions compute.

use std::str::FromStr;

use bigdecimal::BigDecimal;
use freshet_repr::strconv::{format_datum, parse_datum};
use freshet_repr::{ColumnType, Datum, ScalarType};

use super::*;
use crate::ScalarExpr;

/// Column `i` of the test row: [int4, int8, text, jsonb, numeric, timestamp, bool, int4 NULL, float8].
fn col(i: usize) -> Operand {
    let types = [
        ScalarType::Int32,
        ScalarType::Int64,
        ScalarType::Text,
        ScalarType::Jsonb,
        ScalarType::Numeric,
        ScalarType::Timestamp,
        ScalarType::Bool,
        ScalarType::Int32,
        ScalarType::Float64,
    ];
    Operand::Typed(TypedExpr::new(ScalarExpr::Column(i), ColumnType::new(types[i], i == 7)))
}

fn row() -> Vec<Datum> {
    vec![
        Datum::Int32(5),
        Datum::Int64(10),
        Datum::text("hello"),
        Datum::Jsonb(freshet_repr::Jsonb::parse(r#"{"a": {"b": [1, 2]}, "k": "v"}"#).unwrap()),
        Datum::numeric(BigDecimal::from_str("2.50").unwrap()),
        parse_datum("2024-05-17 13:45:00", ScalarType::Timestamp).unwrap(),
        Datum::Bool(true),
        Datum::Null,
        Datum::float64(1.5),
    ]
}

fn lit(s: &str) -> Operand {
    Operand::Unknown(Some(s.to_string()))
}

fn null() -> Operand {
    Operand::Unknown(None)
}

fn int(v: i32) -> Operand {
    Operand::Typed(TypedExpr::literal(Datum::Int32(v), ScalarType::Int32))
}

fn eval(e: &TypedExpr) -> Datum {
    e.expr.eval(&row()).unwrap()
}

fn show(e: &TypedExpr) -> String {
    format_datum(&eval(e)).unwrap_or_else(|| "NULL".into())
}

fn op(o: BinaryOp, l: Operand, r: Operand) -> TypedExpr {
    plan_binary_op(o, l, r).unwrap()
}

fn call(name: &str, args: Vec<Operand>) -> TypedExpr {
    plan_function(name, args).unwrap()
}

#[test]
fn unknown_literals_take_the_other_sides_type() {
    let e = op(BinaryOp::Eq, col(0), lit("5"));
    assert_eq!(e.typ.scalar_type, ScalarType::Bool);
    assert_eq!(eval(&e), Datum::Bool(true));
    assert_eq!(plan_binary_op(BinaryOp::Eq, col(0), lit("abc")).unwrap_err().sqlstate(), "22P02");
    assert_eq!(eval(&op(BinaryOp::Lt, lit("a"), lit("b"))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::Gt, col(5), lit("2024-01-01"))), Datum::Bool(true));
    assert_eq!(show(&op(BinaryOp::JsonGetText, col(3), lit("k"))), "v");
}

#[test]
fn numeric_promotion_in_comparison_and_arithmetic() {
    let sum = op(BinaryOp::Plus, col(0), col(1));
    assert_eq!(sum.typ.scalar_type, ScalarType::Int64);
    assert_eq!(eval(&sum), Datum::Int64(15));
    let mixed = op(BinaryOp::Multiply, col(0), col(4));
    assert_eq!(mixed.typ.scalar_type, ScalarType::Numeric);
    assert_eq!(show(&mixed), "12.50");
    let float = op(BinaryOp::Plus, col(4), col(8));
    assert_eq!(float.typ.scalar_type, ScalarType::Float64);
    assert_eq!(eval(&float), Datum::float64(4.0));
    assert_eq!(eval(&op(BinaryOp::Eq, col(4), lit("2.5"))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::Lt, col(0), col(8))), Datum::Bool(false));
    let err = plan_binary_op(BinaryOp::Eq, col(0), col(2)).unwrap_err();
    assert_eq!(err.sqlstate(), "42883");
    assert_eq!(plan_binary_op(BinaryOp::Modulo, col(8), col(8)).unwrap_err().sqlstate(), "42883");
}

#[test]
fn division_errors_surface_at_eval() {
    let e = op(BinaryOp::Divide, col(0), int(0));
    assert_eq!(e.expr.eval(&row()).unwrap_err().sqlstate(), "22012");
    let big = Operand::Typed(TypedExpr::literal(Datum::Int32(i32::MAX), ScalarType::Int32));
    let e = op(BinaryOp::Plus, big, int(1));
    assert_eq!(e.expr.eval(&row()).unwrap_err().to_string(), "integer out of range");
}

#[test]
fn three_valued_logic_and_null_predicates() {
    let null_bool = || Operand::Typed(TypedExpr::literal(Datum::Null, ScalarType::Bool));
    let f = || lit("false");
    assert_eq!(eval(&op(BinaryOp::And, null_bool(), f())), Datum::Bool(false));
    assert_eq!(eval(&op(BinaryOp::And, null_bool(), lit("true"))), Datum::Null);
    assert_eq!(eval(&op(BinaryOp::Or, null_bool(), lit("true"))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::Or, null_bool(), f())), Datum::Null);
    assert_eq!(plan_binary_op(BinaryOp::And, col(0), f()).unwrap_err().sqlstate(), "42804");
    assert_eq!(eval(&plan_unary_op(UnaryOp::Not, null_bool()).unwrap()), Datum::Null);
    assert_eq!(eval(&plan_unary_op(UnaryOp::IsNull, col(7)).unwrap()), Datum::Bool(true));
    assert_eq!(eval(&plan_unary_op(UnaryOp::IsNotNull, null()).unwrap()), Datum::Bool(false));
    assert_eq!(eval(&plan_unary_op(UnaryOp::IsNotTrue, null_bool()).unwrap()), Datum::Bool(true));
    assert_eq!(eval(&plan_unary_op(UnaryOp::IsFalse, null_bool()).unwrap()), Datum::Bool(false));
    assert_eq!(eval(&op(BinaryOp::Eq, col(7), int(1))), Datum::Null);
    assert_eq!(eval(&op(BinaryOp::IsDistinctFrom, col(7), int(1))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::IsNotDistinctFrom, col(7), null())), Datum::Bool(true));
    let neg = plan_unary_op(UnaryOp::Neg, col(0)).unwrap();
    assert_eq!(eval(&neg), Datum::Int32(-5));
}

#[test]
fn concatenation_resolves_to_text_jsonb_or_bytea() {
    let e = op(BinaryOp::Concat, lit("a"), lit("b"));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Text, "ab".to_string()));
    assert_eq!(show(&op(BinaryOp::Concat, col(2), col(0))), "hello5");
    assert_eq!(show(&op(BinaryOp::Concat, col(6), lit("!"))), "true!");
    assert_eq!(eval(&op(BinaryOp::Concat, col(2), col(7))), Datum::Null);
    let j = op(BinaryOp::Concat, col(3), lit(r#"{"z": 1}"#));
    assert_eq!(j.typ.scalar_type, ScalarType::Jsonb);
    assert_eq!(plan_binary_op(BinaryOp::Concat, col(0), col(1)).unwrap_err().sqlstate(), "42883");
}

#[test]
fn like_and_regex_operators() {
    assert_eq!(eval(&op(BinaryOp::Like, col(2), lit("h%o"))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::NotLike, col(2), lit("h%o"))), Datum::Bool(false));
    assert_eq!(eval(&op(BinaryOp::ILike, col(2), lit("HE%"))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::NotRegexMatch, col(2), lit("^x"))), Datum::Bool(true));
    assert_eq!(plan_binary_op(BinaryOp::Like, col(0), lit("1%")).unwrap_err().sqlstate(), "42883");
}

#[test]
fn jsonb_operators_plan_their_key_types() {
    assert_eq!(show(&op(BinaryOp::JsonGetPathText, col(3), lit("{a,b,-1}"))), "2");
    let e = op(BinaryOp::JsonGet, Operand::Typed(op(BinaryOp::JsonGet, col(3), lit("a"))), lit("b"));
    assert_eq!(show(&op(BinaryOp::JsonGet, Operand::Typed(e), int(0))), "1");
    assert_eq!(eval(&op(BinaryOp::JsonContains, col(3), lit(r#"{"k": "v"}"#))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::JsonContainedBy, lit(r#"{"k": "v"}"#), col(3))), Datum::Bool(true));
    assert_eq!(eval(&op(BinaryOp::JsonHasKey, col(3), lit("a"))), Datum::Bool(true));
    assert!(op(BinaryOp::JsonGet, col(3), lit("zz")).typ.nullable);
    assert_eq!(
        show(&plan_cast(col(3), ScalarType::Text, CastContext::Explicit).unwrap()),
        r#"{"a": {"b": [1, 2]}, "k": "v"}"#
    );
}

#[test]
fn temporal_operators() {
    let e = op(BinaryOp::Plus, col(5), lit("1 day"));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Timestamp, "2024-05-18 13:45:00".to_string()));
    let d = Operand::Typed(TypedExpr::literal(parse_datum("2024-01-01", ScalarType::Date).unwrap(), ScalarType::Date));
    let e = op(BinaryOp::Plus, d.clone(), int(1));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Date, "2024-01-02".to_string()));
    let e = op(BinaryOp::Minus, d.clone(), lit("2023-12-25"));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Int32, "7".to_string()));
    assert_eq!(eval(&op(BinaryOp::Lt, d.clone(), col(5))), Datum::Bool(true));
    let e = op(BinaryOp::Plus, int(2), d);
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Date, "2024-01-03".to_string()));
    // As in PostgreSQL, `3 * '1 hour'` reads the literal as an integer; a typed interval works.
    assert_eq!(plan_binary_op(BinaryOp::Multiply, int(3), lit("1 hour")).unwrap_err().sqlstate(), "22P02");
    let hour = plan_cast(lit("1 hour"), ScalarType::Interval, CastContext::Explicit).unwrap();
    let e = op(BinaryOp::Multiply, int(3), Operand::Typed(hour));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Interval, "03:00:00".to_string()));
    let e = op(BinaryOp::Minus, col(5), lit("2024-05-17 00:00:00"));
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Interval, "13:45:00".to_string()));
}

#[test]
fn common_types() {
    use ScalarType::*;
    assert_eq!(common_type(&[Int32, Int64, Int16]), Ok(Int64));
    assert_eq!(common_type(&[Int32, Numeric]), Ok(Numeric));
    assert_eq!(common_type(&[Float32, Numeric]), Ok(Float32));
    assert_eq!(common_type(&[Date, TimestampTz]), Ok(TimestampTz));
    assert_eq!(common_type(&[Int32, Text]).unwrap_err().sqlstate(), "42804");
    let (exprs, t) = coerce_to_common(vec![null(), lit("x")]).unwrap();
    assert_eq!((exprs.len(), t), (2, Text));
    let (_, t) = coerce_to_common(vec![lit("1"), col(1), col(0)]).unwrap();
    assert_eq!(t, Int64);
}

#[test]
fn null_handling_functions() {
    let e = call("coalesce", vec![col(7), lit("3")]);
    assert_eq!((e.typ, eval(&e)), (ColumnType::new(ScalarType::Int32, false), Datum::Int32(3)));
    assert_eq!(eval(&call("nullif", vec![col(0), int(5)])), Datum::Null);
    assert_eq!(eval(&call("nullif", vec![col(0), null()])), Datum::Int32(5));
    assert_eq!(eval(&call("greatest", vec![col(0), col(7), col(1)])), Datum::Int64(10));
    assert_eq!(eval(&call("least", vec![col(7), col(0)])), Datum::Int32(5));
    assert_eq!(eval(&call("greatest", vec![col(7), null()])), Datum::Null);
}

#[test]
fn string_function_calls() {
    assert_eq!(show(&call("upper", vec![col(2)])), "HELLO");
    assert_eq!(eval(&call("length", vec![col(2)])), Datum::Int32(5));
    assert_eq!(show(&call("substr", vec![col(2), int(2), int(3)])), "ell");
    assert_eq!(show(&call("substring", vec![col(2), lit("3")])), "llo");
    assert_eq!(show(&call("concat", vec![col(2), col(7), col(0), lit("!")])), "hello5!");
    assert_eq!(show(&call("concat_ws", vec![lit("-"), col(0), col(2)])), "5-hello");
    assert_eq!(show(&call("trim", vec![lit("  x  ")])), "x");
    assert_eq!(show(&call("position", vec![col(2), lit("ll")])), "3");
    assert_eq!(show(&call("md5", vec![lit("")])), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(show(&call("left", vec![col(2), int(2)])), "he");
    assert_eq!(plan_function("concat", vec![]).unwrap_err().sqlstate(), "42883");
    assert_eq!(
        show(&call(
            "concat",
            vec![
                lit("a"),
                Operand::Unknown(None),
                Operand::Typed(TypedExpr::literal(Datum::Bool(true), ScalarType::Bool))
            ]
        )),
        "at"
    );
    assert_eq!(
        show(&call(
            "concat_ws",
            vec![lit(","), Operand::Typed(TypedExpr::literal(Datum::Bool(false), ScalarType::Bool)), col(0)]
        )),
        "f,5"
    );
    let err = plan_function("lower", vec![col(0)]).unwrap_err();
    assert_eq!((err.sqlstate(), err.to_string()), ("42883", "function lower(integer) does not exist".to_string()));
    assert_eq!(plan_function("no_such_fn", vec![]).unwrap_err().sqlstate(), "42883");
    assert_eq!(show(&call("pg_typeof", vec![col(1)])), "bigint");
    assert_eq!(show(&call("pg_typeof", vec![lit("x")])), "unknown");
}

#[test]
fn math_function_calls() {
    let r = call("round", vec![col(0)]);
    assert_eq!(r.typ.scalar_type, ScalarType::Float64);
    let r = call("round", vec![col(4)]);
    assert_eq!((r.typ.scalar_type, show(&r)), (ScalarType::Numeric, "3".to_string()));
    assert_eq!(show(&call("round", vec![col(4), int(1)])), "2.5");
    assert_eq!(eval(&call("abs", vec![int(-3)])), Datum::Int32(3));
    assert_eq!(eval(&call("mod", vec![col(1), int(4)])), Datum::Int64(2));
    assert_eq!(eval(&call("power", vec![int(2), int(3)])), Datum::float64(8.0));
    assert_eq!(eval(&call("sqrt", vec![lit("16")])), Datum::float64(4.0));
    assert_eq!(call("ln", vec![int(0)]).expr.eval(&row()).unwrap_err().sqlstate(), "2201E");
}

#[test]
fn jsonb_bytes_and_datetime_calls() {
    assert_eq!(show(&call("jsonb_typeof", vec![col(3)])), "object");
    assert_eq!(
        show(&call("jsonb_build_object", vec![lit("n"), col(0), lit("t"), col(2)])),
        r#"{"n": 5, "t": "hello"}"#
    );
    assert_eq!(show(&call("to_jsonb", vec![col(4)])), "2.5");
    assert_eq!(show(&call("jsonb_build_array", vec![col(7), lit("x")])), r#"[null, "x"]"#);
    assert_eq!(plan_function("jsonb_build_object", vec![lit("a")]).unwrap_err().sqlstate(), "22023");
    let bytes = call("convert_to", vec![col(2), lit("UTF8")]);
    assert_eq!(bytes.typ.scalar_type, ScalarType::Bytes);
    assert_eq!(show(&call("convert_from", vec![Operand::Typed(bytes.clone()), lit("utf8")])), "hello");
    assert_eq!(show(&call("encode", vec![Operand::Typed(bytes.clone()), lit("hex")])), "68656c6c6f");
    assert_eq!(eval(&call("length", vec![Operand::Typed(bytes)])), Datum::Int32(5));
    assert_eq!(show(&call("date_trunc", vec![lit("hour"), col(5)])), "2024-05-17 13:00:00");
    let e = call("extract", vec![lit("minute"), col(5)]);
    assert_eq!((e.typ.scalar_type, show(&e)), (ScalarType::Numeric, "45".to_string()));
    let e = call("date_part", vec![lit("year"), col(5)]);
    assert_eq!(eval(&e), Datum::float64(2024.0));
    assert_eq!(show(&call("to_timestamp", vec![int(0)])), "1970-01-01 00:00:00+00");
    assert_eq!(show(&call("to_char", vec![col(5), lit("YYYY/MM/DD HH24h")])), "2024/05/17 13h");
    let age = call("age", vec![col(5), lit("2024-05-01 13:45:00")]);
    assert_eq!((age.typ.scalar_type, show(&age)), (ScalarType::Interval, "16 days".to_string()));
}

#[test]
fn single_row_check_raises_21000_only_when_told() {
    let check = VariadicFunc::SingleRowCheck;
    assert_eq!(check.eval_datums(vec![Datum::Bool(false), Datum::Int32(7)]), Ok(Datum::Int32(7)));
    assert_eq!(check.eval_datums(vec![Datum::Null, Datum::Null]), Ok(Datum::Null));
    let err = check.eval_datums(vec![Datum::Bool(true), Datum::Int32(7)]).unwrap_err();
    assert_eq!(err, freshet_repr::EvalError::MultipleRowsFromSubquery);
}

#[test]
fn comparisons_of_borrowed_columns_agree_with_evaluated_values() {
    let row = vec![Datum::Text("or".into()), Datum::Text("ca".into()), Datum::Null, Datum::Int64(3)];
    let operands = [
        ScalarExpr::Column(0),
        ScalarExpr::Column(1),
        ScalarExpr::Column(2),
        ScalarExpr::Literal(Datum::Text("or".into()), ScalarType::Text),
        ScalarExpr::Literal(Datum::Null, ScalarType::Text),
        // Computed, so evaluated and owned.
        ScalarExpr::Column(0).call_unary(UnaryFunc::Upper),
    ];
    let ops = [BinaryFunc::Eq, BinaryFunc::NotEq, BinaryFunc::Lt, BinaryFunc::Lte, BinaryFunc::Gt, BinaryFunc::Gte];
    for op in ops {
        for a in &operands {
            for b in &operands {
                let expr = a.clone().call_binary(b.clone(), op.clone());
                let expected = op.eval_datums(a.eval(&row).unwrap(), b.eval(&row).unwrap()).unwrap();
                assert_eq!(expr.eval(&row).unwrap(), expected, "{expr:?}");
            }
        }
    }
    for (column, null) in [(0, false), (2, true)] {
        let is_null = ScalarExpr::Column(column).call_unary(UnaryFunc::IsNull);
        let is_not_null = ScalarExpr::Column(column).call_unary(UnaryFunc::IsNotNull);
        assert_eq!(is_null.eval(&row).unwrap(), Datum::Bool(null));
        assert_eq!(is_not_null.eval(&row).unwrap(), Datum::Bool(!null));
    }
    let out_of_range = ScalarExpr::Column(9).call_binary(ScalarExpr::Column(0), BinaryFunc::Eq);
    assert!(out_of_range.eval(&row).is_err());
}
