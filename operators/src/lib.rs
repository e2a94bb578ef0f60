//! The differential operators behind tillflow's views: one view per file, each a function from
//! input collections to the view's collection. No I/O here; `pipeline` feeds and drains them.
//!
//! - [`records`]: the flattened, business-dated records the pipeline feeds in;
//! - [`sales`]: sales that still count (post-voided sales removed), shared by every view;
//! - [`stores`]: each store's current record (district, region, time zone), and the `stores` view;
//! - [`products`], [`promotions`]: the current product and promotion records, as tables;
//! - [`watermark`]: the watermark, from every process's latest event time, and each store's day of it;
//! - [`sku_days`]: what each (store, sku, day) sold, returned and moved, shared by the next two;
//! - [`sku_margin`]: per (store, sku, business day) sales, refunds, cost and margin;
//! - [`store_daily`], [`category_daily`]: each store-day and category-day against its
//!   [`forecast`], from `sku_margin`, the sales and their tenders;
//! - [`basket_affinity`]: per district the pairs of SKUs bought together over 28 days;
//! - [`promotion_performance`]: each promotion's days against their baseline, and its summary;
//! - [`inventory_position`]: per (store, sku) stock on hand, demand, cover and flags;
//! - [`replenishment`]: per (store, sku) reorder point, projected stock-out, suggested order and
//!   slow movers, and the suggestions as draft orders;
//! - [`rule_breaks`]: refunds and post-voids breaking a rule, with their evidence;
//! - [`till_activity`]: what each cashier and each register did per day and over 7 days, for:
//! - [`refund_void_anomalies`]: per (store, cashier, day) rates against district peers, flags;
//! - [`register_anomalies`]: per (store, register, day) rates against the store's other registers;
//! - [`labor_demand`]: per (store, day, hour) traffic, staff on clock, forecast and gap;
//! - [`customer_segments`]: features per loyalty customer, k-means segments and their profiles;
//! - [`exceptions`]: the district manager's table, mapped from the views above;
//! - [`exception_history`]: each exception's life, from its changes and the managers' actions
//!   (a fold beside the dataflow, not an operator);
//! - [`sums`]: several sums as one difference type, added up by consolidation;
//! - [`keyed`]: arrangements shared by several operators.
//!
//! Timestamps are epochs ([`tillflow_schemas::Epoch`]); event time is data. The functions are
//! concrete in it, so differential's generic code is compiled here, at opt-level 3, once.

pub mod basket_affinity;
pub mod category_daily;
pub mod customer_segments;
pub mod exception_history;
pub mod exceptions;
pub mod forecast;
pub mod inventory_position;
pub mod keyed;
pub mod labor_demand;
pub mod products;
pub mod promotion_performance;
pub mod promotions;
pub mod records;
pub mod refund_void_anomalies;
pub mod register_anomalies;
pub mod replenishment;
pub mod rule_breaks;
pub mod sales;
pub mod sku_days;
pub mod sku_margin;
pub mod store_daily;
pub mod stores;
pub mod sums;
pub mod till_activity;
pub mod watermark;

pub use records::*;
