//! Codec tests. Binary forms are cross-checked against `postgres-types` (the encoder/decoder that
//! tokio-postgres, and so real clients, use) rather than against hand-written expectations.

use std::error::Error;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use freshet_repr::strconv::parse_datum;
use freshet_repr::{Datum, Interval, Jsonb, ScalarType};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

use super::*;

/// The binary bytes `postgres-types` produces for a value.
fn client_binary<T: ToSql>(value: T, ty: &Type) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let is_null = value.to_sql(ty, &mut buf).expect("client encodes");
    assert!(matches!(is_null, IsNull::No));
    buf.to_vec()
}

/// Encodes one field and returns its bytes (without the length prefix), or None for NULL.
fn server_field(datum: &Datum, ty: ScalarType, format: WireFormat) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    encode_field(&mut buf, datum, ty, format);
    let len = i32::from_be_bytes(buf[..4].try_into().unwrap());
    if len < 0 {
        assert_eq!(buf.len(), 4);
        return None;
    }
    assert_eq!(len as usize, buf.len() - 4, "length prefix matches");
    Some(buf[4..].to_vec())
}

fn client_decodes<'a, T: FromSql<'a>>(bytes: &'a [u8], ty: &Type) -> Result<T, Box<dyn Error + Sync + Send>> {
    T::from_sql(ty, bytes)
}

fn datum(text: &str, ty: ScalarType) -> Datum {
    parse_datum(text, ty).expect("valid literal")
}

/// Checks that a client value decodes to `expected` as a binary parameter and that the datum,
/// encoded as a binary result, decodes back to the client value.
fn round_trip<T>(value: T, ty: &Type, scalar: ScalarType, expected: Datum)
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug + Clone,
{
    let bytes = client_binary(value.clone(), ty);
    let decoded = decode_param(Some(&bytes), WireFormat::Binary, scalar, Some(ty.oid())).expect("decodes");
    assert_eq!(decoded, expected, "{ty} parameter");
    let encoded = server_field(&expected, scalar, WireFormat::Binary).expect("not null");
    assert_eq!(client_decodes::<T>(&encoded, ty).expect("client decodes"), value, "{ty} result");
}

#[test]
fn binary_scalars_round_trip_with_the_client_library() {
    round_trip(true, &Type::BOOL, ScalarType::Bool, Datum::Bool(true));
    round_trip(false, &Type::BOOL, ScalarType::Bool, Datum::Bool(false));
    round_trip(-7i16, &Type::INT2, ScalarType::Int16, Datum::Int16(-7));
    round_trip(i32::MIN, &Type::INT4, ScalarType::Int32, Datum::Int32(i32::MIN));
    round_trip(1i64 << 40, &Type::INT8, ScalarType::Int64, Datum::Int64(1 << 40));
    round_trip(1.5f32, &Type::FLOAT4, ScalarType::Float32, Datum::float32(1.5));
    round_trip(-0.1f64, &Type::FLOAT8, ScalarType::Float64, Datum::float64(-0.1));
    round_trip("héllo".to_string(), &Type::TEXT, ScalarType::Text, Datum::text("héllo"));
    round_trip("v".to_string(), &Type::VARCHAR, ScalarType::Text, Datum::text("v"));
    round_trip(vec![0u8, 255, 10], &Type::BYTEA, ScalarType::Bytes, Datum::Bytes(vec![0, 255, 10]));
}

