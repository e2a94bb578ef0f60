//! The events as flat Arrow tables, one per kind of record: what the reference SQL of every view
//! (`queries/*.sql`) runs over. Money is `DECIMAL(18,2)`, instants UTC millisecond timestamps.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;

use crate::Cents;
use crate::event::*;
use crate::raw::{INVENTORY_KINDS, SHIFT_KINDS, TENDER_KINDS, VOID_SCOPES, name_of};

pub const MONEY: DataType = DataType::Decimal128(18, 2);

pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

struct Table {
    name: &'static str,
    schema: fn() -> SchemaRef,
}

macro_rules! schema {
    ($($name:literal : $ty:expr, $null:literal);* $(;)?) => {
        || Arc::new(Schema::new(vec![$(Field::new($name, $ty, $null)),*]))
    };
}

const TABLES: &[Table] = &[
    Table {
        name: "store_records",
        schema: schema!("store_id": DataType::Utf8, false; "name": DataType::Utf8, false; "district": DataType::Utf8, false; "region": DataType::Utf8, false; "timezone": DataType::Utf8, false; "event_id": DataType::Utf8, true; "ts": timestamp(), true),
    },
    Table {
        name: "product_records",
        schema: schema!("sku": DataType::Utf8, false; "name": DataType::Utf8, false; "category": DataType::Utf8, false; "department": DataType::Utf8, false; "unit_cost": MONEY, false; "list_price": MONEY, false; "supplier": DataType::Utf8, true; "lead_time_days": DataType::Int64, true; "case_pack": DataType::Int64, true; "event_id": DataType::Utf8, true; "ts": timestamp(), true),
    },
    Table {
        name: "promotion_records",
        schema: schema!("promo_id": DataType::Utf8, false; "sku": DataType::Utf8, true; "category": DataType::Utf8, true; "start": timestamp(), false; "end": timestamp(), false; "discount_pct": DataType::Decimal128(5, 2), false; "event_id": DataType::Utf8, true; "ts": timestamp(), true),
    },
    Table {
        name: "sale_lines",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "transaction_id": DataType::Utf8, false; "register_id": DataType::Utf8, false; "cashier_id": DataType::Utf8, false; "customer_ref": DataType::Utf8, true; "line_no": DataType::Int64, false; "sku": DataType::Utf8, false; "qty": DataType::Int64, false; "unit_price": MONEY, false; "discount": MONEY, false; "promo_id": DataType::Utf8, true),
    },
    Table {
        name: "sale_tenders",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "transaction_id": DataType::Utf8, false; "kind": DataType::Utf8, false; "amount": MONEY, false),
    },
    Table {
        name: "refund_lines",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "refund_id": DataType::Utf8, false; "register_id": DataType::Utf8, false; "cashier_id": DataType::Utf8, false; "original_transaction_id": DataType::Utf8, true; "tender_kind": DataType::Utf8, false; "reason": DataType::Utf8, true; "line_no": DataType::Int64, false; "sku": DataType::Utf8, false; "qty": DataType::Int64, false; "amount": MONEY, false),
    },
    Table {
        name: "voids",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "transaction_id": DataType::Utf8, false; "register_id": DataType::Utf8, false; "cashier_id": DataType::Utf8, false; "scope": DataType::Utf8, false),
    },
    Table {
        name: "void_lines",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "transaction_id": DataType::Utf8, false; "line_no": DataType::Int64, true; "sku": DataType::Utf8, false; "qty": DataType::Int64, false; "unit_price": MONEY, true),
    },
    Table {
        name: "loyalty_links",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, true; "customer_ref": DataType::Utf8, false; "customer_id": DataType::Utf8, false; "consent": DataType::Boolean, false),
    },
    Table {
        name: "erasures",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, true; "customer_id": DataType::Utf8, false),
    },
    Table {
        name: "inventory",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "sku": DataType::Utf8, false; "kind": DataType::Utf8, false; "qty": DataType::Int64, false; "unit_cost": MONEY, true),
    },
    Table {
        name: "shifts",
        schema: schema!("event_id": DataType::Utf8, false; "ts": timestamp(), false; "store_id": DataType::Utf8, false; "staff_id": DataType::Utf8, false; "role": DataType::Utf8, false; "kind": DataType::Utf8, false),
    },
];

/// Money as decimal text, which Arrow's JSON decoder reads exactly into `DECIMAL(18,2)`.
fn money(c: Cents) -> String {
    c.to_string()
}

/// Accumulates accepted events as rows of the event tables.
#[derive(Default)]
pub struct EventTables {
    rows: Vec<Vec<serde_json::Value>>,
}

impl EventTables {
    pub fn new() -> Self {
        EventTables { rows: vec![Vec::new(); TABLES.len()] }
    }

    fn add(&mut self, table: &str, row: impl Serialize) {
        let index = TABLES.iter().position(|t| t.name == table).expect("a known table");
        self.rows[index].push(serde_json::to_value(row).expect("rows serialize"));
    }

