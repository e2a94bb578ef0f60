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
pub use simulate::{GroundTruth, Injected, PromotionLift, StockOut};
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

/// Cents of a decimal amount's text (`"19.99"`, `"-3.5"`, `"39.08174"`), rounded half away from
/// zero on the third decimal; `None` if it is not a decimal or is out of range.
pub(crate) fn decimal_cents(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = format!("{fraction:0<3}");
    let hundredths: i64 = fraction[..2].parse().ok()?;
    let up = i64::from(fraction.as_bytes()[2] >= b'5');
    let cents = whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(hundredths + up)?;
    Some(if negative { -cents } else { cents })
}

/// A whole number in a decimal's text (`"3"`, `"3.000"`, `"-1"`); `None` for a fraction of one
/// (`"0.996"`) or what is not a number.
pub(crate) fn whole_number(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    whole.parse().ok()
}
