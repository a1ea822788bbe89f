//! Streaming a SUBSCRIBE to the client: unlike a result set, whose rows pgwire coalesces into one
//! write at the end, every batch is flushed as soon as the coordinator hands it over, so a client
//! sees each change when it becomes complete. Rows go out as DataRows, or inside
//! `COPY (SUBSCRIBE ...) TO STDOUT` as COPY text lines (which psql prints as they arrive).
//!
//! This module must not execute statements or decide what a subscription contains.

use std::fmt::Debug;

use freshet_coord::SubscribeStream;
use freshet_repr::strconv::format_datum;
use freshet_repr::{RelationDesc, Row, ScalarType};
use futures::{Sink, SinkExt};
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::data::RowDescription;
use pgwire::messages::PgWireBackendMessage;

use crate::codec::WireFormat;
use crate::error::coord_error;
use crate::response::{encode_row, field_infos};

/// How a subscription's rows are framed.
pub enum Framing {
    /// DataRows in these formats, after a RowDescription when `describe` (the simple query
    /// protocol wants one; the extended one sent it at Describe).
    Rows { formats: Vec<WireFormat>, describe: bool },
    /// CopyOutResponse, a CopyData text line per row, CopyDone.
    CopyText,
}

/// Sends the subscription's rows batch by batch until it ends; the response that closes it, or
/// the error that ended it.
pub async fn stream_subscribe<C>(
    client: &mut C,
    desc: &RelationDesc,
    mut stream: Box<SubscribeStream>,
    framing: Framing,
) -> PgWireResult<Response>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let columns = desc.arity();
    match &framing {
        Framing::Rows { formats, describe: true } => {
            let fields = field_infos(desc, formats).iter().map(Into::into).collect();
            client.send(PgWireBackendMessage::RowDescription(RowDescription::new(fields))).await?;
        }
        Framing::Rows { describe: false, .. } => {}
        Framing::CopyText => {
            let count = i16::try_from(columns).unwrap_or(i16::MAX);
            let response = CopyOutResponse::new(0, count, vec![0; columns]);
            client.send(PgWireBackendMessage::CopyOutResponse(response)).await?;
        }
    }
    // The client learns at once that the subscription started, even if no change comes for a while.
    client.flush().await?;
    let types: Vec<ScalarType> = desc.typ.columns.iter().map(|c| c.scalar_type).collect();
    let mut sent = 0;
    while let Some(batch) = stream.next().await {
        let rows = match batch {
            Ok(rows) => rows,
            Err(error) => return Ok(Response::Error(coord_error(&error))),
        };
        for row in &rows {
            let message = match &framing {
                Framing::Rows { formats, .. } => PgWireBackendMessage::DataRow(encode_row(row, &types, formats)),
                Framing::CopyText => PgWireBackendMessage::CopyData(CopyData::new(copy_text_line(row).into())),
            };
            client.feed(message).await?;
        }
        client.flush().await?;
        sent += rows.len();
    }
    Ok(match framing {
        Framing::Rows { .. } => Response::Execution(Tag::new("SUBSCRIBE").with_rows(sent)),
        Framing::CopyText => {
            client.send(PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
            Response::Execution(Tag::new("COPY").with_rows(sent))
        }
    })
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes, a newline.
fn copy_text_line(row: &Row) -> Vec<u8> {
    let mut line = String::new();
    for (idx, datum) in row.iter().enumerate() {
        if idx > 0 {
            line.push('\t');
        }
        match format_datum(datum) {
            None => line.push_str("\\N"),
            Some(text) => {
                for c in text.chars() {
                    match c {
                        '\\' => line.push_str("\\\\"),
                        '\t' => line.push_str("\\t"),
                        '\n' => line.push_str("\\n"),
                        '\r' => line.push_str("\\r"),
                        c => line.push(c),
                    }
                }
            }
        }
    }
    line.push('\n');
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use freshet_repr::Datum;

    use super::*;

    #[test]
    fn copy_lines_escape_what_copy_text_format_escapes() {
        let row = Row::new(vec![Datum::Int64(-1), Datum::Null, Datum::text("a\tb\nc\\d\re")]);
        assert_eq!(String::from_utf8(copy_text_line(&row)).unwrap(), "-1\t\\N\ta\\tb\\nc\\\\d\\re\n");
    }
}
