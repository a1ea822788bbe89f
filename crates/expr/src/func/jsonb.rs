//! jsonb operators and functions: field and path access, containment, key existence, building and
//! converting SQL values to JSON.

use std::borrow::Cow;

use bigdecimal::ToPrimitive;
use freshet_repr::strconv::{format_datum, format_jsonb_value};
use freshet_repr::{Datum, EvalError, Jsonb, F32, F64};
use serde_json::{Map, Value};

use super::{type_mismatch, BinaryFunc, UnaryFunc, VariadicFunc};

fn jsonb_datum(v: &Value) -> Datum {
    Datum::Jsonb(Jsonb::from_value(v))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON value as `->>` returns it: strings unquoted, JSON null as SQL NULL.
pub(crate) fn json_to_text(v: &Value) -> Datum {
    match v {
        Value::Null => Datum::Null,
        Value::String(s) => Datum::text(s.clone()),
        other => Datum::Text(format_jsonb_value(other)),
    }
}

/// What `->` (`func` `JsonGet`) or `->>` (`JsonGetText`) returns for a member, `None` when there
/// is no such member.
pub(crate) fn member_datum(func: &BinaryFunc, member: Option<Cow<'_, Value>>) -> Datum {
    match member {
        None => Datum::Null,
        Some(v) if *func == BinaryFunc::JsonGet => Datum::Jsonb(Jsonb::new(v.into_owned())),
        // A member string of its own becomes the text as it is.
        Some(Cow::Owned(Value::String(s))) => Datum::text(s),
        Some(v) => json_to_text(&v),
    }
}

pub(crate) fn eval_unary(func: &UnaryFunc, d: Datum) -> Result<Datum, EvalError> {
    if *func == UnaryFunc::ToJsonb {
        return Ok(jsonb_datum(&datum_to_json(&d)));
    }
    let Datum::Jsonb(j) = &d else {
        return Err(type_mismatch("jsonb function", &d));
    };
    let v = j.value();
    match func {
        UnaryFunc::JsonbTypeof => Ok(Datum::text(type_name(&v))),
        UnaryFunc::JsonbArrayLength => match v.as_ref() {
            Value::Array(items) => Ok(Datum::Int32(items.len() as i32)),
            Value::Object(_) => Err(EvalError::InvalidParameterValue("cannot get array length of a non-array".into())),
            _ => Err(EvalError::InvalidParameterValue("cannot get array length of a scalar".into())),
        },
        _ => Err(type_mismatch("jsonb function", &d)),
    }
}

/// `to_jsonb`: SQL values to JSON, with PostgreSQL's choices for dates, times and special floats.
pub fn datum_to_json(d: &Datum) -> Value {
    let float = |f: f64| serde_json::Number::from_f64(f).map(Value::Number);
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int16(v) => Value::from(*v),
        Datum::Int32(v) => Value::from(*v),
        Datum::Int64(v) => Value::from(*v),
        Datum::Float32(F32(v)) => {
            float(*v as f64).unwrap_or_else(|| Value::String(format_datum(d).unwrap_or_default()))
        }
        Datum::Float64(F64(v)) => float(*v).unwrap_or_else(|| Value::String(format_datum(d).unwrap_or_default())),
        Datum::Numeric(n) => match (n.0.is_integer(), n.0.to_i64()) {
            (true, Some(i)) => Value::from(i),
            _ => n.0.to_f64().and_then(float).unwrap_or(Value::Null),
        },
        Datum::Jsonb(j) => j.to_value(),
        Datum::Timestamp(_) | Datum::TimestampTz(_) => {
            let text = format_datum(d).unwrap_or_default();
            let iso = text.replacen(' ', "T", 1);
            Value::String(if matches!(d, Datum::TimestampTz(_)) { format!("{}:00", iso) } else { iso })
        }
        other => Value::String(format_datum(other).unwrap_or_default()),
    }
}

pub(crate) fn eval_binary(func: &BinaryFunc, a: Datum, b: &Datum) -> Result<Datum, EvalError> {
    let Datum::Jsonb(j) = &a else {
        return Err(type_mismatch("jsonb operator", &a));
    };
    if let (BinaryFunc::JsonGet | BinaryFunc::JsonGetText, Datum::Text(key)) = (func, b) {
        // A document held as text is read for this one member, not rebuilt whole.
        return Ok(member_datum(func, j.member(key)));
    }
    let v = j.value();
    let v = v.as_ref();
    Ok(match (func, b) {
        (BinaryFunc::JsonGet, key) => get(v, key).map(jsonb_datum).unwrap_or(Datum::Null),
        (BinaryFunc::JsonGetText, key) => get(v, key).map(json_to_text).unwrap_or(Datum::Null),
        (BinaryFunc::JsonGetPath, Datum::Text(path)) => get_path(v, path)?.map(jsonb_datum).unwrap_or(Datum::Null),
        (BinaryFunc::JsonGetPathText, Datum::Text(path)) => get_path(v, path)?.map(json_to_text).unwrap_or(Datum::Null),
        (BinaryFunc::JsonContains, Datum::Jsonb(other)) => Datum::Bool(contains(v, &other.value(), true)),
        (BinaryFunc::JsonHasKey, Datum::Text(key)) => Datum::Bool(match v {
            Value::Object(map) => map.contains_key(key),
            Value::Array(items) => items.iter().any(|i| i.as_str() == Some(key)),
            Value::String(s) => s == key,
            _ => false,
        }),
        (BinaryFunc::JsonbConcat, Datum::Jsonb(other)) => Datum::Jsonb(Jsonb::new(concat(v.clone(), other.to_value()))),
        _ => return Err(type_mismatch("jsonb operator", b)),
    })
}

