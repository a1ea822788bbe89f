//! Conversions between datums and PostgreSQL's text forms: what `psql` prints and what a text
//! literal or a text-format parameter parses to.

use std::fmt::Write;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};

use crate::{Datum, EvalError, Interval, Jsonb, ScalarType, F32, F64};

const UNIX_EPOCH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Formats a datum as PostgreSQL's text output would. NULL has no text form; callers send it as a
/// null field, and this returns `None` for it.
pub fn format_datum(datum: &Datum) -> Option<String> {
    let mut text = String::new();
    // Writing into a String cannot fail.
    matches!(write_datum(&mut text, datum), Ok(true)).then_some(text)
}

/// [`format_datum`] into `out`: whether the datum has a text form (false for NULL, which writes
/// nothing). Integers and text are written in place, so a wire encoder writing into its buffer
/// allocates nothing for them.
pub fn write_datum(out: &mut impl Write, datum: &Datum) -> Result<bool, std::fmt::Error> {
    match datum {
        Datum::Null => return Ok(false),
        Datum::Bool(b) => out.write_str(if *b { "t" } else { "f" })?,
        Datum::Int16(v) => write!(out, "{v}")?,
        Datum::Int32(v) => write!(out, "{v}")?,
        Datum::Int64(v) => write!(out, "{v}")?,
        Datum::Float32(F32(v)) => out.write_str(&format_float(*v as f64, format!("{v:e}"), 6))?,
        Datum::Float64(F64(v)) => out.write_str(&format_float(*v, format!("{v:e}"), 15))?,
        Datum::Numeric(n) => out.write_str(&format_numeric(&n.0))?,
        Datum::Text(s) => out.write_str(s)?,
        Datum::Bytes(b) => out.write_str(&format_bytea(b))?,
        Datum::Jsonb(j) => out.write_str(&format_jsonb(j))?,
        Datum::Date(d) => out.write_str(&format_date(*d))?,
        Datum::Timestamp(t) => out.write_str(&format_timestamp(*t))?,
        Datum::TimestampTz(t) => write!(out, "{}+00", format_timestamp(*t))?,
        Datum::Interval(i) => out.write_str(&format_interval(i))?,
    }
    Ok(true)
}

/// PostgreSQL prints the shortest round-tripping digits, in exponent form when the decimal exponent
/// is below -4 or at least the type's digit count (15 for double, 6 for real).
fn format_float(v: f64, sci: String, max_fixed_exp: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= max_fixed_exp {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let point = exp + 1; // digits before the decimal point
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

pub fn format_numeric(v: &BigDecimal) -> String {
    let (_, scale) = v.as_bigint_and_exponent();
    if scale < 0 {
        // A negative scale (e.g. 1E+3) prints as a plain integer, as PostgreSQL does.
        return v.with_scale(0).to_plain_string();
    }
    v.to_plain_string()
}

fn format_bytea(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// jsonb's output form: `, ` and `: ` separators, object keys ordered by length, then bytes.
pub fn format_jsonb(j: &Jsonb) -> String {
    format_jsonb_value(&j.value())
}

/// [`format_jsonb`] of a document not wrapped in a datum (a part of one, say).
pub fn format_jsonb_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            let mut out = String::new();
            write_json(v, &mut out);
            out
        }
        // A scalar as serde_json writes it, without a second copy (`->>` of a number is one per row).
        scalar => scalar.to_string(),
    }
}

fn write_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_json(&map[key], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    UNIX_EPOCH_DATE.checked_add_signed(chrono::Duration::days(days as i64))
}

pub fn days_from_date(date: NaiveDate) -> i32 {
    (date - UNIX_EPOCH_DATE).num_days() as i32
}

pub fn datetime_from_micros(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|dt| dt.naive_utc())
}

pub fn micros_from_datetime(dt: NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

fn format_date(days: i32) -> String {
    match date_from_days(days) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => format!("<date out of range: {days}>"),
    }
}

