//! Lightspeed Retail (X-Series) mapped to canonical events (`tillflow_data::lightspeed`), each
//! field checked by hand against the payloads below, which follow the shapes of its webhooks'
//! `payload` (a `register_sale` of API 0.9: `register_sale_products` with tax-exclusive prices
//! of up to five decimals, `register_sale_payments`, `sale_date` in UTC without an offset,
//! `return_for` on a return; a product with `supply_price`, `brand`, `product_type` and
//! `price_book_entries`).

use std::collections::HashMap;

use serde_json::{Value, json};
use tillflow_data::lightspeed::{Stores, kind_of, product_wanted, sku_of_product};

/// The mapping of a webhook that needs no product fetched.
fn map(kind: &str, payload: &Value, stores: &Stores) -> Result<Vec<Value>, String> {
    tillflow_data::lightspeed::map(kind, payload, stores, &HashMap::new())
}

pub const REGISTER: &str = "0a6f6e36-8b71-11eb-f3d6-40cea3d59c5a";

/// Three bags of beans at 10.99 after 1.00 off each, a box of filters at 9.00391; paid 20.00
/// cash and 23.48 by card.
pub const SALE: &str = r##"{
  "id": "a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
  "register_id": "0a6f6e36-8b71-11eb-f3d6-40cea3d59c5a",
  "customer_id": "e52b4b5c-3d7e-11e6-f485-4a8f5f3b6da8",
  "customer_name": "Ann Example",
  "user_id": "0a6f6e36-8b71-11eb-f3d6-40cea3ddd9e8",
  "sale_date": "2026-03-07 15:15:00",
  "updated_at": "2026-03-07 15:15:02",
  "status": "CLOSED",
  "return_for": "",
  "total_price": 41.97391,
  "register_sale_products": [
    {"id": "s1", "product_id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3a068", "sku": "K1", "name": "Espresso beans",
     "quantity": 3, "price": 10.99, "discount": 1.0, "price_total": 32.97, "tax": 1.65, "tax_total": 4.95},
    {"id": "s2", "product_id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3b111", "sku": "K2", "name": "Filter papers",
     "quantity": 1, "price": 9.00391, "discount": 0, "price_total": 9.00391, "tax": 1.35, "tax_total": 1.35}
  ],
  "register_sale_payments": [
    {"id": "p1", "payment_type_id": "1", "name": "Cash", "amount": 20.0},
    {"id": "p2", "payment_type_id": "4", "name": "Credit Card", "amount": 23.48}
  ]
}"##;

/// One bag of beans returned two days later, cash back.
pub const RETURN: &str = r##"{
  "id": "c1d2e3f4-0000-4a4a-b5c7-f59c2b0c2a22",
  "register_id": "0a6f6e36-8b71-11eb-f3d6-40cea3d59c5a",
  "user_id": "0a6f6e36-8b71-11eb-f3d6-40cea3ddd9e8",
  "sale_date": "2026-03-09 17:00:00",
  "status": "CLOSED",
  "return_for": "a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
  "note": "Bag torn",
  "register_sale_products": [
    {"id": "s3", "product_id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3a068", "sku": "K1", "quantity": -1,
     "price": 10.99, "discount": 1.0, "price_total": -10.99}
  ],
  "register_sale_payments": [{"id": "p3", "payment_type_id": "1", "name": "Cash", "amount": -12.64}]
}"##;

pub const PRODUCT: &str = r##"{
  "id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999", "sku": "K9", "name": "Milk frother", "handle": "milkfrother",
  "supply_price": "14.50", "brand": {"id": "b1", "name": "Kaffa"},
  "supplier": {"id": "s1", "name": "Kaffa Imports"}, "product_type": {"id": "t1", "name": "Appliances"},
  "price_book_entries": [{"id": "e1", "type": "BASE", "price": "39.13043"}], "version": 8127765
}"##;

pub const OUTLET: &str = "06e35f89-3783-11e6-ec7e-13d8a2f6a7f4";

/// An inventory level as `inventory.update` sends it (API 2.0 names: `inventory_level`).
pub const LEVEL: &str = r##"{"id": "5a1c4c7e-9f0b", "outlet_id": "06e35f89-3783-11e6-ec7e-13d8a2f6a7f4",
  "product_id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999", "inventory_level": 7, "reorder_point": "2",
  "updated_at": "2026-03-07T18:30:00+00:00", "version": 9901}"##;

/// The API's answer for that product (`GET /api/2.0/products/{id}`).
pub const PRODUCT_ANSWER: &str =
    r##"{"data": {"id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999", "sku": "K9", "name": "Milk frother"}}"##;

