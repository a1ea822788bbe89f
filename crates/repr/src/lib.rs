//! The data model every Freshet layer shares: scalar types, datums, rows, relation descriptions, ids,
//! timestamps, and the errors that travel through dataflows as data.
//!
//! This crate owns how a value is represented and how it converts to and from PostgreSQL text. It must
//! not know about SQL syntax, plans, dataflows, sources or the wire protocol.

pub mod datum;
pub mod error;
pub mod jsonb;
pub mod relation;
pub mod row;
pub mod scalar;
pub mod strconv;

pub use datum::{Datum, Interval, Numeric, F32, F64};
pub use error::{DataflowError, DecodeError, EvalError};
pub use jsonb::Jsonb;
pub use relation::{ColumnType, GlobalId, RelationDesc, RelationType};
pub use row::Row;
pub use scalar::ScalarType;

/// Logical time of every update: milliseconds since the Unix epoch, assigned by the coordinator
/// (tables) or by a source's reclocking (sources).
pub type Timestamp = u64;

/// Multiplicity of an update: +1 insert, -1 delete, or a consolidated count.
pub type Diff = i64;

/// Sums the multiplicities of equal items and drops those that sum to zero; the result is sorted.
pub fn consolidate<T: Ord>(updates: &mut Vec<(T, Diff)>) {
    updates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(T, Diff)> = Vec::with_capacity(updates.len());
    for (item, diff) in updates.drain(..) {
        match merged.last_mut() {
            Some((last, total)) if *last == item => *total += diff,
            _ => merged.push((item, diff)),
        }
    }
    merged.retain(|(_, diff)| *diff != 0);
    *updates = merged;
}

#[cfg(test)]
mod tests {
    #[test]
    fn consolidate_sums_equal_items_and_drops_zeros() {
        let mut updates = vec![("b", 2), ("a", 1), ("b", -2), ("c", 3), ("a", 4)];
        super::consolidate(&mut updates);
        assert_eq!(updates, vec![("a", 5), ("c", 3)]);
    }
}
