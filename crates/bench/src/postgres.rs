//! A throwaway PostgreSQL server (Debian's package; the newest under /usr/lib/postgresql) on a
//! loopback port under a temporary directory, the peer of the serving benchmark. As root it runs as
//! the `postgres` user, because PostgreSQL refuses to run as root.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};
use crate::procs::{free_port, run, TempDir};

pub struct Postgres {
    port: u16,
    bin: PathBuf,
    temp: TempDir,
}

/// The `bin` directory of the newest installed PostgreSQL server.
pub fn bin_dir() -> Result<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| BenchError::io("list /usr/lib/postgresql (apt-get install postgresql)", e))?;
    let mut versions: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).filter(|p| p.join("postgres").exists()).collect();
    versions.sort();
    versions.pop().ok_or_else(|| BenchError::Setup("no PostgreSQL server under /usr/lib/postgresql/*/bin".into()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// A PostgreSQL server program, run as the `postgres` user when we are root.
fn pg_command(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// initdb, then pg_ctl start on a free loopback port; waits until it answers.
    pub async fn start() -> Result<Postgres> {
        let bin = bin_dir()?;
        let temp = TempDir::new("pg")?;
        if is_root() {
            run(Command::new("chown").arg("-R").arg("postgres").arg(temp.path()), "chown postgres")?;
        }
        let data = temp.path().join("data");
        run(
            pg_command(bin.join("initdb"))
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C", "-D"])
                .arg(&data),
            "initdb",
        )?;
        let port = free_port()?;
        let options = format!("-p {port} -h 127.0.0.1 -k {} -c max_connections=100", temp.path().display());
        run(
            pg_command(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(temp.path().join("server.log"))
                .args(["-w", "start"]),
            "pg_ctl start",
        )?;
        let pg = Postgres { port, bin, temp };
        pg.wait_ready().await?;
        Ok(pg)
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while crate::freshet::connect(&self.url()).await.is_err() {
            if Instant::now() > deadline {
                return Err(BenchError::Timeout { what: "PostgreSQL start-up".into(), limit: Duration::from_secs(30) });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.temp.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
