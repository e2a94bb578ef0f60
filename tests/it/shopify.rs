//! Shopify webhooks mapped to canonical events (`tillflow_data::shopify`), each field checked by
//! hand against the order below, which follows the shape of Shopify's Order resource (POS
//! order: `location_id`, `user_id`, `device_id`; money as decimal strings; discounts allocated
//! to lines). The signature against a vector computed apart (Python's `hmac`).

use std::collections::HashMap;

use serde_json::json;
use tillflow_data::shopify::verify;

/// The mapping of a webhook that names no inventory item (orders, refunds).
fn map(topic: &str, body: &[u8], locations: &HashMap<String, String>) -> Result<Vec<serde_json::Value>, String> {
    tillflow_data::shopify::map(topic, body, locations, &HashMap::new())
}

pub const ORDER: &str = r##"{
  "id": 450789469,
  "name": "#1001",
  "created_at": "2026-03-07T10:15:00-05:00",
  "processed_at": "2026-03-07T10:14:58-05:00",
  "updated_at": "2026-03-07T10:15:01-05:00",
  "location_id": 655441491,
  "user_id": 548380009,
  "device_id": 7,
  "currency": "USD",
  "total_price": "43.47",
  "payment_gateway_names": ["cash"],
  "customer": {"id": 207119551, "email": "bob.norman@example.com"},
  "line_items": [
    {"id": 466157049, "variant_id": 39072856, "sku": "K1", "title": "IPod Nano - 8gb", "quantity": 3,
     "price": "11.99", "total_discount": "0.00",
     "discount_allocations": [{"amount": "1.50", "discount_application_index": 0}]},
    {"id": 518995019, "variant_id": 49148385, "sku": "", "title": "IPod Nano - Red", "quantity": 1,
     "price": "9.00", "total_discount": "0.00", "discount_allocations": []}
  ]
}"##;

/// A product as `products/update` sends it (two variants; one without a SKU, not stocked).
pub const PRODUCT: &str = r##"{
  "id": 632910392, "title": "Milk frother", "product_type": "Appliances", "vendor": "Kaffa",
  "updated_at": "2026-03-07T09:00:00-05:00",
  "variants": [
    {"id": 808950810, "product_id": 632910392, "title": "Black", "price": "39.00", "sku": "K9",
     "inventory_item_id": 808950810, "updated_at": "2026-03-07T09:00:00-05:00"},
    {"id": 808950811, "product_id": 632910392, "title": "Sample", "price": "0.00", "sku": "",
     "inventory_item_id": 808950811, "updated_at": "2026-03-07T09:00:00-05:00"}
  ]
}"##;

/// An inventory level as `inventory_levels/update` sends it.
pub const LEVEL: &str = r##"{"inventory_item_id": 808950810, "location_id": 655441491, "available": 6,
  "updated_at": "2026-03-07T18:30:00-05:00", "admin_graphql_api_id": "gid://shopify/InventoryLevel/655441491?inventory_item_id=808950810"}"##;

/// The Admin API's answer for the product's inventory item (`GET …/inventory_items.json?ids=…`).
pub const ITEMS: &str = r##"{"inventory_items": [
  {"id": 808950810, "sku": "K9", "cost": "14.50", "tracked": true},
  {"id": 808950811, "sku": "", "cost": null, "tracked": false}
]}"##;

pub fn locations() -> HashMap<String, String> {
    HashMap::from([("655441491".to_string(), "S1".to_string())])
}

