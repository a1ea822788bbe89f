//! DISTINCT and thresholds by counting: `distinct_by_key` (the DISTINCT that a join reads) and
//! `threshold`.
//!
//! Times are totally ordered, so a row's multiplicity in the output after a time depends only on
//! its total multiplicity through that time. Each worker keeps the current multiplicity of every
//! row it owns, and when its input frontier passes a time it adds that time's updates and sends a
//! row's change only when its thresholded multiplicity changes (for DISTINCT: when it appears or
//! disappears), through the `by_time` operator. Differential's `reduce`, which this replaces,
//! arranges its input and replays each changed key's history of input and output, as partially
//! ordered times need: over Nexmark q8's 60,000 auctions that replay was a quarter of the query.
//! The counts take the place of the reduce's input arrangement and output trace. This module must
//! not evaluate keys or rows.

use std::hash::{BuildHasher, Hash};

use differential_dataflow::hashable::Hashable;
use differential_dataflow::{ExchangeData, VecCollection};
use freshet_repr::{Diff, Row, Timestamp};
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::batcher::arrange_by_key;
use super::by_time::{by_time, TimeState};
use super::join::{ByKey, Keyed};
use super::Key;

/// Each `(key, row)` pair of `keyed` whose multiplicity is not zero, once, arranged by key.
pub fn distinct_by_key(keyed: Keyed<'_>) -> ByKey<'_> {
    // Rows go to the worker their key's arrangement lives on, so the arrangement moves none.
    let changes = count(keyed, "Distinct", |(key, _): &(Key, Row)| key.hashed(), present);
    arrange_by_key(changes, "Arrange: Distinct")
}

/// Each row of `rows` with the multiplicity `thresh` makes of its multiplicity.
pub fn threshold<'s>(
    rows: VecCollection<'s, Timestamp, Row, Diff>,
    name: &str,
    thresh: impl Fn(Diff) -> Diff + 'static,
) -> VecCollection<'s, Timestamp, Row, Diff> {
    // Held as `Key`s, rows of one or two bigints take no heap block while they are counted.
    count(rows.map(Key::from_datums), name, Key::hashed, thresh).map(Key::into_row)
}

/// DISTINCT's threshold: once if present at all.
pub fn present(count: Diff) -> Diff {
    Diff::from(count != 0)
}

/// The changes of `thresh` of each datum's multiplicity in `input`, as the frontier passes their
/// times; `route` places each datum on a worker.
fn count<'s, D>(
    input: VecCollection<'s, Timestamp, D, Diff>,
    name: &str,
    route: impl Fn(&D) -> u64 + 'static,
    thresh: impl Fn(Diff) -> Diff + 'static,
) -> VecCollection<'s, Timestamp, D, Diff>
where
    D: ExchangeData + Hash,
{
    by_time(input, name, route, Counts::new(thresh))
}

/// One worker's data and their multiplicities.
struct Counts<D, F> {
    /// Every datum with a multiplicity not zero, through the released times. Each entry keeps its
    /// hash: rows hash datum by datum, and growing the table would otherwise hash every row again
    /// (a tenth of Nexmark q8 went to rehashing).
    counts: HashTable<Counted<D>>,
    hasher: foldhash::fast::RandomState,
    thresh: F,
}

struct Counted<D> {
    hash: u64,
    data: D,
    count: Diff,
}

impl<D, F> Counts<D, F> {
    fn new(thresh: F) -> Self {
        Counts { counts: HashTable::new(), hasher: Default::default(), thresh }
    }
}

