//! Pre-aggregation: each worker sums its rows' contributions per group and time before they are
//! exchanged, and holds the sums until its input frontier passes their time. Nothing downstream
//! could use them earlier (the arrangement seals a time only once the frontier passes it), so
//! holding costs no latency; and a view's first batch, its whole input at one time, leaves as one
//! update per group instead of one per row. In Nexmark q5 that is 4.6 million window rows.
//!
//! Rows are read where they are made: an `Expansion` hands each produced row over in a reused
//! buffer, and only a group seen for the first time copies its key. Over a flat map, input rows
//! are first combined by what their results depend on (their signature: q5 reads a bid's auction
//! and its 2-second slice, not its exact time), and each distinct one is expanded once, with its
//! multiplicities summed, when its time is released: q5's 920,000 bids make 64,000 expansions.
//! Sums are linear in the multiplicity, so this changes no result. Where rows barely combine, they
//! pass through uncombined for a while (`Combining`). This module must not decide what the
//! aggregates mean; `accumulate` owns `Totals` and how a row adds to them.

use differential_dataflow::difference::IsZero;
use differential_dataflow::{AsCollection, VecCollection};
use freshet_repr::{DataflowError, Diff, Row, Timestamp};
use hashbrown::HashTable;
use std::hash::BuildHasher;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{OutputBuilder, OutputBuilderSession};
use timely::dataflow::operators::{Capability, CapabilityTrait, InputCapability};
use timely::progress::frontier::AntichainRef;
use timely::progress::operate::FrontierInterest;

use super::{add_contribution, Accumulable, Totals};
use crate::render::flat_map::{take_row, Expansion};
use crate::render::{ErrCollection, OkCollection};

/// What one time holds until the frontier passes it.
struct Held {
    time: Timestamp,
    /// Capabilities to send the sums and the errors of expanding the inputs at.
    capabilities: (Capability<Timestamp>, Capability<Timestamp>),
    /// Input rows by signature (see `Expansion::signature`): the first row and the summed
    /// multiplicity of each, expanded once when released.
    inputs: HashTable<(Row, Row, Diff)>,
    /// The sums by group key.
    groups: HashTable<(Row, Totals)>,
}

/// Everything a pre-aggregation keeps between containers.
struct Groups {
    summing: Summing,
    expansion: Expansion,
    held: Vec<Held>,
    /// Whether summing results pays, and whether combining input rows by signature does.
    combining: Combining,
    deduplicating: Combining,
    /// A signature being built, kept for its allocation.
    signature: Row,
}

/// How results add to the sums.
struct Summing {
    key_arity: usize,
    kinds: Vec<Accumulable>,
    hasher: foldhash::fast::RandomState,
}

/// A contribution to send uncombined, or an error; both at the input update's time.
enum Now {
    Update(Row, Timestamp, Totals),
    Error(DataflowError, Timestamp, Diff),
}

/// How many rows were added to a table and how many of them started an entry.
#[derive(Default)]
struct Tally {
    added: usize,
    created: usize,
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
        summing: Summing { key_arity, kinds, hasher: foldhash::fast::RandomState::default() },
        expansion,
        held: Vec::new(),
        combining: Combining::default(),
        deduplicating: Combining::default(),
        signature: Row::default(),
    };
    builder.build(move |_| {
        let mut now = Vec::new();
        move |frontiers| {
            let mut outputs = (ok_output.activate(), err_output.activate());
            input.for_each_stamp(|capability, containers| {
                for container in containers {
                    state.absorb(container, &capability, &mut now);
                }
                send(&mut outputs, (&capability, &capability), &mut now);
            });
            for mut held in state.release(frontiers[0].frontier()) {
                state.expand_inputs(&mut held, &mut now);
                let time = held.time;
                let sums = held.groups.into_iter().filter(|(_, totals)| !totals.is_zero());
                now.extend(sums.map(|(key, totals)| Now::Update(key, time, totals)));
                send(&mut outputs, (&held.capabilities.0, &held.capabilities.1), &mut now);
            }
        }
    });
    (ok.as_collection(), err.as_collection())
}

/// An activated output of updates `(D, time, R)`.
type Output<'a, D, R> = OutputBuilderSession<'a, Timestamp, CapacityContainerBuilder<Vec<(D, Timestamp, R)>>>;

/// Sends `now`'s updates and errors at `capabilities` (for the updates' output and the errors').
fn send<C: CapabilityTrait<Timestamp>>(
    (ok, err): &mut (Output<'_, Row, Totals>, Output<'_, DataflowError, Diff>),
    (ok_capability, err_capability): (&C, &C),
    now: &mut Vec<Now>,
) {
    if now.is_empty() {
        return;
    }
    let (mut ok, mut err) = (ok.session(ok_capability), err.session(err_capability));
    for update in now.drain(..) {
        match update {
            Now::Update(key, time, totals) => ok.give((key, time, totals)),
            Now::Error(error, time, diff) => err.give((error, time, diff)),
        }
    }
}

