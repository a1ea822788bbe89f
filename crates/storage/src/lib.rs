//! The storage layer: what a source is (its connection and format), how its records decode into
//! rows, and the durable logs that keep table writes and ingested source records across restarts.
//!
//! This crate must not know about SQL, plans, dataflows or the wire; it must not depend on the AWS
//! SDK (that lives in `freshet-kinesis` alone).

pub mod format;
pub mod log;
pub mod source;
pub mod source_log;

pub use format::{DecodeFailure, Decoder, SourceFormat};
pub use log::{DurableLog, LogBatch, LogError, TableLog};
pub use source::{KinesisConnection, KinesisCredentials, SourceDesc};
pub use source_log::{SourceBatch, SourceLog, SourceRecord};
