//! The Postgres wire protocol over a DataFusion session (`datafusion-postgres`), introducing
//! itself the way Postgres does so that drivers and BI tools connect: a `version()` and
//! `server_version` they can parse, the database `tillflow`, the session parameters drivers read
//! at start-up, `pg_catalog` with every view's and column's description, `SHOW`, `SET`,
//! `DISCARD`, `RESET` and transactions accepted (the views are read-only), and errors with the
//! SQLSTATE a client acts on.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, EmptyRelation, LogicalPlan, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::{DfSessionService, QueryHook, ServerOptions, serve_with_handlers};
use futures::Sink;

use crate::comments;

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

/// The settings `SHOW` and `current_setting` answer the same whatever the session set.
fn fixed_setting(name: &str) -> Option<String> {
    let value = match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "transaction_read_only" | "default_transaction_read_only" => "on",
        "max_identifier_length" => "63",
        "lc_collate" | "lc_ctype" => "C",
        "search_path" => "public",
        "timezone" => "UTC",
        "datestyle" => "ISO, YMD",
        "is_superuser" => "off",
        _ => return None,
    };
    Some(value.to_string())
}

/// The OID of a built-in type by its name or an alias (`to_regtype`); `None` for a type tillflow
/// does not have (an extension's, such as `hstore`).
fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let oid = match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    };
    Some(oid)
}

/// Serves `ctx` to Postgres clients on `addr` (no authentication: callers keep it on loopback).
pub async fn serve(ctx: SessionContext, addr: SocketAddr) -> std::io::Result<()> {
    let ctx = prepare(ctx).await.map_err(|e| std::io::Error::other(e.to_string()))?;
    let options = ServerOptions::new().with_host(addr.ip().to_string()).with_port(addr.port());
    serve_with_handlers(Arc::new(Handlers::new(ctx)), &options).await
}

/// The session as Postgres clients see it: `pg_catalog`, the views' descriptions, `version()`
/// and `current_setting()`.
async fn prepare(ctx: SessionContext) -> datafusion::error::Result<SessionContext> {
    let catalog = ctx.state().config().options().catalog.default_catalog.clone();
    setup_pg_catalog(&ctx, &catalog, EmptyContextProvider).map_err(|e| *e)?;
    comments::register(&ctx).await?;
    let version = version();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(version.clone()))))),
    ));
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(JsonBuildObject::default()));
    // Every collation is pg_catalog's, on the search path.
    ctx.register_udf(create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ));
    // No table has a serial column: no sequences.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
    ctx.register_udf(create_udf(
        "pg_type_name",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = datafusion::arrow::array::AsArray::as_string::<i32>(&names[0]);
            let pg: datafusion::arrow::array::StringArray = names.iter().map(|name| name.map(pg_type_name)).collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&pg, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(pg)),
            })
        }),
    ));
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = datafusion::arrow::array::AsArray::as_string::<i32>(&names[0]);
            let oids: datafusion::arrow::array::Int32Array = names.iter().map(|name| name.and_then(type_oid)).collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&oids, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(oids)),
            })
        }),
    ));
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args| {
            let name = match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => name.clone(),
                _ => return Err(DataFusionError::Plan("current_setting takes the name of a setting".into())),
            };
            match fixed_setting(&name) {
                Some(value) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value)))),
                None => Err(DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\""))),
            }
        }),
    ));
    Ok(ctx)
}

/// `json_build_object(key, value, …)`: a JSON object as text, which catalog queries build.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject(datafusion::logical_expr::Signature);

