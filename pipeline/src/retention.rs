//! Retention: the events of business days older than the retention leave the graph as the
//! watermark passes them, so every view and the state behind it stay bounded however long a
//! run lasts.
//!
//! A store's business day `d` leaves once `d` is before the store-local date of
//! `watermark − retention`; admission already refuses an event dated that far back, so a day
//! that left never comes back. What leaves, and what stays:
//!
//! - sales, refunds, voids, shifts and inventory events of such days are taken back, as if they
//!   had never come: their rows leave `sku_margin`, `labor_demand`, the anomalies and the
//!   exceptions, and the customers' trailing windows lose them;
//! - stock is cumulative, so what the days that left did to a (store, sku) is folded into one
//!   **opening** record: the stock as of the last day that left, as a count at the instant of
//!   the last count that left (so `last_count_at` stays true), or, with no count ever, as one
//!   movement. `inventory_position` is unchanged by the folding;
//! - the latest receipt of each (store, sku) that left stays as its cost basis: it prices the
//!   sales after it until a newer receipt does;
//! - reference records (stores, products, loyalty links, erasures, promotions) never leave.
//!
//! What is kept here is also what a checkpoint of the ingest log writes: the events still
//! within the retention, in the order they came, and the openings and cost bases.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tillflow_operators::{InventoryRec, Receipt};
use tillflow_schemas::time::local_day;
use tillflow_schemas::{Day, Epoch, Event, Id, InventoryKind, Key, Millis, Text, VoidScope};

/// An event still within the retention, as it was fed.
#[derive(Clone, Debug)]
pub struct Kept {
    /// Its place in the order events were fed.
    pub seq: u64,
    pub event: Event,
    pub business_date: Option<Day>,
    /// Its store's zone when it was fed: taking it back rebuilds exactly the records fed.
    pub zone: Tz,
    /// The epoch it was fed in.
    pub epoch: Epoch,
}

/// What the folded days left behind: one record per (store, sku) in each input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settled {
    /// The latest receipt of each (store, sku) among the days that left.
    pub receipts: Vec<Receipt>,
    /// The stock each (store, sku) had when its last day left.
    pub openings: Vec<InventoryRec>,
}

/// The changes one expiry makes to the graph's inputs.
#[derive(Debug, Default)]
pub struct Expired {
    /// Events to take back.
    pub events: Vec<Kept>,
    pub receipts: Vec<(Receipt, isize)>,
    pub openings: Vec<(InventoryRec, isize)>,
}

/// The event id of an opening that stands for movements only (no count has left).
const OPENING: &str = "~opening";

/// The events within the retention, and what the days before it left behind.
#[derive(Debug)]
pub struct Retention {
    retention_ms: Millis,
    /// Store-dated events by store and business day.
    dated: FxHashMap<Id, BTreeMap<Day, Vec<Kept>>>,
    /// Reference records, kept for ever.
    reference: Vec<Kept>,
    next_seq: u64,
    /// How many kept post-voids name each (store, transaction).
    post_voided: FxHashMap<(Id, Key), u32>,
    receipts: FxHashMap<(Id, Id), Receipt>,
    openings: FxHashMap<(Id, Id), InventoryRec>,
    /// Events taken back so far.
    pub expired: u64,
}

impl Retention {
    pub fn new(retention_ms: Millis) -> Retention {
        Retention {
            retention_ms,
            dated: FxHashMap::default(),
            reference: Vec::new(),
            next_seq: 0,
            post_voided: FxHashMap::default(),
            receipts: FxHashMap::default(),
            openings: FxHashMap::default(),
            expired: 0,
        }
    }

    /// Keeps an event just fed.
    pub fn keep(&mut self, event: &Event, business_date: Option<Day>, zone: Tz, epoch: Epoch) {
        if let Some(key) = post_void(event) {
            *self.post_voided.entry(key).or_default() += 1;
        }
        let kept = Kept { seq: self.next_seq, event: event.clone(), business_date, zone, epoch };
        self.next_seq += 1;
        match (event.dated_by_store(), business_date) {
            (Some(store), Some(day)) => self.dated.entry(*store).or_default().entry(day).or_default().push(kept),
            _ => self.reference.push(kept),
        }
    }

