//! Benchmark 3, Nexmark: the `nexmark` crate's deterministic events (base time 0) loaded into the
//! tables `person`, `auction` and `bid`, then queries q0, q1, q2, q3, q4, q5, q7 and q8 built as
//! materialized views over them. One figure per query: events per second per worker from CREATE
//! until the view answers over every event (a read waits until the view is complete), beside the
//! same query on dbsp (`dbsp-peer/`, built only in full runs) over the same events. Both engines
//! must agree on each query's row count, or the benchmark fails.
//!
//! The two engines take turns query by query (the peer keeps its events and takes one query at a
//! time), each query several times per run, and every Freshet timing is paired with the peer's
//! timing taken right after it: q3 and q8 take some 25 ms, and this machine's speed drifts by more
//! than 10% between runs a minute apart.
//!
//! Windows are plain GROUP BY over computed window starts (10 s tumbling windows, 10 s windows
//! hopping by 2 s for q5), so each query computes every window, as the standard SQL versions do.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use nexmark::EventGenerator;
use tokio_postgres::Client;

use crate::error::{BenchError, Result};
use crate::freshet::{execute, scalar_i64, Server};
use crate::procs::{self, repo_root};
use crate::report::{progress, Summary, Target};
use crate::stats::{median, median_ratio};
use crate::Plan;

/// Rows per INSERT while loading.
const BATCH: usize = 1000;

/// The queries, as SQL over the three tables (states are lowercase in the generator's data).
pub const QUERIES: [(&str, &str); 8] = [
    ("q0", "SELECT auction, bidder, price, date_time, extra FROM bid"),
    ("q1", "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid"),
    ("q2", "SELECT auction, price FROM bid WHERE auction % 123 = 0"),
    (
        "q3",
        "SELECT p.name, p.city, p.state, a.id FROM auction a JOIN person p ON a.seller = p.id
         WHERE a.category = 10 AND (p.state = 'or' OR p.state = 'id' OR p.state = 'ca')",
    ),
    (
        "q4",
        "SELECT q.category, avg(q.final) AS avg_final FROM (
           SELECT max(b.price) AS final, a.category FROM auction a JOIN bid b ON a.id = b.auction
           WHERE b.date_time BETWEEN a.date_time AND a.expires GROUP BY a.id, a.category) q
         GROUP BY q.category",
    ),
    (
        "q5",
        "WITH hops AS (
           SELECT b.auction, b.date_time / 2000 * 2000 - h.k * 2000 AS starttime
           FROM bid b CROSS JOIN generate_series(0, 4) AS h(k)),
         counts AS (SELECT auction, starttime, count(*) AS num FROM hops GROUP BY auction, starttime)
         SELECT c.auction, c.num FROM counts c
         JOIN (SELECT starttime, max(num) AS maxn FROM counts GROUP BY starttime) m
           ON c.starttime = m.starttime AND c.num >= m.maxn",
    ),
    (
        "q7",
        "SELECT b.auction, b.price, b.bidder, b.date_time, b.extra FROM bid b
         JOIN (SELECT date_time / 10000 * 10000 AS wstart, max(price) AS maxprice
               FROM bid GROUP BY date_time / 10000 * 10000) m
           ON b.date_time / 10000 * 10000 = m.wstart AND b.price = m.maxprice",
    ),
    (
        "q8",
        "SELECT p.id, p.name, p.starttime FROM
           (SELECT DISTINCT id, name, date_time / 10000 * 10000 AS starttime FROM person) p
         JOIN (SELECT DISTINCT seller, date_time / 10000 * 10000 AS starttime FROM auction) a
           ON p.id = a.seller AND p.starttime = a.starttime",
    ),
];

/// One timing of a query: seconds and result rows.
type Timing = (f64, i64);
/// Every measured timing of each query, in the order taken.
type Timings = BTreeMap<String, Vec<Timing>>;

