//! Shopify webhooks as tillflow's canonical events: a pure mapping from a webhook's topic and
//! body to the canonical records (JSON, as a file or `POST /v1/events` would carry them), and the
//! check of its signature. No I/O: the HTTP endpoint calls these.
//!
//! | topic | canonical record |
//! | --- | --- |
//! | `orders/create`, `orders/paid`, `orders/updated` | `sale`: the order's line items at their price, with the discounts allocated to each line; a tender per successful sale or capture among its `transactions`, else one of the order's total, its kind from the payment gateway |
//! | `orders/cancelled` | `void` with scope `post` of that sale |
//! | `refunds/create` | `refund` citing the order, one line per refunded line item |
//! | `products/create`, `products/update` | a `product` per variant with a SKU: its price, the cost of its inventory item (fetched) |
//! | `inventory_levels/update` | `inventory` count of the item's SKU (fetched) at the location, `available` units |
//!
//! Each order is one sale, `event_id` `shopify-order-<id>`, its `revision` the order's
//! `updated_at` (in milliseconds): Shopify sends an order again on `orders/paid` and on retries,
//! and the same content counts once; an `orders/updated` that changes the lines, the discounts or
//! the tenders replaces the sale in every view, and an older version delivered after a newer one
//! counts as a duplicate. The store is the order's `location_id` (a POS location) through the
//! configured map; an order without one (an online order) or at an unmapped location is refused
//! with the reason.

use std::collections::HashMap;

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::{money, text};

/// Whether `signature` (the `X-Shopify-Hmac-Sha256` header: base64 of the HMAC-SHA256 of the raw
/// body with the app's secret) signs `body`. Compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The canonical records of one webhook, or why it does not map. `locations` maps Shopify
/// location ids to tillflow store ids; `items` holds the inventory items (SKU and cost) the
/// webhook names, fetched first (see [`items_wanted`]).
pub fn map(
    topic: &str,
    body: &[u8],
    locations: &HashMap<String, String>,
    items: &HashMap<String, Item>,
) -> Result<Vec<Value>, String> {
    let payload: Value = serde_json::from_slice(body).map_err(|e| format!("the {topic} body is not JSON: {e}"))?;
    match topic {
        "orders/create" | "orders/paid" | "orders/updated" => Ok(vec![sale(&payload, locations)?]),
        "orders/cancelled" => Ok(vec![cancellation(&payload, locations)?]),
        "refunds/create" => Ok(vec![refund(&payload, locations)?]),
        "products/create" | "products/update" => products(&payload, items),
        "inventory_levels/update" => Ok(vec![level(&payload, locations, items)?]),
        other => Err(format!(
            "Shopify topic `{other}` is not mapped; tillflow maps orders/create, orders/paid, orders/updated, \
             orders/cancelled, refunds/create, products/create, products/update and inventory_levels/update"
        )),
    }
}

/// An inventory item as the Admin API describes it: the SKU it stocks and what a unit costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub sku: Option<String>,
    pub cost: Option<String>,
}

