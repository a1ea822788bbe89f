use freshet_storage::{SourceFormat, SourceRecord};

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
    let decoder = Decoder::new(&format).map_err(|e| e.to_string());
    SourceState::new(None, decoder, "src".into(), crate::status::StatusReporter::detached())
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
fn sequence_numbers_compare_as_numbers() {
    assert!(sequence_after("100", "99"));
    assert!(!sequence_after("99", "100"));
    assert!(sequence_after("0100", "99"), "leading zeros do not count");
    assert!(!sequence_after("42", "42") && !sequence_after("042", "42"));
    let a = "49590338271490256608559692538361571095921575989136588898";
    let b = "49590338271490256608559692538361571095921575989136588899";
    assert!(sequence_after(b, a) && !sequence_after(a, b));
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
    assert_eq!(per_worker, vec![20; peers], "numbered shards are spread evenly");
    for shard_id in ["shard-a", "", "shardId-99999999999999999999999"] {
        let owners = (0..peers).filter(|w| owns_shard(shard_id, *w, peers)).count();
        assert_eq!(owners, 1, "{shard_id:?}");
    }
    assert_eq!((0..2).filter(|w| owns_shard("shardId-000000000003", *w, 2)).collect::<Vec<_>>(), vec![1]);
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

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("freshet-source-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn records_event(seqs: &[(&str, &[u8])]) -> ReaderEvent {
    ReaderEvent::Records {
        shard_id: "shard-0".into(),
        records: seqs.iter().map(|(seq, data)| record(seq, data)).collect(),
        millis_behind_latest: Some(0),
    }
}

fn everything(_shard: &str) -> bool {
    true
}

/// Ingests `events` at `ts` through a persisted state and returns the emitted updates.
fn ingest_at(state: &mut SourceState, ts: Timestamp, events: Vec<ReaderEvent>) -> Vec<(SourceUpdate, Diff)> {
    let (tx, rx) = mpsc::channel();
    for event in events {
        tx.send(event).unwrap();
    }
    let mut updates = Vec::new();
    state.ingest(&rx, ts, &mut updates).unwrap();
    updates
}

#[test]
fn ingested_records_are_committed_with_their_timestamp_and_replayed_at_it() {
    let persistence =
        Persistence { data_dir: temp_dir("replay"), id: freshet_repr::GlobalId(5), segment_bytes: 1 << 20 };
    let recovered = durable::recover(&persistence, (0, 1), everything).unwrap();
    assert!(recovered.batches.is_empty() && recovered.resume.is_empty(), "a new source starts empty");
    let mut first = state(SourceFormat::Bytes);
    first.restore(recovered);
    let mut emitted = ingest_at(&mut first, 100, vec![records_event(&[("1", b"a"), ("2", b"b")])]);
    emitted.extend(ingest_at(&mut first, 130, vec![records_event(&[("3", b"c")])]));
    assert_eq!(emitted.len(), 3 + 3, "three rows, one progress row and one progress update");
    drop(first);

    let recovered = durable::recover(&persistence, (0, 1), everything).unwrap();
    assert_eq!(recovered.batches.iter().map(|b| b.ts).collect::<Vec<_>>(), vec![100, 130]);
    assert_eq!(recovered.resume.get("shard-0").map(String::as_str), Some("3"));
    let mut second = state(SourceFormat::Bytes);
    second.restore(recovered);
    assert_eq!(second.floor, 130);
    let mut replayed = Vec::new();
    second.emit_replay(0, &mut replayed);
    let expected = vec![
        (bytes_row(b"a"), 100, 1),
        (bytes_row(b"b"), 100, 1),
        (progress("2"), 100, 1),
        (bytes_row(b"c"), 130, 1),
        (progress("2"), 130, -1),
        (progress("3"), 130, 1),
    ];
    assert_eq!(replayed, expected);
    // New records continue the progress row from the replayed state.
    let next = ingest_at(&mut second, 150, vec![records_event(&[("4", b"d")])]);
    assert_eq!(next, vec![(bytes_row(b"d"), 1), (progress("3"), -1), (progress("4"), 1)]);
}

#[test]
fn recovery_keeps_only_owned_shards_and_merges_every_workers_file() {
    use freshet_storage::{SourceBatch, SourceRecord};
    let dir = temp_dir("merge");
    let id = freshet_repr::GlobalId(9);
    let batch = |ts, shard: &str, seq: &str| SourceBatch {
        ts,
        records: vec![SourceRecord { shard_id: shard.into(), sequence_number: seq.into(), data: seq.into() }],
        progress: vec![(shard.into(), seq.into())],
        ended: Vec::new(),
    };
    // Written by a run with another worker count: shard "a" moved from worker 1 to worker 0.
    let (mut w1, _) = SourceLog::open(&dir, id, 1, 1 << 20).unwrap();
    w1.append(&batch(10, "a", "5")).unwrap();
    w1.append(&batch(11, "b", "7")).unwrap();
    let (mut w0, _) = SourceLog::open(&dir, id, 0, 1 << 20).unwrap();
    w0.append(&batch(20, "a", "6")).unwrap();
    drop((w0, w1));
    let persistence = Persistence { data_dir: dir, id, segment_bytes: 1 << 20 };
    let recovered = durable::recover(&persistence, (0, 2), |shard| shard == "a").unwrap();
    assert_eq!(recovered.batches, vec![batch(10, "a", "5"), batch(20, "a", "6")]);
    assert_eq!(recovered.resume.into_iter().collect::<Vec<_>>(), vec![("a".to_string(), "6".to_string())]);
}

#[test]
fn a_resumed_shard_whose_position_is_gone_is_a_source_error_once() {
    let mut state = state(SourceFormat::Bytes);
    state.resumed.insert("shard-0".into(), "42".into());
    let mut updates = Vec::new();
    let transient = "shard shard-0: GetShardIterator failed: dispatch failure (retrying)";
    state.handle_event(ReaderEvent::Error { message: transient.into(), fatal: false }, &mut updates);
    assert!(updates.is_empty(), "network trouble is not a lost position");
    let invalid = "shard shard-0: GetShardIterator failed: InvalidArgumentException: bad sequence (retrying)";
    state.handle_event(ReaderEvent::Error { message: invalid.into(), fatal: false }, &mut updates);
    let [(SourceUpdate::Error(DataflowError::Source { message, .. }), 1)] = updates.as_slice() else {
        panic!("expected one source error, got {updates:?}");
    };
    assert!(message.contains("shard-0") && message.contains("42"), "{message}");
    state.handle_event(ReaderEvent::Error { message: invalid.into(), fatal: false }, &mut updates);
    assert_eq!(updates.len(), 1, "reported once");
}

#[test]
fn a_gone_shard_is_an_error_unless_it_was_read_to_its_end() {
    let persistence =
        Persistence { data_dir: temp_dir("ended"), id: freshet_repr::GlobalId(4), segment_bytes: 1 << 20 };
    let mut first = state(SourceFormat::Bytes);
    first.restore(durable::recover(&persistence, (0, 1), everything).unwrap());
    let other = ReaderEvent::Records {
        shard_id: "shard-1".into(),
        records: vec![KinesisRecord { shard_id: "shard-1".into(), ..record("8", b"x") }],
        millis_behind_latest: None,
    };
    let ended = ReaderEvent::ShardEnded { shard_id: "shard-0".into() };
    ingest_at(&mut first, 10, vec![records_event(&[("5", b"a")]), ended, other]);
    drop(first);
    let mut second = state(SourceFormat::Bytes);
    second.restore(durable::recover(&persistence, (0, 1), everything).unwrap());
    let gone = |shard: &str| ReaderEvent::Error {
        message: format!("shard {shard} no longer exists; skipping it: ResourceNotFoundException"),
        fatal: false,
    };
    let mut updates = Vec::new();
    second.handle_event(gone("shard-0"), &mut updates);
    assert!(updates.is_empty(), "shard-0 was read to its end: {updates:?}");
    second.handle_event(gone("shard-1"), &mut updates);
    let [(SourceUpdate::Error(DataflowError::Source { message, .. }), 1)] = updates.as_slice() else {
        panic!("expected a source error for shard-1, got {updates:?}");
    };
    assert!(message.contains("shard-1") && message.contains('8'), "{message}");
}

/// Not a correctness test: how long recovering a large log takes (`--ignored --nocapture`).
#[test]
#[ignore]
fn measure_recovery_of_a_large_log() {
    use freshet_storage::{SourceBatch, SourceRecord};
    let dir = temp_dir("measure");
    let id = freshet_repr::GlobalId(1);
    let (mut log, _) = SourceLog::open(&dir, id, 0, 1 << 20).unwrap();
    let (batches, per_batch) = (1_000u64, 100u64);
    let write = std::time::Instant::now();
    for b in 0..batches {
        let records: Vec<SourceRecord> = (0..per_batch)
            .map(|r| SourceRecord {
                shard_id: "shard-0".into(),
                sequence_number: (b * per_batch + r).to_string(),
                data: format!("{}", b * per_batch + r).into_bytes(),
            })
            .collect();
        let last = records.last().map(|r| r.sequence_number.clone()).unwrap();
        log.append(&SourceBatch { ts: b, records, progress: vec![("shard-0".into(), last)], ended: Vec::new() })
            .unwrap();
    }
    let write = write.elapsed();
    drop(log);
    let start = std::time::Instant::now();
    let recovered =
        durable::recover(&Persistence { data_dir: dir, id, segment_bytes: 1 << 20 }, (0, 1), everything).unwrap();
    let read = start.elapsed();
    let mut state = state(SourceFormat::Text);
    state.restore(recovered);
    let mut updates = Vec::new();
    state.emit_replay(0, &mut updates);
    let total = start.elapsed();
    assert_eq!(
        updates.iter().filter(|(u, _, _)| matches!(u, SourceUpdate::Row(_))).count() as u64,
        batches * per_batch
    );
    eprintln!(
        "{} records in {batches} fsynced batches: written in {write:?}; read back in {read:?}, decoded in {total:?}",
        batches * per_batch
    );
}

#[test]
fn a_replay_comes_out_in_chunks_at_the_original_times() {
    let batch = |ts: Timestamp, first: usize, count: usize| SourceBatch {
        ts,
        records: (first..first + count)
            .map(|i| SourceRecord {
                shard_id: "shard-0".into(),
                sequence_number: (1000 + i).to_string(),
                data: i.to_le_bytes().to_vec(),
            })
            .collect(),
        progress: vec![("shard-0".into(), (1000 + first + count - 1).to_string())],
        ended: Vec::new(),
    };
    let sizes = [REPLAY_CHUNK_RECORDS / 2, REPLAY_CHUNK_RECORDS / 2, 10];
    let mut state = state(SourceFormat::Bytes);
    let mut first = 0;
    for (ts, size) in [10, 20, 30].into_iter().zip(sizes) {
        state.replay.push_back(batch(ts, first, size));
        first += size;
    }
    let mut chunks = Vec::new();
    loop {
        let mut updates = Vec::new();
        let more = state.emit_replay(15, &mut updates);
        chunks.push(updates);
        if !more {
            break;
        }
    }
    assert_eq!(chunks.len(), 2, "two batches fill a chunk, the third comes next");
    let rows = |chunk: &[(SourceUpdate, Timestamp, Diff)], ts: Timestamp| {
        chunk.iter().filter(|(u, t, _)| matches!(u, SourceUpdate::Row(_)) && *t == ts).count()
    };
    // Times before the floor come out at the floor.
    assert_eq!((rows(&chunks[0], 15), rows(&chunks[0], 20), rows(&chunks[1], 30)), (sizes[0], sizes[1], sizes[2]));
    let last = (1000 + first - 1).to_string();
    assert!(chunks[1].contains(&(progress(&last), 30, 1)), "progress follows the last record");
}
