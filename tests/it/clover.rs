//! Clover mapped to canonical events (`tillflow_data::clover`), each field checked by hand
//! against the objects below, which follow the shapes of Clover's REST API (an Order expanded
//! with `lineItems`, `discounts`, `payments` and `refunds` as `{"elements": [...]}`; money in
//! cents; a quantity of N as N line items; times in epoch milliseconds) and of its webhook
//! notifications (`{"appId", "merchants": {"<id>": [{"objectId": "O:<id>", "type", "ts"}]}}`).

use std::collections::HashMap;

use serde_json::{Value, json};
use tillflow_data::clover::{Notice, item_ids, map_order, notices, sku_of_item, verification_code, verify};

/// Three bags of beans (one with 1.50 off) and a box of filters (10 % off), 1.00 off the order,
/// paid 20.00 cash and 21.57 by card after a declined attempt; the second bag refunded later.
pub const ORDER: &str = r##"{
  "href": "https://api.clover.com/v3/merchants/XYZVJT2ZRRRSC/orders/X87EZTY4P965T",
  "id": "X87EZTY4P965T", "currency": "USD", "total": 4157, "paymentState": "PARTIALLY_REFUNDED",
  "state": "locked", "createdTime": 1772896501000, "clientCreatedTime": 1772896500000,
  "employee": {"id": "N9ZE2YBM5AMT0"}, "device": {"id": "0e5b2f07-a4d6"},
  "customers": {"elements": [{"id": "6GN5ZWZ8RQ4QA"}]},
  "lineItems": {"elements": [
    {"id": "L1", "item": {"id": "ITEM1"}, "name": "Espresso beans", "price": 1199, "isRevenue": true,
     "discounts": {"elements": [{"id": "D1", "name": "Bruised bag", "amount": -150}]}},
    {"id": "L2", "item": {"id": "ITEM1"}, "name": "Espresso beans", "price": 1199, "isRevenue": true, "refunded": true},
    {"id": "L3", "item": {"id": "ITEM1"}, "name": "Espresso beans", "price": 1199, "isRevenue": true},
    {"id": "L4", "item": {"id": "ITEM2"}, "name": "Filter papers", "price": 900, "isRevenue": true,
     "discounts": {"elements": [{"id": "D2", "name": "Members", "percentage": 10}]}},
    {"id": "L5", "name": "Gift card", "price": 2500, "isRevenue": false}
  ]},
  "discounts": {"elements": [{"id": "D3", "name": "Loyalty", "amount": -100}]},
  "payments": {"elements": [
    {"id": "P0", "amount": 500, "result": "FAIL", "tender": {"labelKey": "com.clover.tender.credit", "label": "Credit Card"}},
    {"id": "P1", "amount": 2000, "result": "SUCCESS", "tender": {"labelKey": "com.clover.tender.cash", "label": "Cash"}},
    {"id": "P2", "amount": 2157, "result": "SUCCESS", "tender": {"labelKey": "com.clover.tender.credit", "label": "Credit Card"}}
  ]},
  "refunds": {"elements": [
    {"id": "R1", "amount": 1171, "createdTime": 1773075600000, "payment": {"id": "P2"},
     "employee": {"id": "N9ZE2YBM5AMT0"}, "lineItems": [{"id": "L2"}]}
  ]}
}"##;

