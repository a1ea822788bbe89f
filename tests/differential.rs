//! Differential test: the same schema, data and a few thousand generated SELECTs run on Freshet and
//! on PostgreSQL 15; results are compared as multisets of text rows. Any disagreement is a bug.
//! `FRESHET_DIFF_QUERIES` sets the number of queries, `FRESHET_DIFF_SEED` the seed.

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/querygen.rs"]
mod querygen;
#[path = "support/server.rs"]
mod server;

use tokio_postgres::{Client, SimpleQueryMessage};

type Outcome = Result<Vec<Vec<Option<String>>>, String>;

async fn run(client: &Client, sql: &str) -> Outcome {
    let messages =
        client.simple_query(sql).await.map_err(|e| e.code().map(|c| c.code().to_string()).unwrap_or_default())?;
    let mut rows: Vec<Vec<Option<String>>> = messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect();
    rows.sort();
    Ok(rows)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_queries_agree_with_postgres() {
    let queries: usize = env_or("FRESHET_DIFF_QUERIES", 2000);
    let seed: u64 = env_or("FRESHET_DIFF_SEED", 20261124);
    let pg = postgres::Postgres::start();
    let freshet = server::TestServer::start();
    let (pg_client, freshet_client) = (pg.connect().await, freshet.connect().await);
    for sql in querygen::SCHEMA.iter().map(|s| s.to_string()).chain(querygen::data(seed)) {
        pg_client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("PostgreSQL: {sql}: {e}"));
        freshet_client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("Freshet: {sql}: {e}"));
    }
    let mut generator = querygen::QueryGen::new(seed);
    let mut disagreements = Vec::new();
    let mut both_failed = 0;
    for _ in 0..queries {
        let sql = generator.query();
        let (expected, actual) = (run(&pg_client, &sql).await, run(&freshet_client, &sql).await);
        match (&expected, &actual) {
            (Ok(e), Ok(a)) if e == a => {}
            (Err(e), Err(a)) if e == a => both_failed += 1,
            _ => disagreements.push(format!("{sql}\n  PostgreSQL: {expected:?}\n  Freshet:    {actual:?}")),
        }
    }
    println!(
        "differential: {queries} queries, {} disagreements, {both_failed} failed identically on both",
        disagreements.len()
    );
    let shown: Vec<&String> = disagreements.iter().take(15).collect();
    assert!(
        disagreements.is_empty(),
        "{} of {queries} generated queries disagree with PostgreSQL; first ones:\n{}",
        disagreements.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
