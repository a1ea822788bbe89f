//! End-to-end tests of the wire frontend with a real coordinator and tokio-postgres as the client.
//! They need a working `CoordClient::start`.

mod closing;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use freshet_coord::{Config, CoordClient};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use closing::expect_closed;

struct Server {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    coord: CoordClient,
    data_dir: std::path::PathBuf,
}

impl Server {
    async fn start() -> Server {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "freshet-pgwire-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let coord = CoordClient::start(Config {
            data_dir: data_dir.clone(),
            workers: 1,
            log_segment_bytes: 1 << 20,
            collect_freed: None,
        })
        .await
        .expect("coordinator starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = coord.clone();
        let task = tokio::spawn(async move {
            freshet_pgwire::serve(listener, served.clone(), async {
                let _ = stopped.await;
            })
            .await;
            served.shutdown().await;
        });
        Server { port, stop: Some(stop), task, coord, data_dir }
    }

    async fn connect(&self) -> Client {
        let config = format!("host=127.0.0.1 port={} user=tester dbname=testdb", self.port);
        let (client, connection) = tokio_postgres::connect(&config, NoTls).await.expect("connects");
        tokio::spawn(connection);
        client
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("serve returns").unwrap();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn code(err: &tokio_postgres::Error) -> Option<&SqlState> {
    err.code()
}

fn command_counts(messages: &[SimpleQueryMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn simple_query_round_trip() {
    let server = Server::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE t (a int, b text)").await.unwrap();
    let messages = client.simple_query("INSERT INTO t VALUES (1, 'x'), (2, NULL), (3, 'z')").await.unwrap();
    assert_eq!(command_counts(&messages), vec![3]);

    let messages = client.simple_query("SELECT a, b FROM t ORDER BY a").await.unwrap();
    let rows: Vec<(Option<String>, Option<String>)> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((r.get(0).map(str::to_string), r.get(1).map(str::to_string))),
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        vec![(Some("1".into()), Some("x".into())), (Some("2".into()), None), (Some("3".into()), Some("z".into()))]
    );
    assert_eq!(command_counts(&messages), vec![3]);

    // An empty query string is answered (EmptyQueryResponse, which tokio-postgres reports as a
    // completion of 0 rows) without error.
    assert_eq!(command_counts(&client.simple_query("").await.unwrap()), vec![0]);
    server.stop().await;
}

#[tokio::test]
async fn errors_carry_sqlstate_and_connection_survives() {
    let server = Server::start().await;
    let client = server.connect().await;
    let err = client.simple_query("SELECT * FROM no_such_table").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNDEFINED_TABLE));
    let err = client.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::DIVISION_BY_ZERO));
    let err = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::SYNTAX_ERROR));
    let err = client.query("SELECT * FROM no_such_table", &[]).await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNDEFINED_TABLE));
    let row = client.query_one("SELECT 1 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
    server.stop().await;
}

#[tokio::test]
async fn simple_query_stops_at_first_error() {
    let server = Server::start().await;
    let client = server.connect().await;
    let err = client.simple_query("SELECT 1; SELECT 1/0; CREATE TABLE after_error (x int)").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::DIVISION_BY_ZERO));
    let err = client.simple_query("SELECT * FROM after_error").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNDEFINED_TABLE));
    server.stop().await;
}

#[tokio::test]
async fn extended_query_binary_parameters_and_results() {
    let server = Server::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE typed (b bool, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision, \
             t text, by bytea, j jsonb, d date, ts timestamp, tz timestamptz)",
        )
        .await
        .unwrap();
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let ts = NaiveDateTime::parse_from_str("2024-02-29 13:14:15.5", "%Y-%m-%d %H:%M:%S%.f").unwrap();
    let tz: DateTime<Utc> = ts.and_utc();
    let json = serde_json::json!({"k": [1, "two"]});
    let inserted = client
        .execute(
            "INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &true,
                &-2i16,
                &40_000i32,
                &(1i64 << 40),
                &1.5f32,
                &-0.25f64,
                &"héllo",
                &vec![0u8, 255],
                &json,
                &date,
                &ts,
                &tz,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);

    let row = client.query_one("SELECT * FROM typed", &[]).await.unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), -2);
    assert_eq!(row.get::<_, i32>(2), 40_000);
    assert_eq!(row.get::<_, i64>(3), 1 << 40);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), -0.25);
    assert_eq!(row.get::<_, String>(6), "héllo");
    assert_eq!(row.get::<_, Vec<u8>>(7), vec![0, 255]);
    assert_eq!(row.get::<_, serde_json::Value>(8), json);
    assert_eq!(row.get::<_, NaiveDate>(9), date);
    assert_eq!(row.get::<_, NaiveDateTime>(10), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(11), tz);

    // A parameter used in an expression, and NULL parameters.
    let row = client.query_one("SELECT $1::bigint + 1", &[&41i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    let row = client.query_one("SELECT $1::text", &[&None::<String>]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);
    server.stop().await;
}

#[tokio::test]
async fn prepared_statement_describes_types() {
    let server = Server::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE p (a int, b text)").await.unwrap();
    let insert = client.prepare("INSERT INTO p VALUES ($1, $2)").await.unwrap();
    assert_eq!(insert.params(), &[tokio_postgres::types::Type::INT4, tokio_postgres::types::Type::TEXT]);
    assert!(insert.columns().is_empty());
    let select = client.prepare("SELECT a, b FROM p WHERE a = $1").await.unwrap();
    let columns: Vec<_> = select.columns().iter().map(|c| (c.name().to_string(), c.type_().clone())).collect();
    assert_eq!(
        columns,
        vec![
            ("a".to_string(), tokio_postgres::types::Type::INT4),
            ("b".to_string(), tokio_postgres::types::Type::TEXT)
        ]
    );
    client.execute(&insert, &[&7i32, &"seven"]).await.unwrap();
    let rows = client.query(&select, &[&7i32]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(1), "seven");

    let err = client.prepare("SELECT 1; SELECT 2").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::SYNTAX_ERROR));
    server.stop().await;
}