fn array_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

fn get<'a>(v: &'a Value, key: &Datum) -> Option<&'a Value> {
    match (v, key) {
        (Value::Object(map), Datum::Text(k)) => map.get(k),
        (Value::Array(items), Datum::Int64(i)) => items.get(array_index(items.len(), *i)?),
        (Value::Array(items), Datum::Int32(i)) => items.get(array_index(items.len(), *i as i64)?),
        // PostgreSQL treats a scalar as a one-element array for subscripting: `'"s"' -> 0` is `"s"`.
        (Value::Object(_) | Value::Array(_), _) => None,
        (scalar, Datum::Int64(i)) => array_index(1, *i).map(|_| scalar),
        (scalar, Datum::Int32(i)) => array_index(1, *i as i64).map(|_| scalar),
        _ => None,
    }
}

/// Parses a text[] literal such as `{a,0,"b c"}` into its elements.
pub(crate) fn parse_text_array(text: &str) -> Result<Vec<String>, EvalError> {
    let malformed = || EvalError::InvalidTextRepresentation { ty: "text[]".into(), text: text.into() };
    let inner = text.trim().strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or_else(malformed)?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Ok(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().ok_or_else(malformed)? {
                    '"' => break,
                    '\\' => item.push(chars.next().ok_or_else(malformed)?),
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        out.push(item);
        match chars.next() {
            None => return Ok(out),
            Some(',') => continue,
            Some(_) => return Err(malformed()),
        }
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> Result<Option<&'a Value>, EvalError> {
    let mut cur = v;
    for step in parse_text_array(path)? {
        let next = match cur {
            Value::Object(map) => map.get(&step),
            Value::Array(items) => step.parse::<i64>().ok().and_then(|i| items.get(array_index(items.len(), i)?)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

/// PostgreSQL's `@>`: objects contain subsets of their pairs (recursively), arrays contain arrays
/// of elements they contain, and a top-level array contains a bare scalar it has as an element.
pub(crate) fn contains(a: &Value, b: &Value, top_level: bool) -> bool {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            bm.iter().all(|(k, bv)| am.get(k).is_some_and(|av| contains(av, bv, false)))
        }
        (Value::Array(ai), Value::Array(bi)) => bi.iter().all(|bv| ai.iter().any(|av| contains_element(av, bv))),
        (Value::Array(ai), scalar) if top_level && !scalar.is_object() => {
            ai.iter().any(|av| contains_element(av, scalar))
        }
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (x, y) => x == y,
    }
}

fn contains_element(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_)) => contains(a, b, false),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => contains(a, b, false),
    }
}

/// `jsonb || jsonb`: objects merge (right wins), anything else concatenates as arrays.
fn concat(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut am), Value::Object(bm)) => {
            am.extend(bm);
            Value::Object(am)
        }
        (a, b) => {
            let into_items = |v: Value| match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            let mut items = into_items(a);
            items.extend(into_items(b));
            Value::Array(items)
        }
    }
}

