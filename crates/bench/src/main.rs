//! `freshet-bench`: Freshet's benchmark suite (issue 6). Starts what it needs itself (the freshet
//! binary of the same cargo profile, the Kinesis emulator, PostgreSQL) on loopback ports, measures
//! each headline figure as a ratio side by side in one run (warm-up, several runs, medians), prints a
//! table and writes `target/freshet-bench/summary.json`. This file owns the command line and the
//! order of the benchmarks; each benchmark lives in its own module.

mod emulator;
mod engine;
mod error;
mod freshet;
mod freshness;
mod ingest;
mod maintenance;
mod memory;
mod nexmark;
mod postgres;
mod procs;
mod recovery;
mod report;
mod serving;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::PossibleValuesParser;
use clap::Parser;

use crate::error::{BenchError, Result};
use crate::freshet::{Server, ServerConfig};
use crate::report::{progress, progress_done, Summary};

// The same allocator as the freshet server, so the bare serde_json parse the engine figure is
// divided by does not gain or lose by the allocator alone.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmarks `--only` accepts, in the order they run.
const BENCHMARKS: [&str; 8] =
    ["ingest", "engine", "nexmark", "maintenance", "serving", "freshness", "recovery", "memory"];

/// Freshet's benchmark suite.
#[derive(Debug, Parser)]
#[command(name = "freshet-bench", version, about)]
struct Args {
    /// Tiny sizes and few runs: a smoke run of every benchmark in seconds.
    #[arg(long)]
    quick: bool,
    /// Measured runs per benchmark (after one warm-up); default 3 (ingest: 7 pairs of drains,
    /// serving: 7 pairs of 3-second pgbench runs), or 2 with --quick.
    #[arg(long)]
    runs: Option<u32>,
    /// Dataflow worker threads of the freshet server (figures "per worker" divide by this).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Comma-separated benchmarks to run (ingest, engine, nexmark, maintenance, serving, freshness, recovery, memory); default all.
    #[arg(long, value_delimiter = ',', value_parser = BENCHMARKS)]
    only: Vec<String>,
    /// Overrides the table size of the maintenance, serving and recovery benchmarks.
    #[arg(long)]
    table_rows: Option<u64>,
    /// Overrides the number of records in the pre-filled stream of the ingest and memory benchmarks.
    #[arg(long)]
    records: Option<u64>,
    /// Overrides the number of source records the recovery benchmark ingests before restarting.
    #[arg(long)]
    recovery_records: Option<u64>,
    /// Overrides the number of Nexmark events.
    #[arg(long)]
    nexmark_events: Option<u64>,
    /// Comma-separated Nexmark queries to time; default all.
    #[arg(long, value_delimiter = ',', value_parser = PossibleValuesParser::new(nexmark::QUERIES.map(|(q, _)| q)))]
    nexmark_queries: Vec<String>,
    /// Runs the dbsp peer of the Nexmark queries even with --quick (it is a large build).
    #[arg(long)]
    dbsp: bool,
    /// The freshet binary; default the one of this binary's cargo profile, built first.
    #[arg(long)]
    freshet_bin: Option<PathBuf>,
    /// Where to write the flat JSON summary; default target/freshet-bench/summary.json.
    #[arg(long)]
    summary: Option<PathBuf>,
}