#[test]
fn an_order_becomes_a_sale_of_its_lines() {
    let records = map("orders/create", ORDER.as_bytes(), &locations()).unwrap();
    let expected = json!({
        "type": "sale",
        "event_id": "shopify-order-450789469",
        "ts": "2026-03-07T10:14:58-05:00",
        "store_id": "S1",
        "transaction_id": "shopify-450789469",
        "register_id": "shopify-device-7",
        "cashier_id": "shopify-staff-548380009",
        "customer_ref": "shopify-customer-207119551",
        "lines": [
            {"line_no": 1, "sku": "K1", "qty": 3, "unit_price": "11.99", "discount": "1.50"},
            {"line_no": 2, "sku": "shopify-variant-49148385", "qty": 1, "unit_price": "9.00", "discount": "0.00"}
        ],
        "tenders": [{"kind": "cash", "amount": "43.47"}],
        // updated_at, 2026-03-07T10:15:01-05:00, in milliseconds.
        "revision": 1772896501000i64
    });
    assert_eq!(records, vec![expected]);
    // orders/paid sends the same order again: the same record, so it counts once.
    assert_eq!(map("orders/paid", ORDER.as_bytes(), &locations()).unwrap(), records);

    // With its transactions, a tender per successful sale or capture (a failed one is no tender).
    let mut split: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    split["transactions"] = json!([
        {"id": 389404469, "kind": "sale", "status": "success", "gateway": "gift_card", "amount": "10.00"},
        {"id": 389404470, "kind": "sale", "status": "failure", "gateway": "bogus", "amount": "33.47"},
        {"id": 389404471, "kind": "sale", "status": "success", "gateway": "shopify_payments", "amount": "33.47"}
    ]);
    let records = map("orders/create", split.to_string().as_bytes(), &locations()).unwrap();
    assert_eq!(
        records[0]["tenders"],
        json!([{"kind": "gift_card", "amount": "10.00"}, {"kind": "card", "amount": "33.47"}])
    );
}

#[test]
fn a_cancellation_is_a_post_void_and_a_refund_cites_its_order() {
    let mut cancelled: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    cancelled["cancelled_at"] = json!("2026-03-07T11:00:00-05:00");
    let body = cancelled.to_string();
    let void = map("orders/cancelled", body.as_bytes(), &locations()).unwrap();
    assert_eq!(void[0]["type"], "void");
    assert_eq!(void[0]["scope"], "post");
    assert_eq!(void[0]["transaction_id"], "shopify-450789469");
    assert_eq!(void[0]["ts"], "2026-03-07T11:00:00-05:00");

    let refund = json!({
        "id": 509562969,
        "order_id": 450789469,
        "created_at": "2026-03-07T12:00:00-05:00",
        "note": "wrong size",
        "user_id": 548380009,
        "refund_line_items": [
            {"id": 104689539, "quantity": 1, "line_item_id": 466157049, "location_id": 655441491,
             "subtotal": "11.49", "line_item": {"id": 466157049, "sku": "K1", "variant_id": 39072856}}
        ],
        "transactions": [{"id": 245135, "kind": "refund", "gateway": "shopify_payments", "amount": "11.49"}]
    });
    let records = map("refunds/create", refund.to_string().as_bytes(), &locations()).unwrap();
    assert_eq!(
        records,
        vec![json!({
            "type": "refund",
            "event_id": "shopify-refund-509562969",
            "ts": "2026-03-07T12:00:00-05:00",
            "store_id": "S1",
            "refund_id": "shopify-refund-509562969",
            "original_transaction_id": "shopify-450789469",
            "register_id": "shopify",
            "cashier_id": "shopify-staff-548380009",
            "tender_kind": "card",
            "reason": "wrong size",
            "lines": [{"sku": "K1", "qty": 1, "amount": "11.49"}]
        })]
    );
}

