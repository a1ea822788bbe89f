//! Pre-aggregation: each worker sums its rows' contributions per group and time before they are
//! exchanged, and holds the sums until its input frontier passes their time. Nothing downstream
//! could use them earlier (the arrangement seals a time only once the frontier passes it), so
//! holding costs no latency; and a view's first batch, its whole input at one time, leaves as one
//! update per group instead of one per row. In Nexmark q5 that is 4.6 million window rows.
//!
//! Rows are read where they are made: an `Expansion` hands each produced row over in a reused
//! buffer, and only a group seen for the first time copies its key. Where rows barely combine,
//! they pass through uncombined for a while (`Combining`). This module must not decide what the
//! aggregates mean; `accumulate` owns `Totals` and how a row adds to them.

use differential_dataflow::difference::IsZero;
use differential_dataflow::{AsCollection, VecCollection};
use freshet_repr::{DataflowError, Diff, Row, Timestamp};
use hashbrown::HashTable;
use std::hash::BuildHasher;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::AntichainRef;
use timely::progress::operate::FrontierInterest;

use super::{add_contribution, Accumulable, Totals};
use crate::render::flat_map::Expansion;
use crate::render::{ErrCollection, OkCollection};

/// The sums of one time, held until the frontier passes it.
struct Held {
    time: Timestamp,
    capability: Capability<Timestamp>,
    groups: HashTable<(Row, Totals)>,
}

/// Everything a pre-aggregation keeps between containers.
struct Groups {
    key_arity: usize,
    kinds: Vec<Accumulable>,
    expansion: Expansion,
    held: Vec<Held>,
    hasher: foldhash::fast::RandomState,
    combining: Combining,
}

/// A contribution to send now, uncombined, or an error; both at the input update's time.
enum Now {
    Update(Row, Timestamp, Totals),
    Error(DataflowError, Timestamp, Diff),
}

/// Sums the contributions of the rows `rows` stand for (per `expansion`) per group key (the first
/// `key_arity` columns of each) and time; the rest of each row are the arguments of `kinds`.
pub(super) fn pre_aggregate<'s>(
    rows: OkCollection<'s>,
    expansion: Expansion,
    key_arity: usize,
    kinds: Vec<Accumulable>,
) -> (VecCollection<'s, Timestamp, Row, Totals>, ErrCollection<'s>) {
    let mut builder = OperatorBuilder::new("PreAggregate".to_owned(), rows.inner.scope());
    let mut input = builder.new_input(rows.inner, Pipeline);
    builder.set_notify_for(0, FrontierInterest::IfCapability);
    let (ok_output, ok) = builder.new_output();
    let (err_output, err) = builder.new_output();
    let mut ok_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<(Row, Timestamp, Totals)>>>::from(ok_output);
    let mut err_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<(DataflowError, Timestamp, Diff)>>>::from(err_output);
    let mut state = Groups {
        key_arity,
        kinds,
        expansion,
        held: Vec::new(),
        hasher: foldhash::fast::RandomState::default(),
        combining: Combining::default(),
    };
    builder.build(move |_| {
        let mut now = Vec::new();
        move |frontiers| {
            let mut ok_handle = ok_output.activate();
            let mut err_handle = err_output.activate();
            input.for_each_stamp(|capability, containers| {
                for container in containers {
                    state.absorb(container, &capability, &mut now);
                }
                let (mut ok, mut err) = (ok_handle.session(&capability), err_handle.session(&capability));
                for update in now.drain(..) {
                    match update {
                        Now::Update(key, time, totals) => ok.give((key, time, totals)),
                        Now::Error(error, time, diff) => err.give((error, time, diff)),
                    }
                }
            });
            for held in state.release(frontiers[0].frontier()) {
                let mut session = ok_handle.session(&held.capability);
                let time = held.time;
                let sums = held.groups.into_iter().filter(|(_, totals)| !totals.is_zero());
                session.give_iterator(sums.map(|(key, totals)| (key, time, totals)));
            }
        }
    });
    (ok.as_collection(), err.as_collection())
}