    pub fn push(&mut self, event: &Event) {
        match event {
            Event::Store(s) => self.add(
                "store_records",
                serde_json::json!({
                    "store_id": s.store_id, "name": s.name, "district": s.district, "region": s.region,
                    "timezone": s.timezone.name(), "event_id": s.event_id, "ts": s.ts,
                }),
            ),
            Event::Product(p) => self.add(
                "product_records",
                serde_json::json!({
                    "sku": p.sku, "name": p.name, "category": p.category, "department": p.department,
                    "unit_cost": money(p.unit_cost), "list_price": money(p.list_price), "supplier": p.supply.supplier,
                    "lead_time_days": p.supply.lead_time_days, "case_pack": p.supply.case_pack,
                    "event_id": p.event_id, "ts": p.ts,
                }),
            ),
            Event::Promotion(p) => {
                let (sku, category) = match &p.target {
                    PromoTarget::Sku(s) => (Some(s), None),
                    PromoTarget::Category(c) => (None, Some(c)),
                };
                self.add(
                    "promotion_records",
                    serde_json::json!({
                        "promo_id": p.promo_id, "sku": sku, "category": category, "start": p.start, "end": p.end,
                        "discount_pct": money(Cents(p.discount_bp)), "event_id": p.event_id, "ts": p.ts,
                    }),
                );
            }
            Event::Sale(s) => {
                for l in &s.lines {
                    self.add("sale_lines", serde_json::json!({
                        "event_id": s.event_id, "ts": s.ts, "store_id": s.store_id,
                        "transaction_id": s.transaction_id, "register_id": s.register_id, "cashier_id": s.cashier_id,
                        "customer_ref": s.customer_ref, "line_no": l.line_no, "sku": l.sku, "qty": l.qty,
                        "unit_price": money(l.unit_price), "discount": money(l.discount), "promo_id": l.promo_id,
                    }));
                }
                for t in &s.tenders {
                    self.add("sale_tenders", serde_json::json!({
                        "event_id": s.event_id, "ts": s.ts, "store_id": s.store_id, "transaction_id": s.transaction_id,
                        "kind": name_of(TENDER_KINDS, t.kind), "amount": money(t.amount),
                    }));
                }
            }
            Event::Refund(r) => {
                for (i, l) in r.lines.iter().enumerate() {
                    self.add("refund_lines", serde_json::json!({
                        "event_id": r.event_id, "ts": r.ts, "store_id": r.store_id, "refund_id": r.refund_id,
                        "register_id": r.register_id, "cashier_id": r.cashier_id,
                        "original_transaction_id": r.original_transaction_id, "tender_kind": name_of(TENDER_KINDS, r.tender_kind),
                        "reason": r.reason, "line_no": i + 1, "sku": l.sku, "qty": l.qty, "amount": money(l.amount),
                    }));
                }
            }
            Event::Void(v) => {
                self.add("voids", serde_json::json!({
                    "event_id": v.event_id, "ts": v.ts, "store_id": v.store_id, "transaction_id": v.transaction_id,
                    "register_id": v.register_id, "cashier_id": v.cashier_id, "scope": name_of(VOID_SCOPES, v.scope),
                }));
                for l in &v.lines {
                    self.add("void_lines", serde_json::json!({
                        "event_id": v.event_id, "ts": v.ts, "store_id": v.store_id, "transaction_id": v.transaction_id,
                        "line_no": l.line_no, "sku": l.sku, "qty": l.qty, "unit_price": l.unit_price.map(money),
                    }));
                }
            }
            Event::LoyaltyLink(l) => self.add(
                "loyalty_links",
                serde_json::json!({
                    "event_id": l.event_id, "ts": l.ts, "store_id": l.store_id, "customer_ref": l.customer_ref,
                    "customer_id": l.customer_id, "consent": l.consent,
                }),
            ),
            Event::Erasure(e) => self.add(
                "erasures",
                serde_json::json!({
                    "event_id": e.event_id, "ts": e.ts, "store_id": e.store_id, "customer_id": e.customer_id,
                }),
            ),
            Event::Inventory(i) => self.add(
                "inventory",
                serde_json::json!({
                    "event_id": i.event_id, "ts": i.ts, "store_id": i.store_id, "sku": i.sku,
                    "kind": name_of(INVENTORY_KINDS, i.kind), "qty": i.qty, "unit_cost": i.unit_cost.map(money),
                }),
            ),
            Event::Shift(s) => self.add(
                "shifts",
                serde_json::json!({
                    "event_id": s.event_id, "ts": s.ts, "store_id": s.store_id, "staff_id": s.staff_id,
                    "role": s.role, "kind": name_of(SHIFT_KINDS, s.kind),
                }),
            ),
            // No view is derived from the manager's actions by SQL: `exception_history` folds them.
            Event::ExceptionAction(_) => {}
        }
    }

    /// Every event table as one record batch (empty tables included).
    pub fn batches(&self) -> Result<Vec<(&'static str, RecordBatch)>, arrow::error::ArrowError> {
        TABLES
            .iter()
            .zip(&self.rows)
            .map(|(table, rows)| {
                let schema = (table.schema)();
                let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
                    .with_batch_size(rows.len().max(1))
                    .build_decoder()?;
                decoder.serialize(rows)?;
                let batch = decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema));
                Ok((table.name, batch))
            })
            .collect()
    }
}
