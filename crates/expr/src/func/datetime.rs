//! Date and time functions: `date_trunc`, `extract`/`date_part`, `to_timestamp`, `make_date`.
//! The session time zone is always UTC, so timestamptz behaves like timestamp here.

use bigdecimal::BigDecimal;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use freshet_repr::strconv::{datetime_from_micros, days_from_date, micros_from_datetime};
use freshet_repr::{Datum, EvalError, Interval, F64};

use super::cast::numeric_to_f64;
use super::{type_mismatch, BinaryFunc};

fn range_err() -> EvalError {
    EvalError::DatetimeOutOfRange("timestamp out of range".into())
}

fn unit_err(unit: &str, ty: &str) -> EvalError {
    EvalError::InvalidParameterValue(format!("unit \"{unit}\" not recognized for type {ty}"))
}

pub(crate) fn to_timestamp(d: Datum) -> Result<Datum, EvalError> {
    let Datum::Float64(F64(secs)) = d else {
        return Err(type_mismatch("to_timestamp", &d));
    };
    if secs.is_nan() {
        return Err(EvalError::DatetimeOutOfRange("timestamp cannot be NaN".into()));
    }
    let micros = (secs * 1_000_000.0).round();
    // chrono's representable range is narrower than i64 micros; reject what it cannot print.
    if !micros.is_finite() || micros.abs() > 9.2e18 || datetime_from_micros(micros as i64).is_none() {
        return Err(range_err());
    }
    Ok(Datum::TimestampTz(micros as i64))
}

pub(crate) fn make_date(d: &[Datum]) -> Result<Datum, EvalError> {
    let [Datum::Int32(y), Datum::Int32(m), Datum::Int32(day)] = d else {
        return Err(EvalError::Internal(format!("make_date applied to {d:?}")));
    };
    // PostgreSQL counts years BC as negative and has no year 0.
    let year = if *y < 0 { y + 1 } else { *y };
    let bad = || EvalError::DatetimeOutOfRange(format!("date field value out of range: {y}-{m:02}-{day:02}"));
    if *y == 0 {
        return Err(bad());
    }
    let date =
        NaiveDate::from_ymd_opt(year, (*m).try_into().map_err(|_| bad())?, (*day).try_into().map_err(|_| bad())?)
            .ok_or_else(bad)?;
    Ok(Datum::Date(days_from_date(date)))
}

pub(crate) fn eval_binary(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let Datum::Text(unit) = &a else {
        return Err(type_mismatch("date function", &a));
    };
    if *func == BinaryFunc::Timezone {
        return timezone(unit, b);
    }
    let unit = normalize_unit(unit);
    match func {
        BinaryFunc::DateTrunc => match b {
            Datum::Timestamp(t) => Ok(Datum::Timestamp(date_trunc(&unit, t)?)),
            Datum::TimestampTz(t) => Ok(Datum::TimestampTz(date_trunc(&unit, t)?)),
            other => Err(type_mismatch("date_trunc", &other)),
        },
        BinaryFunc::Extract => extract_numeric(&unit, &b).map(Datum::numeric),
        _ => extract_numeric(&unit, &b).map(|n| Datum::float64(numeric_to_f64(&n))),
    }
}

fn timezone(zone: &str, ts: Datum) -> Result<Datum, EvalError> {
    if !matches!(zone.trim().to_ascii_lowercase().as_str(), "utc" | "gmt" | "z" | "etc/utc" | "zulu" | "+00" | "+00:00")
    {
        return Err(EvalError::InvalidParameterValue(format!("time zone \"{zone}\" not recognized")));
    }
    match ts {
        Datum::Timestamp(t) => Ok(Datum::TimestampTz(t)),
        Datum::TimestampTz(t) => Ok(Datum::Timestamp(t)),
        other => Err(type_mismatch("timezone", &other)),
    }
}

/// Unit names are case-insensitive and accept plural and abbreviated forms.
fn normalize_unit(unit: &str) -> String {
    let lower = unit.trim().to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => "microseconds",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => "milliseconds",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "minute" | "minutes" | "m" | "min" | "mins" => "minute",
        "hour" | "hours" | "h" | "hr" | "hrs" => "hour",
        "day" | "days" | "d" => "day",
        "week" | "weeks" | "w" => "week",
        "month" | "months" | "mon" | "mons" => "month",
        "quarter" | "qtr" => "quarter",
        "year" | "years" | "y" | "yr" | "yrs" => "year",
        "decade" | "decades" | "dec" => "decade",
        "century" | "centuries" | "c" | "cent" => "century",
        "millennium" | "millennia" | "mil" | "mils" => "millennium",
        other => other,
    };
    canonical.to_string()
}

