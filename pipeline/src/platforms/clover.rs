//! `POST /v1/sources/clover`: a Clover app's webhooks. Setting the URL, Clover sends a
//! verification code (printed, to paste into the app's settings); after that, every
//! notification carries the app's auth code in `X-Clover-Auth`. Notifications name orders and
//! payments by id; the order is fetched from the REST API (with its line items, discounts,
//! payments and refunds), its items' SKUs too, and mapped with `tillflow_data::clover`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use tillflow_data::clover::{self, Notice};
use tillflow_schemas::formats;

use super::{Api, Fetch, dead, hand_over, named, not_configured, nothing_yet, unauthenticated, unavailable};
use crate::http::Shared;

/// A Clover app's webhooks: the auth code its notifications carry (known once the URL is
/// verified), the API orders are fetched from, and the store of each merchant.
#[derive(Clone)]
pub struct Clover {
    auth_code: Option<String>,
    api: Api,
    merchants: HashMap<String, String>,
}

/// What an order is fetched with.
const EXPAND: &str = "lineItems,lineItems.discounts,discounts,payments,payments.tender,refunds,refunds.lineItems,customers,employee,device";

impl Clover {
    pub fn new(
        auth_code: Option<String>,
        api_base: String,
        access_token: String,
        merchants: HashMap<String, String>,
    ) -> Clover {
        let api = Api::new(&api_base, &[("authorization", format!("Bearer {access_token}"))]);
        Clover { auth_code, api, merchants }
    }
}

impl std::fmt::Debug for Clover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clover").field("api", &self.api).field("merchants", &self.merchants).finish_non_exhaustive()
    }
}

/// A verification request, or a notification: its auth code checked, each object it names
/// fetched and mapped. An object that does not map is a dead letter of its own (the event as
/// Clover listed it); an API that does not answer gets 503, and Clover sends it again.
pub(crate) async fn webhook(State(shared): State<Shared>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let Some(config) = shared.clover.clone() else {
        return not_configured("Clover", "its access token and merchants");
    };
    if let Some(code) = clover::verification_code(&body) {
        // Shown once, to be pasted into the app's webhook settings: not a lasting secret.
        eprintln!("tillflow: Clover's verification code for this webhook URL: {code}");
        return nothing_yet("verification code received: paste it into the app's webhook settings".into());
    }
    let header = "x-clover-auth";
    let auth = headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !config.auth_code.as_ref().is_some_and(|code| clover::verify(code.as_bytes(), auth)) {
        return unauthenticated(&shared, "X-Clover-Auth header", auth);
    }
    let source = named("clover", &body);
    let notices = match clover::notices(&body) {
        Ok(notices) => notices,
        Err(reason) => return hand_over(&shared, source, dead(&body, reason)).await,
    };
    let mut canonical = Vec::new();
    let mut letters = Vec::new();
    let mut waiting = Vec::new();
    for notice in notices {
        // A customer's id is personal data: a dead letter keeps that it was one, not which.
        let id = if notice.kind == "C" { "(a customer's id, not kept)" } else { notice.id.as_str() };
        let listed =
            json!({"merchant": notice.merchant, "objectId": format!("{}:{id}", notice.kind), "type": notice.change});
        match records_of(&config, &notice).await {
            Err(Fetch::Unavailable(why)) => return unavailable("Clover notification", &why),
            Err(Fetch::Missing(reason)) => letters.push((listed.to_string(), reason)),
            Ok(mapped) if mapped.records.is_empty() && mapped.refused.is_empty() => {
                waiting.push(format!("{}:{}", notice.kind, notice.id))
            }
            Ok(mapped) => {
                canonical.extend(mapped.records);
                letters.extend(mapped.refused.into_iter().map(|reason| (listed.to_string(), reason)));
            }
        }
    }
    if canonical.is_empty() && letters.is_empty() {
        return nothing_yet(format!("{} not paid yet: nothing to map until it is", waiting.join(", ")));
    }
    let lines: Vec<String> = canonical.iter().map(Value::to_string).collect();
    let mut records = if lines.is_empty() { Vec::new() } else { formats::body(lines.join("\n").as_bytes()) };
    for (kept, reason) in letters {
        let position = records.len() as u64 + 1;
        let reason = tillflow_schemas::InputError::RuleBroken(reason);
        records.push(formats::Record::rejected(position, formats::Rejected::new(kept.as_bytes(), reason)));
    }
    hand_over(&shared, source, records).await
}

/// The records of one object a notification names; [`Fetch::Missing`] (a dead letter) for what
/// does not map.
async fn records_of(config: &Clover, notice: &Notice) -> Result<clover::Mapped, Fetch> {
    let merchant = &notice.merchant;
    let store = config.merchants.get(merchant).ok_or_else(|| {
        Fetch::Missing(format!(
            "Clover merchant {merchant} is not mapped to a store: add it under [sources.clover] merchants"
        ))
    })?;
    let order_id = match (notice.kind.as_str(), notice.change.as_str()) {
        ("O", "DELETE") => return Ok(clover::Mapped::default()), // an order deleted before it was paid
        ("O", _) => notice.id.clone(),
        ("P", _) => {
            let path = format!("/v3/merchants/{merchant}/payments/{}", notice.id);
            let payment = config.api.get(&path, || format!("Clover has no payment {}", notice.id)).await?;
            payment["order"]["id"]
                .as_str()
                .ok_or_else(|| Fetch::Missing(format!("payment {} names no order", notice.id)))?
                .to_string()
        }
        (kind, _) => {
            return Err(Fetch::Missing(format!(
                "Clover objects of kind `{kind}` are not mapped; tillflow maps orders (O) and payments (P)"
            )));
        }
    };
    let path = format!("/v3/merchants/{merchant}/orders/{order_id}?expand={EXPAND}");
    let order = config.api.get(&path, || format!("Clover has no order {order_id}")).await?;
    let mut skus = HashMap::new();
    for item in clover::item_ids(&order) {
        let path = format!("/v3/merchants/{merchant}/items/{item}");
        match config.api.get(&path, String::new).await {
            Ok(found) => {
                if let Some(sku) = clover::sku_of_item(&found) {
                    skus.insert(item, sku);
                }
            }
            Err(Fetch::Missing(_)) => {} // an item deleted since: named by its id
            Err(unavailable) => return Err(unavailable),
        }
    }
    clover::map_order(&order, store, &skus).map_err(Fetch::Missing)
}
