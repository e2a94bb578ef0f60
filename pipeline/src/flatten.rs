//! Accepted events, flattened into the records each dataflow input takes.

use chrono_tz::Tz;
use differential_dataflow::input::InputSession;
use rustc_hash::FxHashMap;
use tillflow_operators::{
    InventoryRec, LineRec, LinkRec, ProductRec, PromotionRec, Receipt, RefundLineRec, RefundRec, SaleRec, ShiftRec,
    StoreRec, TenderRec, VoidRec,
};
use tillflow_schemas::time::local_hour;
use tillflow_schemas::views::DeadLetter;
use tillflow_schemas::{Day, Event, Id, InventoryKind, Key, Millis, PromoTarget, ShiftKind, VoidScope};

use crate::clock::StoreClocks;
use crate::retention::Retention;
use crate::source::{Counts, Epoch};

/// The input handles of the dataflow, one per input collection.
pub struct Inputs {
    /// Each sale with its lines, as one record: post-voids are matched per sale, not per line.
    pub sales: InputSession<Epoch, SaleRec, isize>,
    /// Each refund with its lines.
    pub refunds: InputSession<Epoch, RefundRec, isize>,
    pub voids: InputSession<Epoch, VoidRec, isize>,
    pub shifts: InputSession<Epoch, ShiftRec, isize>,
    pub stores: InputSession<Epoch, StoreRec, isize>,
    pub receipts: InputSession<Epoch, Receipt, isize>,
    /// Product records: the `products` table, and the catalog costs the views read.
    pub products: InputSession<Epoch, ProductRec, isize>,
    pub promotions: InputSession<Epoch, PromotionRec, isize>,
    pub inventory: InputSession<Epoch, InventoryRec, isize>,
    pub links: InputSession<Epoch, LinkRec, isize>,
    /// The customers who asked to be erased.
    pub erasures: InputSession<Epoch, Id, isize>,
    /// The latest event time of each store this process admits; the graph takes the watermark
    /// from the second latest of all (see [`StoreClocks::chain`]).
    pub latest: InputSession<Epoch, (Id, Millis), isize>,
    /// Dead letters, gathered into one view whichever process judged them (runs over files).
    pub dead_letters: InputSession<Epoch, DeadLetter, isize>,
    /// Each feeding process's counts, summed on worker 0 (runs over files).
    pub counts: InputSession<Epoch, Counts, isize>,
    pub watermark: Watermark,
    /// The events within the retention, taken back as the watermark leaves their days behind.
    pub retention: Retention,
}

/// Each store's latest event time accepted here (and the one last published to the graph), and
/// the stores' zones.
#[derive(Default)]
pub struct Watermark {
    clocks: StoreClocks,
    /// How far the watermark trails the chain's clock.
    pub lateness: Millis,
    zones: FxHashMap<Id, Tz>,
    published: FxHashMap<Id, Millis>,
}

impl Watermark {
    pub fn new(lateness: Millis) -> Self {
        Watermark { lateness, ..Default::default() }
    }

    /// The watermark: the chain's clock (see [`StoreClocks::chain`]) less the allowed lateness.
    pub fn at(&self) -> Option<Millis> {
        self.latest().map(|l| l - self.lateness)
    }

    /// The chain's clock.
    pub fn latest(&self) -> Option<Millis> {
        self.clocks.chain()
    }

    pub fn observe(&mut self, event: &Event) {
        if let (Some(store), Some(ts)) = (event.dated_by_store(), event.ts()) {
            self.clocks.observe(store, ts);
        }
        self.learn(event);
    }

    /// Learns a store's zone from its record, without taking its time.
    fn learn(&mut self, event: &Event) {
        if let Event::Store(store) = event {
            self.zones.insert(store.store_id, store.timezone);
        }
    }

    /// A store's zone (UTC for a store not yet seen).
    pub fn zone(&self, store: &Id) -> Tz {
        self.zones.get(store).copied().unwrap_or(Tz::UTC)
    }
}

/// Calls a method on every input session.
macro_rules! every_session {
    ($inputs:ident, $($call:tt)*) => {
        $inputs.sales.$($call)*;
        $inputs.refunds.$($call)*;
        $inputs.voids.$($call)*;
        $inputs.shifts.$($call)*;
        $inputs.stores.$($call)*;
        $inputs.receipts.$($call)*;
        $inputs.products.$($call)*;
        $inputs.promotions.$($call)*;
        $inputs.inventory.$($call)*;
        $inputs.links.$($call)*;
        $inputs.erasures.$($call)*;
        $inputs.latest.$($call)*;
        $inputs.dead_letters.$($call)*;
        $inputs.counts.$($call)*;
    };
}

