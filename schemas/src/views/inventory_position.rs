use serde::{Deserialize, Serialize};

use super::{Columns, Ratio, ViewRow};
use crate::{Day, Id, Millis};

/// `inventory_position`: one row per (store, sku) with an inventory event or a sale or refund line.
/// The figures and flags are set by `operators::inventory_position`, which holds their rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryPosition {
    pub store_id: Id,
    pub sku: Id,
    /// The last count (greatest ts, then event_id) plus every movement after it.
    pub on_hand: i64,
    pub last_count_at: Option<Millis>,
    /// Units sold over the 14 business days ending on `as_of_date`.
    pub units_sold_window: i64,
    pub avg_daily_units: Ratio,
    /// `on_hand / avg_daily_units`, `None` without sales in the window.
    pub days_of_cover: Option<Ratio>,
    pub reorder: bool,
    /// Negative stock: the system believes in goods that cannot be there ("ghost inventory").
    pub negative_stock: bool,
    /// The store-local day of the watermark; `None` before any event time is seen.
    pub as_of_date: Option<Day>,
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
            .real("avg_daily_units", |r| r.avg_daily_units.0)
            .opt_real("days_of_cover", |r| r.days_of_cover.map(|d| d.0))
            .flag("reorder", |r| r.reorder)
            .flag("negative_stock", |r| r.negative_stock)
            .opt_date("as_of_date", |r| r.as_of_date);
    }
}
