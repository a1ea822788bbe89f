//! The scripted server the wire-protocol tests talk to: [`serve_sessions`] with a session that
//! needs no coordinator, so real clients (tokio-postgres, or raw bytes) exercise the protocol alone.
//!
//! Script statements (a query string splits on `;`): `ECHO n` returns its n parameters as one row,
//! `ROWS n` returns n bigint rows, `INSERT n` answers `INSERT 0 n`, `BEGIN`/`COMMIT`/`ROLLBACK`
//! answer their tags, `FAIL` errors with SQLSTATE 58030, `PANIC` panics, `SLEEP` waits until
//! canceled.

// Each test binary uses only part of the harness.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use freshet_coord::{CancelToken, CoordError, ExecuteResponse};
use freshet_pgwire::{serve_sessions, SessionFactory, WireSession};
use freshet_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};
use freshet_sql::StatementDesc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_postgres::{Client, NoTls};
pub type Log = Arc<Mutex<Vec<String>>>;

pub struct Scripted {
    user: String,
    cancel: CancelToken,
    log: Log,
}

pub struct Factory {
    log: Log,
}

impl SessionFactory for Factory {
    type Session = Scripted;

    fn new_session(&self, user: &str, _database: &str) -> Scripted {
        Scripted { user: user.to_string(), cancel: CancelToken::default(), log: Arc::clone(&self.log) }
    }
}

fn arg(statement: &str) -> usize {
    statement.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl WireSession for Scripted {
    type Statement = String;

    fn parse(&self, sql: &str) -> Result<Vec<String>, CoordError> {
        Ok(sql.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
    }

    async fn describe(
        &mut self,
        statement: &String,
        hints: &[Option<ScalarType>],
    ) -> Result<StatementDesc, CoordError> {
        let n = arg(statement);
        Ok(if statement.starts_with("ECHO") {
            let params: Vec<ScalarType> =
                (0..n).map(|i| hints.get(i).copied().flatten().unwrap_or(ScalarType::Text)).collect();
            StatementDesc { result: Some(echo_desc(&params)), params }
        } else if statement.starts_with("ROWS") {
            StatementDesc { params: vec![], result: Some(rows_desc()) }
        } else if statement == "FAIL" {
            return Err(CoordError::Storage("scripted describe failure".into()));
        } else {
            StatementDesc { params: vec![], result: None }
        })
    }

    async fn execute(
        &mut self,
        statement: &String,
        param_types: &[ScalarType],
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, CoordError> {
        self.log.lock().unwrap().push(statement.clone());
        let n = arg(statement);
        match statement.split_whitespace().next().unwrap_or("") {
            "ECHO" => Ok(ExecuteResponse::Rows { desc: echo_desc(param_types), rows: vec![Row::new(params)] }),
            "ROWS" => Ok(ExecuteResponse::Rows {
                desc: rows_desc(),
                rows: (0..n as i64).map(|i| Row::new(vec![Datum::Int64(i)])).collect(),
            }),
            "INSERT" => Ok(ExecuteResponse::Command { tag: format!("INSERT 0 {n}") }),
            "USER" => Ok(ExecuteResponse::Rows {
                desc: RelationDesc::new(vec![("user".into(), ColumnType::new(ScalarType::Text, false))]),
                rows: vec![Row::new(vec![Datum::text(self.user.clone())])],
            }),
            _ if statement == "START TRANSACTION" => Ok(ExecuteResponse::Command { tag: statement.clone() }),
            tag @ ("BEGIN" | "COMMIT" | "ROLLBACK") => Ok(ExecuteResponse::Command { tag: tag.to_string() }),
            "FAIL" => Err(CoordError::Storage("scripted failure".into())),
            "PANIC" => panic!("scripted panic"),
            "SLEEP" => {
                for _ in 0..1000 {
                    if self.cancel.is_canceled() {
                        return Err(CoordError::Canceled);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(ExecuteResponse::Command { tag: "SLEPT".into() })
            }
            _ => Err(CoordError::Internal(format!("unknown script statement {statement}"))),
        }
    }

    fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    fn startup_parameters(&self) -> Vec<(String, String)> {
        vec![("server_version".into(), "15.0 (scripted)".into()), ("TimeZone".into(), "UTC".into())]
    }
}

pub fn echo_desc(types: &[ScalarType]) -> RelationDesc {
    RelationDesc::new(types.iter().enumerate().map(|(i, ty)| (format!("p{i}"), ColumnType::new(*ty, true))).collect())
}

pub fn rows_desc() -> RelationDesc {
    RelationDesc::new(vec![("n".into(), ColumnType::new(ScalarType::Int64, false))])
}

pub struct Server {
    pub port: u16,
    pub log: Log,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Log::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let factory = Factory { log: Arc::clone(&log) };
        let task = tokio::spawn(serve_sessions(listener, factory, async {
            let _ = stopped.await;
        }));
        Server { port, log, stop: Some(stop), task }
    }

    pub async fn connect(&self) -> Client {
        let config = format!("host=127.0.0.1 port={} user=tester dbname=db", self.port);
        let (client, connection) = tokio_postgres::connect(&config, NoTls).await.expect("connects");
        tokio::spawn(connection);
        client
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("serve returns").unwrap();
    }
}
