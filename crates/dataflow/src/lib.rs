//! The dataflow layer: one shared timely cluster whose workers render `RelationExpr` plans into
//! differential dataflows, hold their arrangements, run sources, and answer peeks.
//!
//! It owns the worker threads, the command protocol between the coordinator and the workers, and
//! the rendering of every plan operator. It must not decide timestamps on its own for tables
//! (the coordinator does), parse SQL, or know about sessions or the wire.
//!
//! Layout: `cluster` (the handle), `command` (the protocol), `worker` (the per-worker loop),
//! `render` (plan operators), `peek` (reading arrangements), `source` (the Kinesis operator), `status` (source health), `subscribe`
//! (SUBSCRIBE's sink and merge).

pub mod cluster;
pub mod command;
mod peek;
pub mod render;
pub mod source;
pub mod status;
pub mod subscribe;
mod worker;

pub use cluster::{Cluster, ClusterConfig, PeekResult, SubscribeBatch, Subscription};
pub use subscribe::SubscribeError;
