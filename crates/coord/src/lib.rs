//! The coordinator: sessions, the durable catalog, timestamps, and the execution of plans on the
//! dataflow cluster.
//!
//! It owns every decision about *when* (timestamps, read/write ordering) and *what exists* (the
//! catalog). It must not parse SQL itself (that is `freshet-sql`) nor speak the wire protocol.

pub mod error;
pub mod session;

pub use error::CoordError;
pub use session::{CancelToken, ExecuteResponse, Session};

use std::path::PathBuf;

/// How to start a coordinator.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub workers: usize,
}

/// A handle to a running coordinator; cheap to clone, one per connection is fine.
#[derive(Clone)]
pub struct CoordClient {
    _private: (),
}

impl CoordClient {
    /// Starts the coordinator and its dataflow cluster, recovering the catalog from `data_dir`.
    pub async fn start(config: Config) -> Result<CoordClient, CoordError> {
        let _ = config;
        Err(CoordError::Internal("not implemented".into()))
    }

    /// Opens a session for a client that connected as `user` to `database`.
    pub fn new_session(&self, user: &str, database: &str) -> Session {
        Session::new(self.clone(), user, database)
    }

    /// Stops the cluster and flushes durable state.
    pub async fn shutdown(&self) {}
}
