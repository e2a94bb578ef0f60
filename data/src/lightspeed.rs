//! Lightspeed Retail (X-Series) as tillflow's canonical events: a pure mapping from the JSON
//! `payload` of its webhooks (form-encoded, one object per webhook, typed by the form's `type`)
//! to canonical records. No I/O.
//!
//! | webhook | canonical record |
//! | --- | --- |
//! | `sale.update`, status `CLOSED` (or `ONACCOUNT_CLOSED`, `LAYBY_CLOSED`, `DISPATCHED_CLOSED`, `PICKED_UP_CLOSED`) | `sale` of the products bought (positive quantities), a tender per payment taken; a `refund` of the products returned (negative quantities), citing `return_for`: an exchange is both |
//! | `sale.update`, status `VOIDED` | `void` with scope `post` of that sale |
//! | `sale.update`, other statuses (`SAVED`, `LAYBY`, `ONACCOUNT`, `AWAITING_*`) | nothing yet |
//! | `product.update` | `product`: `sku`, `name`, category from `product_type`, department from `brand` (else `supplier`), `supplier`, `supply_price` as cost, the `BASE` price book entry as list price |
//! | `inventory.update` | `inventory` count of the product's SKU (fetched by product id) at the outlet |
//!
//! Lightspeed's prices are tax exclusive, with up to five decimals (`39.08174`): each is
//! rounded to the cent, half away from zero. A register sale product's `price` is after its per-unit
//! `discount`, so the canonical unit price is their sum; the line's discount is what that unit
//! price times the quantity exceeds the line's `price_total` by, so the line comes to its total.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::{money, text};

/// The statuses of a sale that is finished and paid.
const CLOSED: [&str; 5] = ["CLOSED", "ONACCOUNT_CLOSED", "LAYBY_CLOSED", "DISPATCHED_CLOSED", "PICKED_UP_CLOSED"];

/// Where a sale was rung: Lightspeed outlet ids (2.0 payloads carry `outlet_id`) and register
/// ids (0.9 payloads carry only `register_id`), each mapped to a tillflow store.
#[derive(Clone, Debug, Default)]
pub struct Stores {
    pub outlets: HashMap<String, String>,
    pub registers: HashMap<String, String>,
}

/// The webhook type of a payload without one: a sale has register sale products, a product a
/// handle or price book entries.
pub fn kind_of(payload: &Value) -> Option<&'static str> {
    if payload.get("register_sale_products").is_some() {
        Some("sale.update")
    } else if payload.get("handle").is_some() || payload.get("price_book_entries").is_some() {
        Some("product.update")
    } else {
        None
    }
}

/// The canonical records of one webhook's payload (empty: nothing to map yet), or why it does
/// not map. `skus` maps product ids to SKUs, for the inventory levels that name only a product
/// (see [`product_wanted`]).
pub fn map(kind: &str, payload: &Value, stores: &Stores, skus: &HashMap<String, String>) -> Result<Vec<Value>, String> {
    match kind {
        "sale.update" => sale(payload, stores),
        "product.update" => product(payload).map(|product| vec![product]),
        "inventory.update" => inventory(payload, stores, skus).map(|count| vec![count]),
        other => Err(format!(
            "Lightspeed webhook `{other}` is not mapped; tillflow maps sale.update, product.update and inventory.update"
        )),
    }
}

/// The product whose SKU an inventory level needs, fetched first (an inventory level names its
/// product by id only, unless it embeds it).
pub fn product_wanted(kind: &str, payload: &Value) -> Option<String> {
    match kind {
        "inventory.update" if text(&payload["product"]["sku"]).is_none() => text(&payload["product_id"]),
        _ => None,
    }
}

/// A product's SKU from the API's answer (`{"data": {...}}` of API 2.0, or the product itself).
pub fn sku_of_product(answer: &Value) -> Option<String> {
    text(&answer["data"]["sku"]).or_else(|| text(&answer["sku"]))
}

/// An inventory level: a stock count of the product's SKU at the outlet, when it changed.
fn inventory(payload: &Value, stores: &Stores, skus: &HashMap<String, String>) -> Result<Value, String> {
    let product = text(&payload["product_id"]).ok_or("the inventory level has no product_id")?;
    let outlet = text(&payload["outlet_id"]).ok_or("the inventory level has no outlet_id")?;
    let store_id = stores.outlets.get(&outlet).cloned().ok_or_else(|| {
        format!("Lightspeed outlet {outlet} is not mapped to a store: add it under [sources.lightspeed] outlets")
    })?;
    let sku = text(&payload["product"]["sku"]).or_else(|| skus.get(&product).cloned()).ok_or_else(|| {
        format!("product {product} has no SKU in Lightspeed: set it so the product's stock can be counted")
    })?;
    let count = ["inventory_level", "current_amount", "count"]
        .iter()
        .find_map(|field| text(&payload[*field]))
        .ok_or("the inventory level has no count (inventory_level, current_amount or count)")?;
    let count = crate::whole_number(&count)
        .ok_or_else(|| format!("the count `{count}` of product {product} is not a whole number of units"))?;
    let ts = instant_of(&payload["updated_at"]).ok_or("the inventory level has no updated_at")?;
    let version = text(&payload["version"]).unwrap_or_else(|| ts.clone());
    Ok(json!({
        "type": "inventory",
        "event_id": format!("lightspeed-inventory-{product}-{outlet}-{version}"),
        "ts": ts,
        "store_id": store_id,
        "sku": sku,
        "kind": "count",
        "qty": count,
    }))
}

