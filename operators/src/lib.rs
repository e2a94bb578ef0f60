//! The differential operators behind tillflow's views: one view per file, each a function from
//! input collections to the view's collection. No I/O here; `pipeline` feeds and drains them.
//!
//! - [`records`]: the flattened, business-dated records the pipeline feeds in;
//! - [`sales`]: sale lines that still count (post-voided sales removed), shared by every view;
//! - [`sku_margin`]: per (store, sku, business day) sales, refunds, cost and margin;
//! - [`inventory_position`]: per (store, sku) stock on hand, demand, cover and flags.
//!
//! Timestamps are epochs (any lattice `T`); event time is data.

pub mod inventory_position;
pub mod records;
pub mod sales;
pub mod sku_margin;

pub use records::*;
