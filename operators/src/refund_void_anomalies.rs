//! `refund_void_anomalies`: per (store, cashier, business day) the day's and the trailing 7 days'
//! voids, refunds and discounts, each 7-day rate against the district's cashiers that day.
//!
//! Reference: `queries/refund_void_anomalies.sql`. Each measure is summed by consolidation (a
//! sale costs O(1) work); the 7-day sums re-weight each day's totals onto the 7 days it belongs
//! to; peers are compared in one reduce per (district, day), a few dozen cashiers.

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{CashierFigures, MIN_SUPPORT, RATES, Ratio, RefundVoidAnomaly, RuleBreak, ratio};
use tillflow_schemas::{Day, Id};
use timely::progress::Timestamp;

use crate::records::{RefundRec, StoreRec, TransactionRec, VoidRec};

type CashierDay = (Id, Id, Day);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Measure {
    Transactions,
    Gross,
    Discount,
    ManualDiscount,
    LineVoids,
    PostVoids,
    Refunds,
    NoReceiptRefunds,
    RefundAmount,
    RuleBreaks,
}

impl Measure {
    fn add_to(self, figures: &mut CashierFigures, n: i64) {
        match self {
            Measure::Transactions => figures.transactions += n,
            Measure::Gross => figures.gross_sales.0 += n,
            Measure::Discount => figures.discount_amount.0 += n,
            Measure::ManualDiscount => figures.manual_discount_amount.0 += n,
            Measure::LineVoids => figures.line_voids += n,
            Measure::PostVoids => figures.post_voids += n,
            Measure::Refunds => figures.refunds += n,
            Measure::NoReceiptRefunds => figures.no_receipt_refunds += n,
            Measure::RefundAmount => figures.refund_amount.0 += n,
            Measure::RuleBreaks => figures.rule_breaks += n,
        }
    }
}

/// The days a business day's figures count towards: itself and the 6 after it.
const WINDOW_DAYS: Day = 7;

/// Maintains `refund_void_anomalies` from the sales that count, every void, refunds, rule breaks
/// and the current store records.
pub fn refund_void_anomalies<'s, T>(
    effective: VecCollection<'s, T, TransactionRec>,
    voids: VecCollection<'s, T, VoidRec>,
    refunds: VecCollection<'s, T, RefundRec>,
    rule_breaks: VecCollection<'s, T, RuleBreak>,
    stores: VecCollection<'s, T, (Id, StoreRec)>,
) -> VecCollection<'s, T, RefundVoidAnomaly>
where
    T: Timestamp + Lattice + Ord,
{
    let measure = |key: CashierDay, measure: Measure, n: i64| (n != 0).then_some(((key, measure), n as isize));
    let measures = effective
        .explode(move |t| {
            let key = (t.store_id, t.cashier_id, t.business_date);
            [
                measure(key.clone(), Measure::Transactions, 1),
                measure(key.clone(), Measure::Gross, t.gross.0),
                measure(key.clone(), Measure::Discount, t.discount.0),
                measure(key, Measure::ManualDiscount, t.manual_discount.0),
            ]
            .into_iter()
            .flatten()
        })
        .concat(voids.explode(move |v| {
            let key = (v.store_id, v.cashier_id, v.business_date);
            if v.post { measure(key, Measure::PostVoids, 1) } else { measure(key, Measure::LineVoids, v.lines) }
        }))
        .concat(refunds.explode(move |r| {
            let key = (r.store_id, r.cashier_id, r.business_date);
            [
                measure(key.clone(), Measure::Refunds, 1),
                measure(key.clone(), Measure::NoReceiptRefunds, r.original_transaction_id.is_none() as i64),
                measure(key, Measure::RefundAmount, r.amount.0),
            ]
            .into_iter()
            .flatten()
        }))
        .concat(
            rule_breaks.explode(move |b| measure((b.store_id, b.cashier_id, b.business_date), Measure::RuleBreaks, 1)),
        );

    let daily = measures.count();
    let weekly = daily
        .clone()
        .explode(|(((store, cashier, day), m), n)| {
            (0..WINDOW_DAYS).map(move |d| (((store.clone(), cashier.clone(), day + d), m), n))
        })
        .count();

    let figures = daily
        .map(|((key, m), n)| (key, (false, m, n as i64)))
        .concat(weekly.map(|((key, m), n)| (key, (true, m, n as i64))))
        .reduce_named("refund_void_anomalies: figures", |_key: &CashierDay, parts, out| {
            let (mut day, mut week, mut active) = (CashierFigures::default(), CashierFigures::default(), false);
            for ((weekly, m, n), _) in parts {
                if *weekly {
                    m.add_to(&mut week, *n);
                } else {
                    m.add_to(&mut day, *n);
                    active = true;
                }
            }
            if active {
                out.push(((day, week), 1));
            }
        });

    figures
        .map(|((store, cashier, day), figures)| (store, (cashier, day, figures)))
        .join_map(stores, |store, (cashier, day, figures), record| {
            ((record.district.clone(), *day), (store.clone(), cashier.clone(), figures.clone()))
        })
        .reduce_named("refund_void_anomalies: peers", |(district, business_date): &(Id, Day), members, out| {
            let weeks: Vec<&CashierFigures> = members.iter().map(|((_, _, (_, week)), _)| week).collect();
            let (median, mad, pooled) = peer_spread(&weeks);
            for ((store_id, cashier_id, (day, week)), _) in members {
                let row = RefundVoidAnomaly {
                    store_id: store_id.clone(),
                    cashier_id: cashier_id.clone(),
                    business_date: *business_date,
                    district: district.clone(),
                    day: day.clone(),
                    week: week.clone(),
                    median,
                    mad,
                    pooled,
                };
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}

type PerRate = [Option<Ratio>; 5];

/// Per rate, over the cashiers with [`MIN_SUPPORT`]: the median, the median absolute deviation,
/// and the pooled rate (Σ numerators / Σ denominators).
pub fn peer_spread(weeks: &[&CashierFigures]) -> (PerRate, PerRate, PerRate) {
    let peers: Vec<&&CashierFigures> = weeks.iter().filter(|w| w.transactions >= MIN_SUPPORT).collect();
    let (mut median, mut mad, mut pooled) = ([None; 5], [None; 5], [None; 5]);
    for i in 0..RATES.len() {
        let rates: Vec<f64> = peers.iter().filter_map(|w| w.rates()[i]).collect();
        if let Some(m) = median_of(rates.clone()) {
            median[i] = Some(Ratio(m));
            mad[i] = median_of(rates.iter().map(|r| (r - m).abs()).collect()).map(Ratio);
        }
        let (num, den) = peers.iter().map(|w| w.rate_terms()[i]).fold((0, 0), |(a, b), (n, d)| (a + n, b + d));
        pooled[i] = ratio(num, den).map(Ratio);
    }
    (median, mad, pooled)
}

fn median_of(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}
