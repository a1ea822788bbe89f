//! `SortBatcher`: a differential `Batcher` that keeps the updates an arrangement has not yet
//! released in one vector and sorts it when it releases them, where differential's own
//! `MergeBatcher` sorts chunks of a few hundred updates and merges them up a ladder of chains.
//!
//! A view's first batch holds every row of its input at one time: the ladder moved each of those
//! updates through a dozen merges, each a pass over memory, and those merges were half of Nexmark
//! q4's and q7's time (docs/benchmarks.md, session 13). One sort of the whole vector compares as
//! often but moves each update far less. Rows cache their sort prefix, so most comparisons read no
//! datum.
//!
//! Held updates are consolidated whenever they have grown fourfold since the last time, so a
//! stream of updates that cancel out (an insert and its delete) stays small between releases.
//! This module owns only the order and consolidation of held updates; building the batch is the
//! sealer's (differential's `OrdValBuilder` / `OrdKeyBuilder`).

use std::marker::PhantomData;

use differential_dataflow::batcher::merge::Sealer;
use differential_dataflow::batcher::{Batcher, Extract};
use differential_dataflow::difference::Semigroup;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{KeyBuilder, KeySpine, ValBuilder, ValSpine};
use differential_dataflow::{ExchangeData, VecCollection};
use freshet_repr::Timestamp;
use timely::progress::frontier::{Antichain, AntichainRef};

/// Held updates are consolidated once they number at least this many and four times as many as
/// after the last consolidation.
const MIN_CONSOLIDATION: usize = 1 << 16;

/// A `SortBatcher` of `(key, value)` pairs, sealed into differential's value batches.
pub type ValBatcher<K, V, R> = SortBatcher<(K, V), Timestamp, R, ValBuilder<K, V, Timestamp, R>>;
/// A `SortBatcher` of whole records, sealed into differential's key batches.
pub type KeyBatcher<K, R> = SortBatcher<(K, ()), Timestamp, R, KeyBuilder<K, Timestamp, R>>;

pub struct SortBatcher<D, T, R, S> {
    /// Every update inserted and not yet released; a prefix of `sorted` of them is sorted and
    /// consolidated.
    updates: Vec<(D, T, R)>,
    sorted: usize,
    /// Lower bound of the times of held updates, as of the last extraction.
    frontier: Antichain<T>,
    sealer: PhantomData<S>,
}

impl<D, T, R, S> SortBatcher<D, T, R, S> {
    /// Differential's batcher constructor shape: it neither logs nor needs the operator's id.
    pub fn new(_logger: Option<differential_dataflow::logging::Logger>, _operator_id: usize) -> Self {
        SortBatcher { updates: Vec::new(), sorted: 0, frontier: Antichain::new(), sealer: PhantomData }
    }
}

impl<D: Ord, T: Ord, R: Semigroup, S> SortBatcher<D, T, R, S> {
    /// Sorts and consolidates every held update. The sort is stable, so it merges the sorted
    /// prefix, and the runs its input already has (a join's output arrives grouped by key), as
    /// runs instead of sorting them again; an in-place unstable sort lost 8-17% on Nexmark q4/q7.
    fn consolidate(&mut self) {
        if self.sorted < self.updates.len() {
            self.updates.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            consolidate_sorted(&mut self.updates);
        }
        self.sorted = self.updates.len();
    }
}

impl<D, T, R, S> Batcher<Vec<(D, T, R)>> for SortBatcher<D, T, R, S>
where
    D: Ord + 'static,
    T: timely::progress::Timestamp,
    R: Semigroup + 'static,
    S: Sealer<Vec<(D, T, R)>>,
{
    fn insert(&mut self, container: &mut Vec<(D, T, R)>) {
        if self.updates.is_empty() {
            std::mem::swap(&mut self.updates, container);
        } else {
            self.updates.append(container);
        }
        if self.updates.len() >= MIN_CONSOLIDATION.max(self.sorted.saturating_mul(4)) {
            self.consolidate();
        }
    }
}

impl<D, T, R, S> Extract for SortBatcher<D, T, R, S>
where
    D: Ord + 'static,
    T: timely::progress::Timestamp,
    R: Semigroup + 'static,
    S: Sealer<Vec<(D, T, R)>>,
{
    type Time = T;
    type Output = S::Output;

    fn extract<'a>(&'a mut self, upper: AntichainRef<'_, T>) -> (Option<S::Output>, AntichainRef<'a, T>) {
        self.consolidate();
        self.frontier.clear();
        let ready = if self.updates.iter().all(|(_, time, _)| !upper.less_equal(time)) {
            std::mem::take(&mut self.updates)
        } else {
            let (ready, kept): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.updates).into_iter().partition(|(_, time, _)| !upper.less_equal(time));
            for (_, time, _) in &kept {
                self.frontier.insert_ref(time);
            }
            self.updates = kept;
            ready
        };
        self.sorted = self.updates.len();
        let batch = if ready.is_empty() { None } else { S::seal(&mut vec![ready]) };
        (batch, self.frontier.borrow())
    }
}

/// Sums the differences of adjacent updates with equal data and time, and drops those that sum to
/// zero; `updates` must be sorted by data and time.
fn consolidate_sorted<D: Eq, T: Eq, R: Semigroup>(updates: &mut Vec<(D, T, R)>) {
    let mut kept = 0;
    for index in 0..updates.len() {
        if kept > 0 {
            let (head, tail) = updates.split_at_mut(index);
            let (last, next) = (&mut head[kept - 1], &tail[0]);
            if last.0 == next.0 && last.1 == next.1 {
                last.2.plus_equals(&next.2);
                continue;
            }
            if last.2.is_zero() {
                kept -= 1;
            }
        }
        updates.swap(kept, index);
        kept += 1;
    }
    if kept > 0 && updates[kept - 1].2.is_zero() {
        kept -= 1;
    }
    updates.truncate(kept);
}

/// `collection` arranged by its `(key, value)` pairs' keys, through a `SortBatcher`.
pub fn arrange_by_key<'s, K, V, R>(
    collection: VecCollection<'s, Timestamp, (K, V), R>,
    name: &str,
) -> Arranged<'s, TraceAgent<ValSpine<K, V, Timestamp, R>>>
where
    K: ExchangeData + Hashable,
    V: ExchangeData,
    R: ExchangeData + Semigroup,
{
    collection.arrange_named::<ValBatcher<K, V, R>, _>(name, SortBatcher::new)
}

/// `collection` arranged by its whole records, through a `SortBatcher`.
pub fn arrange_by_self<'s, K, R>(
    collection: VecCollection<'s, Timestamp, K, R>,
    name: &str,
) -> Arranged<'s, TraceAgent<KeySpine<K, Timestamp, R>>>
where
    K: ExchangeData + Hashable,
    R: ExchangeData + Semigroup,
{
    collection.map(|key| (key, ())).arrange_named::<KeyBatcher<K, R>, _>(name, SortBatcher::new)
}

#[cfg(test)]
mod tests;
