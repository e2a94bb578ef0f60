//! `replenishment`: per (store, sku) what to reorder, when the shelf will be empty, and what
//! does not sell; and `purchase_suggestions`, the suggestions gathered into draft orders.
//!
//! Demand is what the SKU sold at the store on each weekday of the 28 days ending on the
//! store's watermark day ([`DEMAND_DAYS`]), over the days of that weekday the store traded (had a
//! sale or refund line) in them: a day ahead is expected to sell its weekday's units divided by
//! that weekday's days traded (none with none), more on a day a promotion covers: each percent of discount
//! sells [`PROMO_ELASTICITY`] percent more (the greatest discount when several cover the day). A
//! promotion covers a store's days from the store-local day of its `start` to that of the instant
//! before its `end`; it covers a SKU it names, or every SKU of the category it names.
//!
//! The order cycle is the lead time (the product's `lead_time_days`, else
//! [`DEFAULT_LEAD_TIME_DAYS`]), [`SAFETY_DAYS`] and [`REVIEW_DAYS`]. The reorder point is the
//! projected demand over the lead time and safety days, the order-up-to level that over the
//! whole cycle (both rounded up to whole units). Once on hand is at or under the reorder point,
//! a SKU that sold in the 28 days is suggested the units up to the order-up-to level, rounded up
//! to whole cases (`case_pack`, else 1). The projected stock-out is the first day ahead on which
//! the projection has sold the stock on hand (within [`HORIZON_DAYS`], or the cycle if longer);
//! the watermark day itself when none is left. Once the store traded [`SLOW_JUDGED_DAYS`] (by default) of the
//! 28 days, a slow mover holds stock and sold nothing on them, or holds more than
//! [`SLOW_COVER_DAYS`] days of it at their rate.
//!
//! Projections are exact: a day's demand is kept in units × 120,000 (12, which 1 to 4 days
//! traded divide, × 10,000 basis points), so the reference computes the same integers.
//!
//! The weekday demand is a sum kept by consolidation over a window kept by (store, day), as in
//! `inventory_position`; the row meets its stock, product and promotions in one reduce, which a
//! new watermark day re-runs for every (store, sku) of the store.
//!
//! The reference definitions, `queries/replenishment.sql` and `queries/purchase_suggestions.sql`,
//! which the tests compare these views with at every epoch, on 1 and 2 workers, with events fed
//! through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/replenishment.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::weekday;
use tillflow_schemas::views::{InventoryPosition, ProductRecord, PromotionRecord, PurchaseSuggestion, Replenishment};
use tillflow_schemas::{Cents, Day, Epoch, Id, Supply};

use crate::records::StoreRec;
use crate::sku_days::{LINES, SOLD, SkuDays};
use crate::sums::Sums;
use crate::watermark::trailing_days;

/// The trailing window of the demand, in business days ending on the watermark's day.
pub const DEMAND_DAYS: Day = 28;

/// The lead time of a product whose record gives none.
pub const DEFAULT_LEAD_TIME_DAYS: i64 = 3;

/// Days of demand held beyond the lead time, against a slower delivery or a busier week.
pub const SAFETY_DAYS: i64 = 2;

/// Days between orders: an order covers them beyond the reorder point.
pub const REVIEW_DAYS: i64 = 7;

/// How far ahead a stock-out is projected, at least.
pub const HORIZON_DAYS: i64 = 90;

/// Cover beyond which stock on hand is a slow mover, in days.
pub const SLOW_COVER_DAYS: i64 = 90;

/// The days of the 28 a store must have traded before its slow movers are judged (by default).
pub const SLOW_JUDGED_DAYS: i64 = 14;

/// Percent more units sold per percent of discount on a promoted day.
pub const PROMO_ELASTICITY: i64 = 2;

/// A day's demand is kept in units × this: 12 (which any 1 to 4 days traded divide) × 10,000
/// basis points.
const SCALE: i64 = 12 * 10_000;

type StoreSku = (Id, Id);

/// What a (store, sku)'s row is made of.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    Stock {
        on_hand: i64,
        as_of: Day,
    },
    Demand([i64; 7]),
    /// The store's days traded in the window, by weekday.
    Traded([i64; 7]),
    Product {
        unit_cost: Cents,
        supply: Supply,
        department: Id,
    },
    /// A promotion covering the SKU at the store: its first and last day there, its discount.
    Promotion {
        first: Day,
        last: Day,
        discount_bp: i64,
    },
}

