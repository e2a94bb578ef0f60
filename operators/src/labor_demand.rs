//! `labor_demand`: per (store, business day, local hour) the transactions, items and net sales,
//! the staff on the clock, a forecast from the same hour of the 4 previous same weekdays, and the
//! staff the hour required against the store's target.
//!
//! Reference: `queries/labor_demand.sql`. A shift runs from a clock-in to the staff member's next
//! shift event at that store (a clock-out, or a clock-in that forgot one); a shift still open runs
//! to the watermark. Shifts are split at the store's local hour boundaries.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::{hour_slices, parse_tz};
use tillflow_schemas::views::LaborDemand;
use tillflow_schemas::{Cents, Day, Epoch, Id, Millis};

use crate::records::{RefundRec, SaleRec, ShiftRec};

type Slot = (Id, Day, u8);

/// The weeks of history behind the forecast.
const FORECAST_WEEKS: Day = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Measure {
    Transactions,
    Items,
    NetSales,
    StaffMs,
    /// Refunds made: no column of its own, but an hour with one has a row.
    Refunds,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    Own(Measure, i64),
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
    let staff = staff_intervals(shifts, watermark).explode(|(store, start, end, timezone)| {
        let tz = parse_tz(&timezone).unwrap_or(chrono_tz::UTC);
        hour_slices(start, end, tz)
            .into_iter()
            .map(move |(day, hour, ms)| (((store, day, hour), Measure::StaffMs), ms as isize))
    });
    let own = effective
        .clone()
        .explode(|t| {
            let slot = (t.store_id, t.business_date, t.hour);
            [
                ((slot, Measure::Transactions), 1),
                ((slot, Measure::Items), t.items() as isize),
                ((slot, Measure::NetSales), t.net().0 as isize),
            ]
            .into_iter()
            .filter(|(_, n)| *n != 0)
        })
        .concat(refunds.explode(|r| {
            let slot = (r.store_id, r.business_date, r.hour);
            [((slot, Measure::Refunds), 1), ((slot, Measure::NetSales), -r.amount().0 as isize)]
                .into_iter()
                .filter(|(_, n)| *n != 0)
        }))
        .concat(staff)
        .count_total();

    let history = own
        .clone()
        .filter(|((_, m), _)| *m == Measure::Transactions)
        .explode(|(((store, day, hour), _), n)| (1..=FORECAST_WEEKS).map(move |k| ((store, day + 7 * k, hour), n)))
        .count_total();
    let traded_weeks = effective
        .map(|t| (t.store_id, t.business_date))
        .distinct_total()
        .explode(|(store, day)| (1..=FORECAST_WEEKS).map(move |k| ((store, day + 7 * k), 1)))
        .count_total();
    let weeks = own
        .clone()
        .map(|(((store, day, hour), _), _)| ((store, day), hour))
        .distinct_total()
        .join_map(traded_weeks, |(store, day), hour, n| ((*store, *day, *hour), Part::Weeks(*n as i64)));

    own.map(|((slot, m), n)| (slot, Part::Own(m, n as i64)))
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
                    Part::Own(m, n) => {
                        present = true;
                        match m {
                            Measure::Transactions => row.transactions = *n,
                            Measure::Items => row.items = *n,
                            Measure::NetSales => row.net_sales = Cents(*n),
                            Measure::StaffMs => row.staff_ms = *n,
                            Measure::Refunds => {}
                        }
                    }
                    Part::History(n) => row.history_transactions = *n,
                    Part::Weeks(n) => row.history_weeks = *n,
                }
            }
            if present {
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
                    out.push(((start, Some(*ts), tz.clone()), 1));
                }
                if *clock_in {
                    open = Some((*ts, timezone));
                }
            }
            if let Some((start, tz)) = open {
                out.push(((start, None, tz.clone()), 1));
            }
        });
    let closed = intervals.clone().flat_map(|((store, _), (start, end, tz))| end.map(|end| (store, start, end, tz)));
    let open = intervals
        .filter(|(_, (_, end, _))| end.is_none())
        .map(|((store, _), (start, _, tz))| ((), (store, start, tz)))
        .join_map(watermark, |_, (store, start, tz), at| (store.clone(), *start, (*at).max(*start), tz.clone()));
    closed.concat(open)
}
