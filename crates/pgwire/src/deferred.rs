//! Coalescing the replies to one extended-protocol round trip into one write.
//!
//! pgwire answers Parse, Bind, Describe and the end of Execute with `send`, which flushes each
//! message on its own: a prepared point query cost four `sendto`s (and four wake-ups of the
//! client) instead of one. PostgreSQL flushes the extended protocol only at Sync, at Flush and
//! when its buffer fills; [`DeferredFlush`] does the same for the flush that `send` does after a
//! reply, but lets every other flush through: one after rows of a stream (a SUBSCRIBE's
//! DataRows, COPY data) and one with nothing fed since the last (a streamer saying "send what
//! you have", e.g. when a subscription starts), since their reader waits for them.
//!
//! This module must not decide what is sent, only when it is flushed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Sink;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, SessionExtensions};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, ProtocolVersion};

/// A client that holds back the flush right after a reply message (see the module docs).
pub struct DeferredFlush<'a, C> {
    inner: &'a mut C,
    /// Since the last flush: nothing fed (`None`), or whether the last message fed was stream data.
    last_fed_is_stream_data: Option<bool>,
}

impl<'a, C> DeferredFlush<'a, C> {
    pub fn new(inner: &'a mut C) -> Self {
        DeferredFlush { inner, last_fed_is_stream_data: None }
    }
}

/// Messages whose reader is waiting for them as they come (a subscription's batches, COPY out).
fn is_stream_data(message: &PgWireBackendMessage) -> bool {
    matches!(
        message,
        PgWireBackendMessage::DataRow(_)
            | PgWireBackendMessage::CopyData(_)
            | PgWireBackendMessage::CopyOutResponse(_)
            | PgWireBackendMessage::CopyDone(_)
    )
}

impl<C: Sink<PgWireBackendMessage> + Unpin> Sink<PgWireBackendMessage> for DeferredFlush<'_, C> {
    type Error = C::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), Self::Error> {
        self.last_fed_is_stream_data = Some(is_stream_data(&item));
        Pin::new(&mut *self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.last_fed_is_stream_data == Some(false) {
            self.last_fed_is_stream_data = None;
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut *self.inner).poll_flush(cx);
        if flushed.is_ready() {
            self.last_fed_is_stream_data = None;
        }
        flushed
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.inner).poll_close(cx)
    }
}

impl<C: ClientPortalStore> ClientPortalStore for DeferredFlush<'_, C> {
    type PortalStore = C::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.inner.portal_store()
    }
}

impl<C: ClientInfo> ClientInfo for DeferredFlush<'_, C> {
    fn socket_addr(&self) -> SocketAddr {
        self.inner.socket_addr()
    }

    fn is_secure(&self) -> bool {
        self.inner.is_secure()
    }

    fn protocol_version(&self) -> ProtocolVersion {
        self.inner.protocol_version()
    }

    fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.inner.set_protocol_version(version)
    }

    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        self.inner.pid_and_secret_key()
    }

    fn set_pid_and_secret_key(&mut self, pid: i32, secret_key: SecretKey) {
        self.inner.set_pid_and_secret_key(pid, secret_key)
    }

    fn state(&self) -> PgWireConnectionState {
        self.inner.state()
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.inner.set_state(new_state)
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.inner.transaction_status()
    }

    fn set_transaction_status(&mut self, new_status: TransactionStatus) {
        self.inner.set_transaction_status(new_status)
    }

    fn metadata(&self) -> &HashMap<String, String> {
        self.inner.metadata()
    }

    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        self.inner.metadata_mut()
    }

    fn session_extensions(&self) -> &SessionExtensions {
        self.inner.session_extensions()
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use pgwire::messages::data::DataRow;
    use pgwire::messages::extendedquery::BindComplete;
    use pgwire::messages::response::CommandComplete;

    use super::*;

    /// A sink that records what it was sent and how many times it was flushed.
    #[derive(Default)]
    struct Recorder {
        sent: usize,
        flushes: usize,
    }

    impl Sink<PgWireBackendMessage> for Recorder {
        type Error = std::convert::Infallible;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(mut self: Pin<&mut Self>, _: PgWireBackendMessage) -> Result<(), Self::Error> {
            self.sent += 1;
            Ok(())
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn replies_wait_for_sync_but_streamed_rows_go_out() {
        let mut inner = Recorder::default();
        let mut client = DeferredFlush::new(&mut inner);
        client.send(PgWireBackendMessage::BindComplete(BindComplete::new())).await.unwrap();
        client.feed(PgWireBackendMessage::DataRow(DataRow::new(Default::default(), 0))).await.unwrap();
        client.send(PgWireBackendMessage::CommandComplete(CommandComplete::new("SELECT 1".into()))).await.unwrap();
        assert_eq!((inner.sent, inner.flushes), (3, 0), "a result set is left for Sync to flush");

        let mut client = DeferredFlush::new(&mut inner);
        client.feed(PgWireBackendMessage::DataRow(DataRow::new(Default::default(), 0))).await.unwrap();
        client.flush().await.unwrap();
        assert_eq!((inner.sent, inner.flushes), (4, 1), "a subscription's batch is flushed when it asks");

        let mut client = DeferredFlush::new(&mut inner);
        client.send(PgWireBackendMessage::BindComplete(BindComplete::new())).await.unwrap();
        assert_eq!(inner.flushes, 1);
        let mut client = DeferredFlush::new(&mut inner);
        client.flush().await.unwrap();
        assert_eq!((inner.sent, inner.flushes), (5, 2), "a flush with nothing fed since goes through");
    }
}
