//! SUBSCRIBE over the wire: the snapshot, then each change as it becomes complete, in time order,
//! through the simple and the extended protocol; and how a subscription ends (cancel, a dropped
//! relation, an error in the data) and which subscriptions are refused.

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use futures::{pin_mut, StreamExt};
use server::TestServer;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, SimpleQueryStream};

/// How long one row may take to arrive; rows normally arrive within milliseconds.
const ROW_WAIT: Duration = Duration::from_secs(30);

/// One data row of a simple-query subscription, as text (`mz_timestamp`, `mz_diff`, columns).
async fn next_row(stream: &mut std::pin::Pin<&mut SimpleQueryStream>) -> Vec<String> {
    loop {
        let message = tokio::time::timeout(ROW_WAIT, stream.next())
            .await
            .expect("a row within the wait")
            .expect("the subscription is still running")
            .expect("no error");
        if let SimpleQueryMessage::Row(row) = message {
            return (0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect();
        }
    }
}

/// The error that ends a subscription (of either protocol, or its COPY form).
async fn end_error<T>(
    stream: &mut (impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + Unpin),
) -> tokio_postgres::Error {
    loop {
        match tokio::time::timeout(ROW_WAIT, stream.next()).await.expect("the end within the wait") {
            Some(Ok(_)) => continue,
            Some(Err(error)) => return error,
            None => panic!("the subscription ended without an error"),
        }
    }
}

fn sqlstate(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map(|e| e.code().code().to_string()).unwrap_or_else(|| format!("not a db error: {error}"))
}

async fn setup(server: &TestServer) -> Client {
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (a int, b text);
             INSERT INTO t VALUES (1, 'x'), (2, 'y');
             CREATE MATERIALIZED VIEW mv AS SELECT a, b FROM t WHERE a > 0;",
        )
        .await
        .expect("setup");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_changes_in_time_order_until_canceled() {
    let server = TestServer::start();
    let writer = setup(&server).await;
    let reader = server.connect().await;
    let stream = reader.simple_query_raw("SUBSCRIBE mv").await.expect("subscribe");
    pin_mut!(stream);

    let mut snapshot = [next_row(&mut stream).await, next_row(&mut stream).await];
    snapshot.sort_by(|x, y| x[2].cmp(&y[2]));
    assert_eq!(snapshot[0][0], snapshot[1][0], "the snapshot is one time");
    assert_eq!(
        snapshot.iter().map(|r| r[1..].to_vec()).collect::<Vec<_>>(),
        vec![vec!["1", "1", "x"], vec!["1", "2", "y"]]
    );
    let snapshot_time: u64 = snapshot[0][0].parse().expect("mz_timestamp is an integer");

    writer.batch_execute("INSERT INTO t VALUES (3, 'z'), (-1, 'filtered')").await.expect("insert");
    let inserted = next_row(&mut stream).await;
    assert_eq!(inserted[1..], ["1", "3", "z"]);
    let inserted_time: u64 = inserted[0].parse().expect("mz_timestamp");
    assert!(inserted_time > snapshot_time, "{inserted_time} after {snapshot_time}");

    writer.batch_execute("UPDATE t SET b = 'w' WHERE a = 1").await.expect("update");
    let mut update = [next_row(&mut stream).await, next_row(&mut stream).await];
    update.sort_by(|x, y| x[1].cmp(&y[1]));
    assert_eq!(update[0][0], update[1][0], "an update's retraction and insertion share a time");
    assert_eq!(update[0][1..], ["-1", "1", "x"]);
    assert_eq!(update[1][1..], ["1", "1", "w"]);
    assert!(update[0][0].parse::<u64>().expect("mz_timestamp") > inserted_time);

    reader.cancel_token().cancel_query(NoTls).await.expect("cancel");
    // The canceled subscription has ended; the same connection goes on serving.
    assert_eq!(sqlstate(&end_error(&mut stream).await), "57014");
    let rows = reader.query("SELECT count(*) FROM mv", &[]).await.expect("the connection serves on");
    assert_eq!(rows[0].get::<_, i64>(0), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_without_snapshot_and_with_a_query() {
    let server = TestServer::start();
    let writer = setup(&server).await;
    let reader = server.connect().await;
    let sql = "SUBSCRIBE TO (SELECT a * 10 AS a10 FROM t WHERE b <> 'y') WITH (SNAPSHOT = false)";
    let prepared = reader.prepare(sql).await.expect("prepare");
    assert_eq!(
        prepared.columns().iter().map(|c| c.name().to_string()).collect::<Vec<_>>(),
        vec!["mz_timestamp", "mz_diff", "a10"]
    );
    let rows = reader.query_raw(&prepared, Vec::<i32>::new()).await.expect("subscribe");
    pin_mut!(rows);
    // An insert may land before the subscription's start (and so in the skipped snapshot); insert
    // again until one lands after it.
    let deadline = tokio::time::Instant::now() + ROW_WAIT;
    let row = loop {
        writer.batch_execute("INSERT INTO t VALUES (2, 'y'), (7, 'q')").await.expect("insert");
        if let Ok(row) = tokio::time::timeout(Duration::from_millis(500), rows.next()).await {
            break row.expect("running").expect("row");
        }
        assert!(tokio::time::Instant::now() < deadline, "no row within {ROW_WAIT:?}");
    };
    // Without the snapshot, the first row is the insert, not (1, 'x').
    assert_eq!((row.get::<_, i64>(1), row.get::<_, i32>(2)), (1, 70));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_with_an_error_when_its_relation_is_dropped_or_fails() {
    let server = TestServer::start();
    let writer = setup(&server).await;
    let reader = server.connect().await;
    {
        let stream = reader.simple_query_raw("SUBSCRIBE mv").await.expect("subscribe");
        pin_mut!(stream);
        next_row(&mut stream).await;
        writer.batch_execute("DROP MATERIALIZED VIEW mv").await.expect("drop while subscribed");
        let error = end_error(&mut stream).await;
        assert_eq!(sqlstate(&error), "42P01", "{error:?}");
    }
    let stream = reader.simple_query_raw("SUBSCRIBE (SELECT 10 / (a - 5) FROM t)").await.expect("subscribe");
    pin_mut!(stream);
    next_row(&mut stream).await;
    writer.batch_execute("INSERT INTO t VALUES (5, 'boom')").await.expect("insert");
    assert_eq!(sqlstate(&end_error(&mut stream).await), "22012");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_subscriptions_say_why() {
    let server = TestServer::start();
    let client = setup(&server).await;
    for (sql, code) in [
        ("SUBSCRIBE nosuch", "42P01"),
        ("SUBSCRIBE mv WITH (UP_TO = 5)", "0A000"),
        ("SUBSCRIBE mv WITH (PROGRESS = often)", "22023"),
        ("SUBSCRIBE mv WITH (SNAPSHOT = maybe)", "22023"),
        ("SELECT 1; SUBSCRIBE mv", "0A000"),
        ("SUBSCRIBE (SELECT a FROM)", "42601"),
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error), code, "{sql}: {error:?}");
    }
    let rows = client.query("SELECT count(*) FROM mv", &[]).await.expect("still serving");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_subscribe_streams_copy_text_lines() {
    let server = TestServer::start();
    let writer = setup(&server).await;
    let reader = server.connect().await;
    let copy = reader.copy_out("COPY (SUBSCRIBE mv) TO STDOUT").await.expect("copy out");
    pin_mut!(copy);
    let mut text = String::new();
    while text.lines().count() < 2 {
        let chunk = tokio::time::timeout(ROW_WAIT, copy.next()).await.expect("data").expect("running").expect("chunk");
        text.push_str(std::str::from_utf8(&chunk).expect("utf8"));
    }
    let mut snapshot: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').skip(1).collect()).collect();
    snapshot.sort();
    assert_eq!(snapshot, vec![vec!["1", "1", "x"], vec!["1", "2", "y"]]);

    writer.batch_execute("INSERT INTO t (a) VALUES (4)").await.expect("insert");
    let chunk = tokio::time::timeout(ROW_WAIT, copy.next()).await.expect("data").expect("running").expect("chunk");
    let line = std::str::from_utf8(&chunk).expect("utf8");
    assert!(line.ends_with("\t1\t4\t\\N\n"), "{line:?}: NULL is \\N in COPY text");

    reader.cancel_token().cancel_query(NoTls).await.expect("cancel");
    assert_eq!(sqlstate(&end_error(&mut copy).await), "57014");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_prints_copy_subscribe_and_it_ends_with_its_inputs() {
    let server = TestServer::start();
    // A constant query is complete forever after its snapshot, so the subscription ends by itself.
    let sql = "COPY (SUBSCRIBE (SELECT 1 AS one, NULL::text AS nothing UNION ALL SELECT 2, 'tab\there')) TO STDOUT";
    let output = std::process::Command::new("psql")
        .arg(server.url())
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').skip(1).collect()).collect();
    lines.sort();
    assert_eq!(lines, vec![vec!["1", "1", "\\N"], vec!["1", "2", "tab\\there"]], "psql printed {stdout:?}");

    let refused = std::process::Command::new("psql")
        .arg(server.url())
        .args(["-c", "COPY (SUBSCRIBE (SELECT 1)) TO STDOUT WITH (FORMAT binary)"])
        .output()
        .expect("run psql");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is not supported"), "psql printed {stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_rows_say_how_far_the_stream_is_complete() {
    let server = TestServer::start();
    let writer = setup(&server).await;
    let reader = server.connect().await;
    let stream =
        reader.simple_query_raw("SUBSCRIBE mv WITH (SNAPSHOT = false, PROGRESS = true)").await.expect("subscribe");
    pin_mut!(stream);
    // Columns: mz_timestamp, mz_progressed, mz_diff, a, b. The first progress row says the
    // subscription has started, so the insert comes after its start.
    let first = next_row(&mut stream).await;
    assert_eq!(first[1..], ["t", "NULL", "NULL", "NULL"], "without the snapshot, progress comes first");
    writer.batch_execute("INSERT INTO t VALUES (9, 'n')").await.expect("insert");
    let data = loop {
        let row = next_row(&mut stream).await;
        if row[1] == "f" {
            break row;
        }
        assert_eq!(row[2..], ["NULL", "NULL", "NULL"], "a progress row has no data");
    };
    assert_eq!(data[2..], ["1", "9", "n"]);
    let progress = next_row(&mut stream).await;
    assert_eq!(progress[1], "t", "the insert's time is followed by a progress row: {progress:?}");
    let (data_time, progress_time): (u64, u64) = (data[0].parse().expect("ts"), progress[0].parse().expect("ts"));
    assert!(progress_time > data_time, "progress {progress_time} passes the update at {data_time}");
}
