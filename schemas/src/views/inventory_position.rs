use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Day, Id, Millis};

/// Days of cover under which a SKU should be reordered: supplier lead time plus safety stock.
pub const REORDER_COVER_DAYS: i64 = 3 + 2;

/// The trailing window of `avg_daily_units`, in business days ending on the watermark's day.
pub const DEMAND_WINDOW_DAYS: i64 = 14;

/// `inventory_position`: one row per (store, sku) with an inventory event or a sale or refund line.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryPosition {
    pub store_id: Id,
    pub sku: Id,
    /// The last count (greatest ts, then event_id) plus every movement after it.
    pub on_hand: i64,
    pub last_count_at: Option<Millis>,
    /// Units sold over the [`DEMAND_WINDOW_DAYS`] business days ending on `as_of_date`.
    pub units_sold_window: i64,
    /// The store-local day of the watermark; `None` before any event time is seen.
    pub as_of_date: Option<Day>,
}

impl InventoryPosition {
    pub fn avg_daily_units(&self) -> f64 {
        self.units_sold_window as f64 / DEMAND_WINDOW_DAYS as f64
    }

    /// `on_hand / avg_daily_units`, `None` without sales in the window.
    pub fn days_of_cover(&self) -> Option<f64> {
        (self.units_sold_window != 0).then(|| self.on_hand as f64 / self.avg_daily_units())
    }

    /// Cover below [`REORDER_COVER_DAYS`] (exactly: `on_hand × window < cover days × units`).
    pub fn reorder(&self) -> bool {
        self.units_sold_window > 0 && self.on_hand * DEMAND_WINDOW_DAYS < REORDER_COVER_DAYS * self.units_sold_window
    }

    /// Negative stock: the system believes in goods that cannot be there ("ghost inventory").
    pub fn negative_stock(&self) -> bool {
        self.on_hand < 0
    }
}

impl ViewRow for InventoryPosition {
    const NAME: &'static str = "inventory_position";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("sku", |r| &r.sku)
            .int("on_hand", |r| r.on_hand)
            .opt_timestamp("last_count_at", |r| r.last_count_at)
            .int("units_sold_14d", |r| r.units_sold_window)
            .real("avg_daily_units", Self::avg_daily_units)
            .opt_real("days_of_cover", Self::days_of_cover)
            .flag("reorder", Self::reorder)
            .flag("negative_stock", Self::negative_stock)
            .opt_date("as_of_date", |r| r.as_of_date);
    }
}
