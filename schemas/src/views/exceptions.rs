//! `exceptions`: the one table a district manager reads. Its rules are in
//! `operators::exceptions`.

use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id, Text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::High, Severity::Medium, Severity::Low];

    /// The severity a name (`high`, `medium`, `low`) says.
    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }

    /// How much it weighs: high 3, medium 2, low 1 (an unknown name weighs as low).
    pub fn weight_of(name: &str) -> u8 {
        match Severity::from_name(name) {
            Some(Severity::High) => 3,
            Some(Severity::Medium) => 2,
            _ => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Exception {
    /// A hash of (kind, store, subject, business day): the same exception keeps its id while
    /// its figures change from epoch to epoch.
    pub exception_id: Text,
    pub district: Id,
    pub store_id: Id,
    pub kind: Text,
    pub severity: Severity,
    /// The cashier, SKU, refund, transaction or store it is about.
    pub subject: Text,
    pub business_date: Day,
    pub amount: Option<Cents>,
    pub evidence: String,
}

impl ViewRow for Exception {
    const NAME: &'static str = "exceptions";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("exception_id", |r| &r.exception_id)
            .text("district", |r| &r.district)
            .text("store_id", |r| &r.store_id)
            .text("kind", |r| &r.kind)
            .text("severity", |r| r.severity.name())
            .text("subject", |r| &r.subject)
            .date("business_date", |r| r.business_date)
            .opt_money("amount", |r| r.amount)
            .text("evidence", |r| &r.evidence);
    }
}
