use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};

/// `dead_letters`: every input record that was not accepted, with where it came from and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The file (or stream) it came from.
    pub source: String,
    /// Line number, or row number for Parquet.
    pub position: u64,
    /// The epoch at which it was received.
    pub epoch: u64,
    pub event_id: Option<String>,
    pub reason: String,
    pub raw: String,
}

impl ViewRow for DeadLetter {
    const NAME: &'static str = "dead_letters";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("source", |r| &r.source)
            .int("position", |r| r.position as i64)
            .int("epoch", |r| r.epoch as i64)
            .opt_text("event_id", |r| r.event_id.as_deref())
            .text("reason", |r| &r.reason)
            .text("raw", |r| &r.raw);
    }
}
