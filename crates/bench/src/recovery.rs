//! Benchmark 5, recovery: a server holding `table_rows` table rows and the ingest stream's records
//! behind two GROUP BY views is stopped (SIGTERM, then SIGKILL) and started again; the time from
//! process start until both views answer with the right counts.

use std::time::{Duration, Instant};

use crate::emulator::Emulator;
use crate::error::{BenchError, Result};
use crate::freshet::{connect, execute, scalar_i64, wait_for_value, Server, ServerConfig};
use crate::ingest::Stream;
use crate::report::{progress, Summary, Target};
use crate::stats::median;
use crate::Plan;

/// The recovery benchmark's own stream (1,000,000 records in the full run).
pub const STREAM: &str = "bench-recovery";

pub async fn run(
    plan: &Plan,
    config: &ServerConfig,
    emulator: &Emulator,
    stream: &Stream,
    summary: &mut Summary,
) -> Result<()> {
    let rows = plan.table_rows;
    progress(&format!("recovery: loading {rows} table rows and {} source records", stream.records));
    let mut server = Server::start(config).await?;
    let client = server.connect().await?;
    execute(
        &client,
        &format!(
            "CREATE TABLE rec (id bigint NOT NULL, g bigint NOT NULL);
             INSERT INTO rec SELECT i, i % 100 FROM generate_series(1, {rows}) AS s(i);
             CREATE MATERIALIZED VIEW rec_mv AS SELECT g, count(*) AS n FROM rec GROUP BY g;
             CREATE SOURCE rec_src FROM KINESIS ARN '{}' FORMAT JSON;
             CREATE MATERIALIZED VIEW rec_src_mv AS SELECT data->>'region' AS region, count(*) AS n
               FROM rec_src GROUP BY data->>'region';",
            emulator.stream_arn(stream.name)
        ),
    )
    .await?;
    let poll = Duration::from_millis(20);
    wait_for_value(&client, "SELECT sum(n) FROM rec_mv", rows as i64, poll, plan.limit).await?;
    wait_for_value(&client, "SELECT sum(n) FROM rec_src_mv", stream.records as i64, poll, plan.limit).await?;
    drop(client);
    let (mut clean, mut killed) = (Vec::new(), Vec::new());
    for run in 0..plan.runs {
        progress(&format!("recovery: run {}/{}: clean stop, restart", run + 1, plan.runs));
        server.stop().await?;
        clean.push(restart(&mut server, rows, stream.records, plan.limit).await?);
        progress(&format!("recovery: run {}/{}: kill -9, restart", run + 1, plan.runs));
        server.kill();
        killed.push(restart(&mut server, rows, stream.records, plan.limit).await?);
    }
    let clean = median(&clean).unwrap_or(f64::NAN);
    let killed = median(&killed).unwrap_or(f64::NAN);
    let note =
        format!("start -> correct counts over {rows} table rows + {} source records, worse of the two", stream.records);
    summary.add("recovery_s", clean.max(killed), Target::AtMost(2.0), note);
    summary.add("recovery_clean_s", clean, Target::None, format!("after SIGTERM, median of {}", plan.runs));
    summary.add("recovery_kill_s", killed, Target::None, format!("after kill -9, median of {}", plan.runs));
    Ok(())
}

/// Starts the stopped server and polls (connection errors included) until both views are right;
/// seconds since the process was spawned.
async fn restart(server: &mut Server, rows: u64, records: u64, limit: Duration) -> Result<f64> {
    let started = server.spawn()?;
    let deadline = started + limit;
    loop {
        let last = counts(&server.url()).await;
        if last == Some((rows as i64, records as i64)) {
            return Ok(started.elapsed().as_secs_f64());
        }
        if let Some((table, source)) = last.filter(|&(t, s)| t > rows as i64 || s > records as i64) {
            let detail = format!("after restart: {table} table rows of {rows}, {source} source records of {records}");
            return Err(BenchError::Parse { what: "recovery".into(), detail });
        }
        if Instant::now() > deadline {
            let what = format!("recovery to ({rows}, {records}) rows, last saw {last:?}; log: {}", server.log());
            return Err(BenchError::Timeout { what, limit });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The counts of the table view and the source view, or None while the server does not answer.
async fn counts(url: &str) -> Option<(i64, i64)> {
    let client = connect(url).await.ok()?;
    let table = scalar_i64(&client, "SELECT sum(n) FROM rec_mv").await.ok()?;
    let source = scalar_i64(&client, "SELECT sum(n) FROM rec_src_mv").await.ok()?;
    Some((table, source))
}
