//! The rows of every view and their Arrow form (see DESIGN.md, Views), one view per file.
//!
//! Row types hold exact integers (cents, units); ratios such as `margin_pct` are derived when a
//! row becomes Arrow, so the rows stay totally ordered and hashable for the dataflow.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::{Cents, Day, Millis};

mod access_log;
mod alert_deliveries;
mod basket_affinity;
mod category_daily;
mod customer_segments;
mod dead_letters;
mod exception_history;
mod exceptions;
mod inventory_position;
mod labor_demand;
mod pipeline_stats;
mod products;
mod promotion_performance;
mod promotion_summary;
mod promotions;
mod purchase_suggestions;
mod refund_void_anomalies;
mod register_anomalies;
mod replenishment;
mod rule_breaks;
mod sku_margin;
mod store_daily;
mod stores;

pub use access_log::AccessEntry;
pub use alert_deliveries::AlertDelivery;
pub use basket_affinity::BasketAffinity;
pub use category_daily::CategoryDaily;
pub use customer_segments::*;
pub use dead_letters::DeadLetter;
pub use exception_history::{ExceptionHistory, Status};
pub use exceptions::{Exception, Severity};
pub use inventory_position::InventoryPosition;
pub use labor_demand::{LaborDemand, StaffingStatus};
pub use pipeline_stats::PipelineStat;
pub use products::ProductRecord;
pub use promotion_performance::{BASELINE_SCALE, LIFT_PCT, PromoFigures, PromotionPerformance, Verdict};
pub use promotion_summary::PromotionSummary;
pub use promotions::PromotionRecord;
pub use purchase_suggestions::PurchaseSuggestion;
pub use refund_void_anomalies::{RATES, RefundVoidAnomaly, TillFigures};
pub use register_anomalies::{REGISTER_RATES, RegisterAnomaly};
pub use replenishment::{Replenishment, WEEKDAYS};
pub use rule_breaks::{Rule, RuleBreak};
pub use sku_margin::SkuMargin;
pub use store_daily::{Forecast, StoreDaily};
pub use stores::StoreRecord;

/// A view's name and how its rows become Arrow.
pub trait ViewRow: Sized {
    const NAME: &'static str;
    /// The partition column, if the view is partitioned by business day.
    const PARTITION: Option<&'static str>;

    /// The business day of the partition holding the row, for a partitioned view.
    fn business_date(&self) -> Option<Day> {
        None
    }

    /// The columns of `rows`, in order.
    fn columns(columns: &mut Columns<'_, Self>);

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let mut columns = Columns { rows, fields: Vec::new(), arrays: Vec::new() };
        Self::columns(&mut columns);
        RecordBatch::try_new(Arc::new(Schema::new(columns.fields)), columns.arrays).expect("columns match the schema")
    }

    fn schema() -> SchemaRef {
        Self::to_batch(&[]).schema()
    }
}