/// Maintains `replenishment` from the stock on hand (`inventory_position`), what each (store,
/// sku, day) sold, each store's watermark day, the current products and promotions, and the
/// stores (for time zones).
pub fn replenishment<'s>(
    stock: VecCollection<'s, Epoch, InventoryPosition>,
    days: &SkuDays<'s>,
    today: VecCollection<'s, Epoch, (Id, Day)>,
    products: VecCollection<'s, Epoch, ProductRecord>,
    promotions: VecCollection<'s, Epoch, PromotionRecord>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
    slow_judged_days: i64,
) -> VecCollection<'s, Epoch, Replenishment> {
    let stock = stock.flat_map(|row| {
        let as_of = row.as_of_date?;
        Some(((row.store_id, row.sku), Part::Stock { on_hand: row.on_hand, as_of }))
    });
    // The (sku, store)s with stock (one row each), to meet their product and promotions by SKU.
    let keys = stock.clone().map(|((store, sku), _)| (sku, store));

    let window = trailing_days(today, DEMAND_DAYS);
    let demand = days
        .sums
        .clone()
        .map(|((store, sku, day), sums)| ((store, day), (sku, sums.0[SOLD])))
        .join_map(window.clone(), |(store, day), (sku, units), ()| ((*store, *sku), weekday(*day), *units))
        .explode(by_weekday)
        .count_total()
        .map(|(key, sums)| (key, Part::Demand(sums.0)));
    let traded = days
        .sums
        .clone()
        .flat_map(|((store, _, day), sums)| (sums.0[LINES] > 0).then_some((store, day)))
        .distinct_total()
        .map(|key| (key, ()))
        .join_map(window, |(store, day), (), ()| (*store, weekday(*day), 1))
        .explode(by_weekday)
        .count_total()
        .join_map(keys.clone().map(|(sku, store)| (store, sku)), |store, days, sku| {
            ((*store, *sku), Part::Traded(days.0))
        });

    let product = products
        .clone()
        .map(|p| (p.sku, Part::Product { unit_cost: p.unit_cost, supply: p.supply, department: p.department }))
        .join_map(keys.clone(), |sku, part, store| ((*store, *sku), part.clone()));

    // Promotions by the SKUs they cover: named, or of the category named.
    let on_sku = promotions.clone().flat_map(|p| p.sku.map(|sku| (sku, (p.start, p.end, p.discount_bp))));
    let on_category = promotions
        .flat_map(|p| p.category.map(|category| (category, (p.start, p.end, p.discount_bp))))
        .join_map(products.map(|p| (p.category, p.sku)), |_, promotion, sku| (*sku, *promotion));
    let promoted = on_sku
        .concat(on_category)
        .join_map(keys, |sku, promotion, store| (*store, (*sku, *promotion)))
        .join_map(stores, |store, (sku, (start, end, discount_bp)), record| {
            let (first, last) = (record.day_of(*start), record.day_of(*end - 1));
            ((*store, *sku), Part::Promotion { first, last, discount_bp: *discount_bp })
        });

    stock
        .concat(demand)
        .concat(traded)
        .concat(product)
        .concat(promoted)
        .reduce_named("replenishment", move |&(store_id, sku): &StoreSku, parts, out| {
            let (mut stock, mut product, mut promotions) = (None, None, Vec::new());
            let (mut demand, mut traded) = ([0; 7], [0; 7]);
            for (part, _) in parts {
                match part {
                    Part::Stock { on_hand, as_of } => stock = Some((*on_hand, *as_of)),
                    Part::Demand(units) => demand = *units,
                    Part::Traded(days) => traded = *days,
                    Part::Product { unit_cost, supply, department } => {
                        product = Some((*unit_cost, *supply, *department))
                    }
                    Part::Promotion { first, last, discount_bp } => promotions.push((*first, *last, *discount_bp)),
                }
            }
            let (Some((on_hand, as_of)), Some((unit_cost, supply, department))) = (stock, product) else {
                return;
            };
            let row = Replenishment {
                store_id,
                sku,
                as_of_date: as_of,
                on_hand,
                weekday_units: demand,
                weekday_days: traded,
                unit_cost,
                order_group: supply.supplier.unwrap_or(department),
                ..Replenishment::default()
            };
            out.push((plan(row, supply, &promotions, slow_judged_days), 1));
        })
        .map(|(_, row)| row)
}

