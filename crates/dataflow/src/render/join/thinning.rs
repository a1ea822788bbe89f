//! Thinning: a join input's arranged value leaves out the columns its key already holds.
//!
//! A key expression that reads a column as it is (`ON a.seller = p.id`) puts that column's datum in
//! the key, so the arranged value need not hold it again: the joined row takes it from the key.
//! Nexmark q8's auction side is keyed by both of its columns, so its values are empty rows, which
//! take no heap block. Only columns whose equal values are equal datums are left out
//! (`ScalarType::equal_values_are_identical`), so a joined row shows each side's own datums. This
//! module decides which columns the value keeps and rebuilds rows from key and value; it must not
//! evaluate keys.

use freshet_expr::ScalarExpr;
use freshet_repr::{ColumnType, Datum, Row};

use crate::render::Key;

/// Where a joined row takes one of an input's columns from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The key's datum at this position.
    Key(usize),
    /// The arranged value's datum at this position.
    Value(usize),
}

/// Which columns of a join input its arranged values keep, and how to rebuild its rows.
#[derive(Clone, Debug)]
pub struct Thinning {
    /// Per input column, its source; `None` when no column is left out.
    sources: Option<Vec<Source>>,
}

impl Thinning {
    /// The thinning of an input with `columns` arranged by `keys`.
    pub fn new(keys: &[ScalarExpr], columns: &[ColumnType]) -> Self {
        let mut values = 0;
        let sources: Vec<Source> = (0..columns.len())
            .map(|column| {
                let in_key = keys.iter().position(|key| matches!(key, ScalarExpr::Column(c) if *c == column));
                match in_key {
                    Some(position) if columns[column].scalar_type.equal_values_are_identical() => Source::Key(position),
                    _ => {
                        values += 1;
                        Source::Value(values - 1)
                    }
                }
            })
            .collect();
        let thins = values < columns.len();
        Thinning { sources: thins.then_some(sources) }
    }

    /// Whether any column is left out of the values.
    pub fn thins(&self) -> bool {
        self.sources.is_some()
    }

    /// The arranged value of `row`: its columns that the key does not hold, in their order. Reuses
    /// `row`'s block unless nothing is left, when the value is an empty row, which holds none.
    pub fn thin(&self, row: Row) -> Row {
        let Some(sources) = &self.sources else { return row };
        let mut kept = sources.iter().map(|source| matches!(source, Source::Value(_)));
        if !sources.iter().any(|source| matches!(source, Source::Value(_))) {
            return Row::empty();
        }
        let mut datums = row.into_datums();
        datums.retain(|_| kept.next().unwrap_or(true));
        Row::new(datums)
    }

    /// Appends the input row that `key` and `value` stand for to `out`.
    pub fn rebuild_into(&self, key: &Key, value: &Row, out: &mut Vec<Datum>) {
        let Some(sources) = &self.sources else {
            out.extend(value.iter().cloned());
            return;
        };
        key.with_datums(|key| {
            out.extend(sources.iter().map(|source| match *source {
                Source::Key(position) => key.get(position).cloned().unwrap_or(Datum::Null),
                Source::Value(position) => value.get(position).cloned().unwrap_or(Datum::Null),
            }))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_repr::ScalarType;

    fn column(scalar_type: ScalarType) -> ColumnType {
        ColumnType { scalar_type, nullable: true }
    }

    fn rebuilt(thinning: &Thinning, key: &Key, value: &Row) -> Row {
        let mut out = Vec::new();
        thinning.rebuild_into(key, value, &mut out);
        Row::new(out)
    }

    #[test]
    fn key_columns_leave_the_value_and_come_back_from_the_key() {
        // (id, name, window) keyed by (id, window), as Nexmark q8's people.
        let columns = [column(ScalarType::Int64), column(ScalarType::Text), column(ScalarType::Int64)];
        let thinning = Thinning::new(&[ScalarExpr::Column(0), ScalarExpr::Column(2)], &columns);
        let row = Row::new(vec![Datum::Int64(7), Datum::Text("ann".into()), Datum::Int64(10_000)]);
        let value = thinning.thin(row.clone());
        assert_eq!(value, Row::new(vec![Datum::Text("ann".into())]));
        assert_eq!(rebuilt(&thinning, &Key::Int2(7, 10_000), &value), row);
    }

    #[test]
    fn a_value_of_key_columns_only_is_empty() {
        let columns = [column(ScalarType::Int64), column(ScalarType::Int64)];
        let thinning = Thinning::new(&[ScalarExpr::Column(1), ScalarExpr::Column(0)], &columns);
        let row = Row::new(vec![Datum::Int64(1), Datum::Int64(2)]);
        let value = thinning.thin(row.clone());
        assert!(value.is_empty());
        assert_eq!(rebuilt(&thinning, &Key::Int2(2, 1), &value), row);
    }

    #[test]
    fn columns_with_several_datums_per_value_stay_in_the_value() {
        let columns = [column(ScalarType::Numeric), column(ScalarType::Float64), column(ScalarType::Int32)];
        let keys = [ScalarExpr::Column(0), ScalarExpr::Column(1)];
        let thinning = Thinning::new(&keys, &columns);
        assert!(!thinning.thins());
        let row = Row::new(vec![Datum::Null, Datum::Null, Datum::Int32(3)]);
        assert_eq!(thinning.thin(row.clone()), row);
        // An expression over a column is not the column: the value keeps it.
        let computed = Thinning::new(&[ScalarExpr::Column(2)], &columns);
        assert!(computed.thins());
        let keys = Key::Row(Row::new(vec![Datum::Int32(3)]));
        assert_eq!(rebuilt(&computed, &keys, &computed.thin(row.clone())), row);
    }
}