fn format_timestamp(micros: i64) -> String {
    let Some(dt) = datetime_from_micros(micros) else {
        return format!("<timestamp out of range: {micros}>");
    };
    let mut out = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = dt.nanosecond() / 1000;
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// PostgreSQL's default (`postgres`) interval style: `1 year 2 mons 3 days 04:05:06.5`.
pub fn format_interval(i: &Interval) -> String {
    let mut parts: Vec<String> = Vec::new();
    let (years, months) = (i.months / 12, i.months % 12);
    let plural = |n: i64, unit: &str, units: &str| format!("{n} {}", if n == 1 { unit } else { units });
    if years != 0 {
        parts.push(plural(years as i64, "year", "years"));
    }
    if months != 0 {
        parts.push(plural(months as i64, "mon", "mons"));
    }
    if i.days != 0 {
        parts.push(plural(i.days as i64, "day", "days"));
    }
    if i.micros != 0 || parts.is_empty() {
        let sign = if i.micros < 0 { "-" } else { "" };
        let total = i.micros.unsigned_abs();
        let (secs, frac) = (total / 1_000_000, total % 1_000_000);
        let mut t = format!("{sign}{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
        if frac != 0 {
            t.push('.');
            t.push_str(format!("{frac:06}").trim_end_matches('0'));
        }
        parts.push(t);
    }
    parts.join(" ")
}

fn invalid(ty: ScalarType, text: &str) -> EvalError {
    EvalError::InvalidTextRepresentation { ty: ty.name().to_string(), text: text.to_string() }
}

/// PostgreSQL reports text shaped like a date/time whose fields are out of range (`2024-02-30`,
/// hour 25) as 22008, and anything else it cannot parse as 22007.
fn datetime_error(ty: ScalarType, text: &str) -> EvalError {
    let t = text.trim();
    let shaped = ty != ScalarType::Interval
        && t.starts_with(|c: char| c.is_ascii_digit())
        && t.contains('-')
        && t.chars().all(|c| c.is_ascii_digit() || "-+:. TZ".contains(c));
    if shaped {
        EvalError::DatetimeOutOfRange(format!("date/time field value out of range: \"{text}\""))
    } else {
        EvalError::InvalidDatetimeFormat { ty: ty.name().to_string(), text: text.to_string() }
    }
}

fn out_of_range(ty: ScalarType, text: &str) -> EvalError {
    EvalError::NumericOutOfRange(format!("value \"{text}\" is out of range for type {}", ty.name()))
}

/// Parses PostgreSQL text input for `ty`, as a cast from text or a text-format parameter does.
pub fn parse_datum(text: &str, ty: ScalarType) -> Result<Datum, EvalError> {
    let trimmed = text.trim();
    Ok(match ty {
        ScalarType::Bool => Datum::Bool(parse_bool(trimmed).ok_or_else(|| invalid(ty, text))?),
        ScalarType::Int16 => Datum::Int16(parse_int::<i16>(trimmed, ty)?),
        ScalarType::Int32 => Datum::Int32(parse_int::<i32>(trimmed, ty)?),
        ScalarType::Int64 => Datum::Int64(parse_int::<i64>(trimmed, ty)?),
        ScalarType::Float32 => {
            let v = parse_float(trimmed).ok_or_else(|| invalid(ty, text))?;
            if v.is_finite() && (v as f32).is_infinite() {
                return Err(out_of_range(ty, text));
            }
            Datum::Float32(F32(v as f32))
        }
        ScalarType::Float64 => Datum::Float64(F64(parse_float(trimmed).ok_or_else(|| invalid(ty, text))?)),
        ScalarType::Numeric => Datum::numeric(BigDecimal::from_str(trimmed).map_err(|_| invalid(ty, text))?),
        ScalarType::Text => Datum::Text(text.to_string()),
        ScalarType::Bytes => Datum::Bytes(parse_bytea(text)?),
        ScalarType::Jsonb => Datum::Jsonb(Jsonb::parse(text).map_err(|_| invalid(ScalarType::Jsonb, text))?),
        ScalarType::Date => Datum::Date(parse_date(trimmed).ok_or_else(|| datetime_error(ty, text))?),
        ScalarType::Timestamp => Datum::Timestamp(parse_timestamp(trimmed).ok_or_else(|| datetime_error(ty, text))?),
        ScalarType::TimestampTz => {
            Datum::TimestampTz(parse_timestamptz(trimmed).ok_or_else(|| datetime_error(ty, text))?)
        }
        ScalarType::Interval => Datum::Interval(parse_interval(trimmed).ok_or_else(|| datetime_error(ty, text))?),
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn parse_int<T: FromStr>(s: &str, ty: ScalarType) -> Result<T, EvalError> {
    match s.parse::<T>() {
        Ok(v) => Ok(v),
        // Distinguish "not a number" (22P02) from "a number too big for the type" (22003).
        Err(_) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Err(out_of_range(ty, s))
            } else {
                Err(invalid(ty, s))
            }
        }
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "inf" | "+infinity" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        lower => lower.parse::<f64>().ok().filter(|_| !lower.contains("inf") && !lower.contains("nan")),
    }
}

/// Hex format errors are 22023 in PostgreSQL; escape format errors are 22P02.
fn parse_bytea(s: &str) -> Result<Vec<u8>, EvalError> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !hex.len().is_multiple_of(2) {
            return Err(EvalError::InvalidParameterValue("invalid hexadecimal data: odd number of digits".into()));
        }
        return hex
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| EvalError::InvalidParameterValue("invalid hexadecimal digit".into()));
    }
    parse_bytea_escape(s).ok_or_else(|| invalid(ScalarType::Bytes, s))
}

