//! The benchmarks' Kinesis emulator (npm `kinesalite`, pinned in `crates/bench/kinesalite/`) as a
//! child process on a loopback port, the benchmark records, filling a stream with them, and the
//! bare `aws-sdk-kinesis` reader that is the yardstick for Freshet's ingest. In memory: the
//! benchmarks never restart the emulator.
//!
//! Not the integration tests' `kinesis-local`: its writes slow down as a stream grows (PutRecords
//! hashes the shard's whole record vector per entry; 2,409 records/s for the first 10,000 records
//! of a 64-shard stream, 448 records/s at 90,000; a single PutRecord costs ~5 ms), so it cannot
//! hold the 1,000,000 records the recovery benchmark needs. kinesalite writes ~16,000 records/s at
//! any size.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;

use crate::error::{BenchError, Result};
use crate::procs::{free_port, repo_root, run, TempDir};
use crate::report::progress;

const REGION: &str = "us-east-1";
const ACCESS_KEY_ID: &str = "freshet-bench-key";
const SECRET_ACCESS_KEY: &str = "freshet-bench-secret";
const START_LIMIT: Duration = Duration::from_secs(90);
/// Records per PutRecords call (the Kinesis maximum).
const PUT_BATCH: usize = 500;
/// PutRecords calls kept outstanding while filling a stream.
pub const PUTS_IN_FLIGHT: usize = 4;
/// Records between two progress lines while filling a stream.
const FILL_REPORT_EVERY: u64 = 50_000;

/// A running emulator, killed when dropped.
pub struct Emulator {
    port: u16,
    child: Option<Child>,
    client: Client,
    _temp: TempDir,
}

