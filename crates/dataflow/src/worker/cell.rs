//! Point reads answered on the reader's own thread while their worker waits for work.
//!
//! A worker's state (its traces, whose batches and frontiers it shares through `Rc`s with its
//! dataflow operators) lives in a [`StateCell`]. The worker holds the cell's lock whenever it
//! runs: while it handles commands, steps timely (every operator that touches a trace runs then)
//! and does maintenance. It lets go only while it yields or parks (`worker::wait`). A reader that
//! gets the lock with `try_lock` thus has the whole state to itself and reads a trace exactly as
//! the worker would have; when the worker is busy or about to take the lock back, the reader does
//! not wait but sends the read as a command, as before. A point read from a waiting worker then
//! costs no wake-up of the worker and no hand-off of the answer back to the reader
//! (docs/benchmarks.md, serving).
//!
//! This module must not change a worker's state: it only reads a trace, under the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use freshet_expr::MapFilterProject;
use freshet_repr::{Datum, GlobalId, Timestamp};

use super::WorkerState;
use crate::cluster::PeekResult;

/// One worker's state, reachable from other threads only through its lock.
#[derive(Default)]
pub struct StateCell {
    state: Mutex<Option<Lent>>,
    /// Set while the worker waits for the lock: readers then leave the read to the worker, so
    /// that a stream of reads cannot hold it off.
    worker_waiting: AtomicBool,
    /// Set while a reader holds the lock (and only then): another reader waits its turn, as a
    /// point read takes microseconds, instead of sending its read to the worker, which would wake
    /// the worker and hold the state for longer still.
    reader_inside: AtomicBool,
}

/// The longest a reader waits for another reader to finish before it sends its read to the worker.
const READER_TURN: Duration = Duration::from_micros(20);

/// The state a worker lends to readers while it waits.
pub(super) struct Lent(pub(super) WorkerState);

// SAFETY: `WorkerState` holds `Rc`s (traces, probes, flags) shared with its worker's timely
// operators and is therefore not `Send`. Every access to those shared values happens with the
// `StateCell` lock held: the worker takes the lock before it handles commands or steps timely
// (the only times its operators run) and releases it only to yield or park, and other threads
// reach the state only through the lock, never keeping an `Rc` past it. The lock thus orders
// all accesses (no two threads touch a reference count or a `RefCell` at once) and makes each
// holder's writes visible to the next. The worker takes the state out of the cell and drops it
// on its own thread before it exits, so no `Rc` outlives the worker on another thread.
unsafe impl Send for Lent {}

impl StateCell {
    /// Places the worker's state in the cell; the worker then reaches it through `lock`.
    pub(super) fn install(&self, state: WorkerState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(Lent(state));
    }

    /// The worker's exclusive access. A reader that panicked while holding it left the state as
    /// it found it (unwinding releases what a read borrows), so poison is ignored.
    pub(super) fn lock(&self) -> MutexGuard<'_, Option<Lent>> {
        self.worker_waiting.store(true, Ordering::Release);
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.worker_waiting.store(false, Ordering::Release);
        // A reader that panicked inside left it set; no reader holds the lock now.
        self.reader_inside.store(false, Ordering::Release);
        guard
    }

    /// The rows of `id` whose first column is `leading`, as of `ts`, through `mfp`: answered here
    /// when the worker is waiting and `ts` is already complete on it. `None` means the read must
    /// go to the worker (busy, not complete yet, collection unknown here, or the worker is gone).
    pub fn point_read(
        &self,
        id: GlobalId,
        ts: Timestamp,
        mfp: &MapFilterProject,
        leading: &Datum,
    ) -> Option<PeekResult> {
        let mut slot = self.reader_lock()?;
        self.reader_inside.store(true, Ordering::Release);
        let answer = slot
            .as_mut()
            .and_then(|Lent(state)| state.collections.get_mut(&id))
            .and_then(|collection| collection.traces.try_peek(ts, Some(leading), mfp));
        self.reader_inside.store(false, Ordering::Release);
        drop(slot);
        answer
    }

    /// The lock for a reader: at once, or after another reader's turn (at most [`READER_TURN`]);
    /// `None` while the worker holds it or waits for it, or when a reader panicked holding it.
    fn reader_lock(&self) -> Option<MutexGuard<'_, Option<Lent>>> {
        let mut waited_since = None;
        loop {
            if self.worker_waiting.load(Ordering::Acquire) {
                return None;
            }
            match self.state.try_lock() {
                Ok(slot) => return Some(slot),
                Err(TryLockError::WouldBlock) if self.reader_inside.load(Ordering::Acquire) => {
                    let since = *waited_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > READER_TURN {
                        return None;
                    }
                    std::hint::spin_loop();
                }
                Err(_) => return None,
            }
        }
    }
}
