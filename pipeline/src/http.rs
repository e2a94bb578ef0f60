//! The HTTP listener: `POST /v1/events` (NDJSON or a JSON array), `GET /metrics` (Prometheus),
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

use crate::live::{Delivery, Metrics, Verdict};

#[derive(Clone)]
struct Shared {
    feed: SyncSender<Delivery>,
    metrics: Arc<Metrics>,
    requests: Arc<AtomicU64>,
}

/// The routes, feeding accepted bodies to `feed`.
pub fn router(feed: SyncSender<Delivery>, metrics: Arc<Metrics>) -> Router {
    let shared = Shared { feed, metrics, requests: Arc::new(AtomicU64::new(0)) };
    Router::new()
        .route("/v1/events", post(post_events))
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Rejection>,
}

#[derive(Debug, Serialize)]
struct Rejection {
    /// 1-based position of the record in the body (line, or array element).
    position: u64,
    reason: String,
}

async fn post_events(State(shared): State<Shared>, body: Bytes) -> Response {
    let records = formats::body(&body);
    if records.is_empty() {
        let answer = Answer {
            errors: vec![Rejection { position: 0, reason: "the body holds no events".into() }],
            ..Answer::default()
        };
        return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
    }
    let request = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (reply, verdicts) = tokio::sync::oneshot::channel();
    let delivery = Delivery { source: format!("http#{request}").into(), records, reply: Some(reply) };
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
            Verdict::DeadLettered { position, reason } => {
                answer.dead_lettered += 1;
                answer.errors.push(Rejection { position, reason });
            }
        }
    }
    let status = if answer.errors.is_empty() { StatusCode::ACCEPTED } else { StatusCode::BAD_REQUEST };
    (status, axum::Json(answer)).into_response()
}
