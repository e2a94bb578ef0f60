//! The TOML config file of `tillflow run --config FILE`: every flag of `run`, by the same name.
//!
//! ```toml
//! input = ["events/"]
//! out = "tillflow-data"
//! workers = 2
//! tick = "1s"
//! labor-target = 14
//! affinity-min-baskets = 20
//! allowed-lateness = "1h"
//! retention = "400d"
//! views = ["sku_margin", "exceptions"]
//! follow = true
//! listen = "127.0.0.1:8080"
//! pg = "127.0.0.1:6875"
//! flight = "127.0.0.1:50051"
//! persist-every = "10s"
//! keep-history = "7d"
//! erasure-deadline = "48h"      # event time from an erasure until no persisted byte holds the customer
//! pseudonym-key = "…"           # 64 hex digits [default: made once, kept in <out>/_keys/]
//!
//! [sources.shopify]             # POST /v1/sources/shopify (the secret may come from
//! secret = "…"                  # TILLFLOW_SHOPIFY_SECRET instead)
//! locations = { "655441491" = "S001", "655441492" = "S002" }
//! shop = "example.myshopify.com"   # with access_token (or TILLFLOW_SHOPIFY_ACCESS_TOKEN): the Admin
//! access_token = "shpat_…"      # API gives products' costs and inventory levels' SKUs
//!
//! [sources.square]              # POST /v1/sources/square
//! signature_key = "…"           # or TILLFLOW_SQUARE_SIGNATURE_KEY
//! notification_url = "https://tillflow.example.com/v1/sources/square"   # as the subscription has it
//! access_token = "…"            # or TILLFLOW_SQUARE_ACCESS_TOKEN: orders are fetched by id
//! api_base = "https://connect.squareup.com"
//! locations = { "L8S1XYZ" = "S001" }
//!
//! [sources.clover]              # POST /v1/sources/clover
//! auth_code = "…"               # X-Clover-Auth, shown once the URL is verified; or TILLFLOW_CLOVER_AUTH_CODE
//! access_token = "…"            # or TILLFLOW_CLOVER_ACCESS_TOKEN: orders are fetched by id
//! api_base = "https://api.clover.com"
//! merchants = { "XYZVJT2ZRRRSC" = "S003" }
//!
//! [sources.lightspeed]          # POST /v1/sources/lightspeed?token=… (Lightspeed signs nothing)
//! token = "…"                   # 16 characters or more, random; or TILLFLOW_LIGHTSPEED_TOKEN
//! outlets = { "06e35f89-3783-11e6-ec7e-13d8a2f6a7f4" = "S004" }
//! registers = { "0a6f6e36-8b71-11eb-f3d6-40cea3d59c5a" = "S004" }   # for sales that name no outlet
//! api_base = "https://DOMAIN.retail.lightspeed.app/api/2.0"   # optional, with access_token (or
//! access_token = "…"            # TILLFLOW_LIGHTSPEED_ACCESS_TOKEN): inventory levels' SKUs
//!
//! [tls]                         # also --tls-cert / --tls-key: the SQL servers speak TLS only
//! cert = "server.pem"
//! key = "server.key"
//!
//! [[users]]                     # with users, the SQL servers sign clients in (docs/access.md)
//! name = "s001-manager"
//! password_scram = "SCRAM-SHA-256$4096:…"   # `tillflow password` makes one; or password = "…"
//! scope = "store:S001"          # chain | region:R | district:D | store:S
//! pii = false                   # may read customer-level tables
//!
//! [[alerts]]                    # new and reopened exceptions pushed (docs/manager.md)
//! name = "district-7"
//! kind = "slack"                # or webhook: a JSON object per alert
//! url = "https://hooks.slack.com/services/…"
//! min_severity = "medium"       # and optionally kinds, districts, stores = […]
//! briefing_at = "06:00"         # each store's morning briefing, at its local time
//!
//! [[ingest_tokens]]             # with tokens, POST /v1/events needs `Authorization: Bearer …`
//! name = "pos-S001"
//! token = "…"                   # 16 characters or more, random
//! scope = "store:S001"          # the register events it may post; chain for reference data
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tillflow_queries::access::scram::Verifier;
use tillflow_queries::access::{Scope, User};

use crate::ingest_access::IngestToken;

