//! The sort prefix: the first eight bytes of an order-preserving byte encoding of a row, kept
//! beside the row so that most comparisons never read the row's datums.
//!
//! Arrangements sort and merge millions of rows; every comparison of two `Vec<Datum>`s reads two
//! heap blocks that are rarely in cache, and those misses, not the comparisons, dominated sorting.
//! A prefix that differs decides the comparison on its own; only equal prefixes fall back to the
//! datums.
//!
//! The invariant that makes this correct: for rows `a < b` (by `Ord` on their datums),
//! `prefix(a) <= prefix(b)`, and equal rows have equal prefixes. It holds because the encoding of a
//! row is the concatenation of prefix-free, order-preserving encodings of its datums, a prefix of
//! a memcmp-ordered string is memcmp-ordered, and padding with zero bytes keeps that order. A datum
//! whose value has no cheap such encoding (floats, numerics, JSON, intervals) contributes only its
//! variant byte, and encoding stops there: rows that agree up to it tie and are compared in full.
//!
//! A prefix that holds its row's whole encoding is marked `COMPLETE` (the top bit, which no header
//! uses): two such prefixes that agree are equal rows, so an arrangement keyed by a window start or
//! an id compares equal keys without reading either row. The encoding is injective and no datum
//! starts with a zero byte, so a complete encoding padded with zeros is no other complete one.
//! This module must not depend on anything but the datums' values.

use crate::Datum;

const PREFIX_BYTES: usize = 8;

/// Marks a prefix that encodes its whole row. Headers stay below 0x80, so no prefix (with or
/// without this bit) starts with 0xFF, and `u64::MAX` is free to mean "not computed" (`Row`'s
/// `UNSET`).
const COMPLETE: u64 = 1 << 63;
const _: () = assert!(header::INTERVAL < 0x80);

/// The sort prefix of a row made of `datums`.
pub(super) fn of(datums: &[Datum]) -> u64 {
    let mut out = Prefix { bytes: [0; PREFIX_BYTES], len: 0 };
    let complete = datums.iter().all(|datum| out.datum(datum));
    u64::from_be_bytes(out.bytes) | if complete { COMPLETE } else { 0 }
}

/// The order of two rows as far as their prefixes decide it: `None` when they agree but one of
/// them does not encode its whole row, so the datums must be compared.
#[inline]
pub(super) fn decide(a: u64, b: u64) -> Option<std::cmp::Ordering> {
    let order = (a & !COMPLETE).cmp(&(b & !COMPLETE));
    (order.is_ne() || a & b & COMPLETE != 0).then_some(order)
}

/// The prefix being written; every writer returns false once no more bytes fit or the encoding
/// must stop.
struct Prefix {
    bytes: [u8; PREFIX_BYTES],
    len: usize,
}

/// First header byte of each variant. Variants take consecutive ranges in declaration order, so
/// the header alone orders datums of different variants as `Datum`'s `Ord` does. An integer takes
/// `INT_HEADERS` headers: its sign and length.
mod header {
    pub const INT_HEADERS: u8 = 18;
    pub const NULL: u8 = 1;
    pub const BOOL: u8 = NULL + 1; // false, true
    pub const INT16: u8 = BOOL + 2;
    pub const INT32: u8 = INT16 + INT_HEADERS;
    pub const INT64: u8 = INT32 + INT_HEADERS;
    pub const FLOAT32: u8 = INT64 + INT_HEADERS;
    pub const FLOAT64: u8 = FLOAT32 + 1;
    pub const NUMERIC: u8 = FLOAT64 + 1;
    pub const TEXT: u8 = NUMERIC + 1;
    pub const BYTES: u8 = TEXT + 1;
    pub const JSONB: u8 = BYTES + 1;
    pub const DATE: u8 = JSONB + 1;
    pub const TIMESTAMP: u8 = DATE + INT_HEADERS;
    pub const TIMESTAMP_TZ: u8 = TIMESTAMP + INT_HEADERS;
    pub const INTERVAL: u8 = TIMESTAMP_TZ + INT_HEADERS;
}

impl Prefix {
    fn datum(&mut self, datum: &Datum) -> bool {
        match datum {
            Datum::Null => self.byte(header::NULL),
            Datum::Bool(b) => self.byte(header::BOOL + u8::from(*b)),
            Datum::Int16(v) => self.int(header::INT16, i64::from(*v)),
            Datum::Int32(v) => self.int(header::INT32, i64::from(*v)),
            Datum::Int64(v) => self.int(header::INT64, *v),
            Datum::Date(v) => self.int(header::DATE, i64::from(*v)),
            Datum::Timestamp(v) => self.int(header::TIMESTAMP, *v),
            Datum::TimestampTz(v) => self.int(header::TIMESTAMP_TZ, *v),
            Datum::Text(s) => self.bytes(header::TEXT, s.as_bytes()),
            Datum::Bytes(b) => self.bytes(header::BYTES, b),
            Datum::Float32(_) => self.stop(header::FLOAT32),
            Datum::Float64(_) => self.stop(header::FLOAT64),
            Datum::Numeric(_) => self.stop(header::NUMERIC),
            Datum::Jsonb(_) => self.stop(header::JSONB),
            Datum::Interval(_) => self.stop(header::INTERVAL),
        }
    }

    fn byte(&mut self, byte: u8) -> bool {
        if self.len == PREFIX_BYTES {
            return false;
        }
        self.bytes[self.len] = byte;
        self.len += 1;
        true
    }

    /// The variant's header, then nothing more: its value has no cheap order-preserving encoding.
    fn stop(&mut self, header: u8) -> bool {
        self.byte(header);
        false
    }

    /// Sign and length in the header, then the significant bytes, big-endian. Non-negative values
    /// take headers `first + 9 ..= first + 17` by length 0..=8; negative ones `first + 8` down to
    /// `first` as their magnitude grows, with their low bytes in two's complement, which order as
    /// the values do. So small integers of either sign take one to three bytes.
    fn int(&mut self, first: u8, value: i64) -> bool {
        let (header, len) = if value >= 0 {
            let len = significant_bytes(value as u64);
            (first + 9 + len as u8, len)
        } else {
            let len = significant_bytes(!value as u64);
            (first + 8 - len as u8, len)
        };
        if !self.byte(header) {
            return false;
        }
        let be = value.to_be_bytes();
        be[8 - len..].iter().all(|&b| self.byte(b))
    }

    /// The header, the bytes with 0x00 written as 0x00 0xFF, and the terminator 0x00 0x01, which
    /// sorts before any continuation, as a string sorts before its extensions.
    fn bytes(&mut self, header: u8, value: &[u8]) -> bool {
        if !self.byte(header) {
            return false;
        }
        for &b in value {
            let fits = if b == 0 { self.byte(0) && self.byte(0xFF) } else { self.byte(b) };
            if !fits {
                return false;
            }
        }
        self.byte(0) && self.byte(1)
    }
}

/// How many low bytes hold `value` (0 for zero).
fn significant_bytes(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).div_ceil(8)
}

#[cfg(test)]
mod tests;