impl Groups {
    /// Adds `rows` (received at `capability`) to the held inputs or sums, or to `now` when not
    /// combining.
    fn absorb(
        &mut self,
        rows: &mut Vec<(Row, Timestamp, Diff)>,
        capability: &InputCapability<Timestamp>,
        now: &mut Vec<Now>,
    ) {
        let Groups { summing, expansion, held, combining, deduplicating, signature } = self;
        // A message without a time to hold a capability at passes through uncombined.
        let timed = capability.least().is_some();
        let deduplicate = timed && deduplicating.now();
        let combine = timed && combining.now();
        let (mut inputs, mut results) = (Tally::default(), Tally::default());
        for (row, time, diff) in rows.drain(..) {
            if deduplicate && expansion.signature(&row, signature) {
                let held = held_at(held, capability, time);
                add_input(&mut held.inputs, &summing.hasher, signature, row, diff, &mut inputs);
                continue;
            }
            let groups = combine.then(|| &mut held_at(held, capability, time).groups);
            summing.add(expansion, row, (time, diff), groups, now, &mut results);
        }
        if deduplicate {
            deduplicating.observe(inputs);
        }
        if combine {
            combining.observe(results);
        }
    }

    /// The held times that `frontier` has passed, removed.
    fn release(&mut self, frontier: AntichainRef<'_, Timestamp>) -> Vec<Held> {
        let (ready, waiting) =
            std::mem::take(&mut self.held).into_iter().partition(|held| !frontier.less_equal(&held.time));
        self.held = waiting;
        ready
    }

    /// Expands `held`'s input rows into its sums; errors go to `now`.
    fn expand_inputs(&mut self, held: &mut Held, now: &mut Vec<Now>) {
        let mut tally = Tally::default();
        for (_, row, diff) in held.inputs.drain() {
            if diff != 0 {
                self.summing.add(&mut self.expansion, row, (held.time, diff), Some(&mut held.groups), now, &mut tally);
            }
        }
    }
}

impl Summing {
    /// Adds the results of `row` (per `expansion`), at `time` with `diff`, to `groups`, or when
    /// there are none sends each to `now` uncombined.
    fn add(
        &self,
        expansion: &mut Expansion,
        row: Row,
        (time, diff): (Timestamp, Diff),
        mut groups: Option<&mut HashTable<(Row, Totals)>>,
        now: &mut Vec<Now>,
        tally: &mut Tally,
    ) {
        let Summing { key_arity, kinds, hasher } = self;
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
            tally.added += 1;
            let hash = hasher.hash_one(key);
            let added = match groups.find_mut(hash, |(group, _)| group.datums() == key) {
                Some((_, totals)) => add_contribution(totals, kinds, args, diff),
                None => {
                    let mut totals = Totals::zero(kinds);
                    let added = add_contribution(&mut totals, kinds, args, diff);
                    if added.is_ok() {
                        tally.created += 1;
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
}

/// Adds `row` with `diff` under `signature` to `inputs`; the signature's first row is kept (and
/// `signature` taken), later ones only add their multiplicity.
fn add_input(
    inputs: &mut HashTable<(Row, Row, Diff)>,
    hasher: &foldhash::fast::RandomState,
    signature: &mut Row,
    row: Row,
    diff: Diff,
    tally: &mut Tally,
) {
    tally.added += 1;
    let hash = hasher.hash_one(signature.datums());
    if let Some((_, _, sum)) = inputs.find_mut(hash, |(seen, _, _)| seen.datums() == signature.datums()) {
        *sum = sum.wrapping_add(diff);
        return;
    }
    tally.created += 1;
    inputs.insert_unique(hash, (take_row(signature), row, diff), |(seen, _, _)| hasher.hash_one(seen.datums()));
}

/// What is held for `time`, started (with a capability to send it at) if new.
fn held_at<'h>(held: &'h mut Vec<Held>, capability: &InputCapability<Timestamp>, time: Timestamp) -> &'h mut Held {
    let index = match held.iter().position(|held| held.time == time) {
        Some(index) => index,
        None => {
            // An update is never earlier than its container's capability; should one be, what it
            // adds still leaves, at the capability's time. Callers check that there is one.
            let least = capability.least().copied().unwrap_or(time);
            let at = time.max(least);
            let capabilities = (capability.delayed(&at, 0), capability.delayed(&at, 1));
            held.push(Held { time, capabilities, inputs: HashTable::new(), groups: HashTable::new() });
            held.len() - 1
        }
    };
    &mut held[index]
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

    /// What combining one container did.
    fn observe(&mut self, tally: Tally) {
        if tally.added >= SAMPLE_ROWS && tally.created * 10 > tally.added * 9 {
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
        combining.observe(Tally { added: 1000, created: 100 });
        combining.observe(Tally { added: SAMPLE_ROWS - 1, created: SAMPLE_ROWS - 1 });
        assert!(combining.now());
        combining.observe(Tally { added: 1000, created: 950 });
        let skipped = (0..SKIP_CONTAINERS).filter(|_| !combining.now()).count();
        assert_eq!(skipped, SKIP_CONTAINERS as usize);
        assert!(combining.now());
    }
}