impl Groups {
    /// Adds `rows` (received at `capability`) to the held sums, or to `now` when not combining.
    fn absorb(
        &mut self,
        rows: &mut Vec<(Row, Timestamp, Diff)>,
        capability: &InputCapability<Timestamp>,
        now: &mut Vec<Now>,
    ) {
        let Groups { key_arity, kinds, expansion, held, hasher, combining } = self;
        // A message without a time to hold a capability at passes through uncombined.
        let combine = capability.least().is_some() && combining.now();
        let (mut summed, mut created) = (0usize, 0usize);
        for (row, time, diff) in rows.drain(..) {
            let mut groups = combine.then(|| held_groups(held, capability, time));
            expansion.expand(row, &mut |result| {
                let row = match result {
                    Ok(row) => row,
                    Err(error) => return now.push(Now::Error(error, time, diff)),
                };
                let (key, args) = row.datums().split_at((*key_arity).min(row.len()));
                let Some(groups) = groups.as_deref_mut() else {
                    let mut contribution = Totals::zero(kinds);
                    match add_contribution(&mut contribution, kinds, args, diff) {
                        Ok(()) => {
                            let mut key = std::mem::take(row);
                            key.truncate(*key_arity);
                            now.push(Now::Update(key, time, contribution));
                        }
                        Err(error) => now.push(Now::Error(error.into(), time, diff)),
                    }
                    return;
                };
                summed += 1;
                let hash = hasher.hash_one(key);
                let added = match groups.find_mut(hash, |(group, _)| group.datums() == key) {
                    Some((_, totals)) => add_contribution(totals, kinds, args, diff),
                    None => {
                        let mut totals = Totals::zero(kinds);
                        let added = add_contribution(&mut totals, kinds, args, diff);
                        if added.is_ok() {
                            created += 1;
                            let group: Row = key.iter().cloned().collect();
                            groups.insert_unique(hash, (group, totals), |(group, _)| hasher.hash_one(group.datums()));
                        }
                        added
                    }
                };
                if let Err(error) = added {
                    now.push(Now::Error(error.into(), time, diff));
                }
            });
        }
        if combine {
            combining.observe(summed, created);
        }
    }

    /// The held sums whose time `frontier` has passed, removed.
    fn release(&mut self, frontier: AntichainRef<'_, Timestamp>) -> Vec<Held> {
        let (ready, waiting) =
            std::mem::take(&mut self.held).into_iter().partition(|held| !frontier.less_equal(&held.time));
        self.held = waiting;
        ready
    }
}

/// The sums held for `time`, started (with a capability to send them at) if new.
fn held_groups<'h>(
    held: &'h mut Vec<Held>,
    capability: &InputCapability<Timestamp>,
    time: Timestamp,
) -> &'h mut HashTable<(Row, Totals)> {
    let index = match held.iter().position(|held| held.time == time) {
        Some(index) => index,
        None => {
            // An update is never earlier than its container's capability; should one be, its
            // sums still leave, at the capability's time. Callers check that there is one.
            let least = capability.least().copied().unwrap_or(time);
            let capability = capability.delayed(&time.max(least), 0);
            held.push(Held { time, capability, groups: HashTable::new() });
            held.len() - 1
        }
    };
    &mut held[index].groups
}

/// Whether pre-aggregation pays. Hashing every row costs more than it saves when nearly every row
/// starts a group of its own; after a container whose rows did, the next `SKIP_CONTAINERS` pass
/// their rows through uncombined (the arrangement sums them all the same), after which combining
/// is tried again.
#[derive(Default)]
struct Combining {
    skip: u32,
}

/// Containers passed through after one whose rows barely combined.
const SKIP_CONTAINERS: u32 = 64;
/// Fewest rows in a container for its combining ratio to count.
const SAMPLE_ROWS: usize = 64;

impl Combining {
    /// Whether to combine the next container.
    fn now(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    /// `rows` rows of a combined container started `groups` new groups.
    fn observe(&mut self, rows: usize, groups: usize) {
        if rows >= SAMPLE_ROWS && groups * 10 > rows * 9 {
            self.skip = SKIP_CONTAINERS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_pauses_only_after_a_container_that_barely_combined() {
        let mut combining = Combining::default();
        assert!(combining.now());
        combining.observe(1000, 100);
        combining.observe(SAMPLE_ROWS - 1, SAMPLE_ROWS - 1);
        assert!(combining.now());
        combining.observe(1000, 950);
        let skipped = (0..SKIP_CONTAINERS).filter(|_| !combining.now()).count();
        assert_eq!(skipped, SKIP_CONTAINERS as usize);
        assert!(combining.now());
    }
}
