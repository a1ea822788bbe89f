//! Parsing only some members of a JSON object: the rest of the text is checked for syntax and
//! skipped, never built. A query that reads `doc->>'a'` and `doc->>'b'` of a text column cast to
//! jsonb needs no more than that, and building the whole document (every key and value allocated,
//! then freed) cost more than the rest of such a query together.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;

/// The member `key` of the JSON object `text`; `None` when it has none or `text` is not an object.
pub(super) fn member(text: &str, key: &str) -> Option<Value> {
    let mut found = None;
    visit_members(text, std::slice::from_ref(&key), |_, value| found = Some(value))?;
    found
}

/// Hands each member named in `keys` (with its key's position) to `found`, in the text's order, so
/// that the last of duplicates is handed last (as a whole parse keeps it); `None` when `text` is
/// not one valid JSON object, whose members the caller must then not use: it parses the text whole,
/// for its value or for its error.
pub fn visit_members<S: AsRef<str>>(text: &str, keys: &[S], found: impl FnMut(usize, Value)) -> Option<()> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_map(Members { keys, found }).ok()?;
    deserializer.end().ok()
}

struct Members<'k, S, F> {
    keys: &'k [S],
    found: F,
}

impl<'de, S: AsRef<str>, F: FnMut(usize, Value)> Visitor<'de> for Members<'_, S, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<(), A::Error> {
        while let Some(wanted) = access.next_key_seed(KeyIndex { keys: self.keys })? {
            match wanted {
                Some(index) => (self.found)(index, access.next_value()?),
                None => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a member name without allocating it: its position in `keys`, if it is one of them.
struct KeyIndex<'k, S> {
    keys: &'k [S],
}

impl<'de, S: AsRef<str>> DeserializeSeed<'de> for KeyIndex<'_, S> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, S: AsRef<str>> Visitor<'de> for KeyIndex<'_, S> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.keys.iter().position(|key| key.as_ref() == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members of `text` named in `names`, by name, the last duplicate winning.
    fn members(text: &str, names: &[&str]) -> Option<Vec<(String, Value)>> {
        let mut found: Vec<Option<Value>> = vec![None; names.len()];
        visit_members(text, names, |index, value| found[index] = Some(value))?;
        Some(names.iter().zip(found).filter_map(|(name, value)| Some((name.to_string(), value?))).collect())
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn hands_over_the_named_members_of_an_object() {
        let text = r#"{"id": 7, "user": {"name": "a\"b"}, "tags": [1, [2]], "region": "eu", "n": 1.5e3}"#;
        let got = members(text, &["region", "user", "missing"]).unwrap();
        assert_eq!(got, vec![("region".into(), value(r#""eu""#)), ("user".into(), value(r#"{"name": "a\"b"}"#))]);
        assert_eq!(members(text, &[]).unwrap(), vec![]);
    }

    #[test]
    fn escaped_names_match_and_the_last_duplicate_wins() {
        let got = members(r#"{"re\u0067ion": 1, "region": 2, "x": 0}"#, &["region"]).unwrap();
        assert_eq!(got, vec![("region".into(), value("2"))]);
        assert_eq!(value(r#"{"region": 1, "region": 2}"#), value(r#"{"region": 2}"#), "as a whole parse keeps");
    }

    #[test]
    fn anything_but_one_valid_object_is_left_to_the_whole_parse() {
        for text in ["[1, 2]", "\"s\"", "12", "null", "{\"a\": 1} x", "{\"a\": }", "{\"b\": [1,}", "", "{\"a\": 1"] {
            assert!(members(text, &["a"]).is_none(), "{text}");
        }
        // Syntax errors in skipped members are errors too.
        assert!(members(r#"{"a": 1, "b": tru}"#, &["a"]).is_none());
        assert!(members(r#"{"a": 1, "b": "\q"}"#, &["a"]).is_none());
        assert!(members(" {\"a\": 1} ", &["a"]).is_some(), "white space around is fine");
    }
}
