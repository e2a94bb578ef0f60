//! Alerts: each new or reopened exception pushed to the `[[alerts]]` channels that want it (a
//! generic JSON webhook, or a Slack-compatible incoming webhook with Block Kit blocks), and each
//! store's morning briefing at its configured local time.
//!
//! The outbox is durable without a queue of its own: what is owed is every waiting exception's
//! `(exception_id, version)` in `exception_history` (kept in the ingest log) that a channel
//! wants and has not been delivered; what was delivered is an object per delivery under
//! `<out>/_alerts/<channel>/`, written once the receiver answered 2xx. A restart or a replay
//! therefore sends what was owed and nothing delivered before. Delivery is at least once: a
//! crash between the receiver's answer and the object's write sends it again, with the same
//! `Idempotency-Key` (`<exception_id>/v<version>`) for the receiver to drop. Failures are tried
//! again with a doubling backoff (1 s up to 5 min); every attempt is a row of
//! `alert_deliveries` (after a restart: the deliveries recorded, and the new attempts).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};
use tillflow_queries::access::Grant;
use tillflow_queries::live::Hub;
use tillflow_schemas::views::{AlertDelivery, Severity};
use url::Url;

use crate::brief;
use crate::report::{Rows, rows};

/// The folder under `--out` holding what was delivered.
pub const ALERTS: &str = "_alerts";

/// The longest wait between two attempts of one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How often the sender looks for a new epoch (then at what is owed).
const POLL: Duration = Duration::from_millis(20);

/// How often what is owed is looked at without a new epoch (for the retries that fell due).
const RETRY_POLL: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// A JSON object per alert (see [`webhook_payload`]).
    Webhook,
    /// A Slack incoming webhook's `{text, blocks}`.
    Slack,
}

/// One `[[alerts]]` channel.
#[derive(Clone)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    /// Secret for Slack (the URL is the credential): never logged.
    pub url: String,
    /// The least severe exception sent: `high`, `medium` or `low`.
    pub min_severity: String,
    /// Empty: every kind, district, store.
    pub kinds: Vec<String>,
    pub districts: Vec<String>,
    pub stores: Vec<String>,
    /// Each store's briefing is sent at this local time, if set.
    pub briefing_at: Option<NaiveTime>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Channel {
    fn wants_store(&self, store: &str, district: &str) -> bool {
        (self.stores.is_empty() || self.stores.iter().any(|s| s == store))
            && (self.districts.is_empty() || self.districts.iter().any(|d| d == district))
    }

    pub fn wants(&self, alert: &Alert) -> bool {
        Severity::weight_of(&alert.severity) >= Severity::weight_of(&self.min_severity)
            && (self.kinds.is_empty() || self.kinds.contains(&alert.kind))
            && self.wants_store(&alert.store_id, &alert.district)
    }
}

/// A waiting exception, as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub exception_id: String,
    pub version: u32,
    pub status: String,
    pub store_id: String,
    pub district: String,
    pub kind: String,
    pub severity: String,
    pub subject: String,
    pub business_date: String,
    pub amount: Option<f64>,
    pub evidence: String,
}

impl Alert {
    /// The idempotency key: the same for every attempt, and after a restart.
    pub fn key(&self) -> String {
        format!("{}/v{}", self.exception_id, self.version)
    }

    fn view(&self) -> &'static str {
        tillflow_operators::exceptions::view_of(&self.kind)
    }

    fn headline(&self) -> String {
        let verb = if self.status == "reopened" { "reopened" } else { "new" };
        format!("{} {verb}: {} at {} ({})", self.severity, self.kind, self.store_id, self.subject)
    }
}

/// The generic webhook's body.
pub fn webhook_payload(alert: &Alert) -> Value {
    json!({
        "type": "exception",
        "idempotency_key": alert.key(),
        "exception_id": alert.exception_id,
        "version": alert.version,
        "status": alert.status,
        "store_id": alert.store_id,
        "district": alert.district,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "business_date": alert.business_date,
        "amount": alert.amount,
        "evidence": alert.evidence,
        "view": alert.view(),
    })
}

