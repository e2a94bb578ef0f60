use serde::{Deserialize, Serialize};

use super::{Columns, Takings, ViewRow};
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
    pub fn takings(&self) -> Takings {
        Takings { gross_sales: self.gross_sales, discounts: self.discounts, refunds: self.refunds, cogs: self.cogs }
    }

    pub fn net_sales(&self) -> Cents {
        self.takings().net_sales()
    }

    pub fn gross_margin(&self) -> Cents {
        self.takings().gross_margin()
    }

    pub fn margin_pct(&self) -> Option<f64> {
        self.takings().margin_pct()
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
            .takings(Self::takings)
            .int("promo_units", |r| r.promo_units);
    }
}
