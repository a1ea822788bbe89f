//! Benchmark 4, freshness: the time from a PutRecord's acknowledgement until the record arrives
//! through a SUBSCRIBE to a Freshet view, beside the time until a bare SDK consumer, polling the same
//! stream at the same interval as Freshet's reader, has it. The difference is Freshet's overhead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use futures::StreamExt;
use tokio_postgres::SimpleQueryMessage;

use crate::emulator::{bench_record, Emulator};
use crate::error::{BenchError, Result};
use crate::freshet::{execute, sql_error, Server};
use crate::report::{progress, Summary, Target};
use crate::stats::percentile;
use crate::Plan;

const STREAM: &str = "bench-freshness";
/// Freshet's shard reader starts a call this long after the start of one that returned nothing
/// (`CAUGHT_UP_GAP` in crates/kinesis/src/shard.rs), and calls at least `MIN_GAP` apart; the bare
/// consumer does too.
const CAUGHT_UP_GAP: Duration = Duration::from_millis(250);
const MIN_GAP: Duration = Duration::from_millis(200);
/// The least pause between two puts (a varying 0-10 ms is added).
const PUT_PAUSE: Duration = Duration::from_millis(15);
/// Records put and not timed before the measured ones.
const WARMUP_RECORDS: u64 = 20;

/// When the bare consumer first saw each record id.
type Seen = Arc<Mutex<HashMap<u64, Instant>>>;

pub async fn run(plan: &Plan, emulator: &Emulator, server: &Server, summary: &mut Summary) -> Result<()> {
    emulator.create_stream(STREAM, 1).await?;
    let shard =
        emulator.shard_ids(STREAM).await?.into_iter().next().ok_or_else(|| BenchError::Setup("no shard".into()))?;
    let client = server.connect().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE fresh_src FROM KINESIS ARN '{}' FORMAT JSON;
             CREATE MATERIALIZED VIEW fresh_mv AS SELECT (data->>'id')::bigint AS id FROM fresh_src;",
            emulator.stream_arn(STREAM)
        ),
    )
    .await?;
    let seen: Seen = Arc::default();
    let consumer = tokio::spawn(bare_consumer(emulator.client().clone(), shard, seen.clone()));
    // Let both readers reach the (empty) end of the stream before the first sample.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let result = samples(plan, emulator, server, &seen).await;
    consumer.abort();
    let (freshet, bare) = result?;
    let p = |v: &[f64], q: f64| percentile(v, q).unwrap_or(f64::NAN);
    let n = freshet.len();
    summary.add(
        "freshness_p50_ms",
        p(&freshet, 50.0),
        Target::None,
        format!("PutRecord ack -> row arrives through SUBSCRIBE to a view, {n} records"),
    );
    summary.add("freshness_p99_ms", p(&freshet, 99.0), Target::None, "");
    summary.add(
        "freshness_bare_p50_ms",
        p(&bare, 50.0),
        Target::None,
        "ack -> seen by a bare SDK consumer at the same interval",
    );
    summary.add("freshness_bare_p99_ms", p(&bare, 99.0), Target::None, "");
    summary.add(
        "freshness_p50_overhead_ms",
        p(&freshet, 50.0) - p(&bare, 50.0),
        Target::AtMost(5.0),
        "freshet p50 - bare p50",
    );
    summary.add(
        "freshness_p99_overhead_ms",
        p(&freshet, 99.0) - p(&bare, 99.0),
        Target::AtMost(50.0),
        "freshet p99 - bare p99",
    );
    Ok(())
}

