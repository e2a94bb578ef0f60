//! `exception_history`: each exception's life — when it was first seen, changed, cleared; who
//! acknowledged, dismissed, assigned or annotated it. Its rules are in
//! `operators::exception_history`.

use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Millis};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Seen, nobody has acted on it yet.
    Open,
    Acknowledged,
    /// Judged not a problem, with a reason; stays so while its figures change.
    Dismissed,
    /// Acknowledged, then its figures changed; or cleared, then back; or reopened by hand.
    Reopened,
    /// No longer in `exceptions` (its figures no longer break the rule).
    Cleared,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Dismissed => "dismissed",
            Status::Reopened => "reopened",
            Status::Cleared => "cleared",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExceptionHistory {
    pub exception_id: String,
    pub store_id: String,
    pub district: String,
    pub kind: String,
    /// The cashier, SKU, refund, transaction or store it is about, and its business day.
    pub subject: String,
    pub business_date: Day,
    /// The latest severity, amount and evidence (kept once it has cleared).
    pub severity: String,
    pub amount: Option<Cents>,
    pub evidence: String,
    pub status: Status,
    /// 1 when first seen; one more each time it is reopened (the alerts' idempotency key).
    pub version: u32,
    /// The instant of the epoch it was first seen in.
    pub first_seen: Millis,
    pub last_changed: Millis,
    pub cleared: Option<Millis>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Millis>,
    pub assigned_to: Option<String>,
    /// The latest note, or the dismissal's reason.
    pub note: Option<String>,
    /// The latest action: what, by whom, when.
    pub last_action: Option<String>,
    pub last_action_by: Option<String>,
    pub last_action_at: Option<Millis>,
    pub actions: u32,
}

impl ViewRow for ExceptionHistory {
    const NAME: &'static str = "exception_history";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("exception_id", |r| &r.exception_id)
            .text("store_id", |r| &r.store_id)
            .text("district", |r| &r.district)
            .text("kind", |r| &r.kind)
            .text("subject", |r| &r.subject)
            .date("business_date", |r| r.business_date)
            .text("severity", |r| &r.severity)
            .opt_money("amount", |r| r.amount)
            .text("evidence", |r| &r.evidence)
            .text("status", |r| r.status.name())
            .int("version", |r| r.version.into())
            .timestamp("first_seen", |r| r.first_seen)
            .timestamp("last_changed", |r| r.last_changed)
            .opt_timestamp("cleared", |r| r.cleared)
            .opt_text("acknowledged_by", |r| r.acknowledged_by.as_deref())
            .opt_timestamp("acknowledged_at", |r| r.acknowledged_at)
            .opt_text("assigned_to", |r| r.assigned_to.as_deref())
            .opt_text("note", |r| r.note.as_deref())
            .opt_text("last_action", |r| r.last_action.as_deref())
            .opt_text("last_action_by", |r| r.last_action_by.as_deref())
            .opt_timestamp("last_action_at", |r| r.last_action_at)
            .int("actions", |r| r.actions.into());
    }
}
