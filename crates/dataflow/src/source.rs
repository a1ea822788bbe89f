//! The Kinesis source operator: reads a stream's shards, decodes records into rows, and assigns
//! them timestamps from the wall clock (reclocking).
//!
//! Worker `w` of `n` reads the shards whose `hash(shard_id) % n == w`. Reader events arrive on a
//! tokio runtime through a channel; the sink wakes the timely operator with a `SyncActivator`.
//! Each batch is stamped `max(wall clock ms, capability time)`, and the capability follows the
//! wall clock every `TICK` even without records, so the source frontier tracks real time. Decode
//! failures become `DataflowError::Decode`, fatal reader errors `DataflowError::Source`, both in
//! the error collection. The progress collection holds one `(shard_id, sequence_number)` row per
//! shard: the greatest sequence number consumed.
//!
//! This module must not arrange or register collections (the worker does) nor talk to AWS
//! directly (`freshet-kinesis` does).

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bigdecimal::BigDecimal;
use differential_dataflow::AsCollection;
use freshet_kinesis::{Credentials, KinesisClient, KinesisRecord, ReaderEvent, StartPosition, StreamConfig};
use freshet_repr::{DataflowError, Datum, DecodeError, Diff, Row, Timestamp};
use freshet_storage::{Decoder, KinesisConnection, KinesisCredentials, SourceDesc};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::{source, OutputBuilderSession};
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;
use timely::scheduling::SyncActivator;

use crate::render::{OkCollection, Rendered};

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

/// Builds the source operator for `desc` in `scope`; readers run on `runtime`.
pub fn render_source<'s>(
    scope: Scope<'s, Timestamp>,
    name: &str,
    desc: &SourceDesc,
    runtime: &tokio::runtime::Handle,
) -> RenderedSource<'s> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (index, peers) = (scope.index(), scope.peers());
    let (connection, format, source_name) = (desc.connection.clone(), desc.format.clone(), name.to_string());
    let runtime = runtime.clone();
    let builder = move |capability: Capability<Timestamp>, info: timely::dataflow::operators::generic::OperatorInfo| {
        let activator = scope.activator_for(Rc::clone(&info.address));
        let sync_activator = scope.worker().sync_activator_for(info.address.to_vec());
        let (tx, rx) = mpsc::channel();
        start_reader(&runtime, &connection, (index, peers), tx, sync_activator, stop_rx);
        let decoder = Decoder::new(&format).map_err(|e| e.to_string());
        let mut state = SourceState { capability: Some(capability), decoder, progress: BTreeMap::new(), source_name };
        move |output: &mut Output<'_>| {
            // A failed source holds no capability and has nothing left to do.
            if state.step(&rx, output) {
                activator.activate_after(TICK);
            }
        }
    };
    let updates = source::<_, CapacityContainerBuilder<Vec<_>>, _, _>(scope, name, builder).as_collection();
    let ok = updates.clone().flat_map(|u| if let SourceUpdate::Row(row) = u { Some(row) } else { None });
    let err = updates.clone().flat_map(|u| if let SourceUpdate::Error(e) = u { Some(e) } else { None });
    let progress = updates.flat_map(|u| if let SourceUpdate::Progress(row) = u { Some(row) } else { None });
    RenderedSource { data: Rendered { ok, err }, progress, token: SourceToken { _stop: stop_tx } }
}

/// Whether worker `index` of `peers` reads `shard_id`.
pub fn owns_shard(shard_id: &str, index: usize, peers: usize) -> bool {
    let mut hasher = DefaultHasher::new();
    shard_id.hash(&mut hasher);
    peers == 0 || (hasher.finish() % peers as u64) as usize == index
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
                    Box::new(|_shard| StartPosition::TrimHorizon),
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
}

impl SourceState {
    /// Emits what the readers delivered and follows the wall clock; `false` once the source failed.
    fn step(&mut self, rx: &mpsc::Receiver<ReaderEvent>, output: &mut Output<'_>) -> bool {
        let Some(mut capability) = self.capability.take() else { return false };
        let now = now_ms().max(*capability.time());
        let mut updates = Vec::new();
        let failed = match &self.decoder {
            Err(message) => {
                // A format that cannot be prepared fails the source: report it once, then release
                // the capability so that reads at any time see the error.
                let error = DataflowError::Source { source_name: self.source_name.clone(), message: message.clone() };
                updates.push((SourceUpdate::Error(error), 1));
                true
            }
            Ok(_) => {
                while let Ok(event) = rx.try_recv() {
                    self.handle_event(event, &mut updates);
                }
                false
            }
        };
        if !updates.is_empty() {
            let mut session = output.session(&capability);
            session.give_iterator(updates.into_iter().map(|(u, diff)| (u, now, diff)));
        }
        if !failed {
            capability.downgrade(&now);
            self.capability = Some(capability);
        }
        !failed
    }

    fn handle_event(&mut self, event: ReaderEvent, updates: &mut Vec<(SourceUpdate, Diff)>) {
        match event {
            ReaderEvent::Records { shard_id, records, .. } => self.handle_records(&shard_id, records, updates),
            ReaderEvent::ShardEnded { shard_id } => tracing::debug!(shard = %shard_id, "shard ended"),
            ReaderEvent::Error { message, fatal: true } => {
                let error = DataflowError::Source { source_name: self.source_name.clone(), message };
                updates.push((SourceUpdate::Error(error), 1));
            }
            ReaderEvent::Error { message, fatal: false } => {
                tracing::warn!(source = %self.source_name, %message, "transient source error");
            }
        }
    }