impl<D: Hash + Eq + Clone, F: Fn(Diff) -> Diff> TimeState<D, D> for Counts<D, F> {
    /// Adds `diff` copies of `data` at `time`; a change of its thresholded multiplicity goes to
    /// `changes`.
    fn add(&mut self, data: D, time: Timestamp, diff: Diff, changes: &mut Vec<(D, Timestamp, Diff)>) {
        if diff == 0 {
            return;
        }
        let hash = self.hasher.hash_one(&data);
        let entry = self.counts.entry(hash, |held| held.hash == hash && held.data == data, |held| held.hash);
        match entry {
            Entry::Occupied(mut held) => {
                let before = held.get().count;
                let after = before + diff;
                let change = (self.thresh)(after) - (self.thresh)(before);
                if after == 0 {
                    let (gone, _) = held.remove();
                    if change != 0 {
                        changes.push((gone.data, time, change));
                    }
                } else {
                    held.get_mut().count = after;
                    if change != 0 {
                        changes.push((data, time, change));
                    }
                }
            }
            Entry::Vacant(vacant) => {
                let change = (self.thresh)(diff) - (self.thresh)(0);
                if change != 0 {
                    changes.push((data.clone(), time, change));
                }
                vacant.insert(Counted { hash, data, count: diff });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::by_time::{Shell, SEND_AT_ONCE};
    use freshet_repr::Datum;
    use timely::progress::Antichain;

    fn data(id: i64) -> (Key, Row) {
        (Key::Int(id), Row::new(vec![Datum::Text(format!("r{id}"))]))
    }

    type Distinct = Shell<(Key, Row), Counts<(Key, Row), fn(Diff) -> Diff>>;

    fn release(counts: &mut Distinct, updates: &[(i64, Timestamp, Diff)], frontier: Timestamp) -> Vec<(i64, u64, i64)> {
        counts.pending.extend(updates.iter().map(|(id, time, diff)| (data(*id), *time, *diff)));
        let mut changes = Vec::new();
        counts.release(Antichain::from_elem(frontier).borrow(), |time, sent| {
            assert!(sent.iter().all(|(_, at, _)| *at == time));
            changes.append(sent);
        });
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
        let mut counts: Distinct = Shell::new(Counts::new(present));
        // Two copies of 1 and one of 2 at time 1; one copy of 1 leaves at 2; 3 comes and goes at 3.
        let updates = [(1, 1, 1), (2, 1, 1), (1, 1, 1), (1, 2, -1), (3, 3, 1), (3, 3, -1)];
        assert_eq!(release(&mut counts, &updates, 3), vec![(1, 1, 1), (2, 1, 1)]);
        // Time 3 waits until the frontier passes it.
        assert_eq!(counts.pending.len(), 2);
        assert_eq!(release(&mut counts, &[], 4), vec![(3, 3, 1), (3, 3, -1)]);
        assert_eq!(release(&mut counts, &[(1, 5, -1), (2, 6, 3), (2, 7, -3)], 10), vec![(1, 5, -1)]);
        assert_eq!(release(&mut counts, &[(2, 8, -1)], 10), vec![(2, 8, -1)]);
        assert!(counts.state.counts.is_empty() && counts.pending.is_empty());
    }

    #[test]
    fn a_threshold_sends_its_multiplicity_changes() {
        let mut counts = Shell::new(Counts::new(|count: Diff| count.max(0)));
        counts.pending.extend([(1, 1, 2), (1, 2, -3), (1, 3, 2), (2, 3, -1)]);
        let mut changes = Vec::new();
        counts.release(Antichain::from_elem(4).borrow(), |_, sent| changes.append(sent));
        assert_eq!(changes, vec![(1, 1, 2), (1, 2, -2), (1, 3, 1)]);
        let mut held: Vec<_> = counts.state.counts.iter().map(|held| (held.data, held.count)).collect();
        held.sort();
        assert_eq!(held, vec![(1, 1), (2, -1)]);
    }

    #[test]
    fn many_changes_of_one_time_leave_in_bounded_containers() {
        let mut counts: Distinct = Shell::new(Counts::new(present));
        let updates: Vec<_> = (0..2500).map(|id| (id, 7, 1)).collect();
        let mut sizes = Vec::new();
        counts.pending.extend(updates.iter().map(|(id, time, diff)| (data(*id), *time, *diff)));
        counts.release(Antichain::from_elem(8).borrow(), |time, sent| {
            assert_eq!(time, 7);
            sizes.push(sent.len());
            sent.clear();
        });
        assert_eq!(sizes, vec![SEND_AT_ONCE, SEND_AT_ONCE, 2500 - 2 * SEND_AT_ONCE]);
    }
}
