//! The standard AWS environment variables alone (`AWS_ENDPOINT_URL_KINESIS`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`) are enough to reach a stream: no explicit endpoint or credentials.
//!
//! A test binary of its own, with a single-threaded runtime, because it changes the environment.

#[path = "../../../tests/support/emulator.rs"]
mod emulator;

use std::time::{Duration, Instant};

use emulator::Emulator;
use freshet_kinesis::{Credentials, KinesisClient, ReaderEvent, StartPosition, StreamConfig};

#[test]
fn environment_supplies_endpoint_and_credentials() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let emu = Emulator::start().await;
        emu.create_stream("env", 1).await;
        emu.put_record("env", "k", b"from-env").await;
        // Nothing else runs while the environment changes: the runtime has one thread and is idle here.
        for (name, value) in emu.env_vars() {
            std::env::set_var(name, value);
        }
        let config = StreamConfig {
            region: String::new(),
            stream_name: "env".into(),
            endpoint: None,
            credentials: Credentials::DefaultChain,
            role_arn: None,
        };
        let client = KinesisClient::connect(config).await.unwrap();
        client.check_stream().await.unwrap();

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _handle = client.spawn_reader(
            &tokio::runtime::Handle::current(),
            Box::new(|_| true),
            Box::new(|_| StartPosition::TrimHorizon),
            Box::new(move |event| {
                let _ = tx.send(event);
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await.expect("no record within 30 s") {
                Some(ReaderEvent::Records { records, .. }) if !records.is_empty() => {
                    assert_eq!(records[0].data, b"from-env");
                    break;
                }
                Some(ReaderEvent::Error { message, fatal: true }) => panic!("{message}"),
                Some(_) => {}
                None => panic!("the reader stopped"),
            }
        }
    });
}