    fn handle_records(&mut self, shard_id: &str, records: Vec<KinesisRecord>, updates: &mut Vec<(SourceUpdate, Diff)>) {
        let Ok(decoder) = &self.decoder else { return };
        let mut greatest: Option<BigDecimal> = None;
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
            match BigDecimal::from_str(&record.sequence_number) {
                Ok(seq) if greatest.as_ref().is_none_or(|g| seq > *g) => greatest = Some(seq),
                Ok(_) => {}
                Err(_) => tracing::warn!(sequence = %record.sequence_number, "unparsable sequence number"),
            }
        }
        let Some(seq) = greatest else { return };
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
mod tests {
    use freshet_storage::SourceFormat;

    use super::*;

    fn record(seq: &str, data: &[u8]) -> KinesisRecord {
        KinesisRecord {
            shard_id: "shard-0".into(),
            sequence_number: seq.into(),
            partition_key: "k".into(),
            data: data.to_vec(),
            arrival_ms: None,
        }
    }

    fn state(format: SourceFormat) -> SourceState {
        SourceState {
            capability: None,
            decoder: Decoder::new(&format).map_err(|e| e.to_string()),
            progress: BTreeMap::new(),
            source_name: "src".into(),
        }
    }

    fn bytes_row(data: &[u8]) -> SourceUpdate {
        SourceUpdate::Row(Row::new(vec![Datum::Bytes(data.to_vec())]))
    }

    fn progress(seq: &str) -> SourceUpdate {
        SourceUpdate::Progress(progress_row("shard-0", BigDecimal::from_str(seq).unwrap()))
    }

    #[test]
    fn records_decode_and_progress_keeps_the_greatest_sequence_number() {
        let mut state = state(SourceFormat::Bytes);
        let big = "49590338271490256608559692538361571095921575989136588898";
        let mut updates = Vec::new();
        state.handle_records("shard-0", vec![record(big, b"a"), record("100", b"b")], &mut updates);
        assert_eq!(updates, vec![(bytes_row(b"a"), 1), (bytes_row(b"b"), 1), (progress(big), 1)]);

        let bigger = "49590338271490256608559692538361571095921575989136588899";
        updates.clear();
        state.handle_records("shard-0", vec![record(bigger, b"c")], &mut updates);
        assert_eq!(updates, vec![(bytes_row(b"c"), 1), (progress(big), -1), (progress(bigger), 1)]);

        // An older sequence number does not move progress backwards.
        updates.clear();
        state.handle_records("shard-0", vec![record("5", b"d")], &mut updates);
        assert_eq!(updates, vec![(bytes_row(b"d"), 1)]);
    }

    #[test]
    fn undecodable_records_become_decode_errors() {
        let mut state = state(SourceFormat::Json);
        let mut updates = Vec::new();
        state.handle_records("shard-0", vec![record("7", b"{not json")], &mut updates);
        let Some((SourceUpdate::Error(DataflowError::Decode(error)), 1)) = updates.first() else {
            panic!("expected a decode error, got {updates:?}");
        };
        assert_eq!((error.shard.as_str(), error.sequence_number.as_str()), ("shard-0", "7"));
        assert_eq!(error.bytes, b"{not json".to_vec());
        assert_eq!(updates.last(), Some(&(progress("7"), 1)));
    }

    #[test]
    fn only_fatal_reader_errors_fail_the_source() {
        let mut state = state(SourceFormat::Bytes);
        let mut updates = Vec::new();
        state.handle_event(ReaderEvent::Error { message: "throttled".into(), fatal: false }, &mut updates);
        assert!(updates.is_empty());
        state.handle_event(ReaderEvent::Error { message: "stream deleted".into(), fatal: true }, &mut updates);
        let expected = DataflowError::Source { source_name: "src".into(), message: "stream deleted".into() };
        assert_eq!(updates, vec![(SourceUpdate::Error(expected), 1)]);
    }

    #[test]
    fn every_shard_has_exactly_one_reader() {
        let peers = 3;
        let mut per_worker = vec![0; peers];
        for shard in 0..60 {
            let shard_id = format!("shardId-{shard:012}");
            let owners: Vec<usize> = (0..peers).filter(|w| owns_shard(&shard_id, *w, peers)).collect();
            assert_eq!(owners.len(), 1, "{shard_id} owned by {owners:?}");
            per_worker[owners[0]] += 1;
        }
        assert!(per_worker.iter().all(|n| *n > 0), "{per_worker:?}");
    }

    #[test]
    fn connections_convert_to_stream_configs() {
        let connection = KinesisConnection {
            arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
            region: "eu-west-1".into(),
            stream_name: "s".into(),
            endpoint: Some("http://localhost:4566".into()),
            credentials: KinesisCredentials::Static {
                access_key_id: "id".into(),
                secret_access_key: "secret".into(),
                token: None,
            },
            role_arn: None,
        };
        let config = stream_config(&connection);
        assert_eq!((config.region.as_str(), config.stream_name.as_str()), ("eu-west-1", "s"));
        assert_eq!(config.endpoint.as_deref(), Some("http://localhost:4566"));
        assert!(
            matches!(config.credentials, Credentials::Static { ref secret_access_key, .. } if secret_access_key == "secret")
        );
    }
}
