//! Lightspeed Retail (X-Series) as tillflow's canonical events: a pure mapping from the JSON
//! `payload` of its webhooks (form-encoded, one object per webhook, typed by the form's `type`)
//! to canonical records. No I/O.
//!
//! | webhook | canonical record |
//! | --- | --- |
//! | `sale.update`, status `CLOSED` (or `ONACCOUNT_CLOSED`, `LAYBY_CLOSED`, `DISPATCHED_CLOSED`, `PICKED_UP_CLOSED`) | `sale`: a line per register sale product, a tender per payment; a return (`return_for`, or negative quantities) is a `refund` instead |
//! | `sale.update`, status `VOIDED` | `void` with scope `post` of that sale |
//! | `sale.update`, other statuses (`SAVED`, `LAYBY`, `ONACCOUNT`, `AWAITING_*`) | nothing yet |
//! | `product.update` | `product`: `sku`, `name`, category from `product_type`, department from `brand` (else `supplier`), `supply_price` as cost, the `BASE` price book entry as list price |
//! | `inventory.update` | `inventory` count of the product's SKU (fetched by product id) at the outlet |
//!
//! Lightspeed's prices are tax exclusive, with up to five decimals (`39.08174`): each is
//! rounded to the cent, half away from zero. A register sale product's `price` is after its per-unit
//! `discount`, so the canonical unit price is their sum and the line's discount the per-unit
//! discount times the quantity.

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
        .find_map(|field| match &payload[*field] {
            Value::Null => None,
            value => Some(cents(value, &product)),
        })
        .ok_or("the inventory level has no count (inventory_level, current_amount or count)")??;
    if count % 100 != 0 {
        return Err(format!("the count of product {product} is not a whole number of units"));
    }
    let ts = instant_of(&payload["updated_at"]).ok_or("the inventory level has no updated_at")?;
    let version = text(&payload["version"]).unwrap_or_else(|| ts.clone());
    Ok(json!({
        "type": "inventory",
        "event_id": format!("lightspeed-inventory-{product}-{outlet}-{version}"),
        "ts": ts,
        "store_id": store_id,
        "sku": sku,
        "kind": "count",
        "qty": count / 100,
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
    let returned_for = text(&payload["return_for"]);
    let all_negative = products.iter().all(|p| quantity(p, &id).is_ok_and(|q| q < 0));
    if returned_for.is_some() || all_negative {
        let mut lines = Vec::new();
        for (i, item) in products.iter().enumerate() {
            lines.push(json!({
                "sku": sku(item).ok_or_else(|| format!("product {} of sale {id} has neither sku nor product_id", i + 1))?,
                "qty": quantity(item, &id)?.abs(),
                "amount": money(cents(&item["price_total"], &id)?.abs()),
            }));
        }
        let payment = payload["register_sale_payments"].as_array().and_then(|p| p.first());
        let mut refund = json!({
            "type": "refund",
            "event_id": format!("lightspeed-sale-{id}"),
            "ts": ts,
            "store_id": store_id,
            "refund_id": format!("lightspeed-{id}"),
            "register_id": register,
            "cashier_id": cashier,
            "tender_kind": payment.map_or("card", tender_kind),
            "lines": lines,
        });
        if let Some(original) = returned_for {
            refund["original_transaction_id"] = json!(format!("lightspeed-{original}"));
        }
        if let Some(note) = text(&payload["note"]) {
            refund["reason"] = json!(note);
        }
        return Ok(vec![refund]);
    }
    let mut lines = Vec::new();
    for (i, item) in products.iter().enumerate() {
        let qty = quantity(item, &id)?;
        let price = cents(&item["price"], &id)?;
        let discount = cents(&item["discount"], &id)?;
        lines.push(json!({
            "line_no": i + 1,
            "sku": sku(item).ok_or_else(|| format!("product {} of sale {id} has neither sku nor product_id", i + 1))?,
            "qty": qty,
            "unit_price": money(price + discount),
            "discount": money(discount * qty),
        }));
    }
    let mut tenders = Vec::new();
    for payment in payload["register_sale_payments"].as_array().into_iter().flatten() {
        tenders.push(json!({"kind": tender_kind(payment), "amount": money(cents(&payment["amount"], &id)?)}));
    }
    if tenders.is_empty() {
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
        "lines": lines,
        "tenders": tenders,
    });
    if let Some(customer) = text(&payload["customer_id"]) {
        sale["customer_ref"] = json!(format!("lightspeed-customer-{customer}"));
    }
    Ok(vec![sale])
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
    let refused = || format!("quantity `{}` in sale {sale} is not a whole number of units", item["quantity"]);
    let units = cents(&item["quantity"], sale).map_err(|_| refused())?;
    match units % 100 {
        0 if units != 0 => Ok(units / 100),
        _ => Err(refused()),
    }
}

/// Cents of a decimal amount, rounded half away from zero on its third decimal (Lightspeed
/// sends up to five), read from its decimal text so no binary fraction shifts a cent.
fn cents(value: &Value, what: &str) -> Result<i64, String> {
    let raw = match value {
        Value::Null => return Ok(0),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => String::new(),
    };
    let invalid = || format!("`{value}` in {what} is not an amount");
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let fraction = format!("{fraction:0<3}");
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let hundredths: i64 = fraction[..2].parse().map_err(|_| invalid())?;
    let up = i64::from(fraction.as_bytes()[2] >= b'5');
    let cents = whole * 100 + hundredths + up;
    Ok(if negative { -cents } else { cents })
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