impl Inputs {
    /// Feeds one accepted event; `business_date` is its store-local day where it has one.
    pub fn push(&mut self, event: Event, business_date: Option<Day>) {
        self.watermark.observe(&event);
        let zone = event.dated_by_store().map_or(Tz::UTC, |store| self.watermark.zone(store));
        self.retention.keep(&event, business_date, zone, *self.sales.time());
        self.feed(event, business_date, zone, 1);
    }

    /// Takes back an event fed before, as if it had never come (benchmarks apply and take back
    /// the same batch). The watermark stays where it is. Only what is still kept is taken back,
    /// as it was fed (its zone then): an event whose day has left was taken back when it left.
    pub fn retract(&mut self, event: Event, business_date: Option<Day>) {
        if let Some(kept) = self.retention.unkeep(&event, business_date) {
            self.feed(kept.event, kept.business_date, kept.zone, -1);
        }
    }

    /// Takes back a sale's revision that a later one replaces, likewise.
    pub fn supersede(&mut self, earlier: &crate::source::Superseded) {
        let crate::source::Superseded { event_id, store_id, business_date } = earlier;
        if let Some(kept) = self.retention.unkeep_by_id(*store_id, *business_date, event_id) {
            self.feed(kept.event, kept.business_date, kept.zone, -1);
        }
    }

    /// Takes back the events of the days the watermark has left beyond the retention, and feeds
    /// what they leave behind (see [`crate::retention`]).
    pub fn expire(&mut self) {
        let watermark = &self.watermark;
        let expired = self.retention.expire(watermark.at(), |store| watermark.zone(store));
        for kept in expired.events {
            self.feed(kept.event, kept.business_date, kept.zone, -1);
        }
        for (receipt, diff) in expired.receipts {
            self.receipts.update(receipt, diff);
        }
        for (opening, diff) in expired.openings {
            self.inventory.update(opening, diff);
        }
    }

    /// Feeds again what a checkpoint says the days beyond the retention left behind.
    pub fn restore(&mut self, settled: crate::retention::Settled) {
        for receipt in &settled.receipts {
            self.receipts.insert(receipt.clone());
        }
        for opening in &settled.openings {
            self.inventory.insert(opening.clone());
        }
        self.retention.restore(settled);
    }

