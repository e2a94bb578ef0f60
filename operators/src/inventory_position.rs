//! `inventory_position`: per (store, sku) the stock on hand, recent demand, cover and flags.
//!
//! Reference: `queries/inventory_position.sql`. On hand is the last count (greatest `ts`, then
//! `event_id`) plus every movement strictly after it: receipts, transfers, adjustments, refunds
//! (back into stock) and effective sale lines (out of stock); with no count, the movements alone.
//! Demand is the units sold over the trailing window of business days ending on the store-local
//! day of the watermark ([`DEMAND_WINDOW_DAYS`]).

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{DEMAND_WINDOW_DAYS, InventoryPosition};
use tillflow_schemas::{Day, Id, Millis};
use timely::progress::Timestamp;

use crate::records::{InventoryRec, RefundLineRec, SaleLineRec};

type StoreSku = (Id, Id);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Stock {
    Count {
        ts: Millis,
        event_id: Id,
        qty: i64,
    },
    /// A movement at `ts`; its quantity travels as the update's multiplicity, so movements at one
    /// instant consolidate into one value.
    Moved {
        ts: Millis,
    },
    /// The pair has some input, even if its movements cancel out.
    Seen,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    OnHand { on_hand: i64, last_count_at: Option<Millis> },
    Sold(i64),
    AsOf(Day),
}

/// Maintains `inventory_position`. `watermark_days` holds each store's local day of the watermark.
pub fn inventory_position<'s, T>(
    sale_lines: VecCollection<'s, T, SaleLineRec>,
    refund_lines: VecCollection<'s, T, RefundLineRec>,
    inventory: VecCollection<'s, T, InventoryRec>,
    watermark_days: VecCollection<'s, T, (Id, Day)>,
) -> VecCollection<'s, T, InventoryPosition>
where
    T: Timestamp + Lattice + Ord,
{
    let seen = inventory
        .clone()
        .map(|i| (i.store_id, i.sku))
        .concat(sale_lines.clone().map(|l| (l.store_id, l.sku)))
        .concat(refund_lines.clone().map(|l| (l.store_id, l.sku)))
        .distinct()
        .map(|key| (key, Stock::Seen));
    let counts = inventory.clone().filter(|i| i.is_count).map(|i| {
        let count = Stock::Count { ts: i.ts, event_id: i.event_id, qty: i.qty };
        ((i.store_id, i.sku), count)
    });
    let moves = inventory
        .filter(|i| !i.is_count)
        .explode(|i| Some((((i.store_id, i.sku), Stock::Moved { ts: i.ts }), i.qty as isize)))
        .concat(
            sale_lines.clone().explode(|l| Some((((l.store_id, l.sku), Stock::Moved { ts: l.ts }), -l.qty as isize))),
        )
        .concat(refund_lines.explode(|l| Some((((l.store_id, l.sku), Stock::Moved { ts: l.ts }), l.qty as isize))));
    let on_hand = counts.concat(moves).concat(seen).reduce_named(
        "inventory_position: on hand",
        |_key: &StoreSku, inputs, out| {
            out.push((stock_on_hand(inputs), 1));
        },
    );

    let sold = sale_lines
        .explode(|l| Some(((l.store_id, (l.sku, l.business_date)), l.qty as isize)))
        .join_map(watermark_days.clone(), |store, (sku, day), as_of| (store.clone(), sku.clone(), *day, *as_of))
        .filter(|(_, _, day, as_of)| *day <= *as_of && *day > *as_of - DEMAND_WINDOW_DAYS as Day)
        .map(|(store, sku, _, _)| (store, sku))
        .count()
        .map(|(key, units)| (key, Part::Sold(units as i64)));

    let as_of = on_hand
        .clone()
        .map(|((store, sku), _)| (store, sku))
        .join_map(watermark_days, |store, sku, day| ((store.clone(), sku.clone()), Part::AsOf(*day)));

    on_hand
        .map(|(key, (on_hand, last_count_at))| (key, Part::OnHand { on_hand, last_count_at }))
        .concat(sold)
        .concat(as_of)
        .reduce_named("inventory_position", |key: &StoreSku, parts, out| {
            let mut row =
                InventoryPosition { store_id: key.0.clone(), sku: key.1.clone(), ..InventoryPosition::default() };
            let mut present = false;
            for (part, _) in parts {
                match part {
                    Part::OnHand { on_hand, last_count_at } => {
                        (row.on_hand, row.last_count_at, present) = (*on_hand, *last_count_at, true);
                    }
                    Part::Sold(units) => row.units_sold_window = *units,
                    Part::AsOf(day) => row.as_of_date = Some(*day),
                }
            }
            if present {
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}

/// The last count plus the movements after it, and when that count was taken.
fn stock_on_hand(inputs: &[(&Stock, isize)]) -> (i64, Option<Millis>) {
    // Values arrive sorted: counts first, in (ts, event_id) order, then movements by ts.
    let mut last_count = inputs.iter().filter(|(_, n)| *n > 0).filter_map(|(s, _)| match s {
        Stock::Count { ts, qty, .. } => Some((*ts, *qty)),
        Stock::Moved { .. } | Stock::Seen => None,
    });
    let (counted_at, base) = match last_count.next_back() {
        Some((ts, qty)) => (Some(ts), qty),
        None => (None, 0),
    };
    let moved: i64 = inputs
        .iter()
        .filter_map(|(s, n)| match s {
            Stock::Moved { ts } if counted_at.is_none_or(|c| *ts > c) => Some(*n as i64),
            _ => None,
        })
        .sum();
    (base + moved, counted_at)
}
