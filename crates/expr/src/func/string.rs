//! Text functions: case, length, trimming, padding, searching, LIKE and regular expressions.
//! Positions and lengths count characters, not bytes, as PostgreSQL does in UTF-8.

use std::cell::RefCell;
use std::collections::HashMap;

use freshet_repr::{Datum, EvalError};

use super::{type_mismatch, BinaryFunc, UnaryFunc, VariadicFunc};

/// Longest string `repeat`/`lpad` may build; PostgreSQL's limit is 1 GB.
const MAX_STRING_BYTES: usize = 1 << 30;

fn text<'a>(func: &str, d: &'a Datum) -> Result<&'a str, EvalError> {
    match d {
        Datum::Text(s) => Ok(s),
        other => Err(type_mismatch(func, other)),
    }
}

fn int(func: &str, d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Int16(v) => Ok(*v as i64),
        Datum::Int32(v) => Ok(*v as i64),
        Datum::Int64(v) => Ok(*v),
        other => Err(type_mismatch(func, other)),
    }
}

fn too_long() -> EvalError {
    EvalError::InvalidParameterValue("requested length too large".into())
}

pub(crate) fn eval_unary(func: &UnaryFunc, d: Datum) -> Result<Datum, EvalError> {
    if let (UnaryFunc::OctetLength, Datum::Bytes(b)) = (func, &d) {
        return Ok(Datum::Int32(b.len() as i32));
    }
    if let (UnaryFunc::Md5, Datum::Bytes(b)) = (func, &d) {
        return Ok(Datum::Text(format!("{:x}", md5::compute(b))));
    }
    let s = text("string function", &d)?;
    Ok(match func {
        UnaryFunc::Lower => Datum::text(s.to_lowercase()),
        UnaryFunc::Upper => Datum::text(s.to_uppercase()),
        UnaryFunc::CharLength => Datum::Int32(s.chars().count() as i32),
        UnaryFunc::OctetLength => Datum::Int32(s.len() as i32),
        UnaryFunc::Reverse => Datum::text(s.chars().rev().collect::<String>()),
        UnaryFunc::Initcap => Datum::text(initcap(s)),
        UnaryFunc::Md5 => Datum::Text(format!("{:x}", md5::compute(s.as_bytes()))),
        UnaryFunc::Ascii => Datum::Int32(s.chars().next().map_or(0, |c| c as i32)),
        _ => return Err(type_mismatch("string function", &d)),
    })
}

/// `chr(n)`: the character with code point `n`, as PostgreSQL does in UTF-8.
pub(crate) fn chr(d: Datum) -> Result<Datum, EvalError> {
    let Datum::Int32(n) = d else { return Err(type_mismatch("chr", &d)) };
    if n == 0 {
        return Err(EvalError::ProgramLimitExceeded("null character not permitted".into()));
    }
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(|| EvalError::ProgramLimitExceeded(format!("requested character too large for encoding: {n}")))?;
    Ok(Datum::Text(c.to_string()))
}

fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if in_word {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        in_word = c.is_alphanumeric();
    }
    out
}

pub(crate) fn eval_binary(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let s = text("string function", &a)?;
    Ok(match func {
        BinaryFunc::TextConcat => Datum::Text(format!("{s}{}", text("||", &b)?)),
        BinaryFunc::Like => Datum::Bool(like(s, text("LIKE", &b)?, false)?),
        BinaryFunc::ILike => Datum::Bool(like(s, text("ILIKE", &b)?, true)?),
        BinaryFunc::RegexMatch { case_insensitive } => {
            Datum::Bool(build_regex(text("~", &b)?, *case_insensitive)?.is_match(s))
        }
        BinaryFunc::Position => Datum::Int32(position(s, text("strpos", &b)?)),
        BinaryFunc::Left => Datum::text(left(s, int("left", &b)?)),
        BinaryFunc::Right => Datum::text(right(s, int("right", &b)?)),
        BinaryFunc::Repeat => {
            let n = int("repeat", &b)?.max(0) as usize;
            if s.len().saturating_mul(n) > MAX_STRING_BYTES {
                return Err(too_long());
            }
            Datum::text(s.repeat(n))
        }
        BinaryFunc::StartsWith => Datum::Bool(s.starts_with(text("starts_with", &b)?)),
        BinaryFunc::BTrim | BinaryFunc::LTrim | BinaryFunc::RTrim => {
            let chars: Vec<char> = text("trim", &b)?.chars().collect();
            let pred = |c: char| chars.contains(&c);
            Datum::text(match func {
                BinaryFunc::LTrim => s.trim_start_matches(pred),
                BinaryFunc::RTrim => s.trim_end_matches(pred),
                _ => s.trim_matches(pred),
            })
        }
        _ => return Err(type_mismatch("string function", &a)),
    })
}

