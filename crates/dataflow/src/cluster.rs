//! The coordinator-facing handle of the timely cluster.
//!
//! `Cluster::start` runs `timely::execute` with `workers` threads from its own std thread. The
//! handle keeps one command channel per worker and sends every command to every worker under one
//! lock, so all workers see all commands in the same order. After sending, it unparks the worker
//! threads so that idle workers (parked with a bounded timeout) react at once. Peeks are answered
//! by every worker through a per-peek channel and merged here; subscriptions likewise, batch by batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use freshet_expr::{MapFilterProject, RelationExpr};
use freshet_repr::{DataflowError, Datum, Diff, EvalError, GlobalId, RelationDesc, Row, Timestamp};
use freshet_storage::SourceDesc;

use crate::command::Command;
use crate::subscribe::{SubscribeError, SubscribeMerge, WorkerBatch};
use crate::worker::{Shared, StateCell};

/// How long `start` waits for the workers to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Merge work an idle arrangement does per scheduling, in updates (Materialize's default).
const IDLE_MERGE_EFFORT: isize = 1000;

/// How to start the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// The runtime that source readers (async AWS SDK calls) run on.
    pub runtime: tokio::runtime::Handle,
    /// Where sources keep their ingestion logs (`<data_dir>/sources/`); `None`: sources are not
    /// persisted and re-read their streams from the start.
    pub data_dir: Option<std::path::PathBuf>,
    /// Source log segments roll (and closed ones are compacted) after this many bytes.
    pub log_segment_bytes: u64,
    /// Run on every worker once all workers have dropped a collection, to let the allocator take
    /// back at once what other threads freed into this thread's memory (mimalloc otherwise does
    /// that during the thread's next allocations: in the next dataflow a worker builds).
    pub collect_freed: Option<fn()>,
}

/// The rows of a collection at one timestamp, or the first error the collection holds then.
pub type PeekResult = Result<Vec<(Row, Diff)>, DataflowError>;

/// A running cluster. Every method sends one command to every worker, in the same order, so that
/// workers build identical dataflows.
pub struct Cluster {
    /// One sender per worker; the lock also orders commands across callers.
    senders: Mutex<Vec<mpsc::Sender<Command>>>,
    threads: Vec<Thread>,
    shared: Arc<Shared>,
    next_peek: AtomicU64,
    timely: Option<JoinHandle<()>>,
    /// Whether the workers have a `collect_freed` hook to run after drops.
    collect_freed: bool,
    /// Each worker's state, for point reads answered while the worker waits.
    cells: Vec<Arc<StateCell>>,
}

