use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id};

/// `purchase_suggestions`: one draft order per (store, day, order group), gathering the
/// `replenishment` rows of that store and group with a suggested quantity.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PurchaseSuggestion {
    pub store_id: Id,
    /// The store's watermark day: the day the draft is for.
    pub business_date: Day,
    /// The supplier, or the department of products that name none.
    pub order_group: Id,
    pub skus: i64,
    pub units: i64,
    pub cases: i64,
    pub cost: Cents,
    /// The earliest projected stock-out among its SKUs.
    pub earliest_stockout: Option<Day>,
}

impl ViewRow for PurchaseSuggestion {
    const NAME: &'static str = "purchase_suggestions";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .date("business_date", |r| r.business_date)
            .text("order_group", |r| &r.order_group)
            .int("skus", |r| r.skus)
            .int("units", |r| r.units)
            .int("cases", |r| r.cases)
            .money("cost", |r| r.cost)
            .opt_date("earliest_stockout_date", |r| r.earliest_stockout);
    }
}
