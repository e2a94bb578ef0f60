//! `POST /v1/sources/lightspeed?token=…`: Lightspeed Retail (X-Series) webhooks, form-encoded
//! with the object as JSON in `payload` and its webhook type in `type`. Lightspeed documents no
//! signature for them, so the URL registered with Lightspeed carries a token of tillflow's
//! config, compared whole; the payload is mapped with `tillflow_data::lightspeed`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::Value;
use tillflow_data::lightspeed::{self, Stores};

use super::{dead, not_configured, nothing_yet, records, unauthenticated};
use crate::http::{Shared, deliver};

/// A Lightspeed store account's webhooks: the token their URL carries and the store of each
/// outlet and register.
#[derive(Clone)]
pub struct Lightspeed {
    token: String,
    stores: Stores,
}

impl Lightspeed {
    pub fn new(token: String, outlets: HashMap<String, String>, registers: HashMap<String, String>) -> Lightspeed {
        Lightspeed { token, stores: Stores { outlets, registers } }
    }
}

impl std::fmt::Debug for Lightspeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lightspeed").field("stores", &self.stores).finish_non_exhaustive()
    }
}

/// A webhook: its URL's token checked, its payload mapped by type.
pub(crate) async fn webhook(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some(config) = shared.lightspeed.clone() else {
        return not_configured("Lightspeed", "a token for the webhook URL and its outlets or registers");
    };
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if !tillflow_data::same_secret(config.token.as_bytes(), token) {
        return unauthenticated(&shared, "token in the webhook URL (?token=)", token);
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let text = form.get("payload").map_or_else(|| String::from_utf8_lossy(&body).into_owned(), Clone::clone);
    let payload: Value = match serde_json::from_str(&text) {
        Ok(payload) => payload,
        Err(e) => {
            let reason = format!("the Lightspeed payload is not JSON: {e}");
            return deliver(&shared, "lightspeed".into(), dead(text.as_bytes(), reason)).await;
        }
    };
    let kind = form.get("type").cloned().or_else(|| lightspeed::kind_of(&payload).map(str::to_string));
    let kind = kind.unwrap_or_else(|| "(no type)".into());
    let source = format!("lightspeed {kind}");
    let records = match lightspeed::map(&kind, &payload, &config.stores) {
        Ok(canonical) if canonical.is_empty() => {
            let status = payload["status"].as_str().unwrap_or("without a status");
            return nothing_yet(format!("the sale is {status}: nothing to map until it is closed or voided"));
        }
        Ok(canonical) => records(&canonical),
        Err(reason) => dead(&lightspeed::without_personal_data(&payload), reason),
    };
    deliver(&shared, source, records).await
}
