//! The Kinesis source operator: reads a stream's shards, decodes records into rows, and assigns
//! them timestamps from the wall clock (reclocking), persisting what it ingests so that a restart
//! neither loses nor repeats a record.
//!
//! Worker `w` of `n` reads the shards whose number (the id's digits) `% n == w` (`owns_shard`). Reader events arrive on a
//! tokio runtime through a channel; the sink wakes the timely operator with a `SyncActivator`.
//! Each batch is stamped `max(wall clock ms, capability time)`, and the capability follows the
//! wall clock every `TICK` even without records, so the source frontier tracks real time. Decode
//! failures become `DataflowError::Decode`, fatal reader errors `DataflowError::Source`, both in
//! the error collection. The progress collection holds one `(shard_id, sequence_number)` row per
//! shard: the greatest sequence number consumed.
//!
//! Durability (with a `Persistence`): the records of a step are appended to the worker's source
//! log as one batch with their timestamp and fsynced before they are emitted, and so before the
//! capability moves past that timestamp. At start the worker replays its shards' batches at their
//! original timestamps and resumes each shard after its last committed sequence number.
//!
//! This module must not arrange or register collections (the worker does) nor talk to AWS
//! directly (`freshet-kinesis` does).

mod clock;
mod durable;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bigdecimal::BigDecimal;
use differential_dataflow::AsCollection;
use freshet_kinesis::{Credentials, KinesisClient, KinesisRecord, ReaderEvent, StartPosition, StreamConfig};
use freshet_repr::{DataflowError, Datum, DecodeError, Diff, Row, Timestamp};
use freshet_storage::{Decoder, KinesisConnection, KinesisCredentials, LogError, SourceBatch, SourceDesc, SourceLog};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::{source, OutputBuilderSession};
use timely::dataflow::operators::vec::{Map as _, Partition as _, ToStream as _};
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;
use timely::scheduling::SyncActivator;

use crate::render::{OkCollection, Rendered};
use crate::status::{SourceHealth, StatusReporter};
pub use clock::{forget as forget_clock, ClockBoard, PeerClock};
pub use durable::Persistence;
use durable::{batch_for, replay_records, ShardRecords};

/// How often the source capability follows the wall clock when idle.
const TICK: Duration = Duration::from_millis(15);

/// One update the source operator produces, before it is split into three collections.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum SourceUpdate {
    Row(Row),
    Error(DataflowError),
    Progress(Row),
}

type Output<'a> = OutputBuilderSession<'a, Timestamp, CapacityContainerBuilder<Vec<(SourceUpdate, Timestamp, Diff)>>>;

/// Keeps the source's reader running; dropping it stops the reader.
pub struct SourceToken {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The collections of one source: its rows and errors, and its progress rows.
pub struct RenderedSource<'s> {
    pub data: Rendered<'s>,
    pub progress: OkCollection<'s>,
    pub token: SourceToken,
}

/// Builds the source operator for `desc` in `scope`, without persistence; readers run on `runtime`.
pub fn render_source<'s>(
    scope: Scope<'s, Timestamp>,
    name: &str,
    desc: &SourceDesc,
    runtime: &tokio::runtime::Handle,
) -> RenderedSource<'s> {
    render_durable_source(scope, name, desc, runtime, None, (StatusReporter::detached(), PeerClock::detached()))
}

