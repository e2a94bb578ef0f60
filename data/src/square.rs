//! Square as tillflow's canonical events: the check of a notification's signature, what a
//! notification asks for, and a pure mapping from Square's Order objects (as the Orders API
//! returns them) to canonical records. No I/O: the HTTP endpoint fetches what a notification
//! only names, the file reader reads exports, and both call these.
//!
//! | Square | canonical record |
//! | --- | --- |
//! | an order in state `COMPLETED` | `sale`: its line items (SKU from the catalog where known), with their discounts; its tenders |
//! | an order with `returns` and `refunds` (Square's itemized refund) | one `refund` of the returned items once refunded (however many payments the money went back to), citing the order the items came from |
//! | an order `OPEN` or `CANCELED` | nothing yet: it is not a sale (it becomes one when completed) |
//!
//! Notifications: `order.created`, `order.updated`, `payment.created`, `payment.updated` name an
//! order, fetched and mapped when completed; `refund.created`, `refund.updated` name a refund,
//! whose order (the one holding its returns) is fetched and mapped. Every path to an order gives
//! the same records (`square-order-<id>`, `square-refund-<id>`), so a notification sent again, or
//! the same order through another topic or an export, counts once. A sale's `revision` is the
//! order's `version`: a completed order Square changes afterwards replaces the sale.

use std::collections::HashMap;

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::{money, text};

/// Whether `signature` (the `x-square-hmacsha256-signature` header: base64 of the HMAC-SHA256,
/// keyed by the subscription's signature key, of the notification URL followed by the raw body)
/// signs `body` sent to `notification_url`. Compared in constant time.
pub fn verify(signature_key: &[u8], notification_url: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(signature_key) else { return false };
    mac.update(notification_url.as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Fields of Square's payloads that describe a person, not a sale (a payment's buyer and card,
/// a fulfilment's recipient).
const PERSONAL: [&str; 7] = [
    "buyer_email_address",
    "billing_address",
    "shipping_address",
    "recipient",
    "card_details",
    "email_address",
    "phone_number",
];

/// A payload that did not map, as a dead letter may keep it: the fields that describe a person
/// removed (a customer stays as its id, which admission then replaces by its pseudonym). A body
/// that is not JSON is kept as it is.
pub fn without_personal_data(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut payload) => {
            crate::strip_fields(&mut payload, &PERSONAL);
            payload.to_string().into_bytes()
        }
        Err(_) => body.to_vec(),
    }
}

/// What a notification needs before it maps: the order to fetch from the Orders API, or none
/// (nothing to map yet, with why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Order(String),
    Nothing(String),
}

/// Reads a notification: the order it leads to, or why it leads to none yet; an error if it is
/// not one tillflow maps.
pub fn wanted(body: &[u8]) -> Result<Wanted, String> {
    let notification: Value =
        serde_json::from_slice(body).map_err(|e| format!("the Square notification is not JSON: {e}"))?;
    let kind = text(&notification["type"]).ok_or("the Square notification has no `type`")?;
    let object = &notification["data"]["object"];
    let order_id = |inner: &str| {
        text(&object[inner]["order_id"])
            .or_else(|| text(&notification["data"]["id"]))
            .ok_or_else(|| format!("the {kind} notification names no order (data.object.{inner}.order_id)"))
    };
    match kind.as_str() {
        "order.created" | "order.updated" => {
            let inner = if kind == "order.created" { "order_created" } else { "order_updated" };
            Ok(Wanted::Order(order_id(inner)?))
        }
        "payment.created" | "payment.updated" => {
            let payment = &object["payment"];
            match text(&payment["status"]).as_deref() {
                Some("COMPLETED") | Some("APPROVED") => Ok(Wanted::Order(
                    text(&payment["order_id"]).ok_or("the payment names no order (data.object.payment.order_id)")?,
                )),
                status => Ok(Wanted::Nothing(format!("payment {}", status.unwrap_or("without a status")))),
            }
        }
        "refund.created" | "refund.updated" => {
            let refund = &object["refund"];
            match text(&refund["status"]).as_deref() {
                Some("COMPLETED") => Ok(Wanted::Order(
                    text(&refund["order_id"]).ok_or("the refund names no order (data.object.refund.order_id)")?,
                )),
                status => Ok(Wanted::Nothing(format!("refund {}", status.unwrap_or("without a status")))),
            }
        }
        other => Err(format!(
            "Square notification `{other}` is not mapped; tillflow maps order.created, order.updated, \
             payment.created, payment.updated, refund.created and refund.updated"
        )),
    }
}

