//! Test harness: a local Kinesis emulator (npm `kinesis-local`, pinned in `tests/emulator/`) run as
//! a child process on free loopback ports, with persistence so that `restart()` keeps streams and
//! records, plus helpers to create, fill and delete streams through the AWS SDK.
//!
//! For tests only: failures panic with a message saying what went wrong. It must not depend on
//! anything but std, tokio, aws-config and aws-sdk-kinesis, so that every test crate can include it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;

/// The region the emulator and every helper client use.
pub const REGION: &str = "us-east-1";
/// Credentials the emulator accepts (it does not check signatures).
pub const ACCESS_KEY_ID: &str = "freshet-test-key";
pub const SECRET_ACCESS_KEY: &str = "freshet-test-secret";

/// How long the emulator may take to start answering (node start-up on a busy machine).
const START_DEADLINE: Duration = Duration::from_secs(90);
/// How long stream state changes may take (the emulator is told to take 50 ms).
const STATE_DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The emulator's data file inside the data directory.
const DATA_FILE: &str = "kinesis-data.json";

/// How often the emulator rewrites its data file (see `kill`).
const PERSIST_INTERVAL: &str = "300ms";

/// Serialises `npm ci` between tests of one binary.
static NPM_LOCK: Mutex<()> = Mutex::new(());

/// How many port pairs `start` tries.
const PORT_ATTEMPTS: usize = 5;

/// How a spawn ended: answering, or gone because its port was taken meanwhile.
enum Started {
    Yes,
    PortTaken,
}

/// A running emulator. Dropping it kills the process and removes its data directory.
pub struct Emulator {
    port: u16,
    tls_port: u16,
    data_dir: PathBuf,
    package_dir: PathBuf,
    child: Option<Child>,
    client: aws_sdk_kinesis::Client,
}

