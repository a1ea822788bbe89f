//! A Freshet server process started by the benchmark on a loopback port with its own data directory,
//! plus the SQL helpers the benchmarks use against it (and against PostgreSQL). It must not measure
//! anything itself beyond reporting when it became ready.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::error::{BenchError, Result};
use crate::procs::{cpu_ticks, free_port, rss_bytes, TempDir};

/// How long start-up (including recovery of a big data directory) may take.
const READY_LIMIT: Duration = Duration::from_secs(300);
/// Longest wait for the server to go idle after a load.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// How to start a server: binary, workers, environment (AWS endpoint and keys).
#[derive(Clone)]
pub struct ServerConfig {
    pub bin: PathBuf,
    pub workers: usize,
    pub env: Vec<(String, String)>,
}

/// A running server. Killed and its directory removed when dropped.
pub struct Server {
    config: ServerConfig,
    child: Option<Child>,
    port: u16,
    temp: TempDir,
}

impl Server {
    /// Starts a server with a fresh data directory and waits until it answers.
    pub async fn start(config: &ServerConfig) -> Result<Server> {
        let temp = TempDir::new("freshet")?;
        let mut server = Server { config: config.clone(), child: None, port: free_port()?, temp };
        server.spawn()?;
        server.wait_ready().await?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.temp.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.temp.path().join("freshet.log")
    }

    /// Starts the process on the same port and data directory; the instant it was spawned.
    pub fn spawn(&mut self) -> Result<Instant> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| BenchError::io(format!("open {}", log_path.display()), e))?;
        let mut command = Command::new(&self.config.bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--workers")
            .arg(self.config.workers.to_string())
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in &self.config.env {
            command.env(k, v);
        }
        let started = Instant::now();
        let child = command.spawn().map_err(|e| BenchError::io(format!("start {}", self.config.bin.display()), e))?;
        self.child = Some(child);
        Ok(started)
    }

    /// Polls until the server accepts a connection and answers `SELECT 1`.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(BenchError::Setup(format!("freshet exited during start-up with {status}: {}", self.log())));
            }
            if let Ok(client) = connect(&self.url()).await {
                if client.simple_query("SELECT 1").await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout { what: "freshet start-up".into(), limit: READY_LIMIT });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("postgres://freshet@127.0.0.1:{}/freshet", self.port)
    }

    pub async fn connect(&self) -> Result<Client> {
        connect(&self.url()).await
    }

    /// The last lines of the server's log, for error messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn rss_bytes(&self) -> Result<u64> {
        rss_bytes(self.pid()?)
    }

    fn pid(&self) -> Result<u32> {
        self.child.as_ref().map(Child::id).ok_or_else(|| BenchError::Setup("freshet is not running".into()))
    }

    /// Waits until the server is idle (under 5% of one core over a quarter second), so that work a
    /// load left behind, such as compacting the table log, does not run inside a measurement. Gives
    /// up after `SETTLE_LIMIT` and says so; the measurement then goes ahead.
    pub async fn settle(&self) -> Result<()> {
        const WINDOW: Duration = Duration::from_millis(250);
        let pid = self.pid()?;
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut before = cpu_ticks(pid)?;
        while Instant::now() < deadline {
            tokio::time::sleep(WINDOW).await;
            let now = cpu_ticks(pid)?;
            // Linux reports 100 ticks per second of one core (USER_HZ, whatever the kernel's HZ):
            // 5% of one core over a quarter second is 1.25 ticks.
            if now - before <= 1 {
                return Ok(());
            }
            before = now;
        }
        crate::report::progress(&format!("freshet still busy after {} s; measuring anyway", SETTLE_LIMIT.as_secs()));
        Ok(())
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = child.id().to_string();
        crate::procs::run(Command::new("kill").args(["-TERM", &pid]), "kill -TERM")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::Timeout {
                    what: "freshet stop on SIGTERM".into(),
                    limit: Duration::from_secs(60),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tokio-postgres connection whose connection task runs on the current runtime.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| BenchError::Sql { sql: format!("connect {url}"), message: e.to_string() })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs a statement (or several) with the simple protocol.
pub async fn execute(client: &Client, sql: &str) -> Result<()> {
    client.batch_execute(sql).await.map_err(|e| sql_error(sql, &e))
}

/// The first column of the first row as text, or None when there is no row or it is NULL.
pub async fn scalar(client: &Client, sql: &str) -> Result<Option<String>> {
    let messages = client.simple_query(sql).await.map_err(|e| sql_error(sql, &e))?;
    Ok(messages
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        })
        .flatten())
}