/// The catalog ids of an order's items (line items and returned items), whose SKUs the caller
/// may look up (Catalog API `batch-retrieve`) before mapping.
pub fn catalog_ids(order: &Value) -> Vec<String> {
    let returned = order["returns"].as_array().into_iter().flatten().flat_map(|r| items(&r["return_line_items"]));
    let mut ids: Vec<String> =
        items(&order["line_items"]).chain(returned).filter_map(|item| text(&item["catalog_object_id"])).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// SKUs by catalog object id from a Catalog API answer (`{"objects": [...]}` of item variations).
pub fn skus_of_catalog(answer: &Value) -> HashMap<String, String> {
    let objects = answer["objects"].as_array().into_iter().flatten();
    objects.filter_map(|object| Some((text(&object["id"])?, text(&object["item_variation_data"]["sku"])?))).collect()
}

/// The canonical records of one order: its sale if completed, its refunds if it holds returns.
/// `locations` maps Square location ids to tillflow store ids; `skus` catalog ids to SKUs (an
/// item not in it is `square-<catalog id>`).
pub fn map_order(
    order: &Value,
    locations: &HashMap<String, String>,
    skus: &HashMap<String, String>,
) -> Result<Vec<Value>, String> {
    let id = text(&order["id"]).ok_or("the order has no `id`")?;
    let location = text(&order["location_id"]).ok_or_else(|| format!("order {id} has no location_id"))?;
    let store_id = locations.get(&location).cloned().ok_or_else(|| {
        format!("Square location {location} is not mapped to a store: add it under [sources.square] locations")
    })?;
    let mut records = Vec::new();
    if text(&order["state"]).as_deref() == Some("COMPLETED")
        && order["line_items"].as_array().is_some_and(|l| !l.is_empty())
    {
        records.push(sale(&id, &store_id, order, skus)?);
    }
    if order["returns"].as_array().is_some_and(|r| !r.is_empty()) {
        records.extend(refunds(&id, &store_id, order, skus)?);
    }
    Ok(records)
}

/// An export of orders (a file of the Orders API's `SearchOrders` answers: `{"orders": [...]}`,
/// or a JSON array of orders): each order's records, or why it does not map.
pub fn map_export(
    export: &Value,
    locations: &HashMap<String, String>,
    skus: &HashMap<String, String>,
) -> Vec<(Value, Result<Vec<Value>, String>)> {
    let orders = export.get("orders").unwrap_or(export).as_array().cloned().unwrap_or_default();
    orders.into_iter().map(|order| (order.clone(), map_order(&order, locations, skus))).collect()
}

fn sale(id: &str, store_id: &str, order: &Value, skus: &HashMap<String, String>) -> Result<Value, String> {
    let ts = text(&order["closed_at"])
        .or_else(|| text(&order["created_at"]))
        .ok_or_else(|| format!("order {id} has neither closed_at nor created_at"))?;
    let mut lines = Vec::new();
    for (i, item) in items(&order["line_items"]).enumerate() {
        lines.push(json!({
            "line_no": i + 1,
            "sku": sku(item, skus),
            "qty": quantity(item, id)?,
            "unit_price": money(amount(&item["base_price_money"])),
            "discount": money(amount(&item["total_discount_money"])),
        }));
    }
    let tenders: Vec<Value> = items(&order["tenders"])
        .map(|tender| json!({"kind": tender_kind(&tender["type"]), "amount": money(amount(&tender["amount_money"]))}))
        .collect();
    let tenders = match tenders.is_empty() {
        false => tenders,
        true => vec![json!({"kind": "card", "amount": money(amount(&order["total_money"]))})],
    };
    let mut sale = json!({
        "type": "sale",
        "event_id": format!("square-order-{id}"),
        "ts": ts,
        "store_id": store_id,
        "transaction_id": format!("square-{id}"),
        "register_id": register(order),
        "cashier_id": cashier(order),
        "lines": lines,
        "tenders": tenders,
    });
    if let Some(customer) = text(&order["customer_id"]) {
        sale["customer_ref"] = json!(format!("square-customer-{customer}"));
    }
    if let Some(version) = order["version"].as_u64() {
        sale["revision"] = json!(version);
    }
    Ok(sale)
}

/// One refund per completed refund of a return order, with every returned item.
/// The refund of a return order's items, once Square has refunded them.
fn refunds(id: &str, store_id: &str, order: &Value, skus: &HashMap<String, String>) -> Result<Vec<Value>, String> {
    let mut lines = Vec::new();
    let mut source = None;
    for returned in order["returns"].as_array().into_iter().flatten() {
        source = source.or_else(|| text(&returned["source_order_id"]));
        for item in items(&returned["return_line_items"]) {
            lines.push(json!({
                "sku": sku(item, skus),
                "qty": quantity(item, id)?,
                "amount": money(amount(&item["total_money"])),
            }));
        }
    }
    let source = source.ok_or_else(|| format!("the returns of order {id} name no source_order_id"))?;
    // One refund for the return order's items, however many payments gave the money back
    // (a refund to a card and one in cash are one return), named by its first refund.
    let mut completed = items(&order["refunds"]).filter(|r| text(&r["status"]).as_deref() == Some("COMPLETED"));
    let Some(first) = completed.next() else { return Ok(Vec::new()) }; // returned, not refunded (yet)
    let refund_id = text(&first["id"]).ok_or_else(|| format!("a refund of order {id} has no id"))?;
    let ts = text(&order["closed_at"])
        .or_else(|| text(&order["created_at"]))
        .ok_or_else(|| format!("order {id} has neither closed_at nor created_at"))?;
    let mut canonical = json!({
        "type": "refund",
        "event_id": format!("square-refund-{refund_id}"),
        "ts": ts,
        "store_id": store_id,
        "refund_id": format!("square-refund-{refund_id}"),
        "original_transaction_id": format!("square-{source}"),
        "register_id": register(order),
        "cashier_id": cashier(order),
        "tender_kind": "card",
        "lines": lines,
    });
    if let Some(reason) = text(&first["reason"]) {
        canonical["reason"] = json!(reason);
    }
    Ok(vec![canonical])
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

/// Cents of a Money object (`{"amount": 1599, "currency": "USD"}`: the smallest unit already).
/// (The smallest unit of a currency without decimals, such as the yen Square takes in Japan, is
/// a whole unit: 100 cents of tillflow's two-decimal money.)
fn amount(money: &Value) -> i64 {
    let smallest = money["amount"].as_i64().unwrap_or(0);
    match money["currency"].as_str() {
        // (An amount too large to hold saturates, and validation refuses it as too large.)
        Some(currency) if WHOLE_UNIT_CURRENCIES.contains(&currency) => smallest.saturating_mul(100),
        _ => smallest,
    }
}

/// ISO 4217 currencies whose smallest unit is the whole unit.
const WHOLE_UNIT_CURRENCIES: [&str; 16] =
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// A whole quantity (Square sends it as a decimal string; a weighed item is not whole).
fn quantity(item: &Value, order: &str) -> Result<i64, String> {
    let raw = text(&item["quantity"]).unwrap_or_default();
    raw.parse().map_err(|_| format!("quantity `{raw}` in order {order} is not a whole number of units"))
}

/// An item's SKU from the catalog, else `square-<catalog id>`; a custom amount (an item not in
/// the catalog) is `square-custom-amount`.
fn sku(item: &Value, skus: &HashMap<String, String>) -> String {
    match text(&item["catalog_object_id"]) {
        Some(id) => skus.get(&id).cloned().unwrap_or_else(|| format!("square-{id}")),
        None => CUSTOM_AMOUNT.to_string(),
    }
}

/// The SKU of the lines Square rings without a catalog item (custom amounts).
pub const CUSTOM_AMOUNT: &str = "square-custom-amount";

fn tender_kind(kind: &Value) -> &'static str {
    match kind.as_str().unwrap_or_default() {
        "CASH" => "cash",
        "SQUARE_GIFT_CARD" => "gift_card",
        _ => "card",
    }
}

/// The device that rang it (the order's source), else Square.
fn register(order: &Value) -> String {
    text(&order["source"]["name"]).map_or_else(|| "square".to_string(), |name| format!("square-{name}"))
}

/// The team member of the first tender that names one, else Square.
fn cashier(order: &Value) -> String {
    items(&order["tenders"])
        .find_map(|t| text(&t["employee_id"]).or_else(|| text(&t["team_member_id"])))
        .map_or_else(|| "square".to_string(), |id| format!("square-staff-{id}"))
}