pub fn stores() -> Stores {
    Stores {
        registers: [(REGISTER.to_string(), "S1".to_string())].into(),
        outlets: [(OUTLET.to_string(), "S1".to_string())].into(),
    }
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_closed_sale_becomes_a_sale_and_a_return_a_refund() {
    assert_eq!(kind_of(&parsed(SALE)), Some("sale.update"));
    let sale = json!({
        "type": "sale",
        "event_id": "lightspeed-sale-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
        "ts": "2026-03-07T15:15:00Z",
        "store_id": "S1",
        "transaction_id": "lightspeed-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
        "register_id": format!("lightspeed-{REGISTER}"),
        "cashier_id": "lightspeed-staff-0a6f6e36-8b71-11eb-f3d6-40cea3ddd9e8",
        "lines": [
            {"line_no": 1, "sku": "K1", "qty": 3, "unit_price": "11.99", "discount": "3.00"},
            {"line_no": 2, "sku": "K2", "qty": 1, "unit_price": "9.00", "discount": "0.00"}
        ],
        "tenders": [{"kind": "cash", "amount": "20.00"}, {"kind": "card", "amount": "23.48"}],
        "customer_ref": "lightspeed-customer-e52b4b5c-3d7e-11e6-f485-4a8f5f3b6da8"
    });
    assert_eq!(map("sale.update", &parsed(SALE), &stores()).unwrap(), [sale]);
    let refund = json!({
        "type": "refund",
        "event_id": "lightspeed-return-c1d2e3f4-0000-4a4a-b5c7-f59c2b0c2a22",
        "ts": "2026-03-09T17:00:00Z",
        "store_id": "S1",
        "refund_id": "lightspeed-c1d2e3f4-0000-4a4a-b5c7-f59c2b0c2a22",
        "register_id": format!("lightspeed-{REGISTER}"),
        "cashier_id": "lightspeed-staff-0a6f6e36-8b71-11eb-f3d6-40cea3ddd9e8",
        "tender_kind": "cash",
        "lines": [{"sku": "K1", "qty": 1, "amount": "10.99"}],
        "original_transaction_id": "lightspeed-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
        "reason": "Bag torn"
    });
    assert_eq!(map("sale.update", &parsed(RETURN), &stores()).unwrap(), [refund]);
}

#[test]
fn an_exchange_is_a_refund_and_a_sale_and_lines_come_to_their_totals() {
    let mut exchange = parsed(RETURN);
    exchange["register_sale_products"] = json!([
        {"sku": "K1", "quantity": -1, "price": 10.99, "discount": 1.0, "price_total": -10.99},
        {"sku": "K2", "quantity": "2", "price": 9.00391, "discount": 0, "price_total": 18.00782}
    ]);
    exchange["register_sale_payments"] = json!([{"name": "Cash", "amount": 8.35}]);
    let records = map("sale.update", &exchange, &stores()).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["type"], "refund");
    assert_eq!(records[0]["lines"], json!([{"sku": "K1", "qty": 1, "amount": "10.99"}]));
    assert_eq!(records[0]["original_transaction_id"], "lightspeed-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11");
    assert_eq!(records[1]["type"], "sale");
    // 2 × 9.00 = 18.00, the line's total 18.01 (18.00782): no discount, one cent more than the
    // rounded unit price says, carried as a discount of -0.01.
    assert_eq!(
        records[1]["lines"],
        json!([{"line_no": 1, "sku": "K2", "qty": 2, "unit_price": "9.00", "discount": "-0.01"}])
    );
    assert_eq!(records[1]["tenders"], json!([{"kind": "cash", "amount": "8.35"}]));

    // Five decimals: 3 × 11.99 (10.99174 after 1.00 off each) come to 32.98 (32.97522).
    let mut precise = parsed(SALE);
    precise["register_sale_products"][0]["price"] = json!(10.99174);
    precise["register_sale_products"][0]["price_total"] = json!(32.97522);
    let sale = map("sale.update", &precise, &stores()).unwrap();
    assert_eq!(
        sale[0]["lines"][0],
        json!({"line_no": 1, "sku": "K1", "qty": 3, "unit_price": "11.99", "discount": "2.99"})
    );
}

