use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id};

/// `sku_margin`: one row per (store, sku, business day) with a sale or refund line.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkuMargin {
    pub store_id: Id,
    pub sku: Id,
    pub business_date: Day,
    pub units_sold: i64,
    pub units_returned: i64,
    pub gross_sales: Cents,
    pub discounts: Cents,
    pub refunds: Cents,
    pub cogs: Cents,
    pub promo_units: i64,
}

impl SkuMargin {
    pub fn net_sales(&self) -> Cents {
        Cents(self.gross_sales.0 - self.discounts.0 - self.refunds.0)
    }

    pub fn gross_margin(&self) -> Cents {
        Cents(self.net_sales().0 - self.cogs.0)
    }

    /// `gross_margin / net_sales`, `None` when net sales are zero.
    pub fn margin_pct(&self) -> Option<f64> {
        super::ratio(self.gross_margin().0, self.net_sales().0)
    }
}

impl ViewRow for SkuMargin {
    const NAME: &'static str = "sku_margin";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("sku", |r| &r.sku)
            .date("business_date", |r| r.business_date)
            .int("units_sold", |r| r.units_sold)
            .int("units_returned", |r| r.units_returned)
            .money("gross_sales", |r| r.gross_sales)
            .money("discounts", |r| r.discounts)
            .money("refunds", |r| r.refunds)
            .money("net_sales", Self::net_sales)
            .money("cogs", |r| r.cogs)
            .money("gross_margin", Self::gross_margin)
            .opt_real("margin_pct", Self::margin_pct)
            .int("promo_units", |r| r.promo_units);
    }
}