/// Sizes and repetitions for one invocation.
#[derive(Debug, Clone)]
pub struct Plan {
    pub runs: u32,
    pub workers: usize,
    pub ingest_records: u64,
    /// Source records ingested before the recovery benchmark restarts the server.
    pub recovery_records: u64,
    /// Rows of the table behind the maintenance, serving and recovery views.
    pub table_rows: u64,
    /// Single-row updates timed per view for `update_latency_ms` (after one warm-up each).
    pub latency_samples: u32,
    /// How long each sustained-update run inserts.
    pub update_duration: Duration,
    /// How long each pgbench run lasts.
    pub pgbench_duration: Duration,
    /// Measured pairs of short runs, after one warm-up pair: the ingest benchmark's drains (under
    /// a second each) and the serving benchmark's pgbench runs per client count.
    pub short_pairs: u32,
    /// JSON records in the table of the engine benchmark.
    pub engine_records: u64,
    /// Nexmark events loaded before the queries run.
    pub nexmark_events: u64,
    /// Timings of each Nexmark query per run (each engine's in turn, paired).
    pub nexmark_repeats: u32,
    /// The Nexmark queries to time; empty means all.
    pub nexmark_queries: Vec<String>,
    /// Whether to build and run the dbsp peer of the Nexmark queries.
    pub nexmark_peer: bool,
    /// Records timed for freshness (after a few untimed ones).
    pub freshness_samples: u32,
    /// How long any single wait may take before the benchmark fails.
    pub limit: Duration,
}