fn sale(payload: &Value, stores: &Stores) -> Result<Vec<Value>, String> {
    let id = text(&payload["id"]).ok_or("the sale has no `id`")?;
    let status = text(&payload["status"]).unwrap_or_default();
    let voided = status == "VOIDED";
    if !voided && !CLOSED.contains(&status.as_str()) {
        return Ok(Vec::new());
    }
    let store_id = store(payload, stores, &id)?;
    let ts = instant(payload).ok_or_else(|| format!("sale {id} has no sale_date"))?;
    let register = text(&payload["register_id"]).map_or_else(|| "lightspeed".into(), |r| format!("lightspeed-{r}"));
    let cashier = text(&payload["user_id"]).map_or_else(|| "lightspeed".into(), |u| format!("lightspeed-staff-{u}"));
    if voided {
        return Ok(vec![json!({
            "type": "void",
            "event_id": format!("lightspeed-void-{id}"),
            "ts": instant_of(&payload["updated_at"]).unwrap_or(ts),
            "store_id": store_id,
            "transaction_id": format!("lightspeed-{id}"),
            "register_id": register,
            "cashier_id": cashier,
            "scope": "post",
        })]);
    }
    let products: Vec<&Value> = payload["register_sale_products"].as_array().into_iter().flatten().collect();
    if products.is_empty() {
        return Err(format!("sale {id} has no register_sale_products"));
    }
    // What comes back (negative quantities) is a refund; what is bought, a sale: an exchange is both.
    let mut returned = Vec::new();
    let mut bought = Vec::new();
    for (i, item) in products.iter().enumerate() {
        let qty = quantity(item, &id)?;
        let sku = sku(item).ok_or_else(|| format!("product {} of sale {id} has neither sku nor product_id", i + 1))?;
        // The line comes to its `price_total` (tax exclusive): its discount is what the unit
        // price, rounded, times the quantity exceeds that by (else the per-unit discount times
        // the quantity).
        let unit_price = cents(&item["price"], &id)? + cents(&item["discount"], &id)?;
        let total = match &item["price_total"] {
            Value::Null => qty * cents(&item["price"], &id)?,
            total => cents(total, &id)?,
        };
        match qty < 0 {
            true => returned.push(json!({"sku": sku, "qty": -qty, "amount": money(total.abs())})),
            false => bought.push(json!({
                "line_no": bought.len() + 1,
                "sku": sku,
                "qty": qty,
                "unit_price": money(unit_price),
                "discount": money(unit_price * qty - total),
            })),
        }
    }
    let payments: Vec<&Value> = payload["register_sale_payments"].as_array().into_iter().flatten().collect();
    let mut records = Vec::new();
    if !returned.is_empty() {
        let paid_back = payments.iter().find(|p| cents(&p["amount"], &id).is_ok_and(|a| a < 0)).copied();
        let mut refund = json!({
            "type": "refund",
            "event_id": format!("lightspeed-return-{id}"),
            "ts": ts,
            "store_id": store_id,
            "refund_id": format!("lightspeed-{id}"),
            "register_id": register,
            "cashier_id": cashier,
            "tender_kind": paid_back.or(payments.first().copied()).map_or("card", tender_kind),
            "lines": returned,
        });
        if let Some(original) = text(&payload["return_for"]) {
            refund["original_transaction_id"] = json!(format!("lightspeed-{original}"));
        }
        if let Some(note) = text(&payload["note"]) {
            refund["reason"] = json!(note);
        }
        records.push(refund);
    }
    if !bought.is_empty() {
        let mut tenders = Vec::new();
        for payment in &payments {
            let amount = cents(&payment["amount"], &id)?;
            if amount > 0 {
                tenders.push(json!({"kind": tender_kind(payment), "amount": money(amount)}));
            }
        }
        if tenders.is_empty() && returned.is_empty() {
            tenders.push(json!({"kind": "card", "amount": money(cents(&payload["total_price"], &id)?)}));
        }
        let mut sale = json!({
            "type": "sale",
            "event_id": format!("lightspeed-sale-{id}"),
            "ts": ts,
            "store_id": store_id,
            "transaction_id": format!("lightspeed-{id}"),
            "register_id": register,
            "cashier_id": cashier,
            "lines": bought,
            "tenders": tenders,
        });
        if let Some(customer) = text(&payload["customer_id"]) {
            sale["customer_ref"] = json!(format!("lightspeed-customer-{customer}"));
        }
        records.push(sale);
    }
    Ok(records)
}

