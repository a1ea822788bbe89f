//! Index joins: an inner join one of whose sides is a stored collection read through the
//! collection's own arrangement, matched on the collection's first column (a bigint).
//!
//! Every collection's arrangement is ordered by row and spread among workers by its first datum
//! (`peek::leading_hash`), so the rows with one first datum are one run of one worker's batches,
//! and a one-datum row sorts just before that run. Such a side needs no arrangement of its own:
//! the other side is arranged by its key and sent to the worker that holds the matching runs, and
//! each of its keys seeks its run in the collection's batches. Nexmark q4 joins 60,000 auctions
//! with 920,000 bids this way, without keying, sorting and storing the bids a second time.
//!
//! Differential's `join_with_tactic` drives the operator (capabilities, frontiers, compaction of
//! both traces); this module finds the matches of the batch lists it hands over, and owns the
//! routing that puts both sides' matching rows on one worker. Times are totally ordered, so each
//! match is at the later of its two times.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::Range;
use std::rc::Rc;

use differential_dataflow::consolidation::ConsolidatingContainerBuilder;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::join::{join_with_tactic, Fresh, JoinTactic};
use differential_dataflow::trace::cursor::{cursor_list, CursorList};
use differential_dataflow::trace::{Cursor, Navigable};
use differential_dataflow::AsCollection;
use freshet_expr::{Predicates, RowPipeline, ScalarExpr};
use freshet_repr::{DataflowError, Datum, Diff, Row, Timestamp};
use timely::container::{ContainerBuilder, PushInto};
use timely::dataflow::channels::pact::Exchange;

use super::{finish_match, ByKey, Keyed, Thinning};
use crate::render::batcher::{SortBatcher, ValBatcher};
use crate::render::pipeline::ImportedRows;
use crate::render::Key;

/// Joined rows (or the error of evaluating one), at their times.
type Output = Vec<(Result<Row, DataflowError>, Timestamp, Diff)>;

/// Which of the join's sides the stored collection is: its columns come first in a joined row
/// when it is the left one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredSide {
    Left,
    Right,
}

/// How the join's side reads the stored collection: the rows `filter` (over the collection's
/// columns) holds for, then `columns` of them, in order.
pub struct StoredRead {
    pub filter: Vec<ScalarExpr>,
    pub columns: Vec<usize>,
}

/// How a match becomes a joined row.
pub struct IndexSpec {
    pub stored_side: StoredSide,
    /// Which stored rows the join's side has (its predicates cannot fail).
    pub stored_filter: Predicates,
    /// The stored collection's columns that the join's side reads, in order.
    pub stored_columns: Vec<usize>,
    /// How the keyed side's rows were thinned when arranged.
    pub keyed_thinning: Thinning,
    pub residual: Predicates,
    pub then: Option<RowPipeline>,
}

/// The worker that holds the stored rows matching `key`: the one their first datum goes to.
fn route(key: &Key) -> u64 {
    match key {
        Key::Int(value) => Datum::Int64(*value).hashed(),
        // Planning keys an index join by one bigint; any other key matches no stored row.
        other => other.hashed(),
    }
}

/// `keyed` arranged by key, each key on the worker that holds the stored rows it matches.
pub fn arrange_for_index<'s>(keyed: Keyed<'s>) -> ByKey<'s> {
    let exchange = Exchange::new(|((key, _), _, _): &((Key, Row), Timestamp, Diff)| route(key));
    arrange_core::<_, _, ValBatcher<Key, Row, Diff>, _>(keyed.inner, exchange, "ArrangeForIndex", SortBatcher::new)
}

/// The joined rows of `keyed` (arranged by `arrange_for_index`) and `stored`.
pub fn index_join<'s>(
    keyed: ByKey<'s>,
    stored: ImportedRows<'s>,
    spec: IndexSpec,
) -> differential_dataflow::VecCollection<'s, Timestamp, Result<Row, DataflowError>, Diff> {
    let tactic = IndexTactic { matcher: Rc::new(RefCell::new(Matcher { spec, scratch: Vec::new() })) };
    join_with_tactic(keyed, stored, "IndexJoin", tactic).as_collection()
}

/// Builds joined rows from matches; shared by every pending unit of work of one operator.
struct Matcher {
    spec: IndexSpec,
    scratch: Vec<Datum>,
}

impl Matcher {
    /// Whether the join's side has `stored` (its filter holds).
    fn admits(&self, stored: &Row) -> Result<bool, DataflowError> {
        Ok(self.spec.stored_filter.hold(stored.datums())?)
    }

