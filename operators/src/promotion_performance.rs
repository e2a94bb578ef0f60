//! `promotion_performance`: per (promotion, store, SKU, business day) what the lines citing the
//! promotion sold, against the SKU's baseline at that store; and `promotion_summary`, the same
//! per promotion.
//!
//! A row for every (promo_id, store, sku, day) with an effective sale line citing a promotion
//! that has a record. Its baseline is what the lines of that SKU at that store **without** a
//! promotion sold on the same weekday in the four weeks before the promotion's first day (the
//! store-local day of its `start`): the four days d − 7k, for the smallest k ≥ 1 that lands
//! before the first day and the three weeks before that, averaged over those the store traded
//! (had a sale that counts) and the SKU sold no unit on a promotion there (a day of another
//! promotion says nothing of what the SKU sells at full price). Cost is the product's current catalog cost (zero without a product
//! record). Figures and verdict: [`PromoFigures`].
//!
//! Promoted lines are summed per row as differences; the plain ones are what `sku_days` already
//! sums per (store, sku, day), less its promoted share. Each row asks for its four baseline days
//! by key, so a late plain sale changes the rows whose baseline holds its day, and
//! a promotion moving its start re-asks only its own rows.
//!
//! The reference definitions, `queries/promotion_performance.sql` and
//! `queries/promotion_summary.sql`, which the tests compare these views with at every epoch, on
//! 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/promotion_performance.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use tillflow_schemas::views::{
    BASELINE_SCALE, ProductRecord, PromoFigures, PromotionPerformance, PromotionRecord, PromotionSummary,
};
use tillflow_schemas::{Cents, Day, Epoch, Id};

use crate::records::{SaleRec, StoreRec};
use crate::sku_days::{DISCOUNTS, GROSS, PROMO, PROMO_NET, SOLD, SkuDays};
use crate::sums::Sums;

/// (promo_id, store, sku, business day).
type RowKey = (Id, Id, Id, Day);

/// The baseline days of promotion day `day` of a promotion whose first day is `first`.
pub fn baseline_days(day: Day, first: Day) -> [Day; 4] {
    let weeks = (day - first + 7).div_euclid(7).max(1);
    std::array::from_fn(|i| day - 7 * (weeks + i as Day))
}

/// Maintains `promotion_performance` from the sales that count, what each (store, sku, day)
/// sold ([`SkuDays`], for the baseline), the current promotions, products (for cost) and stores
/// (for time zones).
pub fn promotion_performance<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    days: &SkuDays<'s>,
    promotions: VecCollection<'s, Epoch, PromotionRecord>,
    products: VecCollection<'s, Epoch, ProductRecord>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
) -> VecCollection<'s, Epoch, PromotionPerformance> {
    // Lines citing a promotion, per row: lines, units, net sales, discount (and, later, the
    // baseline's units and net sales).
    // The days each store traded.
    let traded = effective.clone().map(|sale| (sale.store_id, sale.business_date)).distinct_total();
    let promoted = effective
        .explode(|sale| {
            let (store, day) = (sale.store_id, sale.business_date);
            let lines: Vec<_> = sale
                .lines
                .iter()
                .filter_map(|l| {
                    let sums = Sums([1, l.qty, l.net(), l.discount.0, 0, 0, 0]);
                    l.promo_id.map(|p| ((p, store, l.sku, day), sums))
                })
                .collect();
            lines
        })
        .count_total();
    // The (store, sku, day)s that sold units on a promotion: not baseline days.
    let on_promotion = days.sums.clone().filter(|(_, s)| s.0[PROMO] > 0).map(|(key, _)| key);
    // The other days' lines, per (store, sku, day): units, net sales.
    let plain = days.sums.clone().filter(|(_, s)| s.0[PROMO] <= 0).map(|(key, s)| {
        let units = s.0[SOLD] - s.0[PROMO];
        (key, Sums([units, s.0[GROSS] - s.0[DISCOUNTS] - s.0[PROMO_NET]]))
    });

    // Each promotion's first day at each store, in the store's time zone.
    let first_days = promotions
        .map(|p| ((), (p.promo_id, p.start)))
        .join_map(stores.map(|(store, record)| ((), (store, record))), |(), (promo, start), (store, record)| {
            ((*promo, *store), record.day_of(*start))
        });
    // The rows of promotions with a record, with their first day.
    let known = promoted
        .clone()
        .map(|((promo, store, sku, day), _)| ((promo, store), (sku, day)))
        .join_map(first_days, |(promo, store), (sku, day), first| ((*promo, *store, *sku, *day), *first));
    let baseline = known
        .clone()
        .flat_map(|(key, first): (RowKey, Day)| {
            let (_, store, sku, day) = key;
            baseline_days(day, first).map(move |b| ((store, sku, b), key))
        })
        .join_map(plain, |_, key: &RowKey, Sums([units, sales])| (*key, Sums([0, 0, 0, 0, *units, *sales, 0])));
    let baseline_traded = known
        .clone()
        .flat_map(|(key, first): (RowKey, Day)| {
            let (_, store, sku, day) = key;
            baseline_days(day, first).map(move |b| ((store, sku, b), key))
        })
        .antijoin(on_promotion)
        .map(|((store, _, b), key)| ((store, b), key))
        .semijoin(traded)
        .map(|(_, key)| (key, Sums([0, 0, 0, 0, 0, 0, 1])));
    let rows = promoted
        .semijoin(known.map(|(key, _)| key))
        .concat(baseline)
        .concat(baseline_traded)
        .explode(|(key, sums)| Some((key, sums)))
        .count_total()
        .filter(|(_, Sums(s))| s[0] > 0)
        .map(|((promo, store, sku, day), sums)| (sku, (promo, store, day, sums)));

    let costs = products.map(|p| (p.sku, p.unit_cost));
    let priced = rows.clone().join_map(costs.clone(), |sku, (promo, store, day, sums), cost| {
        performance(*promo, *store, *sku, *day, sums, *cost)
    });
    let unpriced = rows
        .antijoin(costs.map(|(sku, _)| sku))
        .map(|(sku, (promo, store, day, sums))| performance(promo, store, sku, day, &sums, Cents(0)));
    priced.concat(unpriced)
}

