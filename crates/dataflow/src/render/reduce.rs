//! Rendering of grouped aggregation (`Reduce`) and per-group ranking (`TopK`).
//!
//! Group keys and aggregate arguments are evaluated before grouping, so evaluation errors land in
//! the error collection. Inside a group, each aggregate sees each distinct argument value with its
//! multiplicity (multiplicity 1 for DISTINCT aggregates), as `AggregateFunc::eval` expects.

use std::cmp::Ordering;

use differential_dataflow::VecCollection;
use freshet_expr::agg::aggregate_group;
use freshet_expr::relation::ColumnOrder;
use freshet_expr::AggregateFunc;
use freshet_repr::{DataflowError, Datum, Diff, Row, Timestamp};

use super::grouped::reduce;
use super::{fork_collection, Key, Rendered};

type Keyed<'s> = VecCollection<'s, Timestamp, (Key, Row), Diff>;

/// Groups rows of `[key..., argument...]` (the first `key_arity` columns are the group key) and
/// computes one aggregate `(function, distinct)` per argument column: output rows are the key
/// columns, then the aggregates.
pub fn render_reduce(input: Rendered<'_>, key_arity: usize, funcs: Vec<(AggregateFunc, bool)>) -> Rendered<'_> {
    let keyed: Keyed<'_> = input.ok.map(move |row| Key::split(row, key_arity));
    let reduced = reduce(keyed, "Reduce", move |key: &Key, values: &[(&Row, Diff)], out| {
        let group = key.with_datums(|key| aggregate_group(key, values, &funcs));
        out.push((group.map_err(DataflowError::from), 1));
    });
    type Reduced = ((Key, Result<Row, DataflowError>), Timestamp, Diff);
    let (ok, agg_err) = fork_collection(reduced.inner, "AggregateOutput", |batch: &mut Vec<Reduced>, out| {
        for ((_key, result), time, diff) in batch.drain(..) {
            out.result(result, time, diff);
        }
    });
    Rendered { ok, err: input.err.concat(agg_err) }
}

/// Which rows of each group a `TopK` keeps.
pub struct TopKSpec {
    pub group_key: Vec<usize>,
    pub order_by: Vec<ColumnOrder>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// Also keep the rows that rank equal, by `order_by`, to the last one kept.
    pub with_ties: bool,
}

/// Per group, the rows ranked `offset..offset+limit` by `order_by`.
pub fn render_top_k(input: Rendered<'_>, spec: TopKSpec) -> Rendered<'_> {
    let TopKSpec { group_key, order_by, limit, offset, with_ties } = spec;
    let keyed = input.ok.map(move |row| (Key::project(&row, &group_key), row));
    let ok = reduce(keyed, "TopK", move |_key: &Key, rows: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
        if limit == Some(1) && offset == 0 {
            first_ranked(rows, &order_by, with_ties, out)
        } else {
            top_k(rows, &order_by, Ranks { limit, offset, with_ties }, out)
        }
    })
    .map(|(_key, row)| row);
    Rendered { ok, err: input.err }
}

/// Which ranks a `TopK` keeps.
#[derive(Clone, Copy)]
struct Ranks {
    limit: Option<usize>,
    offset: usize,
    with_ties: bool,
}

fn top_k(rows: &[(&Row, Diff)], order_by: &[ColumnOrder], ranks: Ranks, out: &mut Vec<(Row, Diff)>) {
    let mut rows: Vec<(&Row, Diff)> = rows.iter().filter(|(_, diff)| *diff > 0).copied().collect();
    rows.sort_by(|a, b| compare_rows(a.0, b.0, order_by));
    let mut skip = ranks.offset;
    let mut remaining = ranks.limit.unwrap_or(usize::MAX);
    let mut last_kept: Option<&Row> = None;
    for (row, count) in rows {
        if remaining == 0 {
            let tied = last_kept.is_some_and(|last| compare_terms(last, row, order_by) == Ordering::Equal);
            if !(ranks.with_ties && tied) {
                break;
            }
            out.push((row.clone(), count));
            continue;
        }
        let count = usize::try_from(count).unwrap_or(0);
        let skipped = skip.min(count);
        skip -= skipped;
        let mut taken = (count - skipped).min(remaining);
        remaining -= taken;
        if taken > 0 {
            if remaining == 0 && ranks.with_ties {
                // The row's other copies rank equal to the last one kept.
                taken = count - skipped;
            }
            out.push((row.clone(), Diff::try_from(taken).unwrap_or(Diff::MAX)));
            last_kept = Some(row);
        }
    }
}

/// The first-ranked row of a group (once), or with ties every row ranked first (with all its
/// copies): one pass instead of sorting the group.
fn first_ranked(rows: &[(&Row, Diff)], order_by: &[ColumnOrder], with_ties: bool, out: &mut Vec<(Row, Diff)>) {
    let present = rows.iter().filter(|(_, diff)| *diff > 0);
    if !with_ties {
        if let Some((row, _)) = present.min_by(|a, b| compare_rows(a.0, b.0, order_by)) {
            out.push(((*row).clone(), 1));
        }
        return;
    }
    let Some((first, _)) = present.clone().min_by(|a, b| compare_terms(a.0, b.0, order_by)) else { return };
    for (row, count) in present {
        if compare_terms(first, row, order_by) == Ordering::Equal {
            out.push(((*row).clone(), *count));
        }
    }
}

/// Orders rows by the ORDER BY terms, then by the whole row so that ties rank deterministically.
pub fn compare_rows(a: &Row, b: &Row, order_by: &[ColumnOrder]) -> Ordering {
    compare_terms(a, b, order_by).then_with(|| a.cmp(b))
}

/// Orders rows by the ORDER BY terms alone: rows it finds equal are peers.
fn compare_terms(a: &Row, b: &Row, order_by: &[ColumnOrder]) -> Ordering {
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
    Ordering::Equal
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
        let ranks = |limit, offset| Ranks { limit, offset, with_ties: false };
        top_k(&input, &order, ranks(Some(3), 1), &mut out);
        assert_eq!(out, vec![(a.clone(), 1), (b.clone(), 2)]);
        out.clear();
        top_k(&input, &order, ranks(Some(0), 0), &mut out);
        assert!(out.is_empty());
        out.clear();
        top_k(&input, &order, ranks(None, 5), &mut out);
        assert_eq!(out, vec![(c, 1)]);
    }

    #[test]
    fn ties_keep_every_row_ranked_equal_to_the_last_kept() {
        // Rows (rank, id): ranked by the first column only.
        let (a, b, c, d) = (ints(&[1, 9]), ints(&[2, 1]), ints(&[2, 2]), ints(&[3, 0]));
        let input = [(&d, 1), (&c, 2), (&b, 1), (&a, 1)];
        let order = [ColumnOrder { column: 0, desc: false, nulls_last: true }];
        let mut out = Vec::new();
        top_k(&input, &order, Ranks { limit: Some(2), offset: 0, with_ties: true }, &mut out);
        assert_eq!(out, vec![(a.clone(), 1), (b.clone(), 1), (c.clone(), 2)]);
        out.clear();
        top_k(&input, &order, Ranks { limit: Some(1), offset: 1, with_ties: true }, &mut out);
        assert_eq!(out, vec![(b.clone(), 1), (c.clone(), 2)]);
        out.clear();
        // A row's own copies are its peers.
        top_k(&[(&c, 3), (&d, 1)], &order, Ranks { limit: Some(1), offset: 0, with_ties: true }, &mut out);
        assert_eq!(out, vec![(c.clone(), 3)]);
    }

    #[test]
    fn the_first_ranked_row_is_found_without_sorting() {
        let (a, b, c) = (ints(&[5, 2]), ints(&[5, 1]), ints(&[4, 0]));
        let gone = ints(&[9, 9]);
        let input = [(&a, 2), (&gone, -1), (&c, 1), (&b, 1)];
        let desc = [ColumnOrder { column: 0, desc: true, nulls_last: true }];
        let mut out = Vec::new();
        first_ranked(&input, &desc, true, &mut out);
        assert_eq!(out, vec![(a.clone(), 2), (b.clone(), 1)]);
        out.clear();
        // Without ties, the whole row breaks the tie, as the sorting path does.
        first_ranked(&input, &desc, false, &mut out);
        assert_eq!(out, vec![(b.clone(), 1)]);
        let mut sorted = Vec::new();
        top_k(&input, &desc, Ranks { limit: Some(1), offset: 0, with_ties: false }, &mut sorted);
        assert_eq!(sorted, out);
    }
}