impl Emulator {
    /// Installs the emulator if needed, starts it and waits until it answers.
    pub async fn start() -> Emulator {
        let package_dir = ensure_installed();
        // A free port can be taken by another test between our probe and the emulator's bind:
        // then start over on other ports.
        for _ in 0..PORT_ATTEMPTS {
            let (port, tls_port) = (free_port(), free_port());
            let data_dir = std::env::temp_dir().join(format!("freshet-kinesis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&data_dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
            let client = sdk_client(&format!("http://127.0.0.1:{port}"));
            let package_dir = package_dir.clone();
            let mut emulator = Emulator { port, tls_port, data_dir, package_dir, child: None, client };
            match emulator.spawn_and_wait().await {
                Started::Yes => return emulator,
                Started::PortTaken => continue,
            }
        }
        panic!("the emulator found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process (e.g. a Freshet server) that should talk to this emulator.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_KINESIS", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
        ]
    }

    /// A stream ARN as the emulator names streams.
    pub fn stream_arn(&self, stream: &str) -> String {
        format!("arn:aws:kinesis:{REGION}:000000000000:stream/{stream}")
    }

    /// An SDK client for this emulator.
    pub fn client(&self) -> &aws_sdk_kinesis::Client {
        &self.client
    }

    /// Stops the emulator so that its data survives. It rewrites its data file every
    /// `PERSIST_INTERVAL`; on SIGTERM it waits for open client connections (a reader's keep-alive)
    /// before writing, so instead this waits for two rewrites (the second one began after this
    /// call, so it holds everything written before) and kills the process in the quiet time after.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let data_file = self.data_dir.join(DATA_FILE);
        let quiet = Duration::from_millis(60);
        let mut last = file_state(&data_file);
        // A rewrite (truncate, write) shows as a burst of changes; count bursts, not changes.
        let mut bursts = 0;
        let mut changed_at: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !(bursts >= 2 && changed_at.is_some_and(|t| t.elapsed() >= quiet)) {
            std::thread::sleep(Duration::from_millis(10));
            let now = file_state(&data_file);
            if now != last {
                if changed_at.is_none_or(|t| t.elapsed() >= quiet) {
                    bursts += 1;
                }
                last = now;
                changed_at = Some(Instant::now());
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the emulator again on the same port with the persisted data, and waits until the
    /// streams it had are listed again.
    pub async fn restart(&mut self) {
        let streams = self.stream_names().await;
        self.kill();
        if let Started::PortTaken = self.spawn_and_wait().await {
            panic!("port {} was taken while the emulator was down", self.port);
        }
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let listed = self.stream_names().await;
            if streams.iter().all(|s| listed.contains(s)) {
                return;
            }
            assert!(Instant::now() < deadline, "the restarted emulator lost streams {streams:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    async fn stream_names(&self) -> Vec<String> {
        match self.client.list_streams().send().await {
            Ok(out) => out.stream_names().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    async fn spawn_and_wait(&mut self) -> Started {
        let log_path = self.data_dir.join("emulator.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
        let log_err = log.try_clone().expect("clone log handle");
        let duration = "50ms";
        let child = Command::new("node")
            .arg("main.js")
            .current_dir(&self.package_dir)
            .env("KINESIS_MOCK_PLAIN_PORT", self.port.to_string())
            .env("KINESIS_MOCK_TLS_PORT", self.tls_port.to_string())
            .env("SHOULD_PERSIST_DATA", "true")
            .env("LOAD_DATA_IF_EXISTS", "true")
            .env("PERSIST_PATH", &self.data_dir)
            .env("PERSIST_FILE_NAME", DATA_FILE)
            .env("PERSIST_INTERVAL", PERSIST_INTERVAL)
            .env("LOG_LEVEL", "WARN")
            .env("CREATE_STREAM_DURATION", duration)
            .env("DELETE_STREAM_DURATION", duration)
            .env("MERGE_SHARDS_DURATION", duration)
            .env("SPLIT_SHARD_DURATION", duration)
            .env("UPDATE_SHARD_COUNT_DURATION", duration)
            .env("REGISTER_STREAM_CONSUMER_DURATION", duration)
            .env("DEREGISTER_STREAM_CONSUMER_DURATION", duration)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `node main.js` in {}: {e}", self.package_dir.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if self.client.list_streams().send().await.is_ok() {
                return Started::Yes;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("EADDRINUSE") {
                    self.child = None;
                    return Started::PortTaken;
                }
                panic!("the emulator exited with {status}; its log:\n{log}");
            }
            assert!(Instant::now() < deadline, "the emulator did not answer within {START_DEADLINE:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Creates a stream with `shards` shards and waits until it is ACTIVE.
    pub async fn create_stream(&self, stream: &str, shards: i32) {
        self.client
            .create_stream()
            .stream_name(stream)
            .shard_count(shards)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStream {stream}: {}", aws_sdk_kinesis::error::DisplayErrorContext(e)));
        self.wait_active(stream).await;
    }

    /// Waits until a stream is ACTIVE (after creation or resharding).
    pub async fn wait_active(&self, stream: &str) {
        let deadline = Instant::now() + STATE_DEADLINE;
        loop {
            let summary = self.client.describe_stream_summary().stream_name(stream).send().await;
            let active = summary
                .ok()
                .and_then(|s| s.stream_description_summary().map(|d| d.stream_status() == &StreamStatus::Active));
            if active == Some(true) {
                return;
            }
            assert!(Instant::now() < deadline, "stream {stream} did not become ACTIVE");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Puts one record; returns its shard id and sequence number.
    pub async fn put_record(&self, stream: &str, partition_key: &str, data: &[u8]) -> (String, String) {
        let out = self
            .client
            .put_record()
            .stream_name(stream)
            .partition_key(partition_key)
            .data(Blob::new(data))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRecord {stream}: {}", aws_sdk_kinesis::error::DisplayErrorContext(e)));
        (out.shard_id().to_string(), out.sequence_number().to_string())
    }

    /// Deletes a stream and waits until it is gone.
    pub async fn delete_stream(&self, stream: &str) {
        self.client
            .delete_stream()
            .stream_name(stream)
            .enforce_consumer_deletion(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteStream {stream}: {}", aws_sdk_kinesis::error::DisplayErrorContext(e)));
        let deadline = Instant::now() + STATE_DEADLINE;
        loop {
            let gone = match self.client.describe_stream_summary().stream_name(stream).send().await {
                Err(e) => e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()),
                Ok(_) => false,
            };
            if gone {
                return;
            }
            assert!(Instant::now() < deadline, "stream {stream} was not deleted");
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// An SDK client with dummy credentials for `endpoint`.
pub fn sdk_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "freshet-tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// The repository root: the nearest ancestor of this crate holding `tests/emulator/package.json`.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("tests/emulator/package.json").is_file())
        .unwrap_or_else(|| panic!("no tests/emulator/package.json above {}", manifest_dir.display()))
        .to_path_buf()
}

/// Runs `npm ci` when the emulator package is missing; returns the package's folder.
fn ensure_installed() -> PathBuf {
    let emulator_dir = repo_root().join("tests/emulator");
    let package_dir = emulator_dir.join("node_modules/kinesis-local");
    let _guard = NPM_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !package_dir.join("main.js").is_file() {
        let status = Command::new("npm")
            .arg("ci")
            .arg("--prefix")
            .arg(&emulator_dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run npm (is Node.js installed?): {e}"));
        assert!(status.success(), "`npm ci --prefix {}` failed: {status}", emulator_dir.display());
    }
    package_dir
}

/// Modification time and length of a file, to see when a write has finished.
fn file_state(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}
