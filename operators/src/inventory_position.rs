//! `inventory_position`: per (store, sku) the stock on hand, recent demand, cover and flags.
//!
//! Reference: `queries/inventory_position.sql`. On hand is the last count (greatest `ts`, then
//! `event_id`) plus every movement strictly after it: receipts, transfers, adjustments, refunds
//! (back into stock) and effective sale lines (out of stock); with no count, the movements alone.
//! Demand is the units sold over the trailing window of business days ending on the store-local
//! day of the watermark ([`DEMAND_WINDOW_DAYS`]).

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{DEMAND_WINDOW_DAYS, InventoryPosition};
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::records::{InventoryRec, RefundRec, SaleRec, greatest};
use crate::sums::Sums;

type StoreSku = (Id, Id);

/// Per (store, sku), summed by consolidation: Σ movements, Σ movements at or before the last
/// count (already in it), units sold in the demand window, and records seen (inventory, sale and
/// refund lines; positive iff any).
type Totals = Sums<4>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    LastCount { ts: Millis, qty: i64 },
    Totals { moved: i64, counted: i64, sold: i64 },
    AsOf(Day),
}

/// Maintains `inventory_position` from inventory events, the sales that count, refunds and each
/// store's local day of the watermark.
///
/// On hand is `last count + Σ movements − Σ movements at or before the count`. The sums travel
/// together as one difference ([`Totals`]) kept by consolidation, so a sale costs O(1) work
/// whatever the history; only a new count rescans its (store, sku)'s movements.
pub fn inventory_position<'s>(
    sales: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    inventory: VecCollection<'s, Epoch, InventoryRec>,
    watermark_days: VecCollection<'s, Epoch, (Id, Day)>,
) -> VecCollection<'s, Epoch, InventoryPosition> {
    let last_count = inventory
        .clone()
        .filter(|i| i.is_count)
        .map(|i| ((i.store_id, i.sku), (i.ts, i.event_id, i.qty)))
        .reduce_named("inventory_position: last count", |_key: &StoreSku, counts, out| {
            if let Some((ts, _, qty)) = greatest(counts, |c| c.clone()) {
                out.push(((*ts, *qty), 1));
            }
        });

    // Every movement at its instant, its quantity carried as the difference.
    let moves = inventory
        .clone()
        .flat_map(|i| (!i.is_count).then_some((((i.store_id, i.sku), i.ts), i.qty)))
        .concat(sales.clone().flat_map(|s| {
            let (store, ts) = (s.store_id, s.ts);
            s.lines.into_iter().map(move |l| (((store, l.sku), ts), -l.qty))
        }))
        .concat(refunds.clone().flat_map(|r| {
            let (store, ts) = (r.store_id, r.ts);
            r.lines.into_iter().map(move |l| (((store, l.sku), ts), l.qty))
        }))
        .explode(|(key, qty)| Some((key, qty as isize)))
        .arrange_by_key_named("inventory_position: movements by instant");
    let moved = moves.clone().as_collection(|key, _ts| *key).explode(|key| Some((key, Sums([1, 0, 0, 0]))));
    let counted = moves
        .join_core(
            last_count.clone().arrange_by_key_named("inventory_position: last count by sku"),
            |key, ts, (at, _)| (*ts <= *at).then_some(*key),
        )
        .explode(|key| Some((key, Sums([0, 1, 0, 0]))));

    // Keyed by (store, day), so a new day joins the sales of the day entering the window and of
    // the one leaving it, not the store's whole history.
    let window_days = watermark_days
        .clone()
        .flat_map(|(store, as_of)| (0..DEMAND_WINDOW_DAYS as Day).map(move |back| ((store, as_of - back), ())));
    let sold = sales
        .clone()
        .flat_map(|s| {
            let (store, day) = (s.store_id, s.business_date);
            s.lines.into_iter().map(move |l| (((store, day), l.sku), l.qty))
        })
        .explode(|(key, qty)| Some((key, qty as isize)))
        .join_map(window_days, |(store, _), sku, ()| (*store, *sku))
        .explode(|key| Some((key, Sums([0, 0, 1, 0]))));

    let seen = inventory
        .map(|i| (i.store_id, i.sku))
        .concat(sales.flat_map(|s| s.lines.into_iter().map(move |l| (s.store_id, l.sku))))
        .concat(refunds.flat_map(|r| r.lines.into_iter().map(move |l| (r.store_id, l.sku))))
        .explode(|key| Some((key, Sums([0, 0, 0, 1]))));

    let totals = moved.concat(counted).concat(sold).concat(seen).count_total();
    let as_of = totals
        .clone()
        .map(|((store, sku), _)| (store, sku))
        .join_map(watermark_days, |store, sku, day| ((*store, *sku), Part::AsOf(*day)));
    let totals = totals
        .map(|(key, Sums([moved, counted, sold, _])): (StoreSku, Totals)| (key, Part::Totals { moved, counted, sold }));
    let last_count = last_count.map(|(key, (ts, qty))| (key, Part::LastCount { ts, qty }));

    totals
        .concat(last_count)
        .concat(as_of)
        .reduce_named("inventory_position", |&(store_id, sku): &StoreSku, parts, out| {
            let mut row = InventoryPosition { store_id, sku, ..InventoryPosition::default() };
            let (mut present, mut moved, mut counted, mut base) = (false, 0, 0, 0);
            for (part, _) in parts {
                match part {
                    Part::Totals { moved: m, counted: c, sold } => {
                        (present, moved, counted, row.units_sold_window) = (true, *m, *c, *sold)
                    }
                    Part::LastCount { ts, qty } => (row.last_count_at, base) = (Some(*ts), *qty),
                    Part::AsOf(day) => row.as_of_date = Some(*day),
                }
            }
            row.on_hand = base + moved - counted;
            if present {
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}