/// Builds the source operator for `desc` in `scope`; with `persistence`, it first replays the
/// source's log and then resumes every shard after its last committed record. `status` and `clock`
/// are this worker's links to the source's other workers.
pub fn render_durable_source<'s>(
    scope: Scope<'s, Timestamp>,
    name: &str,
    desc: &SourceDesc,
    runtime: &tokio::runtime::Handle,
    persistence: Option<Persistence>,
    (status, clock): (StatusReporter, PeerClock),
) -> RenderedSource<'s> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (index, peers) = (scope.index(), scope.peers());
    let (connection, format, source_name) = (desc.connection.clone(), desc.format.clone(), name.to_string());
    let runtime = runtime.clone();
    let builder = move |capability: Capability<Timestamp>, info: timely::dataflow::operators::generic::OperatorInfo| {
        let activator = scope.activator_for(Rc::clone(&info.address));
        let sync_activator = scope.worker().sync_activator_for(info.address.to_vec());
        let (tx, rx) = mpsc::channel();
        let decoder = Decoder::new(&format).map_err(|e| e.to_string());
        clock.register(scope.worker().sync_activator_for(info.address.to_vec()));
        let mut state = SourceState::new(Some(capability), decoder, source_name, status);
        state.clock = clock;
        let recovered = persistence
            .as_ref()
            .map(|p| durable::recover(p, (index, peers), |shard| owns_shard(shard, index, peers)))
            .transpose();
        match recovered {
            Ok(recovered) => {
                let resume = recovered.as_ref().map(|r| r.resume.clone()).unwrap_or_default();
                if let Some(recovered) = recovered {
                    state.restore(recovered);
                }
                if state.decoder.is_ok() {
                    start_reader(&runtime, &connection, (index, peers), resume, tx, sync_activator, stop_rx);
                }
            }
            // Without its log the source must not read: it would repeat or lose records.
            Err(message) => state.startup_failure = Some(message),
        }
        move |output: &mut Output<'_>| {
            // A failed source holds no capability and has nothing left to do.
            if state.step(&rx, output) {
                if state.replay.is_empty() {
                    activator.activate_after(TICK);
                } else {
                    activator.activate();
                }
            }
        }
    };
    let updates = source::<_, CapacityContainerBuilder<Vec<_>>, _, _>(scope, name, builder);
    // One pass moves each update to its collection; three readers of one stream would each get
    // a copy of every batch (a replay's million rows, twice over).
    let mut parts = updates
        .partition(3, |update: (SourceUpdate, Timestamp, Diff)| {
            let part = match &update.0 {
                SourceUpdate::Row(_) => 0,
                SourceUpdate::Error(_) => 1,
                SourceUpdate::Progress(_) => 2,
            };
            (part, update)
        })
        .into_iter();
    let mut next_part =
        || parts.next().unwrap_or_else(|| Vec::<(SourceUpdate, Timestamp, Diff)>::new().to_stream(scope));
    let (rows, errors, progress) = (next_part(), next_part(), next_part());
    let ok = rows
        .flat_map(|(u, t, d)| if let SourceUpdate::Row(row) = u { Some((row, t, d)) } else { None })
        .as_collection();
    let err = errors
        .flat_map(|(u, t, d)| if let SourceUpdate::Error(e) = u { Some((e, t, d)) } else { None })
        .as_collection();
    let progress = progress
        .flat_map(|(u, t, d)| if let SourceUpdate::Progress(row) = u { Some((row, t, d)) } else { None })
        .as_collection();
    RenderedSource { data: Rendered { ok, err }, progress, token: SourceToken { _stop: stop_tx } }
}

/// Records replayed per operator step after a restart.
const REPLAY_CHUNK_RECORDS: usize = 50_000;

/// Whether sequence number `a` is greater than `b`. Kinesis sequence numbers are decimal digit
/// strings: without leading zeros the longer one is greater, and equal lengths compare by bytes.
/// Anything else compares as text; such a number is reported when it is parsed.
fn sequence_after(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b)).is_gt()
}

/// Whether worker `index` of `peers` reads `shard_id`. Kinesis numbers its shards
/// (`shardId-000000000007`) in creation order, so the number modulo the worker count spreads a
/// stream's shards evenly; hashing the id gave one of two workers three of a stream's four shards
/// (and three quarters of a restart's decoding). Ids without a number are hashed.
pub fn owns_shard(shard_id: &str, index: usize, peers: usize) -> bool {
    if peers == 0 {
        return true;
    }
    let digits = shard_id.len() - shard_id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let key = match shard_id[shard_id.len() - digits..].parse::<u64>() {
        Ok(number) => number,
        Err(_) => {
            let mut hasher = DefaultHasher::new();
            shard_id.hash(&mut hasher);
            hasher.finish()
        }
    };
    (key % peers as u64) as usize == index
}

/// Converts the catalog's connection into the reader's configuration.
pub fn stream_config(connection: &KinesisConnection) -> StreamConfig {
    let credentials = match &connection.credentials {
        KinesisCredentials::DefaultChain => Credentials::DefaultChain,
        KinesisCredentials::Profile(p) => Credentials::Profile(p.clone()),
        KinesisCredentials::Static { access_key_id, secret_access_key, token } => Credentials::Static {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            token: token.clone(),
        },
    };
    StreamConfig {
        region: connection.region.clone(),
        stream_name: connection.stream_name.clone(),
        endpoint: connection.endpoint.clone(),
        credentials,
        role_arn: connection.role_arn.clone(),
    }
}

