//! Accepted events, flattened into the records each dataflow input takes.

use chrono_tz::Tz;
use differential_dataflow::input::InputSession;
use rustc_hash::FxHashMap;
use tillflow_operators::{CatalogCost, InventoryRec, PostVoid, Receipt, RefundLineRec, SaleLineRec};
use tillflow_schemas::time::local_day;
use tillflow_schemas::{Day, Event, Id, InventoryKind, Millis, VoidScope};

use crate::source::Epoch;

/// The input handles of the dataflow, one per input collection.
pub struct Inputs {
    pub sale_lines: InputSession<Epoch, SaleLineRec, isize>,
    pub refund_lines: InputSession<Epoch, RefundLineRec, isize>,
    pub post_voids: InputSession<Epoch, PostVoid, isize>,
    pub receipts: InputSession<Epoch, Receipt, isize>,
    pub catalog: InputSession<Epoch, CatalogCost, isize>,
    pub inventory: InputSession<Epoch, InventoryRec, isize>,
    /// Each store's local day of the watermark.
    pub watermark_days: InputSession<Epoch, (Id, Day), isize>,
    pub watermark: Watermark,
}

/// Allowed lateness: the watermark trails the latest event time by this much (DESIGN.md, Time).
pub const ALLOWED_LATENESS_MS: Millis = 3_600_000;

/// The latest event time seen, the stores' zones, and the watermark days last published.
#[derive(Default)]
pub struct Watermark {
    latest: Option<Millis>,
    zones: FxHashMap<Id, Tz>,
    published: FxHashMap<Id, Day>,
}

impl Watermark {
    pub fn observe(&mut self, event: &Event) {
        if let Some(ts) = event.ts() {
            self.latest = Some(self.latest.map_or(ts, |l| l.max(ts)));
        }
        if let Event::Store(store) = event {
            self.zones.insert(store.store_id.clone(), store.timezone);
        }
    }

    /// The changes that bring each store's published watermark day up to date.
    fn changes(&mut self) -> Vec<((Id, Day), isize)> {
        let Some(latest) = self.latest else { return Vec::new() };
        let mut changes = Vec::new();
        for (store, tz) in &self.zones {
            let day = local_day(latest - ALLOWED_LATENESS_MS, *tz);
            match self.published.insert(store.clone(), day) {
                Some(old) if old == day => {}
                Some(old) => {
                    changes.push(((store.clone(), old), -1));
                    changes.push(((store.clone(), day), 1));
                }
                None => changes.push(((store.clone(), day), 1)),
            }
        }
        changes
    }
}

impl Inputs {
    /// Feeds one accepted event; `business_date` is its store-local day where it has one.
    pub fn push(&mut self, event: Event, business_date: Option<Day>) {
        self.watermark.observe(&event);
        let day = business_date.unwrap_or_default();
        match event {
            Event::Sale(sale) => {
                for line in sale.lines {
                    self.sale_lines.insert(SaleLineRec {
                        store_id: sale.store_id.clone(),
                        transaction_id: sale.transaction_id.clone(),
                        line_no: line.line_no,
                        business_date: day,
                        ts: sale.ts,
                        cashier_id: sale.cashier_id.clone(),
                        customer_ref: sale.customer_ref.clone(),
                        sku: line.sku,
                        qty: line.qty,
                        unit_price: line.unit_price,
                        discount: line.discount,
                        promo_id: line.promo_id,
                    });
                }
            }
            Event::Refund(refund) => {
                for (index, line) in refund.lines.into_iter().enumerate() {
                    self.refund_lines.insert(RefundLineRec {
                        store_id: refund.store_id.clone(),
                        refund_id: refund.refund_id.clone(),
                        line_index: index as u32,
                        business_date: day,
                        ts: refund.ts,
                        cashier_id: refund.cashier_id.clone(),
                        original_transaction_id: refund.original_transaction_id.clone(),
                        sku: line.sku,
                        qty: line.qty,
                        amount: line.amount,
                    });
                }
            }
            Event::Void(void) if void.scope == VoidScope::Post => {
                self.post_voids.insert((void.store_id, void.transaction_id));
            }
            Event::Inventory(inv) => {
                if let (InventoryKind::Receipt, Some(unit_cost)) = (inv.kind, inv.unit_cost) {
                    self.receipts.insert(Receipt {
                        store_id: inv.store_id.clone(),
                        sku: inv.sku.clone(),
                        business_date: day,
                        ts: inv.ts,
                        event_id: inv.event_id.clone(),
                        unit_cost,
                    });
                }
                let qty = if inv.kind == InventoryKind::TransferOut { -inv.qty } else { inv.qty };
                self.inventory.insert(InventoryRec {
                    store_id: inv.store_id,
                    sku: inv.sku,
                    ts: inv.ts,
                    event_id: inv.event_id,
                    is_count: inv.kind == InventoryKind::Count,
                    qty,
                });
            }
            Event::Product(product) => {
                self.catalog.insert(CatalogCost {
                    sku: product.sku,
                    ts: product.ts,
                    event_id: product.event_id,
                    unit_cost: product.unit_cost,
                });
            }
            // Line voids, loyalty, erasures, shifts, stores and promotions feed the views that
            // use them; none of the views built so far does.
            _ => {}
        }
    }

    /// Publishes the watermark reached by the events pushed so far, at the current epoch.
    pub fn publish_watermark(&mut self) {
        for (change, diff) in self.watermark.changes() {
            self.watermark_days.update(change, diff);
        }
    }

    pub fn advance_to(&mut self, epoch: Epoch) {
        self.sale_lines.advance_to(epoch);
        self.refund_lines.advance_to(epoch);
        self.post_voids.advance_to(epoch);
        self.receipts.advance_to(epoch);
        self.catalog.advance_to(epoch);
        self.inventory.advance_to(epoch);
        self.watermark_days.advance_to(epoch);
    }

    pub fn flush(&mut self) {
        self.sale_lines.flush();
        self.refund_lines.flush();
        self.post_voids.flush();
        self.receipts.flush();
        self.catalog.flush();
        self.inventory.flush();
        self.watermark_days.flush();
    }
}
