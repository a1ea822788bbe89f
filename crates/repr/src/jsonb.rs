//! `Jsonb`, a parsed JSON document shared by reference, with the total order, equality and hashing
//! that arrangements need.
//!
//! The document is parsed once (when text becomes jsonb) and then shared: copying a row that holds
//! one copies a pointer, and `->`/`->>` look a key up instead of re-parsing. Equality is structural
//! (as the canonical text compared before: `1` and `1.0` differ); the order follows PostgreSQL's jsonb
//! order (null < string < number < boolean < array < object; larger containers sort after smaller
//! ones). This module must not know about SQL functions: those live in the expression crate.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

mod keys;
mod lead;

pub use keys::parse_object_keys;
use lead::Lead;

/// A JSON document. Object keys are held sorted (serde_json's map is a `BTreeMap`), so two documents
/// that differ only in key order or white space are equal.
#[derive(Clone, Debug)]
pub struct Jsonb(Arc<Doc>);

#[derive(Debug)]
struct Doc {
    value: Value,
    /// Where the document starts in the order, for comparisons that end there.
    lead: Lead,
}

impl Jsonb {
    pub fn new(value: Value) -> Jsonb {
        let lead = Lead::of(&value);
        Jsonb(Arc::new(Doc { value, lead }))
    }

    pub fn from_value(value: &Value) -> Jsonb {
        Jsonb::new(value.clone())
    }

    pub fn parse(text: &str) -> Result<Jsonb, serde_json::Error> {
        serde_json::from_str(text).map(Jsonb::new)
    }

    pub fn parse_slice(bytes: &[u8]) -> Result<Jsonb, serde_json::Error> {
        serde_json::from_slice(bytes).map(Jsonb::new)
    }

    /// The document, borrowed.
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// An owned copy of the document, for functions that rebuild it.
    pub fn to_value(&self) -> Value {
        self.0.value.clone()
    }

    /// The compact canonical text (sorted keys, no white space): what the logs store.
    pub fn to_canonical_string(&self) -> String {
        self.0.value.to_string()
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::String(_) => 1,
        Value::Number(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Numbers compare by value; an integer and a float of equal value (which are not equal documents)
/// are told apart by kind, so the order stays consistent with equality.
fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (x, y) => {
            let (fa, fb) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            // partial_cmp: -0.0 equals 0.0, as in equality; JSON numbers are never NaN.
            fa.partial_cmp(&fb).unwrap_or(Ordering::Equal).then_with(|| x.is_some().cmp(&y.is_some()).reverse())
        }
    }
}

/// PostgreSQL stores object keys shorter first, then by bytes, and compares pairs in that order.
fn key_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Objects up to this many keys are walked in storage order by selection, without allocating:
/// comparisons usually stop at the first key, and sorting a copy of every object per comparison
/// was a quarter of the time spent arranging a million documents.
const SELECT_IN_PLACE: usize = 12;

/// The pairs of an object in storage order: small objects by selecting the next key in place,
/// large ones from a sorted copy.
enum StorageOrder<'a> {
    Select { map: &'a Map<String, Value>, last: Option<&'a String> },
    Sorted(std::vec::IntoIter<(&'a String, &'a Value)>),
}

impl<'a> StorageOrder<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        if map.len() <= SELECT_IN_PLACE {
            return StorageOrder::Select { map, last: None };
        }
        let mut pairs: Vec<_> = map.iter().collect();
        pairs.sort_by(|a, b| key_order(a.0, b.0));
        StorageOrder::Sorted(pairs.into_iter())
    }
}

impl<'a> Iterator for StorageOrder<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            StorageOrder::Sorted(pairs) => pairs.next(),
            StorageOrder::Select { map, last } => {
                let next = map
                    .iter()
                    .filter(|(k, _)| last.is_none_or(|l| key_order(k, l).is_gt()))
                    .min_by(|a, b| key_order(a.0, b.0))?;
                *last = Some(next.0);
                Some(next)
            }
        }
    }
}