/// Connects and starts the shard readers on `runtime`; they stop when `stop` resolves or its
/// sender is dropped.
fn start_reader(
    runtime: &tokio::runtime::Handle,
    connection: &KinesisConnection,
    (index, peers): (usize, usize),
    resume: BTreeMap<String, String>,
    tx: mpsc::Sender<ReaderEvent>,
    activator: SyncActivator,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let config = stream_config(connection);
    let notify = move |event: ReaderEvent| {
        // Send failures mean the dataflow is gone; the reader is about to be stopped.
        let _ = tx.send(event);
        let _ = activator.activate();
    };
    runtime.spawn(async move {
        match KinesisClient::connect(config).await {
            Ok(client) => {
                let handle = client.spawn_reader(
                    &tokio::runtime::Handle::current(),
                    Box::new(move |shard| owns_shard(shard, index, peers)),
                    Box::new(move |shard| match resume.get(shard) {
                        Some(seq) => StartPosition::AfterSequenceNumber(seq.clone()),
                        None => StartPosition::TrimHorizon,
                    }),
                    Box::new(notify),
                );
                let _ = stop.await;
                drop(handle);
            }
            Err(error) => notify(ReaderEvent::Error { message: error.to_string(), fatal: true }),
        }
    });
}

/// The per-worker state of the source operator.
struct SourceState {
    capability: Option<Capability<Timestamp>>,
    decoder: Result<Decoder, String>,
    /// The greatest sequence number consumed per shard.
    progress: BTreeMap<String, BigDecimal>,
    source_name: String,
    /// Where ingested batches are committed before they are emitted; `None`: not persisted.
    log: Option<SourceLog>,
    /// Recovered batches not yet emitted (the first step emits them).
    replay: VecDeque<SourceBatch>,
    /// New batches are stamped at least this (the greatest recovered timestamp).
    floor: Timestamp,
    /// Records received but not yet committed (an append failed and will be retried).
    pending: Vec<ShardRecords>,
    /// Shards resumed from the log, with their resume sequence number.
    resumed: BTreeMap<String, String>,
    /// Shards that delivered records since start: their resume point was fine.
    delivered: BTreeSet<String>,
    /// Shards read to their end; `pending_ended` are not committed yet.
    ended: BTreeSet<String>,
    pending_ended: Vec<String>,
    /// A failure found while building the operator, reported by the first step.
    startup_failure: Option<String>,
    /// Where this worker's health of the source is reported.
    status: StatusReporter,
    /// Moves the other workers' capabilities past what this worker emits.
    clock: PeerClock,
}

impl SourceState {
    /// A state holding `capability` (`None` only for a state that never emits, as in unit tests).
    fn new(
        capability: Option<Capability<Timestamp>>,
        decoder: Result<Decoder, String>,
        source_name: String,
        status: StatusReporter,
    ) -> SourceState {
        SourceState {
            capability,
            decoder,
            progress: BTreeMap::new(),
            source_name,
            log: None,
            replay: VecDeque::new(),
            floor: 0,
            pending: Vec::new(),
            resumed: BTreeMap::new(),
            delivered: BTreeSet::new(),
            ended: BTreeSet::new(),
            pending_ended: Vec::new(),
            startup_failure: None,
            status,
            clock: PeerClock::detached(),
        }
    }

    fn restore(&mut self, recovered: durable::Recovered) {
        self.floor = recovered.batches.iter().map(|b| b.ts).max().unwrap_or(0);
        self.log = Some(recovered.log);
        self.replay = recovered.batches.into();
        self.resumed = recovered.resume;
        self.ended = recovered.ended;
    }

    fn source_error(&self, message: String) -> SourceUpdate {
        SourceUpdate::Error(DataflowError::Source { source_name: self.source_name.clone(), message })
    }

