//! `to_char(timestamp, format)` and `age(timestamp, timestamp)`: PostgreSQL's template patterns
//! for date/time output (the common subset) and its calendar-aware difference of timestamps.

use chrono::{Datelike, NaiveDateTime, Timelike};
use freshet_repr::strconv::datetime_from_micros;
use freshet_repr::{Datum, EvalError, Interval};

use super::type_mismatch;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

fn range_err() -> EvalError {
    EvalError::DatetimeOutOfRange("timestamp out of range".into())
}

/// Patterns, longest first so that `HH24` wins over `HH` and `Month` over `MM`... in scanning order.
const PATTERNS: &[&str] = &[
    "HH24", "HH12", "HH", "MI", "SS", "MS", "US", "AM", "PM", "am", "pm", "A.M.", "P.M.", "a.m.", "p.m.", "YYYY",
    "YYY", "YY", "Y", "IYYY", "MONTH", "Month", "month", "MON", "Mon", "mon", "MM", "DAY", "Day", "day", "DY", "Dy",
    "dy", "DDD", "DD", "D", "ID", "IW", "WW", "Q", "TZ", "tz", "OF",
];

fn case_like(template: &str, word: &str) -> String {
    if template.chars().all(|c| c.is_ascii_uppercase()) {
        word.to_uppercase()
    } else if template.chars().all(|c| c.is_ascii_lowercase()) {
        word.to_lowercase()
    } else {
        word.to_string()
    }
}

/// The text for one pattern; `fill` pads numbers with zeros and names to nine characters.
fn field(pattern: &str, dt: &NaiveDateTime, fill: bool) -> String {
    let num = |v: i64, width: usize| if fill { format!("{v:0width$}") } else { v.to_string() };
    let name = |word: &str| {
        let w = case_like(pattern, word);
        if fill {
            format!("{w:<9}")
        } else {
            w
        }
    };
    let hour12 = match dt.hour() % 12 {
        0 => 12,
        h => h,
    };
    let pm = dt.hour() >= 12;
    let month = dt.month0() as usize;
    let weekday = dt.weekday().num_days_from_sunday() as usize;
    match pattern {
        "HH24" => num(dt.hour() as i64, 2),
        "HH12" | "HH" => num(hour12 as i64, 2),
        "MI" => num(dt.minute() as i64, 2),
        "SS" => num(dt.second() as i64, 2),
        "MS" => num((dt.nanosecond() / 1_000_000) as i64, 3),
        "US" => num((dt.nanosecond() / 1000) as i64, 6),
        "AM" | "PM" => (if pm { "PM" } else { "AM" }).to_string(),
        "am" | "pm" => (if pm { "pm" } else { "am" }).to_string(),
        "A.M." | "P.M." => (if pm { "P.M." } else { "A.M." }).to_string(),
        "a.m." | "p.m." => (if pm { "p.m." } else { "a.m." }).to_string(),
        "YYYY" => num(dt.year() as i64, 4),
        "YYY" => num((dt.year() % 1000) as i64, 3),
        "YY" => num((dt.year() % 100) as i64, 2),
        "Y" => num((dt.year() % 10) as i64, 1),
        "IYYY" => num(dt.iso_week().year() as i64, 4),
        "MONTH" | "Month" | "month" => name(MONTHS[month]),
        "MON" | "Mon" | "mon" => case_like(pattern, &MONTHS[month][..3]),
        "MM" => num(dt.month() as i64, 2),
        "DAY" | "Day" | "day" => name(DAYS[weekday]),
        "DY" | "Dy" | "dy" => case_like(pattern, &DAYS[weekday][..3]),
        "DDD" => num(dt.ordinal() as i64, 3),
        "DD" => num(dt.day() as i64, 2),
        "D" => (weekday + 1).to_string(),
        "ID" => dt.weekday().number_from_monday().to_string(),
        "IW" => num(dt.iso_week().week() as i64, 2),
        "WW" => num((dt.ordinal0() / 7 + 1) as i64, 2),
        "Q" => ((dt.month0() / 3) + 1).to_string(),
        "TZ" => "UTC".to_string(),
        "tz" => "utc".to_string(),
        "OF" => "+00".to_string(),
        _ => String::new(),
    }
}

