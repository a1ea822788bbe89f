//! A document's summary: its lead (see `lead`) and a structural hash that equal documents share
//! however they are written (key order, white space, escapes, `1.50` or `1.5`). It is computed from
//! a tree by a walk, or from text by one pass that checks the syntax and builds nothing, which is
//! what lets sources keep their records as text: a restart replaying a million JSON records read
//! each once this way instead of building (and zeroing, and freeing) a tree per record.
//!
//! This module must not order or compare documents; it only summarises them, and a tree and its
//! text must always get the same summary.

use std::fmt;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::{Number, Value};

use super::lead::{FirstPair, Lead, KEY_BYTES};

#[derive(Clone, Debug)]
pub(super) struct Summary {
    pub(super) lead: Lead,
    pub(super) hash: u64,
}

/// The summary of the JSON text `text`: an error where a parse fails, `None` for text whose objects
/// repeat a key (a parse keeps the last, so the text does not say what the document is).
pub(super) fn of_text(text: &str) -> Result<Option<Summary>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let node = deserializer.deserialize_any(Node)?;
    deserializer.end()?;
    Ok((!node.repeated_key).then_some(Summary { lead: node.lead, hash: node.hash }))
}

const NULL: u64 = 0;
const STRING: u64 = 1;
const INT: u64 = 2;
const BOOL: u64 = 3;
const ARRAY: u64 = 4;
const OBJECT: u64 = 5;
const BIG_INT: u64 = 6;
const FLOAT: u64 = 7;

fn mix(a: u64, b: u64) -> u64 {
    FixedState::with_seed(a).hash_one(b)
}

fn bytes_hash(bytes: &[u8]) -> u64 {
    FixedState::with_seed(STRING).hash_one(bytes)
}

/// Integers by value whatever their sign kind; floats by bits with `-0.0` folded into `0.0`, as
/// equality folds them. An integer and a float of equal value are different documents.
fn int_hash(v: i64) -> u64 {
    mix(INT, v as u64)
}

fn big_int_hash(v: u64) -> u64 {
    mix(BIG_INT, v)
}

fn float_hash(v: f64) -> u64 {
    mix(FLOAT, (v + 0.0).to_bits())
}

fn number_hash(n: &Number) -> u64 {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => int_hash(i),
        (None, Some(u)) => big_int_hash(u),
        (None, None) => float_hash(n.as_f64().unwrap_or(0.0)),
    }
}

/// Pairs are summed, so their order does not count.
fn pair_hash(key: &[u8], value: u64) -> u64 {
    mix(bytes_hash(key), value)
}

fn object_hash(len: usize, pair_sum: u64) -> u64 {
    mix(mix(OBJECT, len as u64), pair_sum)
}

fn array_hash(len: usize, folded: u64) -> u64 {
    mix(folded, len as u64)
}

/// The structural hash of a parsed document.
pub(super) fn tree_hash(value: &Value) -> u64 {
    match value {
        Value::Null => mix(NULL, 0),
        Value::Bool(b) => mix(BOOL, u64::from(*b)),
        Value::String(s) => mix(STRING, bytes_hash(s.as_bytes())),
        Value::Number(n) => number_hash(n),
        Value::Array(items) => array_hash(items.len(), items.iter().fold(ARRAY, |h, item| mix(h, tree_hash(item)))),
        Value::Object(map) => {
            let sum = map.iter().fold(0u64, |sum, (k, v)| sum.wrapping_add(pair_hash(k.as_bytes(), tree_hash(v))));
            object_hash(map.len(), sum)
        }
    }
}

/// What one pass over a value's text found.
struct Scanned {
    lead: Lead,
    hash: u64,
    /// The value, when it is an integer that fits an `i64` (an object's first pair holds it).
    int: Option<i64>,
    repeated_key: bool,
}

impl Scanned {
    fn scalar(rank: u8, hash: u64, int: Option<i64>) -> Scanned {
        Scanned { lead: Lead::new(rank, 0, None), hash, int, repeated_key: false }
    }
}