/// A row from its sums (lines, units, net sales, discount, baseline units, baseline net sales,
/// baseline days the store traded) and the SKU's unit cost.
fn performance(
    promo_id: Id,
    store_id: Id,
    sku: Id,
    business_date: Day,
    sums: &Sums<7>,
    cost: Cents,
) -> PromotionPerformance {
    let [_, units, sales, discount, baseline_units, baseline_sales, traded] = sums.0;
    // The mean over the days traded, times BASELINE_SCALE (which each of 1..=4 divides).
    let scale = if traded > 0 { BASELINE_SCALE / traded } else { 0 };
    let (baseline_units, baseline_sales) = (baseline_units * scale, baseline_sales * scale);
    PromotionPerformance {
        promo_id,
        store_id,
        sku,
        business_date,
        figures: PromoFigures {
            promo_units: units,
            promo_sales: Cents(sales),
            discount: Cents(discount),
            cogs: Cents(units * cost.0),
            baseline_units,
            baseline_sales: Cents(baseline_sales),
            baseline_cogs: Cents(baseline_units * cost.0),
            erosion: PromoFigures::erosion_of(units, Cents(discount), baseline_units),
        },
    }
}

/// Maintains `promotion_summary`: the rows of `promotion_performance` summed per promotion.
pub fn promotion_summary<'s>(
    rows: VecCollection<'s, Epoch, PromotionPerformance>,
) -> VecCollection<'s, Epoch, PromotionSummary> {
    rows.explode(|r| {
        let mut sums = Sums([1; 9]);
        sums.0[1..].copy_from_slice(&r.figures.to_array());
        Some((r.promo_id, sums))
    })
    .count_total()
    .map(|(promo_id, Sums(s))| PromotionSummary {
        promo_id,
        store_sku_days: s[0],
        figures: PromoFigures::from_array(s[1..].try_into().expect("eight sums")),
    })
}

/// Beside the views, their reference tests: `queries/promotion_performance.sql` and
/// `queries/promotion_summary.sql` at every epoch of random streams fed through admission, on
/// 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("promotion_performance");
    }

    #[test]
    fn the_summary_equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("promotion_summary");
    }

    #[test]
    fn the_baseline_is_the_same_weekday_in_the_four_weeks_before_the_first_day() {
        assert_eq!(super::baseline_days(100, 100), [93, 86, 79, 72]);
        assert_eq!(super::baseline_days(106, 100), [99, 92, 85, 78]);
        assert_eq!(super::baseline_days(107, 100), [93, 86, 79, 72]);
        assert_eq!(super::baseline_days(95, 100), [88, 81, 74, 67], "a line dated before the first day");
    }
}