use crate::{Error, Result};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub input: Option<Vec<PathBuf>>,
    pub out: Option<String>,
    pub workers: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    pub tick: Option<i64>,
    #[serde(default, deserialize_with = "positive")]
    pub labor_target: Option<i64>,
    #[serde(default, deserialize_with = "positive")]
    pub affinity_min_baskets: Option<i64>,
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
    #[serde(default, deserialize_with = "duration")]
    pub erasure_deadline: Option<i64>,
    #[serde(default, deserialize_with = "size")]
    pub checkpoint_after: Option<u64>,
    /// `[sources.shopify]`, `[sources.square]`: the platforms' webhooks and exports.
    #[serde(default)]
    pub sources: SourcesSettings,
    pub tls: Option<TlsSettings>,
    #[serde(default)]
    pub users: Vec<UserSettings>,
    /// `[[ingest_tokens]]`, as DESIGN.md spells it (or `[[ingest-tokens]]` like the flags).
    #[serde(default, alias = "ingest_tokens")]
    pub ingest_tokens: Vec<TokenSettings>,
    /// The key of the customer pseudonyms, 64 hex digits [default: kept under `out`].
    pub pseudonym_key: Option<Secret>,
    /// `[[alerts]]`: channels new and reopened exceptions, and briefings, are pushed to.
    #[serde(default)]
    pub alerts: Vec<AlertSettings>,
}

/// A value of the file that no log or `Debug` print may show.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One `[[ingest_tokens]]` entry: a bearer token for `POST /v1/events` and the stores it may post for.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub name: String,
    pub token: String,
    pub scope: String,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings").field("name", &self.name).field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl TokenSettings {
    pub fn token(&self) -> Result<IngestToken, String> {
        let scope: Scope = self.scope.parse().map_err(|e| format!("ingest token {}: {e}", self.name))?;
        if self.token.len() < 16 {
            return Err(format!("ingest token {}: use a random token of 16 characters or more", self.name));
        }
        Ok(IngestToken::new(&self.name, &self.token, scope))
    }
}

/// `[tls]`: the certificate chain and key (PEM) the SQL servers present.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `[[users]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    pub name: String,
    /// The password in the clear: turned into a verifier at start; its memory is wiped when
    /// the entry is dropped.
    pub password: Option<zeroize::Zeroizing<String>>,
    /// A SCRAM-SHA-256 verifier, as `tillflow password` or Postgres's `pg_authid` spells it.
    pub password_scram: Option<String>,
    pub scope: String,
    #[serde(default)]
    pub pii: bool,
}

impl std::fmt::Debug for UserSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSettings")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("pii", &self.pii)
            .finish_non_exhaustive()
    }
}

impl UserSettings {
    /// The user as the servers keep them: a verifier, never the password.
    pub fn user(&self) -> Result<User, String> {
        let name = &self.name;
        if name.is_empty() {
            return Err("a [[users]] entry needs a name".into());
        }
        let scope: Scope = self.scope.parse().map_err(|e| format!("user {name}: {e}"))?;
        let verifier = match (&self.password, &self.password_scram) {
            (Some(password), None) if !password.is_empty() => Verifier::generate(password),
            (None, Some(scram)) => scram.parse().map_err(|e| format!("user {name}: {e}"))?,
            _ => {
                return Err(format!(
                    "user {name}: give either password or password_scram (`tillflow password` makes one)"
                ));
            }
        };
        Ok(User::new(name, scope, self.pii, verifier))
    }
}

/// One `[[alerts]]` channel (docs/manager.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    pub name: String,
    /// `webhook` (a JSON object per alert) or `slack` (an incoming webhook's Block Kit payload).
    pub kind: String,
    /// Where to POST; a secret for Slack (the URL is the credential), never logged.
    pub url: Secret,
    /// `high`, `medium` or `low` (the default: every exception).
    pub min_severity: Option<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub districts: Vec<String>,
    #[serde(default)]
    pub stores: Vec<String>,
    /// Each store's morning briefing is sent at this local time (`HH:MM`).
    pub briefing_at: Option<String>,
}

impl AlertSettings {
    pub fn channel(&self) -> Result<crate::alerts::Channel, String> {
        let name = &self.name;
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(format!("[[alerts]] `{name}`: give each channel a name without slashes"));
        }
        let kind = match self.kind.as_str() {
            "webhook" => crate::alerts::ChannelKind::Webhook,
            "slack" => crate::alerts::ChannelKind::Slack,
            other => return Err(format!("[[alerts]] {name}: kind `{other}` is not webhook or slack")),
        };
        let url = url::Url::parse(&self.url.0).map_err(|_| format!("[[alerts]] {name}: `url` is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("[[alerts]] {name}: `url` must be http or https"));
        }
        let min_severity = self.min_severity.clone().unwrap_or_else(|| "low".into());
        if tillflow_schemas::views::Severity::from_name(&min_severity).is_none() {
            return Err(format!("[[alerts]] {name}: min_severity `{min_severity}` is not high, medium or low"));
        }
        let briefing_at = match &self.briefing_at {
            None => None,
            Some(at) => Some(
                chrono::NaiveTime::parse_from_str(at, "%H:%M")
                    .map_err(|_| format!("[[alerts]] {name}: briefing_at `{at}` is not a time such as 06:00"))?,
            ),
        };
        Ok(crate::alerts::Channel {
            name: name.clone(),
            kind,
            url: self.url.0.clone(),
            min_severity,
            kinds: self.kinds.clone(),
            districts: self.districts.clone(),
            stores: self.stores.clone(),
            briefing_at,
        })
    }
}

