//! Durable sources end to end: the real `freshet` binary reads a 2-shard stream of the emulator
//! while a producer keeps writing, and is stopped cleanly or killed -9 in several seeded cycles.
//! After every restart the source must hold exactly the producer's ledger (count, sum and distinct
//! payloads; progress equal to the last put sequence numbers): nothing lost, nothing twice. The
//! last restart happens with the emulator down, so the rows can only come from the source log.
//! Logs roll into small segments, so compaction runs between and during the cycles.
//! Also: a resume point that is no longer in the stream is an error, DROP SOURCE deletes the
//! source's log files, a torn last segment is cut back (its records are read again from the stream,
//! once) and a damaged earlier segment stops the source with an error naming the file.

#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/server.rs"]
mod server;
#[path = "support/sql.rs"]
mod sql;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use emulator::Emulator;
use server::TestServer;
use sql::{eventually, query};

const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Log segments this small roll every few batches, so that restarts, kills and damage meet
/// compacted and rolled segments.
const SEGMENT_BYTES: &str = "4096";

fn server_for(emulator: &Emulator) -> TestServer {
    let mut env: Vec<(String, String)> = emulator.env_vars().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    env.push(("FRESHET_LOG_SEGMENT_BYTES".into(), SEGMENT_BYTES.into()));
    TestServer::start_with_env(env)
}

/// The segment files of each source log in `dir`, by log, in segment order.
fn segments(dir: &std::path::Path) -> BTreeMap<String, Vec<(u64, std::path::PathBuf)>> {
    let mut logs: BTreeMap<String, Vec<(u64, std::path::PathBuf)>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("sources directory").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((stem, number)) = name.strip_suffix(".seg").and_then(|base| base.rsplit_once('-')) else { continue };
        logs.entry(stem.to_string()).or_default().push((number.parse().expect("segment number"), entry.path()));
    }
    logs.values_mut().for_each(|segments| segments.sort());
    logs
}

/// What the producer has put and had acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ledger {
    count: i64,
    sum: i64,
    last_sequence: BTreeMap<String, String>,
}

