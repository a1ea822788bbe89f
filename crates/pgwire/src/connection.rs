//! One client connection: its coordinator session and the pgwire handlers (startup, simple query,
//! extended query) that drive it.
//!
//! pgwire shares one handler set per `process_socket` call, so [`crate::serve`] builds a fresh
//! [`Connection`] for every accepted socket. This module owns the mapping from protocol messages
//! to session calls and guarantees that a panic in statement execution becomes an XX000 error
//! instead of reaching the client. It must not interpret SQL.

use std::collections::HashMap;
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use freshet_coord::ExecuteResponse;
use freshet_repr::{Datum, ScalarType};
use freshet_sql::StatementDesc;
use futures::{FutureExt, Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, ServerParameterProvider,
    StartupHandler,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type, DEFAULT_NAME,
    METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, Parse, ParseComplete, Sync as PgSync, TARGET_TYPE_BYTE_PORTAL,
    TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::ReadyForQuery;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex as AsyncMutex;

use crate::cancel::{CancelRegistry, Registration};
use crate::codec::{decode_param, WireFormat};
use crate::deferred::DeferredFlush;
use crate::error::{coord_error, error_info, panic_error, to_pgwire, WireError};
use crate::linger::{Activity, Lingerer, SocketFd};
use crate::response::{field_infos, format_codes, pg_type, result_formats, rows_response, to_response};
use crate::session::{SessionFactory, WireSession};
use crate::subscribe::{stream_subscribe, Framing};

/// The user name assumed when a startup packet names none.
const DEFAULT_USER: &str = "freshet";

/// State shared by all connections of one server.
pub struct Shared<F> {
    pub sessions: F,
    pub cancel: Arc<CancelRegistry>,
    pub pids: RandomPidSecretKeyGenerator,
    pub activity: Activity,
}

/// A statement prepared by Parse: what the session parsed and how it described it.
#[derive(Debug)]
pub struct Prepared<T> {
    statement: T,
    desc: StatementDesc,
    /// The result's RowDescription fields in text format, built once: a prepared statement is
    /// usually described and executed many times over.
    text_fields: OnceLock<Arc<Vec<FieldInfo>>>,
}

impl<T> Prepared<T> {
    fn new(statement: T, desc: StatementDesc) -> Self {
        Prepared { statement, desc, text_fields: OnceLock::new() }
    }

    /// The RowDescription fields of the result in `formats`, `None` for a statement without one.
    fn fields(&self, formats: &[WireFormat]) -> Option<Arc<Vec<FieldInfo>>> {
        let desc = self.desc.result.as_ref()?;
        if formats.iter().all(|f| *f == WireFormat::Text) {
            Some(Arc::clone(self.text_fields.get_or_init(|| Arc::new(field_infos(desc, formats)))))
        } else {
            Some(Arc::new(field_infos(desc, formats)))
        }
    }
}

/// The statement type of a factory's sessions.
type StatementOf<F> = <<F as SessionFactory>::Session as WireSession>::Statement;

/// pgwire's prepared-statement type.
pub type PreparedRef<F> = Arc<Prepared<StatementOf<F>>>;

/// One connection's state. The session exists from startup on.
pub struct Connection<F: SessionFactory> {
    shared: Arc<Shared<F>>,
    session: AsyncMutex<Option<F::Session>>,
    registration: Mutex<Option<Registration>>,
    lingerer: Lingerer,
}

impl<F: SessionFactory> Connection<F> {
    pub fn new(shared: Arc<Shared<F>>, socket: SocketFd) -> Connection<F> {
        let lingerer = Lingerer::new(&shared.activity, socket);
        Connection { shared, session: AsyncMutex::new(None), registration: Mutex::new(None), lingerer }
    }

    /// The session, which is `None` only before startup completed (pgwire does not dispatch
    /// queries then, so callers treat it as a protocol slip).
    async fn session(&self) -> tokio::sync::MutexGuard<'_, Option<F::Session>> {
        self.session.lock().await
    }

    /// Tells lingering that a message is being handled (see [`crate::linger`]).
    fn message_arrived(&self) {
        self.lingerer.message_arrived(&self.shared.activity);
    }

    /// Parses a query string, turning a panic in the parser into an error.
    fn parse(session: &F::Session, sql: &str) -> Result<Vec<StatementOf<F>>, Box<ErrorInfo>> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| session.parse(sql))) {
            Ok(Ok(statements)) => Ok(statements),
            Ok(Err(err)) => Err(coord_error(&err)),
            Err(payload) => Err(report_panic(payload.as_ref())),
        }
    }
}

