use serde::{Deserialize, Serialize};

use super::{Columns, Ratio, ViewRow, ratio};
use crate::time::MILLIS_PER_HOUR;
use crate::{Cents, Day, Id};

/// How an hour's staff on clock compares with the staff it required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StaffingStatus {
    /// Short by more than half a person.
    Understaffed,
    /// More than one and a half people beyond what was required.
    Overstaffed,
    #[default]
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
    /// People the hour required (see `operators::labor_demand`).
    pub required_staff: Ratio,
    pub status: StaffingStatus,
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

    /// staff_on_clock − required_staff: negative when short.
    pub fn gap(&self) -> f64 {
        self.staff_on_clock() - self.required_staff.0
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
            .real("required_staff", |r| r.required_staff.0)
            .real("gap", Self::gap)
            .text("status", |r| r.status.name());
    }
}
