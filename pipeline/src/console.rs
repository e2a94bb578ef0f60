//! The live console on `GET /` of `--listen`: the exceptions with their histories, evidence rows
//! and the district report's charts, pushed each epoch over server-sent events; its buttons post
//! `exception_action` events, admitted like every other event. The page is one file embedded in
//! the binary (`assets/console.html`: no CDN).
//!
//! With `[[users]]`, every route asks for HTTP Basic sign-in, checked like Flight SQL's, and reads
//! through the user's scope; an action is filed under the user signed in. Without users the
//! console answers on a loopback listener only. Every read and action is in `access_log`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as Sent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use datafusion::prelude::SessionContext;
use serde::Deserialize;
use serde_json::{Value, json};
use tillflow_queries::access::audit::{AccessLog, Audit, Caller, Outcome, refused_login};
use tillflow_queries::access::gate::OPEN_SESSION;
use tillflow_queries::access::{Gate, Grant};
use tillflow_queries::live::Hub;
use tillflow_schemas::formats;
use url::Url;

use crate::http::{Shared, deliver};
use crate::ingest_access::ClientAddr;
use crate::report::{self, ReportFormat, Rows, rows};

/// The page.
const PAGE: &str = include_str!("../assets/console.html");

/// What the console's routes share.
#[derive(Clone)]
pub struct Console {
    pub hub: Arc<Hub>,
    /// `--out`, for `as_of` in the sessions.
    pub root: Url,
    pub gate: Arc<Gate>,
    /// Whether the listener is on this machine only (needed without users).
    pub loopback: bool,
}

#[derive(Clone)]
struct Routes {
    console: Console,
    shared: Shared,
    access_log: Arc<AccessLog>,
    actions: Arc<AtomicU64>,
}

pub(crate) fn routes(console: Console, shared: Shared, access_log: Arc<AccessLog>) -> Router {
    let state = Routes { console, shared, access_log, actions: Arc::new(AtomicU64::new(0)) };
    Router::new()
        .route("/", get(page))
        .route("/v1/console/exceptions", get(exceptions))
        .route("/v1/console/exceptions/{id}/rows", get(evidence))
        .route("/v1/console/report", get(district_report))
        .route("/v1/console/stream", get(stream))
        .route("/v1/console/actions", post(act))
        .with_state(state)
}

/// An answer cut short (a refusal, a failure), boxed: the happy path stays small.
type Cut<T> = Result<T, Box<Response>>;

/// Who is asking: the grant they read with, or the answer refusing them.
fn signed_in(routes: &Routes, headers: &HeaderMap, client: SocketAddr) -> Cut<(Grant, Caller)> {
    let mut caller = Caller { user: String::new(), surface: "console", client: client.to_string() };
    let gate = &routes.console.gate;
    if !gate.authenticates() {
        if !routes.console.loopback {
            let reason = "the console needs [[users]] to sign in when --listen is reachable from other machines";
            return Err(Box::new((StatusCode::FORBIDDEN, format!("{reason}\n")).into_response()));
        }
        return Ok((Grant::everything(OPEN_SESSION), caller));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let challenge = |reason: &str| {
        let mut answer = Box::new((StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response());
        answer
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Basic realm=\"tillflow\", charset=\"UTF-8\"".parse().expect("a header"));
        answer
    };
    let Some((user, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return Err(challenge("sign in with a tillflow user's name and password"));
    };
    caller.user = user.to_string();
    match gate.check_password(user, password) {
        Some(grant) => {
            gate.succeeded(client.ip());
            Ok((grant.clone(), caller))
        }
        None => {
            gate.failed(client.ip());
            refused_login(&routes.access_log, &caller, "wrong user or password");
            Err(challenge("wrong user or password"))
        }
    }
}

/// Who is asking, signed in, and a session reading what they may.
fn reader(routes: &Routes, headers: &HeaderMap, client: SocketAddr) -> Cut<(SessionContext, Grant, Caller)> {
    let (grant, caller) = signed_in(routes, headers, client)?;
    let session = routes.console.hub.session(&routes.console.root, &grant);
    let ctx = session.map_err(|e| Box::new(failed(&e.to_string())))?;
    Ok((ctx, grant, caller))
}

fn failed(reason: &str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, json_error(reason)).into_response()
}

fn json_error(reason: &str) -> axum::Json<Value> {
    axum::Json(json!({"errors": [{"position": 0, "reason": reason}]}))
}

/// The page; signing in here (with users) has the browser send the credentials with every call.
async fn page(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = signed_in(&routes, &headers, client) {
        return *refused;
    }
    let mut answer = Html(PAGE).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'"
            .parse()
            .expect("a header"),
    );
    answer
}

