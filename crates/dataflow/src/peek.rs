//! Reading arranged collections at a timestamp (peeks), on a worker and merged across workers.
//!
//! A worker answers a peek once both the ok and the error trace of the collection have an upper
//! frontier beyond the peek time: it accumulates each row's updates at times `<= ts` from its own
//! part of the arrangement. Any error at `ts` wins over the rows. A peek at a time the traces have
//! already compacted past is refused, never answered with wrong data. This module must not build
//! dataflows or decide when peeks are issued.

use std::cell::Cell;
use std::rc::Rc;

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::cursor_list;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::trace::{Cursor, TraceReader};
use differential_dataflow::Hashable;
use freshet_expr::{MapFilterProject, RowPipeline};
use freshet_repr::{DataflowError, Datum, Diff, EvalError, Row, Timestamp};
use timely::dataflow::ProbeHandle;
use timely::progress::frontier::AntichainRef;

use crate::cluster::PeekResult;
use crate::render::{ErrTrace, OkTrace};

/// A batch of a keyed trace, as its spans hold it.
type KeyBatch<K> = <KeySpine<K, Timestamp, Diff> as TraceReader>::Batch;

/// The two arrangements every collection keeps, with what the worker asks of them every step
/// kept cheap: probes on the arrangements' outputs say how far they are complete (a trace's own
/// upper walks every batch it holds), and a flag says whether an error batch has been seen.
pub struct CollectionTraces {
    pub ok: OkTrace,
    pub err: ErrTrace,
    probes: [ProbeHandle<Timestamp>; 2],
    errors_seen: Rc<Cell<bool>>,
}

impl CollectionTraces {
    /// `probes` must follow the arrangements' outputs, and `errors_seen` must be set by every
    /// error batch with updates before the error probe passes it.
    pub fn new(ok: OkTrace, err: ErrTrace, probes: [ProbeHandle<Timestamp>; 2], errors_seen: Rc<Cell<bool>>) -> Self {
        CollectionTraces { ok, err, probes, errors_seen }
    }

    /// The least time not yet complete in both arrangements; `None` when both are complete forever.
    /// The probes trail the traces' own uppers by at most a step, never lead them.
    pub fn upper(&self) -> Option<Timestamp> {
        self.probes.iter().filter_map(|probe| probe.with_frontier(|f| f.first().copied())).min()
    }

    /// The earliest time the traces can still be read at.
    pub fn since(&mut self) -> Timestamp {
        let ok = self.ok.get_logical_compaction().first().copied().unwrap_or(Timestamp::MAX);
        let err = self.err.get_logical_compaction().first().copied().unwrap_or(Timestamp::MAX);
        ok.max(err)
    }

    /// Lets both traces forget the distinction between times before `since`. Their batches are
    /// merged that way only up to their upper: a join that reads a trace from another dataflow
    /// (`render::join::index`) requires its physical compaction not to be past its upper, which
    /// a view's `since` is when the view is created.
    pub fn compact_to(&mut self, since: Timestamp) {
        let logical = [since];
        let physical = [self.upper().map_or(since, |upper| upper.min(since))];
        let (logical, physical) = (AntichainRef::new(&logical), AntichainRef::new(&physical));
        self.ok.set_logical_compaction(logical);
        self.ok.set_physical_compaction(physical);
        self.err.set_logical_compaction(logical);
        self.err.set_physical_compaction(physical);
    }

    /// Whether the error collection is known to be empty through `upper()`. Once an error batch
    /// with updates was seen this says no until `recheck_errors` finds the trace empty again.
    pub fn errors_empty(&self) -> bool {
        !self.errors_seen.get()
    }

    /// Clears the seen-errors flag when the error trace holds no update at all (a net-zero pair
    /// counts as an update). Reads every span, whatever the compaction frontiers:
    /// `batches_through` asserts that the physical frontier is not past the upper, which a
    /// collection created at a later `as_of` breaks.
    pub fn recheck_errors(&mut self) {
        if self.errors_seen.get() {
            let mut empty = true;
            self.err.map_spans(|span| empty &= !span.has_updates());
            self.errors_seen.set(!empty);
        }
    }

    /// This worker's answer to a peek at `ts` through `mfp`, or `None` while `ts` is not yet
    /// complete. With `leading`, only rows whose first column equals it are read (the caller's
    /// filter says so anyway).
    pub fn try_peek(&mut self, ts: Timestamp, leading: Option<&Datum>, mfp: &MapFilterProject) -> Option<PeekResult> {
        if self.upper().is_some_and(|upper| upper <= ts) {
            return None;
        }
        let since = self.since();
        if since > ts {
            let message = format!("timestamp {ts} is no longer readable: the collection is compacted to {since}");
            return Some(Err(EvalError::Internal(message).into()));
        }
        let errors = read_at(&mut self.err, ts);
        if let Some((first, _)) = errors.into_iter().next() {
            return Some(Err(first));
        }
        Some(read_through(&mut self.ok, ts, leading, mfp))
    }
}

/// What distributes a row among workers in every collection's arrangement: its first datum.
pub fn leading_hash(row: &Row) -> u64 {
    row.get(0).map_or(0, Hashable::hashed)
}

