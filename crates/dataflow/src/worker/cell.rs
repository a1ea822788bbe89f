//! Point reads answered on the reader's own thread while their worker waits for work.
//!
//! A worker's state (its traces, whose batches and frontiers it shares through `Rc`s with its
//! dataflow operators) lives in a [`StateCell`]. The worker holds the cell's lock whenever it
//! runs: while it handles commands, steps timely (every operator that touches a trace runs then)
//! and does maintenance. It lets go only while it yields or parks. A reader that gets the lock
//! with `try_lock` thus has the whole state to itself and reads a trace exactly as the worker
//! would have; when the worker is busy the reader does not wait but sends the read as a command,
//! as before. A point read from a waiting worker then costs no wake-up of the worker and no
//! hand-off of the answer back to the reader (docs/benchmarks.md, serving).
//!
//! This module must not change a worker's state: it only reads a trace, under the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, TryLockError};

use freshet_expr::MapFilterProject;
use freshet_repr::{Datum, GlobalId, Timestamp};

use super::WorkerState;
use crate::cluster::PeekResult;

/// One worker's state, reachable from other threads only through its lock.
#[derive(Default)]
pub struct StateCell {
    state: Mutex<Option<Lent>>,
    /// Set by each point read answered here: the worker counts it as a command when it decides
    /// whether to stay awake, so a stream of reads keeps it as ready as a stream of commands.
    read_here: AtomicBool,
}

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
        if let Ok(mut slot) = self.state.lock() {
            *slot = Some(Lent(state));
        }
    }

    /// The worker's exclusive access; `None` if a reader panicked while holding it.
    pub(super) fn lock(&self) -> Option<std::sync::MutexGuard<'_, Option<Lent>>> {
        self.state.lock().ok()
    }

    /// Whether a point read was answered here since the last call.
    pub(super) fn take_read_here(&self) -> bool {
        self.read_here.swap(false, Ordering::Relaxed)
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
        let mut slot = match self.state.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::WouldBlock | TryLockError::Poisoned(_)) => return None,
        };
        let state = &mut slot.as_mut()?.0;
        let traces = &mut state.collections.get_mut(&id)?.traces;
        let answer = traces.try_peek(ts, Some(leading))?;
        self.read_here.store(true, Ordering::Relaxed);
        Some(crate::peek::apply_mfp(mfp, answer))
    }
}