/// Summarises one JSON value of any type.
struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Scanned;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Scanned, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Scanned;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Scanned, E> {
        Ok(Scanned::scalar(0, mix(NULL, 0), None))
    }

    fn visit_str<E>(self, s: &str) -> Result<Scanned, E> {
        Ok(Scanned::scalar(1, mix(STRING, bytes_hash(s.as_bytes())), None))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scanned, E> {
        Ok(Scanned::scalar(2, int_hash(v), Some(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scanned, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Scanned::scalar(2, int_hash(i), Some(i)),
            Err(_) => Scanned::scalar(2, big_int_hash(v), None),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scanned, E> {
        Ok(Scanned::scalar(2, float_hash(v), None))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Scanned, E> {
        Ok(Scanned::scalar(3, mix(BOOL, u64::from(v)), None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Scanned, A::Error> {
        let (mut len, mut folded, mut repeated_key) = (0, ARRAY, false);
        while let Some(item) = items.next_element_seed(Node)? {
            len += 1;
            folded = mix(folded, item.hash);
            repeated_key |= item.repeated_key;
        }
        Ok(Scanned { lead: Lead::new(4, len, None), hash: array_hash(len, folded), int: None, repeated_key })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut pairs: A) -> Result<Scanned, A::Error> {
        let (mut len, mut sum, mut repeated_key) = (0, 0u64, false);
        let mut first: Option<Candidate> = None;
        let mut seen = KeySet::default();
        while let Some(key) = pairs.next_key_seed(Key { best: first.as_ref() })? {
            len += 1;
            let value = pairs.next_value_seed(Node)?;
            repeated_key |= value.repeated_key || !seen.insert(key.hash);
            sum = sum.wrapping_add(mix(key.hash, value.hash));
            if let Some(mut candidate) = key.before_best {
                candidate.int = value.int;
                first = Some(candidate);
            }
        }
        repeated_key |= seen.large_has_repeats();
        let first = first.and_then(|c| FirstPair::new(c.key.get(..c.len)?, c.int));
        Ok(Scanned { lead: Lead::new(5, len, first), hash: object_hash(len, sum), int: None, repeated_key })
    }
}

/// The first key in storage order seen so far; its bytes are held only when it is short enough
/// (a longer first key leaves the object without a first pair, however it compares).
struct Candidate {
    len: usize,
    key: [u8; KEY_BYTES],
    int: Option<i64>,
}

struct ScannedKey {
    hash: u64,
    before_best: Option<Candidate>,
}

/// Reads a key without allocating it: its hash, and a candidate when it comes before `best` in
/// storage order (shorter keys first, then bytes).
struct Key<'b> {
    best: Option<&'b Candidate>,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ScannedKey;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<ScannedKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ScannedKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, name: &str) -> Result<ScannedKey, E> {
        let bytes = name.as_bytes();
        let before = match self.best {
            None => true,
            Some(best) => match bytes.len().cmp(&best.len) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => best.key.get(..best.len).is_some_and(|held| bytes < held),
                std::cmp::Ordering::Greater => false,
            },
        };
        let before_best = before.then(|| {
            let mut key = [0; KEY_BYTES];
            if let Some(held) = key.get_mut(..bytes.len()) {
                held.copy_from_slice(bytes);
            }
            Candidate { len: bytes.len(), key, int: None }
        });
        Ok(ScannedKey { hash: bytes_hash(bytes), before_best })
    }
}

/// The key hashes of one object, to find a repeated key: small objects in place, larger ones
/// sorted once at the end. Two keys with one hash count as repeated, which only costs a parse.
#[derive(Default)]
struct KeySet {
    small: [u64; 16],
    len: usize,
    large: Vec<u64>,
}

impl KeySet {
    /// False when `hash` was seen before (checked here for small objects only).
    fn insert(&mut self, hash: u64) -> bool {
        if self.large.is_empty() {
            if self.small[..self.len].contains(&hash) {
                return false;
            }
            if let Some(slot) = self.small.get_mut(self.len) {
                *slot = hash;
                self.len += 1;
                return true;
            }
            self.large.extend_from_slice(&self.small);
        }
        self.large.push(hash);
        true
    }

    fn large_has_repeats(&mut self) -> bool {
        self.large.sort_unstable();
        self.large.windows(2).any(|pair| pair[0] == pair[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_tree_summaries_agree() {
        let big: String = (0..40).map(|i| format!(r#""k{i}": {i}, "#)).collect();
        let texts = [
            "null",
            "true",
            r#""a\"b\u00e9""#,
            "-3",
            "18446744073709551615",
            "1.50",
            "-0.0",
            "[1, [2, {}], \"x\"]",
            r#"{"id": 7, "user": {"name": "a", "tags": [1, 2]}, "a": 1.0}"#,
            r#"{"zz": 1, "a\u0062": 2}"#,
            &format!("{{{big}\"last\": null}}"),
        ];
        for text in texts {
            let tree: Value = serde_json::from_str(text).unwrap();
            let scanned = of_text(text).unwrap().expect("no repeated key");
            assert_eq!(scanned.lead, Lead::of(&tree), "{text}");
            assert_eq!(scanned.hash, tree_hash(&tree), "{text}");
            let compact = of_text(&tree.to_string()).unwrap().unwrap();
            assert_eq!(compact.hash, scanned.hash, "{text} written compactly");
        }
    }

    #[test]
    fn hashes_tell_documents_apart_and_ignore_writing() {
        let hash = |text: &str| of_text(text).unwrap().unwrap().hash;
        assert_eq!(hash(r#"{"a": 1, "b": [true]}"#), hash(r#"{ "b":[ true ],"a":1 }"#));
        assert_eq!(hash("1.50"), hash("1.5"));
        assert_eq!(hash("0.0"), hash("-0.0"));
        assert_ne!(hash("1"), hash("1.0"));
        assert_ne!(hash("[1, 2]"), hash("[2, 1]"));
        assert_ne!(hash(r#"{"a": 1, "b": 2}"#), hash(r#"{"a": 2, "b": 1}"#));
        assert_ne!(hash(r#"{"a": "b"}"#), hash(r#"["a", "b"]"#));
    }

    #[test]
    fn repeated_keys_and_bad_text_are_reported() {
        assert!(of_text(r#"{"a": 1, "a": 2}"#).unwrap().is_none());
        assert!(of_text(r#"[{"x": {"a": 1, "b": 0, "a": 2}}]"#).unwrap().is_none());
        let many: String = (0..20).map(|i| format!(r#""k{}": 0, "#, i % 19)).collect();
        assert!(of_text(&format!("{{{many}\"end\": 0}}")).unwrap().is_none(), "past the small set");
        for bad in ["", "{", r#"{"a": 1} x"#, "[1,]", r#""\q""#, "tru"] {
            assert!(of_text(bad).is_err(), "{bad}");
        }
    }
}