/// Puts records `1, 2, 3, ...` (as text) until stopped; pauses on request.
struct Producer {
    ledger: Arc<Mutex<Ledger>>,
    pause: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    fn start(client: aws_sdk_kinesis::Client, stream: &str) -> Producer {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let (pause, paused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (task_ledger, task_pause, task_paused) = (ledger.clone(), pause.clone(), paused.clone());
        let stream = stream.to_string();
        let task = tokio::spawn(async move {
            let mut next: i64 = 1;
            loop {
                if task_pause.load(Ordering::SeqCst) {
                    task_paused.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                task_paused.store(false, Ordering::SeqCst);
                let put = client
                    .put_record()
                    .stream_name(&stream)
                    .partition_key(format!("key-{next}"))
                    .data(Blob::new(next.to_string().into_bytes()))
                    .send()
                    .await;
                // An unacknowledged put is retried with the same payload only if it surely failed;
                // the emulator answers every put, so a failure here is a test failure.
                let out =
                    put.unwrap_or_else(|e| panic!("put {next}: {}", aws_sdk_kinesis::error::DisplayErrorContext(e)));
                let mut ledger = task_ledger.lock().unwrap();
                ledger.count += 1;
                ledger.sum += next;
                ledger.last_sequence.insert(out.shard_id().to_string(), out.sequence_number().to_string());
                next += 1;
            }
        });
        Producer { ledger, pause, paused, task }
    }

    fn count(&self) -> i64 {
        self.ledger.lock().unwrap().count
    }

    /// Waits until at least `more` further records were acknowledged.
    async fn wait_for_more(&self, more: i64) {
        let target = self.count() + more;
        let deadline = Instant::now() + DEADLINE;
        while self.count() < target {
            assert!(Instant::now() < deadline, "the producer stalled at {}", self.count());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Pauses the producer and returns the ledger once no put is in flight.
    async fn pause(&self) -> Ledger {
        self.pause.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + DEADLINE;
        while !self.paused.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the producer did not pause");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.ledger.lock().unwrap().clone()
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.pause.store(false, Ordering::SeqCst);
    }
}

/// `(count, sum, count distinct)` of the source, and the materialized view's `(count, sum)`.
async fn observed(client: &tokio_postgres::Client) -> Result<(Vec<Option<String>>, Vec<Option<String>>), String> {
    let source = query(client, "SELECT count(*), sum(text::bigint), count(DISTINCT text) FROM ledger").await?;
    let view = query(client, "SELECT n, total FROM totals").await?;
    Ok((source.into_iter().next().unwrap_or_default(), view.into_iter().next().unwrap_or_default()))
}

/// Polls until the source and the view hold exactly `ledger`; fails at once on an overshoot
/// (a record counted twice) and at the deadline on a shortfall. Returns how long it took.
async fn wait_exactly(client: &tokio_postgres::Client, ledger: &Ledger, context: &str) -> Duration {
    let started = Instant::now();
    let (count, sum) = (Some(ledger.count.to_string()), Some(ledger.sum.to_string()));
    let expected = (vec![count.clone(), sum.clone(), count.clone()], vec![count, sum]);
    let mut last;
    loop {
        last = observed(client).await;
        if let Ok((source, _)) = &last {
            let seen: i64 = source.first().cloned().flatten().and_then(|c| c.parse().ok()).unwrap_or(0);
            assert!(seen <= ledger.count, "{context}: {seen} rows for {} records: duplicates", ledger.count);
        }
        if last.as_ref().ok() == Some(&expected) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{context}: expected {expected:?}, last saw {last:?}");
        tokio::time::sleep(POLL).await;
    }
    let progress = query(client, "SELECT shard_id, sequence_number FROM ledger_progress").await;
    let mut progress = progress.unwrap_or_else(|e| panic!("{context}: progress: {e}"));
    progress.sort();
    let expected: Vec<Vec<Option<String>>> =
        ledger.last_sequence.iter().map(|(shard, seq)| vec![Some(shard.clone()), Some(seq.clone())]).collect();
    assert_eq!(progress, expected, "{context}: progress differs from the last put sequence numbers");
    started.elapsed()
}

/// Polls `sql` until it fails with an error containing `needle`; returns that error.
async fn wait_for_error(client: &tokio_postgres::Client, sql: &str, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match query(client, sql).await {
            Err(e) if e.contains(needle) => return e,
            other => assert!(Instant::now() < deadline, "no error containing {needle:?} yet: {other:?}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// An emulator with a stream of `shards` shards, a server, a client, and a TEXT source over the
/// stream, named like it.
async fn text_source(stream: &str, shards: i32) -> (Emulator, TestServer, tokio_postgres::Client) {
    let emulator = Emulator::start().await;
    emulator.create_stream(stream, shards).await;
    let server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn(stream);
    let create = format!("CREATE SOURCE {stream} FROM KINESIS ARN '{arn}' FORMAT TEXT");
    query(&client, &create).await.expect("source");
    (emulator, server, client)
}

/// A tiny seeded generator, so that a failing cycle sequence can be replayed.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn sources_ingest_exactly_once_across_clean_stops_and_kills() {
    let seed: u64 = std::env::var("FRESHET_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut random = seed;
    let (mut emulator, mut server, client) = text_source("ledger", 2).await;
    query(&client, "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n, sum(text::bigint) AS total FROM ledger")
        .await
        .expect("view");
    let producer = Producer::start(emulator.client().clone(), "ledger");
    producer.wait_for_more(300).await;
    let ledger = producer.pause().await;
    wait_exactly(&client, &ledger, "before any restart").await;
    producer.resume();
    drop(client);

    for cycle in 0..10 {
        producer.wait_for_more(50 + (next_random(&mut random) % 150) as i64).await;
        let kill = next_random(&mut random).is_multiple_of(2);
        if kill {
            server.kill();
        } else {
            assert!(server.stop().success(), "clean shutdown exits 0");
        }
        // Records keep arriving while the server is down.
        producer.wait_for_more(20 + (next_random(&mut random) % 80) as i64).await;
        server.restart();
        let client = server.connect().await;
        let ledger = producer.pause().await;
        let took = wait_exactly(&client, &ledger, &format!("seed {seed} cycle {cycle} (kill: {kill})")).await;
        eprintln!(
            "cycle {cycle} ({}): {} records exact {took:?} after ready",
            ["stop", "kill"][kill as usize],
            ledger.count
        );
        producer.resume();
    }

    // Segments rolled and were compacted: some log no longer starts at segment 0.
    let logs = segments(&server.data_dir().join("sources"));
    assert!(logs.values().any(|s| s.first().is_some_and(|(n, _)| *n > 0)), "no log was compacted: {logs:?}");

    // The last restart with Kinesis unreachable: everything must come back from the source log,
    // at once and exactly; then the readers resume after the committed records, not before.
    let ledger = producer.pause().await;
    producer.task.abort();
    server.kill();
    emulator.kill();
    let restart = Instant::now();
    server.restart();
    let client = server.connect().await;
    let took = wait_exactly(&client, &ledger, "restart without Kinesis").await;
    eprintln!(
        "recovered {} records from the source log: ready after {:?}, exact {took:?} later",
        ledger.count,
        restart.elapsed() - took
    );
    emulator.restart().await;
    let (shard, seq) = emulator.put_record("ledger", "late", b"1000000").await;
    let mut after = ledger.clone();
    after.count += 1;
    after.sum += 1_000_000;
    after.last_sequence.insert(shard, seq);
    wait_exactly(&client, &after, "after Kinesis came back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_lost_resume_point_is_an_error_and_drop_deletes_the_logs() {
    let emulator = Emulator::start().await;
    emulator.create_stream("gone", 1).await;
    for i in 1..=5 {
        emulator.put_record("gone", &format!("k{i}"), i.to_string().as_bytes()).await;
    }
    let mut server = server_for(&emulator);
    let client = server.connect().await;
    let arn = emulator.stream_arn("gone");
    query(&client, &format!("CREATE SOURCE gone FROM KINESIS ARN '{arn}' FORMAT TEXT")).await.expect("source");
    let deadline = Instant::now() + DEADLINE;
    while query(&client, "SELECT count(*) FROM gone").await != Ok(vec![vec![Some("5".into())]]) {
        assert!(Instant::now() < deadline, "the source never read its 5 records");
        tokio::time::sleep(POLL).await;
    }
    let sources = server.data_dir().join("sources");
    let logs = || std::fs::read_dir(&sources).map(|d| d.count()).unwrap_or(0);
    assert!(logs() > 0, "the source has log files");
    drop(client);
    server.kill();
    // The stream is deleted and recreated: the committed sequence number is not in it.
    emulator.delete_stream("gone").await;
    emulator.create_stream("gone", 1).await;
    emulator.put_record("gone", "k", b"99").await;
    server.restart();
    let client = server.connect().await;
    let error = wait_for_error(&client, "SELECT count(*) FROM gone", "cannot resume shard").await;
    assert!(error.contains("shardId-") && error.contains("sequence number"), "{error}");
    let status = wait_for_status(&client, "gone", "failed").await;
    assert!(status[1].as_deref().is_some_and(|e| e.contains("cannot resume shard")), "{status:?}");
    query(&client, "DROP SOURCE gone CASCADE").await.expect("drop");
    let deadline = Instant::now() + DEADLINE;
    while logs() > 0 {
        assert!(Instant::now() < deadline, "DROP SOURCE left its log files");
        tokio::time::sleep(POLL).await;
    }
}

/// Puts records `from..to` one wave at a time, waiting for the source to hold each wave, so that
/// the log gets many batches (and so several segments).
async fn put_in_waves(client: &tokio_postgres::Client, emulator: &Emulator, from: i64, to: i64) {
    for wave in (from..to).collect::<Vec<_>>().chunks(15) {
        for i in wave {
            emulator.put_record("waves", &format!("k{i}"), i.to_string().as_bytes()).await;
        }
        let expected = Some(vec![Some((wave[wave.len() - 1]).to_string())]);
        let deadline = Instant::now() + DEADLINE;
        while query(client, "SELECT max(text::bigint) FROM waves").await.ok().and_then(|r| r.into_iter().next())
            != expected
        {
            assert!(Instant::now() < deadline, "the source never read wave {wave:?}");
            tokio::time::sleep(POLL).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_torn_last_segment_is_cut_and_a_damaged_earlier_one_is_reported() {
    let (emulator, mut server, client) = text_source("waves", 1).await;
    put_in_waves(&client, &emulator, 1, 301).await;
    drop(client);
    assert!(server.stop().success());
    let dir = server.data_dir().join("sources");
    let logs = segments(&dir);
    let (stem, owned) = logs.iter().max_by_key(|(_, s)| s.len()).expect("a source log");
    assert!(owned.len() >= 2, "{stem} has several segments: {owned:?}");

    // A crash mid-append: the last segment ends in half a frame. Its records are not lost: the
    // resume point went with them, so they are read from the stream again, exactly once.
    let (_, last) = owned.last().expect("last segment");
    let len = std::fs::metadata(last).expect("segment").len();
    std::fs::OpenOptions::new().write(true).open(last).expect("open").set_len(len - 5).expect("truncate");
    server.restart();
    let client = server.connect().await;
    let ledger_sum = (1..=300).sum::<i64>().to_string();
    let sql = "SELECT count(*), sum(text::bigint), count(DISTINCT text) FROM waves";
    eventually(&client, sql, &[&["300", &ledger_sum, "300"]]).await;
    assert!(server.log().contains("cutting torn log tail"), "the cut is logged");
    drop(client);
    assert!(server.stop().success());

    // Damage inside an earlier segment cannot be a crash: the source stops with an error naming
    // the file instead of serving a silently shortened history; the server keeps serving.
    let logs = segments(&dir);
    let owned = logs.get(stem.as_str()).expect("the log is still there");
    let (_, earlier) = &owned[owned.len() - 2];
    let mut bytes = std::fs::read(earlier).expect("segment");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(earlier, &bytes).expect("write");
    server.restart();
    let client = server.connect().await;
    let file_name = earlier.file_name().expect("name").to_string_lossy().to_string();
    let error = wait_for_error(&client, "SELECT count(*) FROM waves", "corrupt").await;
    assert!(error.contains(&file_name), "the error names the damaged file: {error}");
    assert_eq!(query(&client, "SELECT 1").await, Ok(vec![vec![Some("1".to_string())]]));
}

/// The source's row of `mz_internal.mz_source_statuses`: status and error.
async fn source_status(client: &tokio_postgres::Client, name: &str) -> Result<Vec<Option<String>>, String> {
    let sql = format!("SELECT status, error FROM mz_internal.mz_source_statuses WHERE name = '{name}'");
    Ok(query(client, &sql).await?.into_iter().next().unwrap_or_default())
}

async fn wait_for_status(client: &tokio_postgres::Client, name: &str, status: &str) -> Vec<Option<String>> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let seen = source_status(client, name).await;
        if let Ok(row) = &seen {
            if row.first().cloned().flatten().as_deref() == Some(status) {
                return row.clone();
            }
        }
        assert!(Instant::now() < deadline, "source {name} never became {status}: {seen:?}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_log_that_cannot_be_written_stalls_the_source_until_it_can() {
    let (mut emulator, mut server, client) = text_source("waves", 1).await;
    put_in_waves(&client, &emulator, 1, 31).await;
    assert_eq!(source_status(&client, "waves").await, Ok(vec![Some("running".into()), None]));

    // The next segment of every log cannot be created (a directory holds its name): the write
    // error a full disk gives. Ingestion must stop and say so, and emit nothing it did not persist.
    let dir = server.data_dir().join("sources");
    let blockers: Vec<std::path::PathBuf> = segments(&dir)
        .iter()
        .map(|(stem, owned)| dir.join(format!("{stem}-{:010}.seg", owned.last().map_or(0, |(n, _)| n + 1))))
        .collect();
    for blocker in &blockers {
        std::fs::create_dir(blocker).expect("block the next segment");
    }
    for i in 31..=130 {
        emulator.put_record("waves", &format!("k{i}"), i.to_string().as_bytes()).await;
    }
    let stalled = wait_for_status(&client, "waves", "stalled").await;
    let error = stalled.get(1).cloned().flatten().unwrap_or_default();
    assert!(error.contains("cannot persist ingested records"), "{error}");
    assert!(server.log().contains("source log append failed"), "the stall is in the server log");

    // Space is back: the pending records are committed and emitted, exactly once.
    for blocker in &blockers {
        std::fs::remove_dir(blocker).expect("unblock");
    }
    wait_for_status(&client, "waves", "running").await;
    let total = (1..=130).sum::<i64>().to_string();
    eventually(&client, "SELECT count(*), sum(text::bigint) FROM waves", &[&["130", &total]]).await;
    let expected = vec![vec![Some("130".to_string()), Some(total)]];
    drop(client);
    server.kill();
    emulator.kill();
    server.restart();
    let client = server.connect().await;
    assert_eq!(query(&client, "SELECT count(*), sum(text::bigint) FROM waves").await, Ok(expected));
}
