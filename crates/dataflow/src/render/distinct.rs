//! `distinct_by_key`: the DISTINCT that a join reads, by counting.
//!
//! Times are totally ordered, so whether a row is present after a time depends only on its total
//! multiplicity through that time. Each worker keeps the current multiplicity of every row it
//! owns, and when its input frontier passes a time it adds that time's updates and sends a row's
//! insertion or deletion only when the row appears or disappears. Differential's `reduce`, which
//! this replaces here, replays each changed key's history of input and output, as partially
//! ordered times need: over Nexmark q8's 60,000 auctions that replay was a quarter of the query.
//! The counts take the place of the reduce's input arrangement; the output is arranged by key for
//! the join. This module must not evaluate keys or rows.

use differential_dataflow::hashable::Hashable;
use differential_dataflow::AsCollection;
use freshet_repr::{Diff, Row, Timestamp};
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;

use super::batcher::arrange_by_key;
use super::join::{ByKey, Keyed};
use super::Key;

type Update = ((Key, Row), Timestamp, Diff);

/// Each `(key, row)` pair of `keyed` whose multiplicity is not zero, once, arranged by key (as
/// `threshold` with a count of one).
pub fn distinct_by_key(keyed: Keyed<'_>) -> ByKey<'_> {
    // Rows go to the worker their key's arrangement lives on, so the arrangement moves none.
    let exchange = Exchange::new(|update: &Update| (update.0).0.hashed());
    let changes = keyed.inner.unary_frontier::<CapacityContainerBuilder<Vec<Update>>, _, _, _>(
        exchange,
        "Distinct",
        |_capability, _info| {
            let mut state = Counts::default();
            move |(input, frontier), output| {
                input.for_each_stamp(|capability, containers| {
                    for container in containers {
                        let Some(least) = capability.least().copied() else { continue };
                        if state.held.as_ref().is_none_or(|held| least < *held.time()) {
                            state.held = Some(capability.delayed(&least, 0));
                        }
                        state.pending.append(container);
                    }
                });
                let Some(held) = state.held.take() else { return };
                let mut changes = state.release(frontier.frontier()).into_iter().peekable();
                while let Some(first) = changes.next() {
                    // An update is never earlier than its container's capability.
                    let time = first.1;
                    let capability = held.delayed(&time.max(*held.time()));
                    let mut session = output.session(&capability);
                    session.give(first);
                    while let Some(next) = changes.next_if(|(_, next, _)| *next == time) {
                        session.give(next);
                    }
                }
                state.held = state.pending.iter().map(|(_, time, _)| *time).min().map(|least| {
                    let at = least.max(*held.time());
                    held.delayed(&at)
                });
            }
        },
    );
    arrange_by_key(changes.as_collection(), "Arrange: Distinct")
}

/// One worker's rows and their multiplicities.
#[derive(Default)]
struct Counts {
    /// The multiplicity of every row with one not zero, through the released times.
    counts: HashMap<(Key, Row), Diff, foldhash::fast::RandomState>,
    /// Updates at times the frontier has not passed.
    pending: Vec<Update>,
    /// A capability for the earliest pending time.
    held: Option<Capability<Timestamp>>,
}

impl Counts {
    /// Adds the updates at times before `frontier`, in time order; returns the rows that appeared
    /// or disappeared, in time order.
    fn release(&mut self, frontier: AntichainRef<'_, Timestamp>) -> Vec<Update> {
        let (mut ready, waiting): (Vec<Update>, Vec<Update>) =
            std::mem::take(&mut self.pending).into_iter().partition(|(_, time, _)| !frontier.less_equal(time));
        self.pending = waiting;
        ready.sort_by_key(|(_, time, _)| *time);
        let mut changes = Vec::new();
        for (data, time, diff) in ready {
            self.add(data, time, diff, &mut changes);
        }
        changes
    }

    /// Adds `diff` copies of `data` at `time`; the row's appearance or disappearance goes to
    /// `changes`.
    fn add(&mut self, data: (Key, Row), time: Timestamp, diff: Diff, changes: &mut Vec<Update>) {
        if diff == 0 {
            return;
        }
        match self.counts.entry(data) {
            Entry::Occupied(mut held) => {
                *held.get_mut() += diff;
                if *held.get() == 0 {
                    let (data, _) = held.remove_entry();
                    changes.push((data, time, -1));
                }
            }
            Entry::Vacant(vacant) => {
                changes.push((vacant.key().clone(), time, 1));
                vacant.insert(diff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_repr::Datum;
    use timely::progress::Antichain;

    fn data(id: i64) -> (Key, Row) {
        (Key::Int(id), Row::new(vec![Datum::Text(format!("r{id}"))]))
    }

    fn release(counts: &mut Counts, updates: &[(i64, Timestamp, Diff)], frontier: Timestamp) -> Vec<(i64, u64, i64)> {
        counts.pending.extend(updates.iter().map(|(id, time, diff)| (data(*id), *time, *diff)));
        let changes = counts.release(Antichain::from_elem(frontier).borrow());
        changes
            .into_iter()
            .map(|((key, _), time, diff)| (key.with_datums(|d| d[0].clone()), time, diff))
            .map(|(id, time, diff)| match id {
                Datum::Int64(id) => (id, time, diff),
                other => panic!("unexpected key {other:?}"),
            })
            .collect()
    }

    #[test]
    fn rows_change_only_when_they_appear_or_disappear() {
        let mut counts = Counts::default();
        // Two copies of 1 and one of 2 at time 1; one copy of 1 leaves at 2; 3 comes and goes at 3.
        let updates = [(1, 1, 1), (2, 1, 1), (1, 1, 1), (1, 2, -1), (3, 3, 1), (3, 3, -1)];
        assert_eq!(release(&mut counts, &updates, 3), vec![(1, 1, 1), (2, 1, 1)]);
        // Time 3 waits until the frontier passes it.
        assert_eq!(counts.pending.len(), 2);
        assert_eq!(release(&mut counts, &[], 4), vec![(3, 3, 1), (3, 3, -1)]);
        assert_eq!(release(&mut counts, &[(1, 5, -1), (2, 6, 3), (2, 7, -3)], 10), vec![(1, 5, -1)]);
        assert_eq!(release(&mut counts, &[(2, 8, -1)], 10), vec![(2, 8, -1)]);
        assert!(counts.counts.is_empty() && counts.pending.is_empty());
    }
}