/// The worker whose part of each arrangement holds every row whose first datum is `value`
/// (timely's exchange sends hash `h` to worker `h % peers`).
pub fn worker_for(value: &Datum, peers: usize) -> usize {
    let peers = peers.max(1) as u64;
    usize::try_from(value.hashed() % peers).unwrap_or(0)
}

/// The rows of `trace` at `ts` through `mfp`, each evaluated on the arranged row in place. With
/// `leading`, a seek and then a scan of that run only: rows sort by their first datum first, and
/// a one-datum row sorts before its extensions.
fn read_through(trace: &mut OkTrace, ts: Timestamp, leading: Option<&Datum>, mfp: &MapFilterProject) -> PeekResult {
    let (mut cursor, storage) = cursor_list(every_batch(trace));
    if let Some(value) = leading {
        cursor.seek_key(&storage, &Row::new(vec![value.clone()]));
    }
    let mut out = PeekOutput { mfp, pipeline: None, rows: Vec::new() };
    while let Some(key) = cursor.get_key(&storage) {
        if leading.is_some_and(|value| key.get(0) != Some(value)) {
            break;
        }
        let total = accumulate_at(&mut cursor, &storage, ts);
        if total != 0 {
            out.push(key, total)?;
        }
        cursor.step_key(&storage);
    }
    Ok(out.rows)
}

/// A worker's peek results: its rows through the peek's pipeline (compiled for the first row's
/// arity). A result equal to the one before it adds to that one's multiplicity, so a projection
/// to no columns (what `count(*)` reads) or to a leading prefix of the rows answers with one row
/// per run instead of one per arranged row.
struct PeekOutput<'a> {
    mfp: &'a MapFilterProject,
    pipeline: Option<RowPipeline>,
    rows: Vec<(Row, Diff)>,
}

impl PeekOutput<'_> {
    fn push(&mut self, row: &Row, diff: Diff) -> Result<(), DataflowError> {
        let pipeline = self.pipeline.get_or_insert_with(|| self.mfp.compile(row.len()));
        // No steps, or `SELECT *`'s projection of every column: arranged rows are distinct, so a
        // copy needs no comparison with the one before.
        if pipeline.is_identity() {
            self.rows.push((row.clone(), diff));
            return Ok(());
        }
        let Some(result) = pipeline.apply(row.datums())? else { return Ok(()) };
        match self.rows.last_mut() {
            Some((last, total)) if *last == result => *total += diff,
            _ => self.rows.push((result, diff)),
        }
        Ok(())
    }
}

/// Every key of `trace` with its multiplicity accumulated over times `<= ts`, in key order.
fn read_at<K>(trace: &mut TraceAgent<KeySpine<K, Timestamp, Diff>>, ts: Timestamp) -> Vec<(K, Diff)>
where
    K: differential_dataflow::ExchangeData + Ord + Clone + 'static,
{
    let (mut cursor, storage) = cursor_list(every_batch(trace));
    let mut out = Vec::new();
    while let Some(key) = cursor.get_key(&storage) {
        let total = accumulate_at(&mut cursor, &storage, ts);
        if total != 0 {
            out.push((key.clone(), total));
        }
        cursor.step_key(&storage);
    }
    out
}

/// Every batch `trace` holds, through its upper, in one walk over its spans (reading the upper
/// first and asking for the batches through it walked them twice more, cloning frontiers).
fn every_batch<K>(trace: &TraceAgent<KeySpine<K, Timestamp, Diff>>) -> Vec<KeyBatch<K>>
where
    K: differential_dataflow::ExchangeData + Ord + Clone + 'static,
{
    let mut batches = Vec::new();
    trace.map_spans(|span| batches.extend(span.inner.clone()));
    batches
}

/// The multiplicity of the cursor's current key over times `<= ts`.
fn accumulate_at<C>(cursor: &mut C, storage: &C::Storage, ts: Timestamp) -> Diff
where
    C: Cursor<Time = Timestamp, Diff = Diff>,
{
    let mut total: Diff = 0;
    while cursor.val_valid(storage) {
        cursor.map_times(storage, |time, diff| {
            if C::owned_time(time) <= ts {
                total += C::owned_diff(diff);
            }
        });
        cursor.step_val(storage);
    }
    total
}

/// Merges the answers of all workers: the least error if any, else the consolidated rows.
pub fn merge(answers: Vec<PeekResult>) -> PeekResult {
    let mut rows: Vec<(Row, Diff)> = Vec::new();
    let mut error: Option<DataflowError> = None;
    for answer in answers {
        match answer {
            Ok(part) => rows.extend(part),
            Err(e) => error = Some(error.map_or(e.clone(), |current| current.min(e))),
        }
    }
    if let Some(error) = error {
        return Err(error);
    }
    rows.sort();
    let mut merged: Vec<(Row, Diff)> = Vec::with_capacity(rows.len());
    for (row, diff) in rows {
        match merged.last_mut() {
            Some((last, total)) if *last == row => *total += diff,
            _ => merged.push((row, diff)),
        }
    }
    merged.retain(|(_, diff)| *diff != 0);
    Ok(merged)
}
