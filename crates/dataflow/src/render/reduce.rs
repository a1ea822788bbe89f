//! Rendering of grouped aggregation (`Reduce`) and per-group ranking (`TopK`).
//!
//! Group keys and aggregate arguments are evaluated before grouping, so evaluation errors land in
//! the error collection. Inside a group, each aggregate sees each distinct argument value with its
//! multiplicity (multiplicity 1 for DISTINCT aggregates), as `AggregateFunc::eval` expects.

use std::cmp::Ordering;

use differential_dataflow::{AsCollection, VecCollection};
use freshet_expr::relation::ColumnOrder;
use freshet_expr::AggregateFunc;
use freshet_repr::{DataflowError, Datum, Diff, EvalError, Row, Timestamp};
use timely::dataflow::operators::OkErr as _;

use super::Rendered;

type Keyed<'s> = VecCollection<'s, Timestamp, (Row, Row), Diff>;

/// Groups rows of `[key..., argument...]` (the first `key_arity` columns are the group key) and
/// computes one aggregate `(function, distinct)` per argument column: output rows are the key
/// columns, then the aggregates.
pub fn render_reduce(input: Rendered<'_>, key_arity: usize, funcs: Vec<(AggregateFunc, bool)>) -> Rendered<'_> {
    let keyed: Keyed<'_> = input.ok.map(move |row| row.split_at(key_arity));
    let reduced =
        keyed.reduce(move |key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Result<Row, DataflowError>, Diff)>| {
            out.push((aggregate(key, values, &funcs), 1));
        });
    let (ok, agg_err) = reduced.inner.ok_err::<Vec<_>, _, Vec<_>, _, _>(
        |((_key, result), time, diff): ((Row, Result<Row, DataflowError>), Timestamp, Diff)| match result {
            Ok(row) => Ok((row, time, diff)),
            Err(error) => Err((error, time, diff)),
        },
    );
    Rendered { ok: ok.as_collection(), err: input.err.concat(agg_err.as_collection()) }
}

/// One group's output row: its key, then each aggregate over the group's argument values.
fn aggregate(key: &Row, values: &[(&Row, Diff)], funcs: &[(AggregateFunc, bool)]) -> Result<Row, DataflowError> {
    let mut datums = key.datums().to_vec();
    for (index, (func, distinct)) in funcs.iter().enumerate() {
        let column = values.iter().map(|(args, diff)| (args.get(index).cloned().unwrap_or(Datum::Null), *diff));
        let mut column = consolidate(column.collect())?;
        if *distinct {
            column.iter_mut().for_each(|(_, diff)| *diff = 1);
        }
        datums.push(func.eval(&column)?);
    }
    Ok(Row::new(datums))
}

/// Sums the multiplicities of equal values; a negative total means the input retracted rows it
/// never had, which we report instead of aggregating nonsense.
fn consolidate(mut values: Vec<(Datum, Diff)>) -> Result<Vec<(Datum, Diff)>, DataflowError> {
    values.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Datum, Diff)> = Vec::with_capacity(values.len());
    for (datum, diff) in values {
        match out.last_mut() {
            Some((last, total)) if *last == datum => *total += diff,
            _ => out.push((datum, diff)),
        }
    }
    out.retain(|(_, diff)| *diff != 0);
    if out.iter().any(|(_, diff)| *diff < 0) {
        return Err(EvalError::Internal("negative multiplicity in aggregate input".into()).into());
    }
    Ok(out)
}