/// Block Kit limits: a header's text, a section's text and a field's text.
const HEADER_MAX: usize = 150;
const TEXT_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max - 1) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Slack's mrkdwn escapes.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack incoming webhook's body: `text` (the notification's fallback) and Block Kit blocks.
pub fn slack_payload(alert: &Alert) -> Value {
    let amount = alert.amount.map_or("—".to_string(), |a| format!("{a:.2}"));
    let field = |label: &str, value: &str| json!({"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", mrkdwn(value)), FIELD_MAX)});
    json!({
        "text": cut(&alert.headline(), TEXT_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(&alert.headline(), HEADER_MAX), "emoji": false}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&mrkdwn(&alert.evidence), TEXT_MAX)}, "fields": [
                field("Store", &alert.store_id),
                field("District", &alert.district),
                field("Business day", &alert.business_date),
                field("Amount", &amount),
                field("Severity", &alert.severity),
                field("Status", &format!("{} (version {})", alert.status, alert.version)),
            ]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&mrkdwn(&format!(
                "exception {} · evidence in {} · idempotency key {}", alert.exception_id, alert.view(), alert.key()
            )), TEXT_MAX)}]},
        ],
    })
}

/// A briefing's body for `kind` of channel.
pub fn briefing_payload(kind: ChannelKind, brief: &brief::Brief, key: &str) -> Value {
    match kind {
        ChannelKind::Webhook => json!({"type": "briefing", "idempotency_key": key, "briefing": brief}),
        ChannelKind::Slack => {
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": cut(&brief.title(), HEADER_MAX)}}),
            ];
            let markdown = brief.markdown();
            // Sections of at most TEXT_MAX characters, cut at lines.
            let mut section = String::new();
            for line in markdown.lines().skip(1) {
                if section.len() + line.len() + 1 > TEXT_MAX - 10 && !section.is_empty() {
                    blocks.push(
                        json!({"type": "section", "text": {"type": "mrkdwn", "text": std::mem::take(&mut section)}}),
                    );
                }
                section.push_str(&cut(&mrkdwn(line), TEXT_MAX - 10));
                section.push('\n');
            }
            if !section.trim().is_empty() {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}));
            }
            json!({"text": cut(&brief.title(), TEXT_MAX), "blocks": blocks})
        }
    }
}

/// The attempts made since the driver last published them (`alert_deliveries`).
#[derive(Debug, Default)]
pub struct Deliveries(Mutex<Vec<AlertDelivery>>);

impl Deliveries {
    pub fn push(&self, attempt: AlertDelivery) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(attempt);
    }

    pub fn drain(&self) -> Vec<AlertDelivery> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What is owed now: the waiting exceptions, with their figures where they stand, the longest
/// waiting first (so one is sent only once every one that waited longer has been tried).
pub async fn owed(ctx: &datafusion::prelude::SessionContext) -> crate::Result<Vec<Alert>> {
    let found = rows(
        ctx,
        "SELECT h.exception_id, h.version, h.status, h.store_id, h.district, h.kind, h.severity, \
         COALESCE(e.subject, '') AS subject, COALESCE(CAST(e.business_date AS VARCHAR), '') AS business_date, \
         CAST(e.amount AS DOUBLE) AS amount, COALESCE(e.evidence, '') AS evidence \
         FROM exception_history h LEFT JOIN exceptions e ON e.exception_id = h.exception_id \
         WHERE h.status IN ('open', 'reopened') ORDER BY h.last_changed, h.exception_id",
    )
    .await?;
    Ok(found.rows.iter().map(|row| alert(&found, row)).collect())
}

fn alert(found: &Rows, row: &[String]) -> Alert {
    let text = |column: &str| found.get(row, column).to_string();
    Alert {
        exception_id: text("exception_id"),
        version: found.number(row, "version") as u32,
        status: text("status"),
        store_id: text("store_id"),
        district: text("district"),
        kind: text("kind"),
        severity: text("severity"),
        subject: text("subject"),
        business_date: text("business_date"),
        amount: Some(found.get(row, "amount")).filter(|a| !a.is_empty()).map(|_| found.number(row, "amount")),
        evidence: text("evidence"),
    }
}

/// One delivery still owed to a channel: its attempts so far and when to try again.
#[derive(Debug, Default)]
struct Pending {
    attempts: u32,
    next: Option<Instant>,
}

