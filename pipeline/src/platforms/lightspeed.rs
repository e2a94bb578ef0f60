//! `POST /v1/sources/lightspeed?token=…`: Lightspeed Retail (X-Series) webhooks, form-encoded
//! with the object as JSON in `payload` and its webhook type in `type`. Lightspeed documents no
//! signature for them, so the URL registered with Lightspeed carries a token of tillflow's
//! config, compared whole; the payload is mapped with `tillflow_data::lightspeed`. An inventory
//! level names its product by id: its SKU is fetched from the API (2.0) when configured.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::Value;
use tillflow_data::lightspeed::{self, Stores};

use super::{Api, Fetch, dead, hand_over, named, not_configured, nothing_yet, records, unauthenticated, unavailable};
use crate::http::Shared;

/// A Lightspeed store account's webhooks: the token their URL carries and the store of each
/// outlet and register.
#[derive(Clone)]
pub struct Lightspeed {
    token: String,
    stores: Stores,
    api: Option<Api>,
}

impl Lightspeed {
    /// `api`: the API's base (`https://DOMAIN.retail.lightspeed.app/api/2.0`) and token.
    pub fn new(
        token: String,
        outlets: HashMap<String, String>,
        registers: HashMap<String, String>,
        api: Option<(String, String)>,
    ) -> Lightspeed {
        let api = api.map(|(base, token)| Api::new(&base, &[("authorization", format!("Bearer {token}"))]));
        Lightspeed { token, stores: Stores { outlets, registers }, api }
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
            return hand_over(&shared, "lightspeed".into(), dead(text.as_bytes(), reason)).await;
        }
    };
    let kind = form.get("type").cloned().or_else(|| lightspeed::kind_of(&payload).map(str::to_string));
    let kind = kind.unwrap_or_else(|| "(no type)".into());
    let source = named(&format!("lightspeed {kind}"), &body);
    let mut skus = HashMap::new();
    if let Some(product) = lightspeed::product_wanted(&kind, &payload) {
        let Some(api) = &config.api else {
            let reason = format!(
                "{kind} names product {product} without its SKU: set api_base and access_token under [sources.lightspeed]"
            );
            return hand_over(&shared, source, dead(&lightspeed::without_personal_data(&payload), reason)).await;
        };
        match api.get(&format!("/products/{product}"), || format!("Lightspeed has no product {product}")).await {
            Ok(answer) => skus.extend(lightspeed::sku_of_product(&answer).map(|sku| (product, sku))),
            Err(Fetch::Missing(reason)) => {
                return hand_over(&shared, source, dead(&lightspeed::without_personal_data(&payload), reason)).await;
            }
            Err(Fetch::Unavailable(why)) => return unavailable(&format!("Lightspeed {kind}"), &why),
        }
    }
    let records = match lightspeed::map(&kind, &payload, &config.stores, &skus) {
        Ok(canonical) if canonical.is_empty() => {
            let status = payload["status"].as_str().unwrap_or("without a status");
            return nothing_yet(format!("the sale is {status}: nothing to map until it is closed or voided"));
        }
        Ok(canonical) => records(&canonical),
        Err(reason) => dead(&lightspeed::without_personal_data(&payload), reason),
    };
    hand_over(&shared, source, records).await
}
