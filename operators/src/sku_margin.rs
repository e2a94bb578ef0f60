//! `sku_margin`: per (store, sku, business day) units, sales, discounts, refunds, cost of goods and margin.
//!
//! Reference: `queries/sku_margin.sql`. Cost of a line is the `unit_cost` of the latest receipt
//! of that (store, sku) at or before the line's `ts` (greater `event_id` first among equal `ts`),
//! else the product's current catalog cost, else zero.
//!
//! Every measure but the cost is summed per day as a difference ([`crate::sku_days`]). The
//! cost of goods is priced per day, not per line:
//! 1. per (store, sku): from its receipts and the days that have lines, each day's cost when it
//!    began (the latest earlier receipt, else the catalog cost) and that day's own receipts
//!    ([`DayCosts`]);
//! 2. a day's net units (sold less returned) at its opening cost;
//! 3. a day with receipts of its own (about one in ten) adds, for each of them, the change of
//!    cost times the net units moved at or after it: only those days' instants are joined.
//!
//! The reference definition, `queries/sku_margin.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/sku_margin.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::SkuMargin;
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis, Text};

use crate::records::{CatalogCost, Receipt, greatest};
use crate::sku_days::{DISCOUNTS, GROSS, LINES, PROMO, REFUNDS, RETURNED, SOLD, SkuDays, StoreSkuDay};
use crate::sums::Sums;

type StoreSku = (Id, Id);

/// The receipts that price the lines of one (store, sku, day).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DayCosts {
    /// The cost in force when the day began: the latest receipt of an earlier day, else the
    /// product's current catalog cost, else zero.
    opening: Cents,
    /// The cost from each of that day's receipts on, ordered by (ts, event_id).
    intraday: Vec<(Millis, Text, Cents)>,
}

impl DayCosts {
    /// The cost of a unit moved at `ts`.
    pub fn at(&self, ts: Millis) -> Cents {
        let later = self.intraday.partition_point(|(t, _, _)| *t <= ts);
        later.checked_sub(1).map_or(self.opening, |i| self.intraday[i].2)
    }

    /// Each instant the cost changes during the day, with the change.
    fn steps(&self) -> Vec<(Millis, i64)> {
        let mut steps = Vec::new();
        let mut cost = self.opening;
        for (i, (ts, _, _)) in self.intraday.iter().enumerate() {
            let next = self.at(*ts);
            let last_at_ts = self.intraday.get(i + 1).is_none_or(|(t, _, _)| t != ts);
            if last_at_ts && next != cost {
                steps.push((*ts, next.0 - cost.0));
                cost = next;
            }
        }
        steps
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum CostInput {
    LineDay(Day),
    Receipt { day: Day, ts: Millis, event_id: Text, unit_cost: Cents },
    Catalog(Cents),
}

/// The sums of a row, in this order: units sold, units returned, gross sales, discounts,
/// refunds, cogs, promo units, lines.
type Margin = Sums<8>;
const COGS: usize = 5;

/// Maintains `sku_margin` from each day's sums and instants (see [`crate::sku_days`]), receipts
/// and catalog costs.
pub fn sku_margin<'s>(
    days: &SkuDays<'s>,
    receipts: VecCollection<'s, Epoch, Receipt>,
    catalog: VecCollection<'s, Epoch, CatalogCost>,
) -> VecCollection<'s, Epoch, SkuMargin> {
    let line_days = days.sums.clone().map(|(key, _)| key);
    let current_catalog = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.unit_cost))).reduce_named(
        "sku_margin: current catalog cost",
        |_sku, versions, out| {
            // (ts, event_id as text, cost) orders as the reference does.
            if let Some(version) = greatest(versions, |v| v.clone()) {
                out.push((version.2, 1));
            }
        },
    );
    let catalog_costs = line_days
        .clone()
        .map(|(store, sku, _)| (sku, store))
        .distinct_total()
        .join_map(current_catalog, |sku, store, cost| ((*store, *sku), CostInput::Catalog(*cost)));
    let costs = line_days
        .map(|(store, sku, day)| ((store, sku), CostInput::LineDay(day)))
        .concat(receipts.map(|r| {
            let input =
                CostInput::Receipt { day: r.business_date, ts: r.ts, event_id: r.event_id, unit_cost: r.unit_cost };
            ((r.store_id, r.sku), input)
        }))
        .concat(catalog_costs)
        .reduce_named("sku_margin: day costs", price_days)
        .map(|((store, sku), (day, costs))| ((store, sku, day), costs));

    // 2. Each day's sums, its net units at its opening cost.
    let priced = days
        .sums
        .clone()
        .arrange_by_key_named("sku_margin: sums by day")
        .join_core(costs.clone().arrange_by_key_named("sku_margin: costs by day"), |key, sums, costs| {
            let s = sums.0;
            let cogs = (s[SOLD] - s[RETURNED]) * costs.opening.0;
            let margin = Sums([s[SOLD], s[RETURNED], s[GROSS], s[DISCOUNTS], s[REFUNDS], cogs, s[PROMO], s[LINES]]);
            Some((*key, margin))
        })
        .explode(|(key, margin)| Some((key, margin)));

    // 3. The change of cost at each same-day receipt, times the net units moved from then on
    //    (instants move stock: a sale is negative).
    let stepped = costs
        .flat_map(|(key, costs)| costs.steps().into_iter().map(move |step| (key, step)))
        .arrange_by_key_named("sku_margin: cost steps by day")
        .join_core(days.instants.clone(), |key, (from, change), ts| (ts >= from).then_some((*key, *change)))
        .explode(|(key, change)| {
            let mut cogs = Margin::default();
            cogs.0[COGS] = -change;
            Some((key, cogs))
        });

    priced.concat(stepped).count_total().flat_map(
        |((store_id, sku, business_date), Sums([sold, returned, gross, discounts, refunds, cogs, promo, lines])): (
            StoreSkuDay,
            Margin,
        )| {
            (lines > 0).then_some(SkuMargin {
                store_id,
                sku,
                business_date,
                units_sold: sold,
                units_returned: returned,
                gross_sales: Cents(gross),
                discounts: Cents(discounts),
                refunds: Cents(refunds),
                cogs: Cents(cogs),
                promo_units: promo,
            })
        },
    )
}

