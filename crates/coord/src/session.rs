//! One client's session: its variables, its transaction state, and statement execution.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use freshet_repr::{Datum, RelationDesc, Row, ScalarType};
use freshet_sql::{Statement, StatementDesc};

use crate::{CoordClient, CoordError};

/// The outcome of one statement.
#[derive(Debug)]
pub enum ExecuteResponse {
    /// A result set. `rows` are final (finished: ordered, limited, projected).
    Rows { desc: RelationDesc, rows: Vec<Row> },
    /// A statement without a result set; `tag` is the CommandComplete tag (`INSERT 0 3`).
    Command { tag: String },
    /// The query string was empty.
    Empty,
}

/// Cancels the statement its session is running (the wire's CancelRequest).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

pub struct Session {
    client: CoordClient,
    user: String,
    database: String,
    cancel: CancelToken,
}

impl Session {
    pub(crate) fn new(client: CoordClient, user: &str, database: &str) -> Session {
        Session { client, user: user.to_string(), database: database.to_string(), cancel: CancelToken::default() }
    }

    /// Parses a query string into statements (the simple protocol runs them in order and stops at
    /// the first error).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, CoordError> {
        Ok(freshet_sql::parse(sql)?)
    }

    /// Describes one statement for Parse/Describe: parameter types (hints kept, others inferred)
    /// and result columns.
    pub async fn describe(
        &mut self,
        statement: &Statement,
        param_hints: &[Option<ScalarType>],
    ) -> Result<StatementDesc, CoordError> {
        let _ = (statement, param_hints, &self.client);
        Err(CoordError::Internal("not implemented".into()))
    }

    /// Executes one statement with its parameter values (empty for the simple protocol).
    pub async fn execute(
        &mut self,
        statement: &Statement,
        param_types: &[ScalarType],
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, CoordError> {
        self.cancel.reset();
        let _ = (statement, param_types, params);
        Err(CoordError::Internal("not implemented".into()))
    }

    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The value of a session variable as `SHOW` prints it (`server_version`, `client_encoding`, ...).
    pub fn variable(&self, name: &str) -> Option<String> {
        match name {
            "user" | "session_user" | "current_user" => Some(self.user.clone()),
            "database" => Some(self.database.clone()),
            _ => None,
        }
    }

    /// The variables reported to the client as ParameterStatus at startup.
    pub fn startup_parameters(&self) -> Vec<(String, String)> {
        [
            ("server_version", "15.0 (Freshet)"),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("TimeZone", "UTC"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("IntervalStyle", "postgres"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
