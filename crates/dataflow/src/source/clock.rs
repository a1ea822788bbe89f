//! The clock the workers of one source share, so that a batch is readable as soon as it is
//! emitted: the source's frontier is the least capability over all its workers, and a worker that
//! read nothing would otherwise hold it back until its own next tick (up to `TICK` later). A worker
//! that emits at `t` raises the shared floor past `t` and wakes the others, whose operators then
//! move their capabilities up to the floor at once.
//!
//! This module owns the floor and the workers' activators; it must not choose timestamps (the
//! source operator does) nor emit anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use freshet_repr::{GlobalId, Timestamp};
use timely::scheduling::SyncActivator;

/// Per source, the clock its workers share.
pub type ClockBoard = Arc<Mutex<HashMap<GlobalId, Arc<SourceClock>>>>;

/// One source's shared floor and the activators of its workers' operators.
#[derive(Default)]
pub struct SourceClock {
    /// No worker of the source stamps anything earlier than this any more.
    floor: AtomicU64,
    /// Per worker, what schedules its source operator.
    activators: Mutex<BTreeMap<usize, SyncActivator>>,
}

/// One worker's handle on its source's clock.
pub struct PeerClock {
    clock: Arc<SourceClock>,
    worker: usize,
}

impl PeerClock {
    /// Worker `worker`'s handle on the clock of source `id` (created by the first worker to ask).
    pub fn join(board: &ClockBoard, id: GlobalId, worker: usize) -> PeerClock {
        let clock = match board.lock() {
            Ok(mut board) => Arc::clone(board.entry(id).or_default()),
            // A poisoned board only costs freshness: this worker follows its own tick.
            Err(_) => Arc::default(),
        };
        PeerClock { clock, worker }
    }

    /// A clock shared with nobody (sources built outside a cluster, in tests).
    pub fn detached() -> PeerClock {
        PeerClock { clock: Arc::default(), worker: 0 }
    }

    /// Registers what wakes this worker's source operator.
    pub(super) fn register(&self, activator: SyncActivator) {
        if let Ok(mut activators) = self.clock.activators.lock() {
            activators.insert(self.worker, activator);
        }
    }

    /// The least time any worker of the source may still stamp.
    pub(super) fn floor(&self) -> Timestamp {
        self.clock.floor.load(Ordering::Acquire)
    }

    /// Promises that this worker stamps nothing before `next` and asks every other worker to
    /// promise the same, so that the source's frontier reaches `next` without waiting for ticks.
    pub(super) fn advance(&self, next: Timestamp) {
        if self.clock.floor.fetch_max(next, Ordering::AcqRel) >= next {
            return;
        }
        if let Ok(activators) = self.clock.activators.lock() {
            for (_, activator) in activators.iter().filter(|(worker, _)| **worker != self.worker) {
                // Fails only when the peer's dataflow is gone, and then nothing waits for it.
                let _ = activator.activate();
            }
        }
    }
}

/// Forgets a dropped source's clock.
pub fn forget(board: &ClockBoard, id: GlobalId) {
    if let Ok(mut board) = board.lock() {
        board.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_only_rises_and_is_shared_by_the_workers_of_one_source() {
        let board = ClockBoard::default();
        let (a, b) = (PeerClock::join(&board, GlobalId(1), 0), PeerClock::join(&board, GlobalId(1), 1));
        let other = PeerClock::join(&board, GlobalId(2), 0);
        a.advance(10);
        assert_eq!(b.floor(), 10);
        b.advance(5);
        assert_eq!(a.floor(), 10);
        assert_eq!(other.floor(), 0);
        forget(&board, GlobalId(1));
        assert_eq!(PeerClock::join(&board, GlobalId(1), 0).floor(), 0);
    }
}