    /// Feeds (or takes back) the records of an event of a store in `zone`.
    fn feed(&mut self, event: Event, business_date: Option<Day>, zone: Tz, diff: isize) {
        let day = business_date.unwrap_or_default();
        match event {
            Event::Sale(sale) => {
                let record = SaleRec {
                    store_id: sale.store_id,
                    transaction: Key::of(&sale.transaction_id),
                    business_date: day,
                    hour: local_hour(sale.ts, zone),
                    ts: sale.ts,
                    register_id: sale.register_id,
                    cashier_id: sale.cashier_id,
                    card: sale.customer_ref.as_deref().map(Key::of),
                    tenders: sale.tenders.iter().map(|t| TenderRec { kind: t.kind, amount: t.amount }).collect(),
                    lines: sale
                        .lines
                        .into_iter()
                        .map(|line| LineRec {
                            sku: line.sku,
                            qty: line.qty,
                            unit_price: line.unit_price,
                            discount: line.discount,
                            promo_id: line.promo_id,
                        })
                        .collect(),
                };
                self.sales.update(record, diff);
            }
            Event::Refund(refund) => {
                let record = RefundRec {
                    store_id: refund.store_id,
                    refund_id: refund.refund_id,
                    business_date: day,
                    hour: local_hour(refund.ts, zone),
                    ts: refund.ts,
                    register_id: refund.register_id,
                    cashier_id: refund.cashier_id,
                    original: refund.original_transaction_id.map(|text| (Key::of(&text), text)),
                    tender_kind: refund.tender_kind,
                    lines: refund
                        .lines
                        .into_iter()
                        .map(|line| RefundLineRec { sku: line.sku, qty: line.qty, amount: line.amount })
                        .collect(),
                };
                self.refunds.update(record, diff);
            }
            Event::Void(void) => {
                self.voids.update(
                    VoidRec {
                        store_id: void.store_id,
                        transaction: Key::of(&void.transaction_id),
                        transaction_id: void.transaction_id,
                        business_date: day,
                        register_id: void.register_id,
                        cashier_id: void.cashier_id,
                        post: void.scope == VoidScope::Post,
                        lines: void.lines.len() as i64,
                    },
                    diff,
                );
            }
            Event::Shift(shift) => {
                let timezone = Id::from(zone.name());
                self.shifts.update(
                    ShiftRec {
                        store_id: shift.store_id,
                        staff_id: shift.staff_id,
                        ts: shift.ts,
                        event_id: shift.event_id,
                        clock_in: shift.kind == ShiftKind::ClockIn,
                        timezone,
                    },
                    diff,
                );
            }
            Event::Store(store) => {
                self.stores.update(
                    StoreRec {
                        store_id: store.store_id,
                        ts: store.ts,
                        event_id: store.event_id,
                        name: store.name.as_str().into(),
                        district: store.district,
                        region: store.region,
                        timezone: Id::from(store.timezone.name()),
                    },
                    diff,
                );
            }
            Event::Inventory(inv) => {
                if let (InventoryKind::Receipt, Some(unit_cost)) = (inv.kind, inv.unit_cost) {
                    self.receipts.update(
                        Receipt {
                            store_id: inv.store_id,
                            sku: inv.sku,
                            business_date: day,
                            ts: inv.ts,
                            event_id: inv.event_id.clone(),
                            unit_cost,
                        },
                        diff,
                    );
                }
                let qty = if inv.kind == InventoryKind::TransferOut { -inv.qty } else { inv.qty };
                self.inventory.update(
                    InventoryRec {
                        store_id: inv.store_id,
                        sku: inv.sku,
                        ts: inv.ts,
                        business_date: day,
                        event_id: inv.event_id,
                        is_count: inv.kind == InventoryKind::Count,
                        qty,
                    },
                    diff,
                );
            }
            Event::Product(product) => {
                self.products.update(
                    ProductRec {
                        sku: product.sku,
                        ts: product.ts,
                        event_id: product.event_id,
                        name: product.name.as_str().into(),
                        category: product.category,
                        department: product.department,
                        unit_cost: product.unit_cost,
                        list_price: product.list_price,
                        supply: product.supply,
                    },
                    diff,
                );
            }
            Event::LoyaltyLink(link) => {
                self.links.update(
                    LinkRec {
                        card: Key::of(&link.customer_ref),
                        ts: link.ts,
                        event_id: link.event_id,
                        consent: link.consent,
                        customer_id: link.customer_id,
                    },
                    diff,
                );
            }
            Event::Erasure(erasure) => self.erasures.update(erasure.customer_id, diff),
            // The manager's actions make `exception_history`, beside the dataflow (`crate::history`).
            Event::ExceptionAction(_) => {}
            Event::Promotion(promotion) => {
                let (sku, category) = match promotion.target {
                    PromoTarget::Sku(sku) => (Some(sku), None),
                    PromoTarget::Category(category) => (None, Some(category)),
                };
                self.promotions.update(
                    PromotionRec {
                        promo_id: promotion.promo_id,
                        ts: promotion.ts,
                        event_id: promotion.event_id,
                        sku,
                        category,
                        start: promotion.start,
                        end: promotion.end,
                        discount_bp: promotion.discount_bp,
                    },
                    diff,
                );
            }
        }
    }

    /// Another process's reference record: its store's zone is learned, nothing is fed.
    pub fn learn(&mut self, event: &Event) {
        self.watermark.learn(event);
    }

    /// Publishes each store's latest event time that moved since the last call, at the current epoch.
    pub fn publish_watermark(&mut self) {
        let Watermark { clocks, published, .. } = &mut self.watermark;
        for (store, latest) in clocks.stores() {
            match published.insert(*store, latest) {
                Some(old) if old == latest => continue,
                Some(old) => self.latest.update((*store, old), -1),
                None => {}
            }
            self.latest.insert((*store, latest));
        }
    }

    /// Publishes the watermark and closes every epoch before `next`, sending what they hold.
    pub fn close(&mut self, next: Epoch) {
        self.expire();
        self.publish_watermark();
        self.advance_to(next);
        self.flush();
    }

    pub fn advance_to(&mut self, epoch: Epoch) {
        every_session!(self, advance_to(epoch));
    }

    pub fn flush(&mut self) {
        every_session!(self, flush());
    }
}
