//! Small helpers for tests that query a server with the simple protocol and wait for results.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio_postgres::SimpleQueryMessage;

/// How long `eventually` waits for a result to appear.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Rows of a simple query as text (NULL as None), or the error as `SQLSTATE: message`.
pub async fn query(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client.simple_query(sql).await.map_err(|e| match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    })?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect())
}

/// Polls `sql` until its sorted rows equal `expected` (`"NULL"` for NULL) or the deadline passes.
pub async fn eventually(client: &tokio_postgres::Client, sql: &str, expected: &[&[&str]]) {
    let expected: Vec<Vec<Option<String>>> =
        expected.iter().map(|r| r.iter().map(|v| (*v != "NULL").then(|| v.to_string())).collect()).collect();
    let deadline = Instant::now() + DEADLINE;
    let mut last;
    loop {
        last = query(client, sql).await;
        if let Ok(rows) = &mut last {
            rows.sort();
            if *rows == expected {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!("{sql}\nexpected {expected:?}\nlast saw {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first column of the first row as an integer.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> Result<i64, String> {
    let rows = query(client, sql).await?;
    rows.first()
        .and_then(|r| r[0].as_deref())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no count from {sql}"))
}
