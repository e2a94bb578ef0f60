//! `labor_demand`: per (store, business day, local hour) the transactions, items and net sales,
//! the staff on the clock, a forecast from the same hour of the 4 previous same weekdays, and the
//! staff the hour required against the store's target.
//!
//! Reference: `queries/labor_demand.sql`. A shift runs from a clock-in to the staff member's next
//! shift event at that store (a clock-out, or a clock-in that forgot one); a shift still open runs
//! to the watermark. Shifts are split at the store's local hour boundaries.
//!
//! The reference definition, `queries/labor_demand.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/labor_demand.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::MILLIS_PER_HOUR;
use tillflow_schemas::time::{hour_slices, parse_tz};
use tillflow_schemas::views::{LaborDemand, Ratio, StaffingStatus};
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis};

use crate::records::{RefundRec, SaleRec, ShiftRec};
use crate::sums::Sums;

type Slot = (Id, Day, u8);

/// The weeks of history behind the forecast.
const FORECAST_WEEKS: Day = 4;

/// The default staffing target: transactions one person on the clock handles in an hour.
pub const TARGET_TRANSACTIONS_PER_LABOR_HOUR: i64 = 14;

/// max(transactions × weeks, history transactions), and weeks × target: the hour's demand and
/// what one person handles, both scaled by the weeks of history (so the comparison stays exact).
fn basis(row: &LaborDemand) -> (i64, i64) {
    let weeks = row.history_weeks.max(1);
    ((row.transactions * weeks).max(row.history_transactions), weeks * row.target.max(1))
}

/// People the hour required: max(transactions, forecast) / target.
pub fn required_staff(row: &LaborDemand) -> f64 {
    let (demand, per_person) = basis(row);
    demand as f64 / per_person as f64
}

/// Understaffed when staff on clock falls short of the required staff by more than half a
/// person, overstaffed when it exceeds it by more than one and a half (compared exactly).
pub fn status(row: &LaborDemand) -> StaffingStatus {
    let (demand, per_person) = basis(row);
    let twice_gap = 2 * row.staff_ms * per_person - 2 * demand * MILLIS_PER_HOUR;
    if twice_gap < -per_person * MILLIS_PER_HOUR {
        StaffingStatus::Understaffed
    } else if twice_gap > 3 * per_person * MILLIS_PER_HOUR {
        StaffingStatus::Overstaffed
    } else {
        StaffingStatus::Ok
    }
}

/// An hour's own figures, summed by consolidation: transactions, items, net sales, staff
/// milliseconds on the clock, refunds (no column of their own, but an hour with one has a row).
type Own = Sums<5>;
const TRANSACTIONS: usize = 0;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    Own(Own),
    History(i64),
    Weeks(i64),
}

/// A shift: start, end (`None` while open) and the store's time zone.
type Interval = (Millis, Option<Millis>, Id);

/// Maintains `labor_demand`; `watermark` holds the one current watermark instant, `target` the
/// transactions per labor hour each store aims for.
pub fn labor_demand<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    shifts: VecCollection<'s, Epoch, ShiftRec>,
    watermark: VecCollection<'s, Epoch, ((), Millis)>,
    target: i64,
) -> VecCollection<'s, Epoch, LaborDemand> {
    let staff = staff_intervals(shifts, watermark).flat_map(|(store, start, end, timezone)| {
        let tz = parse_tz(&timezone).unwrap_or(chrono_tz::UTC);
        hour_slices(start, end, tz).into_iter().map(move |(day, hour, ms)| ((store, day, hour), Sums([0, 0, 0, ms, 0])))
    });
    let own = effective
        .map(|t| ((t.store_id, t.business_date, t.hour), Sums([1, t.items(), t.net().0, 0, 0])))
        .concat(refunds.map(|r| ((r.store_id, r.business_date, r.hour), Sums([0, 0, -r.amount().0, 0, 1]))))
        .concat(staff)
        .explode(|(slot, own)| Some((slot, own)))
        .count_total();

    let transactions = own.clone().flat_map(|(slot, own): (Slot, Own)| {
        let n = own.0[TRANSACTIONS];
        (n != 0).then_some((slot, n))
    });
    let history = transactions
        .clone()
        .explode(|((store, day, hour), n)| (1..=FORECAST_WEEKS).map(move |k| ((store, day + 7 * k, hour), n as isize)))
        .count_total();
    let traded_weeks = transactions
        .map(|((store, day, _), _)| (store, day))
        .distinct_total()
        .explode(|(store, day)| (1..=FORECAST_WEEKS).map(move |k| ((store, day + 7 * k), 1)))
        .count_total();
    let weeks = own
        .clone()
        .map(|((store, day, hour), _)| ((store, day), hour))
        .distinct_total()
        .join_map(traded_weeks, |(store, day), hour, n| ((*store, *day, *hour), Part::Weeks(*n as i64)));

    own.map(|(slot, own)| (slot, Part::Own(own)))
        .concat(history.map(|(slot, n)| (slot, Part::History(n as i64))))
        .concat(weeks)
        .reduce_named("labor_demand", move |(store_id, business_date, hour): &Slot, parts, out| {
            let mut row = LaborDemand {
                store_id: *store_id,
                business_date: *business_date,
                hour: *hour,
                target,
                ..LaborDemand::default()
            };
            let mut present = false;
            for (part, _) in parts {
                match part {
                    Part::Own(Sums([transactions, items, net, staff_ms, _])) => {
                        present = true;
                        (row.transactions, row.items, row.net_sales, row.staff_ms) =
                            (*transactions, *items, Cents(*net), *staff_ms);
                    }
                    Part::History(n) => row.history_transactions = *n,
                    Part::Weeks(n) => row.history_weeks = *n,
                }
            }
            if present {
                (row.required_staff, row.status) = (Ratio(required_staff(&row)), status(&row));
                out.push((row, 1));
            }
        })
        .map(|(_, row)| row)
}

/// Every shift as (store, start, end, time zone), open shifts ending at the watermark.
fn staff_intervals<'s>(
    shifts: VecCollection<'s, Epoch, ShiftRec>,
    watermark: VecCollection<'s, Epoch, ((), Millis)>,
) -> VecCollection<'s, Epoch, (Id, Millis, Millis, Id)> {
    let intervals = shifts
        .map(|s| ((s.store_id, s.staff_id), (s.ts, s.event_id, s.clock_in, s.timezone)))
        .reduce_named("labor_demand: shifts", |_key, events, out: &mut Vec<(Interval, isize)>| {
            let mut open: Option<(Millis, &Id)> = None;
            for ((ts, _, clock_in, timezone), _) in events {
                if let Some((start, tz)) = open.take() {
                    out.push(((start, Some(*ts), *tz), 1));
                }
                if *clock_in {
                    open = Some((*ts, timezone));
                }
            }
            if let Some((start, tz)) = open {
                out.push(((start, None, *tz), 1));
            }
        });
    let closed = intervals.clone().flat_map(|((store, _), (start, end, tz))| end.map(|end| (store, start, end, tz)));
    let open = intervals
        .filter(|(_, (_, end, _))| end.is_none())
        .map(|((store, _), (start, _, tz))| ((), (store, start, tz)))
        .join_map(watermark, |_, (store, start, tz), at| (*store, *start, (*at).max(*start), *tz));
    closed.concat(open)
}

/// Beside the view, its reference test: `queries/labor_demand.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("labor_demand");
    }
}
