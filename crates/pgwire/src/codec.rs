//! Conversions between datums and the bytes of the wire protocol: decoding Bind parameters (text
//! and binary format) and encoding result fields (text and binary format).
//!
//! This module owns the binary wire formats of every Freshet type. Text forms are delegated to
//! `freshet_repr::strconv` so that the wire prints exactly what casts to text print. It must not
//! know about sessions, statements or sockets.

use bytes::{BufMut, BytesMut};
use freshet_repr::strconv::{format_datum, parse_datum, write_datum};
use freshet_repr::{Datum, Interval, Jsonb, ScalarType, F32, F64};

use crate::error::ParamError;
use crate::numeric;

/// Days from 1970-01-01 (Freshet's date epoch) to 2000-01-01 (PostgreSQL's binary epoch).
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

/// jsonb's binary format starts with this version byte.
const JSONB_VERSION: u8 = 1;

/// The OID of `json` (not `jsonb`): its binary form is plain text without a version byte.
const JSON_OID: u32 = 114;

/// The wire format of one parameter or result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    Text,
    Binary,
}

impl WireFormat {
    /// The format for format code `code` (0 text, 1 binary); other codes are protocol errors.
    pub fn from_code(code: i16) -> Result<WireFormat, ParamError> {
        match code {
            0 => Ok(WireFormat::Text),
            1 => Ok(WireFormat::Binary),
            other => Err(ParamError::UnknownFormatCode(other)),
        }
    }

    /// The format of field `idx` given a Bind message's format codes: none means all text, one
    /// applies to all, otherwise there must be one per field.
    pub fn for_field(codes: &[i16], idx: usize, fields: usize) -> Result<WireFormat, ParamError> {
        match codes {
            [] => Ok(WireFormat::Text),
            [code] => WireFormat::from_code(*code),
            codes if codes.len() == fields => WireFormat::from_code(codes.get(idx).copied().unwrap_or(0)),
            codes => Err(ParamError::FormatCount { codes: codes.len(), fields }),
        }
    }
}

/// Decodes one Bind parameter of type `ty`. `declared_oid` is the OID the client gave in Parse, if
/// any: it decides between the `json` and `jsonb` binary forms, which share a Freshet type.
pub fn decode_param(
    bytes: Option<&[u8]>,
    format: WireFormat,
    ty: ScalarType,
    declared_oid: Option<u32>,
) -> Result<Datum, ParamError> {
    let Some(bytes) = bytes else {
        return Ok(Datum::Null);
    };
    match format {
        WireFormat::Text => {
            let text = std::str::from_utf8(bytes).map_err(|_| ParamError::InvalidUtf8)?;
            parse_datum(text, ty).map_err(ParamError::Text)
        }
        WireFormat::Binary => decode_binary(bytes, ty, declared_oid),
    }
}

fn decode_binary(bytes: &[u8], ty: ScalarType, declared_oid: Option<u32>) -> Result<Datum, ParamError> {
    let bad = || ParamError::InvalidBinary(ty);
    Ok(match ty {
        ScalarType::Bool => match bytes {
            [b] => Datum::Bool(*b != 0),
            _ => return Err(bad()),
        },
        ScalarType::Int16 => Datum::Int16(i16::from_be_bytes(fixed(bytes, ty)?)),
        ScalarType::Int32 => Datum::Int32(i32::from_be_bytes(fixed(bytes, ty)?)),
        ScalarType::Int64 => Datum::Int64(i64::from_be_bytes(fixed(bytes, ty)?)),
        ScalarType::Float32 => Datum::Float32(F32(f32::from_be_bytes(fixed(bytes, ty)?))),
        ScalarType::Float64 => Datum::Float64(F64(f64::from_be_bytes(fixed(bytes, ty)?))),
        ScalarType::Numeric => {
            let text = numeric::decode_binary(bytes).map_err(|_| bad())?;
            parse_datum(&text, ty).map_err(ParamError::Text)?
        }
        ScalarType::Text => Datum::Text(utf8(bytes)?.to_string()),
        ScalarType::Bytes => Datum::Bytes(bytes.to_vec()),
        ScalarType::Jsonb => {
            let text = match (declared_oid, bytes) {
                (Some(JSON_OID), _) => bytes,
                (_, [JSONB_VERSION, rest @ ..]) => rest,
                _ => return Err(bad()),
            };
            Datum::Jsonb(Jsonb::parse(utf8(text)?).map_err(|_| bad())?)
        }
        ScalarType::Date => {
            let days = i32::from_be_bytes(fixed(bytes, ty)?);
            Datum::Date(days.checked_add(PG_EPOCH_DAYS).ok_or_else(bad)?)
        }
        ScalarType::Timestamp => Datum::Timestamp(pg_micros_to_unix(fixed(bytes, ty)?, ty)?),
        ScalarType::TimestampTz => Datum::TimestampTz(pg_micros_to_unix(fixed(bytes, ty)?, ty)?),
        ScalarType::Interval => {
            let raw: [u8; 16] = fixed(bytes, ty)?;
            let (micros, rest) = raw.split_at(8);
            let (days, months) = rest.split_at(4);
            Datum::Interval(Interval {
                micros: i64::from_be_bytes(micros.try_into().map_err(|_| bad())?),
                days: i32::from_be_bytes(days.try_into().map_err(|_| bad())?),
                months: i32::from_be_bytes(months.try_into().map_err(|_| bad())?),
            })
        }
    })
}