    /// Forgets an event taken back (a sale's revision replaced; the benchmarks apply and take
    /// back batches), and returns it as it was fed; `None` if it is not kept (its day has left
    /// already, and was taken back then).
    pub fn unkeep(&mut self, event: &Event, business_date: Option<Day>) -> Option<Kept> {
        let kept = match (event.dated_by_store(), business_date) {
            (Some(store), Some(day)) => self.dated.get_mut(store).and_then(|days| days.get_mut(&day)),
            _ => Some(&mut self.reference),
        }?;
        let at = kept.iter().rposition(|k| k.event == *event)?;
        let removed = kept.remove(at);
        if let Some(key) = post_void(event) {
            self.unvoid(&key);
        }
        Some(removed)
    }

    /// [`Retention::unkeep`] of the event `event_id` of `store`'s `day` (a sale's earlier
    /// revision), found by its id.
    pub fn unkeep_by_id(&mut self, store: Id, day: Day, event_id: &Text) -> Option<Kept> {
        let kept = self.dated.get_mut(&store)?.get_mut(&day)?;
        let at = kept.iter().rposition(|k| k.event.event_id() == Some(event_id))?;
        let removed = kept.remove(at);
        if let Some(key) = post_void(&removed.event) {
            self.unvoid(&key);
        }
        Some(removed)
    }

