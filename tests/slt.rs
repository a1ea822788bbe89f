//! Runs every `tests/slt/*.slt` sqllogictest file against a live `freshet` server over TCP with
//! tokio-postgres. Each file gets a fresh server. `FRESHET_SLT=name` runs only matching files.

#[path = "support/server.rs"]
mod server;

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::SimpleQueryMessage;

struct Freshet {
    client: tokio_postgres::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct SltError {
    message: String,
    sqlstate: Option<String>,
}

impl From<tokio_postgres::Error> for SltError {
    fn from(e: tokio_postgres::Error) -> Self {
        let sqlstate = e.code().map(|c| c.code().to_string());
        let message = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        };
        SltError { message, sqlstate }
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for Freshet {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let messages = self.client.simple_query(sql).await?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(desc) => columns = Some(desc.len()),
                SimpleQueryMessage::Row(row) => {
                    columns = Some(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(n) => Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; n], rows }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "freshet"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let filter = std::env::var("FRESHET_SLT").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filter.as_deref().is_none_or(|f| p.to_string_lossy().contains(f)))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    let mut failures = Vec::new();
    for file in &files {
        let server = server::TestServer::start();
        let url = server.url();
        let mut runner = sqllogictest::Runner::new(move || {
            let url = url.clone();
            async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok::<_, SltError>(Freshet { client })
            }
        });
        runner.with_column_validator(|_, _| true);
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}:\n{e}\n--- server log tail ---\n{}", file.display(), tail(&server.log(), 30)));
        }
    }
    assert!(failures.is_empty(), "{} of {} slt files failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
