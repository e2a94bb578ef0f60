//! Clover as tillflow's canonical events: the webhook's verification handshake and auth code,
//! what a notification names, and a pure mapping from Clover's Order objects (as the REST API
//! returns them, `expand`ed with their line items, discounts, payments and refunds) to
//! canonical records. No I/O: the HTTP endpoint fetches what a notification names.
//!
//! | Clover | canonical record |
//! | --- | --- |
//! | an order whose `paymentState` is `PAID`, `PARTIALLY_REFUNDED` or `REFUNDED` | `sale`: a line per line item (Clover lists a quantity of N as N line items; a per-unit priced item has `unitQty` in thousandths), its discounts and the order's allocated to lines; a tender per successful payment |
//! | each refund of such an order that names its line items (or, naming none, is of the whole order) | `refund` of those items, citing the order; a refund of only an amount is a dead letter of its own |
//! | an order not paid yet | nothing yet |
//!
//! A merchant is one store (`[sources.clover] merchants`). Every path to an order gives the same
//! records (`clover-order-<id>`, `clover-refund-<id>`), so a notification sent again, or the
//! order's payment notified too, counts once.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::{money, text};

/// Fields of Clover's objects that describe a person, not a sale (a customer's, a card's).
const PERSONAL: [&str; 9] = [
    "firstName",
    "lastName",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "cardTransaction",
    "cardholderName",
    "emailAddress",
    "phoneNumber",
];

/// An order that did not map, as a dead letter may keep it: the fields that describe a person
/// removed (a customer stays as its id).
pub fn without_personal_data(order: &Value) -> Vec<u8> {
    let mut kept = order.clone();
    crate::strip_fields(&mut kept, &PERSONAL);
    kept.to_string().into_bytes()
}

/// Whether `header` (`X-Clover-Auth`) is the app's auth code, compared in constant time.
pub fn verify(auth_code: &[u8], header: &str) -> bool {
    crate::same_secret(auth_code, header)
}

/// The code of Clover's verification request (`{"verificationCode": "…"}`), sent once when a
/// webhook URL is set, to be pasted into the app's settings.
pub fn verification_code(body: &[u8]) -> Option<String> {
    let request: Value = serde_json::from_slice(body).ok()?;
    text(&request["verificationCode"])
}

/// One object a notification names: the merchant, the object's kind (`O` orders, `P` payments,
/// …) and id, and what happened to it (`CREATE`, `UPDATE`, `DELETE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub merchant: String,
    pub kind: String,
    pub id: String,
    pub change: String,
}

/// The objects a notification (`{"appId", "merchants": {"<id>": [{"objectId": "O:…", "type", "ts"}]}}`) names.
pub fn notices(body: &[u8]) -> Result<Vec<Notice>, String> {
    let notification: Value =
        serde_json::from_slice(body).map_err(|e| format!("the Clover notification is not JSON: {e}"))?;
    let merchants = notification["merchants"].as_object().ok_or("the Clover notification has no `merchants`")?;
    let mut notices = Vec::new();
    for (merchant, events) in merchants {
        for event in events.as_array().into_iter().flatten() {
            let object = text(&event["objectId"]).ok_or("a Clover event has no objectId")?;
            let (kind, id) = object.split_once(':').ok_or_else(|| format!("objectId `{object}` is not KIND:ID"))?;
            let change = text(&event["type"]).unwrap_or_default();
            notices.push(Notice { merchant: merchant.clone(), kind: kind.into(), id: id.into(), change });
        }
    }
    Ok(notices)
}

