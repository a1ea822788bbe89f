//! Reading AWS Kinesis Data Streams: connecting with the standard AWS configuration, listing shards,
//! and one polling reader per shard that respects Kinesis's limits.
//!
//! This is the only crate that depends on the AWS SDK. It knows nothing of rows, formats, SQL or
//! dataflows: it hands raw records (bytes, sequence numbers) to whoever reads its events.

mod backoff;
mod client;
mod config;
mod error;
mod reader;
mod shard;

use std::sync::Arc;
use std::time::Duration;

use client::StreamApi;
use error::ErrorKind;
use shard::ReaderContext;

/// Where a stream is and how to authenticate.
#[derive(Clone)]
pub struct StreamConfig {
    pub region: String,
    pub stream_name: String,
    /// Overrides `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL` / AWS's endpoint.
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    pub role_arn: Option<String>,
}

/// Where credentials come from.
#[derive(Clone)]
pub enum Credentials {
    DefaultChain,
    Profile(String),
    Static { access_key_id: String, secret_access_key: String, token: Option<String> },
}

/// One record as Kinesis delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinesisRecord {
    pub shard_id: String,
    /// Decimal digits; grows within a shard.
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// ApproximateArrivalTimestamp in milliseconds since the epoch, when Kinesis gave one.
    pub arrival_ms: Option<i64>,
}

/// Where a shard reader starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    AfterSequenceNumber(String),
}

/// What readers report, in order per shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A batch of records from one shard, in sequence order. May be empty: an empty batch still
    /// says the reader is alive and caught up to `millis_behind_latest`.
    Records { shard_id: String, records: Vec<KinesisRecord>, millis_behind_latest: Option<i64> },
    /// The shard was closed (resharded) and has been read to its end.
    ShardEnded { shard_id: String },
    /// A problem. `fatal` errors (stream deleted, access denied) stop the reader; others are
    /// reported while the reader retries with backoff.
    Error { message: String, fatal: bool },
}

/// Errors of connecting and describing a stream.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum KinesisError {
    #[error("Kinesis stream \"{0}\" does not exist")]
    StreamNotFound(String),
    #[error("invalid AWS configuration: {0}")]
    Config(String),
    #[error("Kinesis request failed: {0}")]
    Request(String),
}

/// A connected client for one stream.
#[derive(Clone)]
pub struct KinesisClient {
    config: Arc<StreamConfig>,
    api: StreamApi,
}

/// Stops its reader tasks when dropped.
pub struct ReaderHandle {
    supervisor: tokio::task::JoinHandle<()>,
}

impl ReaderHandle {
    /// True once the reader stopped on its own (after a fatal error).
    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        // Aborting the supervisor drops its JoinSet, which aborts every shard task.
        self.supervisor.abort();
    }
}

/// A generous bound on `check_stream`: credential chains (instance metadata, SSO) can be slow,
/// but CREATE SOURCE must not hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

impl KinesisClient {
    /// Builds a client from `config` and the standard AWS configuration chain.
    pub async fn connect(config: StreamConfig) -> Result<KinesisClient, KinesisError> {
        if config.stream_name.is_empty() {
            return Err(KinesisError::Config("the stream name must not be empty".into()));
        }
        let client = config::build_client(&config).await?;
        let api = StreamApi { client, stream_name: config.stream_name.clone() };
        Ok(KinesisClient { config: Arc::new(config), api })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Succeeds when the stream exists and can be read.
    pub async fn check_stream(&self) -> Result<(), KinesisError> {
        let name = &self.config.stream_name;
        match tokio::time::timeout(CHECK_TIMEOUT, self.api.describe()).await {
            Err(_) => Err(KinesisError::Request(format!(
                "no answer about stream \"{name}\" within {} s",
                CHECK_TIMEOUT.as_secs()
            ))),
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) if err.kind == ErrorKind::NotFound => Err(KinesisError::StreamNotFound(name.clone())),
            Ok(Err(err)) => Err(KinesisError::Request(err.message)),
        }
    }

    /// Starts reading, on `runtime`, every current and future shard for which `owns_shard` is true,
    /// each from `start(shard_id)`. Events go to `sink`; `sink` must not block.
    pub fn spawn_reader(
        &self,
        runtime: &tokio::runtime::Handle,
        owns_shard: Box<dyn Fn(&str) -> bool + Send + Sync>,
        start: Box<dyn Fn(&str) -> StartPosition + Send + Sync>,
        sink: Box<dyn Fn(ReaderEvent) + Send + Sync>,
    ) -> ReaderHandle {
        let ctx = Arc::new(ReaderContext::new(self.api.clone(), sink));
        let supervisor = runtime.spawn(reader::supervise(ctx, owns_shard, start));
        ReaderHandle { supervisor }
    }
}