/// Formats `micros` (a timestamp) with a PostgreSQL `to_char` template.
fn to_char(micros: i64, template: &str) -> Result<String, EvalError> {
    let dt = datetime_from_micros(micros).ok_or_else(range_err)?;
    let mut out = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('"') {
            // Quoted literal text; a backslash escapes a quote inside it.
            let mut chars = after.char_indices();
            let mut end = after.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    ch => out.push(ch),
                }
            }
            rest = &after[end.min(after.len())..];
            continue;
        }
        let (fill, body) = match rest.strip_prefix("FM") {
            Some(stripped) => (false, stripped),
            None => (true, rest),
        };
        if let Some(pattern) = PATTERNS.iter().find(|p| body.starts_with(**p)) {
            out.push_str(&field(pattern, &dt, fill));
            rest = &body[pattern.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}

pub(crate) fn eval_to_char(value: Datum, template: Datum) -> Result<Datum, EvalError> {
    let Datum::Text(template) = template else {
        return Err(type_mismatch("to_char", &template));
    };
    match value {
        Datum::Timestamp(t) | Datum::TimestampTz(t) => to_char(t, &template).map(Datum::Text),
        other => Err(type_mismatch("to_char", &other)),
    }
}

/// `age(a, b)`: `a - b` in years, months and days, borrowing like PostgreSQL's `timestamp_age`.
pub(crate) fn eval_age(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let (x, y) = match (&a, &b) {
        (Datum::Timestamp(x), Datum::Timestamp(y)) | (Datum::TimestampTz(x), Datum::TimestampTz(y)) => (*x, *y),
        _ => return Err(type_mismatch("age", &a)),
    };
    let (later, earlier, sign) = if x >= y { (x, y, 1) } else { (y, x, -1) };
    let l = datetime_from_micros(later).ok_or_else(range_err)?;
    let e = datetime_from_micros(earlier).ok_or_else(range_err)?;
    let time = |d: &NaiveDateTime| d.num_seconds_from_midnight() as i64 * 1_000_000 + (d.nanosecond() / 1000) as i64;
    let mut micros = time(&l) - time(&e);
    let mut days = l.day() as i64 - e.day() as i64;
    let mut months = l.month() as i64 - e.month() as i64 + 12 * (l.year() as i64 - e.year() as i64);
    if micros < 0 {
        micros += Interval::MICROS_PER_DAY;
        days -= 1;
    }
    if days < 0 {
        // PostgreSQL borrows the length of the earlier date's month.
        days += days_in_month(e.year(), e.month());
        months -= 1;
    }
    let to_i32 = |v: i64| i32::try_from(v * sign).map_err(|_| range_err());
    Ok(Datum::Interval(Interval { months: to_i32(months)?, days: to_i32(days)?, micros: micros * sign }))
}

fn days_in_month(year: i32, month: u32) -> i64 {
    let next = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    match (chrono::NaiveDate::from_ymd_opt(next.0, next.1, 1), chrono::NaiveDate::from_ymd_opt(year, month, 1)) {
        (Some(n), Some(t)) => (n - t).num_days(),
        _ => 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_repr::strconv::{format_datum, parse_datum};
    use freshet_repr::ScalarType;

    fn ts(s: &str) -> Datum {
        parse_datum(s, ScalarType::Timestamp).unwrap()
    }

    fn fmt(s: &str, template: &str) -> String {
        match eval_to_char(ts(s), Datum::text(template)).unwrap() {
            Datum::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn to_char_templates() {
        assert_eq!(fmt("2024-03-05 14:07:09.123", "YYYY-MM-DD HH24:MI:SS.MS"), "2024-03-05 14:07:09.123");
        assert_eq!(fmt("2024-03-05 14:07:09", "HH12:MI AM"), "02:07 PM");
        assert_eq!(fmt("2024-03-05 00:07:09", "FMHH12 am"), "12 am");
        assert_eq!(fmt("2024-03-05 14:07:09", "Day, DD Mon YYYY"), "Tuesday  , 05 Mar 2024");
        assert_eq!(fmt("2024-03-05 14:07:09", "FMDay FMMonth"), "Tuesday March");
        assert_eq!(fmt("2024-03-05 14:07:09", "MONTH"), "MARCH    ");
        assert_eq!(fmt("2024-03-05 14:07:09", "\"Q\"Q \"of\" YYYY"), "Q1 of 2024");
        assert_eq!(fmt("2024-03-05 14:07:09", "FMDD/FMMM"), "5/3");
    }

    #[test]
    fn age_borrows_months_and_days() {
        let age = |a: &str, b: &str| format_datum(&eval_age(ts(a), ts(b)).unwrap()).unwrap();
        assert_eq!(age("2024-03-01 00:00:00", "2023-01-15 12:00:00"), "1 year 1 mon 16 days 12:00:00");
        assert_eq!(age("2001-04-10 00:00:00", "1957-06-13 00:00:00"), "43 years 9 mons 27 days");
        assert_eq!(age("2024-01-01 00:00:00", "2024-01-01 00:00:00"), "00:00:00");
        assert_eq!(age("2023-01-15 00:00:00", "2024-01-15 00:00:00"), "-1 years");
    }
}
