//! Turning a coordinator `ExecuteResponse` into pgwire `Response`s: row descriptions with real type
//! OIDs, lazily encoded DataRow streams, and command tags (with the transaction transitions they
//! imply for ReadyForQuery).
//!
//! This module must not execute anything or touch the session.

use std::sync::Arc;

use bytes::BytesMut;
use freshet_coord::ExecuteResponse;
use freshet_repr::{Datum, RelationDesc, Row, ScalarType};
use futures::stream::{self, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

use crate::codec::{encode_field, WireFormat};
use crate::error::{error_info, WireError};

/// The pgwire type for a Freshet type (every Freshet type is a built-in PostgreSQL type).
pub fn pg_type(ty: ScalarType) -> Type {
    Type::from_oid(ty.oid()).unwrap_or(Type::UNKNOWN)
}

/// `pg_type.typlen`: the fixed size of a type, or -1 for variable-length types.
fn type_size(ty: ScalarType) -> i16 {
    match ty {
        ScalarType::Bool => 1,
        ScalarType::Int16 => 2,
        ScalarType::Int32 | ScalarType::Float32 | ScalarType::Date => 4,
        ScalarType::Int64 | ScalarType::Float64 | ScalarType::Timestamp | ScalarType::TimestampTz => 8,
        ScalarType::Interval => 16,
        ScalarType::Numeric | ScalarType::Text | ScalarType::Bytes | ScalarType::Jsonb => -1,
    }
}

/// A Bind message's format codes as pgwire stored them.
pub fn format_codes(format: &Format) -> Vec<i16> {
    match format {
        Format::UnifiedText => vec![],
        Format::UnifiedBinary => vec![1],
        Format::Individual(codes) => codes.clone(),
    }
}

/// The wire format of each of `columns` result columns.
pub fn result_formats(format: Option<&Format>, columns: usize) -> Result<Vec<WireFormat>, WireError> {
    let codes = format.map(format_codes).unwrap_or_default();
    (0..columns)
        .map(|idx| {
            WireFormat::for_field(&codes, idx, columns)
                .map_err(|_| WireError::ResultFormatCount { formats: codes.len(), columns })
        })
        .collect()
}

/// The RowDescription fields of a relation in the given formats.
pub fn field_infos(desc: &RelationDesc, formats: &[WireFormat]) -> Vec<FieldInfo> {
    desc.iter()
        .zip(formats)
        .map(|((name, column), format)| {
            let format = match format {
                WireFormat::Text => FieldFormat::Text,
                WireFormat::Binary => FieldFormat::Binary,
            };
            FieldInfo::new(name.to_string(), None, None, pg_type(column.scalar_type), format)
                .with_type_size(type_size(column.scalar_type))
        })
        .collect()
}

/// Encodes one row as a DataRow; missing trailing datums are sent as NULL.
pub fn encode_row(row: &Row, types: &[ScalarType], formats: &[WireFormat]) -> DataRow {
    let mut buf = BytesMut::with_capacity(16 * types.len());
    for (idx, (ty, format)) in types.iter().zip(formats).enumerate() {
        encode_field(&mut buf, row.get(idx).unwrap_or(&Datum::Null), *ty, *format);
    }
    DataRow::new(buf, i16::try_from(types.len()).unwrap_or(i16::MAX))
}

/// A result set whose rows are encoded only as pgwire pulls them, so a large result is written to
/// the socket in buffer-sized chunks instead of being encoded up front.
pub fn query_response(desc: &RelationDesc, rows: Vec<Row>, formats: Vec<WireFormat>) -> QueryResponse {
    rows_response(Arc::new(field_infos(desc, &formats)), desc, rows, formats)
}

/// [`query_response`] with the RowDescription fields already built (`field_infos(desc, &formats)`).
pub fn rows_response(
    fields: Arc<Vec<FieldInfo>>,
    desc: &RelationDesc,
    rows: Vec<Row>,
    formats: Vec<WireFormat>,
) -> QueryResponse {
    let types: Vec<ScalarType> = desc.typ.columns.iter().map(|c| c.scalar_type).collect();
    let stream = stream::iter(rows).map(move |row| Ok(encode_row(&row, &types, &formats)));
    QueryResponse::new(fields, stream)
}

/// The response for a command tag; transaction control tags also move the ReadyForQuery status.
pub fn command_response(tag: &str) -> Response {
    let pg_tag = Tag::new(tag);
    match tag {
        "BEGIN" | "START TRANSACTION" => Response::TransactionStart(pg_tag),
        "COMMIT" | "ROLLBACK" => Response::TransactionEnd(pg_tag),
        _ => Response::Execution(pg_tag),
    }
}

/// The pgwire response for one executed statement, with results in `formats` (computed from the
/// result's arity, which only the response knows).
pub fn to_response(
    response: ExecuteResponse,
    formats: impl FnOnce(usize) -> Result<Vec<WireFormat>, WireError>,
) -> Result<Response, WireError> {
    Ok(match response {
        ExecuteResponse::Rows { desc, rows } => {
            let formats = formats(desc.arity())?;
            Response::Query(query_response(&desc, rows, formats))
        }
        ExecuteResponse::Command { tag } => command_response(&tag),
        ExecuteResponse::Empty => Response::EmptyQuery,
        // Streamed by the connection (`subscribe::stream_subscribe`), which never passes it here.
        ExecuteResponse::Subscribe { .. } => Response::Error(error_info(&WireError::SubscribeNotAlone)),
    })
}

#[cfg(test)]
mod tests {
    use freshet_repr::ColumnType;
    use pgwire::messages::response::CommandComplete;

    use super::*;

    fn desc() -> RelationDesc {
        RelationDesc::new(vec![
            ("a".into(), ColumnType::new(ScalarType::Int32, false)),
            ("b".into(), ColumnType::new(ScalarType::Text, true)),
        ])
    }

    fn tag_text(response: Response) -> (String, &'static str) {
        let (tag, kind) = match response {
            Response::Execution(t) => (t, "exec"),
            Response::TransactionStart(t) => (t, "start"),
            Response::TransactionEnd(t) => (t, "end"),
            _ => panic!("not a command"),
        };
        (CommandComplete::from(tag).tag, kind)
    }

    #[test]
    fn command_tags_pass_through_whole() {
        assert_eq!(tag_text(command_response("INSERT 0 3")), ("INSERT 0 3".to_string(), "exec"));
        assert_eq!(tag_text(command_response("CREATE TABLE")), ("CREATE TABLE".to_string(), "exec"));
        assert_eq!(tag_text(command_response("BEGIN")), ("BEGIN".to_string(), "start"));
        assert_eq!(tag_text(command_response("COMMIT")), ("COMMIT".to_string(), "end"));
        assert_eq!(tag_text(command_response("ROLLBACK")), ("ROLLBACK".to_string(), "end"));
    }

    #[test]
    fn select_tag_counts_rows() {
        // pgwire appends the number of rows it streamed to the QueryResponse's tag.
        let response = query_response(&desc(), vec![], vec![WireFormat::Text; 2]);
        assert_eq!(response.command_tag(), "SELECT");
        assert_eq!(CommandComplete::from(Tag::new(response.command_tag()).with_rows(2)).tag, "SELECT 2");
    }

    #[test]
    fn field_infos_carry_oids_and_formats() {
        let fields = field_infos(&desc(), &[WireFormat::Binary, WireFormat::Text]);
        assert_eq!(fields[0].name(), "a");
        assert_eq!(fields[0].datatype().oid(), 23);
        assert_eq!(fields[0].format(), FieldFormat::Binary);
        assert_eq!(fields[0].type_size(), 4);
        assert_eq!(fields[1].datatype().oid(), 25);
        assert_eq!(fields[1].format(), FieldFormat::Text);
        assert_eq!(fields[1].type_size(), -1);
    }

    #[test]
    fn result_formats_follow_bind_rules() {
        assert_eq!(result_formats(None, 2).unwrap(), vec![WireFormat::Text; 2]);
        assert_eq!(result_formats(Some(&Format::UnifiedBinary), 2).unwrap(), vec![WireFormat::Binary; 2]);
        let individual = Format::Individual(vec![1, 0]);
        assert_eq!(result_formats(Some(&individual), 2).unwrap(), vec![WireFormat::Binary, WireFormat::Text]);
        let wrong = Format::Individual(vec![1, 0, 1]);
        assert!(matches!(
            result_formats(Some(&wrong), 2),
            Err(WireError::ResultFormatCount { formats: 3, columns: 2 })
        ));
    }

    #[tokio::test]
    async fn rows_stream_lazily_encoded() {
        let rows = vec![Row::new(vec![Datum::Int32(7), Datum::Null]), Row::new(vec![Datum::Int32(-1)])];
        let mut response = query_response(&desc(), rows, vec![WireFormat::Binary, WireFormat::Text]);
        let first = response.data_rows().next().await.unwrap().unwrap();
        assert_eq!(first.field_count, 2);
        assert_eq!(&first.data[..], &[0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        // A short row is padded with NULLs up to the described arity.
        let second = response.data_rows().next().await.unwrap().unwrap();
        assert_eq!(&second.data[..], &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(response.data_rows().next().await.is_none());
    }

    #[test]
    fn execute_responses_map() {
        let resp = to_response(ExecuteResponse::Empty, |_| Ok(vec![])).unwrap();
        assert!(matches!(resp, Response::EmptyQuery));
        let resp = to_response(ExecuteResponse::Rows { desc: desc(), rows: vec![] }, |n| Ok(vec![WireFormat::Text; n]))
            .unwrap();
        match resp {
            Response::Query(q) => assert_eq!(q.row_schema().len(), 2),
            _ => panic!("expected rows"),
        }
        let err = to_response(ExecuteResponse::Rows { desc: desc(), rows: vec![] }, |n| {
            Err(WireError::ResultFormatCount { formats: 3, columns: n })
        });
        assert!(err.is_err());
    }
}
