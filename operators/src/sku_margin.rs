//! `sku_margin`: per (store, sku, business day) units, sales, discounts, refunds, cost of goods and margin.
//!
//! Reference: `queries/sku_margin.sql`. Cost of a line is the `unit_cost` of the latest receipt
//! of that (store, sku) at or before the line's `ts` (greater `event_id` first among equal `ts`),
//! else the product's current catalog cost, else zero.
//!
//! Every measure of a line is a difference ([`Margin`]) that consolidation adds up per row, so a
//! line costs O(1) whatever the day holds. Only the cost of goods needs a join, done in keyed steps
//! so that no step rescans a row's lines:
//! 1. the quantity each (store, sku, day) moves at each instant, summed as differences;
//! 2. per (store, sku): from its receipts and the days that have lines, each day's opening cost
//!    and that day's own receipts ([`DayCosts`]), with the catalog cost beside them;
//! 3. each instant's quantity joins its day's costs and becomes its row's cost of goods.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::SkuMargin;
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis, Text};

use crate::keyed::keys;
use crate::records::{CatalogCost, Receipt, RefundRec, SaleRec, greatest};
use crate::sums::Sums;

type StoreSku = (Id, Id);
type StoreSkuDay = (Id, Id, Day);

/// The receipts that price the lines of one (store, sku, day).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DayCosts {
    /// The cost in force when the day began: the latest receipt of an earlier day.
    opening: Option<Cents>,
    /// That day's receipts, ordered by (ts, event_id).
    intraday: Vec<(Millis, Text, Cents)>,
    /// The product's current catalog cost.
    catalog: Option<Cents>,
}

impl DayCosts {
    /// The cost of a unit moved at `ts`.
    fn at(&self, ts: Millis) -> Cents {
        let later = self.intraday.partition_point(|(t, _, _)| *t <= ts);
        later.checked_sub(1).map(|i| self.intraday[i].2).or(self.opening).or(self.catalog).unwrap_or(Cents::ZERO)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum CostInput {
    LineDay(Day),
    Receipt { day: Day, ts: Millis, event_id: Text, unit_cost: Cents },
    Catalog(Cents),
}

/// The sums of a (store, sku, day), in this order: units sold, units returned, gross sales,
/// discounts, refunds, cogs, promo units, lines.
type Margin = Sums<8>;

/// Maintains `sku_margin` from the sales that count (see [`crate::sales`]), refunds, receipts and
/// catalog costs.
pub fn sku_margin<'s>(
    sales: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    receipts: VecCollection<'s, Epoch, Receipt>,
    catalog: VecCollection<'s, Epoch, CatalogCost>,
) -> VecCollection<'s, Epoch, SkuMargin> {
    // 1. Every measure but the cost, as differences; and the quantity moved at each instant.
    let sale_sums = sales.clone().flat_map(|s| {
        let (store, day) = (s.store_id, s.business_date);
        s.lines.into_iter().map(move |l| {
            let promo = if l.promo_id.is_some() { l.qty } else { 0 };
            ((store, l.sku, day), Sums([l.qty, 0, l.gross(), l.discount.0, 0, 0, promo, 1]))
        })
    });
    let refund_sums = refunds.clone().flat_map(|r| {
        let (store, day) = (r.store_id, r.business_date);
        r.lines.into_iter().map(move |l| ((store, l.sku, day), Sums([0, l.qty, 0, 0, l.amount.0, 0, 0, 1])))
    });
    let sums = sale_sums.concat(refund_sums).explode(|(key, sums)| Some((key, sums)));

    let moved = sales
        .flat_map(|s| {
            let (store, day, ts) = (s.store_id, s.business_date, s.ts);
            s.lines.into_iter().map(move |l| (((store, l.sku, day), ts), l.qty))
        })
        .concat(refunds.flat_map(|r| {
            let (store, day, ts) = (r.store_id, r.business_date, r.ts);
            r.lines.into_iter().map(move |l| (((store, l.sku, day), ts), -l.qty))
        }))
        .explode(|(key, qty)| Some((key, qty as isize)))
        .arrange_by_key_named("sku_margin: units moved by instant");