#[test]
fn a_product_is_priced_by_its_variants_and_costed_by_their_items_and_a_level_counts_stock() {
    use tillflow_data::shopify::{items_of, items_wanted};
    assert_eq!(items_wanted("products/update", PRODUCT.as_bytes()), ["808950810", "808950811"]);
    assert_eq!(items_wanted("inventory_levels/update", LEVEL.as_bytes()), ["808950810"]);
    assert!(items_wanted("orders/create", ORDER.as_bytes()).is_empty(), "orders name no item to fetch");
    let items = items_of(&serde_json::from_str(ITEMS).unwrap());
    let product = tillflow_data::shopify::map("products/update", PRODUCT.as_bytes(), &locations(), &items).unwrap();
    assert_eq!(
        product,
        [json!({
            "type": "product",
            "sku": "K9",
            "name": "Milk frother - Black",
            "category": "Appliances",
            "department": "Kaffa",
            "unit_cost": "14.50",
            "list_price": "39.00",
            "event_id": "shopify-variant-808950810-2026-03-07T09:00:00-05:00"
        })],
        "the variant without a SKU is left out"
    );
    let level = tillflow_data::shopify::map("inventory_levels/update", LEVEL.as_bytes(), &locations(), &items).unwrap();
    assert_eq!(
        level,
        [json!({
            "type": "inventory",
            "event_id": "shopify-level-808950810-655441491-2026-03-07T18:30:00-05:00",
            "ts": "2026-03-07T18:30:00-05:00",
            "store_id": "S1",
            "sku": "K9",
            "kind": "count",
            "qty": 6
        })]
    );
    // Without the item's cost (or SKU), it says what to set in Shopify.
    let why = tillflow_data::shopify::map("products/update", PRODUCT.as_bytes(), &locations(), &HashMap::new());
    assert!(why.unwrap_err().contains("variant K9 of product 632910392 has no cost in Shopify"));
    let why = tillflow_data::shopify::map("inventory_levels/update", LEVEL.as_bytes(), &locations(), &HashMap::new());
    assert!(why.unwrap_err().contains("inventory item 808950810 has no SKU"));
}

#[test]
fn what_does_not_map_says_why() {
    let empty = HashMap::new();
    let unmapped = map("orders/create", ORDER.as_bytes(), &empty).unwrap_err();
    assert!(unmapped.contains("location 655441491 is not mapped") && unmapped.contains("[sources.shopify] locations"));
    let online = ORDER.replace("\"location_id\": 655441491,", "\"location_id\": null,");
    assert!(map("orders/create", online.as_bytes(), &locations()).unwrap_err().contains("no location_id"));
    let topic = map("carts/update", ORDER.as_bytes(), &locations()).unwrap_err();
    assert!(topic.contains("`carts/update` is not mapped"), "{topic}");
    assert!(map("orders/create", b"not json", &locations()).unwrap_err().contains("not JSON"));
}

#[test]
fn a_body_kept_as_a_dead_letter_keeps_no_personal_data() {
    let mut order: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    order["billing_address"] = json!({"name": "Bob Norman", "address1": "Chestnut Street 92", "phone": "555-625-1199"});
    order["contact_email"] = json!("bob.norman@example.com");
    let kept = tillflow_data::shopify::without_personal_data(order.to_string().as_bytes());
    let kept: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    assert_eq!(kept["customer"], json!({"customer_ref": "shopify-customer-207119551"}));
    for gone in ["billing_address", "contact_email"] {
        assert!(kept.get(gone).is_none(), "{gone} is kept");
    }
    let text = kept.to_string();
    assert!(!text.contains("bob.norman") && !text.contains("Chestnut") && !text.contains("555-625"), "{text}");
    assert_eq!(kept["line_items"], order["line_items"], "what is not personal stays");
    assert_eq!(tillflow_data::shopify::without_personal_data(b"not json"), b"not json");
}

#[test]
fn the_signature_is_the_hmac_of_the_raw_body() {
    let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    // base64(HMAC-SHA256(key "hush", body)), computed with Python's hmac module.
    let signature = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=";
    assert!(verify(b"hush", body, signature));
    assert!(!verify(b"hush!", body, signature), "another secret");
    let reserialised = br#"{"id": 820982911946154508, "email": "jon@example.com"}"#;
    assert!(!verify(b"hush", reserialised, signature), "the same JSON with other whitespace");
    assert!(!verify(b"hush", body, ""), "no signature");
    assert!(!verify(b"hush", body, "not base64!"), "garbage");
}