impl Emulator {
    /// Installs the emulator with `npm ci` if needed, starts it and waits until it answers.
    pub async fn start() -> Result<Emulator> {
        let package_dir = ensure_installed()?;
        let temp = TempDir::new("emulator")?;
        let log_path = temp.path().join("emulator.log");
        let log = std::fs::File::create(&log_path).map_err(|e| BenchError::io("create the emulator log", e))?;
        let log_err = log.try_clone().map_err(|e| BenchError::io("clone the emulator log handle", e))?;
        let port = free_port()?;
        let child = Command::new("node")
            .arg("cli.js")
            .args(["--port", &port.to_string()])
            .args(["--createStreamMs", "50", "--deleteStreamMs", "50", "--shardLimit", "100"])
            .current_dir(&package_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| BenchError::io("start the emulator with `node cli.js`", e))?;
        let client = sdk_client(&format!("http://127.0.0.1:{port}"));
        let mut emulator = Emulator { port, child: Some(child), client, _temp: temp };
        emulator.wait_ready().await?;
        Ok(emulator)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        while self.client.list_streams().send().await.is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(BenchError::Setup(format!("the emulator exited with {status}")));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout { what: "emulator start-up".into(), limit: START_LIMIT });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Environment for a Freshet server that should read from this emulator.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL_KINESIS".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_ACCESS_KEY.into()),
            ("AWS_REGION".into(), REGION.into()),
        ]
    }

    pub fn stream_arn(&self, stream: &str) -> String {
        format!("arn:aws:kinesis:{REGION}:000000000000:stream/{stream}")
    }

    /// Creates a stream and waits until it is ACTIVE.
    pub async fn create_stream(&self, stream: &str, shards: i32) -> Result<()> {
        self.client
            .create_stream()
            .stream_name(stream)
            .shard_count(shards)
            .send()
            .await
            .map_err(|e| BenchError::kinesis("CreateStream", e))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let summary = self.client.describe_stream_summary().stream_name(stream).send().await;
            let active = summary
                .ok()
                .and_then(|s| s.stream_description_summary().map(|d| d.stream_status() == &StreamStatus::Active));
            if active == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: format!("stream {stream} ACTIVE"),
                    limit: Duration::from_secs(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Puts `count` benchmark records (numbered from `first`) with PutRecords of [`PUT_BATCH`],
    /// [`PUTS_IN_FLIGHT`] calls outstanding; reports progress and returns the total payload bytes.
    pub async fn fill(&self, stream: &str, first: u64, count: u64) -> Result<u64> {
        use futures::StreamExt;
        let end = first + count;
        let batches = (first..end).step_by(PUT_BATCH).map(|start| (start, (start + PUT_BATCH as u64).min(end)));
        let mut puts = futures::stream::iter(batches)
            .map(|(start, stop)| async move { self.put_batch(stream, start, stop).await.map(|b| (b, stop - start)) })
            .buffer_unordered(PUTS_IN_FLIGHT);
        let started = Instant::now();
        let (mut bytes, mut done, mut reported) = (0u64, 0u64, 0u64);
        while let Some(result) = puts.next().await {
            let (batch_bytes, batch_records) = result?;
            bytes += batch_bytes;
            done += batch_records;
            if done - reported >= FILL_REPORT_EVERY {
                reported = done;
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                progress(&format!("filling {stream}: {done}/{count} records, {rate:.0} records/s"));
            }
        }
        Ok(bytes)
    }

    async fn put_batch(&self, stream: &str, start: u64, end: u64) -> Result<u64> {
        let mut entries = Vec::with_capacity((end - start) as usize);
        let mut bytes = 0u64;
        for i in start..end {
            let record = bench_record(i);
            bytes += record.len() as u64;
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(format!("user-{i}"))
                .data(Blob::new(record))
                .build()
                .map_err(|e| BenchError::kinesis("PutRecords (entry)", e))?;
            entries.push(entry);
        }
        let out = self
            .client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| BenchError::kinesis("PutRecords", e))?;
        match out.failed_record_count() {
            Some(failed) if failed > 0 => {
                Err(BenchError::Kinesis { call: "PutRecords", message: format!("{failed} records failed") })
            }
            _ => Ok(bytes),
        }
    }

    /// Puts one record; the instant the put was acknowledged.
    pub async fn put_one(&self, stream: &str, key: &str, data: Vec<u8>) -> Result<Instant> {
        self.client
            .put_record()
            .stream_name(stream)
            .partition_key(key)
            .data(Blob::new(data))
            .send()
            .await
            .map_err(|e| BenchError::kinesis("PutRecord", e))?;
        Ok(Instant::now())
    }

    pub async fn shard_ids(&self, stream: &str) -> Result<Vec<String>> {
        let out = self
            .client
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| BenchError::kinesis("ListShards", e))?;
        Ok(out.shards().iter().map(|s| s.shard_id().to_string()).collect())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One benchmark record: JSON of about 200 bytes with a region to group by and an amount to sum.
pub fn bench_record(i: u64) -> Vec<u8> {
    let region = ["eu-west", "us-east", "ap-south", "sa-east"][(i % 4) as usize];
    format!(
        r#"{{"id":{i},"user":"user-{:06}","region":"{region}","amount":{},"ts":"2026-11-24T21:00:00.000Z","payload":"{:0>92}"}}"#,
        i % 100_000,
        i % 1000,
        i
    )
    .into_bytes()
}

/// The expected `sum(amount)` over records `0..count`.
pub fn expected_amount_sum(count: u64) -> i64 {
    (0..count).map(|i| (i % 1000) as i64).sum()
}

/// Drains `expected` records from every shard of `stream` with one task per shard (GetRecords,
/// Limit 10000, no processing); the elapsed time from the first call to the last record.
pub async fn bare_drain(
    client: &Client,
    stream: &str,
    shards: &[String],
    expected: u64,
    limit: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let tasks =
        shards.iter().map(|shard| drain_shard(client.clone(), stream.to_string(), shard.clone(), started + limit));
    let counts = futures::future::try_join_all(tasks.map(tokio::spawn))
        .await
        .map_err(|e| BenchError::Setup(format!("a bare reader task failed: {e}")))?;
    let mut total = 0;
    for count in counts {
        total += count?;
    }
    if total != expected {
        return Err(BenchError::Parse {
            what: "bare reader".into(),
            detail: format!("read {total}, expected {expected}"),
        });
    }
    Ok(started.elapsed())
}

/// Reads one shard from TRIM_HORIZON until a call returns nothing and reports it is caught up.
async fn drain_shard(client: Client, stream: String, shard: String, deadline: Instant) -> Result<u64> {
    let out = client
        .get_shard_iterator()
        .stream_name(&stream)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(|e| BenchError::kinesis("GetShardIterator", e))?;
    let mut iterator = out.shard_iterator().map(str::to_string);
    let mut count = 0u64;
    while let Some(it) = iterator {
        let out = client
            .get_records()
            .shard_iterator(it)
            .limit(10_000)
            .send()
            .await
            .map_err(|e| BenchError::kinesis("GetRecords", e))?;
        count += out.records().len() as u64;
        if out.records().is_empty() && out.millis_behind_latest().unwrap_or(0) == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout { what: format!("bare reader draining {shard}"), limit: Duration::ZERO });
        }
        iterator = out.next_shard_iterator().map(str::to_string);
    }
    Ok(count)
}

/// An SDK client with dummy credentials for `endpoint`.
pub fn sdk_client(endpoint: &str) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "freshet-bench"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// Runs `npm ci` when the emulator package is missing; returns the package's folder.
fn ensure_installed() -> Result<PathBuf> {
    let emulator_dir = repo_root()?.join("crates/bench/kinesalite");
    let package_dir = emulator_dir.join("node_modules/kinesalite");
    if !package_dir.join("cli.js").is_file() {
        run(Command::new("npm").arg("ci").arg("--prefix").arg(&emulator_dir), "npm ci (the Kinesis emulator)")?;
    }
    Ok(package_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_of_about_200_bytes() {
        for i in [0u64, 7, 123_456, 9_999_999] {
            let record = bench_record(i);
            assert!((180..=220).contains(&record.len()), "{} bytes", record.len());
            let value: serde_json::Value = serde_json::from_slice(&record).unwrap();
            assert_eq!(value["id"], serde_json::json!(i));
            assert_eq!(value["amount"], serde_json::json!(i % 1000));
        }
    }

    #[test]
    fn expected_sum_matches_the_records() {
        let sum: i64 = (0..2500u64)
            .map(|i| serde_json::from_slice::<serde_json::Value>(&bench_record(i)).unwrap()["amount"].as_i64().unwrap())
            .sum();
        assert_eq!(expected_amount_sum(2500), sum);
    }
}
