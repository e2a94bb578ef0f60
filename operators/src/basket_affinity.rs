//! `basket_affinity`: per (district, sku_a, sku_b) how often two SKUs are bought together in
//! the district's baskets of the trailing 28 business days.
//!
//! A basket is a sale that counts (not post-voided); it holds a SKU when it has a line of it
//! with a positive quantity. Its store-day is in the window when the day lies in the 28 days
//! ending at that store's watermark day. Per district: the baskets in the window holding a SKU,
//! those holding each SKU, and those holding each pair; a pair is a row once its baskets reach
//! the minimum (20 by default). `sku_a` is the smaller of the two as text. Support, confidence
//! and lift are derived from the counts when the row becomes Arrow.
//!
//! The window is kept by (store, day), so a day entering or leaving it joins that day's
//! baskets alone; the counts are sums kept by consolidation. A post-void retracts its basket's
//! pairs; an erasure leaves them, since a basket holds no customer.
//!
//! The reference definition, `queries/basket_affinity.sql`, which the tests compare this view
//! with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/basket_affinity.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use tillflow_schemas::views::BasketAffinity;
use tillflow_schemas::{Day, Epoch, Id};

use crate::records::{Lines, SaleRec, StoreRec};

/// The trailing window, in business days (the watermark day included).
pub const WINDOW_DAYS: Day = 28;

/// The baskets holding both SKUs a pair needs to be a row.
pub const MIN_BASKETS_BOTH: i64 = 20;

/// Maintains `basket_affinity` from the sales that count, the stores (for districts) and each
/// store's watermark day, over windows of `window_days`; pairs bought together in fewer than
/// `min_both` baskets are left out.
pub fn basket_affinity<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
    today: VecCollection<'s, Epoch, (Id, Day)>,
    min_both: i64,
    window_days: Day,
) -> VecCollection<'s, Epoch, BasketAffinity> {
    let window = today
        .join_map(stores.map(|(store, record)| (store, record.district)), |store, day, district| {
            (*store, *day, *district)
        })
        .flat_map(move |(store, day, district)| (0..window_days).map(move |back| ((store, day - back), district)));
    let baskets = effective
        .flat_map(|sale| {
            let mut skus: Vec<Id> = sale.lines.iter().filter(|line| line.qty > 0).map(|line| line.sku).collect();
            skus.sort_by_key(|sku| sku.as_str());
            skus.dedup();
            (!skus.is_empty()).then(|| ((sale.store_id, sale.business_date), skus.into_iter().collect::<Lines<Id>>()))
        })
        .join_map(window, |_, skus, district| (*district, skus.clone()));

    let totals = baskets.clone().map(|(district, _)| district).count_total();
    let singles =
        baskets.clone().flat_map(|(district, skus)| skus.into_iter().map(move |sku| (district, sku))).count_total();
    let pairs = baskets
        .flat_map(|(district, skus)| {
            let pairs: Vec<_> = skus
                .iter()
                .enumerate()
                .flat_map(|(i, a)| skus[i + 1..].iter().map(move |b| (district, *a, *b)))
                .collect();
            pairs
        })
        .count_total()
        .filter(move |(_, both)| *both as i64 >= min_both);

    pairs
        .map(|((district, a, b), both)| ((district, a), (b, both as i64)))
        .join_map(singles.clone(), |(district, a), (b, both), with_a| ((*district, *b), (*a, *both, *with_a as i64)))
        .join_map(singles, |(district, b), (a, both, with_a), with_b| {
            (*district, (*a, *b, *both, *with_a, *with_b as i64))
        })
        .join_map(totals, |district, (a, b, both, with_a, with_b), baskets| BasketAffinity {
            district: *district,
            sku_a: *a,
            sku_b: *b,
            baskets: *baskets as i64,
            baskets_a: *with_a,
            baskets_b: *with_b,
            baskets_both: *both,
        })
}

/// Beside the view, its reference test: `queries/basket_affinity.sql` at every epoch of random
/// streams fed through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("basket_affinity");
    }
}
