//! `Row`, the one tuple type that flows between every layer.
//!
//! The representation is private so that it can later become a packed byte encoding without
//! touching the layers that use it. Beside its datums a row caches its sort prefix (`prefix`),
//! which decides most comparisons without reading the datums. It is computed on the first
//! comparison, not on construction: most rows are built, transformed and dropped uncompared.
//!
//! The datums are a `ThinVec`, whose length and capacity live on the heap beside them: a row is
//! 16 bytes, and an arrangement's `((key, value), time, diff)` update 48 instead of 80. Sorting
//! and merging those updates moves them several times each; that moving was most of the merge
//! batcher's time (docs/benchmarks.md, session 13).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering as MemoryOrdering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thin_vec::ThinVec;

use crate::Datum;

mod prefix;

/// An ordered tuple of datums, ordered lexicographically by datum (a row before its extensions).
pub struct Row {
    /// `prefix::of(&datums)` once a comparison has needed it, `UNSET` before and after any change
    /// to the datums. Atomic only so that rows stay `Sync`; relaxed loads and stores are plain
    /// moves, and racing computations store the same value.
    prefix: AtomicU64,
    datums: ThinVec<Datum>,
}

/// No row's prefix: a prefix's first byte is a datum header, and no header is 0xFF.
const UNSET: u64 = u64::MAX;

impl Row {
    /// A row of `datums`; a `ThinVec` is taken as is, a `Vec` is copied into one.
    pub fn new(datums: impl Into<ThinVec<Datum>>) -> Self {
        Row { prefix: AtomicU64::new(UNSET), datums: datums.into() }
    }

    /// An empty row with room for `capacity` datums, to `push` into.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Row::new(ThinVec::with_capacity(capacity))
    }

    /// The sort prefix, computed and cached on first use.
    #[inline]
    fn prefix(&self) -> u64 {
        let cached = self.prefix.load(MemoryOrdering::Relaxed);
        if cached != UNSET {
            return cached;
        }
        let computed = prefix::of(&self.datums);
        self.prefix.store(computed, MemoryOrdering::Relaxed);
        computed
    }

    pub fn empty() -> Self {
        Row::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.datums.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.datums.is_empty()
    }

    #[inline]
    pub fn get(&self, index: usize) -> Option<&Datum> {
        self.datums.get(index)
    }

    #[inline]
    pub fn datums(&self) -> &[Datum] {
        &self.datums
    }

    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Datum> {
        self.datums.iter()
    }

    pub fn into_datums(self) -> ThinVec<Datum> {
        self.datums
    }

    #[inline]
    pub fn push(&mut self, datum: Datum) {
        self.datums.push(datum);
        *self.prefix.get_mut() = UNSET;
    }

    /// Keeps the first `len` datums (all when `len` is past the end), and the room of the rest.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.datums.truncate(len);
        *self.prefix.get_mut() = UNSET;
    }

    /// Asks the CPU to start loading the row's datums into cache, for a reader that will come to
    /// this row soon: a scan of an arrangement reads rows whose blocks lie all over the heap, and
    /// waited for each block in turn. Only a hint; it does nothing on other architectures.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that never faults and reads nothing the program sees,
        // whatever the address; SSE, which it needs, is part of the x86_64 baseline.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.datums.as_ptr().cast());
        }
    }

    /// Removes every datum, keeping the room: a row reused as a buffer.
    #[inline]
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// A new row of the datums at `indices`, in that order.
    pub fn project(&self, indices: &[usize]) -> Row {
        indices.iter().map(|&i| self.datums[i].clone()).collect()
    }

    /// The first `at` datums and the rest (all and none when `at` is past the end).
    pub fn split_at(self, at: usize) -> (Row, Row) {
        let mut datums = self.datums;
        let rest = datums.split_off(at.min(datums.len()));
        (Row::new(datums), Row::new(rest))
    }

    /// A copy of this row with room for `extra` more datums, to `push` into.
    pub fn with_room(&self, extra: usize) -> Row {
        let mut datums = ThinVec::with_capacity(self.len() + extra);
        datums.extend_from_slice(&self.datums);
        Row::new(datums)
    }

    /// This row followed by `other`.
    pub fn concat(&self, other: &Row) -> Row {
        let mut row = self.with_room(other.len());
        row.datums.extend_from_slice(&other.datums);
        row
    }
}

