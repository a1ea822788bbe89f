//! Benchmark 2, incremental maintenance: a table of `table_rows` rows behind three materialized
//! views (GROUP BY count, a two-way join, DISTINCT); how long one single-row INSERT takes from its
//! acknowledgement until it is visible in each view, and how many single-row INSERTs per second the
//! views absorb. The tables and views stay for the serving benchmark.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::error::{BenchError, Result};
use crate::freshet::{execute, scalar_i64, wait_for_value, Server};
use crate::report::{progress, Summary, Target};
use crate::stats::median;
use crate::Plan;

/// Connections inserting concurrently in the throughput phase.
const WRITERS: usize = 4;
/// Distinct join keys (rows of the dimension table) and groups.
const KEYS: i64 = 1000;

/// Creates and fills `base` (id, g, j, v) and `dim` (j, name), and the three views over them.
pub async fn load(client: &Client, rows: u64, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    execute(
        client,
        &format!(
            "CREATE TABLE base (id bigint NOT NULL, g bigint NOT NULL, j bigint NOT NULL, v bigint NOT NULL);
             CREATE TABLE dim (j bigint NOT NULL, name text NOT NULL);
             INSERT INTO dim SELECT i, 'name-' || i FROM generate_series(0, {last_key}) AS s(i);
             INSERT INTO base SELECT i, i % {KEYS}, i % {KEYS}, i % {KEYS} FROM generate_series(1, {rows}) AS s(i);
             CREATE MATERIALIZED VIEW mv_count AS SELECT g, count(*) AS n FROM base GROUP BY g;
             CREATE MATERIALIZED VIEW mv_join AS SELECT b.id, d.name FROM base b JOIN dim d ON b.j = d.j;
             CREATE MATERIALIZED VIEW mv_distinct AS SELECT DISTINCT v FROM base;",
            last_key = KEYS - 1
        ),
    )
    .await?;
    wait_for_value(client, "SELECT count(*) FROM mv_join", rows as i64, Duration::from_millis(50), limit).await?;
    Ok(started.elapsed())
}

pub async fn run(plan: &Plan, server: &Server, summary: &mut Summary) -> Result<()> {
    let rows = plan.table_rows;
    progress(&format!("maintenance: loading {rows} rows and three views"));
    let writer = server.connect().await?;
    let load_time = load(&writer, rows, plan.limit).await?;
    server.settle().await?;
    let poller = server.connect().await?;
    let mut next_id = rows as i64 + 1;
    let mut latencies: [Vec<f64>; 3] = Default::default();
    for sample in 0..(plan.latency_samples + 1) * 3 {
        progress(&format!("maintenance: update latency sample {sample}/{}", plan.latency_samples * 3 + 2));
        let view = sample as usize % 3;
        let latency = one_update(&writer, &poller, view, next_id, plan.limit).await?;
        next_id += 1;
        if sample >= 3 {
            latencies[view].push(latency);
        }
    }
    let mut scans = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        scalar_i64(&poller, "SELECT count(*) FROM mv_join WHERE id = 1").await?;
        scans.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut rates = Vec::new();
    for run in 0..plan.runs + 1 {
        progress(&format!("maintenance: sustained updates, run {run}/{}", plan.runs));
        let (rate, inserted) = sustained(server, &writer, next_id, plan).await?;
        next_id += inserted;
        if run > 0 {
            rates.push(rate / plan.workers as f64);
        }
    }
    let med = |v: &[f64]| median(v).unwrap_or(f64::NAN);
    let slowest = latencies.iter().map(|l| med(l)).fold(f64::NAN, f64::max);
    let note = format!("{rows} rows; INSERT ack -> visible, slowest view's median of {}", plan.latency_samples);
    summary.add("update_latency_ms", slowest, Target::AtMost(10.0), note);
    summary.add("update_latency_count_ms", med(&latencies[0]), Target::None, "GROUP BY count view");
    summary.add("update_latency_join_ms", med(&latencies[1]), Target::None, "two-way join view");
    summary.add(
        "update_latency_join_poll_ms",
        med(&scans),
        Target::None,
        "cost of one poll of the join view (count(*) over a seek)",
    );
    summary.add("update_latency_distinct_ms", med(&latencies[2]), Target::None, "DISTINCT view");
    summary.add(
        "updates_per_s_per_worker",
        med(&rates),
        Target::None,
        format!("{WRITERS} connections of single-row INSERTs until visible, / {} workers", plan.workers),
    );
    summary.add("maintenance_load_s", load_time.as_secs_f64(), Target::None, format!("INSERT {rows} rows + 3 views"));
    Ok(())
}

/// Inserts one row that is new to each view and polls view number `view` (count, join, distinct)
/// back to back; the milliseconds from the INSERT's acknowledgement until the view showed it. One
/// view per update, so that no other poll's scan competes with it.
async fn one_update(writer: &Client, poller: &Client, view: usize, id: i64, limit: Duration) -> Result<f64> {
    let marker = -id;
    execute(writer, &format!("INSERT INTO base VALUES ({id}, {marker}, {}, {marker})", id % KEYS)).await?;
    let acked = Instant::now();
    let sql = match view {
        0 => format!("SELECT n FROM mv_count WHERE g = {marker}"),
        1 => format!("SELECT count(*) FROM mv_join WHERE id = {id}"),
        _ => format!("SELECT count(*) FROM mv_distinct WHERE v = {marker}"),
    };
    let seen = wait_for_value(poller, &sql, 1, Duration::ZERO, limit).await?;
    Ok(seen.duration_since(acked).as_secs_f64() * 1000.0)
}

/// `WRITERS` connections insert single rows for `plan.update_seconds`; the rate is the rows
/// inserted over the time until the GROUP BY view counted all of them. Returns the rate and how far
/// the ids advanced.
async fn sustained(server: &Server, reader: &Client, first_id: i64, plan: &Plan) -> Result<(f64, i64)> {
    let before = scalar_i64(reader, "SELECT sum(n) FROM mv_count").await?;
    let started = Instant::now();
    let stop = started + plan.update_duration;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = server.connect().await?;
        tasks.push(tokio::spawn(async move {
            let mut id = first_id + w as i64;
            let mut inserted = 0i64;
            while Instant::now() < stop {
                execute(
                    &client,
                    &format!("INSERT INTO base VALUES ({id}, {}, {}, {})", id % KEYS, id % KEYS, id % KEYS),
                )
                .await?;
                inserted += 1;
                id += WRITERS as i64;
            }
            Ok::<i64, BenchError>(inserted)
        }));
    }
    let (mut inserted, mut most) = (0, 0);
    for task in tasks {
        let n = task.await.map_err(|e| BenchError::Setup(format!("an insert task failed: {e}")))??;
        inserted += n;
        most = most.max(n);
    }
    let target = before + inserted;
    let done =
        wait_for_value(reader, "SELECT sum(n) FROM mv_count", target, Duration::from_millis(5), plan.limit).await?;
    Ok((inserted as f64 / done.duration_since(started).as_secs_f64(), most * WRITERS as i64))
}