/// Which rows of each group a `TopK` keeps.
pub struct TopKSpec {
    pub group_key: Vec<usize>,
    pub order_by: Vec<ColumnOrder>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// Per group, the rows ranked `offset..offset+limit` by `order_by`.
pub fn render_top_k(input: Rendered<'_>, spec: TopKSpec) -> Rendered<'_> {
    let TopKSpec { group_key, order_by, limit, offset } = spec;
    let keyed = input.ok.map(move |row| {
        let key: Row = group_key.iter().map(|&i| row.get(i).cloned().unwrap_or(Datum::Null)).collect();
        (key, row)
    });
    let ok = keyed
        .reduce(move |_key: &Row, rows: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            top_k(rows, &order_by, limit, offset, out)
        })
        .map(|(_key, row)| row);
    Rendered { ok, err: input.err }
}

fn top_k(
    rows: &[(&Row, Diff)],
    order_by: &[ColumnOrder],
    limit: Option<usize>,
    offset: usize,
    out: &mut Vec<(Row, Diff)>,
) {
    let mut rows: Vec<(&Row, Diff)> = rows.iter().filter(|(_, diff)| *diff > 0).copied().collect();
    rows.sort_by(|a, b| compare_rows(a.0, b.0, order_by));
    let mut skip = offset;
    let mut remaining = limit.unwrap_or(usize::MAX);
    for (row, count) in rows {
        if remaining == 0 {
            break;
        }
        let count = usize::try_from(count).unwrap_or(0);
        let skipped = skip.min(count);
        skip -= skipped;
        let taken = (count - skipped).min(remaining);
        remaining -= taken;
        if taken > 0 {
            out.push((row.clone(), Diff::try_from(taken).unwrap_or(Diff::MAX)));
        }
    }
}

/// Orders rows by the ORDER BY terms, then by the whole row so that ties rank deterministically.
pub fn compare_rows(a: &Row, b: &Row, order_by: &[ColumnOrder]) -> Ordering {
    for order in order_by {
        let (x, y) = (a.get(order.column).unwrap_or(&Datum::Null), b.get(order.column).unwrap_or(&Datum::Null));
        let ordering = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => nulls_ordering(order.nulls_last),
            (false, true) => nulls_ordering(order.nulls_last).reverse(),
            (false, false) if order.desc => y.cmp(x),
            (false, false) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.cmp(b)
}

fn nulls_ordering(nulls_last: bool) -> Ordering {
    if nulls_last {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Row {
        values.iter().map(|v| Datum::Int64(*v)).collect()
    }

    #[test]
    fn rows_order_by_terms_with_nulls_placed_as_asked() {
        let null = Row::new(vec![Datum::Null]);
        let one = ints(&[1]);
        let two = ints(&[2]);
        let asc_nulls_last = [ColumnOrder { column: 0, desc: false, nulls_last: true }];
        let desc_nulls_first = [ColumnOrder { column: 0, desc: true, nulls_last: false }];
        let mut rows = vec![&two, &null, &one];
        rows.sort_by(|a, b| compare_rows(a, b, &asc_nulls_last));
        assert_eq!(rows, vec![&one, &two, &null]);
        rows.sort_by(|a, b| compare_rows(a, b, &desc_nulls_first));
        assert_eq!(rows, vec![&null, &two, &one]);
    }

    #[test]
    fn top_k_counts_copies_against_offset_and_limit() {
        let (a, b, c) = (ints(&[1]), ints(&[2]), ints(&[3]));
        let input = [(&a, 2), (&b, 3), (&c, 1)];
        let order = [ColumnOrder { column: 0, desc: false, nulls_last: true }];
        let mut out = Vec::new();
        top_k(&input, &order, Some(3), 1, &mut out);
        assert_eq!(out, vec![(a.clone(), 1), (b.clone(), 2)]);
        out.clear();
        top_k(&input, &order, Some(0), 0, &mut out);
        assert!(out.is_empty());
        out.clear();
        top_k(&input, &order, None, 5, &mut out);
        assert_eq!(out, vec![(c, 1)]);
    }

    #[test]
    fn aggregates_see_consolidated_values_and_distinct_counts_once() {
        // One argument column per aggregate.
        let rows = [ints(&[5, 5]), ints(&[5, 5]), ints(&[7, 7])];
        let values = [(&rows[0], 2), (&rows[1], -1), (&rows[2], 3)];
        let funcs = [(AggregateFunc::Count, false), (AggregateFunc::Count, true)];
        let result = aggregate(&ints(&[9]), &values, &funcs).unwrap();
        assert_eq!(result, ints(&[9, 4, 2]));
        let negative = [(&rows[0], -1)];
        assert!(aggregate(&ints(&[9]), &negative, &funcs).is_err());
    }
}
