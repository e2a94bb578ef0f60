//! Each signed-in user's statements on that user's session, audited; and the hook that refuses
//! every statement that would write.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::{Sink, StreamExt};

use super::login::caller;
use crate::access::Gate;
use crate::access::audit::{Audit, Outcome, tables_named};
use crate::access::gate::OPEN_SESSION;

type PgStatement = <DfSessionService as ExtendedQueryHandler>::Statement;

/// The query service of every user, and the gate for the access log.
pub struct UserSessions {
    pub services: HashMap<String, Arc<DfSessionService>>,
    pub parsers: Arc<UserParsers>,
    pub gate: Arc<Gate>,
}

/// The name a connection's session is filed under: its signed-in user, or, on a server without
/// users (`open`), the one open session.
fn session_name<C: ClientInfo + ?Sized>(open: bool, client: &C) -> &str {
    match open {
        false => client.metadata().get(METADATA_USER).map_or("", String::as_str),
        true => OPEN_SESSION,
    }
}

fn not_signed_in() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), "28000".into(), "not signed in".into())))
}

impl UserSessions {
    fn service<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<&Arc<DfSessionService>> {
        self.services.get(session_name(!self.gate.authenticates(), client)).ok_or_else(not_signed_in)
    }

    /// Starts the audit of `sql`, naming the tables it reads.
    fn audit<C: ClientInfo + ?Sized>(&self, client: &C, sql: &str) -> Audit {
        Audit::begin(&self.gate.log, &caller(client), sql, &tables_named(sql))
    }
}

/// How a failed statement ended: refused (a write, a sign-in) or an error.
fn outcome_of(error: &PgWireError) -> Outcome {
    match error {
        PgWireError::UserError(info) if ["25006", "42501", "28000"].contains(&info.code.as_str()) => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// Counts the rows each answer sends into `audit`, which logs the statement once all are done.
fn audited(responses: Vec<Response>, audit: Audit) -> Vec<Response> {
    let audit = Arc::new(Mutex::new(audit));
    responses
        .into_iter()
        .map(|response| match response {
            Response::Query(mut query) => {
                let audit = Arc::clone(&audit);
                let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
                query.data_rows =
                    Box::pin(rows.inspect(move |row| audit.lock().unwrap_or_else(|e| e.into_inner()).sent(row)));
                Response::Query(query)
            }
            other => other,
        })
        .collect()
}

#[async_trait]
impl SimpleQueryHandler for UserSessions {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut audit = self.audit(client, query);
        let service = Arc::clone(self.service(client)?);
        match SimpleQueryHandler::do_query(&*service, client, query).await {
            Ok(responses) => Ok(audited(responses, audit)),
            Err(e) => {
                audit.end(outcome_of(&e));
                Err(e)
            }
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for UserSessions {
    type Statement = PgStatement;
    type QueryParser = UserParsers;

    fn query_parser(&self) -> Arc<UserParsers> {
        Arc::clone(&self.parsers)
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<PgStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut audit = self.audit(client, &portal.statement.statement.0);
        let service = Arc::clone(self.service(client)?);
        match ExtendedQueryHandler::do_query(&*service, client, portal, max_rows).await {
            Ok(response) => Ok(audited(vec![response], audit).pop().expect("one response")),
            Err(e) => {
                audit.end(outcome_of(&e));
                Err(e)
            }
        }
    }
}

/// Each user's statement parser (which plans on that user's session).
pub struct UserParsers {
    pub parsers: HashMap<String, Arc<Parser>>,
}

impl UserParsers {
    fn any(&self) -> PgWireResult<&Arc<Parser>> {
        self.parsers.values().next().ok_or_else(not_signed_in)
    }
}

#[async_trait]
impl QueryParser for UserParsers {
    type Statement = PgStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let name = session_name(self.parsers.contains_key(OPEN_SESSION), client);
        let parser = self.parsers.get(name).ok_or_else(not_signed_in)?;
        parser.parse_sql(client, sql, types).await
    }

    /// Types come from the plan alone, whoever's session planned it.
    fn get_parameter_types(&self, statement: &PgStatement) -> PgWireResult<Vec<Type>> {
        self.any()?.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &PgStatement,
        format: Option<&datafusion_postgres::pgwire::api::portal::Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.any()?.get_result_schema(statement, format)
    }
}

/// Refuses every statement that is not a read (or a session setting, a transaction or cursor
/// command), as Postgres refuses writes in a read-only transaction: 25006. The views are written
/// by the pipeline alone.
pub struct ReadOnly;

impl ReadOnly {
    fn reads(statement: &Statement) -> bool {
        match statement {
            Statement::Query(query) => !matches!(&*query.body, SetExpr::Select(select) if select.into.is_some()),
            Statement::Explain { statement, .. } => Self::reads(statement),
            Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::Set(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Discard { .. }
            | Statement::Reset(_) => true,
            _ => false,
        }
    }

    fn refusal(statement: &Statement) -> PgWireError {
        let text = statement.to_string();
        let command: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let message =
            format!("cannot execute {command} in a read-only database: tillflow's views are written by its pipeline");
        PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), "25006".into(), message)))
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        (!Self::reads(statement)).then(|| Err(Self::refusal(statement)))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        (!Self::reads(statement)).then(|| Err(Self::refusal(statement)))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        (!Self::reads(statement)).then(|| Err(Self::refusal(statement)))
    }
}
