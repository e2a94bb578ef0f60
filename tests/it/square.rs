//! Square mapped to canonical events (`tillflow_data::square`), each field checked by hand
//! against the objects below, which follow the shapes of Square's Orders API (an Order with
//! `line_items`, `tenders`, money as `{"amount": cents, "currency"}`, quantities as decimal
//! strings; an itemized refund as a return order holding `returns` and `refunds`), its Catalog
//! API (`batch-retrieve` of item variations with their `sku`) and its webhook notifications
//! (`data.object.order_updated`, `data.object.payment`, `data.object.refund`). The signature
//! against the test vector Square's SDKs publish in their test suites.

use std::collections::HashMap;

use serde_json::{Value, json};
use tillflow_data::square::{Wanted, catalog_ids, map_order, skus_of_catalog, verify, wanted};

pub const ORDER: &str = r##"{
  "id": "CAISENgvlJ6jLWAzERDzjyHVybY",
  "location_id": "L8S1XYZ",
  "state": "COMPLETED",
  "version": 4,
  "created_at": "2026-03-07T15:14:50.000Z",
  "updated_at": "2026-03-07T15:15:02.000Z",
  "closed_at": "2026-03-07T15:15:01.000Z",
  "customer_id": "JDKYHBWT1D4F8MFH63DBMEN8Y4",
  "source": {"name": "Register 2"},
  "line_items": [
    {"uid": "8uSwfzvUImn3IRrvciqlXC", "catalog_object_id": "W62UWFY35CWMYGVWK6TWJDNI", "quantity": "3",
     "name": "Espresso beans", "base_price_money": {"amount": 1199, "currency": "USD"},
     "total_discount_money": {"amount": 150, "currency": "USD"}, "total_money": {"amount": 3447, "currency": "USD"}},
    {"uid": "v8ZuEXpOJpb0bazLuvrLDB", "catalog_object_id": "AII5ZSTQJ4CGR3BSJNBZN45Y", "quantity": "1",
     "name": "Filter papers", "base_price_money": {"amount": 900, "currency": "USD"},
     "total_discount_money": {"amount": 0, "currency": "USD"}, "total_money": {"amount": 900, "currency": "USD"}}
  ],
  "tenders": [
    {"id": "EnZdNAlWCmfh6Mt5FMNST1o7taB", "type": "CARD", "amount_money": {"amount": 3000, "currency": "USD"},
     "employee_id": "TMoK_ogh6rH1o4dV", "card_details": {"status": "CAPTURED", "card": {"last_4": "1111"}}},
    {"id": "AnZdNAlWCmfh6Mt5FMNST1o7taC", "type": "CASH", "amount_money": {"amount": 1347, "currency": "USD"}}
  ],
  "total_money": {"amount": 4347, "currency": "USD"}
}"##;

/// An itemized refund of one bag of beans from the order above: the return order Square makes.
pub const RETURN: &str = r##"{
  "id": "Pbq7SCCAgPmDZ0Js7qZTyA8Yb0C",
  "location_id": "L8S1XYZ",
  "state": "COMPLETED",
  "created_at": "2026-03-09T17:00:00.000Z",
  "closed_at": "2026-03-09T17:00:03.000Z",
  "returns": [
    {"uid": "t2s8HQ7mKe3R1y0JwBQLnD", "source_order_id": "CAISENgvlJ6jLWAzERDzjyHVybY",
     "return_line_items": [
       {"uid": "8ksNHVdwY0u3zE4HGpTtSD", "source_line_item_uid": "8uSwfzvUImn3IRrvciqlXC", "quantity": "1",
        "catalog_object_id": "W62UWFY35CWMYGVWK6TWJDNI", "base_price_money": {"amount": 1199, "currency": "USD"},
        "total_money": {"amount": 1149, "currency": "USD"}}
     ]}
  ],
  "refunds": [
    {"id": "UKSTQ43xqBPXMzWjVQzl3ZDFQbVZY", "tender_id": "EnZdNAlWCmfh6Mt5FMNST1o7taB", "status": "COMPLETED",
     "reason": "Damaged bag", "amount_money": {"amount": 1149, "currency": "USD"}}
  ]
}"##;

/// The Catalog API's answer for the order's item variations.
pub const CATALOG: &str = r##"{
  "objects": [
    {"type": "ITEM_VARIATION", "id": "W62UWFY35CWMYGVWK6TWJDNI",
     "item_variation_data": {"item_id": "LRK57U6CD6RGEVTV4TNYV5SY", "name": "1 kg", "sku": "K1"}},
    {"type": "ITEM_VARIATION", "id": "AII5ZSTQJ4CGR3BSJNBZN45Y",
     "item_variation_data": {"item_id": "ZMBPSBY7VGKSK6LB4NFQFXOA", "name": "100", "sku": "K2"}}
  ]
}"##;