#[tokio::test]
async fn large_results_and_portals() {
    let server = Server::start().await;
    let mut client = server.connect().await;
    client.batch_execute("CREATE TABLE big (n int, pad text)").await.unwrap();
    let values: Vec<String> = (0..5000).map(|i| format!("({i}, '{}')", "x".repeat(100))).collect();
    client.batch_execute(&format!("INSERT INTO big VALUES {}", values.join(", "))).await.unwrap();

    let rows = client.query("SELECT n FROM big", &[]).await.unwrap();
    assert_eq!(rows.len(), 5000);
    let messages = client.simple_query("SELECT n, pad FROM big").await.unwrap();
    assert_eq!(command_counts(&messages), vec![5000]);

    // Execute with a row limit suspends the portal between fetches.
    let transaction = client.transaction().await.unwrap();
    let statement = transaction.prepare("SELECT n FROM big ORDER BY n").await.unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let first = transaction.query_portal(&portal, 10).await.unwrap();
    let second = transaction.query_portal(&portal, 10).await.unwrap();
    assert_eq!((first.len(), second.len()), (10, 10));
    assert_eq!((first[0].get::<_, i32>(0), second[0].get::<_, i32>(0)), (0, 10));
    transaction.commit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn transactions_pass_through() {
    let server = Server::start().await;
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE tx (a int)").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO tx VALUES (1); COMMIT").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO tx VALUES (2); ROLLBACK").await.unwrap();
    // COMMIT keeps its write, ROLLBACK discards its own.
    let row = client.query_one("SELECT count(*) FROM tx WHERE a = 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let row = client.query_one("SELECT count(*) FROM tx", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    server.stop().await;
}

#[tokio::test]
async fn cancel_request_is_accepted_and_connection_keeps_working() {
    let server = Server::start().await;
    let client = server.connect().await;
    // Nothing runs: the cancel must be harmless and must not cancel the next statement.
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let row = client.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    server.stop().await;
}

#[tokio::test]
async fn garbage_closes_only_that_connection() {
    let server = Server::start().await;
    let client = server.connect().await;

    // Garbage instead of a startup packet.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&[0xff; 64]).await.unwrap();
    expect_closed(raw).await;

    // A valid startup, then a message with an absurd length and an unknown type.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let params = b"user\0tester\0\0";
    let mut startup = Vec::new();
    startup.extend_from_slice(&((8 + params.len()) as i32).to_be_bytes());
    startup.extend_from_slice(&196608i32.to_be_bytes());
    startup.extend_from_slice(params);
    raw.write_all(&startup).await.unwrap();
    raw.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff, b'S']).await.unwrap();
    expect_closed(raw).await;

    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    raw.write_all(&startup).await.unwrap();
    raw.write_all(&[b'!', 0, 0, 0, 4]).await.unwrap();
    expect_closed(raw).await;

    // The established connection and new ones are unaffected.
    assert_eq!(client.query_one("SELECT 2", &[]).await.unwrap().get::<_, i32>(0), 2);
    let other = server.connect().await;
    assert_eq!(other.query_one("SELECT 3", &[]).await.unwrap().get::<_, i32>(0), 3);
    server.stop().await;
}

#[tokio::test]
async fn startup_reports_session_parameters() {
    let server = Server::start().await;
    let config = format!("host=127.0.0.1 port={} user=alice dbname=shop application_name=wiretest", server.port);
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await.expect("connects");
    let expected = server.coord.new_session("alice", "shop").startup_parameters();
    assert!(!expected.is_empty());
    // application_name echoes the client's; the session was opened without one here.
    for (name, value) in expected.iter().filter(|(name, _)| name != "application_name") {
        assert_eq!(connection.parameter(name), Some(value.as_str()), "{name}");
    }
    assert_eq!(connection.parameter("application_name"), Some("wiretest"));
    tokio::spawn(connection);
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    server.stop().await;
}
