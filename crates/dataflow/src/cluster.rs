//! The coordinator-facing handle of the timely cluster.

use freshet_expr::RelationExpr;
use freshet_repr::{DataflowError, Diff, GlobalId, RelationDesc, Row, Timestamp};
use freshet_storage::SourceDesc;

/// How to start the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// The runtime that source readers (async AWS SDK calls) run on.
    pub runtime: tokio::runtime::Handle,
}

/// The rows of a collection at one timestamp, or the first error the collection holds then.
pub type PeekResult = Result<Vec<(Row, Diff)>, DataflowError>;

/// A running cluster. Every method sends one command to every worker, in the same order, so that
/// workers build identical dataflows.
pub struct Cluster {
    _private: (),
}

impl Cluster {
    pub fn start(config: ClusterConfig) -> Result<Cluster, String> {
        let _ = config;
        Err("not implemented".into())
    }

    /// Creates an empty table collection, readable from time `as_of`.
    pub fn create_table(&self, id: GlobalId, desc: &RelationDesc, as_of: Timestamp) {
        let _ = (id, desc, as_of);
    }

    /// Adds `updates` to table `id` at time `ts`. `ts` must not be behind the table's frontier.
    pub fn update_table(&self, id: GlobalId, updates: Vec<(Row, Diff)>, ts: Timestamp) {
        let _ = (id, updates, ts);
    }

    /// Promises that no table receives updates before `ts`.
    pub fn advance_tables(&self, ts: Timestamp) {
        let _ = ts;
    }

    /// Starts source `id` and its progress collection `progress_id`.
    pub fn create_source(&self, id: GlobalId, progress_id: GlobalId, name: &str, source: &SourceDesc, desc: &RelationDesc) {
        let _ = (id, progress_id, name, source, desc);
    }

    /// Renders `expr` into a maintained, arranged collection `id` (a materialized view).
    pub fn create_view(&self, id: GlobalId, expr: &RelationExpr, as_of: Timestamp) {
        let _ = (id, expr, as_of);
    }

    /// Drops collection `id` (table, source, progress collection or materialized view).
    pub fn drop_collection(&self, id: GlobalId) {
        let _ = id;
    }

    /// Reads collection `id` as of `ts`, once its frontier has passed `ts`.
    pub async fn peek(&self, id: GlobalId, ts: Timestamp) -> PeekResult {
        let _ = (id, ts);
        Ok(Vec::new())
    }

    /// Evaluates `expr` as of `ts` in a short-lived dataflow.
    pub async fn peek_expr(&self, expr: &RelationExpr, ts: Timestamp) -> PeekResult {
        let _ = (expr, ts);
        Ok(Vec::new())
    }

    /// Stops the workers after they finish their current step.
    pub fn shutdown(self) {}
}
