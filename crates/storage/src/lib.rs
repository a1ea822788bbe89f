//! The storage layer: what a source is (its connection and format), how its records decode into
//! rows, and the durable log that keeps table and source updates across restarts.
//!
//! This crate must not know about SQL, plans, dataflows or the wire; it must not depend on the AWS
//! SDK (that lives in `freshet-kinesis` alone).

pub mod format;
pub mod log;
pub mod source;

pub use format::{DecodeFailure, Decoder, SourceFormat};
pub use log::{LogBatch, LogError, TableLog};
pub use source::{KinesisConnection, KinesisCredentials, SourceDesc};
