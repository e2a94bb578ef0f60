use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow, ratio};
use crate::{Cents, Day, Id};

/// The weekdays, Monday first, as `replenishment` names its demand columns.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `replenishment`: one row per (store, sku) with a row in `inventory_position`, a product
/// record and a watermark day. The projection and the suggestion are computed by
/// `operators::replenishment`, which holds their rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Replenishment {
    pub store_id: Id,
    pub sku: Id,
    /// The store-local day of the watermark: the projection starts the day after.
    pub as_of_date: Day,
    pub on_hand: i64,
    /// Units sold on each weekday (Monday first) over the 28 days ending on `as_of_date`.
    pub weekday_units: [i64; 7],
    /// The days of each weekday in those 28 the store traded (had a sale or refund line): 0 to 4.
    pub weekday_days: [i64; 7],
    pub lead_time_days: i64,
    pub case_pack: i64,
    /// Days of the order cycle (lead time, safety days and review days ahead) under a promotion.
    pub promo_days: i64,
    /// Units the projection sells over the lead time and the safety days, rounded up.
    pub reorder_point: i64,
    /// Units the projection sells over the whole order cycle, rounded up: what an order refills to.
    pub order_up_to: i64,
    /// The first day the projection has sold the stock on hand; `as_of_date` when none is left.
    pub projected_stockout: Option<Day>,
    /// Whole cases refilling to `order_up_to`, once on hand is at or under the reorder point.
    pub suggested_qty: i64,
    pub unit_cost: Cents,
    /// Who the order goes to: the product's supplier, else its department.
    pub order_group: Id,
    /// Stock on hand without a sale on the store's days traded of the 28, or more than 90 days of
    /// it at their rate, once the store traded 14 of them.
    pub slow_mover: bool,
}

impl Replenishment {
    /// Units sold over the 28 days.
    pub fn units_sold(&self) -> i64 {
        self.weekday_units.iter().sum()
    }

    /// The days of the 28 the store traded.
    pub fn days_traded(&self) -> i64 {
        self.weekday_days.iter().sum()
    }

    pub fn suggested_cost(&self) -> Cents {
        Cents(self.suggested_qty * self.unit_cost.0)
    }

    /// What the stock on hand cost.
    pub fn stock_value(&self) -> Cents {
        Cents(self.on_hand * self.unit_cost.0)
    }
}

impl ViewRow for Replenishment {
    const NAME: &'static str = "replenishment";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("sku", |r| &r.sku)
            .date("as_of_date", |r| r.as_of_date)
            .int("on_hand", |r| r.on_hand)
            .int("units_sold_28d", |r| r.units_sold())
            .int("days_traded", |r| r.days_traded())
            .opt_real("avg_daily_units", |r| ratio(r.units_sold(), r.days_traded()));
        for (day, name) in WEEKDAYS.iter().enumerate() {
            c.opt_real(&format!("avg_units_{name}"), move |r| ratio(r.weekday_units[day], r.weekday_days[day]));
        }
        c.int("lead_time_days", |r| r.lead_time_days)
            .int("case_pack", |r| r.case_pack)
            .int("promo_days", |r| r.promo_days)
            .int("reorder_point", |r| r.reorder_point)
            .int("order_up_to", |r| r.order_up_to)
            .opt_date("projected_stockout_date", |r| r.projected_stockout)
            .opt_int("days_to_stockout", |r| r.projected_stockout.map(|day| (day - r.as_of_date) as i64))
            .int("suggested_qty", |r| r.suggested_qty)
            .money("unit_cost", |r| r.unit_cost)
            .money("suggested_cost", |r| r.suggested_cost())
            .money("stock_value", |r| r.stock_value())
            .text("order_group", |r| &r.order_group)
            .flag("slow_mover", |r| r.slow_mover);
    }
}