#[test]
fn a_voided_sale_is_a_post_void_and_an_open_one_nothing_yet() {
    let mut voided = parsed(SALE);
    voided["status"] = json!("VOIDED");
    voided["updated_at"] = json!("2026-03-07 16:05:00");
    let expected = json!({
        "type": "void",
        "event_id": "lightspeed-void-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
        "ts": "2026-03-07T16:05:00Z",
        "store_id": "S1",
        "transaction_id": "lightspeed-a2961c07-c6b4-4a4a-b5c7-f59c2b0c2a11",
        "register_id": format!("lightspeed-{REGISTER}"),
        "cashier_id": "lightspeed-staff-0a6f6e36-8b71-11eb-f3d6-40cea3ddd9e8",
        "scope": "post"
    });
    assert_eq!(map("sale.update", &voided, &stores()).unwrap(), [expected]);
    for status in ["SAVED", "LAYBY", "ONACCOUNT", "AWAITING_PICKUP"] {
        let mut open = parsed(SALE);
        open["status"] = json!(status);
        assert_eq!(map("sale.update", &open, &stores()).unwrap(), Vec::<Value>::new(), "{status}");
    }
}

#[test]
fn a_product_carries_its_cost_and_base_price() {
    assert_eq!(kind_of(&parsed(PRODUCT)), Some("product.update"));
    let expected = json!({
        "type": "product",
        "event_id": "lightspeed-product-b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999-8127765",
        "sku": "K9",
        "name": "Milk frother",
        "category": "Appliances",
        "department": "Kaffa",
        "supplier": "Kaffa Imports",
        "unit_cost": "14.50",
        "list_price": "39.13"
    });
    assert_eq!(map("product.update", &parsed(PRODUCT), &stores()).unwrap(), [expected]);
}

#[test]
fn an_inventory_level_counts_its_products_sku() {
    let level = parsed(LEVEL);
    assert_eq!(product_wanted("inventory.update", &level).as_deref(), Some("b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999"));
    let skus: HashMap<String, String> = sku_of_product(&parsed(PRODUCT_ANSWER))
        .map(|sku| ("b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999".into(), sku))
        .into_iter()
        .collect();
    let expected = json!({
        "type": "inventory",
        "event_id": "lightspeed-inventory-b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999-06e35f89-3783-11e6-ec7e-13d8a2f6a7f4-9901",
        "ts": "2026-03-07T18:30:00+00:00",
        "store_id": "S1",
        "sku": "K9",
        "kind": "count",
        "qty": 7
    });
    assert_eq!(tillflow_data::lightspeed::map("inventory.update", &level, &stores(), &skus).unwrap(), [expected]);
    // A level that embeds its product needs nothing fetched; without the SKU it says what to set.
    let mut embedded = parsed(LEVEL);
    embedded["product"] = json!({"id": "b8ca3a65-0183-11e4-fbb5-d5d9e1e3c999", "sku": "K9"});
    assert_eq!(product_wanted("inventory.update", &embedded), None);
    assert_eq!(map("inventory.update", &embedded, &stores()).unwrap()[0]["sku"], "K9");
    assert!(map("inventory.update", &level, &stores()).unwrap_err().contains("has no SKU in Lightspeed"));
}

#[test]
fn what_does_not_map_says_why() {
    let mut elsewhere = parsed(SALE);
    elsewhere["register_id"] = json!("ffffffff-0000");
    let why = map("sale.update", &elsewhere, &stores()).unwrap_err();
    assert!(why.contains("Lightspeed register ffffffff-0000 is not mapped"), "{why}");
    let mut weighed = parsed(SALE);
    weighed["register_sale_products"][0]["quantity"] = json!(0.75);
    let why = map("sale.update", &weighed, &stores()).unwrap_err();
    assert!(why.contains("quantity `0.75`"), "{why}");
    weighed["register_sale_products"][0]["quantity"] = json!(0.996);
    assert!(map("sale.update", &weighed, &stores()).unwrap_err().contains("quantity `0.996`"), "not rounded to 1");
    let why = map("customer.update", &json!({"id": "c"}), &stores()).unwrap_err();
    assert!(why.contains("`customer.update` is not mapped"), "{why}");
    let kept = String::from_utf8(tillflow_data::lightspeed::without_personal_data(&parsed(SALE))).unwrap();
    assert!(!kept.contains("Ann Example") && kept.contains("e52b4b5c"), "{kept}");
}

/// Backfill: a file of sales as API 0.9 lists them (`{"register_sales": [...]}`), with
/// `--source lightspeed`, and canonical reference data.
#[test]
fn a_sales_export_backfills_the_views() {
    let export = json!({"register_sales": [parsed(SALE), parsed(RETURN)]});
    let backfill = crate::support::Backfill::new("lightspeed", "registers", REGISTER, &export);
    backfill.run("run", &[], "views");
    assert_eq!(
        backfill.margins("views"),
        "sku,business_date,units_sold,units_returned,net_sales\n\
         K1,2026-03-07,3,0,32.97\nK1,2026-03-09,0,1,-10.99\nK2,2026-03-07,1,0,9.00"
    );
}
