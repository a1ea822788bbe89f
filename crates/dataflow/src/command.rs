//! The command protocol between the cluster handle and its workers.
//!
//! Every command is sent to every worker in the same order, so that all workers build the same
//! dataflows in the same order (timely requires this). Commands are plain serializable data: peek
//! answers travel back through a separate responder table keyed by `peek_id`, so that the protocol
//! could later cross process boundaries. This module must not hold channels or worker state.

use freshet_expr::{MapFilterProject, RelationExpr};
use freshet_repr::{Diff, GlobalId, Row, Timestamp};
use freshet_storage::SourceDesc;
use serde::{Deserialize, Serialize};

/// One instruction to every worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    CreateTable {
        id: GlobalId,
        as_of: Timestamp,
    },
    /// Worker 0 inserts the updates; the others ignore them (the data is exchanged by the arrangement).
    UpdateTable {
        id: GlobalId,
        updates: Vec<(Row, Diff)>,
        ts: Timestamp,
    },
    AdvanceTables {
        ts: Timestamp,
    },
    CreateSource {
        id: GlobalId,
        progress_id: GlobalId,
        name: String,
        source: SourceDesc,
    },
    CreateView {
        id: GlobalId,
        expr: RelationExpr,
        as_of: Timestamp,
    },
    /// Drops `id`; each worker then answers `ack_id` (as a peek with no rows).
    DropCollection {
        id: GlobalId,
        ack_id: u64,
    },
    /// Reads `id` at `ts` and applies `mfp` to each row; each worker answers `peek_id` once.
    Peek {
        peek_id: u64,
        id: GlobalId,
        ts: Timestamp,
        mfp: MapFilterProject,
    },
    /// Renders `expr` as of `ts` into a transient dataflow and peeks it.
    PeekExpr {
        peek_id: u64,
        expr: RelationExpr,
        ts: Timestamp,
    },
    /// Renders `expr` from `as_of` on into a transient dataflow whose updates go to the
    /// subscriber registered under `subscribe_id`.
    Subscribe {
        subscribe_id: u64,
        expr: RelationExpr,
        as_of: Timestamp,
    },
    /// Runs the cluster's `collect_freed` hook on each worker, which then answers `ack_id`.
    CollectFreed {
        ack_id: u64,
    },
    /// Lets the traces of `id` forget history before `since`.
    AllowCompaction {
        id: GlobalId,
        since: Timestamp,
    },
    Shutdown,
}
