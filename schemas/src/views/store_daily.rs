use serde::{Deserialize, Serialize};

use super::{Columns, Takings, ViewRow, ratio};
use crate::raw::TENDER_KINDS;
use crate::{Cents, Day, Id};

/// The net sales of the same weekday one to four weeks before a day (those of the four that
/// have a row): their sum and how many days it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Forecast {
    pub sum: Cents,
    pub days: i64,
}

impl Forecast {
    /// The mean of those days' net sales, in currency units (not rounded).
    pub fn net_sales(&self) -> f64 {
        self.sum.0 as f64 / self.days as f64 / 100.0
    }

    /// How far `net_sales` is from the forecast, in percent of it; `None` unless the forecast
    /// is above zero.
    pub fn deviation_pct(&self, net_sales: Cents) -> Option<f64> {
        (self.sum.0 > 0).then(|| (net_sales.0 * self.days - self.sum.0) as f64 / self.sum.0 as f64 * 100.0)
    }
}

/// `store_daily`: one row per (store, business day) with a sale or refund line (see
/// `operators::store_daily` for the rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreDaily {
    pub store_id: Id,
    pub business_date: Day,
    /// Sales that count (not post-voided).
    pub transactions: i64,
    /// Σ quantity over their lines.
    pub items: i64,
    /// Σ over the store-day's `sku_margin` rows.
    pub takings: Takings,
    /// Tendered less refunded, by tender kind, in the order of [`TENDER_KINDS`] (a column
    /// `tender_<kind>` each).
    pub tenders: [Cents; TENDER_KINDS.len()],
    pub forecast: Option<Forecast>,
}

impl StoreDaily {
    /// The sales' net before refunds per transaction, in currency units.
    pub fn avg_basket(&self) -> Option<f64> {
        ratio(self.takings.gross_sales.0 - self.takings.discounts.0, self.transactions).map(|cents| cents / 100.0)
    }
}

impl ViewRow for StoreDaily {
    const NAME: &'static str = "store_daily";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .date("business_date", |r| r.business_date)
            .int("transactions", |r| r.transactions)
            .int("items", |r| r.items)
            .takings(|r| r.takings)
            .opt_real("avg_basket", Self::avg_basket)
            .opt_real("units_per_basket", |r| ratio(r.items, r.transactions));
        for (i, (kind, _)) in TENDER_KINDS.iter().enumerate() {
            c.money(&format!("tender_{kind}"), move |r| r.tenders[i]);
        }
        c.forecast(|r| (r.forecast, r.takings.net_sales()));
    }
}
