//! `sku_margin`: per (store, sku, business day) units, sales, discounts, refunds, cost of goods and margin.
//!
//! Reference: `queries/sku_margin.sql`. Cost of a line is the `unit_cost` of the latest receipt
//! of that (store, sku) at or before the line's `ts` (greater `event_id` first among equal `ts`),
//! else the product's current catalog cost, else zero.
//!
//! The as-of cost join is done in keyed steps, so no step scans a key's whole history per line:
//! 1. per (store, sku): from its receipts and the days that have lines, each day's opening cost
//!    and that day's own receipts ([`DayCosts`]), with the catalog cost beside them;
//! 2. each line joins its (store, sku, day)'s costs and becomes its contribution to the row's
//!    sums ([`Margin`]), which consolidation adds up: a new line costs O(1), not a rescan of the day.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::SkuMargin;
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis};

use crate::records::{CatalogCost, Receipt, RefundLineRec, SaleLineRec};
use crate::sums::Sums;

type StoreSku = (Id, Id);
type StoreSkuDay = (Id, Id, Day);

/// The receipts that price the lines of one (store, sku, day).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DayCosts {
    /// The cost in force when the day began: the latest receipt of an earlier day.
    opening: Option<Cents>,
    /// That day's receipts, ordered by (ts, event_id).
    intraday: Vec<(Millis, Id, Cents)>,
}

impl DayCosts {
    fn at(&self, ts: Millis) -> Option<Cents> {
        let later = self.intraday.partition_point(|(t, _, _)| *t <= ts);
        later.checked_sub(1).map(|i| self.intraday[i].2).or(self.opening)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum CostInput {
    LineDay(Day),
    Receipt { day: Day, ts: Millis, event_id: Id, unit_cost: Cents },
}

/// A sale or refund line of a (store, sku, day).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Line {
    Sale { ts: Millis, qty: i64, unit_price: Cents, discount: Cents, promo: bool },
    Refund { ts: Millis, qty: i64, amount: Cents },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum CostPart {
    Receipts(DayCosts),
    Catalog(Cents),
}

/// What prices the lines of one (store, sku, day): its receipts, and the catalog cost if any.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Costs {
    days: DayCosts,
    catalog: Option<Cents>,
}

impl Costs {
    fn at(&self, ts: Millis) -> Cents {
        self.days.at(ts).or(self.catalog).unwrap_or(Cents::ZERO)
    }
}

/// The sums of a (store, sku, day), in this order: units sold, units returned, gross sales,
/// discounts, refunds, cogs, promo units, lines.
type Margin = Sums<8>;

/// A priced line's contribution to its row's sums.
fn contribution(line: &Line, costs: &Costs) -> Margin {
    match line {
        Line::Sale { ts, qty, unit_price, discount, promo } => {
            Sums([*qty, 0, unit_price.0 * qty, discount.0, 0, costs.at(*ts).0 * qty, if *promo { *qty } else { 0 }, 1])
        }
        Line::Refund { ts, qty, amount } => Sums([0, *qty, 0, 0, amount.0, -costs.at(*ts).0 * qty, 0, 1]),
    }
}

/// Maintains `sku_margin` from effective sale lines (see [`crate::sales`]), refund lines, receipts
/// and catalog costs.
pub fn sku_margin<'s>(
    sale_lines: VecCollection<'s, Epoch, SaleLineRec>,
    refund_lines: VecCollection<'s, Epoch, RefundLineRec>,
    receipts: VecCollection<'s, Epoch, Receipt>,
    catalog: VecCollection<'s, Epoch, CatalogCost>,
) -> VecCollection<'s, Epoch, SkuMargin> {
    let sales = sale_lines.map(|l| {
        let line = Line::Sale {
            ts: l.ts,
            qty: l.qty,
            unit_price: l.unit_price,
            discount: l.discount,
            promo: l.promo_id.is_some(),
        };
        ((l.store_id, l.sku, l.business_date), line)
    });
    let refunds = refund_lines.map(|l| {
        let line = Line::Refund { ts: l.ts, qty: l.qty, amount: l.amount };
        ((l.store_id, l.sku, l.business_date), line)
    });
    let lines = sales.concat(refunds);

    let line_days = lines.clone().map(|((store, sku, day), _)| ((store, sku), day)).distinct();

    let day_costs = line_days
        .clone()
        .map(|(key, day)| (key, CostInput::LineDay(day)))
        .concat(receipts.map(|r| {
            let input =
                CostInput::Receipt { day: r.business_date, ts: r.ts, event_id: r.event_id, unit_cost: r.unit_cost };
            ((r.store_id, r.sku), input)
        }))
        .reduce_named("sku_margin: day costs", price_days)
        .map(|((store, sku), (day, costs))| ((store, sku, day), costs));

    let current_catalog = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.unit_cost))).reduce_named(
        "sku_margin: current catalog cost",
        |_sku, versions, out| {
            // Values arrive sorted; the last one present is the greatest.
            if let Some((version, _)) = versions.iter().rev().find(|(_, count)| *count > 0) {
                out.push((version.2, 1));
            }
        },
    );
    let catalog_days = line_days
        .map(|((store, sku), day)| (sku, (store, day)))
        .join_map(current_catalog, |sku, (store, day), cost| ((store.clone(), sku.clone(), *day), *cost));
    let costs = day_costs
        .map(|(key, days)| (key, CostPart::Receipts(days)))
        .concat(catalog_days.map(|(key, cost)| (key, CostPart::Catalog(cost))))
        .reduce_named("sku_margin: costs", |_key: &StoreSkuDay, parts, out| {
            let (mut days, mut catalog) = (None, None);
            for (part, _) in parts {
                match part {
                    CostPart::Receipts(d) => days = Some(d.clone()),
                    CostPart::Catalog(cost) => catalog = Some(*cost),
                }
            }
            if let Some(days) = days {
                out.push((Costs { days, catalog }, 1));
            }
        });

    lines
        .join_map(costs, |key, line, costs| (key.clone(), contribution(line, costs)))
        .explode(|(key, margin)| Some((key, margin)))
        .count()
        .flat_map(
            |(
                (store_id, sku, business_date),
                Sums([sold, returned, gross, discounts, refunds, cogs, promo, lines]),
            ): (StoreSkuDay, Margin)| {
                (lines > 0).then(|| SkuMargin {
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
    let mut receipts: Vec<(Day, Millis, &Id, Cents)> = Vec::new();
    let mut days = Vec::new();
    for (input, count) in inputs {
        if *count <= 0 {
            continue;
        }
        match input {
            CostInput::LineDay(day) => days.push(*day),
            CostInput::Receipt { day, ts, event_id, unit_cost } => receipts.push((*day, *ts, event_id, *unit_cost)),
        }
    }
    receipts.sort();
    for day in days {
        let before = receipts.partition_point(|r| r.0 < day);
        let through = receipts.partition_point(|r| r.0 <= day);
        let costs = DayCosts {
            opening: before.checked_sub(1).map(|i| receipts[i].3),
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
            opening: Some(Cents(100)),
            intraday: vec![(10, "a".into(), Cents(120)), (10, "b".into(), Cents(130)), (20, "c".into(), Cents(90))],
        };
        assert_eq!(costs.at(5), Some(Cents(100)));
        assert_eq!(costs.at(10), Some(Cents(130)), "greater event_id wins at equal ts");
        assert_eq!(costs.at(19), Some(Cents(130)));
        assert_eq!(costs.at(25), Some(Cents(90)));
        let none = DayCosts { opening: None, intraday: vec![(10, "a".into(), Cents(1))] };
        assert_eq!(none.at(9), None);
    }
}