    /// Emits what the readers delivered and follows the wall clock; `false` once the source failed.
    fn step(&mut self, rx: &mpsc::Receiver<ReaderEvent>, output: &mut Output<'_>) -> bool {
        let Some(mut capability) = self.capability.take() else { return false };
        let now = now_ms().max(*capability.time()).max(self.floor).max(self.clock.floor());
        let mut updates: Vec<(SourceUpdate, Timestamp, Diff)> = Vec::new();
        // A format that cannot be prepared, or a log that cannot be recovered or written, fails
        // the source: report it once, then release the capability so reads at any time see it.
        let failure = match &self.decoder {
            Err(message) => Some(message.clone()),
            Ok(_) => self.startup_failure.take().or_else(|| {
                if self.emit_replay(*capability.time(), &mut updates) {
                    return None;
                }
                let mut fresh = Vec::new();
                let failure = self.ingest(rx, now, &mut fresh).err();
                updates.extend(fresh.into_iter().map(|(u, diff)| (u, now, diff)));
                failure
            }),
        };
        if let Some(message) = &failure {
            updates.push((self.source_error(message.clone()), now, 1));
            self.status.report(SourceHealth::Failed, Some(message.clone()));
        }
        let emitted = !updates.is_empty();
        if emitted {
            let mut session = output.session(&capability);
            session.give_iterator(updates.into_iter());
        }
        if failure.is_none() && !self.replay.is_empty() {
            // Replayed times are not complete until the whole replay is out.
            self.capability = Some(capability);
            return true;
        }
        if failure.is_none() {
            // What was emitted at `now` is readable once every worker's capability is past it:
            // this one moves at once, the others when the clock wakes them.
            let next = if emitted { now + 1 } else { now };
            capability.downgrade(&next);
            if emitted {
                self.clock.advance(next);
            }
            self.capability = Some(capability);
        }
        failure.is_none()
    }

    /// Emits recovered batches at their original times (never before `floor`), about
    /// `REPLAY_CHUNK_RECORDS` records per call; `true` while batches remain. In chunks, the
    /// operators downstream take each part before the next is decoded: a restart's transient
    /// memory (and the page faults of getting it) stays bounded instead of growing with the log.
    fn emit_replay(&mut self, floor: Timestamp, updates: &mut Vec<(SourceUpdate, Timestamp, Diff)>) -> bool {
        let mut emitted = 0;
        while emitted < REPLAY_CHUNK_RECORDS {
            let Some(batch) = self.replay.pop_front() else { return false };
            emitted += batch.records.len();
            let ts = batch.ts.max(floor);
            let mut batch_updates = Vec::new();
            for (shard, records) in replay_records(batch) {
                self.handle_records(&shard, records, &mut batch_updates);
            }
            updates.extend(batch_updates.into_iter().map(|(u, diff)| (u, ts, diff)));
        }
        !self.replay.is_empty()
    }

    /// Drains the reader's events; commits their records (if persisted) and then turns them into
    /// updates. An `Err` is a failure that must stop the source.
    fn ingest(
        &mut self,
        rx: &mpsc::Receiver<ReaderEvent>,
        now: Timestamp,
        updates: &mut Vec<(SourceUpdate, Diff)>,
    ) -> Result<(), String> {
        while let Ok(event) = rx.try_recv() {
            match event {
                ReaderEvent::Records { shard_id, records, .. } => {
                    if !records.is_empty() {
                        self.delivered.insert(shard_id.clone());
                        self.pending.push((shard_id, records));
                    }
                }
                ReaderEvent::ShardEnded { shard_id } => {
                    tracing::debug!(shard = %shard_id, "shard ended");
                    self.pending_ended.push(shard_id);
                }
                other => self.handle_event(other, updates),
            }
        }
        if self.pending.is_empty() && self.pending_ended.is_empty() {
            self.status.report(SourceHealth::Running, None);
            return Ok(());
        }
        if let Some(log) = &mut self.log {
            match log.append(&batch_for(now, &self.pending, &self.pending_ended, &self.progress)) {
                Ok(()) => compact_in_background(log, &self.source_name),
                // Rolled back: the records stay pending and the next step commits them.
                Err(error @ LogError::Io { .. }) => {
                    tracing::warn!(source = %self.source_name, %error, "source log append failed; retrying");
                    let message = format!("cannot persist ingested records, retrying: {error}");
                    self.status.report(SourceHealth::Stalled, Some(message));
                    return Ok(());
                }
                Err(error) => return Err(format!("cannot persist ingested records: {error}")),
            }
        }
        self.status.report(SourceHealth::Running, None);
        for (shard, records) in std::mem::take(&mut self.pending) {
            self.handle_records(&shard, records, updates);
        }
        self.ended.extend(std::mem::take(&mut self.pending_ended));
        Ok(())
    }

