//! `register_anomalies`: per (store, register, business day) the day's and the trailing 7 days'
//! voids and refunds, each 7-day rate against the store's other registers over the same days.
//!
//! A register is judged within its own store, where the other registers see the same customers,
//! staff and hours: what stands out is the till itself (a faulty scanner, a drawer used for
//! refunds without receipt), whichever cashiers work it. The figures come from
//! [`till_activity`]; the store's registers are compared in one reduce per (store, day).
//!
//! The reference definition, `queries/register_anomalies.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/register_anomalies.sql"), "```")]

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use differential_dataflow::difference::{Abelian, Semigroup};
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{REGISTER_RATES, Ratio, RegisterAnomaly};
use tillflow_schemas::{Day, Epoch, Id};

use crate::records::{RefundRec, SaleRec, StoreRec, VoidRec};
use crate::refund_void_anomalies::MIN_SUPPORT;
use crate::till_activity::{self, Tally, WINDOW_DAYS, till_figures};

/// The Poisson z-score from which a register's rate is flagged. Stricter than the cashiers' 3.5:
/// a register is compared with two or three others, not a district's dozens of cashiers, so
/// its baseline is itself uncertain and a store's few registers give chance more tries per day.
pub const Z_THRESHOLD: f64 = 4.5;

/// How many times the other registers' rate a register's rate must reach to be flagged, beside
/// the Poisson z-score: in a busy store a small excess can be significant and still not matter.
pub const RATE_RATIO: f64 = 2.0;

/// The rate expected of a register: the other registers' rate counting one event more than they
/// had, (events + 1) / transactions: none seen is not a rate of zero, and a few seen are an
/// uncertain rate, not a precise one.
pub fn expected(row: &RegisterAnomaly, i: usize) -> Option<f64> {
    let (events, n) = row.others.rate_terms()[i];
    (n > 0).then(|| (events + 1) as f64 / n as f64)
}

/// The register's events against those the expected rate predicts, on the Poisson square-root
/// scale: 2 (√k − √(n p)), roughly standard normal for counts.
pub fn count_z(row: &RegisterAnomaly, i: usize) -> Option<f64> {
    let (events, n) = row.week.rate_terms()[i];
    let p = expected(row, i)?;
    (n > 0).then(|| 2.0 * ((events as f64).sqrt() - (n as f64 * p).sqrt()))
}

/// The rates flagged, one bit each: [`MIN_SUPPORT`] transactions on the register and on the
/// others, a Poisson z-score of [`Z_THRESHOLD`] or more, and [`RATE_RATIO`] times the expected rate.
pub fn flags(row: &RegisterAnomaly) -> u8 {
    let supported = row.week.transactions >= MIN_SUPPORT && row.others.transactions >= MIN_SUPPORT;
    (0..REGISTER_RATES.len())
        .filter(|&i| {
            let rate = row.week.rates()[i];
            let (z, p) = (count_z(row, i), expected(row, i));
            supported
                && z.is_some_and(|z| z >= Z_THRESHOLD)
                && rate.zip(p).is_some_and(|(rate, p)| rate >= RATE_RATIO * p)
        })
        .fold(0, |bits, i| bits | 1 << i)
}

/// What the per-(store, day) comparison receives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    /// The store's 7-day sums over every register.
    Store(Tally),
    /// A register active that day: its day's and 7 days' sums.
    Register(Id, Tally, Tally),
    /// The cashiers who worked a register over the 7 days.
    Cashiers(Id, i64),
}

/// Maintains `register_anomalies` from the sales that count, voids, refunds and stores (for districts).
pub fn register_anomalies<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    voids: VecCollection<'s, Epoch, VoidRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
) -> VecCollection<'s, Epoch, RegisterAnomaly> {
    let tallies = till_activity::tallies(effective, voids, refunds);
    // The cashiers who rang anything on a register, over the 7 days ending on each day.
    let worked = tallies
        .clone()
        .count_total()
        .flat_map(|((store, register, cashier, day), _)| {
            (0..WINDOW_DAYS).map(move |d| ((store, register, day + d), cashier))
        })
        .distinct_total()
        .map(|((store, register, day), _)| (store, register, day))
        .count_total()
        .map(|((store, register, day), cashiers)| ((store, day), Part::Cashiers(register, cashiers as i64)));
    let by_register = tallies.map(|(store, register, _, day)| (store, register, day));
    let registers = till_activity::daily_and_weekly(by_register.clone(), "register_anomalies: registers")
        .map(|((store, register, day), (today, week))| ((store, day), Part::Register(register, today, week)));
    // The whole store's 7 days, keyed like a register named after the store.
    let store_weeks = till_activity::daily_and_weekly(
        by_register.map(|(store, _, day)| (store, store, day)),
        "register_anomalies: stores",
    )
    .map(|((store, _, day), (_, week))| ((store, day), Part::Store(week)));

    registers
        .concat(store_weeks)
        .concat(worked)
        .reduce_named(
            "register_anomalies: registers of a store",
            |(store_id, business_date): &(Id, Day), parts, out| {
                let mut store_week = Tally::default();
                let mut cashiers = BTreeMap::new();
                for (part, _) in parts {
                    match part {
                        Part::Store(week) => store_week = *week,
                        Part::Cashiers(register, n) => {
                            cashiers.insert(*register, *n);
                        }
                        Part::Register(..) => {}
                    }
                }
                for (part, _) in parts {
                    let Part::Register(register_id, today, week) = part else { continue };
                    let mut others = *week;
                    others.negate();
                    others.plus_equals(&store_week);
                    let mut row = RegisterAnomaly {
                        store_id: *store_id,
                        register_id: *register_id,
                        business_date: *business_date,
                        district: Id::default(),
                        day: till_figures(today),
                        week: till_figures(week),
                        cashiers: cashiers.get(register_id).copied().unwrap_or(0),
                        others: till_figures(&others),
                        z: [None; 4],
                        flags: 0,
                    };
                    row.z = std::array::from_fn(|i| count_z(&row, i).map(Ratio));
                    row.flags = flags(&row);
                    out.push((row, 1));
                }
            },
        )
        .map(|((store, _), row)| (store, row))
        .join_map(stores, |_, row, store| RegisterAnomaly { district: store.district, ..row.clone() })
}

/// Beside the view, its reference test: `queries/register_anomalies.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("register_anomalies");
    }
}