/// For each day of a (store, sku) that has lines: the opening cost and that day's receipts.
fn price_days(_key: &StoreSku, inputs: &[(&CostInput, isize)], out: &mut Vec<((Day, DayCosts), isize)>) {
    let mut receipts: Vec<(Day, Millis, &Text, Cents)> = Vec::new();
    let (mut days, mut catalog) = (Vec::new(), Cents::ZERO);
    for (input, count) in inputs {
        if *count <= 0 {
            continue;
        }
        match input {
            CostInput::LineDay(day) => days.push(*day),
            CostInput::Receipt { day, ts, event_id, unit_cost } => receipts.push((*day, *ts, event_id, *unit_cost)),
            CostInput::Catalog(cost) => catalog = *cost,
        }
    }
    receipts.sort();
    for day in days {
        let before = receipts.partition_point(|r| r.0 < day);
        let through = receipts.partition_point(|r| r.0 <= day);
        let costs = DayCosts {
            opening: before.checked_sub(1).map_or(catalog, |i| receipts[i].3),
            intraday: receipts[before..through].iter().map(|r| (r.1, r.2.clone(), r.3)).collect(),
        };
        out.push(((day, costs), 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_cost_prefers_the_latest_receipt_at_or_before_the_line() {
        let costs = DayCosts {
            opening: Cents(100),
            intraday: vec![(10, "a".into(), Cents(120)), (10, "b".into(), Cents(130)), (20, "c".into(), Cents(90))],
        };
        assert_eq!(costs.at(5), Cents(100));
        assert_eq!(costs.at(10), Cents(130), "greater event_id wins at equal ts");
        assert_eq!(costs.at(19), Cents(130));
        assert_eq!(costs.at(25), Cents(90));
        assert_eq!(costs.steps(), vec![(10, 30), (20, -40)], "one step per instant, from the cost before it");
        let flat = DayCosts { opening: Cents(7), intraday: vec![(10, "a".into(), Cents(7))] };
        assert_eq!(flat.steps(), vec![], "a receipt at the same cost changes nothing");
    }

    #[test]
    fn a_day_priced_by_its_steps_costs_what_each_line_costs() {
        let costs =
            DayCosts { opening: Cents(100), intraday: vec![(10, "a".into(), Cents(120)), (20, "b".into(), Cents(90))] };
        // Net units moved out of stock at each instant (sales positive here).
        let units = [(5, 2), (10, 1), (15, 3), (25, -1)];
        let per_line: i64 = units.iter().map(|(ts, n)| n * costs.at(*ts).0).sum();
        let total: i64 = units.iter().map(|(_, n)| n).sum();
        let by_steps = total * costs.opening.0
            + costs
                .steps()
                .iter()
                .map(|(from, change)| change * units.iter().filter(|(ts, _)| ts >= from).map(|(_, n)| n).sum::<i64>())
                .sum::<i64>();
        assert_eq!(by_steps, per_line);
    }
}

/// Beside the view, its reference test: `queries/sku_margin.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("sku_margin");
    }
}