/// `scalar` parsed as an integer; NULL or no row counts as 0 (an empty aggregate).
pub async fn scalar_i64(client: &Client, sql: &str) -> Result<i64> {
    match scalar(client, sql).await? {
        None => Ok(0),
        Some(text) => parse_number(&text)
            .ok_or_else(|| BenchError::Parse { what: sql.to_string(), detail: format!("`{text}` is not a number") }),
    }
}

/// An integer from text that may be a numeric with a fraction of zeros (`sum` over bigint).
fn parse_number(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let integral =
        trimmed.split_once('.').map_or(trimmed, |(int, frac)| if frac.chars().all(|c| c == '0') { int } else { "" });
    integral.parse().ok()
}

/// Polls `sql` every `interval` until it returns `expected`; the instant the successful poll finished.
/// Every use counts rows that only grow towards `expected`, so a value above it is a wrong result
/// and fails at once instead of waiting out the limit.
pub async fn wait_for_value(
    client: &Client,
    sql: &str,
    expected: i64,
    interval: Duration,
    limit: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        let value = scalar_i64(client, sql).await?;
        let now = Instant::now();
        if value == expected {
            return Ok(now);
        }
        if value > expected {
            return Err(BenchError::Parse {
                what: sql.to_string(),
                detail: format!("{value} rows, expected {expected}"),
            });
        }
        if now > deadline {
            return Err(BenchError::Timeout { what: format!("`{sql}` reaching {expected} (last {value})"), limit });
        }
        tokio::time::sleep(interval).await;
    }
}

/// Subscribes with `client` (a connection of its own: the subscription holds it) to
/// `SELECT <value> FROM ...` and returns when a change makes the value `expected`: the moment the
/// server sends it, with no polling interval in the way. The subscription ends when `client` is
/// dropped.
pub async fn subscribe_until(client: &Client, query: &str, expected: i64, limit: Duration) -> Result<Instant> {
    let sql = format!("SUBSCRIBE ({query})");
    let stream = client.simple_query_raw(sql.as_str()).await.map_err(|e| sql_error(&sql, &e))?;
    futures::pin_mut!(stream);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let message = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(message)) => message.map_err(|e| sql_error(&sql, &e))?,
            Ok(None) => return Err(BenchError::Setup(format!("`{sql}` ended before reaching {expected}"))),
            Err(_) => return Err(BenchError::Timeout { what: format!("`{sql}` reaching {expected}"), limit }),
        };
        let now = Instant::now();
        // Columns: mz_timestamp, mz_diff, the value.
        let SimpleQueryMessage::Row(row) = message else { continue };
        let added = row.get(1) == Some("1");
        let value = row.get(2).and_then(parse_number);
        if added && value == Some(expected) {
            return Ok(now);
        }
        if added && value.is_some_and(|value| value > expected) {
            return Err(BenchError::Parse { what: sql, detail: format!("{value:?}, expected {expected}") });
        }
    }
}

pub fn sql_error(sql: &str, e: &tokio_postgres::Error) -> BenchError {
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    let sql = if sql.chars().count() > 200 {
        format!("{}...", sql.chars().take(200).collect::<String>())
    } else {
        sql.to_string()
    };
    BenchError::Sql { sql, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_with_and_without_zero_fractions() {
        assert_eq!(parse_number("42"), Some(42));
        assert_eq!(parse_number(" 42.000 "), Some(42));
        assert_eq!(parse_number("42.5"), None);
        assert_eq!(parse_number("x"), None);
    }
}