fn parse_bytea_escape(s: &str) -> Option<Vec<u8>> {
    // Escape format: backslash escapes octal triples and doubled backslashes.
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
            out.push(u8::from_str_radix(octal, 8).ok()?);
            i += 4;
        }
    }
    Some(out)
}

pub fn parse_date(s: &str) -> Option<i32> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(days_from_date)
}

const TIMESTAMP_FORMATS: &[&str] =
    &["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"];

pub fn parse_timestamp(s: &str) -> Option<i64> {
    for format in TIMESTAMP_FORMATS {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(micros_from_datetime(dt));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(micros_from_datetime)
}

/// Parses a timestamp with an optional UTC offset (`+00`, `+05:30`, `Z`); without one, the session
/// time zone (UTC) applies.
pub fn parse_timestamptz(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix(" UTC")) {
        return parse_timestamp(rest.trim());
    }
    if let Some(pos) = s.rfind(['+', '-']).filter(|&p| p > 10) {
        let (base, offset) = s.split_at(pos);
        let sign: i64 = if offset.starts_with('-') { -1 } else { 1 };
        let offset = &offset[1..];
        let (h, m) = match offset.split_once(':') {
            Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
            None if offset.len() == 4 => (offset[..2].parse().ok()?, offset[2..].parse().ok()?),
            None => (offset.parse::<i64>().ok()?, 0),
        };
        let local = parse_timestamp(base.trim())?;
        return Some(local - sign * (h * 3600 + m * 60) * 1_000_000);
    }
    parse_timestamp(s)
}

/// Parses PostgreSQL interval input: `1 day`, `2 hours 30 minutes`, `1 year 2 mons 3 days 04:05:06`,
/// `-1 week`, `00:00:01.5`.
pub fn parse_interval(s: &str) -> Option<Interval> {
    let mut out = Interval::default();
    let mut tokens = s.split_whitespace().peekable();
    let mut seen_any = false;
    while let Some(token) = tokens.next() {
        seen_any = true;
        if token.contains(':') {
            out.micros = out.micros.checked_add(parse_clock(token)?)?;
            continue;
        }
        let value: f64 = token.parse().ok()?;
        let unit = tokens.next().unwrap_or("seconds").to_ascii_lowercase();
        let unit = unit.trim_end_matches(',');
        add_interval_unit(&mut out, value, unit)?;
    }
    seen_any.then_some(out)
}

fn parse_clock(token: &str) -> Option<i64> {
    let (negative, token) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let parts: Vec<&str> = token.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?, 0.0),
        [h, m, s] => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?, s.parse::<f64>().ok()?),
        _ => return None,
    };
    let micros = (h * 3600 + m * 60) * 1_000_000 + (s * 1_000_000.0).round() as i64;
    Some(if negative { -micros } else { micros })
}

