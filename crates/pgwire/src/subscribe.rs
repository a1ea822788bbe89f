//! Streaming a SUBSCRIBE to the client: unlike a result set, whose rows pgwire coalesces into one
//! write at the end, every batch is flushed as soon as the coordinator hands it over, so a client
//! sees each change when it becomes complete.
//!
//! This module must not execute statements or decide what a subscription contains.

use std::fmt::Debug;

use freshet_coord::SubscribeStream;
use freshet_repr::{RelationDesc, ScalarType};
use futures::{Sink, SinkExt};
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::RowDescription;
use pgwire::messages::PgWireBackendMessage;

use crate::codec::WireFormat;
use crate::error::coord_error;
use crate::response::{encode_row, field_infos};

/// Sends the subscription's rows batch by batch (after a RowDescription when `describe`, as the
/// simple query protocol wants) until it ends; the response that closes it, or the error that
/// ended it.
pub async fn stream_subscribe<C>(
    client: &mut C,
    desc: &RelationDesc,
    mut stream: Box<SubscribeStream>,
    formats: Vec<WireFormat>,
    describe: bool,
) -> PgWireResult<Response>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if describe {
        let fields = field_infos(desc, &formats).iter().map(Into::into).collect();
        client.send(PgWireBackendMessage::RowDescription(RowDescription::new(fields))).await?;
    }
    let types: Vec<ScalarType> = desc.typ.columns.iter().map(|c| c.scalar_type).collect();
    let mut sent = 0;
    while let Some(batch) = stream.next().await {
        let rows = match batch {
            Ok(rows) => rows,
            Err(error) => return Ok(Response::Error(coord_error(&error))),
        };
        for row in &rows {
            client.feed(PgWireBackendMessage::DataRow(encode_row(row, &types, &formats))).await?;
        }
        client.flush().await?;
        sent += rows.len();
    }
    Ok(Response::Execution(Tag::new("SUBSCRIBE").with_rows(sent)))
}
