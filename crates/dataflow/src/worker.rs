//! The per-worker loop: receives commands, builds and drops dataflows, holds the traces of every
//! collection, answers peeks and compacts traces.
//!
//! Every worker receives the same commands in the same order and so builds the same dataflows in
//! the same order; only a point peek may go to the one worker that holds its rows. Each round of
//! the loop, with the worker's state locked (`cell`), drains commands, steps timely once, retries
//! pending peeks and publishes each collection's frontiers; then, unlocked, the worker yields or
//! parks for a bounded time (the handle unparks the thread when it sends a command). While it
//! waits, a point read may be answered from its state on the reader's thread. Compaction: a
//! collection's `since` trails its upper by `COMPACTION_LAG_MS` (never past a pending peek) or
//! moves to an explicit `AllowCompaction`.
//!
//! This module must not choose table timestamps, and shares no state with other workers except
//! what is in `Shared` (frontiers and peek responders) and its own `StateCell`, lent to point
//! reads of the handle.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::InputSession;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::trace::implementations::KeySpine;
use freshet_expr::{MapFilterProject, RelationExpr};
use freshet_repr::{DataflowError, Datum, Diff, EvalError, GlobalId, Row, Timestamp};
use freshet_storage::SourceDesc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Inspect as _, Probe as _};
use timely::dataflow::Scope;
use timely::progress::Antichain;
use timely::worker::Worker;

use crate::cluster::PeekResult;
use crate::command::Command;
use crate::peek::CollectionTraces;
use crate::render::batcher::{KeyBatcher, SortBatcher};
use crate::render::{empty_errors, Import, RenderContext, Rendered};
use crate::source::{forget_clock, render_durable_source, ClockBoard, PeerClock, Persistence, SourceToken};
use crate::status::StatusReporter;
use crate::subscribe::{render_sink, SubscribeError, SubscribeSender, SubscriberBoard, WorkerBatch};

mod cell;
mod upkeep;

use cell::Lent;
pub use cell::StateCell;

/// How far a collection's `since` trails its upper, in milliseconds.
pub const COMPACTION_LAG_MS: Timestamp = 1_000;
/// The longest an idle worker parks before looking at its commands again.
const IDLE_PARK: Duration = Duration::from_millis(20);
/// How long a worker keeps polling for commands after its last one before it parks, so that a
/// burst of commands (a write, then the reads that wait for it) finds it awake instead of paying
/// a futex wake-up and a reschedule each. Peeks of an arrangement do not count: point reads are
/// answered on the reader's thread while the worker waits (`cell`), and only come here while it
/// holds its state; were they to keep it awake, polling would hold the state locked and turn the
/// next reads into commands as well, so under a steady stream of reads a worker never parked.
const STAY_AWAKE: Duration = Duration::from_micros(300);
/// How long a worker with pending peeks parks at most.
const BUSY_PARK: Duration = Duration::from_millis(5);
/// How often traces are compacted.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(50);

/// What one worker reports about its part of one collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frontiers {
    /// The least time not yet complete; `None` once complete forever.
    pub upper: Option<Timestamp>,
    /// The earliest time still readable.
    pub since: Timestamp,
    /// This worker's part of the error arrangement holds no update below `upper`, so a point
    /// read answered by another worker alone misses no error here.
    pub error_free: bool,
}

/// State shared by the handle and all workers.
#[derive(Default)]
pub struct Shared {
    /// Per collection and worker: its frontiers, once the worker built the collection.
    pub frontiers: Mutex<HashMap<GlobalId, Vec<Option<Frontiers>>>>,
    /// Where each worker sends its answer to a peek.
    pub responders: Mutex<HashMap<u64, tokio::sync::mpsc::UnboundedSender<PeekResult>>>,
    /// What each worker's source operators report about their health.
    pub source_status: crate::status::StatusBoard,
    /// Per source, the clock its workers share.
    pub source_clocks: ClockBoard,
    /// Where each subscription's batches go.
    pub subscribers: SubscriberBoard,
}

/// One maintained collection on this worker.
struct Maintained {
    traces: CollectionTraces,
    dataflow: usize,
    /// The least `since` the coordinator allowed explicitly.
    allowed_since: Timestamp,
    published: Option<Frontiers>,
}

/// What a pending peek reads.
enum PeekTarget {
    /// A maintained collection, read through a row pipeline; with the value its first column must
    /// equal when the pipeline says so (`MapFilterProject::leading_column_literal`).
    Collection(GlobalId, MapFilterProject, Option<Datum>),
    /// A transient dataflow built for this peek alone, dropped once answered.
    Transient { traces: Box<CollectionTraces>, dataflow: usize },
}

