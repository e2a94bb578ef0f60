//! The HTTP listener: `POST /v1/events` (NDJSON or a JSON array; with `[[ingest_tokens]]`, a
//! bearer token and its scope: [`crate::ingest_access`]), `POST /v1/sources/shopify` and
//! `POST /v1/sources/square`, `POST /v1/sources/clover`, `POST /v1/sources/lightspeed` (the
//! platforms' webhooks, signed or carrying a secret), `GET /metrics` (Prometheus),
//! `GET /healthz`; and the live console (`GET /`, `/v1/console/…`: [`crate::console`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tillflow_schemas::formats;

use axum::extract::ConnectInfo;
use tillflow_queries::access::audit::{AccessLog, Audit, Caller, Outcome, refused_login};

use crate::ingest_access::{ClientAddr, Tokens};
use crate::live::{Delivery, Metrics, Verdict};
use crate::platforms::{Clover, Lightspeed, Shopify, Sources, Square};

/// What every route shares.
#[derive(Clone)]
pub(crate) struct Shared {
    feed: SyncSender<Delivery>,
    pub(crate) metrics: Arc<Metrics>,
    requests: Arc<AtomicU64>,
    pub(crate) shopify: Option<Arc<Shopify>>,
    pub(crate) square: Option<Arc<Square>>,
    pub(crate) clover: Option<Arc<Clover>>,
    pub(crate) lightspeed: Option<Arc<Lightspeed>>,
    /// With `[[ingest_tokens]]`: who may post to `/v1/events`, for which stores.
    tokens: Option<Arc<Tokens>>,
    /// Where each post to `/v1/events`, and each refused one, is recorded.
    access_log: Arc<AccessLog>,
}