/// The inventory items a webhook names, to fetch before it maps (a product's variants' items
/// for their cost, an inventory level's item for its SKU); none for orders and refunds.
pub fn items_wanted(topic: &str, body: &[u8]) -> Vec<String> {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    match topic {
        "products/create" | "products/update" => payload["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|variant| text(&variant["inventory_item_id"]))
            .collect(),
        "inventory_levels/update" => text(&payload["inventory_item_id"]).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The inventory items of an Admin API answer (`{"inventory_items": [...]}` or
/// `{"inventory_item": {...}}`), by id.
pub fn items_of(answer: &Value) -> HashMap<String, Item> {
    let listed = answer["inventory_items"].as_array().cloned().unwrap_or_default();
    let single = answer.get("inventory_item").cloned();
    listed
        .into_iter()
        .chain(single)
        .filter_map(|item| Some((text(&item["id"])?, Item { sku: text(&item["sku"]), cost: text(&item["cost"]) })))
        .collect()
}

/// A product record per variant with a SKU: its price as the list price, its inventory item's
/// cost as the unit cost.
fn products(product: &Value, items: &HashMap<String, Item>) -> Result<Vec<Value>, String> {
    let id = required(product, "id", "product")?;
    let title = text(&product["title"]).unwrap_or_else(|| format!("shopify-product-{id}"));
    let category = text(&product["product_type"]).unwrap_or_else(|| "uncategorized".into());
    let department = text(&product["vendor"]).unwrap_or_else(|| "shopify".into());
    let mut records = Vec::new();
    for variant in product["variants"].as_array().into_iter().flatten() {
        let Some(sku) = text(&variant["sku"]) else { continue }; // a variant without a SKU is not stocked
        let item = text(&variant["inventory_item_id"]).and_then(|item| items.get(&item));
        let cost = item.and_then(|item| item.cost.clone()).ok_or_else(|| {
            format!("variant {sku} of product {id} has no cost in Shopify: set the cost per item of the variant")
        })?;
        let name = match text(&variant["title"]).filter(|t| t != "Default Title") {
            Some(variant) => format!("{title} - {variant}"),
            None => title.clone(),
        };
        let mut record = json!({
            "type": "product",
            "sku": sku,
            "name": name,
            "category": category,
            "department": department,
            "unit_cost": money(cents(&json!(cost))?),
            "list_price": money(cents(&variant["price"])?),
        });
        if let Some(updated) = text(&variant["updated_at"]).or_else(|| text(&product["updated_at"])) {
            let variant_id = text(&variant["id"]).unwrap_or_else(|| sku.clone());
            record["event_id"] = json!(format!("shopify-variant-{variant_id}-{updated}"));
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(format!("product {id} has no variant with a SKU"));
    }
    Ok(records)
}

/// An inventory level: the count of its item's SKU at a location, when Shopify updated it.
fn level(level: &Value, locations: &HashMap<String, String>, items: &HashMap<String, Item>) -> Result<Value, String> {
    let item = required(level, "inventory_item_id", "inventory level")?;
    let store_id = store(text(&level["location_id"]), locations, "inventory level")?;
    let sku = items.get(&item).and_then(|i| i.sku.clone()).ok_or_else(|| {
        format!("inventory item {item} has no SKU in Shopify: set the variant's SKU so its stock can be counted")
    })?;
    let qty = level["available"].as_i64().ok_or("the inventory level has no `available` count")?;
    let updated = required(level, "updated_at", "inventory level")?;
    Ok(json!({
        "type": "inventory",
        "event_id": format!("shopify-level-{item}-{}-{updated}", text(&level["location_id"]).unwrap_or_default()),
        "ts": updated,
        "store_id": store_id,
        "sku": sku,
        "kind": "count",
        "qty": qty,
    }))
}

/// Fields of a Shopify payload that describe a person, not a sale.
const PERSONAL: [&str; 9] = [
    "email",
    "contact_email",
    "phone",
    "first_name",
    "last_name",
    "billing_address",
    "shipping_address",
    "client_details",
    "default_address",
];

/// A body that did not map, as a dead letter may keep it: the fields that describe a person
/// removed, and each `customer` object cut to the reference its sale would carry
/// (`customer_ref`, which admission then replaces by its pseudonym). A body that is not JSON is
/// kept as it is.
pub fn without_personal_data(body: &[u8]) -> Vec<u8> {
    fn customers(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                if let Some(customer) = fields.get_mut("customer") {
                    let id = text(&customer["id"]);
                    *customer =
                        id.map_or(Value::Null, |id| json!({ "customer_ref": format!("shopify-customer-{id}") }));
                }
                fields.values_mut().for_each(customers);
            }
            Value::Array(items) => items.iter_mut().for_each(customers),
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut payload) => {
            crate::strip_fields(&mut payload, &PERSONAL);
            customers(&mut payload);
            payload.to_string().into_bytes()
        }
        Err(_) => body.to_vec(),
    }
}

fn required(payload: &Value, field: &str, what: &str) -> Result<String, String> {
    text(&payload[field]).ok_or_else(|| format!("the {what} has no `{field}`"))
}

/// The store of a Shopify location.
fn store(location: Option<String>, locations: &HashMap<String, String>, what: &str) -> Result<String, String> {
    let location = location.ok_or_else(|| {
        format!("the {what} has no location_id (an online order?); tillflow maps POS locations to stores")
    })?;
    locations.get(&location).cloned().ok_or_else(|| {
        format!("Shopify location {location} is not mapped to a store: add it under [sources.shopify] locations")
    })
}

/// Cents of a money string ("19.99"), summed exactly.
fn cents(value: &Value) -> Result<i64, String> {
    let raw = text(value).unwrap_or_else(|| "0".to_string());
    crate::decimal_cents(&raw).ok_or_else(|| format!("`{raw}` is not an amount"))
}

/// The tender kind of a Shopify payment gateway name.
fn tender_kind(gateway: &str) -> &'static str {
    match gateway.to_ascii_lowercase().as_str() {
        "cash" => "cash",
        "gift_card" | "gift card" => "gift_card",
        "store_credit" | "store credit" => "store_credit",
        _ => "card",
    }
}

/// Who rang it: the POS staff member (`user_id`), else the register, else Shopify.
fn cashier(payload: &Value) -> String {
    text(&payload["user_id"]).map_or_else(|| "shopify".to_string(), |id| format!("shopify-staff-{id}"))
}

/// A line item's SKU, else its variant (a product without a SKU).
fn sku(item: &Value) -> Option<String> {
    text(&item["sku"]).or_else(|| text(&item["variant_id"]).map(|v| format!("shopify-variant-{v}")))
}

fn register(payload: &Value) -> String {
    text(&payload["device_id"]).map_or_else(|| "shopify".to_string(), |id| format!("shopify-device-{id}"))
}

fn sale(order: &Value, locations: &HashMap<String, String>) -> Result<Value, String> {
    let id = required(order, "id", "order")?;
    let store_id = store(text(&order["location_id"]), locations, "order")?;
    let ts = text(&order["processed_at"]).or_else(|| text(&order["created_at"]));
    let ts = ts.ok_or_else(|| "the order has neither `processed_at` nor `created_at`".to_string())?;
    let items = order["line_items"].as_array().filter(|items| !items.is_empty());
    let items = items.ok_or_else(|| "the order has no line_items".to_string())?;
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sku = sku(item).ok_or_else(|| format!("line item {} has neither `sku` nor `variant_id`", i + 1))?;
        let allocated = match item["discount_allocations"].as_array() {
            Some(allocations) => allocations.iter().map(|a| cents(&a["amount"])).sum::<Result<i64, String>>()?,
            None => cents(&item["total_discount"])?,
        };
        let qty = item["quantity"].as_i64().ok_or_else(|| format!("line item {} has no quantity", i + 1))?;
        lines.push(json!({
            "line_no": i + 1,
            "sku": sku,
            "qty": qty,
            "unit_price": money(cents(&item["price"])?),
            "discount": money(allocated),
        }));
    }
    let mut sale = json!({
        "type": "sale",
        "event_id": format!("shopify-order-{id}"),
        "ts": ts,
        "store_id": store_id,
        "transaction_id": format!("shopify-{id}"),
        "register_id": register(order),
        "cashier_id": cashier(order),
        "lines": lines,
        "tenders": tenders(order)?,
    });
    if let Some(customer) = text(&order["customer"]["id"]) {
        sale["customer_ref"] = json!(format!("shopify-customer-{customer}"));
    }
    if let Some(updated) = text(&order["updated_at"]) {
        let revision = tillflow_schemas::time::parse_ts(&updated)
            .map_err(|_| format!("the order's updated_at `{updated}` is not a timestamp"))?;
        sale["revision"] = json!(revision);
    }
    Ok(sale)
}

/// The order's tenders: one per successful sale or capture among its `transactions` (the
/// Transaction resource, present in exports and some payloads), else one of its total, its kind
/// from the first payment gateway.
fn tenders(order: &Value) -> Result<Vec<Value>, String> {
    let paid =
        order["transactions"].as_array().into_iter().flatten().filter(|t| {
            matches!(t["kind"].as_str(), Some("sale" | "capture")) && t["status"].as_str() == Some("success")
        });
    let mut tenders = Vec::new();
    for transaction in paid {
        let kind = tender_kind(transaction["gateway"].as_str().unwrap_or("card"));
        tenders.push(json!({"kind": kind, "amount": money(cents(&transaction["amount"])?)}));
    }
    if tenders.is_empty() {
        let gateway = order["payment_gateway_names"].as_array().and_then(|g| g.first()).and_then(Value::as_str);
        tenders.push(
            json!({"kind": tender_kind(gateway.unwrap_or("card")), "amount": money(cents(&order["total_price"])?)}),
        );
    }
    Ok(tenders)
}

fn cancellation(order: &Value, locations: &HashMap<String, String>) -> Result<Value, String> {
    let id = required(order, "id", "order")?;
    let store_id = store(text(&order["location_id"]), locations, "order")?;
    let ts = required(order, "cancelled_at", "cancelled order")?;
    Ok(json!({
        "type": "void",
        "event_id": format!("shopify-cancel-{id}"),
        "ts": ts,
        "store_id": store_id,
        "transaction_id": format!("shopify-{id}"),
        "register_id": register(order),
        "cashier_id": cashier(order),
        "scope": "post",
    }))
}

fn refund(refund: &Value, locations: &HashMap<String, String>) -> Result<Value, String> {
    let id = required(refund, "id", "refund")?;
    let order = required(refund, "order_id", "refund")?;
    let items = refund["refund_line_items"].as_array().filter(|items| !items.is_empty());
    let items = items.ok_or_else(|| "the refund has no refund_line_items".to_string())?;
    let location = items.iter().find_map(|item| text(&item["location_id"]));
    let store_id = store(location, locations, "refund")?;
    let ts = text(&refund["processed_at"]).or_else(|| text(&refund["created_at"]));
    let ts = ts.ok_or_else(|| "the refund has neither `processed_at` nor `created_at`".to_string())?;
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let line = &item["line_item"];
        let sku = sku(line).ok_or_else(|| format!("refund line item {} has neither `sku` nor `variant_id`", i + 1))?;
        let qty = item["quantity"].as_i64().ok_or_else(|| format!("refund line item {} has no quantity", i + 1))?;
        lines.push(json!({"sku": sku, "qty": qty, "amount": money(cents(&item["subtotal"])?)}));
    }
    let gateway = refund["transactions"].as_array().and_then(|t| t.first()).and_then(|t| t["gateway"].as_str());
    let mut canonical = json!({
        "type": "refund",
        "event_id": format!("shopify-refund-{id}"),
        "ts": ts,
        "store_id": store_id,
        "refund_id": format!("shopify-refund-{id}"),
        "original_transaction_id": format!("shopify-{order}"),
        "register_id": "shopify",
        "cashier_id": cashier(refund),
        "tender_kind": tender_kind(gateway.unwrap_or("card")),
        "lines": lines,
    });
    if let Some(note) = text(&refund["note"]) {
        canonical["reason"] = json!(note);
    }
    Ok(canonical)
}