impl Cluster {
    pub fn start(config: ClusterConfig) -> Result<Cluster, String> {
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared::default());
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::channel::<Command>()).unzip();
        let receivers = Arc::new(Mutex::new(receivers.into_iter().map(Some).collect::<Vec<_>>()));
        let (thread_tx, thread_rx) = mpsc::channel::<(usize, Thread)>();
        let thread_tx = Mutex::new(thread_tx);
        let worker_shared = Arc::clone(&shared);
        let runtime = config.runtime.clone();
        let data_dir = config.data_dir.clone();
        let log_segment_bytes = config.log_segment_bytes;
        let collect_freed = config.collect_freed;
        let cells: Vec<Arc<StateCell>> = (0..workers).map(|_| Arc::new(StateCell::default())).collect();
        let worker_cells = cells.clone();
        let (started_tx, started_rx) = mpsc::channel::<Result<(), String>>();
        let timely = std::thread::Builder::new()
            .name("freshet-timely".into())
            .spawn(move || {
                let guards = timely::execute(timely_config(workers), move |worker| {
                    let index = worker.index();
                    let receiver = receivers.lock().ok().and_then(|mut r| r.get_mut(index).and_then(Option::take));
                    if let Ok(tx) = thread_tx.lock() {
                        let _ = tx.send((index, std::thread::current()));
                    }
                    if let Some(receiver) = receiver {
                        let _exit_on_panic = ExitOnPanic;
                        let context = crate::worker::WorkerContext {
                            shared: Arc::clone(&worker_shared),
                            runtime: runtime.clone(),
                            data_dir: data_dir.clone(),
                            log_segment_bytes,
                            collect_freed,
                            cell: Arc::clone(&worker_cells[index % worker_cells.len()]),
                        };
                        crate::worker::run(worker, receiver, context);
                    }
                });
                match guards {
                    Ok(guards) => {
                        let _ = started_tx.send(Ok(()));
                        drop(guards.join());
                    }
                    Err(error) => {
                        let _ = started_tx.send(Err(error));
                    }
                }
            })
            .map_err(|e| format!("cannot start the timely thread: {e}"))?;
        started_rx.recv_timeout(START_TIMEOUT).map_err(|e| format!("timely did not start: {e}"))??;
        let mut threads: Vec<Option<Thread>> = vec![None; workers];
        for _ in 0..workers {
            let (index, thread) =
                thread_rx.recv_timeout(START_TIMEOUT).map_err(|e| format!("a timely worker did not start: {e}"))?;
            if let Some(slot) = threads.get_mut(index) {
                *slot = Some(thread);
            }
        }
        Ok(Cluster {
            senders: Mutex::new(senders),
            threads: threads.into_iter().flatten().collect(),
            shared,
            next_peek: AtomicU64::new(0),
            timely: Some(timely),
            collect_freed: collect_freed.is_some(),
            cells,
        })
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    fn send_to(&self, worker: usize, command: Command) {
        if let Ok(senders) = self.senders.lock() {
            if let Some(sender) = senders.get(worker) {
                let _ = sender.send(command);
            }
        }
        if let Some(thread) = self.threads.get(worker) {
            thread.unpark();
        }
    }

    fn send(&self, command: Command) {
        if let Ok(senders) = self.senders.lock() {
            for sender in senders.iter() {
                // A worker that is gone has shut down; its absence shows in peeks.
                let _ = sender.send(command.clone());
            }
        }
        for thread in &self.threads {
            thread.unpark();
        }
    }

    /// Creates an empty table collection, readable from time `as_of`.
    pub fn create_table(&self, id: GlobalId, desc: &RelationDesc, as_of: Timestamp) {
        let _ = desc;
        self.send(Command::CreateTable { id, as_of });
    }

    /// Adds `updates` to table `id` at time `ts`. `ts` must not be behind the table's frontier.
    pub fn update_table(&self, id: GlobalId, updates: Vec<(Row, Diff)>, ts: Timestamp) {
        // Worker 0 introduces every update (the arrangement spreads them): a copy per worker
        // cloned a restart's million rows only for the others to drop them.
        self.send_to(0, Command::UpdateTable { id, updates, ts });
    }

    /// Promises that no table receives updates before `ts`.
    pub fn advance_tables(&self, ts: Timestamp) {
        self.send(Command::AdvanceTables { ts });
    }

    /// Starts source `id` and its progress collection `progress_id`. With a data directory, the
    /// source first replays its log `<data_dir>/sources/<id>-w<worker>-<n>.seg` at the original
    /// timestamps and resumes its shards after the committed records; dropping it deletes the log.
    pub fn create_source(
        &self,
        id: GlobalId,
        progress_id: GlobalId,
        name: &str,
        source: &SourceDesc,
        desc: &RelationDesc,
    ) {
        let _ = desc;
        self.send(Command::CreateSource { id, progress_id, name: name.to_string(), source: source.clone() });
    }

    /// Renders `expr` into a maintained, arranged collection `id` (a materialized view). If an input
    /// is already compacted past `as_of`, the view starts at the input's `since` instead.
    pub fn create_view(&self, id: GlobalId, expr: &RelationExpr, as_of: Timestamp) {
        self.send(Command::CreateView { id, expr: expr.clone(), as_of });
    }

    /// Drops collection `id` (table, source, progress collection or materialized view) and waits
    /// until every worker has freed it, so that the work of freeing a large view is the DROP's and
    /// not that of whatever statement comes next.
    pub async fn drop_collection(&self, id: GlobalId) {
        let ack = self.register_peek();
        self.send(Command::DropCollection { id, ack_id: ack.id });
        // An error here means the cluster shut down, which drops everything anyway.
        let _ = ack.collect(self.workers()).await;
        if self.collect_freed {
            let ack = self.register_peek();
            self.send(Command::CollectFreed { ack_id: ack.id });
            let _ = ack.collect(self.workers()).await;
        }
    }

    /// Lets collection `id` forget history before `since` (workers also compact on their own to
    /// about one second behind the collection's upper frontier).
    pub fn allow_compaction(&self, id: GlobalId, since: Timestamp) {
        self.send(Command::AllowCompaction { id, since });
    }

    /// The least time at which `id` is not yet complete on every worker (`Timestamp::MAX` once it
    /// is complete forever), or `None` if some worker has not reported the collection yet.
    pub fn upper(&self, id: GlobalId) -> Option<Timestamp> {
        let frontiers = self.shared.frontiers.lock().ok()?;
        let per_worker = frontiers.get(&id)?;
        per_worker
            .iter()
            .map(|f| f.map(|f| f.upper.unwrap_or(Timestamp::MAX)))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min()
    }

    /// The earliest time `id` can be read at, once every worker has reported it.
    pub fn since(&self, id: GlobalId) -> Option<Timestamp> {
        let frontiers = self.shared.frontiers.lock().ok()?;
        let per_worker = frontiers.get(&id)?;
        per_worker.iter().map(|f| f.map(|f| f.since)).collect::<Option<Vec<_>>>()?.into_iter().max()
    }

    /// The health of source `id`: the worst any worker reports, `None` before any worker built it.
    pub fn source_status(&self, id: GlobalId) -> Option<crate::status::SourceStatus> {
        crate::status::merged_status(&self.shared.source_status, id)
    }

    /// Reads collection `id` as of `ts`, once its frontier has passed `ts`.
    pub async fn peek(&self, id: GlobalId, ts: Timestamp) -> PeekResult {
        self.peek_with(id, ts, MapFilterProject::default()).await
    }

    /// Reads collection `id` as of `ts` through `mfp`, evaluated by the workers on their parts of
    /// the arrangement: no dataflow is built.
    pub async fn peek_with(&self, id: GlobalId, ts: Timestamp, mfp: MapFilterProject) -> PeekResult {
        let point = mfp
            .leading_column_literal()
            .and_then(|value| self.point_reader(id, ts, &value).map(|worker| (worker, value)));
        if let Some((worker, value)) = &point {
            // Answered here, on this thread, while the worker waits for work (`worker::cell`).
            let cell = self.cells.get(*worker);
            if let Some(answer) = cell.and_then(|cell| cell.point_read(id, ts, &mfp, value)) {
                // Sorted and consolidated as `collect` does with a worker's answer.
                return crate::peek::merge(vec![answer]);
            }
        }
        let peek = self.register_peek();
        let command = Command::Peek { peek_id: peek.id, id, ts, mfp };
        match point {
            Some((worker, _)) => {
                self.send_to(worker, command);
                peek.collect(1).await
            }
            None => {
                self.send(command);
                peek.collect(self.workers()).await
            }
        }
    }

    /// The one worker to ask for the rows of `id` whose first column is `value` at `ts`: the one
    /// holding them, provided every other worker reported its part of `id`'s errors empty through
    /// `ts` (otherwise all are asked, and any error fails the read).
    fn point_reader(&self, id: GlobalId, ts: Timestamp, value: &Datum) -> Option<usize> {
        let owner = crate::peek::worker_for(value, self.workers());
        let frontiers = self.shared.frontiers.lock().ok()?;
        let per_worker = frontiers.get(&id)?;
        let others_error_free = per_worker
            .iter()
            .enumerate()
            .filter(|(worker, _)| *worker != owner)
            .all(|(_, f)| f.is_some_and(|f| f.error_free && f.upper.is_none_or(|upper| upper > ts)));
        others_error_free.then_some(owner)
    }

    /// Evaluates `expr` as of `ts` in a short-lived dataflow.
    pub async fn peek_expr(&self, expr: &RelationExpr, ts: Timestamp) -> PeekResult {
        let peek = self.register_peek();
        self.send(Command::PeekExpr { peek_id: peek.id, expr: expr.clone(), ts });
        peek.collect(self.workers()).await
    }

    /// Starts a subscription to `expr`: its rows as of `as_of` (at `as_of`), then every change.
    pub fn subscribe(&self, expr: &RelationExpr, as_of: Timestamp) -> Subscription {
        let id = self.next_peek.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subscribers) = self.shared.subscribers.lock() {
            subscribers.insert(id, tx);
        }
        self.send(Command::Subscribe { subscribe_id: id, expr: expr.clone(), as_of });
        Subscription {
            id,
            rx,
            merge: SubscribeMerge::new(self.workers()),
            reported: None,
            shared: Arc::clone(&self.shared),
        }
    }

    fn register_peek(&self) -> PendingPeek {
        let id = self.next_peek.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut responders) = self.shared.responders.lock() {
            responders.insert(id, tx);
        }
        PendingPeek { id, rx, shared: Arc::clone(&self.shared) }
    }

    /// Stops the workers after they finish their current step.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(timely) = self.timely.take() else { return };
        self.send(Command::Shutdown);
        if timely.join().is_err() {
            tracing::error!("a timely worker panicked");
        }
    }
}

