//! The Postgres wire protocol over a DataFusion session (`datafusion-postgres`), introducing
//! itself the way Postgres does so that drivers and BI tools connect: a `version()` and
//! `server_version` they can parse, the database `tillflow`, the session parameters drivers read
//! at start-up, `pg_catalog` with every view's and column's description, `SHOW`, `SET`,
//! `DISCARD`, `RESET` and transactions accepted (the views are read-only), and errors with the
//! SQLSTATE a client acts on.
//!
//! - [`functions`]: what clients call that DataFusion lacks (`version()`, `to_regtype()`, …);
//! - [`rewrite`]: catalog queries rewritten into what DataFusion plans;
//! - [`crate::comments`]: the views described in `pg_description`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::query::ExtendedQueryHandler;
use datafusion_postgres::pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers, RandomPidSecretKeyGenerator, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::{DfSessionService, QueryHook};

use crate::access::Gate;
use crate::comments;
use crate::live::Hub;
use datafusion_postgres::pgwire::tokio::process_socket;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use url::Url;

mod functions;
mod login;
mod rewrite;
mod users;

use functions::fixed_setting;
use rewrite::catalog_rewrite;
use users::{ReadOnly, UserParsers, UserSessions};

/// The Postgres release whose behaviour clients may expect of tillflow's server.
pub const SERVER_VERSION: &str = "16.6";
/// [`SERVER_VERSION`] as `server_version_num` spells it.
pub const SERVER_VERSION_NUM: &str = "160006";
/// The one database tillflow serves: `current_database()`, and the catalog holding the views.
pub const DATABASE: &str = "tillflow";

/// What `SELECT version()` answers: Postgres's form (which drivers parse), naming tillflow.
pub fn version() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} on {}-linux, tillflow {} (Apache DataFusion {}), 64-bit",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    )
}

/// Serves the live views of `hub` to Postgres clients on `addr`, each user reading what their
/// grant allows ([`crate::access`]), signing in with SCRAM-SHA-256 when `gate` has users and
/// over TLS when it has a certificate (then only over TLS).
pub async fn serve(hub: Arc<Hub>, root: Url, addr: SocketAddr, gate: Arc<Gate>) -> std::io::Result<()> {
    let tls = match &gate.tls {
        Some(files) => Some(TlsAcceptor::from(files.server_config().map_err(std::io::Error::other)?)),
        None => None,
    };
    let mut sessions = HashMap::new();
    for grant in gate.grants() {
        let ctx = hub.session(&root, &grant).map_err(std::io::Error::other)?;
        let ctx = prepare(ctx).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        sessions.insert(grant.user.clone(), ctx);
    }
    let handlers = Arc::new(Handlers::new(sessions, gate));
    let listener = TcpListener::bind(addr).await?;
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        let (handlers, tls) = (Arc::clone(&handlers), tls.clone());
        tokio::spawn(async move {
            if let Err(e) = process_socket(socket, tls, handlers).await {
                tracing::debug!("a Postgres connection ended: {e}");
            }
        });
    }
}

/// The session as Postgres clients see it: `pg_catalog`, the views' descriptions, `version()`
/// and `current_setting()`.
async fn prepare(ctx: SessionContext) -> datafusion::error::Result<SessionContext> {
    let catalog = ctx.state().config().options().catalog.default_catalog.clone();
    setup_pg_catalog(&ctx, &catalog, EmptyContextProvider).map_err(|e| *e)?;
    comments::register(&ctx).await?;
    functions::register(&ctx);
    Ok(ctx)
}

/// The server's parts: one datafusion-postgres query service per user (each over that user's
/// session), a start-up per connection that signs the client in, cancel requests, and SQLSTATEs
/// on errors.
struct Handlers {
    users: Arc<UserSessions>,
    gate: Arc<Gate>,
    connections: Arc<ConnectionManager>,
    pids: Arc<RandomPidSecretKeyGenerator>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    fn new(sessions: HashMap<String, SessionContext>, gate: Arc<Gate>) -> Handlers {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnly),
            Arc::new(PostgresIdentity),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let services: HashMap<String, Arc<DfSessionService>> = sessions
            .into_iter()
            .map(|(user, ctx)| (user, Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks.clone()))))
            .collect();
        let parsers = services.iter().map(|(user, service)| (user.clone(), service.query_parser())).collect();
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            users: Arc::new(UserSessions {
                services,
                parsers: Arc::new(UserParsers { parsers }),
                gate: Arc::clone(&gate),
            }),
            gate,
            cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(&connections))),
            connections,
            pids: Arc::default(),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.users)
    }

    fn extended_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.users)
    }

    /// A new one for each connection: it holds that connection's sign-in.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(login::Startup::new(Arc::clone(&self.gate), Arc::clone(&self.connections), Arc::clone(&self.pids)))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Sqlstate)
    }

    fn cancel_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// The parameters sent at start-up.
pub(crate) struct ServerParameters;