/// The routes, feeding accepted bodies to `feed`.
pub fn router(
    feed: SyncSender<Delivery>,
    metrics: Arc<Metrics>,
    sources: Sources,
    tokens: Option<Tokens>,
    access_log: Arc<AccessLog>,
    console: crate::console::Console,
) -> Router {
    let requests = Arc::new(AtomicU64::new(0));
    let (shopify, square, clover) =
        (sources.shopify.map(Arc::new), sources.square.map(Arc::new), sources.clover.map(Arc::new));
    let (lightspeed, tokens) = (sources.lightspeed.map(Arc::new), tokens.map(Arc::new));
    let shared = Shared { feed, metrics, requests, shopify, square, clover, lightspeed, tokens, access_log };
    let console = crate::console::routes(console, shared.clone(), Arc::clone(&shared.access_log));
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/sources/shopify", post(crate::platforms::shopify::webhook))
        .route("/v1/sources/square", post(crate::platforms::square::webhook))
        .route("/v1/sources/clover", post(crate::platforms::clover::webhook))
        .route("/v1/sources/lightspeed", post(crate::platforms::lightspeed::webhook))
        .route("/v1/dead-letters/retry", post(post_retry))
        .route("/metrics", get(|State(s): State<Shared>| async move { s.metrics.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(shared)
        .merge(console)
}

/// The answer to a POST: counts, and why each rejected record was rejected.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Answer {
    received: usize,
    accepted: usize,
    duplicates: usize,
    dead_lettered: usize,
    /// Records waiting for their store's record (admitted when it comes).
    #[serde(skip_serializing_if = "is_zero")]
    held: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Rejection>,
    /// Why a notification brought no record (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Answer {
    /// The answer to a webhook that brought no record (yet), saying why.
    pub(crate) fn nothing(note: String) -> Answer {
        Answer { note: Some(note), ..Answer::default() }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
struct Rejection {
    /// 1-based position of the record in the body (line, or array element).
    position: u64,
    reason: String,
}

async fn post_events(
    State(shared): State<Shared>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let holder = match &shared.tokens {
        None => None,
        Some(tokens) => {
            let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            match tokens.holder(authorization) {
                Some(holder) => Some(holder.clone()),
                None => {
                    shared.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
                    let reason = match authorization.is_empty() {
                        true => {
                            "no Authorization header: send `Authorization: Bearer <token>` of an [[ingest_tokens]] entry"
                        }
                        false => "unknown token: check the token of your [[ingest_tokens]] entry",
                    };
                    let caller = Caller { user: String::new(), surface: "http", client: client.to_string() };
                    refused_login(&shared.access_log, &caller, reason);
                    return (StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response();
                }
            }
        }
    };
    let records = formats::body(&body);
    if records.is_empty() {
        let answer = Answer {
            errors: vec![Rejection { position: 0, reason: "the body holds no events".into() }],
            ..Answer::default()
        };
        return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
    }
    let request = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (records, source, user) = match (&shared.tokens, holder) {
        (Some(tokens), Some((name, scope))) => {
            (tokens.confine(records, &name, &scope), format!("http#{request} {name}"), name)
        }
        _ => (records, format!("http#{request}"), String::new()),
    };
    let caller = Caller { user, surface: "http", client: client.to_string() };
    let mut audit = Audit::begin(&shared.access_log, &caller, "POST /v1/events", &[]);
    audit.sent_rows(records.len() as u64);
    let answer = deliver(&shared, source, records).await;
    if answer.status() != StatusCode::ACCEPTED {
        audit.end(Outcome::Error);
    }
    answer
}

/// Hands `records` to the driver and answers with their verdicts.
pub(crate) async fn deliver(shared: &Shared, source: String, records: Vec<formats::Record>) -> Response {
    hand_over(shared, Delivery { source: source.into(), records, reply: None, retry: None }).await
}

/// `POST /v1/dead-letters/retry[?reason=TEXT]`: the dead letters whose reason contains TEXT
/// (every one without it) judged again, now that their cause may be fixed; answered like a POST
/// of events, one count per letter. With ingest tokens, only a `chain` token may.
async fn post_retry(
    State(shared): State<Shared>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut caller = Caller { user: String::new(), surface: "http", client: client.to_string() };
    if let Some(tokens) = &shared.tokens {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match tokens.holder(authorization) {
            Some((name, tillflow_queries::access::Scope::Chain)) => caller.user = name.clone(),
            _ => {
                shared.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
                let reason =
                    "retrying dead letters needs `Authorization: Bearer <token>` of a `chain` [[ingest_tokens]] entry";
                refused_login(&shared.access_log, &caller, reason);
                return (StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response();
            }
        }
    }
    let reason = query.get("reason").cloned().unwrap_or_default();
    let mut audit = Audit::begin(&shared.access_log, &caller, &format!("POST /v1/dead-letters/retry {reason}"), &[]);
    let answer =
        hand_over(&shared, Delivery { source: "retry".into(), records: Vec::new(), reply: None, retry: Some(reason) })
            .await;
    if answer.status() != StatusCode::ACCEPTED && answer.status() != StatusCode::BAD_REQUEST {
        audit.end(Outcome::Error);
    }
    answer
}

/// Hands a delivery to the driver and answers with its verdicts.
async fn hand_over(shared: &Shared, mut delivery: Delivery) -> Response {
    let (reply, verdicts) = tokio::sync::oneshot::channel();
    delivery.reply = Some(reply);
    let feed = shared.feed.clone();
    let sent = tokio::task::spawn_blocking(move || feed.send(delivery).is_ok()).await.unwrap_or(false);
    let verdicts = match (sent, verdicts.await) {
        (true, Ok(verdicts)) => verdicts,
        _ => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "tillflow is stopping (shut down, or its ingest log cannot be written); retry later\n",
            )
                .into_response();
        }
    };
    let mut answer = Answer { received: verdicts.len(), ..Answer::default() };
    for verdict in verdicts {
        match verdict {
            Verdict::Accepted => answer.accepted += 1,
            Verdict::Duplicate => answer.duplicates += 1,
            Verdict::Held => answer.held += 1,
            Verdict::DeadLettered { position, reason } => {
                answer.dead_lettered += 1;
                answer.errors.push(Rejection { position, reason });
            }
        }
    }
    let status = if answer.errors.is_empty() { StatusCode::ACCEPTED } else { StatusCode::BAD_REQUEST };
    (status, axum::Json(answer)).into_response()
}
