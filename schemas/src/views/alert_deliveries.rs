//! `alert_deliveries`: every attempt to deliver an alert or a morning briefing to a channel.

use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::Millis;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertDelivery {
    /// The `[[alerts]]` channel's name.
    pub channel: String,
    /// The idempotency key: `<exception_id>/v<version>`, or `briefing/<store>/<date>`.
    pub key: String,
    pub exception_id: Option<String>,
    pub version: Option<u32>,
    pub store_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `delivered`, or `failed` (tried again later).
    pub outcome: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub at: Millis,
}

impl ViewRow for AlertDelivery {
    const NAME: &'static str = "alert_deliveries";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("channel", |r| &r.channel)
            .text("key", |r| &r.key)
            .opt_text("exception_id", |r| r.exception_id.as_deref())
            .opt_int("version", |r| r.version.map(i64::from))
            .text("store_id", |r| &r.store_id)
            .int("attempt", |r| r.attempt.into())
            .text("outcome", |r| &r.outcome)
            .opt_int("http_status", |r| r.http_status.map(i64::from))
            .opt_text("error", |r| r.error.as_deref())
            .timestamp("at", |r| r.at);
    }
}
