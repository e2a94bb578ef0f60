//! `inventory_position`: per (store, sku) the stock on hand, recent demand, cover and flags.
//!
//! Reference: `queries/inventory_position.sql`. On hand is the last count (greatest `ts`, then
//! `event_id`) plus every movement strictly after it: receipts, transfers, adjustments, refunds
//! (back into stock) and effective sale lines (out of stock); with no count, the movements alone.
//! Demand is the units sold over the trailing window of business days ending on the store-local
//! day of the watermark ([`DEMAND_WINDOW_DAYS`]).
//!
//! Sales and refunds arrive summed per day ([`crate::sku_days`]): the movements before the last
//! count are the days before its day, plus the instants of its own day up to it. Every figure is
//! a sum kept by consolidation ([`Totals`]); only a new count rejoins its (store, sku)'s days.
//!
//! The reference definition, `queries/inventory_position.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/inventory_position.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{InventoryPosition, Ratio};
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::records::{InventoryRec, greatest};
use crate::sku_days::{LINES, RETURNED, SOLD, SkuDays};
use crate::sums::Sums;
use crate::watermark::trailing_days;

type StoreSku = (Id, Id);

/// The trailing window of the demand, in business days ending on the watermark's day.
pub const DEMAND_WINDOW_DAYS: i64 = 14;

/// Days of cover under which a SKU should be reordered: supplier lead time plus safety stock.
pub const REORDER_COVER_DAYS: i64 = 3 + 2;

/// The figures and flags that follow from a row's stock and demand.
fn assess(row: &mut InventoryPosition) {
    let avg = row.units_sold_window as f64 / DEMAND_WINDOW_DAYS as f64;
    row.avg_daily_units = Ratio(avg);
    row.days_of_cover = (row.units_sold_window != 0).then(|| Ratio(row.on_hand as f64 / avg));
    // Cover below REORDER_COVER_DAYS, exactly: on_hand × window < cover days × units.
    row.reorder =
        row.units_sold_window > 0 && row.on_hand * DEMAND_WINDOW_DAYS < REORDER_COVER_DAYS * row.units_sold_window;
    row.negative_stock = row.on_hand < 0;
}

/// Per (store, sku), summed by consolidation: Σ movements, Σ movements at or before the last
/// count (already in it), units sold in the demand window, and records seen (inventory, sale and
/// refund lines; positive iff any).
type Totals = Sums<4>;

/// The last count of a (store, sku): when, its store-local day, and the level counted.
type LastCount = (Millis, Day, i64);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    LastCount { ts: Millis, qty: i64 },
    Totals { moved: i64, counted: i64, sold: i64 },
    AsOf(Day),
}

/// Maintains `inventory_position` from inventory events, the days' sales and refunds, and each
/// store's local day of the watermark.
///
/// On hand is `last count + Σ movements − Σ movements at or before the count`.
pub fn inventory_position<'s>(
    days: &SkuDays<'s>,
    inventory: VecCollection<'s, Epoch, InventoryRec>,
    watermark_days: VecCollection<'s, Epoch, (Id, Day)>,
) -> VecCollection<'s, Epoch, InventoryPosition> {
    let last_count = inventory
        .clone()
        .filter(|i| i.is_count)
        .map(|i| ((i.store_id, i.sku), (i.ts, i.event_id, i.business_date, i.qty)))
        .reduce_named("inventory_position: last count", |_key: &StoreSku, counts, out| {
            if let Some((ts, _, day, qty)) = greatest(counts, |(ts, event_id, _, qty)| (*ts, event_id.clone(), *qty)) {
                out.push(((*ts, *day, *qty), 1));
            }
        });
    let counts_by_sku = last_count.clone().arrange_by_key_named("inventory_position: last count by sku");

    // Inventory movements (receipts, transfers, adjustments), each at its instant.
    let movements = inventory
        .clone()
        .flat_map(|i| (!i.is_count).then_some(((i.store_id, i.sku), (i.ts, i.qty))))
        .arrange_by_key_named("inventory_position: movements by sku");
    let moved_by_inventory = movements.clone().as_collection(|key, (_, qty)| (*key, *qty));
    let counted_by_inventory = movements.join_core(counts_by_sku.clone(), |key, (ts, qty), (at, _, _): &LastCount| {
        (*ts <= *at).then_some((*key, *qty))
    });

    // Sales and refunds by day: stock moves by what was returned less what was sold.
    let day_moves =
        days.sums.clone().map(|((store, sku, day), sums)| ((store, sku), (day, sums.0[RETURNED] - sums.0[SOLD])));
    let moved_by_lines = day_moves.clone().map(|(key, (_, units))| (key, units));
    let counted_days = day_moves
        .arrange_by_key_named("inventory_position: day moves by sku")
        .join_core(counts_by_sku, |key, (day, units), (_, count_day, _): &LastCount| {
            (*day < *count_day).then_some((*key, *units))
        });
    let counted_instants = last_count
        .clone()
        .map(|((store, sku), (at, day, _))| ((store, sku, day), at))
        .arrange_by_key_named("inventory_position: last count by day")
        .join_core(days.instants.clone(), |(store, sku, _), at, ts| (*ts <= *at).then_some((*store, *sku)));

    // Keyed by (store, day), so a new day joins the sales of the day entering the window and of
    // the one leaving it, not the store's whole history.
    let window_days = trailing_days(watermark_days.clone(), DEMAND_WINDOW_DAYS as Day);
    let sold = days
        .sums
        .clone()
        .map(|((store, sku, day), sums)| ((store, day), (sku, sums.0[SOLD])))
        .join_map(window_days, |(store, _), (sku, units), ()| ((*store, *sku), *units));

    let total = |part: usize| {
        move |(key, n): (StoreSku, i64)| {
            let mut totals = Totals::default();
            totals.0[part] = n;
            Some((key, totals))
        }
    };
    let seen = inventory
        .map(|i| (i.store_id, i.sku))
        .concat(days.sums.clone().flat_map(|((store, sku, _), sums)| (sums.0[LINES] > 0).then_some((store, sku))))
        .explode(|key| Some((key, Sums([0, 0, 0, 1]))));
    let totals = moved_by_inventory
        .concat(moved_by_lines)
        .explode(total(0))
        .concat(counted_by_inventory.concat(counted_days).explode(total(1)))
        .concat(counted_instants.explode(|key| Some((key, Sums([0, 1, 0, 0])))))
        .concat(sold.explode(total(2)))
        .concat(seen)
        .count_total();

    let as_of = totals
        .clone()
        .map(|((store, sku), _)| (store, sku))
        .join_map(watermark_days, |store, sku, day| ((*store, *sku), Part::AsOf(*day)));
    let totals = totals
        .map(|(key, Sums([moved, counted, sold, _])): (StoreSku, Totals)| (key, Part::Totals { moved, counted, sold }));
    let last_count = last_count.map(|(key, (ts, _, qty))| (key, Part::LastCount { ts, qty }));

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
            assess(&mut row);
            if present {
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}

/// Beside the view, its reference test: `queries/inventory_position.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("inventory_position");
    }
}