    /// The joined row of a keyed side's `key` and `value` with an admitted `stored` row, if the
    /// residual holds.
    fn matched(&mut self, key: &Key, value: &Row, stored: &Row) -> Option<Result<Row, DataflowError>> {
        let spec = &self.spec;
        self.scratch.clear();
        let stored_datums = spec.stored_columns.iter().map(|&c| stored.get(c).cloned().unwrap_or(Datum::Null));
        match spec.stored_side {
            StoredSide::Left => {
                self.scratch.extend(stored_datums);
                spec.keyed_thinning.rebuild_into(key, value, &mut self.scratch);
            }
            StoredSide::Right => {
                spec.keyed_thinning.rebuild_into(key, value, &mut self.scratch);
                self.scratch.extend(stored_datums);
            }
        }
        finish_match(&mut self.scratch, &spec.residual, spec.then.as_ref())
    }
}

struct IndexTactic {
    matcher: Rc<RefCell<Matcher>>,
}

impl<B0, B1> JoinTactic<Timestamp, B0, B1, Output> for IndexTactic
where
    B0: Navigable + 'static,
    B1: Navigable + 'static,
    B0::Cursor: for<'a> Cursor<Key<'a> = &'a Key, Val<'a> = &'a Row, Time = Timestamp, Diff = Diff> + 'static,
    B1::Cursor: for<'a> Cursor<Key<'a> = &'a Row, Time = Timestamp, Diff = Diff> + 'static,
{
    fn prep(
        &mut self,
        keyed: Vec<B0>,
        stored: Vec<B1>,
        _fresh: Fresh,
        _meet: Timestamp,
    ) -> Box<dyn Iterator<Item = Output>> {
        // Either side may be the fresh one: a match is at the later of its times either way, which
        // is never before the fresh batch's capability.
        let (keyed_cursor, keyed_storage) = cursor_list(keyed);
        let (stored_cursor, stored_storage) = cursor_list(stored);
        Box::new(IndexWork {
            keyed_cursor,
            keyed_storage,
            stored_cursor,
            stored_storage,
            matcher: Rc::clone(&self.matcher),
            builder: ConsolidatingContainerBuilder::default(),
            ready: VecDeque::new(),
            done: false,
        })
    }
}

/// One unit of deferred join work: the matches of a list of keyed batches with a list of stored
/// batches, yielded a container at a time.
struct IndexWork<C0: Cursor, C1: Cursor> {
    keyed_cursor: CursorList<C0>,
    keyed_storage: Vec<C0::Storage>,
    stored_cursor: CursorList<C1>,
    stored_storage: Vec<C1::Storage>,
    matcher: Rc<RefCell<Matcher>>,
    builder: ConsolidatingContainerBuilder<Output>,
    ready: VecDeque<Output>,
    done: bool,
}

impl<C0, C1> Iterator for IndexWork<C0, C1>
where
    C0: for<'a> Cursor<Key<'a> = &'a Key, Val<'a> = &'a Row, Time = Timestamp, Diff = Diff>,
    C1: for<'a> Cursor<Key<'a> = &'a Row, Time = Timestamp, Diff = Diff>,
{
    type Item = Output;

    fn next(&mut self) -> Option<Output> {
        if let Some(container) = self.ready.pop_front() {
            return Some(container);
        }
        if self.done {
            return None;
        }
        let mut matcher = self.matcher.borrow_mut();
        let mut walk = Walk {
            keyed: (&mut self.keyed_cursor, &self.keyed_storage),
            stored: (&mut self.stored_cursor, &self.stored_storage),
            values: Vec::new(),
            value_times: Vec::new(),
            times: Vec::new(),
            probe: Row::with_capacity(1),
        };
        while self.ready.is_empty() {
            if !walk.next_key(&mut matcher, &mut self.builder) {
                self.done = true;
                while let Some(container) = self.builder.finish() {
                    self.ready.push_back(std::mem::take(container));
                }
                break;
            }
            while let Some(container) = self.builder.extract() {
                self.ready.push_back(std::mem::take(container));
            }
        }
        self.ready.pop_front()
    }
}

/// The two cursors of a unit of work, and buffers for one key's updates.
struct Walk<'w, C0: Cursor, C1: Cursor> {
    keyed: (&'w mut CursorList<C0>, &'w Vec<C0::Storage>),
    stored: (&'w mut CursorList<C1>, &'w Vec<C1::Storage>),
    /// The keyed side's values at the current key, each with its range of `value_times`.
    values: Vec<(&'w Row, Range<usize>)>,
    value_times: Vec<(Timestamp, Diff)>,
    /// The times of the current stored row.
    times: Vec<(Timestamp, Diff)>,
    /// The one-datum row that a seek of the stored side looks for, reused.
    probe: Row,
}