struct PendingPeek {
    peek_id: u64,
    ts: Timestamp,
    target: PeekTarget,
}

/// A subscription's dataflow on this worker.
struct ActiveSubscription {
    dataflow: usize,
    sender: SubscribeSender,
    depends_on: Vec<GlobalId>,
}

/// What a worker is started with.
pub struct WorkerContext {
    pub shared: Arc<Shared>,
    pub runtime: tokio::runtime::Handle,
    /// Where sources keep their logs; `None`: sources are not persisted.
    pub data_dir: Option<PathBuf>,
    pub log_segment_bytes: u64,
    pub collect_freed: Option<fn()>,
    /// Where the worker keeps its state, lent to point reads while it waits.
    pub cell: Arc<StateCell>,
}

/// Everything one worker owns.
pub struct WorkerState {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    data_dir: Option<PathBuf>,
    log_segment_bytes: u64,
    collect_freed: Option<fn()>,
    collections: HashMap<GlobalId, Maintained>,
    tables: HashMap<GlobalId, InputSession<Timestamp, Row, Diff>>,
    /// Source readers and source ids, by the dataflow that runs them.
    sources: HashMap<usize, (SourceToken, GlobalId)>,
    /// The time the coordinator last advanced tables to.
    table_time: Timestamp,
    pending: Vec<PendingPeek>,
    subscriptions: HashMap<u64, ActiveSubscription>,
    last_maintenance: Instant,
}

/// Runs one worker until `Shutdown` arrives or the handle goes away. Its state lives in
/// `context.cell`, locked while the worker runs and free while it waits (`cell`).
pub fn run(worker: &mut Worker, commands: mpsc::Receiver<Command>, context: WorkerContext) {
    let cell = Arc::clone(&context.cell);
    cell.install(WorkerState {
        shared: context.shared,
        runtime: context.runtime,
        data_dir: context.data_dir,
        log_segment_bytes: context.log_segment_bytes,
        collect_freed: context.collect_freed,
        collections: HashMap::new(),
        tables: HashMap::new(),
        sources: HashMap::new(),
        table_time: 0,
        pending: Vec::new(),
        subscriptions: HashMap::new(),
        last_maintenance: Instant::now(),
    });
    let mut last_command = Instant::now();
    loop {
        let mut slot = cell.lock();
        let Some(Lent(state)) = slot.as_mut() else { return };
        let Some(park) = state.run_once(worker, &commands, &mut last_command) else {
            // Dropped here, on the worker's thread and under the lock (see `cell`).
            if let Some(Lent(state)) = slot.take() {
                state.shutdown(worker);
            }
            return;
        };
        // Read with the state locked: readers leave activations alone, but the state's own
        // activators share them (see `cell`).
        let due = worker.activations().borrow().empty_for();
        drop(slot);
        wait(park, due);
    }
}

/// Waits with the state unlocked: yields when `park` is zero (awake but idle: the connections
/// the commands come from go first), else parks for at most `park`, unless the last step ran an
/// operator or one is due (`due`: the worker's activations' `empty_for` after the round). Only
/// running operators send messages from this worker to itself, and those wake nobody (timely's
/// own parking looks for them); so after a step in which nothing ran, none is pending, and
/// whatever else brings work (a command, another worker's message, an activation from another
/// thread) unparks the thread.
fn wait(park: Duration, due: Option<Duration>) {
    if park.is_zero() {
        std::thread::yield_now();
        return;
    }
    // `Some(0)`: an operator ran in the last step or was activated since; step again at once.
    match due {
        Some(due) if due.is_zero() => {}
        due => std::thread::park_timeout(due.map_or(park, |due| due.min(park))),
    }
}

