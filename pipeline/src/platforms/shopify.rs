//! `POST /v1/sources/shopify`: a Shopify app's webhooks, signed with the app's secret
//! (`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body), mapped by topic
//! (`X-Shopify-Topic`) with `tillflow_data::shopify`. Products and inventory levels name
//! inventory items, fetched from the Admin API (their SKU and cost) when it is configured.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::{Api, Fetch, dead, hand_over, not_configured, records, unauthenticated, unavailable};
use crate::http::Shared;

/// A Shopify app's webhooks: the secret that signs them, the store of each POS location, and
/// the Admin API inventory items are fetched from, if configured.
#[derive(Clone)]
pub struct Shopify {
    secret: String,
    /// Shopify location id → tillflow store id.
    locations: std::collections::HashMap<String, String>,
    admin: Option<Api>,
}

impl Shopify {
    /// `admin`: the Admin API's base (`https://SHOP.myshopify.com/admin/api/VERSION`) and token.
    pub fn new(
        secret: String,
        locations: std::collections::HashMap<String, String>,
        admin: Option<(String, String)>,
    ) -> Shopify {
        let admin = admin.map(|(base, token)| Api::new(&base, &[("x-shopify-access-token", token)]));
        Shopify { secret, locations, admin }
    }
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify")
            .field("locations", &self.locations)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
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
    let wanted = shopify::items_wanted(&topic, &body);
    let items = match (&config.admin, wanted.is_empty()) {
        (_, true) => Ok(Default::default()),
        (None, false) => Err(Fetch::Missing(format!(
            "{topic} needs Shopify's Admin API for the items' SKU and cost: set shop and access_token under [sources.shopify]"
        ))),
        (Some(admin), false) => inventory_items(admin, &wanted).await,
    };
    let records = match items {
        Err(Fetch::Unavailable(why)) => return unavailable(&format!("Shopify {topic}"), &why),
        Err(Fetch::Missing(reason)) => dead(&shopify::without_personal_data(&body), reason),
        Ok(items) => match shopify::map(&topic, &body, &config.locations, &items) {
            Ok(canonical) => records(&canonical),
            Err(reason) => dead(&shopify::without_personal_data(&body), reason),
        },
    };
    let webhook = header("x-shopify-webhook-id");
    let source = if webhook.is_empty() { format!("shopify {topic}") } else { format!("shopify {topic} {webhook}") };
    hand_over(&shared, source, records).await
}

/// The inventory items named, from the Admin API, a hundred ids a request (its limit).
async fn inventory_items(
    admin: &Api,
    ids: &[String],
) -> Result<std::collections::HashMap<String, tillflow_data::shopify::Item>, Fetch> {
    let mut items = std::collections::HashMap::new();
    for chunk in ids.chunks(100) {
        let path = format!("/inventory_items.json?ids={}&limit=250", chunk.join(","));
        let answer = admin.get(&path, || "no such inventory items".into()).await?;
        items.extend(tillflow_data::shopify::items_of(&answer));
    }
    Ok(items)
}
