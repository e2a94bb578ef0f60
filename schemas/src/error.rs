//! Every way an input record can be wrong. Each is a dead letter's `reason`.

use thiserror::Error;

/// Why an input record was not accepted. `Display` says what is wrong and, where it helps, what to do.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InputError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("malformed CSV: {0}")]
    MalformedCsv(String),
    #[error("unreadable Parquet: {0}")]
    MalformedParquet(String),
    #[error("not UTF-8 text (at byte {0}); re-encode the source as UTF-8")]
    NotUtf8(usize),
    #[error("a record must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("missing `type`; expected one of: {types}", types = crate::raw::TYPE_NAMES)]
    MissingType,
    #[error("unknown type `{0}`; expected one of: {types}", types = crate::raw::TYPE_NAMES)]
    UnknownType(String),
    #[error("`{field}` is required on a {kind} record")]
    MissingField { kind: &'static str, field: &'static str },
    #[error("`{field}`: {detail}")]
    InvalidField { field: String, detail: String },
    #[error("{0}")]
    RuleBroken(String),
    #[error("event_id `{0}` was already accepted with different content")]
    ConflictingDuplicate(String),
    #[error("clock_out of staff `{staff}` at store `{store}` without an open clock_in")]
    ClockOutWithoutClockIn { staff: String, store: String },
    #[error("unknown store `{0}`: send its `store` record before its events")]
    UnknownStore(String),
    #[error("the file has no column `{0}`; see docs/formats.md for the flat layout")]
    MissingColumn(String),
    #[error("ts is {days} days before the latest event, beyond the retention of {retention_days} days")]
    OlderThanRetention { days: i64, retention_days: i64 },
    #[error("ts is {0} hours ahead of this machine's clock; check the sending system's clock")]
    FromTheFuture(i64),
    #[error("cannot read the source: {0}")]
    Io(String),
}

impl InputError {
    pub fn invalid(field: impl std::fmt::Display, detail: impl Into<String>) -> Self {
        InputError::InvalidField { field: field.to_string(), detail: detail.into() }
    }

    pub fn rule(detail: impl Into<String>) -> Self {
        InputError::RuleBroken(detail.into())
    }
}