impl Default for JsonBuildObject {
    fn default() -> Self {
        JsonBuildObject(datafusion::logical_expr::Signature::variadic_any(Volatility::Immutable))
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.0
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use datafusion::arrow::util::display::array_value_to_string;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let json = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        let objects: datafusion::arrow::array::StringArray = (0..args.number_rows)
            .map(|row| {
                let pairs = arrays.chunks(2).map(|pair| {
                    let key = array_value_to_string(&pair[0], row)?;
                    let value = match pair.get(1) {
                        Some(value) if value.is_valid(row) => match value.data_type() {
                            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                                json(&array_value_to_string(value, row)?)
                            }
                            _ => array_value_to_string(value, row)?,
                        },
                        _ => "null".to_string(),
                    };
                    Ok(format!("{}: {value}", json(&key)))
                });
                let pairs = pairs.collect::<datafusion::error::Result<Vec<_>>>()?;
                Ok(Some(format!("{{{}}}", pairs.join(", "))))
            })
            .collect::<datafusion::error::Result<_>>()?;
        Ok(ColumnarValue::Array(Arc::new(objects)))
    }
}

/// The server's parts: datafusion-postgres's query service with tillflow's hook first, a
/// start-up that sends Postgres's parameters, cancel requests, and SQLSTATEs on errors.
struct Handlers {
    service: Arc<DfSessionService>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    fn new(ctx: SessionContext) -> Handlers {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(PostgresIdentity),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            service: Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks)),
            startup: Arc::new(Startup { connections: Arc::clone(&connections), pids: Default::default() }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.service)
    }

    fn extended_query_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.service)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Sqlstate)
    }

    fn cancel_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Start-up without authentication, sending the parameters a Postgres 16 server sends.
struct Startup {
    connections: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = &message else { return Ok(()) };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.connections.register(pid, secret);
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        finish_authentication(client, &ServerParameters).await
    }
}

/// The parameters sent at start-up.
struct ServerParameters;

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