fn report_panic(payload: &(dyn std::any::Any + Send)) -> Box<ErrorInfo> {
    let err = panic_error(payload);
    tracing::error!(error = %err, "statement panicked; the connection keeps serving");
    error_info(&err)
}

/// Executes one statement; coordinator errors and panics both come back as the ErrorResponse.
async fn execute<S: WireSession>(
    session: &mut S,
    statement: &S::Statement,
    types: &[ScalarType],
    params: Vec<Datum>,
) -> Result<ExecuteResponse, Box<ErrorInfo>> {
    match AssertUnwindSafe(session.execute(statement, types, params)).catch_unwind().await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(err)) => Err(coord_error(&err)),
        Err(payload) => Err(report_panic(payload.as_ref())),
    }
}

/// Describes one statement for Parse, like [`execute`] for errors and panics.
async fn describe<S: WireSession>(
    session: &mut S,
    statement: &S::Statement,
    hints: &[Option<ScalarType>],
) -> Result<StatementDesc, Box<ErrorInfo>> {
    match AssertUnwindSafe(session.describe(statement, hints)).catch_unwind().await {
        Ok(Ok(desc)) => Ok(desc),
        Ok(Err(err)) => Err(coord_error(&err)),
        Err(payload) => Err(report_panic(payload.as_ref())),
    }
}

/// ParameterStatus values sent at startup: the session's, plus the client's application_name.
struct StartupParameters(HashMap<String, String>);

impl ServerParameterProvider for StartupParameters {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        Some(self.0.clone())
    }
}

#[async_trait]
impl<F: SessionFactory> StartupHandler for Connection<F> {
    /// Accepts any user and database without a password.
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).cloned().unwrap_or_else(|| DEFAULT_USER.to_string());
        let database = metadata.get(METADATA_DATABASE).cloned().unwrap_or_else(|| user.clone());
        let application_name = metadata.get(METADATA_APPLICATION_NAME).cloned();

        let session = self.shared.sessions.new_session(&user, &database);
        let (pid, secret) = self.shared.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let registration = self.shared.cancel.register(pid, &secret, session.cancel_token());
        *self.registration.lock().unwrap_or_else(PoisonError::into_inner) = Some(registration);

        let mut params: HashMap<String, String> = session.startup_parameters().into_iter().collect();
        if let Some(name) = application_name {
            params.insert(METADATA_APPLICATION_NAME.to_string(), name);
        }
        *self.session.lock().await = Some(session);
        tracing::debug!(%user, %database, pid, "session started");
        finish_authentication(client, &StartupParameters(params)).await
    }
}

