//! Subscriptions (`SUBSCRIBE`): each worker runs a transient dataflow whose sink operator sends its
//! part of the updates and its input frontier to the subscriber; [`SubscribeMerge`] turns the
//! workers' messages into batches that are complete (every worker's frontier passed them),
//! ordered by time and consolidated.
//!
//! This module owns the sink operator, the message between workers and subscriber, and the merge;
//! it must not choose the time a subscription starts at (the coordinator does) nor encode rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::consolidation::consolidate_updates;
use freshet_repr::{DataflowError, Diff, GlobalId, Row, Timestamp};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map as _;
use timely::dataflow::operators::Concat as _;

use crate::render::Rendered;

/// What one worker's sink reports: updates (times already advanced to the subscription's start),
/// failures that appeared, and its input frontier (`None`: nothing more will ever come).
#[derive(Debug)]
pub struct WorkerBatch {
    pub worker: usize,
    pub updates: Vec<(Row, Timestamp, Diff)>,
    pub errors: Vec<SubscribeError>,
    pub upper: Option<Timestamp>,
}

/// Why a subscription ends before its inputs are complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// An error in the subscribed relation's error collection.
    Data(DataflowError),
    /// A collection the subscription reads was dropped.
    InputDropped(GlobalId),
    /// The cluster shut down.
    ClusterGone,
}

/// Where a worker's sink sends its batches.
pub type SubscribeSender = tokio::sync::mpsc::UnboundedSender<WorkerBatch>;

/// The subscribers waiting for batches, by subscription id.
pub type SubscriberBoard = Arc<Mutex<HashMap<u64, SubscribeSender>>>;

/// Sends every update of `rendered` (at `as_of` or later) and every frontier change to `sender`.
pub(crate) fn render_sink(rendered: Rendered<'_>, as_of: Timestamp, worker: usize, sender: SubscribeSender) {
    let ok = rendered.ok.inner.map(|(row, time, diff)| (Ok(row), time, diff));
    let err = rendered.err.inner.map(|(error, time, diff)| (Err(error), time, diff));
    let mut reported: Option<Option<Timestamp>> = None;
    ok.concat(err).sink(Pipeline, "Subscribe", move |(input, frontier)| {
        let mut batch = WorkerBatch { worker, updates: Vec::new(), errors: Vec::new(), upper: None };
        input.for_each(|_, data: &mut Vec<(Result<Row, DataflowError>, Timestamp, Diff)>| {
            for (update, time, diff) in data.drain(..) {
                match update {
                    Ok(row) => batch.updates.push((row, time.max(as_of), diff)),
                    // A retracted error leaves nothing to report; a present one ends the subscription.
                    Err(error) if diff > 0 => batch.errors.push(SubscribeError::Data(error)),
                    Err(_) => {}
                }
            }
        });
        batch.upper = frontier.frontier().first().copied();
        if batch.updates.is_empty() && batch.errors.is_empty() && reported == Some(batch.upper) {
            return;
        }
        reported = Some(batch.upper);
        // A closed channel means the subscriber left; the worker drops this dataflow soon.
        let _ = sender.send(batch);
    });
}

/// Combines the workers' batches into complete, time-ordered, consolidated updates.
#[derive(Debug)]
pub struct SubscribeMerge {
    /// Per worker, the frontier it last reported (`Some(None)`: done); `None` before its first.
    uppers: Vec<Option<Option<Timestamp>>>,
    pending: Vec<(Row, Timestamp, Diff)>,
}

impl SubscribeMerge {
    pub fn new(workers: usize) -> SubscribeMerge {
        SubscribeMerge { uppers: vec![None; workers], pending: Vec::new() }
    }

    /// Takes one worker's batch and returns the updates that every worker has now passed, ordered
    /// by time and consolidated (possibly none); an error any worker found ends the subscription.
    pub fn absorb(&mut self, batch: WorkerBatch) -> Result<Vec<(Row, Timestamp, Diff)>, SubscribeError> {
        if let Some(error) = batch.errors.into_iter().next() {
            return Err(error);
        }
        if let Some(slot) = self.uppers.get_mut(batch.worker) {
            *slot = Some(batch.upper);
        }
        self.pending.extend(batch.updates);
        let Some(upper) = self.upper() else { return Ok(Vec::new()) };
        let (mut ready, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|(_, time, _)| upper.is_none_or(|u| *time < u));
        self.pending = later;
        consolidate_updates(&mut ready);
        ready.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(ready)
    }

    /// The least frontier over the workers (`Some(None)`: all done), once every worker reported:
    /// every update still to come has a time at or after it.
    pub fn upper(&self) -> Option<Option<Timestamp>> {
        let mut least: Option<Timestamp> = None;
        for upper in &self.uppers {
            match upper {
                None => return None,
                Some(Some(t)) => least = Some(least.map_or(*t, |l| l.min(*t))),
                Some(None) => {}
            }
        }
        Some(least)
    }

    /// Whether every worker is done and every update was handed out.
    pub fn is_done(&self) -> bool {
        self.upper() == Some(None) && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use freshet_repr::Datum;

    use super::*;

    fn row(n: i64) -> Row {
        Row::new(vec![Datum::Int64(n)])
    }

    fn batch(worker: usize, updates: Vec<(Row, Timestamp, Diff)>, upper: Option<Timestamp>) -> WorkerBatch {
        WorkerBatch { worker, updates, errors: Vec::new(), upper }
    }

    #[test]
    fn updates_wait_until_every_worker_passed_their_time() {
        let mut merge = SubscribeMerge::new(2);
        assert_eq!(merge.absorb(batch(0, vec![(row(1), 5, 1)], Some(10))).unwrap(), vec![]);
        assert_eq!(
            merge.absorb(batch(1, vec![(row(2), 7, 1), (row(3), 12, 1)], Some(8))).unwrap(),
            vec![(row(1), 5, 1), (row(2), 7, 1)]
        );
        assert_eq!(merge.absorb(batch(1, vec![], Some(20))).unwrap(), vec![]);
        assert_eq!(merge.absorb(batch(0, vec![], None)).unwrap(), vec![(row(3), 12, 1)]);
        assert!(!merge.is_done());
        assert_eq!(merge.absorb(batch(1, vec![], None)).unwrap(), vec![]);
        assert!(merge.is_done());
    }

    #[test]
    fn ready_updates_are_ordered_by_time_and_consolidated() {
        let mut merge = SubscribeMerge::new(1);
        let updates = vec![(row(2), 9, 1), (row(1), 9, 1), (row(1), 3, 1), (row(2), 9, -1), (row(4), 3, 2)];
        assert_eq!(
            merge.absorb(batch(0, updates, Some(10))).unwrap(),
            vec![(row(1), 3, 1), (row(4), 3, 2), (row(1), 9, 1)]
        );
    }

    #[test]
    fn an_error_from_any_worker_ends_the_subscription() {
        let mut merge = SubscribeMerge::new(2);
        let error = DataflowError::from(freshet_repr::EvalError::DivisionByZero);
        let failed = WorkerBatch {
            worker: 1,
            updates: vec![],
            errors: vec![SubscribeError::Data(error.clone())],
            upper: Some(3),
        };
        assert_eq!(merge.absorb(failed), Err(SubscribeError::Data(error)));
    }
}
