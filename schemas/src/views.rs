//! The rows of every view and their Arrow form (see DESIGN.md, Views).
//!
//! Row types hold exact integers (cents, units); ratios such as `margin_pct` are derived when a
//! row becomes Arrow, so the rows stay totally ordered and hashable for the dataflow.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::tables::MONEY;
use crate::{Cents, Day, Id};

/// A view's name and how its rows become Arrow.
pub trait ViewRow: Sized {
    const NAME: &'static str;
    /// The partition column, if the view is partitioned by business day.
    const PARTITION: Option<&'static str>;
    fn schema() -> SchemaRef;
    fn to_batch(rows: &[Self]) -> RecordBatch;
}

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
        let net = self.net_sales().0;
        (net != 0).then(|| self.gross_margin().0 as f64 / net as f64)
    }
}

fn money(values: impl Iterator<Item = Cents>) -> ArrayRef {
    let array = Decimal128Array::from_iter_values(values.map(|c| c.0 as i128));
    Arc::new(array.with_precision_and_scale(18, 2).expect("valid decimal"))
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

impl ViewRow for SkuMargin {
    const NAME: &'static str = "sku_margin";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("store_id", DataType::Utf8, false),
            Field::new("sku", DataType::Utf8, false),
            Field::new("business_date", DataType::Date32, false),
            Field::new("units_sold", DataType::Int64, false),
            Field::new("units_returned", DataType::Int64, false),
            Field::new("gross_sales", MONEY, false),
            Field::new("discounts", MONEY, false),
            Field::new("refunds", MONEY, false),
            Field::new("net_sales", MONEY, false),
            Field::new("cogs", MONEY, false),
            Field::new("gross_margin", MONEY, false),
            Field::new("margin_pct", DataType::Float64, true),
            Field::new("promo_units", DataType::Int64, false),
        ]))
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.store_id.as_str())),
            text(rows.iter().map(|r| r.sku.as_str())),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.business_date))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.units_sold))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.units_returned))),
            money(rows.iter().map(|r| r.gross_sales)),
            money(rows.iter().map(|r| r.discounts)),
            money(rows.iter().map(|r| r.refunds)),
            money(rows.iter().map(SkuMargin::net_sales)),
            money(rows.iter().map(|r| r.cogs)),
            money(rows.iter().map(SkuMargin::gross_margin)),
            Arc::new(rows.iter().map(SkuMargin::margin_pct).collect::<Float64Array>()),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.promo_units))),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("columns match the schema")
    }
}

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
    pub last_count_at: Option<crate::Millis>,
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

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("store_id", DataType::Utf8, false),
            Field::new("sku", DataType::Utf8, false),
            Field::new("on_hand", DataType::Int64, false),
            Field::new("last_count_at", crate::tables::timestamp(), true),
            Field::new("units_sold_14d", DataType::Int64, false),
            Field::new("avg_daily_units", DataType::Float64, false),
            Field::new("days_of_cover", DataType::Float64, true),
            Field::new("reorder", DataType::Boolean, false),
            Field::new("negative_stock", DataType::Boolean, false),
            Field::new("as_of_date", DataType::Date32, true),
        ]))
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let last_count =
            rows.iter().map(|r| r.last_count_at).collect::<TimestampMillisecondArray>().with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.store_id.as_str())),
            text(rows.iter().map(|r| r.sku.as_str())),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.on_hand))),
            Arc::new(last_count),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.units_sold_window))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(InventoryPosition::avg_daily_units))),
            Arc::new(rows.iter().map(InventoryPosition::days_of_cover).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| Some(r.reorder())).collect::<BooleanArray>()),
            Arc::new(rows.iter().map(|r| Some(r.negative_stock())).collect::<BooleanArray>()),
            Arc::new(rows.iter().map(|r| r.as_of_date).collect::<Date32Array>()),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("columns match the schema")
    }
}

/// `dead_letters`: every input record that was not accepted, with where it came from and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The file (or stream) it came from.
    pub source: String,
    /// Line number, or row number for Parquet.
    pub position: u64,
    /// The epoch at which it was received.
    pub epoch: u64,
    pub event_id: Option<String>,
    pub reason: String,
    pub raw: String,
}

impl ViewRow for DeadLetter {
    const NAME: &'static str = "dead_letters";
    const PARTITION: Option<&'static str> = None;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("position", DataType::Int64, false),
            Field::new("epoch", DataType::Int64, false),
            Field::new("event_id", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ]))
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.source.as_str())),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.position as i64))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.epoch as i64))),
            Arc::new(rows.iter().map(|r| r.event_id.as_deref()).collect::<StringArray>()),
            text(rows.iter().map(|r| r.reason.as_str())),
            text(rows.iter().map(|r| r.raw.as_str())),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("columns match the schema")
    }
}