/// The sender: runs until `stop`, looking at what is owed every [`POLL`].
pub struct Sender {
    hub: Arc<Hub>,
    root: Url,
    channels: Vec<Channel>,
    deliveries: Arc<Deliveries>,
    client: reqwest::Client,
    /// Where the delivered markers are (none for an in-memory `--out`).
    store: Option<(Arc<dyn ObjectStore>, Key)>,
    delivered: HashSet<(String, String)>,
    pending: HashMap<(String, String), Pending>,
}

impl Sender {
    pub fn new(hub: Arc<Hub>, root: Url, channels: Vec<Channel>, deliveries: Arc<Deliveries>) -> crate::Result<Sender> {
        let store = match root.scheme() {
            "memory" => None,
            _ => {
                let unusable = |e: &dyn std::fmt::Display| {
                    crate::Error::Alerts(format!(
                        "cannot keep the deliveries under {root}{ALERTS}/ ({e}): check --out, its permissions or credentials"
                    ))
                };
                let url = root.join(&format!("{ALERTS}/")).map_err(|e| unusable(&e))?;
                Some(tillflow_queries::stores::open(&url, &Default::default()).map_err(|e| unusable(&e))?)
            }
        };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| {
            crate::Error::Alerts(format!(
                "no HTTP client for the channels ({e}): the system's TLS roots may be missing"
            ))
        })?;
        Ok(Sender {
            hub,
            root,
            channels,
            deliveries,
            client,
            store,
            delivered: HashSet::new(),
            pending: HashMap::new(),
        })
    }

    /// Reads what was delivered before (a restart, a replay's output): the deliveries owed no
    /// more, and their rows of `alert_deliveries`.
    async fn load(&mut self) -> object_store::Result<()> {
        let Some((store, prefix)) = &self.store else { return Ok(()) };
        let listed: Vec<_> = store.list(Some(prefix)).try_collect().await?;
        for object in listed {
            let parts: Vec<String> =
                object.location.prefix_match(prefix).into_iter().flatten().map(|p| p.as_ref().to_string()).collect();
            if let [channel, rest @ ..] = parts.as_slice() {
                self.delivered.insert((channel.clone(), rest.join("/")));
                let recorded = store.get(&object.location).await?.bytes().await?;
                if let Ok(row) = serde_json::from_slice::<AlertDelivery>(&recorded) {
                    self.deliveries.push(row);
                }
            }
        }
        Ok(())
    }

    pub async fn run(mut self, stop: Arc<AtomicBool>) {
        if let Err(e) = self.load().await {
            tracing::warn!("alerts: cannot read what was delivered before ({e}); owed alerts may be sent again");
        }
        let grant = Grant::everything("alerts");
        let (mut briefed_check, mut looked, mut epoch) = (Instant::now(), Instant::now(), 0);
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(POLL).await;
            let latest = self.hub.latest().epoch;
            if latest == epoch && looked.elapsed() < RETRY_POLL {
                continue;
            }
            (epoch, looked) = (latest, Instant::now());
            let Ok(ctx) = self.hub.session(&self.root, &grant) else { continue };
            match owed(&ctx).await {
                Ok(alerts) => self.send_alerts(alerts).await,
                Err(e) => tracing::debug!("alerts: {e}"),
            }
            if briefed_check.elapsed() >= Duration::from_secs(5) {
                briefed_check = Instant::now();
                self.send_briefings(&ctx).await;
            }
        }
    }

    async fn send_alerts(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            for i in 0..self.channels.len() {
                let channel = &self.channels[i];
                if !channel.wants(&alert) {
                    continue;
                }
                let body = match channel.kind {
                    ChannelKind::Webhook => webhook_payload(&alert),
                    ChannelKind::Slack => slack_payload(&alert),
                };
                let attempt = Attempt {
                    key: alert.key(),
                    exception_id: Some(alert.exception_id.clone()),
                    version: Some(alert.version),
                    store_id: alert.store_id.clone(),
                };
                self.deliver(i, attempt, body).await;
            }
        }
    }

    async fn send_briefings(&mut self, ctx: &datafusion::prelude::SessionContext) {
        if self.channels.iter().all(|c| c.briefing_at.is_none()) {
            return;
        }
        let Ok(stores) = rows(ctx, "SELECT store_id, district, timezone FROM stores ORDER BY store_id").await else {
            return;
        };
        for row in &stores.rows {
            let (store, district, zone) =
                (stores.get(row, "store_id"), stores.get(row, "district"), stores.get(row, "timezone"));
            let Ok(zone) = zone.parse::<chrono_tz::Tz>() else { continue };
            let local = zone.from_utc_datetime(&Utc::now().naive_utc());
            for i in 0..self.channels.len() {
                let channel = &self.channels[i];
                let Some(at) = channel.briefing_at else { continue };
                if local.time() < at || !channel.wants_store(store, district) {
                    continue;
                }
                let date = local.date_naive().to_string();
                let key = format!("briefing/{store}/{date}");
                if self.delivered.contains(&(channel.name.clone(), key.clone())) || !self.due(i, &key) {
                    continue;
                }
                let Ok(brief) = brief::gather(ctx, store, Some(&date)).await else { continue };
                let body = briefing_payload(channel.kind, &brief, &key);
                let attempt = Attempt { key, exception_id: None, version: None, store_id: store.to_string() };
                self.deliver(i, attempt, body).await;
            }
        }
    }

    /// Whether the delivery of `key` to channel `i` is owed and its backoff has passed.
    fn due(&self, i: usize, key: &str) -> bool {
        let id = (self.channels[i].name.clone(), key.to_string());
        !self.delivered.contains(&id)
            && self.pending.get(&id).and_then(|p| p.next).is_none_or(|next| Instant::now() >= next)
    }

    async fn deliver(&mut self, i: usize, attempt: Attempt, body: Value) {
        if !self.due(i, &attempt.key) {
            return;
        }
        let channel = &self.channels[i];
        let id = (channel.name.clone(), attempt.key.clone());
        let sent = self.client.post(&channel.url).header("Idempotency-Key", &attempt.key).json(&body).send().await;
        let (http_status, error) = match sent {
            Ok(answer) if answer.status().is_success() => (Some(answer.status().as_u16()), None),
            Ok(answer) => (Some(answer.status().as_u16()), Some(format!("answered {}", answer.status()))),
            // The error names the URL, which is a secret for Slack: keep its kind only.
            Err(e) => (None, Some(if e.is_timeout() { "timed out".to_string() } else { "cannot connect".to_string() })),
        };
        let pending = self.pending.entry(id.clone()).or_default();
        pending.attempts += 1;
        let number = pending.attempts;
        let outcome = match &error {
            None => "delivered",
            Some(_) => {
                let backoff = Duration::from_secs(1 << (number.min(9) - 1)).min(MAX_BACKOFF);
                pending.next = Some(Instant::now() + backoff);
                "failed"
            }
        };
        if let Some(error) = &error {
            tracing::warn!("alert {} to channel {}: {error} (attempt {number}, tried again later)", attempt.key, id.0);
        }
        let row = AlertDelivery {
            channel: id.0.clone(),
            key: attempt.key,
            exception_id: attempt.exception_id,
            version: attempt.version,
            store_id: attempt.store_id,
            attempt: number,
            outcome: outcome.into(),
            http_status,
            error,
            at: Utc::now().timestamp_millis(),
        };
        if row.error.is_none() {
            self.pending.remove(&id);
            self.delivered.insert(id.clone());
            self.mark(&id, &row).await;
        }
        self.deliveries.push(row);
    }

    /// Records a delivery: an object named by the channel and the key, holding its row.
    async fn mark(&self, (channel, key): &(String, String), row: &AlertDelivery) {
        let Some((store, prefix)) = &self.store else { return };
        let mut location = prefix.clone().join(channel.as_str());
        for part in key.split('/') {
            location = location.join(part);
        }
        let recorded = PutPayload::from(serde_json::to_vec(row).expect("a row serializes"));
        if let Err(e) = store.put(&location, recorded).await {
            tracing::warn!("alerts: cannot record the delivery of {key} to {channel} ({e}); a restart sends it again");
        }
    }
}

/// What an attempt is about.
struct Attempt {
    key: String,
    exception_id: Option<String>,
    version: Option<u32>,
    store_id: String,
}
