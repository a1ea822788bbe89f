//! Benchmark 1, ingest efficiency: records/s from a pre-filled 4-shard stream into a materialized
//! view (`->>` extraction, GROUP BY with count and sum) divided by the rate at which a bare SDK
//! reader drains the same stream from the same emulator, pair by pair.

use std::time::{Duration, Instant};

use crate::emulator::{bare_drain, expected_amount_sum, Emulator, PUTS_IN_FLIGHT};
use crate::error::{BenchError, Result};
use crate::freshet::{execute, scalar_i64, subscribe_until, Server};
use crate::report::{progress, Summary, Target};
use crate::stats::{median, median_ratio};
use crate::Plan;

/// The stream the ingest and memory benchmarks read.
pub const INGEST_STREAM: &str = "bench-ingest";
const SHARDS: i32 = 4;

/// A pre-filled stream: the ingest and memory benchmarks share one, recovery has its own.
pub struct Stream {
    pub name: &'static str,
    pub records: u64,
    /// Total payload bytes of the records.
    pub bytes: u64,
    /// How long PutRecords took to fill it (the emulator's write rate).
    pub fill_time: Duration,
}

/// Creates a 4-shard stream and fills it with benchmark records.
pub async fn prepare_stream(emulator: &Emulator, name: &'static str, records: u64) -> Result<Stream> {
    progress(&format!("filling the {SHARDS}-shard stream {name} with {records} records"));
    emulator.create_stream(name, SHARDS).await?;
    let started = Instant::now();
    let bytes = emulator.fill(name, 0, records).await?;
    Ok(Stream { name, records, bytes, fill_time: started.elapsed() })
}

pub async fn run(
    plan: &Plan,
    emulator: &Emulator,
    server: &Server,
    stream: &Stream,
    summary: &mut Summary,
) -> Result<()> {
    let (records, bytes, fill_time) = (stream.records, stream.bytes, stream.fill_time);
    let stream = stream.name;
    let shards = emulator.shard_ids(stream).await?;
    let client = server.connect().await?;
    let mut pairs = Vec::new();
    for run in 0..plan.short_pairs + 1 {
        let label = if run == 0 { "warm-up".to_string() } else { format!("run {run}/{}", plan.short_pairs) };
        // Each reader goes first in every other pair, so that neither always meets the emulator
        // as the other left it.
        let bare = || {
            progress(&format!("ingest: {label}: bare SDK reader"));
            bare_drain(emulator.client(), stream, &shards, records, plan.limit)
        };
        let freshet = || {
            progress(&format!("ingest: {label}: freshet source -> materialized view"));
            freshet_ingest(&client, server, emulator, stream, run, records, plan.limit)
        };
        let (bare, freshet) = if run % 2 == 0 {
            let bare = bare().await?;
            (bare, freshet().await?)
        } else {
            let freshet = freshet().await?;
            (bare().await?, freshet)
        };
        if run > 0 {
            pairs.push((records as f64 / freshet.as_secs_f64(), records as f64 / bare.as_secs_f64()));
        }
    }
    let ratio = median_ratio(&pairs).ok_or_else(|| BenchError::Setup("no ingest runs".into()))?;
    let freshet_rate = median(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let bare_rate = median(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let size = format!("{records} records of ~{} B, {SHARDS} shards", bytes / records.max(1));
    summary.add(
        "ingest_ratio",
        ratio,
        Target::AtLeast(0.9),
        format!("freshet/bare reader, median of {} pairs; {size}", pairs.len()),
    );
    summary.add("ingest_freshet_records_per_s", freshet_rate, Target::None, "source -> GROUP BY view, median");
    summary.add("ingest_bare_records_per_s", bare_rate, Target::None, "bare SDK reader = emulator's read ceiling");
    summary.add(
        "emulator_put_records_per_s",
        records as f64 / fill_time.as_secs_f64(),
        Target::None,
        format!("PutRecords of 500, {PUTS_IN_FLIGHT} in flight (emulator's write ceiling)"),
    );
    Ok(())
}

/// Creates a source and a GROUP BY view over it, and times until the view has counted every record
/// (then checks the sum too); drops both afterwards. A subscription to the count says when, without
/// a polling interval (10 ms polls once added 5 ms on average and a query per poll).
async fn freshet_ingest(
    client: &tokio_postgres::Client,
    server: &Server,
    emulator: &Emulator,
    stream: &str,
    run: u32,
    records: u64,
    limit: Duration,
) -> Result<Duration> {
    let (source, view) = (format!("ingest_src_{run}"), format!("ingest_mv_{run}"));
    let watcher = server.connect().await?;
    let started = Instant::now();
    execute(
        client,
        &format!(
            "CREATE SOURCE {source} FROM KINESIS ARN '{}' FORMAT JSON;
             CREATE MATERIALIZED VIEW {view} AS
               SELECT data->>'region' AS region, count(*) AS n, sum((data->>'amount')::bigint) AS amount
               FROM {source} GROUP BY data->>'region';",
            emulator.stream_arn(stream)
        ),
    )
    .await?;
    let done = subscribe_until(&watcher, &format!("SELECT sum(n) FROM {view}"), records as i64, limit).await?;
    let elapsed = done.duration_since(started);
    drop(watcher);
    let amount = scalar_i64(client, &format!("SELECT sum(amount) FROM {view}")).await?;
    if amount != expected_amount_sum(records) {
        return Err(BenchError::Parse {
            what: view.clone(),
            detail: format!("sum(amount) = {amount}, expected {}", expected_amount_sum(records)),
        });
    }
    execute(client, &format!("DROP MATERIALIZED VIEW {view}; DROP SOURCE {source};")).await?;
    Ok(elapsed)
}
