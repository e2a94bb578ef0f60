//! The rows of every view and their Arrow form (see DESIGN.md, Views).
//!
//! Row types hold exact integers (cents, units); ratios such as `margin_pct` are derived when a
//! row becomes Arrow, so the rows stay totally ordered and hashable for the dataflow.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
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
            Field::new("position", DataType::UInt64, false),
            Field::new("epoch", DataType::UInt64, false),
            Field::new("event_id", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ]))
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.source.as_str())),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.position))),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.epoch))),
            Arc::new(rows.iter().map(|r| r.event_id.as_deref()).collect::<StringArray>()),
            text(rows.iter().map(|r| r.reason.as_str())),
            text(rows.iter().map(|r| r.raw.as_str())),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("columns match the schema")
    }
}