fn product(payload: &Value) -> Result<Value, String> {
    let sku = text(&payload["sku"]).ok_or("the product has no `sku`")?;
    let name = text(&payload["name"]).unwrap_or_else(|| sku.clone());
    let cost = text(&payload["supply_price"]).ok_or_else(|| format!("product {sku} has no supply_price"))?;
    let base = payload["price_book_entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|entry| entry["type"].as_str() == Some("BASE"))
        .map(|entry| entry["price"].clone())
        .or_else(|| payload.get("price").cloned())
        .ok_or_else(|| format!("product {sku} has no BASE price book entry"))?;
    let category = text(&payload["product_type"]["name"]).unwrap_or_else(|| "uncategorized".into());
    let department = text(&payload["brand"]["name"])
        .or_else(|| text(&payload["supplier"]["name"]))
        .unwrap_or_else(|| "lightspeed".into());
    let mut product = json!({
        "type": "product",
        "sku": sku,
        "name": name,
        "category": category,
        "department": department,
        "unit_cost": money(cents(&json!(cost), &sku)?),
        "list_price": money(cents(&base, &sku)?),
    });
    if let Some(supplier) = text(&payload["supplier"]["name"]) {
        product["supplier"] = json!(supplier);
    }
    if let (Some(id), Some(version)) = (text(&payload["id"]), text(&payload["version"])) {
        product["event_id"] = json!(format!("lightspeed-product-{id}-{version}"));
    }
    Ok(product)
}

/// The store of a sale: its outlet's, else its register's.
fn store(payload: &Value, stores: &Stores, id: &str) -> Result<String, String> {
    if let Some(outlet) = text(&payload["outlet_id"]) {
        return stores.outlets.get(&outlet).cloned().ok_or_else(|| {
            format!("Lightspeed outlet {outlet} is not mapped to a store: add it under [sources.lightspeed] outlets")
        });
    }
    let register =
        text(&payload["register_id"]).ok_or_else(|| format!("sale {id} names neither outlet nor register"))?;
    stores.registers.get(&register).cloned().ok_or_else(|| {
        format!("Lightspeed register {register} is not mapped to a store: add it under [sources.lightspeed] registers")
    })
}

/// When the sale was made: `sale_date`, RFC 3339, or `YYYY-MM-DD HH:MM:SS` in UTC as the 0.9
/// API writes it.
fn instant(payload: &Value) -> Option<String> {
    instant_of(&payload["sale_date"]).or_else(|| instant_of(&payload["created_at"]))
}

fn instant_of(value: &Value) -> Option<String> {
    let raw = text(value)?;
    if chrono::DateTime::parse_from_rfc3339(&raw).is_ok() {
        return Some(raw);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(&raw, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(naive.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn sku(item: &Value) -> Option<String> {
    text(&item["sku"]).or_else(|| text(&item["product_id"]).map(|id| format!("lightspeed-{id}")))
}

/// A whole quantity (a weighed quantity is refused).
fn quantity(item: &Value, sale: &str) -> Result<i64, String> {
    let raw = text(&item["quantity"]).unwrap_or_default();
    match crate::whole_number(&raw) {
        Some(units) if units != 0 => Ok(units),
        _ => Err(format!("quantity `{raw}` in sale {sale} is not a whole number of units")),
    }
}

/// Cents of a decimal amount (Lightspeed sends up to five decimals), rounded half away from
/// zero from its decimal text, so no binary fraction shifts a cent.
fn cents(value: &Value, what: &str) -> Result<i64, String> {
    let raw = match value {
        Value::Null => return Ok(0),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    crate::decimal_cents(&raw).ok_or_else(|| format!("`{value}` in {what} is not an amount"))
}

fn tender_kind(payment: &Value) -> &'static str {
    let name = text(&payment["name"]).or_else(|| text(&payment["label"])).unwrap_or_default().to_ascii_lowercase();
    if name.contains("cash") {
        "cash"
    } else if name.contains("gift") {
        "gift_card"
    } else if name.contains("credit note") || name.contains("store credit") || name.contains("on account") {
        "store_credit"
    } else {
        "card"
    }
}

/// Fields of Lightspeed's payloads that describe a person, not a sale.
const PERSONAL: [&str; 11] = [
    "customer",
    "customer_name",
    "email",
    "phone",
    "mobile",
    "fax",
    "first_name",
    "last_name",
    "date_of_birth",
    "physical_address_1",
    "postal_address_1",
];

/// A payload that did not map, as a dead letter may keep it: the fields that describe a person
/// removed (a customer stays as its id, which admission then replaces by its pseudonym).
pub fn without_personal_data(payload: &Value) -> Vec<u8> {
    let mut kept = payload.clone();
    crate::strip_fields(&mut kept, &PERSONAL);
    kept.to_string().into_bytes()
}
