//! `refund_void_anomalies`: per (store, cashier, business day) the day's and the trailing 7 days'
//! voids, refunds and discounts, each 7-day rate against the district's cashiers that day.
//!
//! Reference: `queries/refund_void_anomalies.sql`. The day's and 7 days' figures come from
//! [`till_activity`]; peers are compared in one reduce per (district, day), a few dozen cashiers.
//!
//! The reference definition, `queries/refund_void_anomalies.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/refund_void_anomalies.sql"), "```")]

use differential_dataflow::VecCollection;
use tillflow_schemas::views::{RATES, Ratio, RefundVoidAnomaly, RuleBreak, TillFigures, ratio};
use tillflow_schemas::{Day, Epoch, Id};

use crate::records::{RefundRec, SaleRec, StoreRec, VoidRec};
use crate::till_activity::{self, Measure, tally, till_figures};

/// Transactions over the trailing 7 days a cashier needs before being compared or flagged.
pub const MIN_SUPPORT: i64 = 30;

/// The robust z-score from which a rate is flagged (Iglewicz and Hoaglin's 3.5); count rates
/// must also clear it on the Poisson scale.
pub const Z_THRESHOLD: f64 = 3.5;

/// Scales the median absolute deviation to a standard deviation under normality.
const MAD_TO_SD: f64 = 1.4826;

/// The rate expected of a cashier of this district: the larger of the peers' median and their
/// pooled rate (the median of a rare event is often 0).
fn expected(row: &RefundVoidAnomaly, i: usize) -> Option<f64> {
    Some(row.median[i]?.0.max(row.pooled[i]?.0))
}

/// The robust z-score of rate `i`: its distance from the peer median over the larger of the
/// peers' spread (1.4826 × MAD) and the cashier's own sampling noise (√(p / n), p the expected
/// rate), so a quiet district or a short week cannot make one event look extreme.
pub fn z(row: &RefundVoidAnomaly, i: usize) -> Option<f64> {
    let n = row.week.transactions;
    let (rate, median, mad, expected) = (row.week.rates()[i]?, row.median[i]?.0, row.mad[i]?.0, expected(row, i)?);
    if n == 0 {
        return None;
    }
    let noise = (expected.max(1.0 / n as f64) / n as f64).sqrt();
    Some((rate - median) / (MAD_TO_SD * mad).max(noise))
}

/// For the count rates, the events against those expected on the Poisson square-root scale,
/// 2 (√k − √(n p)), roughly standard normal for counts: a handful of rare events stays below the
/// threshold where a normal approximation would not.
pub fn count_z(row: &RefundVoidAnomaly, i: usize) -> Option<f64> {
    let (events, n) = row.week.rate_terms()[i];
    (i < 4).then_some(())?;
    Some(2.0 * ((events as f64).sqrt() - (n as f64 * expected(row, i)?).sqrt()))
}

/// The rates flagged, one bit each: [`MIN_SUPPORT`] transactions, a z-score of [`Z_THRESHOLD`]
/// or more, and for the count rates a Poisson z-score of as much.
pub fn flags(row: &RefundVoidAnomaly) -> u8 {
    let unusual = |z: Option<f64>| z.is_some_and(|z| z >= Z_THRESHOLD);
    (0..RATES.len())
        .filter(|&i| row.week.transactions >= MIN_SUPPORT && unusual(z(row, i)) && (i == 4 || unusual(count_z(row, i))))
        .fold(0, |bits, i| bits | 1 << i)
}

/// Maintains `refund_void_anomalies` from the sales that count, voids, refunds, rule breaks and
/// stores (for districts).
pub fn refund_void_anomalies<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    voids: VecCollection<'s, Epoch, VoidRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    rule_breaks: VecCollection<'s, Epoch, RuleBreak>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
) -> VecCollection<'s, Epoch, RefundVoidAnomaly> {
    let breaks = rule_breaks
        .explode(|b| Some(((b.store_id, b.cashier_id, b.business_date), tally(&[(Measure::RuleBreaks, 1)]))));
    let tallies = till_activity::tallies(effective, voids, refunds)
        .map(|(store, _, cashier, day)| (store, cashier, day))
        .concat(breaks);
    let figures = till_activity::daily_and_weekly(tallies, "refund_void_anomalies: figures");

    figures
        .map(|((store, cashier, day), (today, week))| {
            (store, (cashier, day, (till_figures(&today), till_figures(&week))))
        })
        .join_map(stores, |store, (cashier, day, figures), record| {
            ((record.district, *day), (*store, *cashier, figures.clone()))
        })
        .reduce_named("refund_void_anomalies: peers", |(district, business_date): &(Id, Day), members, out| {
            let weeks: Vec<&TillFigures> = members.iter().map(|((_, _, (_, week)), _)| week).collect();
            let (median, mad, pooled) = peer_spread(&weeks);
            for ((store_id, cashier_id, (day, week)), _) in members {
                let mut row = RefundVoidAnomaly {
                    store_id: *store_id,
                    cashier_id: *cashier_id,
                    business_date: *business_date,
                    district: *district,
                    day: day.clone(),
                    week: week.clone(),
                    median,
                    mad,
                    pooled,
                    z: [None; 5],
                    flags: 0,
                };
                row.z = std::array::from_fn(|i| z(&row, i).map(Ratio));
                row.flags = flags(&row);
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}

type PerRate = [Option<Ratio>; 5];

/// Per rate, over the cashiers with [`MIN_SUPPORT`]: the median, the median absolute deviation,
/// and the pooled rate (Σ numerators / Σ denominators).
pub fn peer_spread(weeks: &[&TillFigures]) -> (PerRate, PerRate, PerRate) {
    let peers: Vec<&&TillFigures> = weeks.iter().filter(|w| w.transactions >= MIN_SUPPORT).collect();
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

/// Beside the view, its reference test: `queries/refund_void_anomalies.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("refund_void_anomalies");
    }
}
