//! Benchmark 7a, engine throughput without I/O: the ingest benchmark's decode-and-aggregate view
//! (JSON parse, `->>` extraction, GROUP BY with count and sum) built over the same records held in a
//! table in memory, beside the rate at which bare `serde_json` parses those records on one thread of
//! this process. No Kinesis involved.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::emulator::{bench_record, expected_amount_sum};
use crate::error::{BenchError, Result};
use crate::freshet::{execute, scalar_i64, subscribe_until, Server};
use crate::report::{progress, Summary, Target};
use crate::stats::{median, median_ratio};
use crate::Plan;

/// Rows per INSERT while loading.
const BATCH: u64 = 1000;

pub async fn run(plan: &Plan, server: &Server, summary: &mut Summary) -> Result<()> {
    let records = plan.engine_records;
    progress(&format!("engine: loading {records} JSON records into a table"));
    let client = server.connect().await?;
    load(&client, records).await?;
    server.settle().await?;
    let mut pairs = Vec::new();
    for run in 0..plan.runs + 1 {
        progress(&format!("engine: run {run}/{}: bare serde_json, then the view", plan.runs));
        let parse_rate = bare_parse_rate(records)?;
        let engine = build_view(&client, server, run, records, plan.limit).await?;
        if run > 0 {
            pairs.push((records as f64 / engine.as_secs_f64() / plan.workers as f64, parse_rate));
        }
    }
    let per_worker = median(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let parse = median(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    let note = format!("{records} records from a table -> GROUP BY view, / {} workers", plan.workers);
    summary.add("engine_records_per_s_per_worker", per_worker, Target::AtLeast(1_000_000.0), note);
    summary.add(
        "engine_vs_parse_ratio",
        median_ratio(&pairs).unwrap_or(f64::NAN),
        Target::AtLeast(0.5),
        "per-worker engine rate / one thread of bare serde_json",
    );
    summary.add("engine_bare_parse_records_per_s", parse, Target::None, "serde_json::Value, one thread");
    Ok(())
}

async fn load(client: &Client, records: u64) -> Result<()> {
    execute(client, "CREATE TABLE raw (data text NOT NULL)").await?;
    let mut start = 0;
    while start < records {
        let end = (start + BATCH).min(records);
        let values: Vec<String> = (start..end)
            .map(|i| format!("('{}')", String::from_utf8_lossy(&bench_record(i)).replace('\'', "''")))
            .collect();
        execute(client, &format!("INSERT INTO raw VALUES {}", values.join(","))).await?;
        start = end;
    }
    Ok(())
}

/// Builds the view over the loaded table and times until it has counted every record, as a
/// subscription to the count reports it (polls would add their interval and make the workers
/// answer a query every few milliseconds of the build).
async fn build_view(client: &Client, server: &Server, run: u32, records: u64, limit: Duration) -> Result<Duration> {
    let view = format!("engine_mv_{run}");
    let watcher = server.connect().await?;
    let started = Instant::now();
    execute(
        client,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS
               SELECT d->>'region' AS region, count(*) AS n, sum((d->>'amount')::bigint) AS amount
               FROM (SELECT data::jsonb AS d FROM raw) GROUP BY d->>'region'"
        ),
    )
    .await?;
    let done = subscribe_until(&watcher, &format!("SELECT sum(n) FROM {view}"), records as i64, limit).await?;
    let elapsed = done.duration_since(started);
    drop(watcher);
    let amount = scalar_i64(client, &format!("SELECT sum(amount) FROM {view}")).await?;
    if amount != expected_amount_sum(records) {
        return Err(BenchError::Parse { what: view, detail: format!("sum(amount) = {amount}") });
    }
    execute(client, &format!("DROP MATERIALIZED VIEW {view}")).await?;
    Ok(elapsed)
}

/// Records per second that `serde_json` parses into a `Value` on this thread.
fn bare_parse_rate(records: u64) -> Result<f64> {
    let data: Vec<Vec<u8>> = (0..records).map(bench_record).collect();
    let started = Instant::now();
    let mut parsed = 0u64;
    for record in &data {
        let value: serde_json::Value = serde_json::from_slice(record)
            .map_err(|e| BenchError::Parse { what: "a benchmark record".into(), detail: e.to_string() })?;
        parsed += u64::from(value.is_object());
    }
    let elapsed = started.elapsed().as_secs_f64();
    if parsed != records {
        return Err(BenchError::Parse { what: "bare parse".into(), detail: format!("{parsed} objects of {records}") });
    }
    Ok(records as f64 / elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_parse_rate_is_positive() {
        assert!(bare_parse_rate(100).unwrap() > 0.0);
    }
}
