//! The wire protocol under stress: garbage packets, cancellation and concurrent sessions. The server
//! must keep serving other clients whatever one client sends.

#[path = "support/server.rs"]
mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use server::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_packets_close_only_that_connection() {
    let server = TestServer::start();
    let payloads: Vec<Vec<u8>> = vec![
        b"this is not postgres\r\n\r\n".to_vec(),
        vec![0xff; 64],
        // A startup packet claiming a huge length.
        vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        // A valid startup followed by a query message with a negative length.
        startup_then(b"Q\xff\xff\xff\xf0SELECT 1\0"),
        // A valid startup then an unknown message type.
        startup_then(b"\x01\0\0\0\x04"),
    ];
    for payload in payloads {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let _ = stream.write_all(&payload);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let client = server.connect().await;
    let row = client.query_one("SELECT 41 + 1", &[]).await.expect("server still serves");
    assert_eq!(row.get::<_, i32>(0), 42);
}

fn startup_then(message: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    body.extend_from_slice(b"user\0freshet\0database\0freshet\0\0");
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet.extend_from_slice(message);
    packet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_see_each_others_writes() {
    let server = TestServer::start();
    let setup = server.connect().await;
    setup.batch_execute("CREATE TABLE hits (session int, n int)").await.expect("create");
    let mut tasks = Vec::new();
    for session in 0..4 {
        let client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                client.execute("INSERT INTO hits VALUES ($1, $2)", &[&session, &n]).await.expect("insert");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let row = setup.query_one("SELECT count(*), count(DISTINCT session) FROM hits", &[]).await.expect("count");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (100, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_types_round_trip() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE typed (b boolean, i int, l bigint, f double precision, t text, j jsonb)")
        .await
        .expect("create");
    let json: serde_json::Value = serde_json::json!({"a": [1, 2]});
    client
        .execute(
            "INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6)",
            &[&true, &7i32, &(1i64 << 40), &2.5f64, &"héllo", &json],
        )
        .await
        .expect("insert with binary parameters");
    let row = client.query_one("SELECT b, i, l, f, t, j FROM typed WHERE i = $1", &[&7i32]).await.expect("select");
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 7);
    assert_eq!(row.get::<_, i64>(2), 1i64 << 40);
    assert_eq!(row.get::<_, f64>(3), 2.5);
    assert_eq!(row.get::<_, String>(4), "héllo");
    assert_eq!(row.get::<_, serde_json::Value>(5), json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_the_session_goes_on() {
    let server = TestServer::start();
    let client = server.connect().await;
    let cases = [
        ("SELECT 1/0", "22012"),
        ("SELECT * FROM nowhere", "42P01"),
        ("SELEKT", "42601"),
        ("SELECT 2147483647 + 1", "22003"),
        ("SELECT 'abc'::int", "22P02"),
    ];
    for (sql, code) in cases {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{sql}: {err}");
    }
    let row = client.query_one("SELECT 1", &[]).await.expect("session still usable");
    assert_eq!(row.get::<_, i32>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_a_running_query() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE big (x int); INSERT INTO big SELECT * FROM generate_series(1, 400)")
        .await
        .expect("setup");
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await
    });
    // 64 million rows through a triple cross join, far longer than the cancel's delay. The filter
    // reads a column of every input: a bare count(*) needs no columns, so the optimizer joins three
    // single rows of multiplicity 400 and the query ends at once.
    let query = "SELECT count(*) FROM big a, big b, big c WHERE a.x + b.x + c.x > 0";
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(60), client.simple_query(query)).await;
    let err = outcome.expect("the canceled query ends").expect_err("query was canceled");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    canceller.await.expect("cancel task").expect("cancel request sent");
    let row = client.query_one("SELECT count(*) FROM big", &[]).await.expect("session usable after cancel");
    assert_eq!(row.get::<_, i64>(0), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_shows_notices() {
    let server = TestServer::start();
    let output = std::process::Command::new("psql")
        .arg(server.url())
        .args(["-v", "ON_ERROR_STOP=1", "-c", "CREATE TABLE t (a int)", "-c", "CREATE TABLE IF NOT EXISTS t (a int)"])
        .output()
        .expect("run psql");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NOTICE:  relation \"t\" already exists, skipping"), "psql printed: {stderr}");
}
