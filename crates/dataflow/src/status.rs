//! Source health: what each worker's source operator reports (running, stalled on its log, failed)
//! and the merged view the coordinator serves as `mz_internal.mz_source_statuses`.
//!
//! This module owns the status board shared by the workers and the cluster handle; it must not
//! decide when a source is healthy (the source operator does) nor present rows (the coordinator
//! does).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use freshet_repr::{GlobalId, Timestamp};

/// A source's health on one worker, ordered from best to worst so that merging takes the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceHealth {
    Running,
    /// Built, not yet stepped.
    Starting,
    /// Cannot make progress for now (e.g. its log cannot be written) and retries on its own.
    Stalled,
    /// Stopped for good; the error is also in the source's error collection.
    Failed,
}

impl SourceHealth {
    pub fn name(self) -> &'static str {
        match self {
            SourceHealth::Running => "running",
            SourceHealth::Starting => "starting",
            SourceHealth::Stalled => "stalled",
            SourceHealth::Failed => "failed",
        }
    }
}

/// One source's status: its health, why (when not running), and when it last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStatus {
    pub health: SourceHealth,
    pub error: Option<String>,
    /// Wall-clock milliseconds since the Unix epoch.
    pub changed_at_ms: Timestamp,
}

/// Per source, per worker: the latest status reported.
pub type StatusBoard = Arc<Mutex<HashMap<GlobalId, BTreeMap<usize, SourceStatus>>>>;

/// The worst status any worker reports for `id`, stamped with the latest change.
pub fn merged_status(board: &StatusBoard, id: GlobalId) -> Option<SourceStatus> {
    let board = board.lock().ok()?;
    let per_worker = board.get(&id)?;
    let worst = per_worker.values().max_by_key(|s| s.health)?;
    let changed_at_ms = per_worker.values().map(|s| s.changed_at_ms).max().unwrap_or(worst.changed_at_ms);
    Some(SourceStatus { changed_at_ms, ..worst.clone() })
}

/// Forgets a dropped source.
pub fn forget(board: &StatusBoard, id: GlobalId) {
    if let Ok(mut board) = board.lock() {
        board.remove(&id);
    }
}

/// What one worker's source operator reports through; writes only when the status changes.
pub struct StatusReporter {
    board: StatusBoard,
    id: GlobalId,
    worker: usize,
    last: Option<(SourceHealth, Option<String>)>,
}

impl StatusReporter {
    /// A reporter for source `id` on `worker`, which reports `Starting` at once.
    pub fn new(board: StatusBoard, id: GlobalId, worker: usize) -> StatusReporter {
        let mut reporter = StatusReporter { board, id, worker, last: None };
        reporter.report(SourceHealth::Starting, None);
        reporter
    }

    /// A reporter nobody reads (sources built outside a cluster, in tests).
    pub fn detached() -> StatusReporter {
        StatusReporter { board: StatusBoard::default(), id: GlobalId(0), worker: 0, last: None }
    }

    /// Records this worker's status; `Failed` is final, later reports are ignored.
    pub fn report(&mut self, health: SourceHealth, error: Option<String>) {
        let next = (health, error);
        let failed = self.last.as_ref().is_some_and(|(h, _)| *h == SourceHealth::Failed);
        if failed || self.last.as_ref() == Some(&next) {
            return;
        }
        if let Ok(mut board) = self.board.lock() {
            let status = SourceStatus { health: next.0, error: next.1.clone(), changed_at_ms: crate::source::now_ms() };
            board.entry(self.id).or_default().insert(self.worker, status);
        }
        self.last = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_worker_status_wins_and_repeats_are_not_rewritten() {
        let board = StatusBoard::default();
        let mut w0 = StatusReporter::new(board.clone(), GlobalId(3), 0);
        let mut w1 = StatusReporter::new(board.clone(), GlobalId(3), 1);
        assert_eq!(merged_status(&board, GlobalId(3)).map(|s| s.health), Some(SourceHealth::Starting));
        w0.report(SourceHealth::Running, None);
        w1.report(SourceHealth::Stalled, Some("disk full".into()));
        let merged = merged_status(&board, GlobalId(3)).unwrap();
        assert_eq!((merged.health, merged.error.as_deref()), (SourceHealth::Stalled, Some("disk full")));
        let changed = merged.changed_at_ms;
        w1.report(SourceHealth::Stalled, Some("disk full".into()));
        assert_eq!(merged_status(&board, GlobalId(3)).unwrap().changed_at_ms, changed);
        w1.report(SourceHealth::Running, None);
        assert_eq!(merged_status(&board, GlobalId(3)).unwrap().health, SourceHealth::Running);
        w0.report(SourceHealth::Failed, Some("stream deleted".into()));
        w0.report(SourceHealth::Running, None);
        let merged = merged_status(&board, GlobalId(3)).unwrap();
        assert_eq!((merged.health, merged.error.as_deref()), (SourceHealth::Failed, Some("stream deleted")));
        forget(&board, GlobalId(3));
        assert_eq!(merged_status(&board, GlobalId(3)), None);
    }
}
