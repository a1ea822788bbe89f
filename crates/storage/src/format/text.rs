//! The one-record-one-value formats: TEXT (UTF-8 text) and JSON (a jsonb document).

use freshet_repr::{Datum, Jsonb};

use super::DecodeFailure;

pub(super) fn decode_text(bytes: &[u8]) -> Result<Datum, DecodeFailure> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Datum::Text(text.to_string())),
        Err(e) => Err(DecodeFailure(format!("invalid UTF-8 in text record: {e}"))),
    }
}

pub(super) fn decode_json(bytes: &[u8]) -> Result<Datum, DecodeFailure> {
    match Jsonb::parse_compact(bytes) {
        Ok(doc) => Ok(Datum::Jsonb(doc)),
        Err(e) => Err(DecodeFailure(format!("invalid JSON: {e}"))),
    }
}