impl From<Vec<Datum>> for Row {
    fn from(datums: Vec<Datum>) -> Self {
        Row::new(datums)
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row::new(iter.into_iter().collect::<ThinVec<Datum>>())
    }
}

impl<'a> IntoIterator for &'a Row {
    type Item = &'a Datum;
    type IntoIter = std::slice::Iter<'a, Datum>;
    fn into_iter(self) -> Self::IntoIter {
        self.datums.iter()
    }
}

/// The datums only, as before the prefix existed: the cache is not part of the value.
impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").field("datums", &self.datums).finish()
    }
}

impl Default for Row {
    fn default() -> Self {
        Row::new(ThinVec::new())
    }
}

impl Clone for Row {
    fn clone(&self) -> Self {
        Row { prefix: AtomicU64::new(self.prefix.load(MemoryOrdering::Relaxed)), datums: self.datums.clone() }
    }
}

impl PartialEq for Row {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // Cached prefixes that differ settle it; computing them here would read the datums only
        // to compare them again (a hash map's probe is rarely compared otherwise).
        let (mine, theirs) = (self.prefix.load(MemoryOrdering::Relaxed), other.prefix.load(MemoryOrdering::Relaxed));
        if mine != UNSET && theirs != UNSET {
            if let Some(order) = prefix::decide(mine, theirs) {
                return order.is_eq();
            }
        }
        self.datums == other.datums
    }
}

impl Eq for Row {}

impl PartialOrd for Row {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Row {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        prefix::decide(self.prefix(), other.prefix()).unwrap_or_else(|| self.datums().cmp(other.datums()))
    }
}

/// Hashes the datums only, exactly as the `Vec<Datum>` it used to be, so exchange routing is
/// unchanged.
impl Hash for Row {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.datums().hash(state)
    }
}

/// The serialized form is the datums alone, as before the prefix existed: logs and snapshots
/// written by earlier versions still read back, and the prefix is recomputed on the way in.
#[derive(Serialize)]
#[serde(rename = "Row")]
struct RowRef<'a> {
    datums: &'a [Datum],
}

#[derive(Deserialize)]
#[serde(rename = "Row")]
struct RowOwned {
    datums: ThinVec<Datum>,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RowRef { datums: &self.datums }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RowOwned::deserialize(deserializer).map(|row| Row::new(row.datums))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_datums_alone_and_reads_back_equal() {
        let row = Row::new(vec![Datum::Int64(7), Datum::text("x")]);
        let _ = row.cmp(&Row::empty()); // caches the prefix, which must not be written
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"datums":[{"Int64":7},{"Text":"x"}]}"#);
        let back: Row = serde_json::from_str(&json).unwrap();
        assert_eq!(back, row);
        assert_eq!(back.cmp(&row), Ordering::Equal);
    }

    #[test]
    fn debug_output_shows_the_datums_alone() {
        let row = Row::new(vec![Datum::Int64(7)]);
        let _ = row.cmp(&Row::empty());
        assert_eq!(format!("{row:?}"), "Row { datums: [Int64(7)] }");
    }

    #[test]
    fn a_row_is_two_words() {
        assert_eq!(std::mem::size_of::<Row>(), 16);
    }

    #[test]
    fn a_pushed_datum_is_seen_by_comparisons() {
        let mut row = Row::new(vec![Datum::Int64(1)]);
        let longer = Row::new(vec![Datum::Int64(1), Datum::Int64(2)]);
        assert!(row < longer);
        row.push(Datum::Int64(3));
        assert!(row > longer);
    }
}
