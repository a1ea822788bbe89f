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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_log_is_compacted_and_replays_the_same_contents() {
    // Tiny segments: compaction runs many times during the writes below.
    let mut server = TestServer::start_with_env(vec![("FRESHET_LOG_SEGMENT_BYTES".into(), "4096".into())]);
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE counter (k int, v int); CREATE TABLE scratch (x int)").await.expect("create");
    for k in 0..10 {
        client.execute("INSERT INTO counter VALUES ($1, 0)", &[&k]).await.expect("insert");
    }
    // 400 updates: each retracts the old row and inserts a new one; only 10 rows are live.
    for round in 1..=40 {
        for k in 0..10 {
            client.execute("UPDATE counter SET v = $1 WHERE k = $2", &[&round, &k]).await.expect("update");
        }
    }
    client.batch_execute("INSERT INTO scratch VALUES (1), (2); DROP TABLE scratch").await.expect("scratch");
    let expected = rows(&client, "SELECT k, v FROM counter ORDER BY k").await;
    assert_eq!(expected.len(), 10);
    assert!(expected.iter().all(|r| r[1].as_deref() == Some("40")), "{expected:?}");
    let data_dir = server.data_dir().to_path_buf();
    let segments = || -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = std::fs::read_dir(&data_dir)
            .expect("data dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tables-"))
            .map(|e| (e.file_name().to_string_lossy().to_string(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        found.sort();
        found
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while segments().first().is_some_and(|(name, _)| name == "tables-0000000000.seg") {
        assert!(std::time::Instant::now() < deadline, "the table log was never compacted: {:?}", segments());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(client);
    server.kill();
    server.restart();
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT k, v FROM counter ORDER BY k").await, expected);
    let bytes: u64 = segments().iter().map(|(_, len)| len).sum();
    // 410 logged writes of about 100 bytes each would be about 40 KB uncompacted.
    assert!(bytes < 16 * 1024, "the table log holds {bytes} bytes in {:?}", segments());
}
