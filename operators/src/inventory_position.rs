//! `inventory_position`: per (store, sku) the stock on hand, recent demand, cover and flags.
//!
//! Reference: `queries/inventory_position.sql`. On hand is the last count (greatest `ts`, then
//! `event_id`) plus every movement strictly after it: receipts, transfers, adjustments, refunds
//! (back into stock) and effective sale lines (out of stock); with no count, the movements alone.
//! Demand is the units sold over the trailing window of business days ending on the store-local
//! day of the watermark ([`DEMAND_WINDOW_DAYS`]).

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{DEMAND_WINDOW_DAYS, InventoryPosition};
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::records::{InventoryRec, RefundLineRec, SaleLineRec};
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

/// Maintains `inventory_position`. `watermark_days` holds each store's local day of the watermark.
///
/// On hand is `last count + Σ movements − Σ movements at or before the count`. The sums travel
/// together as one difference ([`Totals`]) kept by consolidation, so a sale costs O(1) work
/// whatever the history; only a new count rescans its (store, sku)'s movements.
pub fn inventory_position<'s>(
    sale_lines: VecCollection<'s, Epoch, SaleLineRec>,
    refund_lines: VecCollection<'s, Epoch, RefundLineRec>,
    inventory: VecCollection<'s, Epoch, InventoryRec>,
    watermark_days: VecCollection<'s, Epoch, (Id, Day)>,
) -> VecCollection<'s, Epoch, InventoryPosition> {
    let last_count = inventory
        .clone()
        .filter(|i| i.is_count)
        .map(|i| ((i.store_id, i.sku), (i.ts, i.event_id, i.qty)))
        .reduce_named("inventory_position: last count", |_key: &StoreSku, counts, out| {
            // Values arrive sorted: the last present one has the greatest (ts, event_id).
            if let Some(((ts, _, qty), _)) = counts.iter().rev().find(|(_, n)| *n > 0) {
                out.push(((*ts, *qty), 1));
            }
        });

    // Movements at each instant, their quantity carried as the multiplicity.
    let moves = inventory
        .clone()
        .filter(|i| !i.is_count)
        .explode(|i| Some((((i.store_id, i.sku), i.ts), i.qty as isize)))
        .concat(sale_lines.clone().explode(|l| Some((((l.store_id, l.sku), l.ts), -l.qty as isize))))
        .concat(refund_lines.clone().explode(|l| Some((((l.store_id, l.sku), l.ts), l.qty as isize))));
    let moved = moves.clone().explode(|(key, _)| Some((key, Sums([1, 0, 0, 0]))));
    let counted = moves
        .join_map(last_count.clone(), |key, ts, (counted_at, _)| (key.clone(), *ts <= *counted_at))
        .explode(|(key, before)| before.then_some((key, Sums([0, 1, 0, 0]))));

    // Keyed by (store, day), so a new day joins the sales of the day entering the window and of
    // the one leaving it, not the store's whole history.
    let window_days = watermark_days
        .clone()
        .flat_map(|(store, as_of)| (0..DEMAND_WINDOW_DAYS as Day).map(move |back| ((store.clone(), as_of - back), ())));
    let sold = sale_lines
        .clone()
        .explode(|l| Some((((l.store_id, l.business_date), l.sku), l.qty as isize)))
        .join_map(window_days, |(store, _), sku, ()| (store.clone(), sku.clone()))
        .explode(|key| Some((key, Sums([0, 0, 1, 0]))));

    let seen = inventory
        .explode(|i| Some(((i.store_id, i.sku), Sums([0, 0, 0, 1]))))
        .concat(sale_lines.explode(|l| Some(((l.store_id, l.sku), Sums([0, 0, 0, 1])))))
        .concat(refund_lines.explode(|l| Some(((l.store_id, l.sku), Sums([0, 0, 0, 1])))));

    let totals = moved.concat(counted).concat(sold).concat(seen).count();
    let as_of = totals
        .clone()
        .map(|((store, sku), _)| (store, sku))
        .join_map(watermark_days, |store, sku, day| ((store.clone(), sku.clone()), Part::AsOf(*day)));
    let totals = totals
        .map(|(key, Sums([moved, counted, sold, _])): (StoreSku, Totals)| (key, Part::Totals { moved, counted, sold }));
    let last_count = last_count.map(|(key, (ts, qty))| (key, Part::LastCount { ts, qty }));

    totals
        .concat(last_count)
        .concat(as_of)
        .reduce_named("inventory_position", |key: &StoreSku, parts, out| {
            let mut row =
                InventoryPosition { store_id: key.0.clone(), sku: key.1.clone(), ..InventoryPosition::default() };
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