fn date_trunc(unit: &str, micros: i64) -> Result<i64, EvalError> {
    let dt = datetime_from_micros(micros).ok_or_else(range_err)?;
    let date = dt.date();
    let ymd = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(range_err);
    let first_year = |step: i32, offset: i32| -> Result<NaiveDate, EvalError> {
        let y = dt.year() - offset;
        ymd(y.div_euclid(step) * step + offset, 1)
    };
    let truncated_date = match unit {
        "microseconds" => return Ok(micros),
        "milliseconds" => return Ok(micros.div_euclid(1000) * 1000),
        "second" => return Ok(micros.div_euclid(1_000_000) * 1_000_000),
        "minute" => return Ok(micros.div_euclid(60_000_000) * 60_000_000),
        "hour" => return Ok(micros.div_euclid(3_600_000_000) * 3_600_000_000),
        "day" => date,
        "week" => date - chrono::Duration::days(date.weekday().num_days_from_monday() as i64),
        "month" => ymd(dt.year(), dt.month())?,
        "quarter" => ymd(dt.year(), (dt.month() - 1) / 3 * 3 + 1)?,
        "year" => ymd(dt.year(), 1)?,
        "decade" => first_year(10, 0)?,
        "century" => first_year(100, 1)?,
        "millennium" => first_year(1000, 1)?,
        other => return Err(unit_err(other, "timestamp")),
    };
    Ok(micros_from_datetime(truncated_date.and_time(chrono::NaiveTime::MIN)))
}

fn scaled(value: i64, scale: i64) -> BigDecimal {
    BigDecimal::new(value.into(), scale)
}

/// `extract(unit FROM value)` as PostgreSQL 15 computes it: a numeric, with six fractional digits
/// for seconds and epochs of timestamps.
pub fn extract_numeric(unit: &str, value: &Datum) -> Result<BigDecimal, EvalError> {
    let unit = normalize_unit(unit);
    match value {
        Datum::Timestamp(t) | Datum::TimestampTz(t) => {
            let dt = datetime_from_micros(*t).ok_or_else(range_err)?;
            if unit == "epoch" {
                return Ok(scaled(*t, 6));
            }
            extract_datetime(&unit, &dt, "timestamp")
        }
        Datum::Date(d) => {
            if unit == "epoch" {
                return Ok(BigDecimal::from(*d as i64 * 86_400));
            }
            if matches!(unit.as_str(), "microseconds" | "milliseconds" | "second" | "minute" | "hour") {
                return Err(EvalError::InvalidParameterValue(format!("unit \"{unit}\" not supported for type date")));
            }
            let dt = datetime_from_micros(*d as i64 * Interval::MICROS_PER_DAY).ok_or_else(range_err)?;
            extract_datetime(&unit, &dt, "date")
        }
        Datum::Interval(i) => extract_interval(&unit, i),
        other => Err(type_mismatch("extract", other)),
    }
}

fn extract_datetime(unit: &str, dt: &NaiveDateTime, ty: &str) -> Result<BigDecimal, EvalError> {
    let sec_micros = dt.second() as i64 * 1_000_000 + (dt.nanosecond() / 1000) as i64;
    let year = dt.year() as i64;
    Ok(match unit {
        "microseconds" => BigDecimal::from(sec_micros),
        "milliseconds" => scaled(sec_micros, 3),
        "second" => scaled(sec_micros, 6),
        "minute" => dt.minute().into(),
        "hour" => dt.hour().into(),
        "day" => dt.day().into(),
        "month" => dt.month().into(),
        "quarter" => ((dt.month() - 1) / 3 + 1).into(),
        "year" => year.into(),
        "decade" => year.div_euclid(10).into(),
        "century" => (if year > 0 { (year + 99) / 100 } else { -((99 - (year - 1)) / 100) }).into(),
        "millennium" => (if year > 0 { (year + 999) / 1000 } else { -((999 - (year - 1)) / 1000) }).into(),
        "dow" => dt.weekday().num_days_from_sunday().into(),
        "isodow" => dt.weekday().number_from_monday().into(),
        "doy" => dt.ordinal().into(),
        "week" => dt.iso_week().week().into(),
        "isoyear" => dt.iso_week().year().into(),
        other => return Err(unit_err(other, ty)),
    })
}

