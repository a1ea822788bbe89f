//! `Key`: what the arrangements of joins, grouped aggregates and rankings are keyed by.
//!
//! Most such keys are one or two bigints: an id, a window start, an id and a window. As a `Row`,
//! each was a heap block per update, built on one worker, carried to the other by the exchange,
//! freed there, and dropped again while sealing for every repeat of the key in a batch (Nexmark q4
//! arranges 920,000 bids by 60,000 auctions, and their matches by auction and category).
//! `Key::Int` and `Key::Int2` hold such keys inline: no allocation, and they compare as integers.
//! A key is 24 bytes, a `Row` 16.
//!
//! Every key is built here, and one or two non-null bigints are always `Int` or `Int2`, so equal
//! keys are the same variant on both sides of a join (they hash and compare alike). This module
//! only decides how a key is held; which datums form it is the caller's.

use std::hash::{Hash, Hasher};

use freshet_repr::{Datum, Row};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Key {
    /// A key of one bigint.
    Int(i64),
    /// A key of two bigints.
    Int2(i64, i64),
    /// Any other key (an empty key for a global aggregate included).
    Row(Row),
}

impl Key {
    /// The key of `datums`.
    pub fn from_datums(datums: Row) -> Key {
        match datums.datums() {
            [Datum::Int64(value)] => Key::Int(*value),
            [Datum::Int64(a), Datum::Int64(b)] => Key::Int2(*a, *b),
            _ => Key::Row(datums),
        }
    }

    /// The key of `row`'s first `arity` datums, and the rest of `row`. A bigint key is taken out
    /// of the row in place, so neither part is a new allocation.
    pub fn split(row: Row, arity: usize) -> (Key, Row) {
        if let (1, Some(Datum::Int64(value))) = (arity, row.get(0)) {
            let value = *value;
            let mut datums = row.into_datums();
            datums.remove(0);
            return (Key::Int(value), Row::new(datums));
        }
        if let (2, Some(Datum::Int64(a)), Some(Datum::Int64(b))) = (arity, row.get(0), row.get(1)) {
            let (a, b) = (*a, *b);
            let mut datums = row.into_datums();
            datums.drain(..2);
            return (Key::Int2(a, b), Row::new(datums));
        }
        let (key, rest) = row.split_at(arity);
        (Key::Row(key), rest)
    }

    /// The key of `row`'s datums at `columns` (a NULL past its end, which planning rules out).
    pub fn project(row: &Row, columns: &[usize]) -> Key {
        match columns {
            [column] => {
                if let Some(Datum::Int64(value)) = row.get(*column) {
                    return Key::Int(*value);
                }
            }
            [first, second] => {
                if let (Some(Datum::Int64(a)), Some(Datum::Int64(b))) = (row.get(*first), row.get(*second)) {
                    return Key::Int2(*a, *b);
                }
            }
            _ => {}
        }
        Key::Row(columns.iter().map(|&c| row.get(c).cloned().unwrap_or(Datum::Null)).collect())
    }

    /// The key's datums as a row (a `Row` key's own row, moved).
    pub fn into_row(self) -> Row {
        match self {
            Key::Int(value) => Row::new(vec![Datum::Int64(value)]),
            Key::Int2(a, b) => Row::new(vec![Datum::Int64(a), Datum::Int64(b)]),
            Key::Row(row) => row,
        }
    }

    /// Calls `f` with the key's datums.
    #[inline]
    pub fn with_datums<T>(&self, f: impl FnOnce(&[Datum]) -> T) -> T {
        match self {
            Key::Int(value) => f(&[Datum::Int64(*value)]),
            Key::Int2(a, b) => f(&[Datum::Int64(*a), Datum::Int64(*b)]),
            Key::Row(row) => f(row.datums()),
        }
    }
}

/// A key hashes as the row of its datums, so that an exchange sends it to the worker the row went
/// to (with few keys, such as Nexmark q7's ten windows, that placement decides the balance).
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Int(value) => [Datum::Int64(*value)].as_slice().hash(state),
            Key::Int2(a, b) => [Datum::Int64(*a), Datum::Int64(*b)].as_slice().hash(state),
            Key::Row(row) => row.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(datums: Vec<Datum>) -> Row {
        Row::new(datums)
    }

    #[test]
    fn a_bigint_key_is_held_inline_however_it_is_built() {
        let key = Key::Int(7);
        assert_eq!(Key::from_datums(row(vec![Datum::Int64(7)])), key);
        let (split, rest) = Key::split(row(vec![Datum::Int64(7), Datum::Text("x".into())]), 1);
        assert_eq!((split, rest), (key.clone(), row(vec![Datum::Text("x".into())])));
        assert_eq!(Key::project(&row(vec![Datum::Null, Datum::Int64(7)]), &[1]), key);
        assert_eq!(key.with_datums(|d| d.to_vec()), vec![Datum::Int64(7)]);
        assert_eq!(key.into_row(), row(vec![Datum::Int64(7)]));
    }

    #[test]
    fn a_key_of_two_bigints_is_held_inline_however_it_is_built() {
        let pair = row(vec![Datum::Int64(1), Datum::Int64(2)]);
        let key = Key::Int2(1, 2);
        assert_eq!(Key::from_datums(pair.clone()), key);
        let (split, rest) = Key::split(row(vec![Datum::Int64(1), Datum::Int64(2), Datum::Bool(true)]), 2);
        assert_eq!((split, rest), (key.clone(), row(vec![Datum::Bool(true)])));
        assert_eq!(Key::project(&row(vec![Datum::Int64(2), Datum::Null, Datum::Int64(1)]), &[2, 0]), key);
        assert_eq!(key.with_datums(|d| Row::new(d.to_vec())), pair);
        assert_eq!(key.into_row(), pair);
    }

    #[test]
    fn other_keys_are_rows_whichever_way_they_are_built() {
        let pair = row(vec![Datum::Int64(1), Datum::Int32(2)]);
        let int32 = row(vec![Datum::Int32(1)]);
        let triple = row(vec![Datum::Int64(1), Datum::Int64(2), Datum::Int64(3)]);
        for datums in [pair.clone(), int32.clone(), triple, Row::empty()] {
            assert_eq!(Key::from_datums(datums.clone()), Key::Row(datums.clone()));
            let mut with_value = datums.datums().to_vec();
            with_value.push(Datum::Bool(true));
            assert_eq!(
                Key::split(row(with_value), datums.len()),
                (Key::Row(datums.clone()), row(vec![Datum::Bool(true)]))
            );
        }
        assert_eq!(Key::project(&pair, &[1, 0]), Key::Row(row(vec![Datum::Int32(2), Datum::Int64(1)])));
        assert_eq!(Key::project(&int32, &[0]), Key::Row(int32));
    }

    #[test]
    fn keys_hash_as_the_rows_of_their_datums() {
        use differential_dataflow::hashable::Hashable;
        for value in [0, 7, -1, i64::MAX] {
            assert_eq!(Key::Int(value).hashed(), row(vec![Datum::Int64(value)]).hashed());
            assert_eq!(Key::Int2(value, 3).hashed(), row(vec![Datum::Int64(value), Datum::Int64(3)]).hashed());
        }
    }

    #[test]
    fn keys_take_three_words() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }
}
