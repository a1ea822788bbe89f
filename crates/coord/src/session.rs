//! One client's session: its variables, its transaction state, and statement execution.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use freshet_repr::GlobalId;
use freshet_repr::{ColumnType, Datum, RelationDesc, Row, ScalarType};
use freshet_sql::{Params, Plan, StatementDesc};

use crate::plan_cache::{Generations, LatePlan, ParsedStatement};
use crate::plan_catalog::PlanCatalog;
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
    /// SUBSCRIBE: rows of `desc`'s shape, batch by batch, for as long as the client reads; as COPY
    /// text data when `copy`.
    Subscribe { desc: RelationDesc, stream: Box<crate::SubscribeStream>, copy: bool },
}

impl ExecuteResponse {
    pub(crate) fn tag(tag: impl Into<String>) -> Self {
        ExecuteResponse::Command { tag: tag.into() }
    }

    /// A result of text columns.
    pub(crate) fn text_rows(names: &[&str], rows: Vec<Vec<String>>) -> Self {
        let desc = RelationDesc::new(
            names.iter().map(|n| (n.to_string(), ColumnType::new(ScalarType::Text, false))).collect(),
        );
        let rows = rows.into_iter().map(|r| r.into_iter().map(Datum::Text).collect::<Row>()).collect();
        ExecuteResponse::Rows { desc, rows }
    }
}

/// Cancels the statement its session is running (the wire's CancelRequest).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<CancelState>);

#[derive(Debug, Default)]
struct CancelState {
    canceled: AtomicBool,
    /// Wakes `canceled()`. Waiting on it instead of polling a timer keeps every statement from
    /// arming (and disarming) a timer, which woke the runtime's driver once per point read.
    notify: Notify,
}

