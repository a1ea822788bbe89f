//! The coordinator: sessions, the durable catalog, timestamps, and the execution of plans on the
//! dataflow cluster.
//!
//! It owns every decision about *when* (timestamps, read/write ordering) and *what exists* (the
//! catalog). It must not parse SQL itself (that is `freshet-sql`) nor speak the wire protocol.

mod catalog;
mod constant;
mod ddl;
pub mod error;
mod finishing;
mod introspection;
mod plan_cache;
mod plan_catalog;
mod pushdown;
mod read;
mod recovery;
pub mod session;
mod source;
pub mod subscribe;
mod timestamp;
mod write;

pub use error::CoordError;
pub use plan_cache::ParsedStatement;
pub use session::{CancelToken, ExecuteResponse, Session};
pub use subscribe::SubscribeStream;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use freshet_dataflow::{Cluster, ClusterConfig};
use freshet_storage::TableLog;

use crate::catalog::Catalog;
use crate::timestamp::Oracle;

/// How to start a coordinator.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub workers: usize,
    /// Table and source log segments roll (and closed ones are compacted) after this many bytes.
    pub log_segment_bytes: u64,
    /// See `ClusterConfig::collect_freed`: the binary knows which allocator it links.
    pub collect_freed: Option<fn()>,
}

/// A handle to a running coordinator; cheap to clone, one per connection is fine.
#[derive(Clone)]
pub struct CoordClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Catalog changes take this lock for writing; planning (every statement) reads under it.
    catalog: tokio::sync::RwLock<Catalog>,
    /// Serializes table writes (including the read half of UPDATE/DELETE).
    write_lock: tokio::sync::Mutex<()>,
    /// The oracle and the cluster commands that depend on its decisions move together.
    oracle: Mutex<Oracle>,
    table_log: Mutex<TableLog>,
    /// Where the catalog and the logs live.
    data_dir: PathBuf,
    cluster: Mutex<Option<Arc<Cluster>>>,
    next_session_id: std::sync::atomic::AtomicU32,
}

impl CoordClient {
    /// Starts the coordinator and its dataflow cluster, recovering the catalog and table contents
    /// from `data_dir`.
    pub async fn start(config: Config) -> Result<CoordClient, CoordError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            CoordError::Storage(format!("cannot create data directory {}: {e}", config.data_dir.display()))
        })?;
        let catalog = Catalog::open(&config.data_dir)?;
        let cluster_config = ClusterConfig {
            workers: config.workers.max(1),
            runtime: tokio::runtime::Handle::current(),
            data_dir: Some(config.data_dir.clone()),
            log_segment_bytes: config.log_segment_bytes,
            collect_freed: config.collect_freed,
        };
        let cluster = Cluster::start(cluster_config).map_err(CoordError::Internal)?;
        // The workers replay the sources' logs while this thread reads the table log.
        recovery::start_sources(&cluster, &catalog, &config.data_dir);
        let (table_log, batches) = TableLog::open(&config.data_dir, config.log_segment_bytes)
            .map_err(|e| CoordError::Storage(e.to_string()))?;
        let start_ts = timestamp::now_ms().max(batches.iter().map(|b| b.ts + 1).max().unwrap_or(0));
        let inner = Inner {
            catalog: tokio::sync::RwLock::new(catalog),
            write_lock: tokio::sync::Mutex::new(()),
            oracle: Mutex::new(Oracle::new(start_ts)),
            table_log: Mutex::new(table_log),
            data_dir: config.data_dir.clone(),
            cluster: Mutex::new(Some(Arc::new(cluster))),
            next_session_id: std::sync::atomic::AtomicU32::new(1),
        };
        let client = CoordClient { inner: Arc::new(inner) };
        recovery::recover(&client, batches).await?;
        Ok(client)
    }

    /// Opens a session for a client that connected as `user` to `database`.
    pub fn new_session(&self, user: &str, database: &str) -> Session {
        let id = self.inner.next_session_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Session::new(self.clone(), id, user, database)
    }

    /// Stops the cluster. Durable state is already on disk: every acknowledged write was fsynced.
    pub async fn shutdown(&self) {
        let cluster = self.inner.cluster.lock().ok().and_then(|mut c| c.take());
        if let Some(cluster) = cluster.and_then(|c| Arc::try_unwrap(c).ok()) {
            let _ = tokio::task::spawn_blocking(move || cluster.shutdown()).await;
        }
    }

    /// The cluster, or an error once it has been shut down.
    pub(crate) fn cluster(&self) -> Result<Arc<Cluster>, CoordError> {
        let guard = self.inner.cluster.lock().map_err(|_| CoordError::Internal("cluster lock poisoned".into()))?;
        guard.clone().ok_or_else(|| CoordError::Internal("the server is shutting down".into()))
    }

    pub(crate) fn oracle(&self) -> Result<std::sync::MutexGuard<'_, Oracle>, CoordError> {
        self.inner.oracle.lock().map_err(|_| CoordError::Internal("timestamp oracle lock poisoned".into()))
    }

    /// Closes tables before `ts`, telling the cluster if that moved their frontier.
    pub(crate) fn advance_tables(&self, ts: freshet_repr::Timestamp) -> Result<(), CoordError> {
        let mut oracle = self.oracle()?;
        if oracle.advance_to(ts) {
            self.cluster()?.advance_tables(ts);
        }
        Ok(())
    }
}
