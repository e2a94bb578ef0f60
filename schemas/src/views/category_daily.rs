use serde::{Deserialize, Serialize};

use super::{Columns, Forecast, Takings, ViewRow};
use crate::{Day, Id};

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
    /// Σ over the class-day's `sku_margin` rows.
    pub takings: Takings,
    pub forecast: Option<Forecast>,
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
            .takings(|r| r.takings)
            .forecast(|r| (r.forecast, r.takings.net_sales()));
    }
}