/// Fills in `row`'s order cycle, projection, suggestion and slow-mover flag from its stock,
/// weekday demand and the promotions covering it (first day, last day, discount in basis points);
/// slow movers are judged once the store traded `slow_judged_days`.
pub fn plan(
    mut row: Replenishment,
    supply: Supply,
    promotions: &[(Day, Day, i64)],
    slow_judged_days: i64,
) -> Replenishment {
    row.lead_time_days = supply.lead_time_days.unwrap_or(DEFAULT_LEAD_TIME_DAYS);
    row.case_pack = supply.case_pack.unwrap_or(1);
    let (to_reorder, cycle) = (row.lead_time_days + SAFETY_DAYS, row.lead_time_days + SAFETY_DAYS + REVIEW_DAYS);
    let selling = row.weekday_units.iter().map(|units| units.max(&0)).sum::<i64>() > 0;
    let stock = row.on_hand * SCALE;
    let mut sold = 0;
    for ahead in 1..=HORIZON_DAYS.max(cycle) {
        let day = row.as_of_date + ahead as Day;
        let discount_bp = promotions
            .iter()
            .filter(|(first, last, _)| (*first..=*last).contains(&day))
            .map(|(_, _, bp)| *bp)
            .max()
            .unwrap_or(0);
        if ahead <= cycle && discount_bp > 0 {
            row.promo_days += 1;
        }
        let (units, traded) = (row.weekday_units[weekday(day)], row.weekday_days[weekday(day)]);
        let per_day = if traded > 0 { units.max(0) * (12 / traded) } else { 0 };
        sold += per_day * (10_000 + PROMO_ELASTICITY * discount_bp);
        if ahead == to_reorder {
            row.reorder_point = units_up(sold);
        }
        if ahead == cycle {
            row.order_up_to = units_up(sold);
        }
        if selling && row.projected_stockout.is_none() && sold >= stock {
            row.projected_stockout = Some(if row.on_hand <= 0 { row.as_of_date } else { day });
        }
    }
    if selling && row.on_hand <= row.reorder_point && row.order_up_to > row.on_hand {
        let cases = (row.order_up_to - row.on_hand + row.case_pack - 1) / row.case_pack;
        row.suggested_qty = cases * row.case_pack;
    }
    let (sold, traded) = (row.units_sold(), row.days_traded());
    row.slow_mover =
        row.on_hand > 0 && traded >= slow_judged_days && (sold <= 0 || row.on_hand * traded > SLOW_COVER_DAYS * sold);
    row
}

/// `n` in the weekday's slot of a sum by weekday.
fn by_weekday<K>((key, weekday, n): (K, usize, i64)) -> Option<(K, Sums<7>)> {
    let mut sums = Sums([0; 7]);
    sums.0[weekday] = n;
    Some((key, sums))
}

/// Scaled units, rounded up to whole ones.
fn units_up(scaled: i64) -> i64 {
    (scaled + SCALE - 1).div_euclid(SCALE)
}

/// Gathers the suggestions of each store and order group into one draft order.
pub fn purchase_suggestions<'s>(
    rows: VecCollection<'s, Epoch, Replenishment>,
) -> VecCollection<'s, Epoch, PurchaseSuggestion> {
    rows.filter(|row| row.suggested_qty > 0)
        .map(|row| {
            let line = (
                row.sku,
                row.suggested_qty,
                row.suggested_qty / row.case_pack,
                row.suggested_cost(),
                row.projected_stockout,
            );
            ((row.store_id, row.as_of_date, row.order_group), line)
        })
        .reduce_named("purchase_suggestions", |&(store_id, business_date, order_group), lines, out| {
            let mut order =
                PurchaseSuggestion { store_id, business_date, order_group, ..PurchaseSuggestion::default() };
            for ((_, units, cases, cost, stockout), count) in lines {
                let count = *count as i64;
                order.skus += count;
                order.units += count * units;
                order.cases += count * cases;
                order.cost.0 += count * cost.0;
                order.earliest_stockout = match (order.earliest_stockout, *stockout) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            out.push((order, 1));
        })
        .map(|(_, order)| order)
}

/// Beside the views, their reference tests: `queries/replenishment.sql` and
/// `queries/purchase_suggestions.sql` at every epoch of random streams fed through admission, on 1
/// and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn replenishment_equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("replenishment");
    }

    #[test]
    fn purchase_suggestions_equal_their_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("purchase_suggestions");
    }
}