/// `[sources]`: the POS platforms tillflow takes webhooks and exports from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSettings {
    pub shopify: Option<ShopifySettings>,
    pub square: Option<SquareSettings>,
    pub clover: Option<CloverSettings>,
    pub lightspeed: Option<LightspeedSettings>,
}

/// `[sources.lightspeed]`: the token the webhook URL carries (Lightspeed signs nothing), and
/// the store of each outlet and register.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightspeedSettings {
    pub token: Option<String>,
    /// The API (2.0) inventory levels' products are fetched from, with `access_token`.
    pub api_base: Option<String>,
    pub access_token: Option<String>,
    #[serde(default)]
    pub outlets: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub registers: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for LightspeedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightspeedSettings")
            .field("outlets", &self.outlets)
            .field("registers", &self.registers)
            .finish_non_exhaustive()
    }
}

/// `[sources.clover]`: the app's auth code (shown in its settings once the webhook URL is
/// verified), the token and base of the REST API, and the store of each merchant.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloverSettings {
    pub auth_code: Option<String>,
    pub access_token: Option<String>,
    pub api_base: Option<String>,
    #[serde(default)]
    pub merchants: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for CloverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloverSettings")
            .field("api_base", &self.api_base)
            .field("merchants", &self.merchants)
            .finish_non_exhaustive()
    }
}

/// `[sources.square]`: the subscription's signature key and notification URL, where and how
/// orders are fetched, and the store of each location.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SquareSettings {
    pub signature_key: Option<String>,
    pub notification_url: Option<String>,
    pub access_token: Option<String>,
    pub api_base: Option<String>,
    #[serde(default)]
    pub locations: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for SquareSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SquareSettings")
            .field("notification_url", &self.notification_url)
            .field("api_base", &self.api_base)
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
}

/// `[sources.shopify]`: the app secret that signs the webhooks, and the store of each POS location.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifySettings {
    pub secret: Option<String>,
    /// The shop's domain (`example.myshopify.com`): its Admin API gives products' costs and
    /// inventory levels' SKUs.
    pub shop: Option<String>,
    /// The Admin API's base instead of the shop's (`https://…/admin/api/VERSION`).
    pub api_base: Option<String>,
    pub access_token: Option<String>,
    #[serde(default)]
    pub locations: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for ShopifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("ShopifySettings")
            .field("secret", &secret)
            .field("shop", &self.shop)
            .field("api_base", &self.api_base)
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
}

/// Reads a config file; errors name the file, the line and what is wrong.
pub fn load(path: &Path) -> Result<Settings> {
    // Wiped once parsed: the file may hold passwords in the clear.
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|error| Error::ConfigUnreadable { path: path.to_path_buf(), error })?,
    );
    toml::from_str(&text).map_err(|error| Error::BadConfig { path: path.to_path_buf(), error: Box::new(error) })
}

/// A duration in the file (`"15m"`), in milliseconds; a bad one is an error at its line.
fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => parse_duration_ms(&text).map(Some).map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!("expected a duration in quotes like \"15m\", got {other}"))),
    }
}

/// A count in the file that must be 1 or more, as its flag's is; a bad one is an error at its line.
fn positive<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::Integer(n) if n >= 1 => Ok(Some(n)),
        other => Err(serde::de::Error::custom(format!("expected a whole number of 1 or more, got {other}"))),
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

fn size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => parse_size(&text).map(Some).map_err(serde::de::Error::custom),
        toml::Value::Integer(bytes) if bytes >= 0 => Ok(Some(bytes as u64)),
        other => Err(serde::de::Error::custom(format!("expected a size like \"64MiB\", got {other}"))),
    }
}

/// A size such as 64MiB, 512KiB, 1GiB or 4096 (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size like 64MiB, 512KiB or 4096"))?;
    let unit = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("`{text}`: the unit must be B, KiB, MiB or GiB")),
    };
    Ok(n * unit)
}
