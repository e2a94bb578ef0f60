//! The TOML config file of `tillflow run --config FILE`: every flag of `run`, by the same name.
//!
//! ```toml
//! input = ["events/"]
//! out = "tillflow-data"
//! workers = 2
//! tick = "1s"
//! labor-target = 14
//! allowed-lateness = "1h"
//! retention = "400d"
//! views = ["sku_margin", "exceptions"]
//! follow = true
//! listen = "127.0.0.1:8080"
//! pg = "127.0.0.1:6875"
//! flight = "127.0.0.1:50051"
//! persist-every = "10s"
//! keep-history = "7d"
//!
//! [shopify]                     # POST /v1/sources/shopify (the secret may come from
//! secret = "…"                  # TILLFLOW_SHOPIFY_SECRET instead)
//! locations = { "655441491" = "S001", "655441492" = "S002" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub input: Option<Vec<PathBuf>>,
    pub out: Option<String>,
    pub workers: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    pub tick: Option<i64>,
    pub labor_target: Option<i64>,
    #[serde(default, deserialize_with = "duration")]
    pub allowed_lateness: Option<i64>,
    #[serde(default, deserialize_with = "duration")]
    pub retention: Option<i64>,
    pub views: Option<Vec<String>>,
    pub follow: Option<bool>,
    pub listen: Option<SocketAddr>,
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
    #[serde(default, deserialize_with = "duration")]
    pub persist_every: Option<i64>,
    #[serde(default, deserialize_with = "duration")]
    pub keep_history: Option<i64>,
    pub shopify: Option<ShopifySettings>,
}

/// `[shopify]`: the app secret that signs the webhooks, and the store of each POS location.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifySettings {
    pub secret: Option<String>,
    #[serde(default)]
    pub locations: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for ShopifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("ShopifySettings").field("secret", &secret).field("locations", &self.locations).finish()
    }
}

/// Reads a config file; errors name the file, the line and what is wrong.
pub fn load(path: &Path) -> Result<Settings> {
    let text =
        std::fs::read_to_string(path).map_err(|error| Error::ConfigUnreadable { path: path.to_path_buf(), error })?;
    toml::from_str(&text).map_err(|error| Error::BadConfig { path: path.to_path_buf(), error: Box::new(error) })
}

/// A duration in the file (`"15m"`), in milliseconds; a bad one is an error at its line.
fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => parse_duration_ms(&text).map(Some).map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!("expected a duration in quotes like \"15m\", got {other}"))),
    }
}

/// A duration such as 1h, 15m, 30s or 500ms, in milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 1h, 15m, 30s or 500ms"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: the unit must be ms, s, m, h or d")),
    };
    if n <= 0 {
        return Err("the duration must be positive".into());
    }
    Ok(n * unit_ms)
}
