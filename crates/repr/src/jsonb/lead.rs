//! The start of a document's place in PostgreSQL's jsonb order, computed once when the document is
//! built. Most comparisons end there: documents of different types or sizes, and objects of one
//! stream, which share their keys and differ in the value of their first key (an id). Reading a few
//! cached words instead of walking two maps took the comparisons that arranging a million JSON
//! records makes from a quarter of a restart's time.
//!
//! This module must not decide an order the full comparison would not: when the leads cannot tell,
//! it says so and the caller walks the documents.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Keys up to this many bytes are held; longer first keys leave objects to the full comparison.
pub(super) const KEY_BYTES: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Lead {
    rank: u8,
    /// Elements of an array or pairs of an object, which the order compares right after the type.
    len: usize,
    /// An object's first pair in storage order, when its key is short enough to hold.
    first: Option<FirstPair>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct FirstPair {
    key_len: u8,
    key: [u8; KEY_BYTES],
    /// The pair's value when it is an integer that fits an `i64`.
    int: Option<i64>,
}

impl FirstPair {
    /// The pair of `key` and a value that is `int` (when an integer fitting an `i64`); `None` when
    /// the key is too long to hold.
    pub(super) fn new(key: &[u8], int: Option<i64>) -> Option<FirstPair> {
        let mut held = [0; KEY_BYTES];
        held.get_mut(..key.len())?.copy_from_slice(key);
        Some(FirstPair { key_len: key.len() as u8, key: held, int })
    }

    fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len)]
    }
}

impl Lead {
    pub(super) fn of(value: &Value) -> Lead {
        let rank = super::order::type_rank(value);
        match value {
            Value::Array(items) => Lead { rank, len: items.len(), first: None },
            Value::Object(map) => Lead { rank, len: map.len(), first: first_pair(map) },
            _ => Lead { rank, len: 0, first: None },
        }
    }

    pub(super) fn new(rank: u8, len: usize, first: Option<FirstPair>) -> Lead {
        Lead { rank, len, first }
    }

    /// The order of the two documents these lead, when the leads decide it.
    pub(super) fn cmp(&self, other: &Lead) -> Option<Ordering> {
        let head = self.rank.cmp(&other.rank).then(self.len.cmp(&other.len));
        if head.is_ne() {
            return Some(head);
        }
        let (Some(a), Some(b)) = (&self.first, &other.first) else { return None };
        // Storage order: shorter keys first, then bytes (super::key_order).
        let key = a.key_len.cmp(&b.key_len).then_with(|| a.key().cmp(b.key()));
        if key.is_ne() {
            return Some(key);
        }
        match (a.int, b.int) {
            (Some(x), Some(y)) if x != y => Some(x.cmp(&y)),
            _ => None,
        }
    }
}

fn first_pair(map: &Map<String, Value>) -> Option<FirstPair> {
    let (key, value) = map.iter().min_by(|a, b| super::order::key_order(a.0, b.0))?;
    let int = match value {
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    FirstPair::new(key.as_bytes(), int)
}
