//! The dataflow layer: one shared timely cluster whose workers render `RelationExpr` plans into
//! differential dataflows, hold their arrangements, run sources, and answer peeks.
//!
//! It owns the worker threads, the command protocol between the coordinator and the workers, and
//! the rendering of every plan operator. It must not decide timestamps on its own for tables
//! (the coordinator does), parse SQL, or know about sessions or the wire.

pub mod cluster;

pub use cluster::{Cluster, ClusterConfig, PeekResult};