/// The order of two objects of equal size, or `None` when their keys differ. Records of one stream
/// usually share their keys, and then both objects have the same storage order: the first differing
/// value in it decides, found in one pass over the (byte-ordered) maps instead of walking storage
/// order (which cost a fifth of a restart's time replaying JSON sources). Values under keys that come
/// after the best difference found so far are not compared at all.
fn cmp_objects_with_same_keys(x: &Map<String, Value>, y: &Map<String, Value>) -> Option<Ordering> {
    let mut first: Option<(&String, &Value, &Value)> = None;
    for ((k1, v1), (k2, v2)) in x.iter().zip(y) {
        if k1 != k2 {
            return None;
        }
        if first.is_none_or(|(k, _, _)| key_order(k1, k).is_lt()) && v1 != v2 {
            first = Some((k1, v1, v2));
        }
    }
    Some(first.map_or(Ordering::Equal, |(_, a, b)| cmp_values(a, b)))
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter().zip(y).map(|(i, j)| cmp_values(i, j)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        }),
        (Value::Object(x), Value::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            cmp_objects_with_same_keys(x, y).unwrap_or_else(|| {
                StorageOrder::new(x)
                    .zip(StorageOrder::new(y))
                    .map(|((k1, v1), (k2, v2))| key_order(k1, k2).then_with(|| cmp_values(v1, v2)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
        }),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    type_rank(v).hash(state);
    match v {
        Value::Null => {}
        Value::Bool(b) => b.hash(state),
        Value::String(s) => s.hash(state),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.hash(state),
            (None, Some(u)) => u.hash(state),
            // serde_json's float equality treats -0.0 as 0.0; adding 0.0 folds them together.
            (None, None) => (n.as_f64().unwrap_or(0.0) + 0.0).to_bits().hash(state),
        },
        Value::Array(items) => {
            items.len().hash(state);
            items.iter().for_each(|i| hash_value(i, state));
        }
        Value::Object(map) => {
            map.len().hash(state);
            for (k, v) in map {
                k.hash(state);
                hash_value(v, state);
            }
        }
    }
}

impl PartialEq for Jsonb {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        // Leads that decide an order belong to unequal documents.
        self.0.lead.cmp(&other.0.lead).is_none_or(Ordering::is_eq) && self.0.value == other.0.value
    }
}
impl Eq for Jsonb {}

impl PartialOrd for Jsonb {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Jsonb {
    fn cmp(&self, other: &Self) -> Ordering {
        // cmp_values is Equal exactly for equal documents; only a shared pointer skips the walk.
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        self.0.lead.cmp(&other.0.lead).unwrap_or_else(|| cmp_values(&self.0.value, &other.0.value))
    }
}

impl Hash for Jsonb {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_value(&self.0.value, state)
    }
}

/// Stored as its canonical text, the representation logs written before held.
impl Serialize for Jsonb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct("Jsonb", &self.to_canonical_string())
    }
}