/// The inventory items the order sells, as `GET /v3/merchants/{mId}/items/{id}` answers.
pub const ITEMS: [(&str, &str); 2] = [
    ("ITEM1", r#"{"id": "ITEM1", "name": "Espresso beans", "sku": "K1", "code": "012345678905", "price": 1199}"#),
    ("ITEM2", r#"{"id": "ITEM2", "name": "Filter papers", "code": "K2", "price": 900}"#),
];

pub fn skus() -> HashMap<String, String> {
    ITEMS
        .iter()
        .map(|(id, item)| (id.to_string(), sku_of_item(&serde_json::from_str(item).unwrap()).unwrap()))
        .collect()
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_paid_order_becomes_a_sale_and_its_refund_a_refund_of_its_items() {
    assert_eq!(item_ids(&parsed(ORDER)), ["ITEM1", "ITEM2"]);
    assert_eq!(skus(), HashMap::from([("ITEM1".into(), "K1".into()), ("ITEM2".into(), "K2".into())]), "sku, else code");
    let records = map_order(&parsed(ORDER), "S1", &skus()).unwrap().records;
    // After their own discounts the lines come to 10.49, 11.99, 11.99 and 8.10 (42.57); the
    // order's 1.00 is shared by those amounts: 0.24, 0.28, 0.28 and the rest, 0.20.
    let sale = json!({
        "type": "sale",
        "event_id": "clover-order-X87EZTY4P965T",
        "ts": "2026-03-07T15:15:00.000Z",
        "store_id": "S1",
        "transaction_id": "clover-X87EZTY4P965T",
        "register_id": "clover-device-0e5b2f07-a4d6",
        "cashier_id": "clover-staff-N9ZE2YBM5AMT0",
        "lines": [
            {"line_no": 1, "sku": "K1", "qty": 1, "unit_price": "11.99", "discount": "1.74"},
            {"line_no": 2, "sku": "K1", "qty": 1, "unit_price": "11.99", "discount": "0.28"},
            {"line_no": 3, "sku": "K1", "qty": 1, "unit_price": "11.99", "discount": "0.28"},
            {"line_no": 4, "sku": "K2", "qty": 1, "unit_price": "9.00", "discount": "1.10"}
        ],
        "tenders": [{"kind": "cash", "amount": "20.00"}, {"kind": "card", "amount": "21.57"}],
        "customer_ref": "clover-customer-6GN5ZWZ8RQ4QA"
    });
    let refund = json!({
        "type": "refund",
        "event_id": "clover-refund-R1",
        "ts": "2026-03-09T17:00:00.000Z",
        "store_id": "S1",
        "refund_id": "clover-refund-R1",
        "original_transaction_id": "clover-X87EZTY4P965T",
        "register_id": "clover",
        "cashier_id": "clover-staff-N9ZE2YBM5AMT0",
        "tender_kind": "card",
        "lines": [{"sku": "K1", "qty": 1, "amount": "11.71"}]
    });
    assert_eq!(records, [sale, refund]);
}

#[test]
fn an_unpaid_order_is_nothing_yet_and_what_does_not_map_says_why() {
    let mut open = parsed(ORDER);
    open["paymentState"] = json!("OPEN");
    assert_eq!(map_order(&open, "S1", &skus()).unwrap(), Default::default());

    let mut weighed = parsed(ORDER);
    weighed["lineItems"]["elements"][0]["unitQty"] = json!(1250);
    let why = map_order(&weighed, "S1", &skus()).unwrap_err();
    assert!(why.contains("sells 1.25 units"), "{why}");
    // A refund of an amount, not of items: a dead letter of its own; the sale stands.
    let mut by_amount = parsed(ORDER);
    by_amount["refunds"]["elements"][0]["lineItems"] = json!([]);
    let mapped = map_order(&by_amount, "S1", &skus()).unwrap();
    assert_eq!(mapped.records.len(), 1, "the sale");
    assert_eq!(mapped.refused.len(), 1);
    assert!(mapped.refused[0].contains("refund R1 of order X87EZTY4P965T names no line items"), "{mapped:?}");
    // A refund of the whole order names no items: every line comes back.
    by_amount["refunds"]["elements"][0]["amount"] = json!(4157);
    let whole = map_order(&by_amount, "S1", &skus()).unwrap();
    assert_eq!(whole.refused, Vec::<String>::new());
    assert_eq!(whole.records[1]["lines"].as_array().unwrap().len(), 4);
    // Per-unit priced in whole units: 2,000 thousandths are two.
    let mut two = parsed(ORDER);
    two["lineItems"]["elements"][2]["unitQty"] = json!(2000);
    assert_eq!(map_order(&two, "S1", &skus()).unwrap().records[0]["lines"][2]["qty"], 2);
}

#[test]
fn notifications_name_objects_and_the_auth_code_is_compared_whole() {
    let body = r#"{"appId":"DRKVJT2ZRRRSC","merchants":{"XYZVJT2ZRRRSC":[
        {"objectId":"O:GHIVJT2ABCRSC","type":"CREATE","ts":1537970958000},
        {"objectId":"P:ABCVJTABCRRSC","type":"UPDATE","ts":1536156558000}]}}"#;
    let notice = |kind: &str, id: &str, change: &str| Notice {
        merchant: "XYZVJT2ZRRRSC".into(),
        kind: kind.into(),
        id: id.into(),
        change: change.into(),
    };
    assert_eq!(
        notices(body.as_bytes()).unwrap(),
        [notice("O", "GHIVJT2ABCRSC", "CREATE"), notice("P", "ABCVJTABCRRSC", "UPDATE")]
    );
    assert!(notices(b"{}").unwrap_err().contains("no `merchants`"));
    assert_eq!(
        verification_code(br#"{"verificationCode":"5220ecf5-7dea-4f4c-9b8a-2f6c1e1d3a11"}"#).as_deref(),
        Some("5220ecf5-7dea-4f4c-9b8a-2f6c1e1d3a11")
    );
    assert_eq!(verification_code(body.as_bytes()), None);
    let code = b"0307e264-b33a-4913-88aa-37b10014a0b8";
    assert!(verify(code, "0307e264-b33a-4913-88aa-37b10014a0b8"));
    assert!(!verify(code, "0307e264-b33a-4913-88aa-37b10014a0b"), "a prefix");
    assert!(!verify(code, "0307e264-b33a-4913-88aa-37b10014a0b9"), "one character off");
    assert!(!verify(code, ""), "none");
    assert!(!verify(b"", ""), "no code configured");
}

/// Backfill: a file of orders as `GET /v3/merchants/{mId}/orders?expand=…` lists them
/// (`{"elements": [...]}`), with the merchant's inventory items beside them (`"items"`).
#[test]
fn an_orders_export_backfills_the_views() {
    let items: Vec<Value> = ITEMS.iter().map(|(_, item)| parsed(item)).collect();
    let export = json!({"elements": [parsed(ORDER)], "items": items});
    let backfill = crate::support::Backfill::new("clover", "merchants", "XYZVJT2ZRRRSC", &export);
    backfill.run("run", &[], "views");
    // K1: 3 at 11.99 less 2.30 of discounts; the second bag (11.71 after discounts) back on the 9th.
    assert_eq!(
        backfill.margins("views"),
        "sku,business_date,units_sold,units_returned,net_sales\n\
         K1,2026-03-07,3,0,33.67\nK1,2026-03-09,0,1,-11.71\nK2,2026-03-07,1,0,7.90"
    );
}
