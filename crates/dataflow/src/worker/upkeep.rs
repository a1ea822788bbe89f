//! A worker's upkeep between steps: answering pending peeks once their time is complete,
//! publishing each collection's frontiers to the handle, and compacting traces.
//!
//! This module must not build or drop collections (`worker` does), except the transient dataflow
//! of a peek it has answered.

use std::collections::HashMap;

use freshet_expr::MapFilterProject;
use freshet_repr::{EvalError, GlobalId, Timestamp};
use timely::worker::Worker;

use super::{unknown_collection, Frontiers, PeekTarget, WorkerState, COMPACTION_LAG_MS};
use crate::cluster::PeekResult;

impl WorkerState {
    pub(super) fn respond(&self, peek_id: u64, result: PeekResult) {
        let responder = self.shared.responders.lock().ok().and_then(|r| r.get(&peek_id).cloned());
        if let Some(responder) = responder {
            // The caller may have given up on the peek; nobody is left to tell.
            let _ = responder.send(result);
        }
    }

    /// Answers the pending peeks whose time is complete; forgets those whose caller gave up.
    pub(super) fn process_peeks(&mut self, worker: &mut Worker) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        for mut peek in pending {
            let answer = if !self.is_awaited(peek.peek_id) {
                Some(Err(EvalError::Internal("the peek was cancelled".into()).into()))
            } else {
                match &mut peek.target {
                    PeekTarget::Collection(id, mfp, leading) => match self.collections.get_mut(id) {
                        Some(maintained) => maintained.traces.try_peek(peek.ts, leading.as_ref(), mfp),
                        None => Some(Err(unknown_collection(*id))),
                    },
                    PeekTarget::Transient { traces, .. } => {
                        traces.try_peek(peek.ts, None, &MapFilterProject::default())
                    }
                }
            };
            match answer {
                Some(result) => {
                    self.respond(peek.peek_id, result);
                    if let PeekTarget::Transient { traces, dataflow } = peek.target {
                        drop(traces);
                        worker.drop_dataflow(dataflow);
                    }
                }
                None => self.pending.push(peek),
            }
        }
    }

    /// Whether someone still waits for the answer to `peek_id`.
    fn is_awaited(&self, peek_id: u64) -> bool {
        self.shared.responders.lock().map(|r| r.contains_key(&peek_id)).unwrap_or(false)
    }

    pub(super) fn publish_frontiers(&mut self, index: usize, peers: usize) {
        let mut changed = Vec::new();
        for (id, maintained) in self.collections.iter_mut() {
            let (upper, since) = (maintained.traces.upper(), maintained.traces.since());
            // New errors arrive only with a new upper, so emptiness is rechecked only then.
            if maintained.published.is_some_and(|p| (p.upper, p.since) == (upper, since)) {
                continue;
            }
            let current = Frontiers { upper, since, error_free: maintained.traces.errors_empty() };
            maintained.published = Some(current);
            changed.push((*id, current));
        }
        if changed.is_empty() {
            return;
        }
        if let Ok(mut frontiers) = self.shared.frontiers.lock() {
            for (id, current) in changed {
                let per_worker = frontiers.entry(id).or_insert_with(|| vec![None; peers]);
                if let Some(slot) = per_worker.get_mut(index) {
                    *slot = Some(current);
                }
            }
        }
    }

    pub(super) fn compact(&mut self) {
        let mut holds: HashMap<GlobalId, Timestamp> = HashMap::new();
        for peek in &self.pending {
            if let PeekTarget::Collection(id, ..) = &peek.target {
                let hold = holds.entry(*id).or_insert(peek.ts);
                *hold = (*hold).min(peek.ts);
            }
        }
        for (id, maintained) in self.collections.iter_mut() {
            let Some(upper) = maintained.traces.upper() else { continue };
            let mut target = upper.saturating_sub(COMPACTION_LAG_MS).max(maintained.allowed_since.min(upper));
            if let Some(hold) = holds.get(id) {
                target = target.min(*hold);
            }
            if target > maintained.traces.since() {
                maintained.traces.compact_to(target);
            }
            maintained.traces.recheck_errors();
        }
    }
}
