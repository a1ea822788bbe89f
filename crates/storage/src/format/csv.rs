//! FORMAT CSV WITH n COLUMNS: each Kinesis record is one RFC 4180 line (no header) of exactly n
//! text fields.

use freshet_repr::Datum;

use super::DecodeFailure;

pub(super) fn decode_csv(bytes: &[u8], columns: usize) -> Result<Vec<Datum>, DecodeFailure> {
    // The csv crate reads no record at all from empty input; as a line it is one empty field.
    if bytes.is_empty() {
        return check_count(vec![Datum::Text(String::new())], columns);
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = reader.records();
    let record = match records.next() {
        Some(Ok(record)) => record,
        Some(Err(e)) => return Err(DecodeFailure(format!("invalid CSV record: {e}"))),
        None => return Err(DecodeFailure(format!("expected {columns} columns, got 0"))),
    };
    if records.next().is_some() {
        return Err(DecodeFailure("a CSV record must be a single line".into()));
    }
    check_count(record.iter().map(|field| Datum::Text(field.to_string())).collect(), columns)
}

fn check_count(fields: Vec<Datum>, columns: usize) -> Result<Vec<Datum>, DecodeFailure> {
    if fields.len() == columns {
        Ok(fields)
    } else {
        Err(DecodeFailure(format!("expected {columns} columns, got {}", fields.len())))
    }
}