fn fixed<const N: usize>(bytes: &[u8], ty: ScalarType) -> Result<[u8; N], ParamError> {
    bytes.try_into().map_err(|_| ParamError::InvalidBinary(ty))
}

fn utf8(bytes: &[u8]) -> Result<&str, ParamError> {
    std::str::from_utf8(bytes).map_err(|_| ParamError::InvalidUtf8)
}

fn pg_micros_to_unix(raw: [u8; 8], ty: ScalarType) -> Result<i64, ParamError> {
    i64::from_be_bytes(raw).checked_add(PG_EPOCH_MICROS).ok_or(ParamError::InvalidBinary(ty))
}

/// Appends one field of a DataRow: its length (-1 for NULL) and its bytes in `format`. When the
/// column is declared `column_type` but the datum has another type (a coordinator slip), the
/// binary form is produced for the declared type so that the client decodes what the
/// RowDescription promised.
pub fn encode_field(buf: &mut BytesMut, datum: &Datum, column_type: ScalarType, format: WireFormat) {
    let start = buf.len();
    buf.put_i32(-1);
    let written = match format {
        // Writing into a BytesMut cannot fail (it grows), so only NULL writes nothing.
        WireFormat::Text => matches!(write_datum(buf, datum), Ok(true)),
        WireFormat::Binary => encode_binary(buf, &coerce(datum, column_type)),
    };
    if written {
        let len = i32::try_from(buf.len() - start - 4).unwrap_or(i32::MAX);
        buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Converts a datum to `ty` through its text form when its own type differs; NULL and
/// unconvertible values are returned unchanged.
fn coerce(datum: &Datum, ty: ScalarType) -> std::borrow::Cow<'_, Datum> {
    match datum.scalar_type() {
        Some(actual) if actual != ty => format_datum(datum)
            .and_then(|text| parse_datum(&text, ty).ok())
            .map(std::borrow::Cow::Owned)
            .unwrap_or(std::borrow::Cow::Borrowed(datum)),
        _ => std::borrow::Cow::Borrowed(datum),
    }
}

/// Writes the binary form of a datum; returns false for NULL, which has no bytes.
fn encode_binary(buf: &mut BytesMut, datum: &Datum) -> bool {
    match datum {
        Datum::Null => return false,
        Datum::Bool(b) => buf.put_u8(u8::from(*b)),
        Datum::Int16(v) => buf.put_i16(*v),
        Datum::Int32(v) => buf.put_i32(*v),
        Datum::Int64(v) => buf.put_i64(*v),
        Datum::Float32(F32(v)) => buf.put_f32(*v),
        Datum::Float64(F64(v)) => buf.put_f64(*v),
        Datum::Numeric(n) => numeric::encode_binary(buf, &freshet_repr::strconv::format_numeric(&n.0)),
        Datum::Text(s) => buf.put_slice(s.as_bytes()),
        Datum::Bytes(b) => buf.put_slice(b),
        Datum::Jsonb(j) => {
            buf.put_u8(JSONB_VERSION);
            buf.put_slice(freshet_repr::strconv::format_jsonb(j).as_bytes());
        }
        Datum::Date(d) => buf.put_i32(d.saturating_sub(PG_EPOCH_DAYS)),
        Datum::Timestamp(t) | Datum::TimestampTz(t) => buf.put_i64(t.saturating_sub(PG_EPOCH_MICROS)),
        Datum::Interval(i) => {
            buf.put_i64(i.micros);
            buf.put_i32(i.days);
            buf.put_i32(i.months);
        }
    }
    true
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