/// Every exception's history with its figures, as the console lists them.
async fn exceptions(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    let (ctx, grant, caller) = match reader(&routes, &headers, client) {
        Ok(reading) => reading,
        Err(refused) => return *refused,
    };
    let mut audit =
        Audit::begin(&routes.access_log, &caller, "GET /v1/console/exceptions", &["exception_history".into()]);
    let epoch = routes.console.hub.latest().epoch;
    let query = "SELECT exception_id, district, store_id, kind, severity, subject, \
                 CAST(business_date AS VARCHAR) AS business_date, CAST(amount AS DOUBLE) AS amount, evidence, status, \
                 version, CAST(first_seen AS VARCHAR) AS first_seen, CAST(last_changed AS VARCHAR) AS last_changed, \
                 CAST(cleared AS VARCHAR) AS cleared, acknowledged_by, CAST(acknowledged_at AS VARCHAR) AS acknowledged_at, \
                 assigned_to, note, last_action, last_action_by, CAST(last_action_at AS VARCHAR) AS last_action_at \
                 FROM exception_history ORDER BY district, store_id, exception_id";
    let found = match rows(&ctx, query).await {
        Ok(found) => found,
        Err(e) => {
            audit.end(Outcome::Error);
            return failed(&e.to_string());
        }
    };
    audit.sent_rows(found.rows.len() as u64);
    let listed: Vec<Value> = found.rows.iter().map(|row| exception_json(&found, row)).collect();
    let user = if grant.user == OPEN_SESSION { String::new() } else { grant.user.clone() };
    axum::Json(json!({"epoch": epoch, "user": user, "exceptions": listed})).into_response()
}

fn exception_json(found: &Rows, row: &[String]) -> Value {
    let text = |column: &str| Value::String(found.get(row, column).to_string());
    let optional = |column: &str| match found.get(row, column) {
        "" => Value::Null,
        value => Value::String(value.to_string()),
    };
    let kind = found.get(row, "kind");
    json!({
        "exception_id": text("exception_id"),
        "district": text("district"),
        "store_id": text("store_id"),
        "kind": kind,
        "severity": text("severity"),
        "subject": text("subject"),
        "business_date": text("business_date"),
        "amount": match found.get(row, "amount") { "" => Value::Null, _ => json!(found.number(row, "amount")) },
        "evidence": text("evidence"),
        "status": text("status"),
        "version": found.number(row, "version") as u64,
        "first_seen": text("first_seen"),
        "last_changed": text("last_changed"),
        "cleared": optional("cleared"),
        "acknowledged_by": optional("acknowledged_by"),
        "acknowledged_at": optional("acknowledged_at"),
        "assigned_to": optional("assigned_to"),
        "note": optional("note"),
        "last_action": optional("last_action"),
        "last_action_by": optional("last_action_by"),
        "last_action_at": optional("last_action_at"),
        "view": tillflow_operators::exceptions::view_of(kind),
    })
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The rows of the view an exception was read from: its evidence.
async fn evidence(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (ctx, _, caller) = match reader(&routes, &headers, client) {
        Ok(reading) => reading,
        Err(refused) => return *refused,
    };
    let path = format!("GET /v1/console/exceptions/{id}/rows");
    let mut audit = Audit::begin(&routes.access_log, &caller, &path, &["exception_history".into()]);
    let lookup = format!(
        "SELECT kind, store_id, subject, CAST(business_date AS VARCHAR) AS business_date FROM exception_history \
         WHERE exception_id = {}",
        quoted(&id)
    );
    let found = match rows(&ctx, &lookup).await {
        Ok(found) => found,
        Err(e) => {
            audit.end(Outcome::Error);
            return failed(&e.to_string());
        }
    };
    let Some(row) = found.rows.first() else {
        audit.end(Outcome::Refused);
        return (StatusCode::NOT_FOUND, json_error(&format!("no exception `{id}` you may read"))).into_response();
    };
    let (kind, store, subject, day) = (
        found.get(row, "kind"),
        found.get(row, "store_id"),
        found.get(row, "subject"),
        found.get(row, "business_date"),
    );
    let Some((view, column)) = tillflow_operators::exceptions::source_of(kind) else {
        return (StatusCode::NOT_FOUND, json_error(&format!("no view holds the evidence of `{kind}`"))).into_response();
    };
    let dated = routes
        .console
        .hub
        .views()
        .iter()
        .any(|(name, schema)| *name == view && schema.field_with_name("business_date").is_ok())
        && view != "promotion_performance";
    let mut query = format!("SELECT * FROM {view} WHERE store_id = {}", quoted(store));
    if let Some(column) = column {
        query += &format!(" AND {column} = {}", quoted(subject));
    }
    if dated {
        query += &format!(" AND business_date = DATE {}", quoted(day));
    }
    query += " LIMIT 200";
    drop(audit);
    let mut audit = Audit::begin(&routes.access_log, &caller, &query, &[view.to_string()]);
    match rows(&ctx, &query).await {
        Ok(found) => {
            audit.sent_rows(found.rows.len() as u64);
            axum::Json(json!({"view": view, "columns": found.columns, "rows": found.rows})).into_response()
        }
        Err(e) => {
            audit.end(Outcome::Error);
            failed(&e.to_string())
        }
    }
}

#[derive(Deserialize)]
struct District {
    district: String,
}

/// The district report (its charts) over the live views.
async fn district_report(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Query(District { district }): Query<District>,
) -> Response {
    let (ctx, _, caller) = match reader(&routes, &headers, client) {
        Ok(reading) => reading,
        Err(refused) => return *refused,
    };
    let mut audit = Audit::begin(&routes.access_log, &caller, &format!("GET /v1/console/report {district}"), &[]);
    match report::report(&ctx, &district, None, ReportFormat::Html).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            audit.end(Outcome::Error);
            // A page saying why (no sales yet, say), not an error: the console shows it in place.
            let why = report::escape(&e.to_string());
            Html(format!(
                "<!doctype html><html lang=\"en\"><title>No report yet</title><p>No report yet: {why}</p></html>"
            ))
            .into_response()
        }
    }
}