/// The ids of the inventory items an order's line items sell, whose SKUs the caller may fetch.
pub fn item_ids(order: &Value) -> Vec<String> {
    let mut ids: Vec<String> = elements(&order["lineItems"]).filter_map(|line| text(&line["item"]["id"])).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// An inventory item's SKU: its `sku`, else its product `code`.
pub fn sku_of_item(item: &Value) -> Option<String> {
    text(&item["sku"]).or_else(|| text(&item["code"]))
}

/// The canonical records of one order of the merchant that is store `store_id`: its sale once
/// paid, and a refund per refund that names its line items. `skus` maps item ids to SKUs (an
/// item not in it is `clover-<item id>`).
pub fn map_order(order: &Value, store_id: &str, skus: &HashMap<String, String>) -> Result<Mapped, String> {
    let id = text(&order["id"]).ok_or("the order has no `id`")?;
    let paid = matches!(order["paymentState"].as_str(), Some("PAID") | Some("PARTIALLY_REFUNDED") | Some("REFUNDED"));
    if !paid {
        return Ok(Mapped::default());
    }
    let lines = lines(&id, order, skus)?;
    if lines.is_empty() {
        return Err(format!("order {id} has no line items to sell (expand=lineItems)"));
    }
    let tenders: Vec<Value> = elements(&order["payments"])
        .filter(|payment| payment["result"].as_str().is_none_or(|r| r == "SUCCESS"))
        .map(|payment| json!({"kind": tender_kind(&payment["tender"]), "amount": money(cents(&payment["amount"]))}))
        .collect();
    let tenders = match tenders.is_empty() {
        false => tenders,
        true => vec![json!({"kind": "card", "amount": money(cents(&order["total"]))})],
    };
    let mut sale = json!({
        "type": "sale",
        "event_id": format!("clover-order-{id}"),
        "ts": instant(order).ok_or_else(|| format!("order {id} has neither clientCreatedTime nor createdTime"))?,
        "store_id": store_id,
        "transaction_id": format!("clover-{id}"),
        "register_id": register(order),
        "cashier_id": cashier(order),
        "lines": lines.iter().map(|line| &line.canonical).collect::<Vec<_>>(),
        "tenders": tenders,
    });
    if let Some(customer) = elements(&order["customers"]).find_map(|c| text(&c["id"])) {
        sale["customer_ref"] = json!(format!("clover-customer-{customer}"));
    }
    let (mut records, mut refused) = (vec![sale], Vec::new());
    for refund in elements(&order["refunds"]) {
        let refund_id = text(&refund["id"]).ok_or_else(|| format!("a refund of order {id} has no id"))?;
        let mut returned: Vec<&str> = elements(&refund["lineItems"]).filter_map(|l| l["id"].as_str()).collect();
        if returned.is_empty() {
            // A refund of the whole order names no items: all of them come back.
            if cents(&refund["amount"]) < cents(&order["total"]) {
                refused.push(format!(
                    "refund {refund_id} of order {id} names no line items and is not the whole order: tillflow maps refunds of items, not of amounts"
                ));
                continue;
            }
            returned = lines.iter().map(|line| line.id.as_str()).collect();
        }
        let mut refunded = Vec::new();
        for line_id in returned {
            let Some(line) = lines.iter().find(|l| l.id == line_id) else {
                refused.push(format!("refund {refund_id} names line item {line_id}, which order {id} does not have"));
                refunded.clear();
                break;
            };
            refunded.push(json!({
                "sku": line.canonical["sku"],
                "qty": line.canonical["qty"],
                "amount": money(line.net),
            }));
        }
        if refunded.is_empty() {
            continue;
        }
        let ts = instant(refund).or_else(|| instant(order)).expect("the order's instant, checked above");
        records.push(json!({
            "type": "refund",
            "event_id": format!("clover-refund-{refund_id}"),
            "ts": ts,
            "store_id": store_id,
            "refund_id": format!("clover-refund-{refund_id}"),
            "original_transaction_id": format!("clover-{id}"),
            "register_id": register(refund),
            "cashier_id": cashier(refund),
            "tender_kind": "card",
            "lines": refunded,
        }));
    }
    Ok(Mapped { records, refused })
}

/// The records of an order, and why parts of it (a refund) do not map: each a dead letter of
/// its own, the rest admitted.
#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    pub records: Vec<Value>,
    pub refused: Vec<String>,
}

/// A line item as sold: its canonical line, its id, and what it came to after discounts.
struct Line {
    id: String,
    canonical: Value,
    net: i64,
}