impl Plan {
    fn new(args: &Args) -> Plan {
        let quick = args.quick;
        let pick = |small: u64, big: u64| if quick { small } else { big };
        Plan {
            runs: args.runs.unwrap_or(if quick { 2 } else { 3 }).max(1),
            workers: args.workers.max(1),
            ingest_records: args.records.unwrap_or(pick(2_000, 100_000)).max(1),
            recovery_records: args.recovery_records.unwrap_or(pick(2_000, 1_000_000)).max(1),
            table_rows: args.table_rows.unwrap_or(pick(10_000, 1_000_000)).max(1),
            latency_samples: pick(3, 20) as u32,
            update_duration: Duration::from_secs(pick(1, 5)),
            pgbench_duration: Duration::from_secs(pick(1, 3)),
            // A pair is two short runs, and one slow spell of this machine turns a pair's ratio
            // around: the median needs more of them than the longer benchmarks do.
            short_pairs: args.runs.unwrap_or(if quick { 2 } else { 7 }).max(1),
            freshness_samples: pick(50, 3_000) as u32,
            engine_records: pick(5_000, 1_000_000),
            nexmark_events: args.nexmark_events.unwrap_or(pick(10_000, 1_000_000)).max(1),
            nexmark_repeats: pick(1, 3) as u32,
            nexmark_queries: args.nexmark_queries.clone(),
            nexmark_peer: !quick || args.dbsp,
            limit: if args.quick { Duration::from_secs(60) } else { Duration::from_secs(300) },
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("freshet-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut summary = Summary::default();
    let result = runtime.block_on(run(&args, &mut summary));
    progress_done();
    println!("{}", summary.table());
    let path = match args.summary.clone().map(Ok).unwrap_or_else(default_summary_path) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("freshet-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = summary.write_json(&path) {
        eprintln!("freshet-bench: {e}");
        return ExitCode::FAILURE;
    }
    println!("summary: {}", path.display());
    let broken: Vec<&str> =
        summary.figures().iter().filter(|f| !f.value.is_finite()).map(|f| f.name.as_str()).collect();
    match result {
        Ok(()) if broken.is_empty() => ExitCode::SUCCESS,
        Ok(()) => {
            eprintln!("freshet-bench: no value for {}", broken.join(", "));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("freshet-bench: a measurement failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `target/freshet-bench/summary.json`, next to the profile directory this binary runs from.
fn default_summary_path() -> Result<PathBuf> {
    let profile = procs::profile_dir()?;
    let target = profile.parent().ok_or_else(|| BenchError::Setup("the profile directory has no parent".into()))?;
    Ok(target.join("freshet-bench").join("summary.json"))
}

fn wanted(args: &Args, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == name)
}

async fn run(args: &Args, summary: &mut Summary) -> Result<()> {
    let plan = Plan::new(args);
    let started = Instant::now();
    progress("building/locating the freshet binary");
    let bin = match &args.freshet_bin {
        Some(bin) => bin.clone(),
        None => procs::freshet_binary(true)?,
    };
    progress("starting the Kinesis emulator");
    let emulator = emulator::Emulator::start().await?;
    let config = ServerConfig { bin, workers: plan.workers, env: emulator.env_vars() };
    // Only the benchmarks that read a pre-filled stream wait for it to fill.
    let stream = if ["ingest", "memory"].iter().any(|b| wanted(args, b)) {
        Some(ingest::prepare_stream(&emulator, ingest::INGEST_STREAM, plan.ingest_records).await?)
    } else {
        None
    };
    let mut failed = Vec::new();
    if let (true, Some(stream)) = (wanted(args, "ingest"), &stream) {
        let benchmark = async {
            let server = Server::start(&config).await?;
            ingest::run(&plan, &emulator, &server, stream, summary).await
        };
        timed("ingest", benchmark, &mut failed).await;
    }
    if wanted(args, "engine") {
        let benchmark = async { engine::run(&plan, &Server::start(&config).await?, summary).await };
        timed("engine", benchmark, &mut failed).await;
    }
    if wanted(args, "nexmark") {
        let benchmark = async { nexmark::run(&plan, &Server::start(&config).await?, summary).await };
        timed("nexmark", benchmark, &mut failed).await;
    }
    if wanted(args, "maintenance") || wanted(args, "serving") {
        // Serving reads the table that maintenance loads, on the same server.
        match Server::start(&config).await {
            Ok(server) => {
                let loaded = timed("maintenance", maintenance::run(&plan, &server, summary), &mut failed).await;
                if loaded && wanted(args, "serving") {
                    timed("serving", serving::run(&plan, &server, summary), &mut failed).await;
                }
            }
            Err(e) => {
                timed("maintenance", async { Err::<(), _>(e) }, &mut failed).await;
            }
        }
    }
    if wanted(args, "freshness") {
        let benchmark = async { freshness::run(&plan, &emulator, &Server::start(&config).await?, summary).await };
        timed("freshness", benchmark, &mut failed).await;
    }
    if wanted(args, "recovery") {
        let benchmark = async {
            let stream = ingest::prepare_stream(&emulator, recovery::STREAM, plan.recovery_records).await?;
            recovery::run(&plan, &config, &emulator, &stream, summary).await
        };
        timed("recovery", benchmark, &mut failed).await;
    }
    if let (true, Some(stream)) = (wanted(args, "memory"), &stream) {
        timed("memory", memory::run(&plan, &config, &emulator, stream, summary), &mut failed).await;
    }
    if !failed.is_empty() {
        return Err(BenchError::Setup(format!("failed: {}", failed.join(", "))));
    }
    progress(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// Runs one benchmark and logs how long it took (the --quick budget is about two minutes). A failure
/// is printed and noted, and the suite goes on with the next benchmark; true when it succeeded.
async fn timed(name: &str, benchmark: impl std::future::Future<Output = Result<()>>, failed: &mut Vec<String>) -> bool {
    let started = Instant::now();
    let result = benchmark.await;
    progress_done();
    eprintln!("[freshet-bench] {name}: {:.1} s", started.elapsed().as_secs_f64());
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!("[freshet-bench] {name} FAILED: {e}");
            failed.push(name.to_string());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("freshet-bench").chain(line.iter().copied())).unwrap()
    }

    #[test]
    fn quick_is_smaller_than_full_and_overrides_apply() {
        let (quick, full) = (Plan::new(&args(&["--quick"])), Plan::new(&args(&[])));
        assert!(quick.table_rows < full.table_rows && quick.ingest_records < full.ingest_records);
        assert_eq!((full.table_rows, full.recovery_records), (1_000_000, 1_000_000));
        let custom = Plan::new(&args(&["--quick", "--table-rows", "42", "--runs", "0"]));
        assert_eq!((custom.table_rows, custom.runs), (42, 1));
    }

    #[test]
    fn only_selects_benchmarks() {
        let a = args(&["--only", "ingest,serving"]);
        assert!(wanted(&a, "ingest") && wanted(&a, "serving") && !wanted(&a, "memory"));
        assert!(wanted(&args(&[]), "memory"));
        assert!(Args::try_parse_from(["freshet-bench", "--only", "nope"]).is_err());
    }
}
