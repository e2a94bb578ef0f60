//! The HTTP listener: `POST /v1/events` (NDJSON or a JSON array; with `[[ingest_tokens]]`, a
//! bearer token and its scope: [`crate::ingest_access`]), `POST /v1/sources/shopify`
//! (Shopify webhooks, signed), `GET /metrics` (Prometheus), `GET /healthz`.

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

#[derive(Clone)]
struct Shared {
    feed: SyncSender<Delivery>,
    metrics: Arc<Metrics>,
    requests: Arc<AtomicU64>,
    shopify: Option<Arc<Shopify>>,
    /// With `[[ingest_tokens]]`: who may post to `/v1/events`, for which stores.
    tokens: Option<Arc<Tokens>>,
    /// Where each post to `/v1/events`, and each refused one, is recorded.
    access_log: Arc<AccessLog>,
}

/// A Shopify app's webhooks: the secret that signs them and the store of each POS location.
#[derive(Clone, Default)]
pub struct Shopify {
    pub secret: String,
    /// Shopify location id → tillflow store id.
    pub locations: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify").field("secret", &"<redacted>").field("locations", &self.locations).finish()
    }
}

/// The routes, feeding accepted bodies to `feed`.
pub fn router(
    feed: SyncSender<Delivery>,
    metrics: Arc<Metrics>,
    shopify: Option<Shopify>,
    tokens: Option<Tokens>,
    access_log: Arc<AccessLog>,
) -> Router {
    let requests = Arc::new(AtomicU64::new(0));
    let (shopify, tokens) = (shopify.map(Arc::new), tokens.map(Arc::new));
    let shared = Shared { feed, metrics, requests, shopify, tokens, access_log };
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/sources/shopify", post(post_shopify))
        .route("/v1/dead-letters/retry", post(post_retry))
        .route("/metrics", get(|State(s): State<Shared>| async move { s.metrics.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(shared)
}

/// The answer to a POST: counts, and why each rejected record was rejected.
#[derive(Debug, Default, Serialize)]
struct Answer {
    received: usize,
    accepted: usize,
    duplicates: usize,
    dead_lettered: usize,
    /// Records waiting for their store's record (admitted when it comes).
    #[serde(skip_serializing_if = "is_zero")]
    held: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Rejection>,
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

/// A Shopify webhook: its signature checked against the raw body (401 if missing or wrong, and
/// counted; nothing reaches the views), then its topic mapped to canonical records
/// (`tillflow_data::shopify`), which are admitted like any others. A webhook that does not map is
/// a dead letter with the reason and the body as received.
async fn post_shopify(State(shared): State<Shared>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let Some(shopify) = shared.shopify.clone() else {
        let hint = "Shopify webhooks are not configured: add [shopify] with its secret and locations to the config\n";
        return (StatusCode::NOT_FOUND, hint).into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let signature = header("x-shopify-hmac-sha256");
    if !tillflow_data::shopify::verify(shopify.secret.as_bytes(), &body, &signature) {
        shared.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
        let reason =
            if signature.is_empty() { "no X-Shopify-Hmac-Sha256 header" } else { "the signature does not match" };
        return (StatusCode::UNAUTHORIZED, format!("{reason}: the webhook was not accepted\n")).into_response();
    }
    let topic = header("x-shopify-topic");
    let records = match tillflow_data::shopify::map(&topic, &body, &shopify.locations) {
        Ok(canonical) => {
            let lines: Vec<String> = canonical.iter().map(|record| record.to_string()).collect();
            formats::body(lines.join("\n").as_bytes())
        }
        Err(reason) => {
            let reason = tillflow_schemas::InputError::RuleBroken(reason);
            let kept = tillflow_data::shopify::without_personal_data(&body);
            vec![formats::Record::rejected(1, formats::Rejected::new(&kept, reason))]
        }
    };
    let webhook = header("x-shopify-webhook-id");
    let source = if webhook.is_empty() { format!("shopify {topic}") } else { format!("shopify {topic} {webhook}") };
    deliver(&shared, source, records).await
}

/// Hands `records` to the driver and answers with their verdicts.
async fn deliver(shared: &Shared, source: String, records: Vec<formats::Record>) -> Response {
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
