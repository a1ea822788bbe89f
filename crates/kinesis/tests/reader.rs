//! The reader against a real Kinesis emulator: exactly-once delivery across shards, records put
//! while reading, start positions, shard ownership, a missing or deleted stream, a dead endpoint,
//! and an emulator restart mid-stream.

#[path = "../../../tests/support/emulator.rs"]
mod emulator;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emulator::Emulator;
use freshet_kinesis::{
    Credentials, KinesisClient, KinesisError, KinesisRecord, ReaderEvent, ReaderHandle, StartPosition, StreamConfig,
};

const DEADLINE: Duration = Duration::from_secs(60);

fn stream_config(endpoint: &str, stream: &str) -> StreamConfig {
    StreamConfig {
        region: emulator::REGION.into(),
        stream_name: stream.into(),
        endpoint: Some(endpoint.into()),
        credentials: Credentials::Static {
            access_key_id: emulator::ACCESS_KEY_ID.into(),
            secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
            token: None,
        },
        role_arn: None,
    }
}

/// Collects every event a reader sends.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<ReaderEvent>>>);

impl Events {
    fn records(&self) -> Vec<KinesisRecord> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .flat_map(|e| match e {
                ReaderEvent::Records { records, .. } => records.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn fatal_errors(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                ReaderEvent::Error { message, fatal: true } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    async fn wait_for_records(&self, count: usize) -> Vec<KinesisRecord> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let records = self.records();
            if records.len() >= count {
                return records;
            }
            assert!(Instant::now() < deadline, "only {} of {count} records arrived; events: {:?}", records.len(), {
                let events = self.0.lock().unwrap();
                events.iter().filter(|e| !matches!(e, ReaderEvent::Records { .. })).cloned().collect::<Vec<_>>()
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn spawn(
    client: &KinesisClient,
    owns: impl Fn(&str) -> bool + Send + Sync + 'static,
    start: impl Fn(&str) -> StartPosition + Send + Sync + 'static,
) -> (ReaderHandle, Events) {
    let events = Events::default();
    let sink = events.clone();
    let handle = client.spawn_reader(
        &tokio::runtime::Handle::current(),
        Box::new(owns),
        Box::new(start),
        Box::new(move |e| sink.0.lock().unwrap().push(e)),
    );
    (handle, events)
}

/// Asserts every record's data is unique, and sequence numbers grow within each shard.
fn assert_exactly_once_in_order(records: &[KinesisRecord]) -> HashSet<Vec<u8>> {
    let unique: HashSet<Vec<u8>> = records.iter().map(|r| r.data.clone()).collect();
    assert_eq!(unique.len(), records.len(), "duplicate records were delivered");
    // Sequence numbers are decimal strings too long for u128: compare by length, then digits.
    let mut last: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for r in records {
        let seq = (r.sequence_number.len(), r.sequence_number.as_str());
        if let Some(prev) = last.insert(&r.shard_id, seq) {
            assert!(seq > prev, "shard {} went back from {prev:?} to {seq:?}", r.shard_id);
        }
    }
    unique
}

async fn put_range(emu: &Emulator, stream: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    let mut put = Vec::new();
    for i in range {
        put.push(emu.put_record(stream, &format!("key-{i}"), format!("record-{i}").as_bytes()).await);
    }
    put
}

fn expected(range: std::ops::Range<usize>) -> HashSet<Vec<u8>> {
    range.map(|i| format!("record-{i}").into_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_record_exactly_once_including_new_ones() {
    let emu = Emulator::start().await;
    emu.create_stream("s", 3).await;
    let put = put_range(&emu, "s", 0..300).await;
    let shards: HashSet<&str> = put.iter().map(|(shard, _)| shard.as_str()).collect();
    assert_eq!(shards.len(), 3, "300 keys should hash to all three shards");

    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "s")).await.unwrap();
    client.check_stream().await.unwrap();
    let (_handle, events) = spawn(&client, |_| true, |_| StartPosition::TrimHorizon);
    let records = events.wait_for_records(300).await;
    assert_eq!(assert_exactly_once_in_order(&records), expected(0..300));
    assert!(records.iter().all(|r| r.partition_key.starts_with("key-") && r.arrival_ms.is_some()));

    put_range(&emu, "s", 300..330).await;
    let records = events.wait_for_records(330).await;
    assert_eq!(assert_exactly_once_in_order(&records), expected(0..330));
    assert!(events.fatal_errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_start_positions_and_shard_ownership() {
    let emu = Emulator::start().await;
    emu.create_stream("s", 2).await;
    let put = put_range(&emu, "s", 0..60).await;
    let owned = put[0].0.clone();
    // Resume after the fifth record of the owned shard.
    let owned_records: Vec<usize> = (0..60).filter(|&i| put[i].0 == owned).collect();
    let resume_seq = put[owned_records[4]].1.clone();

    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "s")).await.unwrap();
    let owned_id = owned.clone();
    let (_handle, events) =
        spawn(&client, move |shard| shard == owned_id, move |_| StartPosition::AfterSequenceNumber(resume_seq.clone()));
    let want: HashSet<Vec<u8>> = owned_records[5..].iter().map(|i| format!("record-{i}").into_bytes()).collect();
    let records = events.wait_for_records(want.len()).await;
    assert!(records.iter().all(|r| r.shard_id == owned));
    assert_eq!(assert_exactly_once_in_order(&records), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stream_and_dead_endpoint_fail_clearly() {
    let emu = Emulator::start().await;
    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "nope")).await.unwrap();
    assert_eq!(client.check_stream().await, Err(KinesisError::StreamNotFound("nope".into())));

    // Nothing listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = KinesisClient::connect(stream_config(&format!("http://127.0.0.1:{port}"), "s")).await.unwrap();
    let started = Instant::now();
    match client.check_stream().await {
        Err(KinesisError::Request(message)) => {
            eprintln!("{message}");
            assert!(message.contains("DescribeStreamSummary"), "{message}")
        }
        other => panic!("expected a request error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_stream_is_fatal_once() {
    let emu = Emulator::start().await;
    emu.create_stream("s", 2).await;
    put_range(&emu, "s", 0..10).await;
    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "s")).await.unwrap();
    let (handle, events) = spawn(&client, |_| true, |_| StartPosition::TrimHorizon);
    events.wait_for_records(10).await;

    emu.delete_stream("s").await;
    let deadline = Instant::now() + DEADLINE;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the reader kept running after the stream was deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fatal = events.fatal_errors();
    assert_eq!(fatal.len(), 1, "{fatal:?}");
    assert!(fatal[0].contains("no longer exists") || fatal[0].contains("cannot list"), "{}", fatal[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_an_emulator_restart_without_loss_or_duplicates() {
    let mut emu = Emulator::start().await;
    emu.create_stream("s", 2).await;
    put_range(&emu, "s", 0..50).await;
    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "s")).await.unwrap();
    let (_handle, events) = spawn(&client, |_| true, |_| StartPosition::TrimHorizon);
    events.wait_for_records(50).await;

    let restart_started = Instant::now();
    emu.restart().await;
    eprintln!("restart took {:?}", restart_started.elapsed());
    put_range(&emu, "s", 50..100).await;
    let records = events.wait_for_records(100).await;
    assert_eq!(assert_exactly_once_in_order(&records), expected(0..100));
    assert!(events.fatal_errors().is_empty(), "{:?}", events.fatal_errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_fail_clearly_without_hanging() {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() || std::env::var_os("AWS_PROFILE").is_some() {
        return; // The environment provides credentials; nothing to check here.
    }
    let emu = Emulator::start().await;
    emu.create_stream("s", 1).await;
    let mut config = stream_config(&emu.endpoint(), "s");
    config.credentials = Credentials::Profile("freshet-no-such-profile".into());
    let client = KinesisClient::connect(config).await.unwrap();
    let started = Instant::now();
    let result = client.check_stream().await;
    eprintln!("{result:?} after {:?}", started.elapsed());
    match result {
        Err(KinesisError::Request(message)) => assert!(message.to_lowercase().contains("credentials"), "{message}"),
        other => panic!("expected a credentials error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_parents_before_children_across_a_split() {
    let emu = Emulator::start().await;
    emu.create_stream("s", 1).await;
    put_range(&emu, "s", 0..40).await;
    let client = KinesisClient::connect(stream_config(&emu.endpoint(), "s")).await.unwrap();
    let (_handle, events) = spawn(&client, |_| true, |_| StartPosition::TrimHorizon);
    events.wait_for_records(40).await;

    emu.client()
        .update_shard_count()
        .stream_name("s")
        .target_shard_count(2)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    emu.wait_active("s").await;
    let put = put_range(&emu, "s", 40..100).await;
    let records = events.wait_for_records(100).await;
    assert_eq!(assert_exactly_once_in_order(&records), expected(0..100));

    let parent = records[0].shard_id.clone();
    let children: HashSet<&str> = put.iter().map(|(shard, _)| shard.as_str()).collect();
    assert!(!children.contains(parent.as_str()), "records after the split went to the parent");
    // No child record may be delivered before the parent's ShardEnded.
    let log = events.0.lock().unwrap().clone();
    let ended_at = log
        .iter()
        .position(|e| matches!(e, ReaderEvent::ShardEnded { shard_id } if *shard_id == parent))
        .expect("the parent shard never ended");
    let first_child = log
        .iter()
        .position(|e| matches!(e, ReaderEvent::Records { shard_id, .. } if children.contains(shard_id.as_str())))
        .unwrap();
    assert!(ended_at < first_child, "a child was read before its parent ended");
}