fn add_interval_unit(out: &mut Interval, value: f64, unit: &str) -> Option<()> {
    let singular = if unit.len() > 1 && unit != "ms" && unit != "us" { unit.trim_end_matches('s') } else { unit };
    match singular {
        "millennium" | "millennia" => out.months += (value * 12000.0) as i32,
        "century" | "centurie" => out.months += (value * 1200.0) as i32,
        "decade" => out.months += (value * 120.0) as i32,
        "year" | "yr" | "y" => out.months += (value * 12.0).round() as i32,
        "mon" | "month" => out.months += value.trunc() as i32,
        "week" | "w" => out.days += (value * 7.0) as i32,
        "day" | "d" => out.days += value.trunc() as i32,
        "hour" | "hr" | "h" => out.micros += (value * 3_600_000_000.0).round() as i64,
        "minute" | "min" | "m" => out.micros += (value * 60_000_000.0).round() as i64,
        "second" | "sec" | "" => out.micros += (value * 1_000_000.0).round() as i64,
        "millisecond" | "ms" => out.micros += (value * 1000.0).round() as i64,
        "microsecond" | "us" => out.micros += value.round() as i64,
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(format_datum(&Datum::float64(0.1)).as_deref(), Some("0.1"));
        assert_eq!(format_datum(&Datum::float64(1e20)).as_deref(), Some("1e+20"));
        assert_eq!(format_datum(&Datum::float64(123456.0)).as_deref(), Some("123456"));
        assert_eq!(format_datum(&Datum::float64(0.0001)).as_deref(), Some("0.0001"));
        assert_eq!(format_datum(&Datum::float64(0.00001)).as_deref(), Some("1e-05"));
        assert_eq!(format_datum(&Datum::float64(-2.5)).as_deref(), Some("-2.5"));
        assert_eq!(format_datum(&Datum::float32(1234567.0)).as_deref(), Some("1.234567e+06"));
    }

    #[test]
    fn integers_distinguish_syntax_from_range() {
        assert_eq!(parse_datum("12", ScalarType::Int32), Ok(Datum::Int32(12)));
        assert_eq!(parse_datum("99999999999", ScalarType::Int32).map_err(|e| e.sqlstate()), Err("22003"));
        assert_eq!(parse_datum("abc", ScalarType::Int32).map_err(|e| e.sqlstate()), Err("22P02"));
    }

    #[test]
    fn bad_input_uses_postgres_sqlstates() {
        let code = |text: &str, ty| parse_datum(text, ty).map_err(|e| e.sqlstate());
        assert_eq!(code("not a date", ScalarType::Date), Err("22007"));
        assert_eq!(code("2024-02-30", ScalarType::Date), Err("22008"));
        assert_eq!(code("2024-13-01 00:00:00", ScalarType::Timestamp), Err("22008"));
        assert_eq!(code("2024-01-01 25:00:00+00", ScalarType::TimestampTz), Err("22008"));
        assert_eq!(code("forever", ScalarType::Interval), Err("22007"));
        assert_eq!(code("\\xZZ", ScalarType::Bytes), Err("22023"));
        assert_eq!(code("\\xabc", ScalarType::Bytes), Err("22023"));
        assert_eq!(code("a\\9", ScalarType::Bytes), Err("22P02"));
        assert_eq!(code("\\x0a", ScalarType::Bytes), Ok(Datum::Bytes(vec![10])));
    }

    #[test]
    fn temporal_round_trips() {
        for (text, ty) in [
            ("2024-02-29", ScalarType::Date),
            ("2024-02-29 13:14:15.5", ScalarType::Timestamp),
            ("1 year 2 mons 3 days 04:05:06.5", ScalarType::Interval),
        ] {
            let datum = parse_datum(text, ty).expect("parses");
            assert_eq!(format_datum(&datum).as_deref(), Some(text));
        }
        let tz = parse_datum("2024-01-01 05:00:00+05", ScalarType::TimestampTz).expect("parses");
        assert_eq!(format_datum(&tz).as_deref(), Some("2024-01-01 00:00:00+00"));
    }

    #[test]
    fn jsonb_prints_keys_by_length_then_bytes() {
        let j = Jsonb::parse(r#"{"bb":1,"a":[1,{"z":null}]}"#).expect("valid json");
        assert_eq!(format_jsonb(&j), r#"{"a": [1, {"z": null}], "bb": 1}"#);
    }

    #[test]
    fn numeric_keeps_56_digits_exactly() {
        let text = "49546986683135544286507457936321625675700192471156785154";
        assert_eq!(format_datum(&parse_datum(text, ScalarType::Numeric).expect("parses")).as_deref(), Some(text));
    }
}