/// A worker that panics leaves its peers waiting for it forever, and every later read with them:
/// the process exits instead, so that clients see their connections close and a restart recovers
/// from the durable logs.
struct ExitOnPanic;

impl Drop for ExitOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("a dataflow worker panicked; exiting so that a restart recovers from the durable logs");
            std::process::exit(101);
        }
    }
}

/// Timely's configuration for `workers` threads in this process. Arrangements keep merging their
/// batches while idle: otherwise a view that stopped changing keeps the unmerged batches its last
/// changes left, and every peek seeks in each of them.
fn timely_config(workers: usize) -> timely::Config {
    let mut config = timely::Config::process(workers);
    let options = differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT));
    differential_dataflow::configure(&mut config.worker, &options);
    config
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A peek waiting for its answers; unregisters its responder when dropped (also on cancellation).
struct PendingPeek {
    id: u64,
    rx: tokio::sync::mpsc::UnboundedReceiver<PeekResult>,
    shared: Arc<Shared>,
}

impl PendingPeek {
    async fn collect(mut self, workers: usize) -> PeekResult {
        let mut answers = Vec::with_capacity(workers);
        while answers.len() < workers {
            match self.rx.recv().await {
                Some(answer) => answers.push(answer),
                None => return Err(EvalError::Internal("the cluster shut down during a peek".into()).into()),
            }
        }
        crate::peek::merge(answers)
    }
}

