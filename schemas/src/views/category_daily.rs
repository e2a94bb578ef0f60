use serde::{Deserialize, Serialize};

use super::{Columns, Forecast, ViewRow, ratio};
use crate::{Cents, Day, Id};

/// `category_daily`: one row per (store, department, category, business day) with a sale or
/// refund line of a product of that category (see `operators::category_daily`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CategoryDaily {
    pub store_id: Id,
    /// The product's current department and category; `None` for SKUs without a product record.
    pub department: Option<Id>,
    pub category: Option<Id>,
    pub business_date: Day,
    pub items: i64,
    pub units_returned: i64,
    pub gross_sales: Cents,
    pub discounts: Cents,
    pub refunds: Cents,
    pub cogs: Cents,
    pub forecast: Option<Forecast>,
}

impl CategoryDaily {
    pub fn net_sales(&self) -> Cents {
        Cents(self.gross_sales.0 - self.discounts.0 - self.refunds.0)
    }

    pub fn gross_margin(&self) -> Cents {
        Cents(self.net_sales().0 - self.cogs.0)
    }
}

impl ViewRow for CategoryDaily {
    const NAME: &'static str = "category_daily";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .opt_text("department", |r| r.department.as_ref().map(Id::as_str))
            .opt_text("category", |r| r.category.as_ref().map(Id::as_str))
            .date("business_date", |r| r.business_date)
            .int("items", |r| r.items)
            .int("units_returned", |r| r.units_returned)
            .money("gross_sales", |r| r.gross_sales)
            .money("discounts", |r| r.discounts)
            .money("refunds", |r| r.refunds)
            .money("net_sales", Self::net_sales)
            .money("cogs", |r| r.cogs)
            .money("gross_margin", Self::gross_margin)
            .opt_real("margin_pct", |r| ratio(r.gross_margin().0, r.net_sales().0))
            .opt_real("forecast_net_sales", |r| r.forecast.map(|f| f.net_sales()))
            .opt_real("deviation_pct", |r| r.forecast.and_then(|f| f.deviation_pct(r.net_sales())));
    }
}
