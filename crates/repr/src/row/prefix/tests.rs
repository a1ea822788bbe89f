//! The prefix's invariant, checked over every pair of a set of rows that exercises each variant,
//! integer edges, strings with NULs and rows that extend one another.

use std::cmp::Ordering;

use super::{decide, of, COMPLETE};
use crate::datum::{Interval, F64};
use crate::Datum;

fn datums() -> Vec<Datum> {
    let mut out = vec![Datum::Null, Datum::Bool(false), Datum::Bool(true)];
    let ints: [i64; 19] = [
        i64::MIN,
        i64::MIN + 1,
        -(1 << 40),
        -65_537,
        -65_536,
        -257,
        -256,
        -255,
        -2,
        -1,
        0,
        1,
        255,
        256,
        65_535,
        100_000,
        1 << 40,
        i64::MAX - 1,
        i64::MAX,
    ];
    for v in ints {
        out.push(Datum::Int64(v));
        out.push(Datum::Timestamp(v));
        if let Ok(v) = i32::try_from(v) {
            out.push(Datum::Int32(v));
            out.push(Datum::Date(v));
        }
        if let Ok(v) = i16::try_from(v) {
            out.push(Datum::Int16(v));
        }
    }
    for s in ["", "\0", "\0\0", "\0a", "a", "a\0", "a\0b", "a\u{1}", "ab", "abcdefghij", "abcdefghik", "b", "é"] {
        out.push(Datum::text(s));
        out.push(Datum::Bytes(s.as_bytes().to_vec()));
    }
    out.push(Datum::Bytes(vec![0xFF, 0]));
    for f in [-1.0, 0.0, -0.0, 2.5, f64::NAN] {
        out.push(Datum::Float64(F64(f)));
    }
    out.push(Datum::numeric("1.0".parse().unwrap()));
    out.push(Datum::numeric("1.00".parse().unwrap()));
    out.push(Datum::Jsonb(crate::Jsonb::parse("[1]").unwrap()));
    out.push(Datum::Interval(Interval { months: 1, days: 0, micros: 0 }));
    out.push(Datum::Interval(Interval { months: 0, days: 30, micros: 0 }));
    out.push(Datum::TimestampTz(-5));
    out
}

/// Rows of zero to three datums: every single datum, and pairs and triples drawn from a smaller
/// set so that the pairwise check stays quick.
fn rows() -> Vec<Vec<Datum>> {
    let all = datums();
    let few: Vec<Datum> = all.iter().step_by(5).cloned().collect();
    let mut rows = vec![vec![]];
    rows.extend(all.iter().map(|d| vec![d.clone()]));
    for a in &few {
        for b in &few {
            rows.push(vec![a.clone(), b.clone()]);
            rows.push(vec![a.clone(), b.clone(), Datum::Int64(7)]);
        }
    }
    rows
}

#[test]
fn ordered_rows_have_ordered_prefixes_and_equal_rows_equal_ones() {
    let rows = rows();
    let prefixes: Vec<u64> = rows.iter().map(|r| of(r) & !COMPLETE).collect();
    for (a, pa) in rows.iter().zip(&prefixes) {
        for (b, pb) in rows.iter().zip(&prefixes) {
            match a.cmp(b) {
                Ordering::Less => assert!(pa <= pb, "{a:?} < {b:?} but prefixes {pa:#x} > {pb:#x}"),
                Ordering::Equal => assert_eq!(pa, pb, "{a:?} == {b:?} but prefixes differ"),
                Ordering::Greater => assert!(pa >= pb, "{a:?} > {b:?} but prefixes {pa:#x} < {pb:#x}"),
            }
        }
    }
}

#[test]
fn whatever_the_prefixes_decide_is_the_rows_order() {
    let rows = rows();
    let prefixes: Vec<u64> = rows.iter().map(|r| of(r)).collect();
    let mut decided_equal = 0;
    for (a, pa) in rows.iter().zip(&prefixes) {
        for (b, pb) in rows.iter().zip(&prefixes) {
            if let Some(order) = decide(*pa, *pb) {
                assert_eq!(order, a.cmp(b), "{a:?} against {b:?}: prefixes {pa:#x} and {pb:#x}");
                decided_equal += usize::from(order.is_eq());
            }
        }
    }
    // Each complete row at least decides its comparison with itself.
    let complete = prefixes.iter().filter(|p| *p & COMPLETE != 0).count();
    assert!(
        complete > 100 && decided_equal >= complete,
        "{complete} complete rows, {decided_equal} equalities decided"
    );
}

#[test]
fn short_rows_are_complete_and_long_or_opaque_ones_are_not() {
    let complete = |datums: &[Datum]| of(datums) & COMPLETE != 0;
    assert!(complete(&[]));
    assert!(complete(&[Datum::Int64(100_000), Datum::Int64(1_234_567)]));
    assert!(complete(&[Datum::Null, Datum::text("abc")]));
    assert!(!complete(&[Datum::Int64(100_000), Datum::Int64(i64::MAX)]));
    assert!(!complete(&[Datum::text("abcdefgh")]));
    assert!(!complete(&[Datum::Float64(F64(1.0))]));
    assert!(!complete(&[Datum::Int64(1), Datum::Float64(F64(1.0))]));
}

#[test]
fn small_integer_keys_are_decided_by_the_prefix() {
    // A window start and a price, as in Nexmark's q7: both fit, so different keys differ here.
    let a = of(&[Datum::Int64(100_000), Datum::Int64(1_234_567)]);
    let b = of(&[Datum::Int64(100_000), Datum::Int64(1_234_568)]);
    assert!(a < b);
    let short = of(&[Datum::text("abc")]);
    let longer = of(&[Datum::text("abd")]);
    assert!(short < longer);
}

#[test]
fn no_prefix_is_the_unset_marker() {
    assert!(rows().iter().all(|r| of(r) != u64::MAX));
}