#[async_trait]
impl<F: SessionFactory> SimpleQueryHandler for Connection<F> {
    /// Runs the statements in order and stops at the first error, as PostgreSQL does.
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.lingerer.simple_round_trip(&self.shared.activity);
        let mut guard = self.session().await;
        let Some(session) = guard.as_mut() else {
            return Err(PgWireError::NotReadyForQuery);
        };
        let statements = match Self::parse(session, query) {
            Ok(statements) => statements,
            Err(info) => return Ok(vec![Response::Error(info)]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let alone = statements.len() == 1;
        for statement in &statements {
            let result = execute(session, statement, &[], vec![]).await;
            send_notices(client, session).await?;
            let result = match result {
                Ok(ExecuteResponse::Subscribe { desc, stream, copy }) if alone => {
                    let framing = if copy {
                        Framing::CopyText
                    } else {
                        Framing::Rows { formats: vec![WireFormat::Text; desc.arity()], describe: true }
                    };
                    responses.push(stream_subscribe(client, &desc, stream, framing).await?);
                    break;
                }
                // Earlier responses are still queued behind pgwire; the stream would overtake them.
                Ok(ExecuteResponse::Subscribe { .. }) => Err(error_info(&WireError::SubscribeNotAlone)),
                Ok(response) => {
                    to_response(response, |columns| Ok(vec![WireFormat::Text; columns])).map_err(|e| error_info(&e))
                }
                Err(info) => Err(info),
            };
            match result {
                Ok(response) => responses.push(response),
                Err(info) => {
                    responses.push(Response::Error(info));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl<F: SessionFactory> QueryParser for Connection<F> {
    type Statement = PreparedRef<F>;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<PreparedRef<F>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut guard = self.session().await;
        let Some(session) = guard.as_mut() else {
            return Err(PgWireError::NotReadyForQuery);
        };
        let mut statements = Self::parse(session, sql).map_err(to_pgwire)?;
        let statement = match statements.len() {
            0 => return Ok(None),
            1 => statements.remove(0),
            _ => return Err(WireError::MultipleStatements.into()),
        };
        let hints: Vec<Option<ScalarType>> =
            types.iter().map(|t| t.as_ref().and_then(|t| ScalarType::from_oid(t.oid()))).collect();
        let desc = describe(session, &statement, &hints).await.map_err(to_pgwire)?;
        Ok(Some(Arc::new(Prepared::new(statement, desc))))
    }

    fn get_parameter_types(&self, stmt: &PreparedRef<F>) -> PgWireResult<Vec<Type>> {
        Ok(stmt.desc.params.iter().map(|ty| pg_type(*ty)).collect())
    }

    fn get_result_schema(&self, stmt: &PreparedRef<F>, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        let Some(desc) = &stmt.desc.result else {
            return Ok(vec![]);
        };
        let formats = result_formats(format, desc.arity())?;
        Ok(stmt.fields(&formats).map(|fields| fields.to_vec()).unwrap_or_default())
    }
}

/// Decodes a portal's parameters with the types the statement was described with.
fn decode_params<T>(portal: &Portal<Arc<Prepared<T>>>) -> Result<Vec<Datum>, WireError> {
    let types = &portal.statement.statement.desc.params;
    if portal.parameters.len() != types.len() {
        return Err(WireError::ParamCount { given: portal.parameters.len(), expected: types.len() });
    }
    let codes = format_codes(&portal.parameter_format);
    let declared = &portal.statement.parameter_types;
    types
        .iter()
        .zip(&portal.parameters)
        .enumerate()
        .map(|(idx, (ty, bytes))| {
            let format = WireFormat::for_field(&codes, idx, types.len())?;
            let oid = declared.get(idx).and_then(|t| t.as_ref()).map(Type::oid);
            Ok(decode_param(bytes.as_deref(), format, *ty, oid)?)
        })
        .collect()
}

/// The extended-query handler; pgwire wants its parser as a separate `Arc`.
pub struct Extended<F: SessionFactory>(pub Arc<Connection<F>>);

#[async_trait]
impl<F: SessionFactory> ExtendedQueryHandler for Extended<F> {
    type Statement = PreparedRef<F>;
    type QueryParser = Connection<F>;

    fn query_parser(&self) -> Arc<Connection<F>> {
        Arc::clone(&self.0)
    }

    /// pgwire's Parse, with its reply left for Sync or Flush to send (see [`DeferredFlush`]).
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.0.message_arrived();
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(message.name.as_deref().unwrap_or(DEFAULT_NAME)),
        }
        client.feed(PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?;
        Ok(())
    }

    /// pgwire's Bind, with its reply left for Sync or Flush to send (see [`DeferredFlush`]).
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.0.message_arrived();
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) if message.parameters.is_empty() => {
                client.portal_store().put_empty_portal(message.portal_name.as_deref().unwrap_or(DEFAULT_NAME));
            }
            Some(Entry::Empty) => {
                let detail = format!(
                    "bind message supplies {} parameters, but prepared statement {statement_name:?} requires 0",
                    message.parameters.len()
                );
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), "08P01".into(), detail))));
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        client.feed(PgWireBackendMessage::BindComplete(BindComplete::new())).await?;
        Ok(())
    }

    /// pgwire's Execute, with its closing reply left for Sync or Flush to send.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.0.message_arrived();
        self._on_execute(&mut DeferredFlush::new(client), message).await
    }

    /// pgwire's Sync (drop the unnamed portal, answer ReadyForQuery, flush), then a lone
    /// connection lingers for its client's next message (see [`crate::linger`]).
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.0.message_arrived();
        client.portal_store().rm_portal(DEFAULT_NAME);
        let ready = ReadyForQuery::new(client.transaction_status());
        client.send(PgWireBackendMessage::ReadyForQuery(ready)).await?;
        client.flush().await?;
        self.0.lingerer.after_sync(&self.0.shared.activity);
        Ok(())
    }

    /// Describe of a statement answers NoData for statements without results even when they
    /// have parameters (pgwire's default would send an empty RowDescription). Portals are
    /// described from the fields their statement keeps, not rebuilt for every Describe.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.0.message_arrived();
        let client = &mut DeferredFlush::new(client);
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                if let Some(Entry::Value(stored)) = client.portal_store().get_statement(name) {
                    return send_statement_description(client, &stored, &self.0).await;
                }
            }
            TARGET_TYPE_BYTE_PORTAL => {
                if let Some(Entry::Value(portal)) = client.portal_store().get_portal(name) {
                    return send_portal_description(client, &portal).await;
                }
            }
            _ => {}
        }
        // Unknown names and empty statements: pgwire's answers.
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedRef<F>>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let params = decode_params(portal)?;
        let prepared = &portal.statement.statement;
        let mut guard = self.0.session().await;
        let Some(session) = guard.as_mut() else {
            return Err(PgWireError::NotReadyForQuery);
        };
        let response = execute(session, &prepared.statement, &prepared.desc.params, params).await;
        send_notices(client, session).await?;
        let response = response.map_err(to_pgwire)?;
        if let ExecuteResponse::Subscribe { desc, stream, copy } = response {
            let framing = if copy {
                Framing::CopyText
            } else {
                Framing::Rows {
                    formats: result_formats(Some(&portal.result_column_format), desc.arity())?,
                    describe: false,
                }
            };
            return stream_subscribe(client, &desc, stream, framing).await;
        }
        // Encode with the types Describe announced, so binary results decode as the client expects.
        let response = match (response, &prepared.desc.result) {
            (ExecuteResponse::Rows { desc, rows }, Some(described)) if described.arity() == desc.arity() => {
                let formats = result_formats(Some(&portal.result_column_format), desc.arity())?;
                let fields = prepared.fields(&formats).unwrap_or_default();
                return Ok(Response::Query(rows_response(fields, described, rows, formats)));
            }
            (response, _) => response,
        };
        // pgwire applies max_rows itself by suspending the portal between Executes.
        Ok(to_response(response, |columns| result_formats(Some(&portal.result_column_format), columns))?)
    }
}

