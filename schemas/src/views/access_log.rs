use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Day, Millis};

/// `access_log`: every statement a SQL server ran or refused, every post of events over HTTP, and
/// every refused sign-in or token.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccessEntry {
    /// When it started (UTC milliseconds).
    pub at: Millis,
    pub user: String,
    /// `postgres`, `flight` or `http`.
    pub surface: String,
    /// The client's address.
    pub client: String,
    pub statement: String,
    /// The tables the statement names, comma-separated.
    pub tables: String,
    pub rows: u64,
    pub duration_ms: u64,
    /// `ok`, `refused` or `error`.
    pub outcome: String,
}

/// Milliseconds in a day.
const DAY_MS: Millis = 86_400_000;

impl AccessEntry {
    /// The UTC day of `at`: the partition holding the entry.
    pub fn date(&self) -> Day {
        self.at.div_euclid(DAY_MS) as Day
    }
}

impl ViewRow for AccessEntry {
    const NAME: &'static str = "access_log";
    const PARTITION: Option<&'static str> = Some("date");

    fn business_date(&self) -> Option<Day> {
        Some(self.date())
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.timestamp("at", |r| r.at)
            .text("user", |r| &r.user)
            .text("surface", |r| &r.surface)
            .text("client", |r| &r.client)
            .text("statement", |r| &r.statement)
            .text("tables", |r| &r.tables)
            .int("rows", |r| r.rows as i64)
            .int("duration_ms", |r| r.duration_ms as i64)
            .text("outcome", |r| &r.outcome)
            .date("date", Self::date);
    }
}