/// Puts records one at a time at a steady ~50 records/s (far below a shard's 1,000/s), so that
/// put times sample every phase of both readers' polling rhythm evenly instead of a few hundred random
/// phases; per record, the milliseconds until Freshet's view and the bare consumer showed it.
async fn samples(plan: &Plan, emulator: &Emulator, server: &Server, seen: &Seen) -> Result<(Vec<f64>, Vec<f64>)> {
    let visible: Seen = Arc::default();
    let mut subscriber = tokio::spawn(view_subscriber(server.connect().await?, visible.clone()));
    let total = plan.freshness_samples as u64 + WARMUP_RECORDS;
    let mut acked = Vec::with_capacity(total as usize);
    for id in 0..total {
        if id % 100 == 0 {
            progress(&format!("freshness: record {id}/{total}"));
        }
        acked.push(emulator.put_one(STREAM, &format!("k{id}"), bench_record(id)).await?);
        tokio::time::sleep(PUT_PAUSE + Duration::from_millis(id * 7 % 11)).await;
    }
    let last = total - 1;
    let waited = async {
        wait_seen(&visible, last, "Freshet's view", plan.limit).await?;
        wait_seen(seen, last, "the bare consumer", plan.limit).await
    };
    let waited = tokio::select! {
        waited = waited => waited,
        ended = &mut subscriber => Err(match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => BenchError::Setup("the view subscriber stopped".into()),
            Err(e) => BenchError::Setup(format!("the view subscriber: {e}")),
        }),
    };
    subscriber.abort();
    waited?;
    let (visible, seen) = (snapshot(&visible), snapshot(seen));
    let mut freshet = Vec::new();
    let mut bare = Vec::new();
    for (id, acked) in acked.iter().enumerate().skip(WARMUP_RECORDS as usize) {
        let id = id as u64;
        let (Some(v), Some(c)) = (visible.get(&id), seen.get(&id)) else {
            return Err(BenchError::Setup(format!("record {id} was never seen by both readers")));
        };
        freshet.push(v.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
        bare.push(c.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
    }
    Ok((freshet, bare))
}

fn snapshot(seen: &Seen) -> HashMap<u64, Instant> {
    seen.lock().map(|map| map.clone()).unwrap_or_default()
}

/// Subscribes to the view, noting when each id arrives. Runs until the
/// subscription ends or it is aborted.
async fn view_subscriber(client: tokio_postgres::Client, visible: Seen) -> Result<()> {
    // The view is empty until the first put, so its snapshot is empty too.
    let sql = "SUBSCRIBE fresh_mv";
    let stream = client.simple_query_raw(sql).await.map_err(|e| sql_error(sql, &e))?;
    futures::pin_mut!(stream);
    while let Some(message) = stream.next().await {
        let now = Instant::now();
        if let SimpleQueryMessage::Row(row) = message.map_err(|e| sql_error(sql, &e))? {
            // Columns: mz_timestamp, mz_diff, id.
            let id = row.get(2).and_then(|id| id.parse::<u64>().ok());
            let id =
                id.ok_or_else(|| BenchError::Parse { what: sql.into(), detail: format!("row {:?}", row.get(2)) })?;
            if let Ok(mut map) = visible.lock() {
                map.entry(id).or_insert(now);
            }
        }
    }
    Err(BenchError::Setup("the subscription ended".into()))
}

async fn wait_seen(seen: &Seen, id: u64, by: &str, limit: Duration) -> Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(at) = seen.lock().ok().and_then(|map| map.get(&id).copied()) {
            return Ok(at);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout { what: format!("{by} seeing record {id}"), limit });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Tails one shard from TRIM_HORIZON with Freshet's reader's rhythm (crates/kinesis/src/shard.rs:
/// the next call starts `MIN_GAP` after the start of one that returned records while the shard is
/// still behind, else `CAUGHT_UP_GAP` after it), noting when each record id arrives. Runs until
/// aborted.
async fn bare_consumer(client: Client, shard: String, seen: Seen) -> Result<()> {
    let out = client
        .get_shard_iterator()
        .stream_name(STREAM)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(|e| BenchError::kinesis("GetShardIterator", e))?;
    let mut iterator = out.shard_iterator().map(str::to_string);
    while let Some(it) = iterator {
        let called = tokio::time::Instant::now();
        let out = client
            .get_records()
            .shard_iterator(it)
            .limit(10_000)
            .send()
            .await
            .map_err(|e| BenchError::kinesis("GetRecords", e))?;
        let now = Instant::now();
        if let Ok(mut map) = seen.lock() {
            for record in out.records() {
                if let Some(id) = record_id(record.data().as_ref()) {
                    map.entry(id).or_insert(now);
                }
            }
        }
        let behind = out.millis_behind_latest().is_some_and(|ms| ms > 0);
        tokio::time::sleep_until(called + if !out.records().is_empty() && behind { MIN_GAP } else { CAUGHT_UP_GAP })
            .await;
        iterator = out.next_shard_iterator().map(str::to_string);
    }
    Ok(())
}

fn record_id(data: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(data).ok()?.get("id")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_read_back() {
        assert_eq!(record_id(&bench_record(42)), Some(42));
        assert_eq!(record_id(b"not json"), None);
    }
}
