//! A deterministic synthetic retail chain: stores in districts and regions across time zones,
//! a product catalog, promotions, loyalty customers, staff shifts, sales with seasonality,
//! refunds, voids, inventory movements, late and out-of-order arrivals, and injected anomalies
//! whose ground truth is written beside the events.
//!
//! [`shopify`] and [`square`] map the webhooks and order exports of Shopify POS and Square to
//! the same canonical events.
//!
//! Same [`ChainConfig`], same bytes: every random draw comes from a generator seeded by the
//! chain seed and the (store, day) it concerns.

pub mod chain;
pub mod shopify;
pub mod simulate;
pub mod square;
pub mod write;

pub use chain::{Chain, ChainConfig};
pub use simulate::{GroundTruth, Injected};
pub use write::{Generated, generate};

/// Removes every field named in `fields` from a JSON value, at any depth (what a dead letter
/// must not keep of a platform's payload: the fields that describe a person).
pub fn strip_fields(value: &mut serde_json::Value, fields: &[&str]) {
    match value {
        serde_json::Value::Object(object) => {
            object.retain(|key, _| !fields.contains(&key.as_str()));
            object.values_mut().for_each(|v| strip_fields(v, fields));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_fields(v, fields)),
        _ => {}
    }
}