#[test]
fn binary_temporal_types_round_trip_with_the_client_library() {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    round_trip(date, &Type::DATE, ScalarType::Date, datum("2024-02-29", ScalarType::Date));
    let before_pg_epoch = NaiveDate::from_ymd_opt(1969, 12, 31).unwrap();
    round_trip(before_pg_epoch, &Type::DATE, ScalarType::Date, Datum::Date(-1));

    let ts = NaiveDateTime::parse_from_str("2024-02-29 13:14:15.123456", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    round_trip(ts, &Type::TIMESTAMP, ScalarType::Timestamp, datum("2024-02-29 13:14:15.123456", ScalarType::Timestamp));

    let tz: DateTime<Utc> = ts.and_utc();
    let expected = datum("2024-02-29 13:14:15.123456+00", ScalarType::TimestampTz);
    round_trip(tz, &Type::TIMESTAMPTZ, ScalarType::TimestampTz, expected);
}

#[test]
fn binary_jsonb_and_json() {
    let value = serde_json::json!({"b": [1, 2], "a": null});
    let expected = Datum::Jsonb(Jsonb::from_value(&value));
    round_trip(value.clone(), &Type::JSONB, ScalarType::Jsonb, expected.clone());
    // json's binary form has no version byte; the declared OID tells them apart.
    let bytes = client_binary(value, &Type::JSON);
    assert_eq!(decode_param(Some(&bytes), WireFormat::Binary, ScalarType::Jsonb, Some(114)).unwrap(), expected);
    // A jsonb with an unknown version byte is rejected.
    let bad = [2u8, b'1'];
    assert!(decode_param(Some(&bad), WireFormat::Binary, ScalarType::Jsonb, None).is_err());
}

#[test]
fn binary_interval_layout() {
    // postgres-types has no interval type; the layout is micros i64, days i32, months i32.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&4_500_000i64.to_be_bytes());
    bytes.extend_from_slice(&3i32.to_be_bytes());
    bytes.extend_from_slice(&14i32.to_be_bytes());
    let decoded = decode_param(Some(&bytes), WireFormat::Binary, ScalarType::Interval, None).unwrap();
    let Datum::Interval(i) = decoded else { panic!("not an interval: {decoded:?}") };
    assert_eq!((i.months, i.days, i.micros), (14, 3, 4_500_000));
    let encoded = server_field(
        &Datum::Interval(Interval { months: 14, days: 3, micros: 4_500_000 }),
        ScalarType::Interval,
        WireFormat::Binary,
    );
    assert_eq!(encoded, Some(bytes));
}

#[test]
fn binary_numeric_parameters_and_results() {
    // 12345.678 as PostgreSQL's numeric_send writes it.
    let bytes: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780].iter().flat_map(|v| v.to_be_bytes()).collect();
    let expected = Datum::numeric(BigDecimal::from_str("12345.678").unwrap());
    assert_eq!(decode_param(Some(&bytes), WireFormat::Binary, ScalarType::Numeric, None).unwrap(), expected);
    assert_eq!(server_field(&expected, ScalarType::Numeric, WireFormat::Binary), Some(bytes));
    assert!(decode_param(Some(&[0, 1]), WireFormat::Binary, ScalarType::Numeric, None).is_err());
}