/// Server-sent events: `epoch` each time one is published.
async fn stream(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = signed_in(&routes, &headers, client) {
        return *refused;
    }
    let hub = Arc::clone(&routes.console.hub);
    let epochs = futures::stream::unfold(0u64, move |last| {
        let hub = Arc::clone(&hub);
        async move {
            loop {
                let epoch = hub.latest().epoch;
                if epoch != last {
                    let sent = Sent::default().event("epoch").data(json!({"epoch": epoch}).to_string());
                    return Some((Ok::<_, std::convert::Infallible>(sent), epoch));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    Sse::new(epochs).keep_alive(KeepAlive::default()).into_response()
}

#[derive(Deserialize)]
struct ActionForm {
    exception_id: String,
    action: String,
    #[serde(default)]
    user: String,
    note: Option<String>,
    assignee: Option<String>,
}

/// An action from the console: an `exception_action` event, admitted like every other.
async fn act(
    State(routes): State<Routes>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    axum::Json(form): axum::Json<ActionForm>,
) -> Response {
    let (ctx, grant, mut caller) = match reader(&routes, &headers, client) {
        Ok(reading) => reading,
        Err(refused) => return *refused,
    };
    let user = match grant.user.as_str() {
        OPEN_SESSION => form.user.trim().to_string(),
        signed => signed.to_string(),
    };
    caller.user = user.clone();
    if user.is_empty() {
        return (StatusCode::BAD_REQUEST, json_error("say who you are: `user` is empty")).into_response();
    }
    let path = format!("POST /v1/console/actions {} {}", form.action, form.exception_id);
    let mut audit = Audit::begin(&routes.access_log, &caller, &path, &["exception_history".into()]);
    // The store comes from the history the user may read: an exception outside their scope is unknown.
    let lookup = format!("SELECT store_id FROM exception_history WHERE exception_id = {}", quoted(&form.exception_id));
    let store = match rows(&ctx, &lookup).await {
        Ok(found) => found.rows.first().map(|r| r[0].clone()),
        Err(e) => {
            audit.end(Outcome::Error);
            return failed(&e.to_string());
        }
    };
    let Some(store) = store else {
        audit.end(Outcome::Refused);
        let reason = format!(
            "no exception `{}` you may act on: act on one the console lists for you (its exception_id)",
            form.exception_id
        );
        return (StatusCode::BAD_REQUEST, json_error(&reason)).into_response();
    };
    let now = chrono::Utc::now();
    let number = routes.actions.fetch_add(1, Ordering::Relaxed);
    let event = json!({
        "type": "exception_action",
        "event_id": format!("console-{}-{number}", now.timestamp_nanos_opt().unwrap_or_default()),
        "ts": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "store_id": store,
        "exception_id": form.exception_id,
        "action": form.action,
        "user": user,
        "note": form.note,
        "assignee": form.assignee,
    });
    let text = event.to_string();
    let records = formats::body(text.as_bytes());
    let answer = deliver(&routes.shared, format!("console {}", caller.user), records).await;
    if answer.status() != StatusCode::ACCEPTED {
        audit.end(Outcome::Error);
    }
    answer
}