/// Backfill: a file of orders as Shopify's Orders API lists them (an order with a refund inside,
/// a cancelled order, an order at an unmapped location) read with the canonical reference data
/// gives the views the same orders would have given as webhooks.
#[test]
fn an_orders_export_backfills_the_views() {
    let mut refunded: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    refunded["refunds"] = json!([{
        "id": 509562969, "order_id": 450789469, "created_at": "2026-03-07T12:00:00-05:00",
        "refund_line_items": [{"quantity": 1, "location_id": 655441491, "subtotal": "11.49",
                               "line_item": {"sku": "K1", "variant_id": 39072856}}],
        "transactions": [{"gateway": "cash", "amount": "11.49"}]
    }]);
    let mut cancelled: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    cancelled["id"] = json!(450789470);
    cancelled["cancelled_at"] = json!("2026-03-07T13:00:00-05:00");
    let mut elsewhere: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    elsewhere["id"] = json!(450789471);
    elsewhere["location_id"] = json!(999);
    let export = json!({"orders": [refunded, cancelled, elsewhere]});
    let backfill = crate::support::Backfill::new("shopify", "locations", "655441491", &export);
    let summary = backfill.run("run", &[], "views");
    assert_eq!(crate::support::dead_lettered(&summary), 1, "the unmapped order: {summary}");
    // The refunded order: 3 sold at 11.99 less 1.50 (34.47), 1 returned for 11.49: 22.98; the cancelled order
    // (post-voided) counts nowhere.
    let margin = backfill.sql("views", "SELECT units_sold, units_returned, net_sales FROM sku_margin WHERE sku = 'K1'");
    assert_eq!(margin, "units_sold,units_returned,net_sales\n3,1,22.98");
    let reason = backfill.sql("views", "SELECT reason FROM dead_letters");
    assert!(reason.contains("location 999 is not mapped"), "{reason}");
}

