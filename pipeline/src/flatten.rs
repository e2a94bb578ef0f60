//! Accepted events, flattened into the records each dataflow input takes.

use differential_dataflow::input::InputSession;
use tillflow_operators::{CatalogCost, PostVoid, Receipt, RefundLineRec, SaleLineRec};
use tillflow_schemas::{Day, Event, InventoryKind, VoidScope};

use crate::source::Epoch;

/// The input handles of the dataflow, one per input collection.
pub struct Inputs {
    pub sale_lines: InputSession<Epoch, SaleLineRec, isize>,
    pub refund_lines: InputSession<Epoch, RefundLineRec, isize>,
    pub post_voids: InputSession<Epoch, PostVoid, isize>,
    pub receipts: InputSession<Epoch, Receipt, isize>,
    pub catalog: InputSession<Epoch, CatalogCost, isize>,
}

impl Inputs {
    /// Feeds one accepted event; `business_date` is its store-local day where it has one.
    pub fn push(&mut self, event: Event, business_date: Option<Day>) {
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
            Event::Inventory(inv) if inv.kind == InventoryKind::Receipt => {
                if let Some(unit_cost) = inv.unit_cost {
                    self.receipts.insert(Receipt {
                        store_id: inv.store_id,
                        sku: inv.sku,
                        business_date: day,
                        ts: inv.ts,
                        event_id: inv.event_id,
                        unit_cost,
                    });
                }
            }
            Event::Product(product) => {
                self.catalog.insert(CatalogCost {
                    sku: product.sku,
                    ts: product.ts,
                    event_id: product.event_id,
                    unit_cost: product.unit_cost,
                });
            }
            // Line voids, loyalty, erasures, counts, shifts, stores and promotions feed the views
            // that use them; sku_margin does not.
            _ => {}
        }
    }

    pub fn advance_to(&mut self, epoch: Epoch) {
        self.sale_lines.advance_to(epoch);
        self.refund_lines.advance_to(epoch);
        self.post_voids.advance_to(epoch);
        self.receipts.advance_to(epoch);
        self.catalog.advance_to(epoch);
    }

    pub fn flush(&mut self) {
        self.sale_lines.flush();
        self.refund_lines.flush();
        self.post_voids.flush();
        self.receipts.flush();
        self.catalog.flush();
    }
}