impl Drop for PendingPeek {
    fn drop(&mut self) {
        if let Ok(mut responders) = self.shared.responders.lock() {
            responders.remove(&self.id);
        }
    }
}

/// A running subscription; dropping it stops the workers' dataflows for it.
pub struct Subscription {
    id: u64,
    rx: tokio::sync::mpsc::UnboundedReceiver<WorkerBatch>,
    merge: SubscribeMerge,
    /// The frontier last handed out.
    reported: Option<Option<Timestamp>>,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The next complete updates (ordered by time, consolidated) with the frontier they complete:
    /// returned when there are updates or the frontier moved. `None` once every input is complete
    /// forever and everything was handed out.
    pub async fn next(&mut self) -> Option<Result<SubscribeBatch, SubscribeError>> {
        loop {
            if self.merge.is_done() {
                return None;
            }
            let Some(batch) = self.rx.recv().await else { return Some(Err(SubscribeError::ClusterGone)) };
            let updates = match self.merge.absorb(batch) {
                Ok(updates) => updates,
                Err(error) => return Some(Err(error)),
            };
            let upper = self.merge.upper();
            if !updates.is_empty() || (upper.is_some() && upper != self.reported) {
                self.reported = upper;
                return Some(Ok(SubscribeBatch { updates, upper: upper.flatten() }));
            }
        }
    }
}

/// Updates of a subscription that are complete, and the frontier (`None`: complete forever) up
/// to which every update was handed out.
#[derive(Debug)]
pub struct SubscribeBatch {
    pub updates: Vec<(Row, Timestamp, Diff)>,
    pub upper: Option<Timestamp>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut subscribers) = self.shared.subscribers.lock() {
            subscribers.remove(&self.id);
        }
    }
}