fn position(haystack: &str, needle: &str) -> i32 {
    match haystack.find(needle) {
        Some(byte) => haystack[..byte].chars().count() as i32 + 1,
        None => 0,
    }
}

/// `left(s, n)`: the first `n` characters, or all but the last `-n`.
fn left(s: &str, n: i64) -> String {
    let len = s.chars().count() as i64;
    let take = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    s.chars().take(take as usize).collect()
}

fn right(s: &str, n: i64) -> String {
    let len = s.chars().count() as i64;
    let take = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    s.chars().skip((len - take) as usize).collect()
}

/// SQL LIKE with `%`, `_` and backslash escapes, by iterative backtracking over the last `%`.
pub(crate) fn like(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    #[derive(PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let fold = |c: char| if case_insensitive { c.to_lowercase().next().unwrap_or(c) } else { c };
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => match chars.next() {
                Some(e) => Tok::Lit(fold(e)),
                None => {
                    return Err(EvalError::InvalidEscapeSequence(
                        "LIKE pattern must not end with escape character".into(),
                    ))
                }
            },
            c => Tok::Lit(fold(c)),
        });
    }
    let text: Vec<char> = s.chars().map(fold).collect();
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Any) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                t += 1;
                p += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    backtrack = Some((bp, bt + 1));
                    p = bp + 1;
                    t = bt + 1;
                }
                None => return Ok(false),
            },
        }
    }
    Ok(toks[p..].iter().all(|tok| *tok == Tok::Any))
}

/// How many compiled patterns each worker thread keeps; patterns are almost always constants, so
/// a small cache spares recompiling one per row.
const REGEX_CACHE_SIZE: usize = 64;

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<(String, bool), regex::Regex>> = RefCell::new(HashMap::new());
}

fn build_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, EvalError> {
    let key = (pattern.to_string(), case_insensitive);
    if let Some(re) = REGEX_CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(re);
    }
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| EvalError::InvalidRegex(format!("invalid regular expression: {e}")))?;
    REGEX_CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= REGEX_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, re.clone());
    });
    Ok(re)
}

pub(crate) fn eval_concat(func: &VariadicFunc, datums: &[Datum]) -> Result<Datum, EvalError> {
    let (sep, values) = match func {
        VariadicFunc::ConcatWs => match datums.split_first() {
            Some((Datum::Null, _)) | None => return Ok(Datum::Null),
            Some((sep, rest)) => (text("concat_ws", sep)?, rest),
        },
        _ => ("", datums),
    };
    let parts = values
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| match d {
            // concat uses each type's output function, which spells booleans `t`/`f` (a cast says `true`).
            Datum::Bool(b) => Ok(if *b { "t" } else { "f" }),
            other => text("concat", other),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Datum::text(parts.join(sep)))
}

pub(crate) fn eval_variadic(func: &VariadicFunc, d: &[Datum]) -> Result<Datum, EvalError> {
    let arg = |i: usize| d.get(i).ok_or_else(|| EvalError::Internal(format!("{func:?}: missing argument {i}")));
    let s = text("string function", arg(0)?)?;
    Ok(Datum::Text(match func {
        VariadicFunc::Substr => {
            let count = d.get(2).map(|c| int("substr", c)).transpose()?;
            substr(s, int("substr", arg(1)?)?, count)?
        }
        VariadicFunc::SplitPart => split_part(s, text("split_part", arg(1)?)?, int("split_part", arg(2)?)?)?,
        VariadicFunc::Replace => {
            let from = text("replace", arg(1)?)?;
            if from.is_empty() {
                s.to_string()
            } else {
                s.replace(from, text("replace", arg(2)?)?)
            }
        }
        VariadicFunc::Lpad | VariadicFunc::Rpad => {
            let fill = d.get(2).map(|f| text("pad", f)).transpose()?.unwrap_or(" ");
            pad(s, int("pad", arg(1)?)?, fill, *func == VariadicFunc::Lpad)?
        }
        VariadicFunc::RegexpReplace => {
            let flags = d.get(3).map(|f| text("regexp_replace", f)).transpose()?.unwrap_or("");
            regexp_replace(s, text("regexp_replace", arg(1)?)?, text("regexp_replace", arg(2)?)?, flags)?
        }
        _ => return Err(type_mismatch("string function", arg(0)?)),
    }))
}

