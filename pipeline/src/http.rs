//! The HTTP listener: `POST /v1/events` (NDJSON or a JSON array; with `[[ingest_tokens]]`, a
//! bearer token and its scope: [`crate::ingest_access`]), `POST /v1/sources/shopify` and
//! `POST /v1/sources/square` (the platforms' webhooks, signed), `GET /metrics` (Prometheus),
//! `GET /healthz`.

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
    square: Option<Arc<Square>>,
    /// With `[[ingest_tokens]]`: who may post to `/v1/events`, for which stores.
    tokens: Option<Arc<Tokens>>,
    /// Where each post to `/v1/events`, and each refused one, is recorded.
    access_log: Arc<AccessLog>,
}

/// The platforms whose webhooks are taken, those configured.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub shopify: Option<Shopify>,
    pub square: Option<Square>,
}

/// A Square webhook subscription: the key that signs its notifications and the URL they are
/// signed for, where orders are fetched (the Orders and Catalog APIs) with which token, and the
/// store of each location.
#[derive(Clone)]
pub struct Square {
    signature_key: String,
    notification_url: String,
    api_base: String,
    access_token: String,
    locations: std::collections::HashMap<String, String>,
    client: reqwest::Client,
}

impl Square {
    pub fn new(
        signature_key: String,
        notification_url: String,
        api_base: String,
        access_token: String,
        locations: std::collections::HashMap<String, String>,
    ) -> Square {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default settings");
        let api_base = api_base.trim_end_matches('/').to_string();
        Square { signature_key, notification_url, api_base, access_token, locations, client }
    }
}

impl std::fmt::Debug for Square {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Square")
            .field("notification_url", &self.notification_url)
            .field("api_base", &self.api_base)
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
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
    sources: Sources,
    tokens: Option<Tokens>,
    access_log: Arc<AccessLog>,
) -> Router {
    let requests = Arc::new(AtomicU64::new(0));
    let (shopify, square, tokens) = (sources.shopify.map(Arc::new), sources.square.map(Arc::new), tokens.map(Arc::new));
    let shared = Shared { feed, metrics, requests, shopify, square, tokens, access_log };
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/sources/shopify", post(post_shopify))
        .route("/v1/sources/square", post(post_square))
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
    /// Why a notification brought no record (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
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
        let hint =
            "Shopify webhooks are not configured: add [sources.shopify] with its secret and locations to the config\n";
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

/// A Square notification: its signature checked against the notification URL and the raw body
/// (401 if missing or wrong, and counted), then the order it names fetched from the Orders API
/// (and its items' SKUs from the Catalog API) and mapped (`tillflow_data::square`). A
/// notification that does not map, or names an order Square does not have, is a dead letter
/// with the reason and the body as received; an API that does not answer gets 503, so Square
/// sends the notification again.
async fn post_square(State(shared): State<Shared>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    use tillflow_data::square;
    let Some(config) = shared.square.clone() else {
        let hint = "Square webhooks are not configured: add [sources.square] to the config\n";
        return (StatusCode::NOT_FOUND, hint).into_response();
    };
    let signature = headers.get("x-square-hmacsha256-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !square::verify(config.signature_key.as_bytes(), &config.notification_url, &body, signature) {
        shared.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
        let reason = if signature.is_empty() {
            "no x-square-hmacsha256-signature header"
        } else {
            "the signature does not match"
        };
        return (StatusCode::UNAUTHORIZED, format!("{reason}: the notification was not accepted\n")).into_response();
    }
    let notification: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = notification["type"].as_str().unwrap_or_default().to_string();
    let event = notification["event_id"].as_str().unwrap_or_default();
    let source = format!("square {kind} {event}");
    let dead = |reason: String| {
        let kept = square::without_personal_data(&body);
        let reason = tillflow_schemas::InputError::RuleBroken(reason);
        vec![formats::Record::rejected(1, formats::Rejected::new(&kept, reason))]
    };
    let order_id = match square::wanted(&body) {
        Err(reason) => return deliver(&shared, source, dead(reason)).await,
        Ok(square::Wanted::Nothing(why)) => {
            let note = Some(format!("{why}: nothing to map until it completes"));
            return (StatusCode::OK, axum::Json(Answer { note, ..Answer::default() })).into_response();
        }
        Ok(square::Wanted::Order(id)) => id,
    };
    let records = match fetch_order(&config, &order_id).await {
        Err(Fetch::Unavailable(why)) => {
            tracing::warn!("Square notification {event}: {why}");
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}; send the notification again\n")).into_response();
        }
        Err(Fetch::Missing(why)) => dead(why),
        Ok((order, skus)) => match square::map_order(&order, &config.locations, &skus) {
            Err(reason) => dead(reason),
            Ok(canonical) if canonical.is_empty() => {
                let state = order["state"].as_str().unwrap_or("without a state");
                let note = Some(format!("order {order_id} is {state}: nothing to map until it completes"));
                return (StatusCode::OK, axum::Json(Answer { note, ..Answer::default() })).into_response();
            }
            Ok(canonical) => {
                let lines: Vec<String> = canonical.iter().map(|record| record.to_string()).collect();
                formats::body(lines.join("\n").as_bytes())
            }
        },
    };
    deliver(&shared, source, records).await
}

/// Why an order could not be fetched: Square does not answer now (try again), or has no such order.
enum Fetch {
    Unavailable(String),
    Missing(String),
}

/// An order from the Orders API, with the SKUs of its items from the Catalog API.
async fn fetch_order(
    config: &Square,
    id: &str,
) -> Result<(serde_json::Value, std::collections::HashMap<String, String>), Fetch> {
    let call = |request: reqwest::RequestBuilder| {
        request.bearer_auth(&config.access_token).header("Square-Version", "2025-10-16").send()
    };
    let url = format!("{}/v2/orders/{id}", config.api_base);
    let answer = call(config.client.get(&url)).await.map_err(|e| Fetch::Unavailable(format!("GET {url}: {e}")))?;
    match answer.status() {
        status if status.is_success() => {}
        reqwest::StatusCode::NOT_FOUND => return Err(Fetch::Missing(format!("Square has no order {id} ({url}: 404)"))),
        status => return Err(Fetch::Unavailable(format!("GET {url}: {status}"))),
    }
    let answer: serde_json::Value =
        answer.json().await.map_err(|e| Fetch::Unavailable(format!("GET {url}: not JSON: {e}")))?;
    let order = answer["order"].clone();
    let ids = tillflow_data::square::catalog_ids(&order);
    if ids.is_empty() {
        return Ok((order, Default::default()));
    }
    let url = format!("{}/v2/catalog/batch-retrieve", config.api_base);
    let request = config.client.post(&url).json(&serde_json::json!({ "object_ids": ids }));
    let answer = call(request).await.map_err(|e| Fetch::Unavailable(format!("POST {url}: {e}")))?;
    if !answer.status().is_success() {
        return Err(Fetch::Unavailable(format!("POST {url}: {}", answer.status())));
    }
    let catalog: serde_json::Value =
        answer.json().await.map_err(|e| Fetch::Unavailable(format!("POST {url}: not JSON: {e}")))?;
    Ok((order, tillflow_data::square::skus_of_catalog(&catalog)))
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