/// A notification as Square sends it for an order's update.
pub fn notification(kind: &str, object: Value) -> String {
    json!({
        "merchant_id": "6SSW7HV8K2ST5",
        "type": kind,
        "event_id": format!("{kind}-{}", object.to_string().len()),
        "created_at": "2026-03-07T15:15:03.000Z",
        "data": {"type": kind.split('.').next().unwrap(), "id": "x", "object": object}
    })
    .to_string()
}

pub fn locations() -> HashMap<String, String> {
    HashMap::from([("L8S1XYZ".to_string(), "S1".to_string())])
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_completed_order_becomes_a_sale_of_its_lines_and_tenders() {
    let skus = skus_of_catalog(&parsed(CATALOG));
    assert_eq!(catalog_ids(&parsed(ORDER)), ["AII5ZSTQJ4CGR3BSJNBZN45Y", "W62UWFY35CWMYGVWK6TWJDNI"]);
    let records = map_order(&parsed(ORDER), &locations(), &skus).unwrap();
    assert_eq!(
        records,
        [json!({
            "type": "sale",
            "event_id": "square-order-CAISENgvlJ6jLWAzERDzjyHVybY",
            "ts": "2026-03-07T15:15:01.000Z",
            "store_id": "S1",
            "transaction_id": "square-CAISENgvlJ6jLWAzERDzjyHVybY",
            "register_id": "square-Register 2",
            "cashier_id": "square-staff-TMoK_ogh6rH1o4dV",
            "lines": [
                {"line_no": 1, "sku": "K1", "qty": 3, "unit_price": "11.99", "discount": "1.50"},
                {"line_no": 2, "sku": "K2", "qty": 1, "unit_price": "9.00", "discount": "0.00"}
            ],
            "tenders": [{"kind": "card", "amount": "30.00"}, {"kind": "cash", "amount": "13.47"}],
            "customer_ref": "square-customer-JDKYHBWT1D4F8MFH63DBMEN8Y4",
            "revision": 4
        })]
    );
    // Without the catalog, an item is named by its catalog id.
    let bare = map_order(&parsed(ORDER), &locations(), &HashMap::new()).unwrap();
    assert_eq!(bare[0]["lines"][0]["sku"], "square-W62UWFY35CWMYGVWK6TWJDNI");
}

#[test]
fn a_return_order_becomes_a_refund_citing_the_order_its_items_came_from() {
    let records = map_order(&parsed(RETURN), &locations(), &skus_of_catalog(&parsed(CATALOG))).unwrap();
    assert_eq!(
        records,
        [json!({
            "type": "refund",
            "event_id": "square-refund-UKSTQ43xqBPXMzWjVQzl3ZDFQbVZY",
            "ts": "2026-03-09T17:00:03.000Z",
            "store_id": "S1",
            "refund_id": "square-refund-UKSTQ43xqBPXMzWjVQzl3ZDFQbVZY",
            "original_transaction_id": "square-CAISENgvlJ6jLWAzERDzjyHVybY",
            "register_id": "square",
            "cashier_id": "square",
            "tender_kind": "card",
            "lines": [{"sku": "K1", "qty": 1, "amount": "11.49"}],
            "reason": "Damaged bag"
        })]
    );
}

#[test]
fn a_return_refunded_in_two_payments_is_one_refund_and_a_custom_amount_has_a_sku() {
    let mut split = parsed(RETURN);
    split["refunds"] = json!([
        {"id": "UKSTQ43xqBPXMzWjVQzl3ZDFQbVZY", "status": "COMPLETED", "amount_money": {"amount": 1000, "currency": "USD"}},
        {"id": "R2nd", "status": "COMPLETED", "amount_money": {"amount": 149, "currency": "USD"}}
    ]);
    let records = map_order(&split, &locations(), &skus_of_catalog(&parsed(CATALOG))).unwrap();
    assert_eq!(records.len(), 1, "the bag comes back once: {records:?}");
    assert_eq!(records[0]["lines"], json!([{"sku": "K1", "qty": 1, "amount": "11.49"}]));
    let mut custom = parsed(ORDER);
    custom["line_items"][1].as_object_mut().unwrap().remove("catalog_object_id");
    let sale = map_order(&custom, &locations(), &HashMap::new()).unwrap();
    assert_eq!(sale[0]["lines"][1]["sku"], tillflow_data::square::CUSTOM_AMOUNT);

    // In Japan the smallest unit is the yen itself: ¥1,200 is 1200, not 12.00.
    let yen = ORDER.replace("\"USD\"", "\"JPY\"");
    assert_ne!(yen, ORDER);
    let sale = map_order(&parsed(&yen), &locations(), &HashMap::new()).unwrap();
    assert_eq!(sale[0]["lines"][0]["unit_price"], "1199.00", "{}", sale[0]);
    assert_eq!(sale[0]["lines"][0]["discount"], "150.00");
}

#[test]
fn open_orders_and_pending_payments_map_to_nothing_yet() {
    let mut open = parsed(ORDER);
    open["state"] = json!("OPEN");
    assert_eq!(map_order(&open, &locations(), &HashMap::new()).unwrap(), Vec::<Value>::new());
    let payment =
        notification("payment.updated", json!({"payment": {"id": "p1", "status": "PENDING", "order_id": "o1"}}));
    assert_eq!(wanted(payment.as_bytes()).unwrap(), Wanted::Nothing("payment PENDING".into()));
    let paid =
        notification("payment.updated", json!({"payment": {"id": "p1", "status": "COMPLETED", "order_id": "o1"}}));
    assert_eq!(wanted(paid.as_bytes()).unwrap(), Wanted::Order("o1".into()));
    let updated = notification("order.updated", json!({"order_updated": {"order_id": "o2", "state": "COMPLETED"}}));
    assert_eq!(wanted(updated.as_bytes()).unwrap(), Wanted::Order("o2".into()));
    let refund =
        notification("refund.created", json!({"refund": {"id": "r1", "status": "COMPLETED", "order_id": "o3"}}));
    assert_eq!(wanted(refund.as_bytes()).unwrap(), Wanted::Order("o3".into()));
}

#[test]
fn what_does_not_map_says_why() {
    let other = notification("customer.created", json!({"customer": {"id": "c1"}}));
    assert!(wanted(other.as_bytes()).unwrap_err().contains("`customer.created` is not mapped"));
    assert!(wanted(b"{not json").unwrap_err().contains("not JSON"));
    let mut elsewhere = parsed(ORDER);
    elsewhere["location_id"] = json!("L0THER");
    let why = map_order(&elsewhere, &locations(), &HashMap::new()).unwrap_err();
    assert!(why.contains("Square location L0THER is not mapped to a store"), "{why}");
    let mut weighed = parsed(ORDER);
    weighed["line_items"][0]["quantity"] = json!("1.25");
    let why = map_order(&weighed, &locations(), &HashMap::new()).unwrap_err();
    assert!(why.contains("quantity `1.25`"), "{why}");
}

#[test]
fn a_body_kept_as_a_dead_letter_keeps_no_personal_data() {
    let payment = notification(
        "payment.updated",
        json!({"payment": {"id": "p1", "status": "COMPLETED", "buyer_email_address": "ann@example.com",
                           "billing_address": {"address_line_1": "1 Main St"}, "card_details": {"card": {"last_4": "1111"}}}}),
    );
    let kept = String::from_utf8(tillflow_data::square::without_personal_data(payment.as_bytes())).unwrap();
    for personal in ["ann@example.com", "1 Main St", "1111"] {
        assert!(!kept.contains(personal), "{personal} kept: {kept}");
    }
    assert!(kept.contains("\"status\":\"COMPLETED\""), "{kept}");
}

#[test]
fn the_signature_is_the_hmac_of_the_notification_url_and_the_raw_body() {
    // Square's published vector (the test suites of its Java, Python, Node, PHP, Ruby and Go SDKs).
    let body = r#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    let (key, url) = (b"Ibxx_5AKakO-3qeNVR61Dw", "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9");
    let signature = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    assert!(verify(key, url, body.as_bytes(), signature));
    let reserialised = serde_json::to_string_pretty(&parsed(body)).unwrap();
    assert!(!verify(key, url, reserialised.as_bytes(), signature), "the same JSON with other whitespace");
    assert!(!verify(key, "https://webhook.site/elsewhere", body.as_bytes(), signature), "another URL");
    assert!(!verify(b"another key", url, body.as_bytes(), signature), "another key");
    assert!(!verify(key, url, body.as_bytes(), ""), "no signature");
}

/// Backfill: a file of orders as the Orders API's SearchOrders lists them, with the catalog's
/// item variations beside them, read with `--source square` and the canonical reference data;
/// replayed a day at a time, the same views.
#[test]
fn an_orders_export_backfills_the_views() {
    let mut elsewhere = parsed(ORDER);
    elsewhere["id"] = json!("ELSEWHERE");
    elsewhere["location_id"] = json!("L0THER");
    let export = json!({"orders": [parsed(ORDER), parsed(RETURN), elsewhere], "objects": parsed(CATALOG)["objects"]});
    let backfill = crate::support::Backfill::new("square", "locations", "L8S1XYZ", &export);
    let summary = backfill.run("run", &[], "views");
    assert_eq!(crate::support::dead_lettered(&summary), 1, "the order at an unmapped location: {summary}");
    // K1: 3 sold at 11.99 less 1.50 (34.47) on the 7th, 1 returned for 11.49 on the 9th; K2: 1 at 9.00.
    let margins = "sku,business_date,units_sold,units_returned,net_sales\n\
                   K1,2026-03-07,3,0,34.47\nK1,2026-03-09,0,1,-11.49\nK2,2026-03-07,1,0,9.00";
    assert_eq!(backfill.margins("views"), margins);
    backfill.run("replay", &["--tick", "1d"], "replayed");
    assert_eq!(backfill.margins("replayed"), margins);
}
