//! The seam between the wire layer and the coordinator: what a connection needs from a session.
//!
//! The wire layer is written against [`WireSession`] rather than `freshet_coord::Session`
//! directly so that its protocol handling can be exercised without a running coordinator (the
//! tests drive a scripted session through real clients). The coordinator's implementation only
//! delegates; this module must not add behavior of its own.

use async_trait::async_trait;
use freshet_coord::{CancelToken, CoordClient, CoordError, ExecuteResponse, ParsedStatement, Session};
use freshet_repr::{Datum, ScalarType};
use freshet_sql::StatementDesc;

/// One client's session, as the wire layer uses it.
#[async_trait]
pub trait WireSession: Send + 'static {
    /// A parsed statement, kept in prepared statements.
    type Statement: Clone + std::fmt::Debug + Send + Sync + 'static;

    /// Splits and parses a query string.
    fn parse(&self, sql: &str) -> Result<Vec<Self::Statement>, CoordError>;

    /// Parameter and result types of a statement; `hints` are the client's parameter types.
    async fn describe(
        &mut self,
        statement: &Self::Statement,
        hints: &[Option<ScalarType>],
    ) -> Result<StatementDesc, CoordError>;

    /// Executes one statement with its parameters.
    async fn execute(
        &mut self,
        statement: &Self::Statement,
        param_types: &[ScalarType],
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, CoordError>;

    /// The token a CancelRequest for this session sets.
    fn cancel_token(&self) -> CancelToken;

    /// ParameterStatus values for the startup handshake.
    fn startup_parameters(&self) -> Vec<(String, String)>;

    /// Notices raised by the statements executed since the last call.
    fn take_notices(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Opens sessions for new connections.
pub trait SessionFactory: Send + Sync + 'static {
    type Session: WireSession;

    fn new_session(&self, user: &str, database: &str) -> Self::Session;
}

#[async_trait]
impl WireSession for Session {
    type Statement = ParsedStatement;

    fn parse(&self, sql: &str) -> Result<Vec<ParsedStatement>, CoordError> {
        Session::parse(self, sql)
    }

    async fn describe(
        &mut self,
        statement: &ParsedStatement,
        hints: &[Option<ScalarType>],
    ) -> Result<StatementDesc, CoordError> {
        Session::describe(self, statement, hints).await
    }

    async fn execute(
        &mut self,
        statement: &ParsedStatement,
        param_types: &[ScalarType],
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, CoordError> {
        Session::execute(self, statement, param_types, params).await
    }

    fn cancel_token(&self) -> CancelToken {
        Session::cancel_token(self)
    }

    fn startup_parameters(&self) -> Vec<(String, String)> {
        Session::startup_parameters(self)
    }

    fn take_notices(&mut self) -> Vec<String> {
        Session::take_notices(self)
    }
}

impl SessionFactory for CoordClient {
    type Session = Session;

    fn new_session(&self, user: &str, database: &str) -> Session {
        CoordClient::new_session(self, user, database)
    }
}