/// A catalog query rewritten into what DataFusion plans, or `None` when `statement` needs no
/// rewriting. Only statements reading `pg_catalog` are touched, so that users' queries mean what
/// they say:
///
/// - psql's `\d+` lists a table's storage options, `array_to_string(c.reloptions || array(SELECT
///   … FROM unnest(tc.reloptions)), ', ')`: a column `pg_class` lacks here and an array
///   constructor DataFusion lacks. tillflow's tables have no storage options, which psql shows
///   as nothing: the expression is read as NULL.
/// - `user` and `current_user` name the client's user.
/// - A scalar subquery reading only catalogs that are empty here (tillflow's tables have no
///   column defaults, sequences, inheritance or triggers) is NULL, as it is in Postgres for
///   such tables; DataFusion cannot plan some of them (correlated inside a `CASE`).
/// - SQLAlchemy's and pgJDBC's column queries hold correlated scalar subqueries that return one
///   row (a column's type, default, collation) without aggregating it, which DataFusion refuses:
///   their one value is read through `max`, the same value when there is at most one row.
fn catalog_rewrite(statement: &Statement, user: &str) -> Option<Statement> {
    use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Value, visit_expressions_mut};
    // (The statement arrives with `pg_catalog.` qualifiers already stripped from some names.)
    let text = statement.to_string();
    let catalogs = ["pg_catalog", "pg_class", "pg_attribute", "pg_type", "pg_namespace", "information_schema"];
    if !catalogs.iter().any(|t| text.contains(t)) {
        return None;
    }
    let aggregated = |expr: &Expr| {
        let text = expr.to_string().to_ascii_lowercase();
        ["count(", "max(", "min(", "sum(", "avg(", "array_agg(", "string_agg(", "bool_and(", "bool_or("]
            .iter()
            .any(|f| text.starts_with(f) || text.starts_with(&format!("pg_catalog.{f}")))
    };
    let max_of = |expr: &Expr| {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        datafusion::sql::sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(&format!("max({expr})"))
            .and_then(|mut parser| parser.parse_expr())
            .ok()
    };
    let mut rewritten = statement.clone();
    let mut in_from = ScalarFunctionsInFrom::default();
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(&mut rewritten, &mut in_from);
    let mut changed = in_from.changed;
    let _ = visit_expressions_mut(&mut rewritten, |expr| {
        match expr {
            // `user`, `current_user`, `session_user`: the name the client connected as.
            Expr::Identifier(name)
                if ["user", "current_user", "session_user"].contains(&name.value.to_ascii_lowercase().as_str())
                    && name.quote_style.is_none() =>
            {
                *expr = Expr::value(Value::SingleQuotedString(user.to_string()));
                changed = true;
            }
            Expr::Function(function)
                if ["user", "current_user", "session_user"]
                    .contains(&function.name.to_string().to_ascii_lowercase().as_str())
                    && matches!(function.args, datafusion::sql::sqlparser::ast::FunctionArguments::None) =>
            {
                *expr = Expr::value(Value::SingleQuotedString(user.to_string()));
                changed = true;
            }
            Expr::Function(function)
                if function.name.to_string().to_ascii_lowercase().ends_with("array_to_string")
                    && function.args.to_string().contains("reloptions") =>
            {
                *expr = Expr::value(Value::Null);
                changed = true;
            }
            Expr::Subquery(query) if reads_only_empty_catalogs(query) => {
                *expr = null_keeping_parameters(expr);
                changed = true;
            }
            Expr::Subquery(query) => {
                if let SetExpr::Select(select) = query.body.as_mut()
                    && select.projection.len() == 1
                    && matches!(&select.group_by, GroupByExpr::Expressions(by, _) if by.is_empty())
                {
                    let item = &mut select.projection[0];
                    let target = match item {
                        SelectItem::UnnamedExpr(e) => Some(e),
                        SelectItem::ExprWithAlias { expr, .. } => Some(expr),
                        _ => None,
                    };
                    if let Some(target) = target
                        && !aggregated(target)
                        && let Some(max) = max_of(target)
                    {
                        *target = max;
                        changed = true;
                    }
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    changed.then_some(rewritten)
}

/// DataFusion's `information_schema.columns`, its `data_type` as Postgres names it (quoted, so
/// that the rewrite does not apply to it again).
const INFORMATION_SCHEMA_COLUMNS: &str = "SELECT table_catalog, table_schema, table_name, column_name, \
     ordinal_position, column_default, is_nullable, pg_type_name(data_type) AS data_type, \
     character_maximum_length, character_octet_length, numeric_precision, numeric_precision_radix, \
     numeric_scale, datetime_precision, interval_type FROM information_schema.\"columns\"";

/// Postgres's name of a type, from Arrow's as `information_schema` of DataFusion writes it.
fn pg_type_name(arrow: &str) -> String {
    let name = match arrow {
        "Utf8" | "LargeUtf8" | "Utf8View" => "text",
        "Int64" | "UInt32" => "bigint",
        "Int32" | "UInt16" => "integer",
        "Int16" | "Int8" | "UInt8" => "smallint",
        "Float64" => "double precision",
        "Float32" | "Float16" => "real",
        "Boolean" => "boolean",
        "Date32" | "Date64" => "date",
        "Binary" | "LargeBinary" | "BinaryView" => "bytea",
        "UInt64" => "numeric",
        decimal if decimal.starts_with("Decimal") => "numeric",
        zoned if zoned.starts_with("Timestamp(") && zoned.contains('"') => "timestamp with time zone",
        local if local.starts_with("Timestamp(") => "timestamp without time zone",
        list if list.starts_with("List(") || list.starts_with("LargeList(") => "ARRAY",
        other => return other.to_ascii_lowercase(),
    };
    name.to_string()
}

/// The user name the client connected as.
fn session_user<C: ClientInfo + ?Sized>(client: &C) -> &str {
    client.metadata().get(datafusion_postgres::pgwire::api::METADATA_USER).map_or("tillflow", String::as_str)
}

/// Grafana lists tables with `FROM generate_series(…) AS i, string_to_array(current_setting(
/// 'search_path'), ',') s`: a scalar function in `FROM`, which Postgres reads as a table of one
/// row and DataFusion does not. Such a function becomes that table: `(SELECT f(…) AS s) AS s`;
/// and a set-returning function's alias names its column too, as in Postgres.
#[derive(Default)]
struct ScalarFunctionsInFrom {
    changed: bool,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut datafusion::sql::sqlparser::ast::TableFactor,
    ) -> std::ops::ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::{TableAlias, TableAliasColumnDef, TableFactor};
        // `information_schema.columns` with Postgres's type names (DataFusion's lists Arrow's).
        if let TableFactor::Table { name, alias, args: None, .. } = factor
            && name.to_string().eq_ignore_ascii_case("information_schema.columns")
        {
            let alias = alias.clone().unwrap_or(TableAlias {
                explicit: true,
                name: datafusion::sql::sqlparser::ast::Ident::new("columns"),
                columns: vec![],
                at: None,
            });
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(INFORMATION_SCHEMA_COLUMNS)
                .and_then(|mut parser| parser.parse_query());
            if let Ok(subquery) = parsed {
                *factor = TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None };
                self.changed = true;
                // Not into the subquery: it reads the table it replaces.
                return std::ops::ControlFlow::Continue(());
            }
        }
        const SCALAR: [&str; 3] = ["string_to_array", "current_setting", "current_schemas"];
        const SET_RETURNING: [&str; 2] = ["generate_series", "unnest"];
        // `FROM generate_series(…) AS i` names the column `i` too, in Postgres.
        if let TableFactor::Table { name, alias: Some(alias), args: Some(_), .. } = factor
            && alias.columns.is_empty()
            && SET_RETURNING.contains(&name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
        {
            alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            self.changed = true;
        }
        if let TableFactor::Table { name, alias: Some(alias), args: Some(args), .. } = factor
            && SCALAR.contains(&name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
        {
            let arguments = args.args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let select = format!("SELECT {name}({arguments}) AS {}", alias.name);
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(&select)
                .and_then(|mut parser| parser.parse_query());
            if let Ok(subquery) = parsed {
                *factor = TableFactor::Derived { lateral: false, subquery, alias: Some(alias.clone()), sample: None };
                self.changed = true;
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// NULL, as an expression that still holds the parameters `expr` holds: the client binds a value
/// to each, and the server types them by where they appear.
fn null_keeping_parameters(expr: &datafusion::sql::sqlparser::ast::Expr) -> datafusion::sql::sqlparser::ast::Expr {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    let mut parameters = Vec::new();
    let _ = visit_expressions(expr, |e| {
        match e {
            Expr::Cast { expr: inner, .. } if matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, Value::Placeholder(_))) => {
                parameters.push(e.to_string())
            }
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                let text = e.to_string();
                if !parameters
                    .iter()
                    .any(|p| p.starts_with(&format!("{text}::")) || p.starts_with(&format!("CAST({text} ")))
                {
                    parameters.push(text)
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if parameters.is_empty() {
        return Expr::value(Value::Null);
    }
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let text = format!("CASE WHEN FALSE THEN concat({}) END", parameters.join(", "));
    datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&text)
        .and_then(|mut parser| parser.parse_expr())
        .unwrap_or(Expr::value(Value::Null))
}

/// Whether `query` reads nothing but catalogs that are always empty in tillflow.
fn reads_only_empty_catalogs(query: &datafusion::sql::sqlparser::ast::Query) -> bool {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableFactor};
    const EMPTY: [&str; 4] = ["pg_attrdef", "pg_sequence", "pg_inherits", "pg_trigger"];
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string();
            EMPTY.iter().any(|table| name == *table || name == format!("pg_catalog.{table}"))
        }
        _ => false,
    };
    !select.from.is_empty()
        && select.from.iter().all(|from| empty(&from.relation) && from.joins.iter().all(|join| empty(&join.relation)))
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
