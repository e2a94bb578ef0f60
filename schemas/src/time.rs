//! Instants, business days and time zones.

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Days since the Unix epoch (Arrow's `Date32`).
pub type Day = i32;

pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// Parses RFC 3339 (with offset, or `Z`) or integer milliseconds since the Unix epoch.
pub fn parse_ts(text: &str) -> Result<Millis, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text.parse::<i64>().map_err(|_| format!("`{text}` is not a timestamp"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{text}` is not an RFC 3339 timestamp with offset ({e})"))
}

/// Parses an IANA time zone name such as `America/Chicago`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("`{name}` is not an IANA time zone name"))
}

/// The store-local calendar day of an instant.
pub fn local_day(ts: Millis, tz: Tz) -> Day {
    let local = tz.timestamp_millis_opt(ts).single().map(|t| t.date_naive());
    local.map_or_else(|| utc_day(ts), date_to_day)
}

pub fn utc_day(ts: Millis) -> Day {
    ts.div_euclid(MILLIS_PER_DAY) as Day
}

pub fn date_to_day(date: NaiveDate) -> Day {
    (date - NaiveDate::default()).num_days() as Day
}

pub fn day_to_date(day: Day) -> NaiveDate {
    NaiveDate::default() + chrono::TimeDelta::days(day as i64)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-03-01T09:30:00.000Z`.
pub fn format_ts(ts: Millis) -> String {
    DateTime::from_timestamp_millis(ts)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_day_is_store_local() {
        let ts = parse_ts("2026-03-02T03:30:00Z").unwrap();
        let chicago = parse_tz("America/Chicago").unwrap();
        assert_eq!(day_to_date(local_day(ts, chicago)).to_string(), "2026-03-01");
        assert_eq!(day_to_date(utc_day(ts)).to_string(), "2026-03-02");
        assert_eq!(parse_ts("1700000000000"), Ok(1_700_000_000_000));
        assert!(parse_ts("2026-03-02 03:30").is_err());
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