pub(crate) fn eval_build(func: &VariadicFunc, datums: &[Datum]) -> Result<Datum, EvalError> {
    if *func == VariadicFunc::JsonbBuildArray {
        return Ok(jsonb_datum(&Value::Array(datums.iter().map(datum_to_json).collect())));
    }
    if !datums.len().is_multiple_of(2) {
        return Err(EvalError::InvalidParameterValue("argument list must have even number of elements".into()));
    }
    let mut map = Map::new();
    for (i, pair) in datums.chunks(2).enumerate() {
        let key = match &pair[0] {
            Datum::Null => {
                return Err(EvalError::InvalidParameterValue(format!("argument {}: key must not be null", 2 * i + 1)))
            }
            Datum::Text(s) => s.clone(),
            other => format_datum(other).unwrap_or_default(),
        };
        map.insert(key, datum_to_json(&pair[1]));
    }
    Ok(jsonb_datum(&Value::Object(map)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Datum {
        Datum::Jsonb(Jsonb::parse(s).unwrap())
    }

    fn bin(func: BinaryFunc, a: Datum, b: Datum) -> Datum {
        eval_binary(&func, a, &b).unwrap()
    }

    #[test]
    fn field_and_index_access() {
        let doc = j(r#"{"a": {"b": [10, 20, 30]}, "s": "x", "n": null}"#);
        assert_eq!(bin(BinaryFunc::JsonGet, doc.clone(), Datum::text("a")), j(r#"{"b":[10,20,30]}"#));
        assert_eq!(bin(BinaryFunc::JsonGetText, doc.clone(), Datum::text("s")), Datum::text("x"));
        assert_eq!(bin(BinaryFunc::JsonGetText, doc.clone(), Datum::text("n")), Datum::Null);
        assert_eq!(bin(BinaryFunc::JsonGet, doc.clone(), Datum::text("missing")), Datum::Null);
        let arr = j("[1, 2, 3]");
        assert_eq!(bin(BinaryFunc::JsonGet, arr.clone(), Datum::Int64(-1)), j("3"));
        assert_eq!(bin(BinaryFunc::JsonGet, arr.clone(), Datum::Int64(3)), Datum::Null);
        assert_eq!(bin(BinaryFunc::JsonGet, arr, Datum::text("0")), Datum::Null);
        assert_eq!(bin(BinaryFunc::JsonGetText, j(r#""s""#), Datum::Int64(0)), Datum::text("s"));
        assert_eq!(bin(BinaryFunc::JsonGet, j("5"), Datum::Int64(-1)), j("5"));
        assert_eq!(bin(BinaryFunc::JsonGet, j("5"), Datum::Int64(1)), Datum::Null);
        assert_eq!(bin(BinaryFunc::JsonGet, j(r#"{"a":1}"#), Datum::Int64(0)), Datum::Null);
        assert_eq!(bin(BinaryFunc::JsonGetPath, doc.clone(), Datum::text("{a,b,1}")), j("20"));
        assert_eq!(bin(BinaryFunc::JsonGetPathText, doc.clone(), Datum::text("{a,b,-1}")), Datum::text("30"));
        assert_eq!(
            bin(BinaryFunc::JsonGetPathText, doc.clone(), Datum::text("{a}")),
            Datum::text(r#"{"b": [10, 20, 30]}"#)
        );
        assert_eq!(bin(BinaryFunc::JsonGetPath, doc, Datum::text("{a,x}")), Datum::Null);
    }

    #[test]
    fn containment_follows_postgres() {
        let c = |a: &str, b: &str| bin(BinaryFunc::JsonContains, j(a), j(b)) == Datum::Bool(true);
        assert!(c(r#"{"a":1,"b":{"c":2,"d":3}}"#, r#"{"b":{"c":2}}"#));
        assert!(!c(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(c("[1,2,[3,4]]", "[[3]]"));
        assert!(c("[1,2,3]", "[3,1,1]"));
        assert!(!c("[1,2,[3]]", "[3]"));
        assert!(c(r#"["foo","bar"]"#, r#""foo""#));
        assert!(!c(r#"{"a":[1,2]}"#, r#"{"a":1}"#));
        assert!(c("1.0", "1"));
    }

    #[test]
    fn keys_typeof_and_building() {
        assert_eq!(bin(BinaryFunc::JsonHasKey, j(r#"{"a":1}"#), Datum::text("a")), Datum::Bool(true));
        assert_eq!(bin(BinaryFunc::JsonHasKey, j(r#"["a"]"#), Datum::text("b")), Datum::Bool(false));
        assert_eq!(eval_unary(&UnaryFunc::JsonbTypeof, j("[]")), Ok(Datum::text("array")));
        assert_eq!(eval_unary(&UnaryFunc::JsonbArrayLength, j("[1,2]")), Ok(Datum::Int32(2)));
        assert_eq!(eval_unary(&UnaryFunc::JsonbArrayLength, j("1")).unwrap_err().sqlstate(), "22023");
        let built = eval_build(
            &VariadicFunc::JsonbBuildObject,
            &[Datum::text("a"), Datum::Int32(1), Datum::text("b"), Datum::Null],
        );
        assert_eq!(built, Ok(j(r#"{"a":1,"b":null}"#)));
        let err = eval_build(&VariadicFunc::JsonbBuildObject, &[Datum::Null, Datum::Int32(1)]).unwrap_err();
        assert_eq!(err.sqlstate(), "22023");
        assert_eq!(
            eval_build(&VariadicFunc::JsonbBuildArray, &[Datum::Bool(true), Datum::text("x")]),
            Ok(j(r#"[true,"x"]"#))
        );
        assert_eq!(bin(BinaryFunc::JsonbConcat, j(r#"{"a":1}"#), j(r#"{"b":2}"#)), j(r#"{"a":1,"b":2}"#));
        assert_eq!(bin(BinaryFunc::JsonbConcat, j("[1]"), j("2")), j("[1,2]"));
    }

    #[test]
    fn to_jsonb_of_sql_values() {
        let ts =
            freshet_repr::strconv::parse_datum("2024-01-02 03:04:05", freshet_repr::ScalarType::Timestamp).unwrap();
        assert_eq!(datum_to_json(&ts), Value::String("2024-01-02T03:04:05".into()));
        assert_eq!(datum_to_json(&Datum::float64(f64::NAN)), Value::String("NaN".into()));
        assert_eq!(datum_to_json(&Datum::text("hi")), Value::String("hi".into()));
        assert_eq!(parse_text_array(r#"{a, "b,c" ,1}"#).unwrap(), vec!["a", "b,c", "1"]);
    }
}
