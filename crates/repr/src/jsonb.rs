//! `Jsonb`, a JSON document shared by reference, with the total order, equality and hashing
//! that arrangements need.
//!
//! A document is held in one of two forms. Documents that expressions build (casts, `->`, the
//! members a view reads) are parsed trees, so reading them again is a lookup. Documents a source
//! keeps, one per record for as long as the source lives, are their text: the tree of a 200-byte
//! record took about 1.5 KB, and building, zeroing and freeing those trees was the larger part of
//! replaying a JSON source at start-up. The forms agree on everything observable: equality is
//! structural (key order and white space do not count, `1` and `1.0` differ, `-0.0` equals `0.0`),
//! hashing hashes the structure (see `summary`), and the order follows PostgreSQL's jsonb order
//! (null < string < number < boolean < array < object; larger containers sort after smaller ones).
//! This module must not know about SQL functions: those live in the expression crate.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

mod keys;
mod lead;
mod order;
mod summary;

pub use keys::visit_members;
use lead::Lead;
use order::cmp_values;

/// A JSON document. Object keys are held sorted (serde_json's map is a `BTreeMap`), so two documents
/// that differ only in key order or white space are equal.
#[derive(Clone, Debug)]
pub struct Jsonb(Arc<Doc>);

#[derive(Debug)]
struct Doc {
    /// Where the document starts in the order: most comparisons end there.
    lead: Lead,
    /// The structural hash: known from the start for text (its one pass computes it), computed on
    /// first use for a tree (most trees are read and dropped, never hashed).
    hash: OnceLock<u64>,
    form: Form,
}

#[derive(Debug)]
enum Form {
    Tree(Value),
    /// Valid JSON text whose objects repeat no key, as a source received it.
    Text(Box<str>),
}

impl Jsonb {
    pub fn new(value: Value) -> Jsonb {
        let lead = Lead::of(&value);
        Jsonb(Arc::new(Doc { lead, hash: OnceLock::new(), form: Form::Tree(value) }))
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

    /// A document to keep, held as its text: checked and summarised in one pass that builds no tree.
    pub fn parse_compact(bytes: &[u8]) -> Result<Jsonb, serde_json::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Jsonb::from_text(text.to_owned()),
            // Not UTF-8, so not JSON: the parse says where.
            Err(_) => Jsonb::parse_slice(bytes),
        }
    }

    fn from_text(text: String) -> Result<Jsonb, serde_json::Error> {
        match summary::of_text(&text)? {
            Some(summary) => Ok(Jsonb(Arc::new(Doc {
                lead: summary.lead,
                hash: OnceLock::from(summary.hash),
                form: Form::Text(text.into_boxed_str()),
            }))),
            // A repeated key: the last one counts, as a parse keeps it, which the text does not say.
            None => Jsonb::parse(&text).map(Jsonb::compact),
        }
    }

    /// This document held as its compact text, which takes a fraction of a tree's memory.
    pub fn compact(self) -> Jsonb {
        match &self.0.form {
            Form::Text(_) => self,
            Form::Tree(value) => {
                let text = value.to_string().into_boxed_str();
                let hash = OnceLock::from(self.structural_hash());
                Jsonb(Arc::new(Doc { lead: self.0.lead.clone(), hash, form: Form::Text(text) }))
            }
        }
    }

    /// The document: borrowed from a tree, parsed from text.
    pub fn value(&self) -> Cow<'_, Value> {
        match &self.0.form {
            Form::Tree(value) => Cow::Borrowed(value),
            // Text is only ever held after it parsed.
            Form::Text(text) => Cow::Owned(serde_json::from_str(text).unwrap_or(Value::Null)),
        }
    }

    /// An owned copy of the document, for functions that rebuild it.
    pub fn to_value(&self) -> Value {
        self.value().into_owned()
    }

    /// The member `key` of an object (`None` for anything else), read from text without building
    /// the rest of the document.
    pub fn member(&self, key: &str) -> Option<Cow<'_, Value>> {
        match &self.0.form {
            Form::Tree(Value::Object(map)) => map.get(key).map(Cow::Borrowed),
            Form::Tree(_) => None,
            Form::Text(text) => keys::member(text, key).map(Cow::Owned),
        }
    }

    /// Hands `found` each member of an object named in `keys` (with its key's position), read from
    /// text in one pass however many keys there are; nothing for anything but an object.
    pub fn visit_members<'a, S: AsRef<str>>(&'a self, keys: &[S], mut found: impl FnMut(usize, Cow<'a, Value>)) {
        match &self.0.form {
            Form::Tree(Value::Object(map)) => {
                for (index, key) in keys.iter().enumerate() {
                    if let Some(value) = map.get(key.as_ref()) {
                        found(index, Cow::Borrowed(value));
                    }
                }
            }
            Form::Tree(_) => {}
            // Held text is one valid document that repeats no key, so the pass cannot fail.
            Form::Text(text) => {
                let _ = keys::visit_members(text, keys, |index, value| found(index, Cow::Owned(value)));
            }
        }
    }

    /// JSON text of the document: a tree written compactly with sorted keys, or the text held.
    pub fn to_json_text(&self) -> String {
        self.json_text().into_owned()
    }

    fn json_text(&self) -> Cow<'_, str> {
        match &self.0.form {
            Form::Tree(value) => Cow::Owned(value.to_string()),
            Form::Text(text) => Cow::Borrowed(text),
        }
    }

    fn leads_cmp(&self, other: &Jsonb) -> Option<Ordering> {
        self.0.lead.cmp(&other.0.lead)
    }

    fn structural_hash(&self) -> u64 {
        *self.0.hash.get_or_init(|| match &self.0.form {
            Form::Tree(value) => summary::tree_hash(value),
            // Text gets its hash when it is read; this is only a fallback.
            Form::Text(text) => summary::of_text(text).ok().flatten().map_or(0, |s| s.hash),
        })
    }
}

