//! Starts a throwaway PostgreSQL server (Debian's `postgresql` package, the oracle for plain SQL) on
//! a free loopback port under a temporary directory. As root, the server runs as the `postgres` user,
//! because PostgreSQL refuses to run as root.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server installed (apt-get install postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server binary under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
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
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("freshet-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("pg temp dir");
        if is_root() {
            let status = Command::new("chown").arg("-R").arg("postgres").arg(&dir).status().expect("chown");
            assert!(status.success(), "chown of the PostgreSQL directory failed");
        }
        let data = dir.join("data");
        let out = pg_command(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        // A free port can be taken by another test between our probe and PostgreSQL's bind:
        // then start over on another port.
        for _ in 0..5 {
            let port = crate::server::free_port();
            let options = format!("-p {port} -h 127.0.0.1 -k {} -F -c timezone=UTC", dir.display());
            let out = pg_command(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "start"])
                .output()
                .expect("run pg_ctl");
            if !out.status.success() {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                if log.contains("Address already in use") {
                    std::fs::remove_file(dir.join("server.log")).ok();
                    continue;
                }
                panic!("pg_ctl start failed: {}\n{log}", String::from_utf8_lossy(&out.stderr));
            }
            let pg = Postgres { port, dir, bin };
            pg.wait_ready();
            return pg;
        }
        panic!("PostgreSQL found no free port in 5 attempts");
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Command::new("psql")
            .arg(self.url())
            .args(["-Atqc", "SELECT 1"])
            .stderr(Stdio::null())
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "PostgreSQL did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