impl WorkerState {
    /// One round with the state locked: commands, peeks already answerable, one step of timely,
    /// peeks, frontiers and maintenance. Returns how long to wait afterwards; `None` at shutdown.
    fn run_once(
        &mut self,
        worker: &mut Worker,
        commands: &mpsc::Receiver<Command>,
        last_command: &mut Instant,
    ) -> Option<Duration> {
        loop {
            match commands.try_recv() {
                Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => return None,
                Ok(command) => {
                    // A peek of an arrangement is a read its reader could not make itself while
                    // this worker held its state: staying awake for more of them would keep the
                    // state locked and send the next reads here too (see `STAY_AWAKE`).
                    if !matches!(command, Command::Peek { .. }) {
                        *last_command = Instant::now();
                    }
                    self.handle(worker, command);
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        // A peek at a time that is already complete is answered before the worker steps.
        self.process_peeks(worker);
        worker.step_or_park(Some(Duration::ZERO));
        self.process_peeks(worker);
        self.publish_frontiers(worker.index(), worker.peers());
        if self.last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
            self.drop_abandoned_subscriptions(worker);
            self.compact();
            self.last_maintenance = Instant::now();
        }
        let awake = last_command.elapsed() < STAY_AWAKE;
        Some(match (self.pending.is_empty(), awake) {
            (true, true) => Duration::ZERO,
            (true, false) => IDLE_PARK,
            (false, _) => BUSY_PARK,
        })
    }

    fn handle(&mut self, worker: &mut Worker, command: Command) {
        match command {
            Command::CreateTable { id, as_of } => self.create_table(worker, id, as_of),
            Command::UpdateTable { id, updates, ts } => self.update_table(worker.index(), id, updates, ts),
            Command::AdvanceTables { ts } => self.advance_tables(ts),
            Command::CreateSource { id, progress_id, name, source } => {
                self.create_source(worker, (id, progress_id), &name, &source)
            }
            Command::CreateView { id, expr, as_of } => self.create_view(worker, id, &expr, as_of),
            Command::DropCollection { id, ack_id } => {
                self.drop_collection(worker, id);
                self.respond(ack_id, Ok(Vec::new()));
            }
            Command::CollectFreed { ack_id } => {
                if let Some(collect) = self.collect_freed {
                    collect();
                }
                self.respond(ack_id, Ok(Vec::new()));
            }
            Command::Peek { peek_id, id, ts, mfp } => {
                let leading = mfp.leading_column_literal();
                self.pending.push(PendingPeek { peek_id, ts, target: PeekTarget::Collection(id, mfp, leading) })
            }
            Command::PeekExpr { peek_id, expr, ts } => self.peek_expr(worker, peek_id, &expr, ts),
            Command::Subscribe { subscribe_id, expr, as_of } => self.subscribe(worker, subscribe_id, &expr, as_of),
            Command::AllowCompaction { id, since } => {
                if let Some(maintained) = self.collections.get_mut(&id) {
                    maintained.allowed_since = maintained.allowed_since.max(since);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn register(&mut self, id: GlobalId, traces: CollectionTraces, dataflow: usize) {
        let maintained = Maintained { traces, dataflow, allowed_since: 0, published: None };
        if self.collections.insert(id, maintained).is_some() {
            tracing::warn!(%id, "collection created twice; the older one is replaced");
        }
    }

    fn create_table(&mut self, worker: &mut Worker, id: GlobalId, as_of: Timestamp) {
        let mut input = InputSession::new();
        let start = as_of.max(self.table_time);
        let dataflow = worker.next_dataflow_index();
        let traces = worker.dataflow_named(&format!("table-{id}"), |scope: Scope<'_, Timestamp>| {
            let ok = input.to_collection(scope);
            arrange(Rendered { ok, err: empty_errors(scope) })
        });
        if start > 0 {
            input.advance_to(start);
        }
        input.flush();
        self.tables.insert(id, input);
        self.register(id, traces, dataflow);
    }

    fn update_table(&mut self, index: usize, id: GlobalId, updates: Vec<(Row, Diff)>, ts: Timestamp) {
        // Worker 0 introduces every update once; the arrangement spreads them across workers.
        if index != 0 {
            return;
        }
        let Some(input) = self.tables.get_mut(&id) else {
            tracing::error!(%id, "update of an unknown table");
            return;
        };
        if ts < *input.time() {
            tracing::error!(%id, ts, frontier = *input.time(), "table update behind the table's frontier dropped");
            return;
        }
        for (row, diff) in updates {
            input.update_at(row, ts, diff);
        }
        input.flush();
    }

    fn advance_tables(&mut self, ts: Timestamp) {
        self.table_time = self.table_time.max(ts);
        for input in self.tables.values_mut() {
            if *input.time() < ts {
                input.advance_to(ts);
            }
            input.flush();
        }
    }

    fn create_source(&mut self, worker: &mut Worker, ids: (GlobalId, GlobalId), name: &str, desc: &SourceDesc) {
        let dataflow = worker.next_dataflow_index();
        let runtime = self.runtime.clone();
        let persistence = self.data_dir.clone().map(|data_dir| Persistence {
            data_dir,
            id: ids.0,
            segment_bytes: self.log_segment_bytes,
        });
        let (data, progress, token) = worker.dataflow_named(&format!("source-{name}"), |scope| {
            let status = StatusReporter::new(Arc::clone(&self.shared.source_status), ids.0, scope.index());
            let clock = PeerClock::join(&self.shared.source_clocks, ids.0, scope.index());
            let source = render_durable_source(scope, name, desc, &runtime, persistence, (status, clock));
            let progress = Rendered { ok: source.progress, err: empty_errors(scope) };
            (arrange(source.data), arrange(progress), source.token)
        });
        self.sources.insert(dataflow, (token, ids.0));
        self.register(ids.0, data, dataflow);
        self.register(ids.1, progress, dataflow);
    }

    /// Builds a dataflow that maintains `expr` from `as_of` on; `until` bounds transient ones.
    fn build(
        &mut self,
        worker: &mut Worker,
        name: &str,
        expr: &RelationExpr,
        as_of: Timestamp,
        until: Option<Timestamp>,
    ) -> CollectionTraces {
        let collections = &mut self.collections;
        worker.dataflow_named(name, |scope| arrange(render_expr(scope, collections, expr, as_of, until)))
    }

    /// The earliest time every input of `expr` can be read at, at least `as_of`.
    fn readable_as_of(&mut self, expr: &RelationExpr, as_of: Timestamp) -> Timestamp {
        let mut readable = as_of;
        for dep in expr.depends_on() {
            if let Some(maintained) = self.collections.get_mut(&dep) {
                readable = readable.max(maintained.traces.since());
            }
        }
        readable
    }

    fn create_view(&mut self, worker: &mut Worker, id: GlobalId, expr: &RelationExpr, as_of: Timestamp) {
        // A view cannot start before its inputs' histories; it becomes readable a little later.
        let as_of = self.readable_as_of(expr, as_of);
        let dataflow = worker.next_dataflow_index();
        let mut traces = self.build(worker, &format!("view-{id}"), expr, as_of, None);
        // Times before `as_of` hold only partial history, so they must not be readable.
        traces.compact_to(as_of);
        self.register(id, traces, dataflow);
    }

    fn peek_expr(&mut self, worker: &mut Worker, peek_id: u64, expr: &RelationExpr, ts: Timestamp) {
        // Every worker must build the same dataflows, but compaction differs slightly between
        // workers; so the dataflow is always built, and a `since` past `ts` makes the peek fail.
        let as_of = self.readable_as_of(expr, ts);
        let dataflow = worker.next_dataflow_index();
        // Inputs stop at `ts + 1`, so the transient dataflow completes on its own once answered.
        let mut traces = self.build(worker, &format!("peek-{peek_id}"), expr, as_of, Some(ts.saturating_add(1)));
        traces.compact_to(as_of);
        let target = PeekTarget::Transient { traces: Box::new(traces), dataflow };
        self.pending.push(PendingPeek { peek_id, ts, target });
    }

    fn subscribe(&mut self, worker: &mut Worker, subscribe_id: u64, expr: &RelationExpr, as_of: Timestamp) {
        // Every worker builds the dataflow, even when the subscriber already left: a closed
        // channel makes the next maintenance drop it.
        let sender = self.shared.subscribers.lock().ok().and_then(|s| s.get(&subscribe_id).cloned());
        let sender = sender.unwrap_or_else(|| tokio::sync::mpsc::unbounded_channel().0);
        let as_of = self.readable_as_of(expr, as_of);
        let dataflow = worker.next_dataflow_index();
        let index = worker.index();
        let collections = &mut self.collections;
        let sink_sender = sender.clone();
        worker.dataflow_named(&format!("subscribe-{subscribe_id}"), |scope| {
            render_sink(render_expr(scope, collections, expr, as_of, None), as_of, index, sink_sender)
        });
        let depends_on = expr.depends_on().into_iter().collect();
        self.subscriptions.insert(subscribe_id, ActiveSubscription { dataflow, sender, depends_on });
    }

    /// Drops the dataflows of subscriptions whose subscriber left.
    fn drop_abandoned_subscriptions(&mut self, worker: &mut Worker) {
        self.subscriptions.retain(|_, subscription| {
            let abandoned = subscription.sender.is_closed();
            if abandoned {
                worker.drop_dataflow(subscription.dataflow);
            }
            !abandoned
        });
    }

    /// Ends the subscriptions that read `id`, which is being dropped.
    fn end_subscriptions_reading(&mut self, worker: &mut Worker, id: GlobalId) {
        let index = worker.index();
        self.subscriptions.retain(|_, subscription| {
            if !subscription.depends_on.contains(&id) {
                return true;
            }
            let errors = vec![SubscribeError::InputDropped(id)];
            let _ = subscription.sender.send(WorkerBatch { worker: index, updates: Vec::new(), errors, upper: None });
            worker.drop_dataflow(subscription.dataflow);
            false
        });
    }

    fn drop_collection(&mut self, worker: &mut Worker, id: GlobalId) {
        self.end_subscriptions_reading(worker, id);
        self.tables.remove(&id);
        let Some(maintained) = self.collections.remove(&id) else { return };
        let dataflow = maintained.dataflow;
        drop(maintained);
        if let Ok(mut frontiers) = self.shared.frontiers.lock() {
            frontiers.remove(&id);
        }
        crate::status::forget(&self.shared.source_status, id);
        forget_clock(&self.shared.source_clocks, id);
        // A source's dataflow also holds its progress collection: drop it when both are gone.
        if !self.collections.values().any(|m| m.dataflow == dataflow) {
            let source = self.sources.remove(&dataflow);
            worker.drop_dataflow(dataflow);
            if let (Some((token, source_id)), Some(data_dir)) = (source, &self.data_dir) {
                // Stop the reader first; every worker removes every file (removal is idempotent).
                drop(token);
                if let Err(error) = freshet_storage::source_log::remove_source_logs(data_dir, source_id) {
                    tracing::error!(source = %source_id, %error, "cannot delete the logs of a dropped source");
                }
            }
        }
    }

    fn shutdown(mut self, worker: &mut Worker) {
        for peek in std::mem::take(&mut self.pending) {
            self.respond(peek.peek_id, Err(EvalError::Internal("the cluster is shutting down".into()).into()));
        }
        if let Ok(mut subscribers) = self.shared.subscribers.lock() {
            subscribers.clear();
        }
        self.subscriptions.clear();
        self.tables.clear();
        self.collections.clear();
        self.sources.clear();
        // Timely keeps stepping until no dataflow is left, and ours never complete on their own.
        for dataflow in worker.installed_dataflows() {
            worker.drop_dataflow(dataflow);
        }
    }
}

fn unknown_collection(id: GlobalId) -> DataflowError {
    EvalError::Internal(format!("collection {id} does not exist in the cluster")).into()
}

/// Renders `expr` in `scope` over imports of the maintained `collections` it reads.
fn render_expr<'s>(
    scope: Scope<'s, Timestamp>,
    collections: &mut HashMap<GlobalId, Maintained>,
    expr: &RelationExpr,
    as_of: Timestamp,
    until: Option<Timestamp>,
) -> Rendered<'s> {
    let mut imports = BTreeMap::new();
    for dep in expr.depends_on() {
        if let Some(maintained) = collections.get_mut(&dep) {
            imports.insert(dep, import(scope, &mut maintained.traces, as_of, until));
        }
    }
    RenderContext::new(scope, imports, as_of).render(expr)
}

/// Arranges both collections of a rendered relation and returns their traces. Rows are
/// distributed by their first datum (`peek::worker_for`), so the rows a point read wants are on
/// one worker.
fn arrange(rendered: Rendered<'_>) -> CollectionTraces {
    let by_first_datum =
        Exchange::new(|((row, ()), _, _): &((Row, ()), Timestamp, Diff)| crate::peek::leading_hash(row));
    let keyed = rendered.ok.map(|row| (row, ())).inner;
    let ok = arrange_core::<_, _, KeyBatcher<Row, Diff>, KeySpine<Row, Timestamp, Diff>>(
        keyed,
        by_first_datum,
        "ArrangeRows",
        SortBatcher::new,
    );
    let err = rendered.err.arrange_by_self();
    let errors_seen = Rc::new(Cell::new(false));
    let seen = Rc::clone(&errors_seen);
    let (ok_probe, _) = ok.stream.probe();
    let (err_probe, _) = err
        .stream
        .inspect_core(move |event| {
            if let Ok((_, batches)) = event {
                if batches.iter().any(|span| span.has_updates()) {
                    seen.set(true);
                }
            }
        })
        .probe();
    CollectionTraces::new(ok.trace, err.trace, [ok_probe, err_probe], errors_seen)
}

/// Imports a collection's traces into `scope`, with history before `as_of` collapsed to `as_of`.
fn import<'s>(
    scope: Scope<'s, Timestamp>,
    traces: &mut CollectionTraces,
    as_of: Timestamp,
    until: Option<Timestamp>,
) -> Import<'s> {
    let since = Antichain::from_elem(as_of);
    let until = until.map(Antichain::from_elem).unwrap_or_default();
    let (ok, _) = traces.ok.import_frontier_core(scope, "ImportOk", since.clone(), until.clone());
    let (err, _) = traces.err.import_frontier_core(scope, "ImportErr", since, until);
    Import { ok, err: err.as_collection(|error, _| error.clone()) }
}
