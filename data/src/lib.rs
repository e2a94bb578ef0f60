//! A deterministic synthetic retail chain: stores in districts and regions across time zones,
//! a product catalog, promotions, loyalty customers, staff shifts, sales with seasonality,
//! refunds, voids, inventory movements, late and out-of-order arrivals, and injected anomalies
//! whose ground truth is written beside the events.
//!
//! [`shopify`] maps the webhooks of Shopify POS to the same canonical events.
//!
//! Same [`ChainConfig`], same bytes: every random draw comes from a generator seeded by the
//! chain seed and the (store, day) it concerns.

pub mod chain;
pub mod shopify;
pub mod simulate;
pub mod write;

pub use chain::{Chain, ChainConfig};
pub use simulate::{GroundTruth, Injected};
pub use write::{Generated, generate};