pub async fn run(plan: &Plan, server: &Server, summary: &mut Summary) -> Result<()> {
    let events = plan.nexmark_events;
    progress(&format!("nexmark: generating and loading {events} events"));
    let client = server.connect().await?;
    load(&client, events).await?;
    server.settle().await?;
    let mut peer = if plan.nexmark_peer { Some(Peer::start(&build_peer()?, events, plan.workers)?) } else { None };
    let chosen: Vec<(&str, &str)> = QUERIES
        .iter()
        .filter(|(q, _)| plan.nexmark_queries.is_empty() || plan.nexmark_queries.iter().any(|c| c == q))
        .copied()
        .collect();
    let mut freshet_timings = Timings::new();
    let mut peer_timings = Timings::new();
    for run in 0..plan.runs + 1 {
        let engines = if peer.is_some() { "Freshet and dbsp in turn" } else { "Freshet" };
        progress(&format!("nexmark: run {run}/{} ({engines})", plan.runs));
        for (query, sql) in &chosen {
            for repeat in 0..plan.nexmark_repeats {
                let ours = time_view(&client, query, sql, &format!("{run}_{repeat}")).await?;
                let theirs = peer.as_mut().map(|peer| peer.time(query)).transpose()?;
                if run > 0 {
                    freshet_timings.entry(query.to_string()).or_default().push(ours);
                    if let Some(theirs) = theirs {
                        peer_timings.entry(query.to_string()).or_default().push(theirs);
                    }
                }
            }
        }
    }
    report(plan, &freshet_timings, &peer_timings, summary)
}

