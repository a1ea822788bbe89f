//! Restart scenarios: the catalog and table contents survive a clean stop and a kill -9, and views
//! answer as before.

#[path = "support/server.rs"]
mod server;

use server::TestServer;

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client.simple_query(sql).await.expect("query succeeds");
    messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

fn text(values: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    values.iter().map(|r| r.iter().map(|v| Some(v.to_string())).collect()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_tables_and_views_survive_clean_restart_and_kill() {
    let mut server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE kv (k text NOT NULL, v bigint);
             INSERT INTO kv VALUES ('a', 1), ('b', 2), ('a', 3);
             CREATE VIEW big AS SELECT k, v FROM kv WHERE v > 1;
             CREATE MATERIALIZED VIEW sums AS SELECT k, sum(v) AS total FROM kv GROUP BY k;
             DELETE FROM kv WHERE v = 2;",
        )
        .await
        .expect("setup");
    let expected_sums = text(&[&["a", "4"]]);
    assert_eq!(rows(&client, "SELECT k, total FROM sums ORDER BY k").await, expected_sums);
    drop(client);

    assert!(server.stop().success(), "clean shutdown exits 0");
    server.restart();
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT k, total FROM sums ORDER BY k").await, expected_sums);
    assert_eq!(rows(&client, "SELECT k, v FROM big ORDER BY v").await, text(&[&["a", "3"]]));

    client.batch_execute("INSERT INTO kv VALUES ('c', 10)").await.expect("insert acknowledged");
    drop(client);
    server.kill();
    server.restart();
    let client = server.connect().await;
    assert_eq!(
        rows(&client, "SELECT k, total FROM sums ORDER BY k").await,
        text(&[&["a", "4"], &["c", "10"]]),
        "an acknowledged insert survives kill -9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_kill_during_writes() {
    let mut server = TestServer::start();
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE ledger (n int NOT NULL)").await.expect("create");
    let writer = tokio::spawn(async move {
        let mut acknowledged = 0;
        for n in 0..10_000 {
            match client.execute(&format!("INSERT INTO ledger VALUES ({n})"), &[]).await {
                Ok(_) => acknowledged = n + 1,
                Err(_) => break,
            }
        }
        acknowledged
    });
    // Kill once some writes are through, while the writer is still going.
    let probe = server.connect().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let count = rows(&probe, "SELECT count(*) FROM ledger").await;
        if count[0][0].as_deref().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) >= 50 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "writes did not progress");
    }
    server.kill();
    let acknowledged = writer.await.expect("writer task");
    server.restart();
    let client = server.connect().await;
    let count: i64 = rows(&client, "SELECT count(*) FROM ledger").await[0][0]
        .as_deref()
        .and_then(|c| c.parse().ok())
        .expect("count");
    assert!(count >= acknowledged as i64, "acknowledged {acknowledged} writes but only {count} survived");
    assert!(count <= acknowledged as i64 + 1, "at most the one in-flight write may also have landed");
    let distinct = rows(&client, "SELECT count(DISTINCT n) FROM ledger").await;
    assert_eq!(distinct[0][0].as_deref(), Some(count.to_string().as_str()), "no write applied twice");
}
