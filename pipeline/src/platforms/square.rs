//! `POST /v1/sources/square`: a Square webhook subscription's notifications, signed with its
//! signature key over the notification URL and the raw body (`x-square-hmacsha256-signature`).
//! Notifications name orders; the order is fetched from the Orders API, its items' SKUs from
//! the Catalog API, and mapped with `tillflow_data::square`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Api, Fetch, dead, hand_over, not_configured, nothing_yet, records, unauthenticated, unavailable};
use crate::http::Shared;

/// A Square webhook subscription: the key that signs its notifications and the URL they are
/// signed for, the API orders are fetched from, and the store of each location.
#[derive(Clone)]
pub struct Square {
    signature_key: String,
    notification_url: String,
    api: Api,
    locations: HashMap<String, String>,
}

/// The version of Square's API the mapping follows.
const SQUARE_VERSION: &str = "2025-10-16";

impl Square {
    pub fn new(
        signature_key: String,
        notification_url: String,
        api_base: String,
        access_token: String,
        locations: HashMap<String, String>,
    ) -> Square {
        let headers =
            [("authorization", format!("Bearer {access_token}")), ("square-version", SQUARE_VERSION.to_string())];
        Square { signature_key, notification_url, api: Api::new(&api_base, &headers), locations }
    }
}

impl std::fmt::Debug for Square {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Square")
            .field("notification_url", &self.notification_url)
            .field("api", &self.api)
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
}

/// A notification: its signature checked, then the order it names fetched and mapped. A
/// notification that does not map, or names an order Square does not have, is a dead letter
/// with the reason and the body as received; an API that does not answer gets 503, so Square
/// sends the notification again.
pub(crate) async fn webhook(State(shared): State<Shared>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    use tillflow_data::square;
    let Some(config) = shared.square.clone() else {
        return not_configured("Square", "its signature key, notification URL, access token and locations");
    };
    let header = "x-square-hmacsha256-signature";
    let signature = headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !square::verify(config.signature_key.as_bytes(), &config.notification_url, &body, signature) {
        return unauthenticated(&shared, "x-square-hmacsha256-signature header", signature);
    }
    let notification: Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = notification["type"].as_str().unwrap_or_default();
    let event = notification["event_id"].as_str().unwrap_or_default();
    let source = format!("square {kind} {event}");
    let kept = || square::without_personal_data(&body);
    let order_id = match square::wanted(&body) {
        Err(reason) => return hand_over(&shared, source, dead(&kept(), reason)).await,
        Ok(square::Wanted::Nothing(why)) => return nothing_yet(format!("{why}: nothing to map until it completes")),
        Ok(square::Wanted::Order(id)) => id,
    };
    let records = match fetch_order(&config.api, &order_id).await {
        Err(Fetch::Unavailable(why)) => return unavailable(&format!("Square notification {event}"), &why),
        Err(Fetch::Missing(why)) => dead(&kept(), why),
        Ok((order, skus)) => match square::map_order(&order, &config.locations, &skus) {
            Err(reason) => dead(&kept(), reason),
            Ok(canonical) if canonical.is_empty() => {
                let state = order["state"].as_str().unwrap_or("without a state");
                return nothing_yet(format!("order {order_id} is {state}: nothing to map until it completes"));
            }
            Ok(canonical) => records(&canonical),
        },
    };
    hand_over(&shared, source, records).await
}

/// An order from the Orders API, with the SKUs of its items from the Catalog API.
async fn fetch_order(api: &Api, id: &str) -> Result<(Value, HashMap<String, String>), Fetch> {
    let answer = api.get(&format!("/v2/orders/{id}"), || format!("Square has no order {id} (404)")).await?;
    let order = answer["order"].clone();
    let ids = tillflow_data::square::catalog_ids(&order);
    if ids.is_empty() {
        return Ok((order, HashMap::new()));
    }
    let catalog = api.post("/v2/catalog/batch-retrieve", &json!({ "object_ids": ids })).await?;
    Ok((order, tillflow_data::square::skus_of_catalog(&catalog)))
}
