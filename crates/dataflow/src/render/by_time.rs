//! `by_time`: the operator shell of the stateful operators that rely on time being totally ordered
//! (`distinct`'s counting, `grouped`'s reductions).
//!
//! Each worker collects its share of the input (routed by the caller) and, when the input
//! frontier passes a time, hands the state that time's updates in time order, then ends the time;
//! what the state reports changed leaves at that time, in containers of at most `SEND_AT_ONCE`.
//! Because times are totally ordered, a state that keeps the accumulation of everything released
//! so far knows each datum's whole past: nothing needs differential's replay of histories, which
//! partially ordered times need. Updates wait unconsolidated until their time is released, as the
//! sort batcher's do between consolidations. This module owns the capabilities and the order of
//! release; what the state keeps and computes is the caller's.

use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use freshet_repr::{Diff, Timestamp};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;

/// Changes sent in one container: a view's first time changes every row at once, and collecting
/// them all before sending would hold a second copy of the rows.
pub const SEND_AT_ONCE: usize = 1024;

/// What a worker keeps across times, and how updates change it.
pub trait TimeState<D, O> {
    /// Adds `diff` copies of `data` at `time`; changes of the output may go to `changes` now.
    fn add(&mut self, data: D, time: Timestamp, diff: Diff, changes: &mut Vec<(O, Timestamp, Diff)>);

    /// Every update of `time` has been added; the remaining changes of the output go to `changes`.
    /// Called repeatedly while it leaves `SEND_AT_ONCE` or more changes, until it returns true.
    fn end_time(&mut self, _time: Timestamp, _changes: &mut Vec<(O, Timestamp, Diff)>) -> bool {
        true
    }
}

/// Runs `state` over `input` (routed to workers by `route`): its changes, at their times.
pub fn by_time<'s, D, O, S>(
    input: VecCollection<'s, Timestamp, D, Diff>,
    name: &str,
    route: impl Fn(&D) -> u64 + 'static,
    state: S,
) -> VecCollection<'s, Timestamp, O, Diff>
where
    D: ExchangeData,
    O: ExchangeData,
    S: TimeState<D, O> + 'static,
{
    let exchange = Exchange::new(move |update: &(D, Timestamp, Diff)| route(&update.0));
    let changes = input.inner.unary_frontier::<CapacityContainerBuilder<Vec<(O, Timestamp, Diff)>>, _, _, _>(
        exchange,
        name,
        move |_capability, _info| {
            let mut shell = Shell::new(state);
            move |(input, frontier), output| {
                input.for_each_stamp(|capability, containers| {
                    for container in containers {
                        let Some(least) = capability.least().copied() else { continue };
                        if shell.held.as_ref().is_none_or(|held| least < *held.time()) {
                            shell.held = Some(capability.delayed(&least, 0));
                        }
                        shell.pending.append(container);
                    }
                });
                let Some(held) = shell.held.take() else { return };
                // Every pending update is at or after the held time: while the frontier has not
                // passed it, nothing is ready, and a view's first time arrives in many containers
                // (splitting all that was pending at each of them made it quadratic).
                if frontier.frontier().less_equal(held.time()) {
                    shell.held = Some(held);
                    return;
                }
                shell.release(frontier.frontier(), |time, changes| {
                    // An update is never earlier than its container's capability.
                    let capability = held.delayed(&time.max(*held.time()));
                    output.session(&capability).give_container(changes);
                    changes.clear();
                });
                shell.held = shell.pending.iter().map(|(_, time, _)| *time).min().map(|least| {
                    let at = least.max(*held.time());
                    held.delayed(&at)
                });
            }
        },
    );
    changes.as_collection()
}

/// A worker's state with the updates it has not yet been handed.
pub struct Shell<D, S> {
    pub state: S,
    /// Updates at times the frontier has not passed.
    pub pending: Vec<(D, Timestamp, Diff)>,
    /// A capability for the earliest pending time.
    held: Option<Capability<Timestamp>>,
}

impl<D, S> Shell<D, S> {
    pub fn new(state: S) -> Self {
        Shell { state, pending: Vec::new(), held: None }
    }

    /// Hands the state the updates at times before `frontier`, in time order, ending each time,
    /// and hands `send` the changes, a time and at most about `SEND_AT_ONCE` of them at a time.
    pub fn release<O>(
        &mut self,
        frontier: AntichainRef<'_, Timestamp>,
        mut send: impl FnMut(Timestamp, &mut Vec<(O, Timestamp, Diff)>),
    ) where
        S: TimeState<D, O>,
    {
        let mut ready = if self.pending.iter().all(|(_, time, _)| !frontier.less_equal(time)) {
            std::mem::take(&mut self.pending)
        } else {
            let (ready, waiting) =
                std::mem::take(&mut self.pending).into_iter().partition(|(_, time, _)| !frontier.less_equal(time));
            self.pending = waiting;
            ready
        };
        ready.sort_by_key(|(_, time, _)| *time);
        let mut changes = Vec::new();
        let mut updates = ready.into_iter().peekable();
        while let Some((_, time, _)) = updates.peek() {
            let time = *time;
            while let Some((data, _, diff)) = updates.next_if(|(_, next, _)| *next == time) {
                self.state.add(data, time, diff, &mut changes);
                if changes.len() >= SEND_AT_ONCE {
                    send(time, &mut changes);
                }
            }
            loop {
                let done = self.state.end_time(time, &mut changes);
                if !changes.is_empty() {
                    send(time, &mut changes);
                }
                if done {
                    break;
                }
            }
        }
    }
}
