//! Applying a SELECT's ORDER BY, OFFSET, LIMIT and final projection to the rows read.

use std::cmp::Ordering;

use freshet_expr::relation::ColumnOrder;
use freshet_repr::{Datum, Diff, Row};
use freshet_sql::RowSetFinishing;

use crate::CoordError;

/// Expands multiplicities, sorts, limits and projects. A negative multiplicity means a plan bug.
pub fn finish(rows: Vec<(Row, Diff)>, finishing: &RowSetFinishing) -> Result<Vec<Row>, CoordError> {
    let mut expanded = Vec::with_capacity(rows.len());
    for (row, diff) in rows {
        if diff < 0 {
            return Err(CoordError::Internal(format!("negative multiplicity {diff} for row {row:?}")));
        }
        for _ in 0..diff {
            expanded.push(row.clone());
        }
    }
    if !finishing.order_by.is_empty() {
        expanded.sort_by(|a, b| compare_rows(a, b, &finishing.order_by));
    }
    let limit = finishing.limit.unwrap_or(usize::MAX);
    let selected = expanded.into_iter().skip(finishing.offset).take(limit);
    let identity = finishing.project.iter().copied().eq(0..finishing.project.len());
    Ok(selected
        .map(|row| if identity && row.len() == finishing.project.len() { row } else { row.project(&finishing.project) })
        .collect())
}

/// Compares two rows by `order`, with SQL NULL placement.
pub fn compare_rows(a: &Row, b: &Row, order: &[ColumnOrder]) -> Ordering {
    for o in order {
        let (x, y) = (&a.datums()[o.column], &b.datums()[o.column]);
        let ordering = match (x, y) {
            (Datum::Null, Datum::Null) => Ordering::Equal,
            (Datum::Null, _) => {
                if o.nulls_last {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (_, Datum::Null) => {
                if o.nulls_last {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            _ => {
                let natural = x.cmp(y);
                if o.desc {
                    natural.reverse()
                } else {
                    natural
                }
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Option<i32>) -> Row {
        Row::new(vec![v.map(Datum::Int32).unwrap_or(Datum::Null)])
    }

    #[test]
    fn orders_limits_and_places_nulls() {
        let rows = vec![(row(Some(2)), 1), (row(None), 1), (row(Some(1)), 2)];
        let desc_nulls_first = RowSetFinishing {
            order_by: vec![ColumnOrder { column: 0, desc: true, nulls_last: false }],
            limit: Some(3),
            offset: 0,
            project: vec![0],
        };
        let out = finish(rows.clone(), &desc_nulls_first).unwrap();
        assert_eq!(out, vec![row(None), row(Some(2)), row(Some(1))]);
        let asc_offset = RowSetFinishing {
            order_by: vec![ColumnOrder { column: 0, desc: false, nulls_last: true }],
            limit: None,
            offset: 1,
            project: vec![0],
        };
        assert_eq!(finish(rows, &asc_offset).unwrap(), vec![row(Some(1)), row(Some(2)), row(None)]);
    }
}