#[test]
fn text_parameters_use_postgres_input_syntax() {
    let cases = [
        ("t", ScalarType::Bool, Datum::Bool(true)),
        ("42", ScalarType::Int16, Datum::Int16(42)),
        ("-42", ScalarType::Int32, Datum::Int32(-42)),
        ("9000000000", ScalarType::Int64, Datum::Int64(9_000_000_000)),
        ("2.5", ScalarType::Float32, Datum::float32(2.5)),
        ("NaN", ScalarType::Float64, Datum::float64(f64::NAN)),
        ("3.14", ScalarType::Numeric, Datum::numeric(BigDecimal::from_str("3.14").unwrap())),
        ("plain text", ScalarType::Text, Datum::text("plain text")),
        ("\\x00ff", ScalarType::Bytes, Datum::Bytes(vec![0, 255])),
        (r#"{"a": 1}"#, ScalarType::Jsonb, Datum::Jsonb(Jsonb::parse(r#"{"a":1}"#).unwrap())),
        ("2024-01-02", ScalarType::Date, datum("2024-01-02", ScalarType::Date)),
        ("2024-01-02 03:04:05", ScalarType::Timestamp, datum("2024-01-02 03:04:05", ScalarType::Timestamp)),
        ("2024-01-02 03:04:05+01", ScalarType::TimestampTz, datum("2024-01-02 02:04:05Z", ScalarType::TimestampTz)),
        (
            "1 day 02:00:00",
            ScalarType::Interval,
            Datum::Interval(Interval { months: 0, days: 1, micros: 7_200_000_000 }),
        ),
    ];
    for (text, ty, expected) in cases {
        let decoded = decode_param(Some(text.as_bytes()), WireFormat::Text, ty, None).expect(text);
        assert_eq!(decoded, expected, "{text} as {ty}");
    }
}

#[test]
fn null_parameters_and_results() {
    for ty in [ScalarType::Int32, ScalarType::Text, ScalarType::Jsonb] {
        for format in [WireFormat::Text, WireFormat::Binary] {
            assert_eq!(decode_param(None, format, ty, None).unwrap(), Datum::Null);
            assert_eq!(server_field(&Datum::Null, ty, format), None);
        }
    }
}

#[test]
fn malformed_parameters_are_errors_with_sqlstates() {
    let err = decode_param(Some(&[0, 0, 1]), WireFormat::Binary, ScalarType::Int32, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22P03");
    let err = decode_param(Some(&[0; 9]), WireFormat::Binary, ScalarType::Int64, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22P03");
    let err = decode_param(Some(b"abc"), WireFormat::Text, ScalarType::Int32, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22P02");
    let err = decode_param(Some(b"99999999999"), WireFormat::Text, ScalarType::Int32, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22003");
    let err = decode_param(Some(&[0xff, 0xfe]), WireFormat::Text, ScalarType::Text, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22021");
    let err = decode_param(Some(&[0xff]), WireFormat::Binary, ScalarType::Text, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22021");
    let err = decode_param(Some(&[]), WireFormat::Binary, ScalarType::Bool, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22P03");
    // A date whose day count overflows when moved to the Unix epoch.
    let err = decode_param(Some(&i32::MAX.to_be_bytes()), WireFormat::Binary, ScalarType::Date, None).unwrap_err();
    assert_eq!(err.sqlstate(), "22P03");
}

#[test]
fn format_codes_follow_bind_rules() {
    assert_eq!(WireFormat::for_field(&[], 3, 5).unwrap(), WireFormat::Text);
    assert_eq!(WireFormat::for_field(&[1], 3, 5).unwrap(), WireFormat::Binary);
    assert_eq!(WireFormat::for_field(&[0, 1], 1, 2).unwrap(), WireFormat::Binary);
    assert_eq!(WireFormat::for_field(&[0, 1], 0, 2).unwrap(), WireFormat::Text);
    assert_eq!(WireFormat::for_field(&[0, 1], 0, 3).unwrap_err().sqlstate(), "08P01");
    assert_eq!(WireFormat::for_field(&[2], 0, 1).unwrap_err().sqlstate(), "08P01");
}

#[test]
fn text_results_match_postgres_output() {
    let cases = [
        (Datum::Bool(false), ScalarType::Bool, "f"),
        (Datum::Int64(-3), ScalarType::Int64, "-3"),
        (Datum::Int64(i64::MIN), ScalarType::Int64, "-9223372036854775808"),
        (Datum::Int32(i32::MAX), ScalarType::Int32, "2147483647"),
        (Datum::Int16(-32768), ScalarType::Int16, "-32768"),
        (Datum::text("naïve, \"quoted\""), ScalarType::Text, "naïve, \"quoted\""),
        (Datum::text(""), ScalarType::Text, ""),
        (Datum::float64(1e20), ScalarType::Float64, "1e+20"),
        (Datum::numeric(BigDecimal::from_str("1.50").unwrap()), ScalarType::Numeric, "1.50"),
        (Datum::Bytes(vec![0xde, 0xad]), ScalarType::Bytes, "\\xdead"),
        (Datum::Jsonb(Jsonb::parse(r#"{"bb":1,"a":2}"#).unwrap()), ScalarType::Jsonb, r#"{"a": 2, "bb": 1}"#),
        (datum("2024-01-02", ScalarType::Date), ScalarType::Date, "2024-01-02"),
        (datum("2024-01-02 03:04:05.5", ScalarType::Timestamp), ScalarType::Timestamp, "2024-01-02 03:04:05.5"),
        (datum("2024-01-02 03:04:05Z", ScalarType::TimestampTz), ScalarType::TimestampTz, "2024-01-02 03:04:05+00"),
        (
            Datum::Interval(Interval { months: 1, days: 2, micros: 3_000_000 }),
            ScalarType::Interval,
            "1 mon 2 days 00:00:03",
        ),
    ];
    for (datum, ty, text) in cases {
        assert_eq!(server_field(&datum, ty, WireFormat::Text).as_deref(), Some(text.as_bytes()), "{datum:?}");
    }
    assert_eq!(server_field(&Datum::Null, ScalarType::Text, WireFormat::Text), None);
}

#[test]
fn binary_results_follow_the_declared_column_type() {
    // An Int32 datum in a bigint column is sent as 8 bytes, as the RowDescription promised.
    let bytes = server_field(&Datum::Int32(5), ScalarType::Int64, WireFormat::Binary).unwrap();
    assert_eq!(client_decodes::<i64>(&bytes, &Type::INT8).unwrap(), 5);
    let bytes = server_field(&Datum::Int32(5), ScalarType::Float64, WireFormat::Binary).unwrap();
    assert_eq!(client_decodes::<f64>(&bytes, &Type::FLOAT8).unwrap(), 5.0);
}
