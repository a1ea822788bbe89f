//! Prepared statements executed many times. The server keeps a SELECT's plan with its parameters
//! bound later and reuses it; every execution must return what planning it with its values would,
//! whatever the values, and whatever changed in the catalog meanwhile.

#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use server::TestServer;
use tokio_postgres::Client;

async fn texts(client: &Client, statement: &tokio_postgres::Statement, k: Option<i32>) -> Vec<String> {
    let rows = client.query(statement, &[&k]).await.expect("execute");
    rows.iter().map(|row| row.get::<_, String>(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_plans_follow_the_values_and_the_catalog() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE kv (k int, v text);
             INSERT INTO kv SELECT i, i::text FROM generate_series(1, 9) AS s(i);
             CREATE MATERIALIZED VIEW kv_mv AS SELECT k, v FROM kv;",
        )
        .await
        .expect("setup");
    // A parameter compared twice: a plan that folded `$1 = 7` for one value would be wrong for 7.
    let both = client.prepare("SELECT v FROM kv_mv WHERE k = $1 OR $1 = 7 ORDER BY v").await.expect("prepare");
    assert_eq!(texts(&client, &both, Some(3)).await, ["3"]);
    assert_eq!(texts(&client, &both, Some(7)).await.len(), 9);
    assert_eq!(texts(&client, &both, Some(5)).await, ["5"]);
    assert!(texts(&client, &both, None).await.is_empty());

    // Another session replaces the view: the kept plan was made against the old catalog.
    let other = server.connect().await;
    other
        .batch_execute(
            "DROP MATERIALIZED VIEW kv_mv;
             CREATE MATERIALIZED VIEW kv_mv AS SELECT k, v || '!' AS v FROM kv WHERE k > 1;",
        )
        .await
        .expect("replace the view");
    assert_eq!(texts(&client, &both, Some(3)).await, ["3!"]);
    assert_eq!(texts(&client, &both, Some(7)).await.len(), 8);
    other.batch_execute("DROP MATERIALIZED VIEW kv_mv").await.expect("drop");
    let err = client.query(&both, &[&Some(3)]).await.expect_err("the view is gone");
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"), "{err}");

    // LIMIT needs the value while planning: such statements are planned at every execution.
    let limited = client.prepare("SELECT v FROM kv ORDER BY k LIMIT $1").await.expect("prepare");
    for n in [2i64, 4, 1] {
        assert_eq!(client.query(&limited, &[&n]).await.expect("limit").len(), n as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_the_statement_time_are_per_execution() {
    let server = TestServer::start();
    let client = server.connect().await;
    let divide = client.prepare("SELECT 10 / $1").await.expect("prepare");
    let five: i32 = client.query_one(&divide, &[&2i32]).await.expect("10 / 2").get(0);
    assert_eq!(five, 5);
    let err = client.query_one(&divide, &[&0i32]).await.expect_err("10 / 0");
    assert_eq!(err.code().map(|c| c.code()), Some("22012"), "{err}");
    let two: i32 = client.query_one(&divide, &[&5i32]).await.expect("10 / 5").get(0);
    assert_eq!(two, 2);

    // now() is the statement's start: a plan that kept it would return the first one forever.
    client.batch_execute("CREATE TABLE one (k int); INSERT INTO one VALUES (1)").await.expect("setup");
    let clock = client.prepare("SELECT now()::text FROM one WHERE k = $1").await.expect("prepare");
    let first: String = client.query_one(&clock, &[&1i32]).await.expect("now").get(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let later: String = client.query_one(&clock, &[&1i32]).await.expect("now").get(0);
        if later != first {
            break;
        }
        assert!(Instant::now() < deadline, "now() stayed {first}");
    }
}
