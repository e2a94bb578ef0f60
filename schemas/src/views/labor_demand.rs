use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow, ratio};
use crate::time::MILLIS_PER_HOUR;
use crate::{Cents, Day, Id};

/// The default staffing target: transactions one person on the clock handles in an hour.
pub const TARGET_TRANSACTIONS_PER_LABOR_HOUR: i64 = 14;

/// How an hour's staff on clock compares with the staff it required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffingStatus {
    /// Short by more than half a person.
    Understaffed,
    /// More than one and a half people beyond what was required.
    Overstaffed,
    Ok,
}

impl StaffingStatus {
    pub fn name(self) -> &'static str {
        match self {
            StaffingStatus::Understaffed => "understaffed",
            StaffingStatus::Overstaffed => "overstaffed",
            StaffingStatus::Ok => "ok",
        }
    }
}

/// `labor_demand`: one row per (store, business day, local hour) with sales, refunds or staff.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LaborDemand {
    pub store_id: Id,
    pub business_date: Day,
    /// Store-local hour of day, 0..=23.
    pub hour: u8,
    pub transactions: i64,
    pub items: i64,
    /// Sales net of discounts, less refunds made in that hour.
    pub net_sales: Cents,
    /// Staff-milliseconds on the clock within the hour (open shifts counted to the watermark).
    pub staff_ms: i64,
    /// Transactions in the same hour on the same weekday of the 4 previous weeks ...
    pub history_transactions: i64,
    /// ... and how many of those 4 days the store traded at all.
    pub history_weeks: i64,
    /// The store's target transactions per labor hour.
    pub target: i64,
}

impl LaborDemand {
    pub fn staff_on_clock(&self) -> f64 {
        self.staff_ms as f64 / MILLIS_PER_HOUR as f64
    }

    pub fn transactions_per_labor_hour(&self) -> Option<f64> {
        ratio(self.transactions * MILLIS_PER_HOUR, self.staff_ms)
    }

    /// Mean transactions of that hour over the previous 4 same weekdays the store traded.
    pub fn forecast_transactions(&self) -> Option<f64> {
        ratio(self.history_transactions, self.history_weeks)
    }

    /// max(transactions × weeks, history): the hour's demand, scaled by the weeks of history.
    fn basis(&self) -> (i64, i64) {
        let weeks = self.history_weeks.max(1);
        ((self.transactions * weeks).max(self.history_transactions), weeks * self.target.max(1))
    }

    /// People the hour required: max(transactions, forecast) / target.
    pub fn required_staff(&self) -> f64 {
        let (demand, per_person) = self.basis();
        demand as f64 / per_person as f64
    }

    /// staff_on_clock − required_staff: negative when short.
    pub fn gap(&self) -> f64 {
        self.staff_on_clock() - self.required_staff()
    }

    /// Understaffed when the gap is below −½ person, overstaffed above +1½ (compared exactly).
    pub fn status(&self) -> StaffingStatus {
        let (demand, per_person) = self.basis();
        // 2 × gap × per_person × hour, in integers.
        let twice_gap = 2 * self.staff_ms * per_person - 2 * demand * MILLIS_PER_HOUR;
        if twice_gap < -per_person * MILLIS_PER_HOUR {
            StaffingStatus::Understaffed
        } else if twice_gap > 3 * per_person * MILLIS_PER_HOUR {
            StaffingStatus::Overstaffed
        } else {
            StaffingStatus::Ok
        }
    }
}

impl ViewRow for LaborDemand {
    const NAME: &'static str = "labor_demand";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .date("business_date", |r| r.business_date)
            .int("hour", |r| r.hour as i64)
            .int("transactions", |r| r.transactions)
            .int("items", |r| r.items)
            .money("net_sales", |r| r.net_sales)
            .real("staff_on_clock", Self::staff_on_clock)
            .opt_real("transactions_per_labor_hour", Self::transactions_per_labor_hour)
            .opt_real("forecast_transactions", Self::forecast_transactions)
            .int("target_per_labor_hour", |r| r.target)
            .real("required_staff", Self::required_staff)
            .real("gap", Self::gap)
            .text("status", |r| r.status().name());
    }
}