fn extract_interval(unit: &str, i: &Interval) -> Result<BigDecimal, EvalError> {
    let sec_micros = i.micros % 60_000_000;
    Ok(match unit {
        "epoch" => {
            let days = i.days as i64 + (i.months / 12) as i64 * 365 + (i.months / 12) as i64 / 4;
            let month_days = (i.months % 12) as i64 * 30;
            scaled((days + month_days) * Interval::MICROS_PER_DAY + i.micros, 6)
        }
        "microseconds" => BigDecimal::from(sec_micros),
        "milliseconds" => scaled(sec_micros, 3),
        "second" => scaled(sec_micros, 6),
        "minute" => ((i.micros / 60_000_000) % 60).into(),
        "hour" => (i.micros / 3_600_000_000).into(),
        "day" => i.days.into(),
        "month" => (i.months % 12).into(),
        "quarter" => ((i.months % 12) / 3 + 1).into(),
        "year" => (i.months / 12).into(),
        "decade" => (i.months / 120).into(),
        "century" => (i.months / 1200).into(),
        "millennium" => (i.months / 12000).into(),
        other => return Err(unit_err(other, "interval")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_repr::strconv::{format_datum, parse_datum};
    use freshet_repr::ScalarType;

    fn ts(s: &str) -> Datum {
        parse_datum(s, ScalarType::Timestamp).unwrap()
    }

    fn show(d: Datum) -> String {
        format_datum(&d).unwrap()
    }

    fn trunc(unit: &str, s: &str) -> String {
        show(eval_binary(&BinaryFunc::DateTrunc, Datum::text(unit), ts(s)).unwrap())
    }

    fn extract(unit: &str, d: Datum) -> String {
        show(eval_binary(&BinaryFunc::Extract, Datum::text(unit), d).unwrap())
    }

    #[test]
    fn date_trunc_units() {
        assert_eq!(trunc("hour", "2024-05-17 13:45:12.5"), "2024-05-17 13:00:00");
        assert_eq!(trunc("DAY", "2024-05-17 13:45:12"), "2024-05-17 00:00:00");
        assert_eq!(trunc("week", "2024-05-17 13:45:12"), "2024-05-13 00:00:00");
        assert_eq!(trunc("quarter", "2024-05-17 13:45:12"), "2024-04-01 00:00:00");
        assert_eq!(trunc("year", "2024-05-17 13:45:12"), "2024-01-01 00:00:00");
        assert_eq!(trunc("century", "2024-05-17 13:45:12"), "2001-01-01 00:00:00");
        assert_eq!(trunc("minute", "1969-12-31 23:59:30"), "1969-12-31 23:59:00");
        let err = eval_binary(&BinaryFunc::DateTrunc, Datum::text("fortnight"), ts("2024-01-01")).unwrap_err();
        assert_eq!(err.sqlstate(), "22023");
    }

    #[test]
    fn extract_fields() {
        assert_eq!(extract("year", ts("2024-05-17 13:45:12.5")), "2024");
        assert_eq!(extract("second", ts("2024-05-17 13:45:12.5")), "12.500000");
        assert_eq!(extract("milliseconds", ts("2024-05-17 13:45:12.5")), "12500.000");
        assert_eq!(extract("epoch", ts("1970-01-01 00:00:01.5")), "1.500000");
        assert_eq!(extract("dow", ts("2024-05-19 00:00:00")), "0");
        assert_eq!(extract("doy", parse_datum("2024-02-01", ScalarType::Date).unwrap()), "32");
        assert_eq!(extract("epoch", parse_datum("1970-01-02", ScalarType::Date).unwrap()), "86400");
        let iv = parse_datum("1 year 2 mons 3 days 04:05:06", ScalarType::Interval).unwrap();
        assert_eq!(extract("month", iv.clone()), "2");
        assert_eq!(extract("hour", iv), "4");
        let part = eval_binary(&BinaryFunc::DatePart, Datum::text("hour"), ts("2024-05-17 13:45:12"));
        assert_eq!(part, Ok(Datum::float64(13.0)));
        let err = eval_binary(
            &BinaryFunc::Extract,
            Datum::text("hour"),
            parse_datum("2024-01-01", ScalarType::Date).unwrap(),
        );
        assert_eq!(err.unwrap_err().sqlstate(), "22023");
    }

    #[test]
    fn timezone_converts_between_timestamp_kinds() {
        let at = |zone: &str, d: Datum| eval_binary(&BinaryFunc::Timezone, Datum::text(zone), d);
        let tz = parse_datum("2024-01-01 00:00:00+00", ScalarType::TimestampTz).unwrap();
        assert_eq!(at("UTC", tz.clone()), Ok(ts("2024-01-01 00:00:00")));
        assert_eq!(at("utc", ts("2024-01-01 00:00:00")), Ok(tz.clone()));
        assert_eq!(at("Mars/Olympus", tz).unwrap_err().sqlstate(), "22023");
    }

    #[test]
    fn to_timestamp_and_make_date() {
        assert_eq!(show(to_timestamp(Datum::float64(1.5)).unwrap()), "1970-01-01 00:00:01.5+00");
        assert_eq!(to_timestamp(Datum::float64(f64::NAN)).unwrap_err().sqlstate(), "22008");
        let d = make_date(&[Datum::Int32(2024), Datum::Int32(2), Datum::Int32(29)]).unwrap();
        assert_eq!(show(d), "2024-02-29");
        let err = make_date(&[Datum::Int32(2023), Datum::Int32(2), Datum::Int32(29)]).unwrap_err();
        assert_eq!(err.sqlstate(), "22008");
    }
}
