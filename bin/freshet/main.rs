//! The `freshet` server binary: parses flags, starts the coordinator, serves the PostgreSQL wire
//! protocol, and shuts both down cleanly on Ctrl-C or SIGTERM.
//!
//! It owns process concerns only (flags, logging, signals, exit codes); everything else lives in
//! the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use freshet_coord::{Config, CoordClient};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

// Dataflow operators allocate and free many small rows: glibc's allocator took ~45% of Nexmark q5's
// time in malloc/free; with mimalloc Nexmark and recovery run 1.3-2.5x faster (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (position 15 of `mi_option_e` in v2's `mimalloc.h`; the
/// bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed memory stays mapped before it is returned to the OS. mimalloc's 10 ms returned
/// memory that arranging a restart's batches needed again moments later: the kernel zeroed the
/// re-faulted pages for a third of a 1,000,000-record restart's samples. 1 s took a restart from
/// 3.1-3.3 s to 2.7-3.0 s (docs/benchmarks.md), with the same peak RSS.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

const ABOUT: &str = "Freshet: a streaming SQL database.

Freshet keeps SQL views over AWS Kinesis streams and tables up to date incrementally, and speaks
the PostgreSQL wire protocol, so any PostgreSQL client can query it:

    psql -h 127.0.0.1 -p 6875 -U freshet

Try `CREATE TABLE t (x int); INSERT INTO t VALUES (1); CREATE MATERIALIZED VIEW v AS SELECT
count(*) FROM t; SELECT * FROM v;`.";

/// Command-line flags; each can also come from the environment.
#[derive(Debug, Parser)]
#[command(name = "freshet", version, about = "Freshet: a streaming SQL database", long_about = ABOUT)]
struct Args {
    /// Address to accept PostgreSQL connections on.
    #[arg(long, env = "FRESHET_LISTEN", default_value = "127.0.0.1:6875", value_name = "HOST:PORT")]
    listen: SocketAddr,

    /// Directory holding the durable catalog and table data; created if missing.
    #[arg(long, env = "FRESHET_DATA_DIR", default_value = "./freshet-data", value_name = "DIR")]
    data_dir: PathBuf,

    /// Number of dataflow worker threads [default: the number of CPU cores, at most 8].
    #[arg(long, env = "FRESHET_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,

    /// Table and source logs start a new segment after this many bytes; closed segments are
    /// compacted in the background.
    #[arg(long, env = "FRESHET_LOG_SEGMENT_BYTES", value_name = "BYTES", default_value_t = 8 << 20,
          value_parser = clap::value_parser!(u64).range(4096..))]
    log_segment_bytes: u64,
}

/// Sets the purge delay unless `MIMALLOC_PURGE_DELAY` chooses one.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

/// Run by each dataflow worker after a DROP: rows freed by one worker into another's memory wait
/// in mimalloc until the owning thread allocates again, and then it settles them all at once; that
/// took Nexmark q8, built right after q7 was dropped, from 0.7 to 0.2 of its rate alone.
fn collect_freed() {
    // SAFETY: a plain call into the allocator on the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

/// Worker threads when `--workers` is not given: one per core, capped so that a large machine does
/// not get more dataflow threads than a small database can use.
fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8)
}

fn main() -> ExitCode {
    tune_allocator();
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("freshet: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Blocking tasks (e.g. file I/O) may outlive the server; bound how long exit waits for them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("freshet: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Bind before starting the coordinator so that a busy port fails fast, before any recovery work.
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let workers = args.workers.map(usize::from).unwrap_or_else(default_workers);
    tracing::info!(data_dir = %args.data_dir.display(), workers, "starting coordinator");
    let coord = CoordClient::start(Config {
        data_dir: args.data_dir.clone(),
        workers,
        log_segment_bytes: args.log_segment_bytes,
        collect_freed: Some(collect_freed),
    })
    .await
    .with_context(|| format!("cannot start the coordinator with data directory {}", args.data_dir.display()))?;

    let local = listener.local_addr().unwrap_or(args.listen);
    println!("freshet: listening on {local}");
    freshet_pgwire::serve(listener, coord.clone(), shutdown_signal()).await;
    tracing::info!("shutting down the coordinator");
    coord.shutdown().await;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. If a handler cannot be installed, that signal is
/// simply not awaited (the process still dies from it, just not cleanly).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received Ctrl-C"),
        _ = terminate => tracing::info!("received SIGTERM"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_parse_with_defaults() {
        Args::command().debug_assert();
        let args = Args::try_parse_from(["freshet"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:6875".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./freshet-data"));
        let args = Args::try_parse_from(["freshet", "--listen", "0.0.0.0:7000", "--workers", "3"]).unwrap();
        assert_eq!((args.listen.port(), args.workers), (7000, Some(3)));
        assert!(Args::try_parse_from(["freshet", "--workers", "0"]).is_err());
        assert!(Args::try_parse_from(["freshet", "--listen", "nonsense"]).is_err());
    }

    #[test]
    fn default_workers_is_sane() {
        assert!((1..=8).contains(&default_workers()));
    }
}