/// Builds a view's Arrow columns from its rows, one typed column at a time.
pub struct Columns<'r, R> {
    rows: &'r [R],
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl<R> Columns<'_, R> {
    fn push(&mut self, name: &str, nullable: bool, array: ArrayRef) -> &mut Self {
        self.fields.push(Field::new(name, array.data_type().clone(), nullable));
        self.arrays.push(array);
        self
    }

    pub fn text(&mut self, name: &str, f: impl Fn(&R) -> &str) -> &mut Self {
        let array = StringArray::from_iter_values(self.rows.iter().map(f));
        self.push(name, false, Arc::new(array))
    }

    pub fn text_owned(&mut self, name: &str, f: impl Fn(&R) -> String) -> &mut Self {
        let array = StringArray::from_iter_values(self.rows.iter().map(f));
        self.push(name, false, Arc::new(array))
    }

    pub fn opt_text(&mut self, name: &str, f: impl Fn(&R) -> Option<&str>) -> &mut Self {
        let array: StringArray = self.rows.iter().map(f).collect();
        self.push(name, true, Arc::new(array))
    }

    pub fn int(&mut self, name: &str, f: impl Fn(&R) -> i64) -> &mut Self {
        let array = Int64Array::from_iter_values(self.rows.iter().map(f));
        self.push(name, false, Arc::new(array))
    }

    pub fn opt_int(&mut self, name: &str, f: impl Fn(&R) -> Option<i64>) -> &mut Self {
        let array: Int64Array = self.rows.iter().map(f).collect();
        self.push(name, true, Arc::new(array))
    }

    pub fn money(&mut self, name: &str, f: impl Fn(&R) -> Cents) -> &mut Self {
        let array = Decimal128Array::from_iter_values(self.rows.iter().map(|r| f(r).0 as i128));
        self.push(name, false, Arc::new(array.with_precision_and_scale(18, 2).expect("valid decimal")))
    }

    pub fn opt_money(&mut self, name: &str, f: impl Fn(&R) -> Option<Cents>) -> &mut Self {
        let array: Decimal128Array = self.rows.iter().map(|r| f(r).map(|c| c.0 as i128)).collect();
        self.push(name, true, Arc::new(array.with_precision_and_scale(18, 2).expect("valid decimal")))
    }

    pub fn real(&mut self, name: &str, f: impl Fn(&R) -> f64) -> &mut Self {
        let array = Float64Array::from_iter_values(self.rows.iter().map(f));
        self.push(name, false, Arc::new(array))
    }

    pub fn opt_real(&mut self, name: &str, f: impl Fn(&R) -> Option<f64>) -> &mut Self {
        let array: Float64Array = self.rows.iter().map(f).collect();
        self.push(name, true, Arc::new(array))
    }

    pub fn flag(&mut self, name: &str, f: impl Fn(&R) -> bool) -> &mut Self {
        let array: BooleanArray = self.rows.iter().map(|r| Some(f(r))).collect();
        self.push(name, false, Arc::new(array))
    }

    pub fn date(&mut self, name: &str, f: impl Fn(&R) -> Day) -> &mut Self {
        let array = Date32Array::from_iter_values(self.rows.iter().map(f));
        self.push(name, false, Arc::new(array))
    }

    pub fn opt_date(&mut self, name: &str, f: impl Fn(&R) -> Option<Day>) -> &mut Self {
        let array: Date32Array = self.rows.iter().map(f).collect();
        self.push(name, true, Arc::new(array))
    }

    pub fn timestamp(&mut self, name: &str, f: impl Fn(&R) -> Millis) -> &mut Self {
        let array = TimestampMillisecondArray::from_iter_values(self.rows.iter().map(f)).with_timezone("UTC");
        self.push(name, false, Arc::new(array))
    }

    pub fn opt_timestamp(&mut self, name: &str, f: impl Fn(&R) -> Option<Millis>) -> &mut Self {
        let array: TimestampMillisecondArray = self.rows.iter().map(f).collect();
        let array = array.with_timezone("UTC");
        self.push(name, true, Arc::new(array))
    }

    /// A row's [`Takings`]: `gross_sales`, `discounts`, `refunds`, `net_sales`, `cogs`,
    /// `gross_margin`, `margin_pct`.
    pub fn takings(&mut self, f: impl Fn(&R) -> Takings) -> &mut Self {
        let f = &f;
        self.money("gross_sales", |r| f(r).gross_sales)
            .money("discounts", |r| f(r).discounts)
            .money("refunds", |r| f(r).refunds)
            .money("net_sales", |r| f(r).net_sales())
            .money("cogs", |r| f(r).cogs)
            .money("gross_margin", |r| f(r).gross_margin())
            .opt_real("margin_pct", |r| f(r).margin_pct())
    }

    /// A day's forecast against its net sales: `forecast_net_sales`, `deviation_pct`.
    pub fn forecast(&mut self, f: impl Fn(&R) -> (Option<Forecast>, Cents)) -> &mut Self {
        let f = &f;
        self.opt_real("forecast_net_sales", |r| f(r).0.map(|forecast| forecast.net_sales())).opt_real(
            "deviation_pct",
            |r| {
                let (forecast, net_sales) = f(r);
                forecast.and_then(|forecast| forecast.deviation_pct(net_sales))
            },
        )
    }
}

/// What a row's sales took and cost: the money `sku_margin`, `store_daily` and `category_daily`
/// share, and the figures derived from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Takings {
    pub gross_sales: Cents,
    pub discounts: Cents,
    pub refunds: Cents,
    pub cogs: Cents,
}

impl Takings {
    /// gross_sales − discounts − refunds.
    pub fn net_sales(&self) -> Cents {
        Cents(self.gross_sales.0 - self.discounts.0 - self.refunds.0)
    }

    /// net_sales − cogs.
    pub fn gross_margin(&self) -> Cents {
        Cents(self.net_sales().0 - self.cogs.0)
    }

    /// gross_margin / net_sales, `None` when net sales are zero.
    pub fn margin_pct(&self) -> Option<f64> {
        ratio(self.gross_margin().0, self.net_sales().0)
    }
}

/// A ratio kept in a row: ordered and hashed by its bits, so rows holding one stay `Ord + Hash`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ratio(pub f64);

impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Ratio {}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl std::hash::Hash for Ratio {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// `numerator / denominator`, `None` when the denominator is zero.
pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}