impl PartialEq for Jsonb {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        // Leads that decide an order belong to unequal documents.
        if self.leads_cmp(other).is_some_and(Ordering::is_ne) {
            return false;
        }
        match (&self.0.form, &other.0.form) {
            (Form::Tree(a), Form::Tree(b)) => a == b,
            (Form::Text(a), Form::Text(b)) if a == b => true,
            // Different hashes belong to unequal documents; equal ones are checked.
            _ => self.structural_hash() == other.structural_hash() && self.value() == other.value(),
        }
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
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        if let Some(order) = self.leads_cmp(other) {
            return order;
        }
        if let (Form::Text(a), Form::Text(b)) = (&self.0.form, &other.0.form) {
            if a == b {
                return Ordering::Equal;
            }
        }
        // cmp_values is Equal exactly for equal documents.
        cmp_values(&self.value(), &other.value())
    }
}

impl Hash for Jsonb {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.structural_hash())
    }
}

/// Stored as JSON text, the representation logs written before held.
impl Serialize for Jsonb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct("Jsonb", &*self.json_text())
    }
}

impl<'de> Deserialize<'de> for Jsonb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "Jsonb")]
        struct Text(String);
        let Text(text) = Text::deserialize(d)?;
        Jsonb::from_text(text).map_err(serde::de::Error::custom)
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

    fn hash(v: &Jsonb) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Documents whose first keys are short and long (past the lead's 16 bytes), whose first values
    /// are small and huge integers, floats, strings and nested documents, so that every branch of
    /// the lead is taken; each as a tree and as compact text, and some as received text.
    fn documents_in_both_forms() -> Vec<Jsonb> {
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
        docs.extend(["null", "1", r#""s""#, "true", "[1, 2]", "[2]", "{}", "-0.0", "[0.0]", r#"{"a\"b": 1}"#].map(j));
        let compact: Vec<Jsonb> = docs.iter().map(|d| d.clone().compact()).collect();
        docs.extend(compact);
        // Text as a source receives it: white space, keys out of order, escapes, trailing zeros.
        let received = [r#" { "name" : "x", "id" : 1 } "#, r#"{"n\u0061me": "y", "id": 1.50}"#, "[ -0.0 ]"];
        docs.extend(received.map(|t| Jsonb::parse_compact(t.as_bytes()).unwrap()));
        docs
    }

    #[test]
    fn leads_and_forms_agree_with_the_full_comparison() {
        let docs = documents_in_both_forms();
        for a in &docs {
            for b in &docs {
                let full = cmp_values(&a.value(), &b.value());
                assert_eq!(a.cmp(b), full, "{} vs {}", a.value(), b.value());
                assert_eq!(a == b, a.value() == b.value(), "{} == {}", a.value(), b.value());
                if a == b {
                    assert_eq!(hash(a), hash(b), "{} and {} hash alike", a.value(), b.value());
                }
            }
        }
    }

    #[test]
    fn text_with_a_repeated_key_keeps_the_last() {
        let doc = Jsonb::parse_compact(br#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(doc, j(r#"{"a": 3, "b": 2}"#));
        assert_eq!(doc.member("a").as_deref(), Some(&Value::from(3)));
        assert!(Jsonb::parse_compact(b"{\"a\": \xff}").is_err());
        assert!(Jsonb::parse_compact(b"[1,").is_err());
    }

    #[test]
    fn members_of_text_are_those_of_the_tree() {
        let tree = j(r#"{"id": 7, "user": {"name": "a"}, "tags": [1, 2]}"#);
        let text = tree.clone().compact();
        for key in ["id", "user", "tags", "missing"] {
            assert_eq!(text.member(key), tree.member(key), "{key}");
        }
        assert_eq!(j("[1]").compact().member("a"), None);
        for doc in [j(r#"{"a": 1, "b": [2], "c": "x"}"#), j(r#"{"a": 1, "b": [2], "c": "x"}"#).compact()] {
            let mut found = Vec::new();
            doc.visit_members(&["c", "missing", "a"], |index, value| found.push((index, value.into_owned())));
            found.sort_by_key(|(index, _)| *index);
            assert_eq!(found, vec![(0, Value::from("x")), (2, Value::from(1))]);
        }
        let mut none = 0;
        j("[1, 2]").compact().visit_members(&["a"], |_, _| none += 1);
        j("3").visit_members(&["a"], |_, _| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn equal_documents_hash_equal() {
        assert_eq!(hash(&j(r#"{"b":1,"a":2}"#)), hash(&j(r#"{"a":2, "b":1}"#)));
        assert_eq!(hash(&j("0.0")), hash(&j("-0.0")));
    }

    #[test]
    fn serializes_as_canonical_text_and_back() {
        let doc = j(r#"{"b": [1, null], "a": "x"}"#);
        let bytes = bincode::serialize(&doc).unwrap();
        assert_eq!(bincode::deserialize::<String>(&bytes).unwrap(), r#"{"a":"x","b":[1,null]}"#);
        let back = bincode::deserialize::<Jsonb>(&bytes).unwrap();
        assert_eq!(back, doc);
        assert!(matches!(back.0.form, Form::Text(_)), "read back as text, not rebuilt as a tree");
    }

    #[test]
    fn floats_survive_the_log_text_unchanged() {
        for text in ["0.097142865812730891", "0.1", "1e300", "-2.2250738585072014e-308", "123456.789012345678"] {
            let doc = j(text);
            let again = Jsonb::parse(&doc.to_json_text()).unwrap();
            assert_eq!(again, doc, "{text}");
        }
    }
}