    /// A reader complaint that a resumed shard cannot start at its committed position: the
    /// records after it may be gone, so this is reported as an error, never skipped silently.
    fn resume_failure(&mut self, message: &str) -> Option<SourceUpdate> {
        let (shard, seq) = self.resumed.iter().find(|(shard, _)| {
            message.starts_with(&format!("shard {shard}:")) || message.starts_with(&format!("shard {shard} "))
        })?;
        // A shard that was read to its end and later trimmed away lost nothing.
        let gone = message.contains("no longer exists") && !self.ended.contains(shard);
        let cannot_resume = message.contains("InvalidArgument") || gone;
        if self.delivered.contains(shard) || !cannot_resume {
            return None;
        }
        let error = format!(
            "cannot resume shard {shard} after sequence number {seq}: that position is no longer in the stream ({message})"
        );
        // Reported once: the reader keeps retrying and repeating itself.
        let shard = shard.clone();
        self.resumed.remove(&shard);
        Some(self.source_error(error))
    }

    fn handle_event(&mut self, event: ReaderEvent, updates: &mut Vec<(SourceUpdate, Diff)>) {
        match event {
            ReaderEvent::Records { shard_id, records, .. } => self.handle_records(&shard_id, records, updates),
            ReaderEvent::ShardEnded { shard_id } => tracing::debug!(shard = %shard_id, "shard ended"),
            ReaderEvent::Error { message, fatal: true } => {
                self.status.report(SourceHealth::Failed, Some(message.clone()));
                let error = DataflowError::Source { source_name: self.source_name.clone(), message };
                updates.push((SourceUpdate::Error(error), 1));
            }
            ReaderEvent::Error { message, fatal: false } => match self.resume_failure(&message) {
                Some(error) => {
                    if let SourceUpdate::Error(e) = &error {
                        self.status.report(SourceHealth::Failed, Some(e.to_string()));
                    }
                    updates.push((error, 1));
                }
                None => tracing::warn!(source = %self.source_name, %message, "transient source error"),
            },
        }
    }

    fn handle_records(&mut self, shard_id: &str, records: Vec<KinesisRecord>, updates: &mut Vec<(SourceUpdate, Diff)>) {
        let Ok(decoder) = &self.decoder else { return };
        let mut greatest: Option<String> = None;
        for record in records {
            match decoder.decode(&record.data) {
                Ok(row) => updates.push((SourceUpdate::Row(row), 1)),
                Err(failure) => {
                    let error = DecodeError {
                        message: failure.to_string(),
                        shard: record.shard_id.clone(),
                        sequence_number: record.sequence_number.clone(),
                        bytes: record.data,
                    };
                    updates.push((SourceUpdate::Error(DataflowError::Decode(error)), 1));
                }
            }
            if greatest.as_deref().is_none_or(|g| sequence_after(&record.sequence_number, g)) {
                greatest = Some(record.sequence_number);
            }
        }
        let Some(greatest) = greatest else { return };
        let Ok(seq) = BigDecimal::from_str(&greatest) else {
            tracing::warn!(sequence = %greatest, "unparsable sequence number");
            return;
        };
        let previous = self.progress.get(shard_id);
        if previous.is_some_and(|p| *p >= seq) {
            return;
        }
        if let Some(previous) = previous {
            updates.push((SourceUpdate::Progress(progress_row(shard_id, previous.clone())), -1));
        }
        updates.push((SourceUpdate::Progress(progress_row(shard_id, seq.clone())), 1));
        self.progress.insert(shard_id.to_string(), seq);
    }
}

fn progress_row(shard_id: &str, seq: BigDecimal) -> Row {
    Row::new(vec![Datum::text(shard_id), Datum::numeric(seq)])
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Timestamp).unwrap_or(0)
}

#[cfg(test)]
mod tests;

/// Starts a compaction of `log`'s closed segments on its own thread when one is due; a failed
/// compaction leaves the old segments in force and is only logged.
fn compact_in_background(log: &mut SourceLog, source_name: &str) {
    let job = match log.compaction_due() {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(source = %source_name, %error, "cannot look for source log segments to compact");
            return;
        }
    };
    let (source, stem) = (source_name.to_string(), log.stem().to_string());
    let spawned = std::thread::Builder::new().name("source-log-compaction".into()).spawn(move || {
        match freshet_storage::source_log::compact_source_log(job) {
            Ok(stats) => tracing::info!(%source, log = %stem, ?stats, "compacted source log"),
            Err(error) => tracing::error!(%source, log = %stem, %error, "source log compaction failed"),
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(source = %source_name, %error, "cannot start a source log compaction");
    }
}