fn report(plan: &Plan, freshet: &Timings, peer: &Timings, summary: &mut Summary) -> Result<()> {
    let per_worker = |seconds: f64| plan.nexmark_events as f64 / seconds / plan.workers as f64;
    for (query, ours) in QUERIES.iter().filter_map(|(q, _)| freshet.get(*q).map(|t| (*q, t))) {
        let rates: Vec<f64> = ours.iter().map(|(s, _)| per_worker(*s)).collect();
        let rows = ours.first().map_or(0, |(_, rows)| *rows);
        let note = format!("{} events -> {rows} rows, / {} workers", plan.nexmark_events, plan.workers);
        summary.add(&format!("nexmark_{query}_events_per_s"), median(&rates).unwrap_or(f64::NAN), Target::None, note);
        let Some(theirs) = peer.get(query) else { continue };
        let mut pairs = Vec::new();
        for ((s1, r1), (s2, r2)) in ours.iter().zip(theirs) {
            if r1 != r2 {
                return Err(BenchError::Parse {
                    what: format!("nexmark {query}"),
                    detail: format!("Freshet has {r1} rows, dbsp {r2}"),
                });
            }
            pairs.push((per_worker(*s1), per_worker(*s2)));
        }
        let peer_rate = median(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        summary.add(
            &format!("nexmark_{query}_vs_dbsp"),
            median_ratio(&pairs).unwrap_or(f64::NAN),
            Target::AtLeast(1.0),
            format!("dbsp {peer_rate:.0} events/s/worker, same events and row count; median of {} pairs", pairs.len()),
        );
    }
    Ok(())
}

/// Builds `query`'s view, waits until it answers over every event, and drops it.
async fn time_view(client: &Client, query: &str, sql: &str, label: &str) -> Result<Timing> {
    let view = format!("nexmark_{query}_{label}");
    let started = Instant::now();
    execute(client, &format!("CREATE MATERIALIZED VIEW {view} AS {sql}")).await?;
    // A read sees every acknowledged write, so it waits until the view has processed all events.
    let rows = scalar_i64(client, &format!("SELECT count(*) FROM {view}")).await?;
    let seconds = started.elapsed().as_secs_f64();
    execute(client, &format!("DROP MATERIALIZED VIEW {view}")).await?;
    Ok((seconds, rows))
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL VALUES tuple of one event and the table it belongs to.
fn event_values(event: &Event) -> (&'static str, String) {
    match event {
        Event::Person(p) => (
            "person",
            format!("({}, {}, {}, {}, {})", p.id, quote(&p.name), quote(&p.city), quote(&p.state), p.date_time),
        ),
        Event::Auction(a) => {
            ("auction", format!("({}, {}, {}, {}, {})", a.id, a.seller, a.category, a.date_time, a.expires))
        }
        Event::Bid(b) => {
            ("bid", format!("({}, {}, {}, {}, {})", b.auction, b.bidder, b.price, b.date_time, quote(&b.extra)))
        }
    }
}

/// The generator's first `events` events (base time 0, so every run and the peer see the same).
pub fn events(events: u64) -> impl Iterator<Item = Event> {
    EventGenerator::new(NexmarkConfig { base_time: 0, ..Default::default() }).take(events as usize)
}

async fn load(client: &Client, count: u64) -> Result<()> {
    execute(
        client,
        "CREATE TABLE person (id bigint, name text, city text, state text, date_time bigint);
         CREATE TABLE auction (id bigint, seller bigint, category bigint, date_time bigint, expires bigint);
         CREATE TABLE bid (auction bigint, bidder bigint, price bigint, date_time bigint, extra text);",
    )
    .await?;
    let mut pending: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for event in events(count) {
        let (table, values) = event_values(&event);
        let rows = pending.entry(table).or_default();
        rows.push(values);
        if rows.len() == BATCH {
            execute(client, &format!("INSERT INTO {table} VALUES {}", rows.join(","))).await?;
            rows.clear();
        }
    }
    for (table, rows) in pending.into_iter().filter(|(_, rows)| !rows.is_empty()) {
        execute(client, &format!("INSERT INTO {table} VALUES {}", rows.join(","))).await?;
    }
    Ok(())
}

/// Builds the dbsp peer (its own cargo workspace, release profile, target/dbsp-peer).
fn build_peer() -> Result<PathBuf> {
    progress("nexmark: building the dbsp peer (first build takes several minutes)");
    let root = repo_root()?;
    let target = root.join("target").join("dbsp-peer");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--manifest-path", "crates/bench/dbsp-peer/Cargo.toml", "--target-dir"])
        .arg(&target);
    procs::run(&mut command, "cargo build (dbsp peer)")?;
    Ok(target.join("release").join("freshet-bench-dbsp"))
}

/// The dbsp peer, running: it generated the events once and times one query per request.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(bin: &Path, events: u64, workers: usize) -> Result<Peer> {
        let mut child = Command::new(bin)
            .args(["--events", &events.to_string(), "--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::io("start freshet-bench-dbsp", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::Setup("freshet-bench-dbsp has no stdin or stdout pipe".into()));
        };
        Ok(Peer { child, stdin, stdout: BufReader::new(stdout) })
    }

    /// Runs `query` on the peer and waits for its timing (the benchmark does nothing meanwhile).
    fn time(&mut self, query: &str) -> Result<Timing> {
        let io = |e| BenchError::io(format!("ask freshet-bench-dbsp for {query}"), e);
        writeln!(self.stdin, "{query}").and_then(|()| self.stdin.flush()).map_err(io)?;
        let mut line = String::new();
        let read = tokio::task::block_in_place(|| self.stdout.read_line(&mut line)).map_err(io)?;
        if read == 0 {
            return Err(BenchError::Setup(format!("freshet-bench-dbsp exited before answering {query}")));
        }
        let (answered, timing) = parse_peer_line(&line)?;
        if answered != query {
            return Err(BenchError::Parse {
                what: "dbsp peer output".into(),
                detail: format!("{answered} for {query}"),
            });
        }
        Ok(timing)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of the peer's output: `{"query": "q0", "seconds": 0.4, "rows": 920000}`.
fn parse_peer_line(line: &str) -> Result<(String, Timing)> {
    let bad = |detail: String| BenchError::Parse { what: "dbsp peer output".into(), detail };
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(format!("{e}: {line}")))?;
    let query = value["query"].as_str().ok_or_else(|| bad(format!("no query in {line}")))?;
    let seconds = value["seconds"].as_f64().ok_or_else(|| bad(format!("no seconds in {line}")))?;
    let rows = value["rows"].as_i64().ok_or_else(|| bad(format!("no rows in {line}")))?;
    Ok((query.to_string(), (seconds, rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_deterministic_and_mixed() {
        let first: Vec<_> = events(100).map(|e| event_values(&e)).collect();
        let again: Vec<_> = events(100).map(|e| event_values(&e)).collect();
        assert_eq!(first, again);
        let tables: std::collections::BTreeSet<_> = first.iter().map(|(t, _)| *t).collect();
        assert_eq!(tables.into_iter().collect::<Vec<_>>(), ["auction", "bid", "person"]);
    }

    #[test]
    fn peer_lines_parse_and_must_be_complete() {
        let line = "{\"query\": \"q5\", \"seconds\": 0.5, \"rows\": 7}\n";
        assert_eq!(parse_peer_line(line).unwrap(), ("q5".to_string(), (0.5, 7)));
        assert!(parse_peer_line("{\"query\": \"q5\", \"seconds\": 0.5}").is_err());
        assert!(parse_peer_line("q5 0.5 7").is_err());
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(quote("o'neil"), "'o''neil'");
    }
}
