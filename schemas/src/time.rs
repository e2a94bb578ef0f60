//! Instants, business days and time zones.

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Days since the Unix epoch (Arrow's `Date32`).
pub type Day = i32;

pub const MILLIS_PER_DAY: i64 = 86_400_000;
pub const MILLIS_PER_HOUR: i64 = 3_600_000;

/// Allowed lateness: the watermark trails the latest event time by this much (DESIGN.md, Time).
pub const ALLOWED_LATENESS_MS: Millis = MILLIS_PER_HOUR;

/// How long dated events are kept: those older than this before the latest are not accepted.
pub const RETENTION_MS: Millis = 400 * MILLIS_PER_DAY;

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

/// The store-local hour of day (0..=23) of an instant.
pub fn local_hour(ts: Millis, tz: Tz) -> u8 {
    let offset = local_offset(ts, tz);
    ((ts + offset).rem_euclid(MILLIS_PER_DAY) / MILLIS_PER_HOUR) as u8
}

fn local_offset(ts: Millis, tz: Tz) -> Millis {
    use chrono::Offset;
    tz.timestamp_millis_opt(ts).single().map_or(0, |t| t.offset().fix().local_minus_utc() as Millis * 1000)
}

/// Splits `[start, end)` at the store's local hour boundaries: (local day, local hour, milliseconds)
/// for every local hour it touches. Used to turn shifts into staff hours.
pub fn hour_slices(start: Millis, end: Millis, tz: Tz) -> Vec<(Day, u8, Millis)> {
    let mut slices = Vec::new();
    let mut at = start;
    while at < end {
        let local = at + local_offset(at, tz);
        let next = (at + MILLIS_PER_HOUR - local.rem_euclid(MILLIS_PER_HOUR)).min(end);
        slices.push((local.div_euclid(MILLIS_PER_DAY) as Day, local_hour(at, tz), next - at));
        at = next;
    }
    slices
}

/// The weekday of a day, Monday = 0 (day 0, 1970-01-01, was a Thursday).
pub fn weekday(day: Day) -> usize {
    (day as i64 + 3).rem_euclid(7) as usize
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
    fn weekdays_count_from_monday() {
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(weekday(4), 0, "1970-01-05 was a Monday");
        assert_eq!(weekday(-1), 2, "1969-12-31 was a Wednesday");
        assert_eq!(weekday(date_to_day(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap())), 5, "a Saturday");
    }

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

    #[test]
    fn shifts_split_at_local_hours() {
        let kolkata = parse_tz("Asia/Kolkata").unwrap();
        let start = parse_ts("2026-03-02T17:45:00+05:30").unwrap();
        let end = parse_ts("2026-03-02T19:10:00+05:30").unwrap();
        let day = date_to_day(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        let minutes = |m: i64| m * 60_000;
        assert_eq!(
            hour_slices(start, end, kolkata),
            vec![(day, 17, minutes(15)), (day, 18, minutes(60)), (day, 19, minutes(10))]
        );
        let late = parse_ts("2026-03-02T23:30:00-05:00").unwrap();
        let new_york = parse_tz("America/New_York").unwrap();
        assert_eq!(local_hour(late, new_york), 23);
        assert_eq!(
            hour_slices(late, late + minutes(60), new_york),
            vec![(day, 23, minutes(30)), (day + 1, 0, minutes(30))]
        );
    }
}
