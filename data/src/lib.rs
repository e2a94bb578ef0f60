//! A deterministic synthetic retail chain: stores in districts and regions across time zones,
//! a product catalog, promotions, loyalty customers, staff shifts, sales with seasonality,
//! refunds, voids, inventory movements, late and out-of-order arrivals, and injected anomalies
//! whose ground truth is written beside the events.
//!
//! [`shopify`], [`square`], [`clover`] and [`lightspeed`] map the webhooks and order exports of
//! Shopify POS, Square, Clover and Lightspeed Retail to the same canonical events.
//!
//! Same [`ChainConfig`], same bytes: every random draw comes from a generator seeded by the
//! chain seed and the (store, day) it concerns.

pub mod chain;
pub mod clover;
pub mod lightspeed;
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

/// A field of a platform's payload as text: a JSON string as it is, a number in its JSON form.
pub(crate) fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An amount of cents as canonical money text.
pub(crate) fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Whether `given` is the secret `expected`, whole, compared in constant time (for secrets a
/// platform sends as they are, not as a signature).
pub fn same_secret(expected: &[u8], given: &str) -> bool {
    let given = given.trim().as_bytes();
    let differs = given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given.len() == expected.len() && !expected.is_empty() && differs == 0
}
