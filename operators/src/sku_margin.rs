//! `sku_margin`: per (store, sku, business day) units, sales, discounts, refunds, cost of goods and margin.
//!
//! Reference: `queries/sku_margin.sql`. Cost of a line is the `unit_cost` of the latest receipt
//! of that (store, sku) at or before the line's `ts` (greater `event_id` first among equal `ts`),
//! else the product's current catalog cost, else zero.
//!
//! The as-of cost join is done in two keyed steps, so no step scans a key's whole history per line:
//! 1. per (store, sku): from its receipts and the days that have lines, each day's opening cost
//!    and that day's own receipts ([`DayCosts`]);
//! 2. per (store, sku, day): that day's lines priced against [`DayCosts`] and the catalog cost.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::SkuMargin;
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis};

use crate::records::{CatalogCost, Receipt, RefundLineRec, SaleLineRec};

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

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum MarginInput {
    Costs(DayCosts),
    Catalog(Cents),
    Sale { ts: Millis, qty: i64, unit_price: Cents, discount: Cents, promo: bool },
    Refund { ts: Millis, qty: i64, amount: Cents },
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
        let input = MarginInput::Sale {
            ts: l.ts,
            qty: l.qty,
            unit_price: l.unit_price,
            discount: l.discount,
            promo: l.promo_id.is_some(),
        };
        ((l.store_id, l.sku, l.business_date), input)
    });
    let refunds = refund_lines.map(|l| {
        let input = MarginInput::Refund { ts: l.ts, qty: l.qty, amount: l.amount };
        ((l.store_id, l.sku, l.business_date), input)
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
        .map(|((store, sku), (day, costs))| ((store, sku, day), MarginInput::Costs(costs)));

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
        .join_map(current_catalog, |sku, (store, day), cost| {
            ((store.clone(), sku.clone(), *day), MarginInput::Catalog(*cost))
        });

    lines
        .concat(day_costs)
        .concat(catalog_days)
        .reduce_named("sku_margin", |key: &StoreSkuDay, inputs, out| {
            if let Some(row) = margin_row(key, inputs) {
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
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

/// Prices one (store, sku, day)'s lines; `None` if it has no lines left.
fn margin_row(key: &StoreSkuDay, inputs: &[(&MarginInput, isize)]) -> Option<SkuMargin> {
    let mut costs = None;
    let mut catalog = None;
    for (input, _) in inputs {
        match input {
            MarginInput::Costs(c) => costs = Some(c),
            MarginInput::Catalog(c) => catalog = Some(*c),
            _ => {}
        }
    }
    let cost_at = |ts: Millis| costs.and_then(|c| c.at(ts)).or(catalog).unwrap_or(Cents::ZERO);
    let (store_id, sku, business_date) = key.clone();
    let mut row = SkuMargin { store_id, sku, business_date, ..SkuMargin::default() };
    let mut lines = 0;
    for (input, count) in inputs {
        let n = *count as i64;
        match input {
            MarginInput::Sale { ts, qty, unit_price, discount, promo } => {
                let qty = qty * n;
                row.units_sold += qty;
                row.gross_sales.0 += unit_price.0 * qty;
                row.discounts.0 += discount.0 * n;
                row.cogs.0 += cost_at(*ts).0 * qty;
                if *promo {
                    row.promo_units += qty;
                }
                lines += n;
            }
            MarginInput::Refund { ts, qty, amount } => {
                let qty = qty * n;
                row.units_returned += qty;
                row.refunds.0 += amount.0 * n;
                row.cogs.0 -= cost_at(*ts).0 * qty;
                lines += n;
            }
            MarginInput::Costs(_) | MarginInput::Catalog(_) => {}
        }
    }
    (lines > 0).then_some(row)
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