/// Sends the session's pending notices as NoticeResponse messages.
async fn send_notices<C, S: WireSession>(client: &mut C, session: &mut S) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for message in session.take_notices() {
        let info = ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), message);
        client.send(PgWireBackendMessage::NoticeResponse(info.into())).await?;
    }
    Ok(())
}

/// RowDescription for a portal whose statement returns rows, NoData for any other.
async fn send_portal_description<C, T>(client: &mut C, portal: &Portal<Arc<Prepared<T>>>) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let prepared = &portal.statement.statement;
    let arity = prepared.desc.result.as_ref().map_or(0, |desc| desc.arity());
    let formats = result_formats(Some(&portal.result_column_format), arity)?;
    let message = match prepared.fields(&formats) {
        Some(fields) => {
            PgWireBackendMessage::RowDescription(RowDescription::new(fields.iter().map(Into::into).collect()))
        }
        None => PgWireBackendMessage::NoData(NoData::new()),
    };
    client.send(message).await?;
    Ok(())
}

async fn send_statement_description<C, F: SessionFactory>(
    client: &mut C,
    stored: &StoredStatement<PreparedRef<F>>,
    parser: &Connection<F>,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let server_types = parser.get_parameter_types(&stored.statement)?;
    // Client-declared types win, as in PostgreSQL; the session filled in the rest.
    let oids = server_types
        .iter()
        .enumerate()
        .map(|(idx, ty)| stored.parameter_types.get(idx).and_then(|t| t.as_ref()).unwrap_or(ty).oid())
        .collect();
    client.send(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(oids))).await?;
    let fields = parser.get_result_schema(&stored.statement, None)?;
    if fields.is_empty() && stored.statement.desc.result.is_none() {
        client.send(PgWireBackendMessage::NoData(NoData::new())).await?;
    } else {
        let fields = fields.iter().map(Into::into).collect();
        client.send(PgWireBackendMessage::RowDescription(RowDescription::new(fields))).await?;
    }
    Ok(())
}