    fn unvoid(&mut self, key: &(Id, Key)) {
        if let Some(n) = self.post_voided.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.post_voided.remove(key);
            }
        }
    }

    /// Takes out the days each store's watermark day has left behind, folding what they did to
    /// stock and cost into the openings and cost bases. `zone` gives a store's zone.
    pub fn expire(&mut self, watermark: Option<Millis>, zone: impl Fn(&Id) -> Tz) -> Expired {
        let mut out = Expired::default();
        let Some(watermark) = watermark else { return out };
        let horizon = watermark - self.retention_ms;
        let mut leaving = Vec::new();
        for (store, days) in &mut self.dated {
            let first_kept = local_day(horizon, zone(store));
            if days.first_key_value().is_none_or(|(day, _)| *day >= first_kept) {
                continue;
            }
            let kept = days.split_off(&first_kept);
            leaving.extend(std::mem::replace(days, kept).into_values().flatten());
        }
        self.dated.retain(|_, days| !days.is_empty());
        if leaving.is_empty() {
            return out;
        }
        self.fold(&leaving, &mut out);
        for kept in &leaving {
            if let Some(key) = post_void(&kept.event) {
                self.unvoid(&key);
            }
        }
        self.expired += leaving.len() as u64;
        out.events = leaving;
        out
    }

    /// Folds the leaving events' effect on stock into the openings, and their receipts into the
    /// cost bases.
    fn fold(&mut self, leaving: &[Kept], out: &mut Expired) {
        // Per (store, sku): the greatest count and every movement (instant, units) leaving.
        let mut counts: FxHashMap<(Id, Id), (Millis, Text, i64, Day)> = FxHashMap::default();
        let mut moves: FxHashMap<(Id, Id), Vec<(Millis, i64)>> = FxHashMap::default();
        for kept in leaving {
            match &kept.event {
                Event::Inventory(inv) if inv.kind == InventoryKind::Count => {
                    let count = (inv.ts, inv.event_id.clone(), inv.qty, kept.business_date.unwrap_or_default());
                    let greatest = counts.entry((inv.store_id, inv.sku)).or_insert_with(|| count.clone());
                    *greatest = count.max(greatest.clone());
                }
                Event::Inventory(inv) => {
                    let units = if inv.kind == InventoryKind::TransferOut { -inv.qty } else { inv.qty };
                    moves.entry((inv.store_id, inv.sku)).or_default().push((inv.ts, units));
                    if let (InventoryKind::Receipt, Some(unit_cost)) = (inv.kind, inv.unit_cost) {
                        let receipt = Receipt {
                            store_id: inv.store_id,
                            sku: inv.sku,
                            business_date: kept.business_date.unwrap_or_default(),
                            ts: inv.ts,
                            event_id: inv.event_id.clone(),
                            unit_cost,
                        };
                        self.rebase(receipt, out);
                    }
                }
                Event::Sale(sale)
                    if !self.post_voided.contains_key(&(sale.store_id, Key::of(&sale.transaction_id))) =>
                {
                    for line in &sale.lines {
                        moves.entry((sale.store_id, line.sku)).or_default().push((sale.ts, -line.qty));
                    }
                }
                Event::Refund(refund) => {
                    for line in &refund.lines {
                        moves.entry((refund.store_id, line.sku)).or_default().push((refund.ts, line.qty));
                    }
                }
                _ => {}
            }
        }
        let mut touched: Vec<(Id, Id)> = counts.keys().chain(moves.keys()).copied().collect();
        touched.sort_unstable();
        touched.dedup();
        let last = leaving.iter().filter_map(|k| k.event.ts()).max().unwrap_or_default();
        for key in touched {
            let moved = moves.remove(&key).unwrap_or_default();
            let opening = match (counts.remove(&key), self.openings.get(&key)) {
                // A count left: the level then, plus what moved after it.
                (Some((ts, event_id, qty, business_date)), _) => {
                    let after: i64 = moved.iter().filter(|(at, _)| *at > ts).map(|(_, units)| units).sum();
                    InventoryRec {
                        store_id: key.0,
                        sku: key.1,
                        ts,
                        business_date,
                        event_id,
                        is_count: true,
                        qty: qty + after,
                    }
                }
                (None, Some(before)) => {
                    let units: i64 = moved.iter().map(|(_, units)| units).sum();
                    InventoryRec { qty: before.qty + units, ..before.clone() }
                }
                (None, None) => InventoryRec {
                    store_id: key.0,
                    sku: key.1,
                    ts: last,
                    business_date: Day::default(),
                    event_id: Text::from(OPENING),
                    is_count: false,
                    qty: moved.iter().map(|(_, units)| units).sum(),
                },
            };
            if let Some(before) = self.openings.insert(key, opening.clone()) {
                out.openings.push((before, -1));
            }
            out.openings.push((opening, 1));
        }
    }

    /// Makes `receipt` the cost basis of its (store, sku) if it is the latest that left.
    fn rebase(&mut self, receipt: Receipt, out: &mut Expired) {
        let key = (receipt.store_id, receipt.sku);
        let newer = |r: &Receipt| (r.ts, r.event_id.clone());
        if let Some(basis) = self.receipts.get(&key) {
            if newer(basis) >= newer(&receipt) {
                return;
            }
            out.receipts.push((basis.clone(), -1));
        }
        out.receipts.push((receipt.clone(), 1));
        self.receipts.insert(key, receipt);
    }

    /// Every event still kept, in the order they were fed.
    pub fn kept(&self) -> Vec<&Kept> {
        let mut kept: Vec<&Kept> =
            self.reference.iter().chain(self.dated.values().flat_map(|days| days.values().flatten())).collect();
        kept.sort_unstable_by_key(|k| k.seq);
        kept
    }

    /// What the days that left behind.
    pub fn settled(&self) -> Settled {
        let mut settled = Settled {
            receipts: self.receipts.values().cloned().collect(),
            openings: self.openings.values().cloned().collect(),
        };
        settled.receipts.sort();
        settled.openings.sort();
        settled
    }

    /// Takes back what a checkpoint says the days that left behind, to feed it again.
    pub fn restore(&mut self, settled: Settled) {
        for receipt in settled.receipts {
            self.receipts.insert((receipt.store_id, receipt.sku), receipt);
        }
        for opening in settled.openings {
            self.openings.insert((opening.store_id, opening.sku), opening);
        }
    }
}

/// The (store, transaction) a post-void cancels.
fn post_void(event: &Event) -> Option<(Id, Key)> {
    match event {
        Event::Void(void) if void.scope == VoidScope::Post => Some((void.store_id, Key::of(&void.transaction_id))),
        _ => None,
    }
}
