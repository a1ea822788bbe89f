//! Parsing only some members of a JSON object: the rest of the text is checked for syntax and
//! skipped, never built. A query that reads `doc->>'a'` and `doc->>'b'` of a text column cast to
//! jsonb needs no more than that, and building the whole document (every key and value allocated,
//! then freed) cost more than the rest of such a query together.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::{Map, Value};

use super::Jsonb;

/// The members of the JSON object `text` named in `keys` (the last of duplicates, as a whole parse
/// keeps), as a document holding only them. `None` when `text` is not one valid JSON object: the
/// caller parses it whole, for its value or for its error.
pub fn parse_object_keys(text: &str, keys: &[String]) -> Option<Jsonb> {
    let mut map = Map::new();
    visit_members(text, keys, |index, value| {
        if let Some(key) = keys.get(index) {
            map.insert(key.clone(), value);
        }
    })?;
    Some(Jsonb::new(Value::Object(map)))
}

/// The member `key` of the JSON object `text`; `None` when it has none or `text` is not an object.
pub(super) fn member(text: &str, key: &str) -> Option<Value> {
    let mut found = None;
    visit_members(text, std::slice::from_ref(&key), |_, value| found = Some(value))?;
    found
}

/// Hands each member named in `keys` (with its key's position) to `found`, in the text's order, so
/// that the last of duplicates is handed last; `None` when `text` is not one valid object.
fn visit_members<S: AsRef<str>>(text: &str, keys: &[S], found: impl FnMut(usize, Value)) -> Option<()> {
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

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn whole(text: &str) -> Jsonb {
        Jsonb::parse(text).unwrap()
    }

    #[test]
    fn keeps_the_named_members_of_an_object() {
        let text = r#"{"id": 7, "user": {"name": "a\"b"}, "tags": [1, [2]], "region": "eu", "n": 1.5e3}"#;
        let got = parse_object_keys(text, &keys(&["region", "user", "missing"])).unwrap();
        assert_eq!(got, whole(r#"{"region": "eu", "user": {"name": "a\"b"}}"#));
        assert_eq!(parse_object_keys(text, &keys(&[])).unwrap(), whole("{}"));
    }

    #[test]
    fn escaped_names_match_and_the_last_duplicate_wins() {
        let got = parse_object_keys(r#"{"re\u0067ion": 1, "region": 2, "x": 0}"#, &keys(&["region"])).unwrap();
        assert_eq!(got, whole(r#"{"region": 2}"#));
        assert_eq!(whole(r#"{"region": 1, "region": 2}"#), whole(r#"{"region": 2}"#), "as a whole parse keeps");
    }

    #[test]
    fn anything_but_one_valid_object_is_left_to_the_whole_parse() {
        for text in ["[1, 2]", "\"s\"", "12", "null", "{\"a\": 1} x", "{\"a\": }", "{\"b\": [1,}", "", "{\"a\": 1"] {
            assert!(parse_object_keys(text, &keys(&["a"])).is_none(), "{text}");
        }
        // Syntax errors in skipped members are errors too.
        assert!(parse_object_keys(r#"{"a": 1, "b": tru}"#, &keys(&["a"])).is_none());
        assert!(parse_object_keys(r#"{"a": 1, "b": "\q"}"#, &keys(&["a"])).is_none());
        assert!(parse_object_keys(" {\"a\": 1} ", &keys(&["a"])).is_some(), "white space around is fine");
    }
}