/// The order's revenue line items with their own discounts and their share of the order's.
fn lines(id: &str, order: &Value, skus: &HashMap<String, String>) -> Result<Vec<Line>, String> {
    let sold: Vec<&Value> = elements(&order["lineItems"]).filter(|l| l["isRevenue"].as_bool() != Some(false)).collect();
    let mut lines = Vec::new();
    for (i, item) in sold.iter().enumerate() {
        let line_id = text(&item["id"]).unwrap_or_else(|| format!("{}", i + 1));
        let qty = match item["unitQty"].as_i64() {
            None => 1,
            Some(thousandths) if thousandths % 1000 == 0 => thousandths / 1000,
            Some(thousandths) => {
                return Err(format!(
                    "line item {line_id} of order {id} sells {} units: not a whole number of units",
                    thousandths as f64 / 1000.0
                ));
            }
        };
        let unit_price = cents(&item["price"]);
        let gross = unit_price * qty;
        let own: i64 = elements(&item["discounts"]).map(|d| discount(d, gross)).sum();
        let sku = text(&item["item"]["id"])
            .map(|item| skus.get(&item).cloned().unwrap_or_else(|| format!("clover-{item}")))
            .ok_or_else(|| format!("line item {line_id} of order {id} names no inventory item"))?;
        lines.push((line_id, sku, qty, unit_price, gross, own));
    }
    // The order's own discounts, shared out by each line's amount after its own discounts; the
    // rounding left over goes to the last line.
    let after: i64 = lines.iter().map(|(.., gross, own)| gross - own).sum();
    let order_discount: i64 = elements(&order["discounts"]).map(|d| discount(d, after)).sum::<i64>().min(after);
    let mut shared = 0;
    let count = lines.len();
    let mut result = Vec::with_capacity(count);
    for (i, (line_id, sku, qty, unit_price, gross, own)) in lines.into_iter().enumerate() {
        let share = match (i + 1 == count, after) {
            (_, 0) => 0,
            (true, _) => order_discount - shared,
            (false, _) => order_discount * (gross - own) / after,
        };
        shared += share;
        let total = own + share;
        result.push(Line {
            id: line_id,
            canonical: json!({
                "line_no": i + 1,
                "sku": sku,
                "qty": qty,
                "unit_price": money(unit_price),
                "discount": money(total),
            }),
            net: gross - total,
        });
    }
    Ok(result)
}

/// A discount's cents off `base`: its `amount` (negative cents in Clover), else its
/// `percentage` of the base, rounded half up.
fn discount(discount: &Value, base: i64) -> i64 {
    match (discount["amount"].as_i64(), discount["percentage"].as_i64()) {
        (Some(amount), _) => amount.abs(),
        (None, Some(percent)) => (base * percent + 50) / 100,
        (None, None) => 0,
    }
}

/// The elements of an expanded collection (`{"elements": [...]}`), or of a plain array.
fn elements(collection: &Value) -> impl Iterator<Item = &Value> {
    collection.get("elements").unwrap_or(collection).as_array().into_iter().flatten()
}

fn cents(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// When the device made it (`clientCreatedTime`), else when Clover recorded it, as RFC 3339.
fn instant(object: &Value) -> Option<String> {
    let millis = object["clientCreatedTime"].as_i64().or_else(|| object["createdTime"].as_i64())?;
    let at = chrono::DateTime::from_timestamp_millis(millis)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn tender_kind(tender: &Value) -> &'static str {
    match tender["labelKey"].as_str().unwrap_or_default() {
        "com.clover.tender.cash" => "cash",
        "com.clover.tender.gift_card" | "com.clover.tender.external_gift_card" => "gift_card",
        _ => "card",
    }
}

fn register(object: &Value) -> String {
    text(&object["device"]["id"]).map_or_else(|| "clover".to_string(), |id| format!("clover-device-{id}"))
}

fn cashier(object: &Value) -> String {
    text(&object["employee"]["id"]).map_or_else(|| "clover".to_string(), |id| format!("clover-staff-{id}"))
}