impl datafusion_postgres::pgwire::api::auth::ServerParameterProvider for ServerParameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let mut defaults = DefaultServerParameterProvider::default();
        defaults.server_version = SERVER_VERSION.to_string();
        defaults.time_zone = "UTC".to_string();
        defaults.is_superuser = false;
        defaults.default_transaction_read_only = true;
        defaults.server_parameters(client)
    }
}

/// Answers what datafusion-postgres answers as DataFusion (`SHOW server_version`) or not at all
/// (`SHOW server_version_num`, `DISCARD ALL`, `RESET`, savepoints).
struct PostgresIdentity;

impl PostgresIdentity {
    /// The answer to `statement`, if it is one of this hook's, and the columns it has.
    fn answer(statement: &Statement) -> Option<Answer> {
        match statement {
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|part| part.value.to_ascii_lowercase()).collect::<Vec<_>>().join("_");
                let name =
                    if name == "transaction_isolation_level" { "transaction_isolation".to_string() } else { name };
                fixed_setting(&name).map(|value| Answer::Show { name, value })
            }
            Statement::Discard { .. } => Some(Answer::Done("DISCARD ALL")),
            Statement::Reset(_) => Some(Answer::Done("RESET")),
            // Nothing is written inside a transaction, so there is nothing to keep or undo.
            Statement::Savepoint { .. } => Some(Answer::Done("SAVEPOINT")),
            Statement::ReleaseSavepoint { .. } => Some(Answer::Done("RELEASE")),
            Statement::Rollback { savepoint: Some(_), .. } => Some(Answer::Done("ROLLBACK")),
            _ => None,
        }
    }
}

enum Answer {
    Show { name: String, value: String },
    Done(&'static str),
}

impl Answer {
    fn plan(&self) -> PgWireResult<LogicalPlan> {
        let fields = match self {
            Answer::Show { name, .. } => vec![Field::new(name, DataType::Utf8, false)],
            Answer::Done(_) => vec![],
        };
        let schema = DFSchema::try_from(Schema::new(fields)).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        Ok(LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: matches!(self, Answer::Show { .. }),
            schema: Arc::new(schema),
        }))
    }

    fn response(self) -> PgWireResult<Response> {
        match self {
            Answer::Done(tag) => Ok(Response::Execution(Tag::new(tag))),
            Answer::Show { name, value } => {
                let fields = Arc::new(vec![FieldInfo::new(name, None, None, Type::TEXT, FieldFormat::Text)]);
                let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
                encoder.encode_field(&Some(value))?;
                let row = encoder.take_row();
                Ok(Response::Query(QueryResponse::new(fields, futures::stream::once(async move { Ok(row) }))))
            }
        }
    }
}

/// The user name the client connected as.
fn session_user<C: ClientInfo + ?Sized>(client: &C) -> &str {
    client.metadata().get(datafusion_postgres::pgwire::api::METADATA_USER).map_or("tillflow", String::as_str)
}

#[async_trait]
impl QueryHook for PostgresIdentity {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(rewritten) = catalog_rewrite(statement, session_user(&*client)) {
            use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
            use datafusion_postgres::pgwire::api::portal::Format;
            use datafusion_postgres::pgwire::types::format::FormatOptions;
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            let answer = async {
                let frame = ctx.sql(&rewritten.to_string()).await.map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                encode_dataframe(frame, &Format::UnifiedText, Some(options)).await.map(Response::Query)
            };
            return Some(answer.await);
        }
        Self::answer(statement).map(Answer::response)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if let Some(rewritten) = catalog_rewrite(statement, session_user(client)) {
            let statement = datafusion::sql::parser::Statement::Statement(Box::new(rewritten));
            return Some(
                ctx.state().statement_to_plan(statement).await.map_err(|e| PgWireError::ApiError(Box::new(e))),
            );
        }
        Self::answer(statement).map(|answer| answer.plan())
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::answer(statement).map(Answer::response)
    }
}

/// Gives an error from DataFusion the SQLSTATE Postgres would have sent, so that a client tells
/// an unknown table (42P01) or column (42703) from a syntax error (42601) or a feature tillflow
/// lacks (0A000); anything else stays an internal error (XX000).
struct Sqlstate;

impl ErrorHandler for Sqlstate {
    fn on_error<C: ClientInfo>(&self, _client: &C, error: &mut PgWireError) {
        let PgWireError::ApiError(inner) = error else { return };
        let code = match inner.downcast_ref::<DataFusionError>() {
            Some(e) => sqlstate(e),
            None if inner.to_string().contains("sql parser error") => "42601",
            None => return,
        };
        let message = inner.to_string();
        *error = PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message)));
    }
}

/// The SQLSTATE of a DataFusion error.
pub fn sqlstate(error: &DataFusionError) -> &'static str {
    match error.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(e, _) => match **e {
            datafusion::common::SchemaError::FieldNotFound { .. } => "42703",
            datafusion::common::SchemaError::AmbiguousReference { .. } => "42702",
            _ => "42P01",
        },
        DataFusionError::Plan(message) if message.contains("not found") && message.contains("table") => "42P01",
        DataFusionError::Plan(message) if message.contains("Invalid function") => "42883",
        DataFusionError::Plan(_) => "42000",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53000",
        _ => "XX000",
    }
}
