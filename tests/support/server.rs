//! Starts the real `freshet` binary on a free loopback port with its own data directory, for tests
//! that talk to it over TCP like any client would.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process. Killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    _temp: Option<TempDir>,
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("freshet-test-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl TestServer {
    /// Starts a server with a fresh data directory.
    pub fn start() -> TestServer {
        Self::start_with_env(Vec::new())
    }

    /// Starts a server with extra environment variables (e.g. AWS endpoint and credentials).
    pub fn start_with_env(env: Vec<(String, String)>) -> TestServer {
        let temp = TempDir::new("server");
        let data_dir = temp.0.join("data");
        let mut server = TestServer { child: None, port: free_port(), data_dir, env, _temp: Some(temp) };
        // A free port can be taken by another test between our probe and the server's bind: then
        // start over on another port.
        for _ in 0..5 {
            if server.try_spawn() {
                return server;
            }
            server.port = free_port();
        }
        panic!("freshet found no free port in 5 attempts; log:\n{}", server.log());
    }

    fn spawn(&mut self) {
        assert!(self.try_spawn(), "port {} was taken while freshet was down", self.port);
    }

    /// Starts the server and waits until it answers; `false` if its port was taken meanwhile.
    fn try_spawn(&mut self) -> bool {
        let log_path = self.data_dir.with_extension("log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_freshet"));
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--workers")
            .arg("2")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            // The server says on stdout when it listens: readiness waits for that line, so that a
            // server answering on a port this one failed to bind is never taken for this one.
            .stdout(Stdio::from(log.try_clone().expect("server log file handle")))
            .stderr(Stdio::from(log));
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let log_start = self.log().len();
        self.child = Some(command.spawn().expect("spawn freshet"));
        self.wait_ready(log_start)
    }

    /// Polls until the server accepts connections and answers a query; `false` if it exited
    /// because its port is in use.
    fn wait_ready(&mut self, log_start: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = self.url();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = self.log();
                    if log.get(log_start..).is_some_and(|new| new.contains("Address already in use")) {
                        self.child = None;
                        return false;
                    }
                    panic!("freshet exited during start-up with {status}; log:\n{log}");
                }
            }
            let listening = self.log().get(log_start..).is_some_and(|new| new.contains("freshet: listening on"));
            let ok = listening
                && std::process::Command::new("psql")
                    .arg(&url)
                    .args(["-Atqc", "SELECT 1"])
                    .stderr(Stdio::null())
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false);
            if ok {
                return true;
            }
            assert!(Instant::now() < deadline, "freshet did not become ready; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://freshet@127.0.0.1:{}/freshet", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A connected tokio-postgres client; the connection task runs on the current runtime.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await.expect("connect to freshet");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Kills the process without warning (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("freshet did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}
