//! PostgreSQL's jsonb order over parsed documents: null < string < number < boolean < array <
//! object, containers by size first, object pairs in storage order (shorter keys first, then
//! bytes). This module must not know how documents are held: it compares `serde_json` values.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

pub(super) fn type_rank(v: &Value) -> u8 {
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
pub(super) fn key_order(a: &str, b: &str) -> Ordering {
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

pub(super) fn cmp_values(a: &Value, b: &Value) -> Ordering {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
