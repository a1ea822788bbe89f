//! Freshet's PostgreSQL wire protocol frontend, built on the `pgwire` crate.
//!
//! It owns sockets, connection lifecycles, protocol messages, parameter decoding and result
//! encoding; it answers CancelRequests and keeps one coordinator [`Session`] per connection. It
//! must not parse or plan SQL nor decide transaction semantics: every statement, including
//! `BEGIN`/`COMMIT`, goes to the session, and errors are reported with the SQLSTATE the
//! coordinator chose.
//!
//! [`Session`]: freshet_coord::Session

mod cancel;
mod codec;
mod connection;
mod deferred;
mod error;
mod linger;
mod numeric;
mod response;
mod session;
mod subscribe;

use std::future::Future;
use std::sync::Arc;

use freshet_coord::CoordClient;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::PgWireServerHandlers;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use codec::{decode_param, encode_field, WireFormat};
pub use error::{ParamError, WireError};
pub use session::{SessionFactory, WireSession};

use cancel::{CancelRegistry, RegistryCancelHandler};
use connection::{Connection, Extended, Shared};

/// The handler set of one connection (pgwire asks a factory for handlers once per socket).
struct Handlers<F: SessionFactory> {
    connection: Arc<Connection<F>>,
    extended: Arc<Extended<F>>,
    cancel: Arc<RegistryCancelHandler>,
}

impl<F: SessionFactory> PgWireServerHandlers for Handlers<F> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.connection)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.extended)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.connection)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

#[cfg(unix)]
fn socket_fd(socket: &tokio::net::TcpStream) -> std::os::fd::RawFd {
    std::os::fd::AsRawFd::as_raw_fd(socket)
}

#[cfg(not(unix))]
fn socket_fd(_socket: &tokio::net::TcpStream) {}

/// Serves PostgreSQL clients on `listener` until `shutdown` completes, one task and one session
/// per connection. On shutdown it stops accepting and closes the open connections (a "fast"
/// shutdown: statements in flight are abandoned), then returns.
pub async fn serve(listener: TcpListener, coord: CoordClient, shutdown: impl Future) {
    serve_sessions(listener, coord, shutdown).await
}

/// [`serve`] with sessions from any [`SessionFactory`]; tests use it to drive the protocol with a
/// scripted session.
pub async fn serve_sessions<F: SessionFactory>(listener: TcpListener, sessions: F, shutdown: impl Future) {
    let registry = Arc::new(CancelRegistry::default());
    let shared = Arc::new(Shared {
        sessions,
        cancel: Arc::clone(&registry),
        pids: Default::default(),
        activity: Default::default(),
    });
    let cancel = Arc::new(RegistryCancelHandler(registry));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let connection = Arc::new(Connection::new(Arc::clone(&shared), socket_fd(&socket)));
                    let extended = Arc::new(Extended(Arc::clone(&connection)));
                    let handlers = Handlers { connection, extended, cancel: Arc::clone(&cancel) };
                    connections.spawn(async move {
                        tracing::debug!(%peer, "connection opened");
                        if let Err(err) = pgwire::tokio::process_socket(socket, None, handlers).await {
                            tracing::debug!(%peer, error = %err, "connection ended with an error");
                        }
                        tracing::debug!(%peer, "connection closed");
                    });
                }
                // Accept errors (e.g. too many open files) are per-connection; keep serving.
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow without bound; a panicking
            // connection task only ends that connection.
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = joined {
                    if err.is_panic() {
                        tracing::error!("a connection task panicked; other connections are unaffected");
                    }
                }
            }
        }
    }
    tracing::info!(open = connections.len(), "shutting down the wire listener");
    connections.shutdown().await;
}
