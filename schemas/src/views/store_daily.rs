use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow, ratio};
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
    pub gross_sales: Cents,
    pub discounts: Cents,
    pub refunds: Cents,
    pub cogs: Cents,
    /// Tendered less refunded, by tender kind, in [`TENDER_COLUMNS`] order.
    pub tenders: [Cents; 5],
    pub forecast: Option<Forecast>,
}

/// The tender columns, in the order of [`StoreDaily::tenders`].
pub const TENDER_COLUMNS: [&str; 5] =
    ["tender_cash", "tender_card", "tender_gift_card", "tender_wallet", "tender_store_credit"];

impl StoreDaily {
    pub fn net_sales(&self) -> Cents {
        Cents(self.gross_sales.0 - self.discounts.0 - self.refunds.0)
    }

    pub fn gross_margin(&self) -> Cents {
        Cents(self.net_sales().0 - self.cogs.0)
    }

    /// The sales' net before refunds per transaction, in currency units.
    pub fn avg_basket(&self) -> Option<f64> {
        ratio(self.gross_sales.0 - self.discounts.0, self.transactions).map(|cents| cents / 100.0)
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
            .money("gross_sales", |r| r.gross_sales)
            .money("discounts", |r| r.discounts)
            .money("refunds", |r| r.refunds)
            .money("net_sales", Self::net_sales)
            .money("cogs", |r| r.cogs)
            .money("gross_margin", Self::gross_margin)
            .opt_real("margin_pct", |r| ratio(r.gross_margin().0, r.net_sales().0))
            .opt_real("avg_basket", Self::avg_basket)
            .opt_real("units_per_basket", |r| ratio(r.items, r.transactions));
        for (i, name) in TENDER_COLUMNS.iter().enumerate() {
            c.money(name, move |r| r.tenders[i]);
        }
        c.opt_real("forecast_net_sales", |r| r.forecast.map(|f| f.net_sales()))
            .opt_real("deviation_pct", |r| r.forecast.and_then(|f| f.deviation_pct(r.net_sales())));
    }
}