impl CancelToken {
    pub fn cancel(&self) {
        self.0.canceled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_canceled(&self) -> bool {
        self.0.canceled.load(Ordering::SeqCst)
    }

    pub(crate) fn reset(&self) {
        self.0.canceled.store(false, Ordering::SeqCst);
    }

    /// Resolves once the token is canceled.
    pub(crate) async fn canceled(&self) {
        loop {
            // Registered before the check, so a cancel between the two still wakes it.
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_canceled() {
                return;
            }
            notified.await;
        }
    }
}

/// An explicit transaction block (BEGIN ... COMMIT/ROLLBACK).
///
/// Table writes are buffered and committed together at COMMIT; ROLLBACK discards them. A read after
/// a write in the same block is refused (it could not see the buffered writes). Catalog changes take
/// effect at once and are not undone by ROLLBACK.
#[derive(Default)]
struct Transaction {
    writes: Vec<(freshet_repr::GlobalId, Row, freshet_repr::Diff)>,
    failed: bool,
}

pub struct Session {
    pub(crate) client: CoordClient,
    id: u32,
    pub(crate) variables: HashMap<String, String>,
    /// Changes with every SET, so that kept plans can tell whether the variables are as they were.
    variables_generation: u64,
    /// When the current statement started (microseconds since the epoch), read by `now()`.
    statement_micros: Option<i64>,
    cancel: CancelToken,
    transaction: Option<Transaction>,
    /// Notices raised by the statements run since the wire last collected them.
    notices: Vec<String>,
}

const SERVER_VERSION: &str = "15.0";

impl Session {
    pub(crate) fn new(client: CoordClient, id: u32, user: &str, database: &str) -> Session {
        let mut variables: HashMap<String, String> = [
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("datestyle", "ISO, MDY"),
            ("timezone", "UTC"),
            ("intervalstyle", "postgres"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("application_name", ""),
            ("extra_float_digits", "1"),
            ("search_path", "public"),
            ("transaction_isolation", "serializable"),
            ("default_transaction_isolation", "serializable"),
            ("statement_timeout", "0"),
            ("max_identifier_length", "63"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        variables.insert("user".into(), user.to_string());
        variables.insert("database".into(), database.to_string());
        variables.insert(
            "server_version_full".into(),
            format!(
                "PostgreSQL {SERVER_VERSION} (Freshet {}) on {}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH
            ),
        );
        Session {
            client,
            id,
            variables,
            variables_generation: 0,
            statement_micros: None,
            cancel: CancelToken::default(),
            transaction: None,
            notices: Vec::new(),
        }
    }

    /// This session's number (the wire's process id).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Parses a query string into statements (the simple protocol runs them in order and stops at
    /// the first error).
    pub fn parse(&self, sql: &str) -> Result<Vec<ParsedStatement>, CoordError> {
        Ok(freshet_sql::parse(sql)?.into_iter().map(ParsedStatement::new).collect())
    }

    /// Describes one statement for Parse/Describe: parameter types (hints kept, others inferred)
    /// and result columns.
    pub async fn describe(
        &mut self,
        statement: &ParsedStatement,
        param_hints: &[Option<ScalarType>],
    ) -> Result<StatementDesc, CoordError> {
        let catalog = self.client.inner.catalog.read().await;
        let plan_catalog = PlanCatalog::new(&catalog, &self.variables, self.statement_micros);
        Ok(freshet_sql::describe(&plan_catalog, &statement.statement, param_hints)?)
    }

    /// Executes one statement with its parameter values (empty for the simple protocol).
    pub async fn execute(
        &mut self,
        statement: &ParsedStatement,
        param_types: &[ScalarType],
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, CoordError> {
        self.cancel.reset();
        let params =
            Params { types: param_types.iter().copied().map(Some).collect(), values: params, bind_later: false };
        self.set_statement_timestamp();
        let cancel = self.cancel.clone();
        let result = tokio::select! {
            result = self.plan_and_execute(statement, &params) => result,
            _ = cancel.canceled() => Err(CoordError::Canceled),
        };
        if let (Err(_), Some(transaction)) = (&result, self.transaction.as_mut()) {
            transaction.failed = true;
        }
        result
    }

    async fn plan_and_execute(
        &mut self,
        statement: &ParsedStatement,
        params: &Params,
    ) -> Result<ExecuteResponse, CoordError> {
        let (plan, depends_on) = self.plan(statement, params).await?;
        if let Some(transaction) = &self.transaction {
            let ends_block = matches!(plan, Plan::Commit | Plan::Rollback);
            if transaction.failed && !ends_block {
                return Err(CoordError::TransactionAborted);
            }
            let reads = matches!(plan, Plan::Select { .. } | Plan::Mutate { .. } | Plan::Subscribe { .. });
            if reads && !transaction.writes.is_empty() {
                return Err(CoordError::ReadAfterWriteInTransaction);
            }
        }
        self.execute_plan(plan, depends_on).await
    }

    /// The statement's plan and the relations it depends on. With parameter values, a query's plan
    /// is made once with the parameters bound later, kept with the statement, and bound to the
    /// values of each execution (`plan_cache`); otherwise the statement is planned with them.
    async fn plan(
        &mut self,
        statement: &ParsedStatement,
        params: &Params,
    ) -> Result<(Plan, Vec<GlobalId>), CoordError> {
        let catalog = self.client.inner.catalog.read().await;
        let now = Generations { catalog: catalog.generation(), variables: self.variables_generation };
        if let (Some(slot), false) = (statement.slot(), params.values.is_empty()) {
            if let Some(bound) = slot.bind(now, &params.values) {
                return Ok(bound);
            }
            if slot.worth_planning(now) {
                let late = Params { types: params.types.clone(), values: Vec::new(), bind_later: true };
                let plan_catalog = PlanCatalog::new(&catalog, &self.variables, self.statement_micros);
                let planned = freshet_sql::plan(&plan_catalog, &statement.statement, &late).ok().map(|plan| LatePlan {
                    plan,
                    depends_on: plan_catalog.resolved(),
                    volatile: plan_catalog.read_volatile(),
                });
                slot.keep(now, planned);
                if let Some(bound) = slot.bind(now, &params.values) {
                    return Ok(bound);
                }
            }
        }
        let plan_catalog = PlanCatalog::new(&catalog, &self.variables, self.statement_micros);
        let plan = freshet_sql::plan(&plan_catalog, &statement.statement, params)?;
        Ok((plan, plan_catalog.resolved()))
    }

    async fn execute_plan(
        &mut self,
        plan: Plan,
        depends_on: Vec<freshet_repr::GlobalId>,
    ) -> Result<ExecuteResponse, CoordError> {
        match plan {
            // Boxed: DDL's future (reaching Kinesis) is 16 KB, and every statement's future would
            // otherwise be that large and copied whole as it is built, a point read included.
            Plan::CreateTable { .. } | Plan::CreateSource { .. } | Plan::CreateView { .. } | Plan::Drop { .. } => {
                Box::pin(crate::ddl::execute(&self.client, plan, depends_on, &mut self.notices)).await
            }
            Plan::Insert { target, rows } => {
                let apply = write_target(&mut self.transaction);
                crate::write::insert(&self.client, target, rows, apply).await
            }
            Plan::Mutate { target, selection, kind } => {
                let apply = write_target(&mut self.transaction);
                crate::write::mutate(&self.client, target, selection, kind, apply).await
            }
            Plan::Select { expr, desc, finishing } => crate::read::select(&self.client, expr, desc, &finishing).await,
            Plan::Subscribe { expr, desc, snapshot, progress, copy } => {
                let options = crate::subscribe::Options { snapshot, progress };
                let stream = crate::subscribe::start(&self.client, expr, options, self.cancel.clone()).await?;
                Ok(ExecuteResponse::Subscribe { desc, stream: Box::new(stream), copy })
            }
            Plan::Explain { expr } => Ok(crate::read::explain(&self.client, &expr).await),
            Plan::ShowObjects { kind } => crate::read::show_objects(&self.client, kind).await,
            Plan::ShowColumns { id } => crate::read::show_columns(&self.client, id).await,
            Plan::ShowCreate { kind, name } => crate::read::show_create(&self.client, kind, &name).await,
            Plan::ShowVariable { name } => self.show_variable(&name),
            Plan::SetVariable { name, value } => {
                let key = name.to_lowercase();
                let value = value.unwrap_or_else(|| default_variable(&key));
                self.variables.insert(key, value);
                self.variables_generation += 1;
                Ok(ExecuteResponse::tag("SET"))
            }
            Plan::StartTransaction => {
                if self.transaction.is_some() {
                    self.notices.push("there is already a transaction in progress".into());
                }
                self.transaction.get_or_insert_with(Transaction::default);
                Ok(ExecuteResponse::tag("BEGIN"))
            }
            Plan::Commit => match self.transaction.take() {
                Some(Transaction { failed: true, .. }) => Ok(ExecuteResponse::tag("ROLLBACK")),
                Some(transaction) => {
                    let _guard = self.client.inner.write_lock.lock().await;
                    crate::write::commit(&self.client, transaction.writes)?;
                    Ok(ExecuteResponse::tag("COMMIT"))
                }
                None => Ok(ExecuteResponse::tag("COMMIT")),
            },
            Plan::Rollback => {
                self.transaction = None;
                Ok(ExecuteResponse::tag("ROLLBACK"))
            }
            Plan::Empty => Ok(ExecuteResponse::Empty),
        }
    }

    fn show_variable(&self, name: &str) -> Result<ExecuteResponse, CoordError> {
        let key = name.to_lowercase();
        match self.variables.get(&key) {
            Some(value) => Ok(ExecuteResponse::text_rows(&[key.as_str()], vec![vec![value.clone()]])),
            None => Err(CoordError::UnknownVariable(name.to_string())),
        }
    }

    fn set_statement_timestamp(&mut self) {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        self.statement_micros = Some(micros);
    }

    /// The notices (NOTICE severity) raised since the last call, oldest first.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The value of a session variable as `SHOW` prints it.
    pub fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(&name.to_lowercase()).cloned()
    }

    /// The variables reported to the client as ParameterStatus at startup.
    pub fn startup_parameters(&self) -> Vec<(String, String)> {
        [
            ("server_version", "server_version"),
            ("server_encoding", "server_encoding"),
            ("client_encoding", "client_encoding"),
            ("DateStyle", "datestyle"),
            ("TimeZone", "timezone"),
            ("IntervalStyle", "intervalstyle"),
            ("integer_datetimes", "integer_datetimes"),
            ("standard_conforming_strings", "standard_conforming_strings"),
            ("application_name", "application_name"),
        ]
        .into_iter()
        .filter_map(|(wire, key)| Some((wire.to_string(), self.variables.get(key)?.clone())))
        .collect()
    }
}

/// Writes go to the open transaction's buffer, or are committed at once.
fn write_target(transaction: &mut Option<Transaction>) -> crate::write::Apply<'_> {
    match transaction.as_mut() {
        Some(transaction) => crate::write::Apply::Buffer(&mut transaction.writes),
        None => crate::write::Apply::Now,
    }
}

fn default_variable(name: &str) -> String {
    match name {
        "timezone" => "UTC",
        "datestyle" => "ISO, MDY",
        "client_encoding" => "UTF8",
        "search_path" => "public",
        _ => "",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::CancelToken;

    #[tokio::test]
    async fn canceled_resolves_on_cancel_and_at_once_when_already_canceled() {
        let token = CancelToken::default();
        let waiter = tokio::spawn({
            let token = token.clone();
            async move { token.canceled().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken by cancel").expect("task");
        tokio::time::timeout(Duration::from_secs(5), token.canceled()).await.expect("already canceled");
        token.reset();
        assert!(tokio::time::timeout(Duration::from_millis(50), token.canceled()).await.is_err());
    }
}