    // 2. What prices each day that has lines.
    let line_days = keys(moved.clone(), "sku_margin: days with lines");
    let current_catalog = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.unit_cost))).reduce_named(
        "sku_margin: current catalog cost",
        |_sku, versions, out| {
            // (ts, event_id as text, cost) orders as the reference does.
            if let Some(version) = greatest(versions, |v| v.clone()) {
                out.push((version.2, 1));
            }
        },
    );
    let costs = line_days
        .clone()
        .map(|(store, sku, day)| ((store, sku), CostInput::LineDay(day)))
        .concat(receipts.map(|r| {
            let input =
                CostInput::Receipt { day: r.business_date, ts: r.ts, event_id: r.event_id, unit_cost: r.unit_cost };
            ((r.store_id, r.sku), input)
        }))
        .concat(
            line_days
                .map(|(store, sku, _)| (sku, store))
                .distinct_total()
                .join_map(current_catalog, |sku, store, cost| ((*store, *sku), CostInput::Catalog(*cost))),
        )
        .reduce_named("sku_margin: day costs", price_days)
        .map(|((store, sku), (day, costs))| ((store, sku, day), costs))
        .arrange_by_key_named("sku_margin: costs by day");

    // 3. The cost of goods of each instant's quantity, into the same sums.
    let cogs = moved.join_core(costs, |key, ts, costs| Some((*key, costs.at(*ts).0))).explode(|(key, cost)| {
        let mut cogs = Margin::default();
        cogs.0[5] = cost;
        Some((key, cogs))
    });

    sums.concat(cogs).count_total().flat_map(
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

/// For each day of a (store, sku) that has lines: the opening cost, that day's receipts and the
/// catalog cost.
fn price_days(_key: &StoreSku, inputs: &[(&CostInput, isize)], out: &mut Vec<((Day, DayCosts), isize)>) {
    let mut receipts: Vec<(Day, Millis, &Text, Cents)> = Vec::new();
    let (mut days, mut catalog) = (Vec::new(), None);
    for (input, count) in inputs {
        if *count <= 0 {
            continue;
        }
        match input {
            CostInput::LineDay(day) => days.push(*day),
            CostInput::Receipt { day, ts, event_id, unit_cost } => receipts.push((*day, *ts, event_id, *unit_cost)),
            CostInput::Catalog(cost) => catalog = Some(*cost),
        }
    }
    receipts.sort();
    for day in days {
        let before = receipts.partition_point(|r| r.0 < day);
        let through = receipts.partition_point(|r| r.0 <= day);
        let costs = DayCosts {
            opening: before.checked_sub(1).map(|i| receipts[i].3),
            intraday: receipts[before..through].iter().map(|r| (r.1, r.2.clone(), r.3)).collect(),
            catalog,
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
            opening: Some(Cents(100)),
            intraday: vec![(10, "a".into(), Cents(120)), (10, "b".into(), Cents(130)), (20, "c".into(), Cents(90))],
            catalog: Some(Cents(1)),
        };
        assert_eq!(costs.at(5), Cents(100));
        assert_eq!(costs.at(10), Cents(130), "greater event_id wins at equal ts");
        assert_eq!(costs.at(19), Cents(130));
        assert_eq!(costs.at(25), Cents(90));
        let none = DayCosts { opening: None, intraday: vec![(10, "a".into(), Cents(1))], catalog: Some(Cents(7)) };
        assert_eq!(none.at(9), Cents(7), "the catalog cost before any receipt");
        let nothing = DayCosts { opening: None, intraday: vec![], catalog: None };
        assert_eq!(nothing.at(9), Cents::ZERO);
    }
}