impl<'de> Deserialize<'de> for Jsonb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "Jsonb")]
        struct Text(String);
        let Text(text) = Text::deserialize(d)?;
        Jsonb::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Jsonb {
        Jsonb::parse(s).unwrap()
    }

    #[test]
    fn equality_ignores_key_order_and_white_space_but_not_number_kind() {
        assert_eq!(j(r#"{"b": 1, "a": [true]}"#), j(r#"{"a":[true],"b":1}"#));
        assert_ne!(j("1"), j("1.0"));
        assert_eq!(j("0.0"), j("-0.0"));
    }

    #[test]
    fn order_follows_postgres_type_ranks_and_sizes() {
        let sorted = ["null", r#""z""#, "-5", "1", "1.0", "1.5", "false", "true", "[9]", "[1, 2]", r#"{"b": 1}"#];
        for pair in sorted.windows(2) {
            assert_eq!(j(pair[0]).cmp(&j(pair[1])), Ordering::Less, "{} < {}", pair[0], pair[1]);
        }
        assert!(j(r#"{"aa": 1}"#) > j(r#"{"b": 1}"#), "shorter keys first");
        assert!(j("[-0.0, 2]") > j("[0.0, 1]"), "equal elements do not decide the order");
    }

    /// The storage order by sorting a copy, which the lazy walk of small objects must agree with.
    fn reference_cmp(a: &Value, b: &Value) -> Ordering {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
                fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
                    let mut pairs: Vec<_> = m.iter().collect();
                    pairs.sort_by(|p, q| key_order(p.0, q.0));
                    pairs
                }
                sorted(x)
                    .into_iter()
                    .zip(sorted(y))
                    .map(|((k1, v1), (k2, v2))| key_order(k1, k2).then_with(|| reference_cmp(v1, v2)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            }),
            _ => cmp_values(a, b),
        }
    }

    #[test]
    fn small_and_large_objects_follow_the_storage_order() {
        // Objects of 1..=20 keys (both sides of SELECT_IN_PLACE) whose keys differ in length and
        // bytes, with values that vary so that pairs differ at different positions.
        let object = |keys: usize, seed: usize| {
            let map: Map<String, Value> = (0..keys)
                .map(|k| {
                    let key = format!("{}{}", "k".repeat(1 + (k * 7 + seed) % 3), (k * 13 + seed) % 17);
                    (key, Value::from(((k + seed) % 4) as i64))
                })
                .collect();
            Value::Object(map)
        };
        let docs: Vec<Value> = (1..=20).flat_map(|n| (0..6).map(move |seed| object(n, seed))).collect();
        for a in &docs {
            for b in &docs {
                assert_eq!(cmp_values(a, b), reference_cmp(a, b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn objects_with_the_same_keys_follow_the_storage_order() {
        // Same keys (varying in length, so byte order and storage order disagree), values that
        // differ at one, several or no positions.
        let keys = ["bb", "a", "ccc", "d", "ee", "f"];
        let object = |values: [i64; 6]| {
            Value::Object(keys.iter().zip(values).map(|(k, v)| (k.to_string(), Value::from(v))).collect())
        };
        let docs: Vec<Value> =
            (0..3_i64.pow(6)).map(|n| object(std::array::from_fn(|i| n / 3_i64.pow(i as u32) % 3))).collect();
        for a in &docs {
            for b in docs.iter().step_by(7) {
                assert_eq!(cmp_values(a, b), reference_cmp(a, b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn leads_agree_with_the_full_comparison() {
        // First keys short and long (past the held 16 bytes), first values that are small and huge
        // integers, floats, strings and nested documents, so every branch of the lead is taken.
        let long = "k".repeat(20);
        let firsts =
            ["1", "-3", "2", "18446744073709551615", "9223372036854775807", "1.0", "0.5", r#""a""#, "[1]", "null"];
        let mut docs: Vec<Jsonb> = Vec::new();
        for key in ["id", "a", "zz", long.as_str()] {
            for first in firsts {
                docs.push(j(&format!(r#"{{"{key}": {first}, "name": "x"}}"#)));
                docs.push(j(&format!(r#"{{"{key}": {first}, "name": "y"}}"#)));
                docs.push(j(&format!(r#"{{"{key}": {first}}}"#)));
            }
        }
        docs.extend(["null", "1", r#""s""#, "true", "[1, 2]", "[2]", "{}"].map(j));
        for a in &docs {
            for b in &docs {
                let full = cmp_values(a.value(), b.value());
                assert_eq!(a.cmp(b), full, "{} vs {}", a.value(), b.value());
                assert_eq!(a == b, a.value() == b.value(), "{} == {}", a.value(), b.value());
            }
        }
    }

    #[test]
    fn equal_documents_hash_equal() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |v: &Jsonb| {
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&j(r#"{"b":1,"a":2}"#)), hash(&j(r#"{"a":2, "b":1}"#)));
        assert_eq!(hash(&j("0.0")), hash(&j("-0.0")));
    }

    #[test]
    fn serializes_as_canonical_text_and_back() {
        let doc = j(r#"{"b": [1, null], "a": "x"}"#);
        let bytes = bincode::serialize(&doc).unwrap();
        assert_eq!(bincode::deserialize::<String>(&bytes).unwrap(), r#"{"a":"x","b":[1,null]}"#);
        assert_eq!(bincode::deserialize::<Jsonb>(&bytes).unwrap(), doc);
    }

    #[test]
    fn floats_survive_the_log_text_unchanged() {
        for text in ["0.097142865812730891", "0.1", "1e300", "-2.2250738585072014e-308", "123456.789012345678"] {
            let doc = j(text);
            let again = Jsonb::parse(&doc.to_canonical_string()).unwrap();
            assert_eq!(again, doc, "{text}");
        }
    }
}