/// The round trip: a generated chain's sales and refunds written as Shopify orders (each refund
/// inside the order it cites), imported with `--source shopify`, give the same margins, to the
/// cent, as the canonical events themselves. What Shopify orders cannot say is left out of both
/// runs: voids, refunds without a receipt, and the promotion of a line (so `promo_units` is not
/// compared).
#[test]
fn a_generated_chain_as_shopify_orders_gives_the_same_margins() {
    use tillflow::source::{Epochs, Ingest, discover};
    use tillflow_schemas::{Event, Format};

    use crate::support::run_ok;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let chain = dir.path().join("chain");
    let config = tillflow_data::ChainConfig { stores: 3, days: 5, seed: 4, ..Default::default() };
    tillflow_data::generate(&chain, config, Format::Ndjson, &mut |_, _| {}).unwrap();
    let files = discover(&[chain]).unwrap();
    let events: Vec<Event> = Ingest::open(
        &files,
        Epochs::FAST,
        tillflow_schemas::time::RETENTION_MS,
        tillflow::pseudonyms::Pseudonyms::known(),
    )
    .filter_map(|item| item.into_accepted().map(|(_, event, _)| event))
    .collect();

    let sold: std::collections::HashSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Sale(sale) => Some(sale.transaction_id.to_string()),
            _ => None,
        })
        .collect();
    let keep = |event: &Event| match event {
        Event::Void(_) => false,
        Event::Refund(refund) => refund.original_transaction_id.as_ref().is_some_and(|t| sold.contains(t.as_str())),
        _ => true,
    };
    let canonical: Vec<&Event> = events.iter().filter(|e| keep(e)).collect();
    let location = |store: &str| format!("9{}", store.trim_start_matches(|c: char| !c.is_ascii_digit()));
    let mut locations = Vec::new();
    let mut other_lines = Vec::new();
    let mut orders: Vec<serde_json::Value> = Vec::new();
    let mut order_of = std::collections::HashMap::new();
    for event in &canonical {
        match event {
            Event::Store(store) => {
                locations.push(format!("\"{}\" = \"{}\"", location(store.store_id.as_str()), store.store_id));
                other_lines.push(event.to_json());
            }
            Event::Sale(sale) => {
                order_of.insert(sale.transaction_id.to_string(), orders.len());
                let total: i64 = sale.tenders.iter().map(|t| t.amount.0).sum();
                orders.push(json!({
                    "id": sale.transaction_id.as_str(),
                    "processed_at": tillflow_schemas::time::format_ts(sale.ts),
                    "location_id": location(sale.store_id.as_str()),
                    "user_id": sale.cashier_id.as_str(),
                    "total_price": tillflow_schemas::Cents(total).to_string(),
                    "customer": sale.customer_ref.as_ref().map(|c| json!({"id": c.as_str()})),
                    "line_items": sale.lines.iter().map(|l| json!({
                        "sku": l.sku.as_str(),
                        "quantity": l.qty,
                        "price": l.unit_price.to_string(),
                        "discount_allocations": [{"amount": l.discount.to_string()}],
                    })).collect::<Vec<_>>(),
                    "refunds": [],
                }));
            }
            Event::Refund(refund) => {
                let original = refund.original_transaction_id.as_ref().unwrap().to_string();
                let order = &mut orders[order_of[&original]];
                order["refunds"].as_array_mut().unwrap().push(json!({
                    "id": refund.refund_id.as_str(),
                    "order_id": original,
                    "processed_at": tillflow_schemas::time::format_ts(refund.ts),
                    "user_id": refund.cashier_id.as_str(),
                    "refund_line_items": refund.lines.iter().map(|l| json!({
                        "quantity": l.qty,
                        "location_id": location(refund.store_id.as_str()),
                        "subtotal": l.amount.to_string(),
                        "line_item": {"sku": l.sku.as_str()},
                    })).collect::<Vec<_>>(),
                    "transactions": [{"gateway": "cash"}],
                }));
            }
            _ => other_lines.push(event.to_json()),
        }
    }
    assert!(orders.len() > 300 && orders.iter().any(|o| !o["refunds"].as_array().unwrap().is_empty()));
    let canonical_lines: Vec<String> = canonical.iter().map(|e| e.to_json()).collect();
    std::fs::write(path("canonical.ndjson"), canonical_lines.join("\n")).unwrap();
    std::fs::write(path("other.ndjson"), other_lines.join("\n")).unwrap();
    std::fs::write(path("orders.json"), json!({ "orders": orders }).to_string()).unwrap();
    std::fs::write(path("tillflow.toml"), format!("[sources.shopify]\nlocations = {{ {} }}\n", locations.join(", ")))
        .unwrap();

    run_ok(&["run", "--input", &path("canonical.ndjson"), "--out", &path("canonical")]);
    let summary = run_ok(&[
        "run",
        "--input",
        &path("other.ndjson"),
        "--input",
        &path("orders.json"),
        "--source",
        "shopify",
        "--config",
        &path("tillflow.toml"),
        "--out",
        &path("shopify"),
    ]);
    let dead = summary.lines().find(|l| l.trim_start().starts_with("dead-lettered")).unwrap();
    assert!(dead.ends_with(" 0"), "{summary}");
    let margins = |out: &str| {
        run_ok(&[
            "sql",
            "--out",
            &path(out),
            "--format",
            "csv",
            "SELECT store_id, sku, business_date, units_sold, units_returned, gross_sales, discounts, refunds, \
             net_sales, cogs, gross_margin FROM sku_margin ORDER BY 1, 2, 3",
        ])
    };
    let (want, got) = (margins("canonical"), margins("shopify"));
    assert!(want.lines().count() > 300, "{want}");
    assert_eq!(got, want, "sku_margin from Shopify orders differs from the canonical events'");
}