impl<'w, C0, C1> Walk<'w, C0, C1>
where
    C0: for<'a> Cursor<Key<'a> = &'a Key, Val<'a> = &'a Row, Time = Timestamp, Diff = Diff>,
    C1: for<'a> Cursor<Key<'a> = &'a Row, Time = Timestamp, Diff = Diff>,
{
    /// Moves both cursors to the next key they share and matches it; false once either is out.
    fn next_key(&mut self, matcher: &mut Matcher, out: &mut ConsolidatingContainerBuilder<Output>) -> bool {
        let (keyed, keyed_storage) = (&mut *self.keyed.0, self.keyed.1);
        let (stored, stored_storage) = (&mut *self.stored.0, self.stored.1);
        loop {
            let (Some(key), Some(row)) = (keyed.get_key(keyed_storage), stored.get_key(stored_storage)) else {
                return false;
            };
            let Key::Int(wanted) = *key else {
                keyed.step_key(keyed_storage);
                continue;
            };
            // A NULL first datum never matches.
            let Some(Datum::Int64(have)) = row.get(0) else {
                stored.step_key(stored_storage);
                continue;
            };
            match wanted.cmp(have) {
                std::cmp::Ordering::Less => keyed.seek_key(keyed_storage, &Key::Int(*have)),
                std::cmp::Ordering::Greater => {
                    self.probe.clear();
                    self.probe.push(Datum::Int64(wanted));
                    stored.seek_key(stored_storage, &self.probe);
                }
                std::cmp::Ordering::Equal => {
                    self.match_key(key, wanted, matcher, out);
                    return true;
                }
            }
        }
    }

    /// Matches every value of the keyed side's current key with the run of stored rows whose first
    /// datum is `wanted`, and steps the keyed side past the key. Each stored row's filter runs
    /// once, and each admitted pair is joined once, whatever number of times either side has.
    fn match_key(
        &mut self,
        key: &Key,
        wanted: i64,
        matcher: &mut Matcher,
        out: &mut ConsolidatingContainerBuilder<Output>,
    ) {
        let (keyed, keyed_storage) = (&mut *self.keyed.0, self.keyed.1);
        let (stored, stored_storage) = (&mut *self.stored.0, self.stored.1);
        self.values.clear();
        self.value_times.clear();
        while let Some(value) = keyed.get_val(keyed_storage) {
            let start = self.value_times.len();
            let times = &mut self.value_times;
            keyed.map_times(keyed_storage, |time, diff| times.push((C0::owned_time(time), C0::owned_diff(diff))));
            self.values.push((value, start..times.len()));
            keyed.step_val(keyed_storage);
        }
        keyed.step_key(keyed_storage);
        while let Some(row) = stored.get_key(stored_storage) {
            if row.get(0) != Some(&Datum::Int64(wanted)) {
                break;
            }
            let admitted = matcher.admits(row);
            if matches!(admitted, Ok(false)) {
                stored.step_key(stored_storage);
                continue;
            }
            self.times.clear();
            // Stored rows are keys with a unit value.
            while stored.get_val(stored_storage).is_some() {
                let times = &mut self.times;
                stored.map_times(stored_storage, |time, diff| times.push((C1::owned_time(time), C1::owned_diff(diff))));
                stored.step_val(stored_storage);
            }
            for (value, range) in &self.values {
                let joined = match &admitted {
                    Ok(_) => matcher.matched(key, value, row),
                    Err(error) => Some(Err(error.clone())),
                };
                let Some(joined) = joined else { continue };
                // One update per pair of times, at the later one; the last takes the row itself.
                let mut updates = self.value_times[range.clone()].iter().flat_map(|(value_time, value_diff)| {
                    self.times.iter().map(move |(time, diff)| ((*time).max(*value_time), diff * value_diff))
                });
                let Some(mut update) = updates.next() else { continue };
                for next in updates {
                    out.push_into((joined.clone(), update.0, update.1));
                    update = next;
                }
                out.push_into((joined, update.0, update.1));
            }
            stored.step_key(stored_storage);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    const VALUES: [i64; 10] = [i64::MIN, -65_536, -300, -1, 0, 1, 255, 256, 65_536, i64::MAX];

    fn stored(value: i64) -> Row {
        Row::new(vec![Datum::Int64(value), Datum::Text("rest".into())])
    }

    #[test]
    fn stored_rows_sort_by_their_first_bigint_as_keys_do() {
        for a in VALUES {
            for b in VALUES {
                assert_eq!(Key::Int(a).cmp(&Key::Int(b)), a.cmp(&b));
                assert_eq!(stored(a).cmp(&stored(b)), a.cmp(&b));
                // The seek probe sorts just before its run.
                let probe = Row::new(vec![Datum::Int64(b)]);
                let expected = if a == b { Ordering::Greater } else { a.cmp(&b) };
                assert_eq!(stored(a).cmp(&probe), expected, "{a} against the probe of {b}");
            }
        }
    }

    #[test]
    fn keys_go_to_the_worker_that_holds_their_rows() {
        for value in VALUES {
            assert_eq!(route(&Key::Int(value)), crate::peek::leading_hash(&stored(value)));
        }
    }
}
