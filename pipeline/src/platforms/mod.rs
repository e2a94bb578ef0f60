//! The POS platforms' webhooks on `--listen`, one file each: the platform's configuration, the
//! check of its signature, and what it fetches from the platform's API before the pure mapping
//! of `tillflow_data` turns its payloads into canonical records. What maps is admitted like any
//! other record; what does not is a dead letter with the reason and the body as received (its
//! personal fields removed); a bad signature is 401, counted, and nothing else.

pub mod clover;
pub mod lightspeed;
pub mod shopify;
pub mod square;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tillflow_schemas::formats;

pub use clover::Clover;
pub use lightspeed::Lightspeed;
pub use shopify::Shopify;
pub use square::Square;

use crate::http::{Answer, Shared, deliver};

/// The platforms whose webhooks are taken, those configured.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub shopify: Option<Shopify>,
    pub square: Option<Square>,
    pub clover: Option<Clover>,
    pub lightspeed: Option<Lightspeed>,
}

/// Hands a webhook's records to the driver. A webhook whose records became dead letters is
/// answered 200 all the same, with the reasons: they are logged, and a platform answered an
/// error would send the webhook again and again.
async fn hand_over(shared: &Shared, source: String, records: Vec<formats::Record>) -> Response {
    let mut answer = deliver(shared, source, records).await;
    if answer.status() == StatusCode::BAD_REQUEST {
        *answer.status_mut() = StatusCode::OK;
    }
    answer
}

/// Answers a request whose signature is missing or wrong: 401, counted as unauthenticated.
fn unauthenticated(shared: &Shared, header: &str, signature: &str) -> Response {
    shared.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
    let reason =
        if signature.is_empty() { format!("no {header} header") } else { "the signature does not match".into() };
    (StatusCode::UNAUTHORIZED, format!("{reason}: the webhook was not accepted\n")).into_response()
}

/// A name for one webhook's records when the platform gives the webhook no id of its own: its
/// body's hash, so the records of two webhooks never share a (source, position).
fn named(platform: &str, body: &[u8]) -> String {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(body);
    format!("{platform} {:016x}", hasher.finish())
}

/// Answers a webhook whose objects the platform's API did not give now: 503, so the platform
/// sends it again.
fn unavailable(webhook: &str, why: &str) -> Response {
    tracing::warn!("{webhook}: {why}");
    (StatusCode::SERVICE_UNAVAILABLE, format!("{why}; the platform sends the webhook again\n")).into_response()
}

/// Answers a platform configured nowhere: 404, with what to add to the config.
fn not_configured(platform: &str, what: &str) -> Response {
    let hint = format!(
        "{platform} webhooks are not configured: add [sources.{}] with {what} to the config\n",
        platform.to_lowercase()
    );
    (StatusCode::NOT_FOUND, hint).into_response()
}

/// Answers a webhook that brings nothing to map yet (an open order, a pending payment): 200 with why.
fn nothing_yet(note: String) -> Response {
    (StatusCode::OK, axum::Json(Answer::nothing(note))).into_response()
}

/// The records of canonical JSON values, as a body of them would be read.
fn records(canonical: &[Value]) -> Vec<formats::Record> {
    let lines: Vec<String> = canonical.iter().map(Value::to_string).collect();
    formats::body(lines.join("\n").as_bytes())
}

/// One dead letter: the body as it may be kept, and why it does not map.
fn dead(kept: &[u8], reason: String) -> Vec<formats::Record> {
    let reason = tillflow_schemas::InputError::RuleBroken(reason);
    vec![formats::Record::rejected(1, formats::Rejected::new(kept, reason))]
}

/// Why an object could not be fetched from a platform's API: it does not answer now (the
/// platform is answered 503 and sends the webhook again), or it has no such object.
enum Fetch {
    Unavailable(String),
    Missing(String),
}

/// A platform's REST API: where it is, and how requests to it are signed in.
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
    /// Headers every request carries (the token among them).
    headers: reqwest::header::HeaderMap,
}

impl Api {
    fn new(base: &str, headers: &[(&'static str, String)]) -> Api {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default settings");
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            if let Ok(mut value) = reqwest::header::HeaderValue::from_str(value) {
                value.set_sensitive(true);
                map.insert(*name, value);
            }
        }
        Api { base: base.trim_end_matches('/').to_string(), client, headers: map }
    }

    /// `GET base + path` as JSON; a 404 is [`Fetch::Missing`] with `missing` as its reason.
    async fn get(&self, path: &str, missing: impl FnOnce() -> String) -> Result<Value, Fetch> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.get(&url), &format!("GET {url}"), missing).await
    }

    /// `POST base + path` with a JSON body, answered with JSON.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, Fetch> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(&url).json(body), &format!("POST {url}"), || format!("{url}: 404")).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<Value, Fetch> {
        let answer = request
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|e| Fetch::Unavailable(format!("{what}: {e}")))?;
        match answer.status() {
            status if status.is_success() => {}
            reqwest::StatusCode::NOT_FOUND => return Err(Fetch::Missing(missing())),
            status => return Err(Fetch::Unavailable(format!("{what}: {status}"))),
        }
        answer.json().await.map_err(|e| Fetch::Unavailable(format!("{what}: not JSON: {e}")))
    }
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish_non_exhaustive()
    }
}
