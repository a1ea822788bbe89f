//! Benchmark 3, serving: pgbench (custom script, prepared protocol, 1/8/32 clients) running point
//! SELECTs by id against a Freshet materialized view and, pair by pair in the same run, against the
//! same rows in an indexed PostgreSQL table. Parses pgbench's tps and its per-transaction log.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{BenchError, Result};
use crate::freshet::{connect, execute, wait_for_value, Server};
use crate::postgres::{bin_dir, Postgres};
use crate::procs::{run as run_command, TempDir};
use crate::report::{progress, Summary, Target};
use crate::stats::{median, median_ratio, percentile};
use crate::Plan;

const CLIENTS: [u32; 3] = [1, 8, 32];

/// One pgbench result: transactions per second and the 99th percentile latency in ms.
#[derive(Debug, Clone, Copy)]
struct Bench {
    tps: f64,
    p99_ms: f64,
}

/// A pgbench target: where to connect and which relation to read.
struct Endpoint {
    port: u16,
    user: &'static str,
    db: &'static str,
    relation: &'static str,
}

pub async fn run(plan: &Plan, server: &Server, summary: &mut Summary) -> Result<()> {
    let rows = plan.table_rows;
    progress(&format!("serving: a view of {rows} rows on freshet, an indexed table on PostgreSQL"));
    let client = server.connect().await?;
    execute(&client, "CREATE MATERIALIZED VIEW serve_mv AS SELECT id, g, j, v FROM base").await?;
    wait_for_value(
        &client,
        &format!("SELECT count(*) FROM serve_mv WHERE id <= {rows}"),
        rows as i64,
        Duration::from_millis(50),
        plan.limit,
    )
    .await?;
    let pg = Postgres::start().await?;
    let pg_client = connect(&pg.url()).await?;
    execute(
        &pg_client,
        &format!(
            "CREATE TABLE serve (id bigint PRIMARY KEY, g bigint NOT NULL, j bigint NOT NULL, v bigint NOT NULL);
             INSERT INTO serve SELECT i, i % 1000, i % 1000, i % 1000 FROM generate_series(1, {rows}) AS s(i);"
        ),
    )
    .await?;
    execute(&pg_client, "VACUUM ANALYZE serve").await?;
    server.settle().await?;
    let freshet = Endpoint { port: server.port(), user: "freshet", db: "freshet", relation: "serve_mv" };
    let postgres = Endpoint { port: pg.port(), user: "postgres", db: "postgres", relation: "serve" };
    let temp = TempDir::new("pgbench")?;
    for clients in CLIENTS {
        let mut qps = Vec::new();
        let mut p99 = Vec::new();
        for run in 0..plan.short_pairs + 1 {
            // Each engine goes first in every other pair, so that neither is always the one
            // measured after the other has warmed (or heated) the machine.
            let order = if run % 2 == 0 { "PostgreSQL, then freshet" } else { "freshet, then PostgreSQL" };
            progress(&format!("serving: {clients} clients, run {run}/{} ({order})", plan.short_pairs));
            let bench =
                |target: &Endpoint, label| pgbench(target, clients, rows, plan.pgbench_duration, temp.path(), label);
            let (pg_run, fr_run) = if run % 2 == 0 {
                let pg_run = bench(&postgres, "pg")?;
                (pg_run, bench(&freshet, "freshet")?)
            } else {
                let fr_run = bench(&freshet, "freshet")?;
                (bench(&postgres, "pg")?, fr_run)
            };
            if run > 0 {
                qps.push((fr_run.tps, pg_run.tps));
                p99.push((fr_run.p99_ms, pg_run.p99_ms));
            }
        }
        let ratio = median_ratio(&qps).unwrap_or(f64::NAN);
        let fr_tps = median(&qps.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        let pg_tps = median(&qps.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        let note = format!("freshet {fr_tps:.0} / PostgreSQL {pg_tps:.0} QPS; {rows} rows, pgbench -M prepared");
        summary.add(&format!("serving_qps_ratio_c{clients}"), ratio, Target::AtLeast(1.0), note);
        summary.add(&format!("serving_freshet_qps_c{clients}"), fr_tps, Target::None, "");
        summary.add(&format!("serving_postgres_qps_c{clients}"), pg_tps, Target::None, "");
        if clients == 8 {
            let ratio = median_ratio(&p99).unwrap_or(f64::NAN);
            let fr = median(&p99.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap_or(f64::NAN);
            let pgv = median(&p99.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or(f64::NAN);
            let note = format!("p99 latency freshet {fr:.2} ms / PostgreSQL {pgv:.2} ms (lower is better)");
            summary.add("serving_p99_ratio_c8", ratio, Target::None, note);
        }
    }
    execute(&client, "DROP MATERIALIZED VIEW serve_mv").await?;
    Ok(())
}

/// Runs pgbench for `duration` with a point-SELECT script; tps from its summary, p99 from its
/// per-transaction log.
fn pgbench(target: &Endpoint, clients: u32, rows: u64, duration: Duration, dir: &Path, label: &str) -> Result<Bench> {
    let script = dir.join(format!("{label}.sql"));
    let text = format!("\\set id random(1, {rows})\nSELECT id, g, j, v FROM {} WHERE id = :id;\n", target.relation);
    std::fs::write(&script, text).map_err(|e| BenchError::io(format!("write {}", script.display()), e))?;
    let log_dir = dir.join(format!("{label}-c{clients}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).map_err(|e| BenchError::io("create the pgbench log directory", e))?;
    let out = run_command(
        Command::new(bin_dir()?.join("pgbench"))
            .current_dir(&log_dir)
            .args(["-n", "-M", "prepared", "-h", "127.0.0.1", "-p"])
            .arg(target.port.to_string())
            .args(["-U", target.user, "-c"])
            .arg(clients.to_string())
            .arg("-j")
            .arg(clients.min(2).to_string())
            .arg("-T")
            .arg(duration.as_secs().max(1).to_string())
            .arg("-l")
            .arg("--log-prefix=tx")
            .arg("-f")
            .arg(&script)
            .arg(target.db),
        "pgbench",
    )?;
    let tps = parse_tps(&out).ok_or_else(|| BenchError::Parse { what: "pgbench".into(), detail: out.clone() })?;
    let latencies = read_latencies(&log_dir)?;
    let p99_ms = percentile(&latencies, 99.0)
        .ok_or_else(|| BenchError::Parse { what: "pgbench log".into(), detail: "no transactions".into() })?;
    let _ = std::fs::remove_dir_all(&log_dir);
    Ok(Bench { tps, p99_ms })
}

/// `tps = 1234.5 (without initial connection time)`.
fn parse_tps(output: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.starts_with("tps = "))?;
    line.trim_start_matches("tps = ").split_whitespace().next()?.parse().ok()
}

/// Latencies in ms from every per-transaction log file in `dir` (third field, microseconds).
fn read_latencies(dir: &Path) -> Result<Vec<f64>> {
    let mut latencies = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| BenchError::io("list pgbench logs", e))?;
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).map_err(|e| BenchError::io("read a pgbench log", e))?;
        latencies.extend(parse_log(&text));
    }
    Ok(latencies)
}

fn parse_log(text: &str) -> Vec<f64> {
    text.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok()).map(|us| us / 1000.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let out = "number of failed transactions: 0 (0.000%)\nlatency average = 171.170 ms\n\
                   initial connection time = 0.557 ms\ntps = 5.842138 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(5.842138));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn log_lines_give_latency_in_ms() {
        let log = "0 0 1500 0 1732480000 123456\n0 1 250 0 1732480000 123999\ngarbage\n";
        assert_eq!(parse_log(log), vec![1.5, 0.25]);
    }
}
