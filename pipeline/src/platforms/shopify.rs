//! `POST /v1/sources/shopify`: a Shopify app's webhooks, signed with the app's secret
//! (`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body), mapped by topic
//! (`X-Shopify-Topic`) with `tillflow_data::shopify`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::{dead, not_configured, records, unauthenticated};
use crate::http::{Shared, deliver};

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

/// A webhook: its signature checked against the raw body, then its topic mapped to canonical
/// records, admitted like any others.
pub(crate) async fn webhook(State(shared): State<Shared>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    use tillflow_data::shopify;
    let Some(config) = shared.shopify.clone() else { return not_configured("Shopify", "its secret and locations") };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let signature = header("x-shopify-hmac-sha256");
    if !shopify::verify(config.secret.as_bytes(), &body, &signature) {
        return unauthenticated(&shared, "X-Shopify-Hmac-Sha256 header", &signature);
    }
    let topic = header("x-shopify-topic");
    let records = match shopify::map(&topic, &body, &config.locations) {
        Ok(canonical) => records(&canonical),
        Err(reason) => dead(&shopify::without_personal_data(&body), reason),
    };
    let webhook = header("x-shopify-webhook-id");
    let source = if webhook.is_empty() { format!("shopify {topic}") } else { format!("shopify {topic} {webhook}") };
    deliver(&shared, source, records).await
}