/// PostgreSQL's `substr`: a start before 1 eats into the count.
fn substr(s: &str, start: i64, count: Option<i64>) -> Result<String, EvalError> {
    let end = match count {
        Some(c) if c < 0 => return Err(EvalError::SubstringError("negative substring length not allowed".into())),
        Some(c) => start.saturating_add(c),
        None => i64::MAX,
    };
    let first = start.max(1);
    if end <= first {
        return Ok(String::new());
    }
    let take = usize::try_from(end - first).unwrap_or(usize::MAX);
    Ok(s.chars().skip(usize::try_from(first - 1).unwrap_or(usize::MAX)).take(take).collect())
}

fn split_part(s: &str, delim: &str, n: i64) -> Result<String, EvalError> {
    if n == 0 {
        return Err(EvalError::InvalidParameterValue("field position must not be zero".into()));
    }
    let parts: Vec<&str> = if delim.is_empty() { vec![s] } else { s.split(delim).collect() };
    let index = if n > 0 { n - 1 } else { parts.len() as i64 + n };
    Ok(usize::try_from(index).ok().and_then(|i| parts.get(i)).copied().unwrap_or("").to_string())
}

fn pad(s: &str, len: i64, fill: &str, left: bool) -> Result<String, EvalError> {
    let len = len.max(0) as usize;
    if len > MAX_STRING_BYTES {
        return Err(too_long());
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= len || fill.is_empty() {
        return Ok(chars.into_iter().take(len).collect());
    }
    let padding: String = fill.chars().cycle().take(len - chars.len()).collect();
    Ok(if left { format!("{padding}{s}") } else { format!("{s}{padding}") })
}

/// PostgreSQL replacement syntax (`\1`, `\&`) rewritten for the regex crate (`${1}`, `${0}`).
fn translate_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => out.push_str(&format!("${{{d}}}")),
                Some('&') => out.push_str("${0}"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn regexp_replace(s: &str, pattern: &str, replacement: &str, flags: &str) -> Result<String, EvalError> {
    if let Some(bad) = flags.chars().find(|c| !matches!(c, 'g' | 'i' | 'c')) {
        return Err(EvalError::InvalidParameterValue(format!("invalid regular expression option: \"{bad}\"")));
    }
    let case_insensitive = flags.rfind('i') > flags.rfind('c');
    let re = build_regex(pattern, case_insensitive)?;
    let rep = translate_replacement(replacement);
    Ok(if flags.contains('g') { re.replace_all(s, rep.as_str()) } else { re.replace(s, rep.as_str()) }.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Datum {
        Datum::text(s)
    }

    fn var(func: VariadicFunc, args: Vec<Datum>) -> Result<Datum, EvalError> {
        func.eval_datums(args)
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", false).unwrap());
        assert!(like("hello", "h_llo", false).unwrap());
        assert!(!like("hello", "h_lo", false).unwrap());
        assert!(like("50%", "50\\%", false).unwrap());
        assert!(!like("500", "50\\%", false).unwrap());
        assert!(like("HeLLo", "hel%", true).unwrap());
        assert!(!like("HeLLo", "hel%", false).unwrap());
        assert!(like("", "%", false).unwrap());
        assert!(like("abcabc", "%abc", false).unwrap());
        assert_eq!(like("a", "a\\", false).unwrap_err().sqlstate(), "22025");
    }

    #[test]
    fn unary_text_functions() {
        assert_eq!(eval_unary(&UnaryFunc::Upper, t("straße")), Ok(t("STRASSE")));
        assert_eq!(eval_unary(&UnaryFunc::CharLength, t("héllo")), Ok(Datum::Int32(5)));
        assert_eq!(eval_unary(&UnaryFunc::OctetLength, t("héllo")), Ok(Datum::Int32(6)));
        assert_eq!(eval_unary(&UnaryFunc::Initcap, t("hello wORLD-foo")), Ok(t("Hello World-Foo")));
        assert_eq!(eval_unary(&UnaryFunc::Md5, t("abc")), Ok(t("900150983cd24fb0d6963f7d28e17f72")));
        assert_eq!(eval_unary(&UnaryFunc::Reverse, t("abc")), Ok(t("cba")));
    }

    #[test]
    fn substr_and_split_part() {
        let sub = |s: &str, a: i32, n: Option<i32>| {
            let mut args = vec![t(s), Datum::Int32(a)];
            args.extend(n.map(Datum::Int32));
            var(VariadicFunc::Substr, args)
        };
        assert_eq!(sub("hello", 2, Some(3)), Ok(t("ell")));
        assert_eq!(sub("hello", 0, Some(2)), Ok(t("h")));
        assert_eq!(sub("hello", 3, None), Ok(t("llo")));
        assert_eq!(sub("hello", -5, Some(3)), Ok(t("")));
        assert_eq!(sub("hello", 1, Some(-1)).unwrap_err().sqlstate(), "22011");
        let split = |n| var(VariadicFunc::SplitPart, vec![t("a,b,c"), t(","), Datum::Int32(n)]);
        assert_eq!(split(2), Ok(t("b")));
        assert_eq!(split(-1), Ok(t("c")));
        assert_eq!(split(5), Ok(t("")));
        assert_eq!(split(0).unwrap_err().sqlstate(), "22023");
    }

    #[test]
    fn concat_skips_nulls_and_concat_ws_needs_separator() {
        assert_eq!(var(VariadicFunc::Concat, vec![t("a"), Datum::Null, t("b")]), Ok(t("ab")));
        assert_eq!(var(VariadicFunc::ConcatWs, vec![t("-"), t("a"), Datum::Null, t("b")]), Ok(t("a-b")));
        assert_eq!(var(VariadicFunc::ConcatWs, vec![Datum::Null, t("a")]), Ok(Datum::Null));
    }

    #[test]
    fn padding_trimming_and_searching() {
        assert_eq!(var(VariadicFunc::Lpad, vec![t("hi"), Datum::Int32(5), t("xy")]), Ok(t("xyxhi")));
        assert_eq!(var(VariadicFunc::Rpad, vec![t("hi"), Datum::Int32(4)]), Ok(t("hi  ")));
        assert_eq!(var(VariadicFunc::Lpad, vec![t("hello"), Datum::Int32(2)]), Ok(t("he")));
        assert_eq!(eval_binary(&BinaryFunc::BTrim, t("xxhixx"), t("x")), Ok(t("hi")));
        assert_eq!(eval_binary(&BinaryFunc::LTrim, t("  hi "), t(" ")), Ok(t("hi ")));
        assert_eq!(eval_binary(&BinaryFunc::Position, t("héllo"), t("llo")), Ok(Datum::Int32(3)));
        assert_eq!(eval_binary(&BinaryFunc::Position, t("hello"), t("z")), Ok(Datum::Int32(0)));
        assert_eq!(eval_binary(&BinaryFunc::Left, t("hello"), Datum::Int32(-2)), Ok(t("hel")));
        assert_eq!(eval_binary(&BinaryFunc::Right, t("hello"), Datum::Int32(2)), Ok(t("lo")));
        assert_eq!(eval_binary(&BinaryFunc::Repeat, t("ab"), Datum::Int32(3)), Ok(t("ababab")));
        assert_eq!(var(VariadicFunc::Replace, vec![t("aXbX"), t("X"), t("-")]), Ok(t("a-b-")));
    }

    #[test]
    fn regular_expressions() {
        let rr = |args: Vec<&str>| var(VariadicFunc::RegexpReplace, args.into_iter().map(t).collect());
        assert_eq!(rr(vec!["foobarbaz", "b(..)", "X\\1Y"]), Ok(t("fooXarYbaz")));
        assert_eq!(rr(vec!["foobarbaz", "b(..)", "X\\1Y", "g"]), Ok(t("fooXarYXazY")));
        assert_eq!(rr(vec!["ABC", "b", "x", "i"]), Ok(t("AxC")));
        assert_eq!(rr(vec!["a", "(", "x"]).unwrap_err().sqlstate(), "2201B");
        let m = BinaryFunc::RegexMatch { case_insensitive: true };
        assert_eq!(eval_binary(&m, t("Hello"), t("^h.*o$")), Ok(Datum::Bool(true)));
    }
}
