//! Money as exact integer cents.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of money in cents. Read from a JSON number or string with at most two decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses `"12"`, `"12.3"`, `"-12.34"`; more than two decimals is an error.
    pub fn parse(text: &str) -> Result<Cents, String> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(format!("`{text}` is not a decimal amount"));
        }
        if frac.len() > 2 {
            return Err(format!("`{text}` has more than two decimal places"));
        }
        let whole: i64 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("`{text}` is too large"))? };
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .filter(|c| *c <= MAX_CENTS)
            .ok_or_else(|| format!("`{text}` is too large"))?;
        Ok(Cents(if negative { -cents } else { cents }))
    }

    fn from_f64(value: f64) -> Result<Cents, String> {
        let cents = value * 100.0;
        if !cents.is_finite() || cents.abs() > MAX_CENTS as f64 {
            return Err(format!("{value} is out of range for money"));
        }
        let rounded = cents.round();
        if (cents - rounded).abs() > 1e-6 * cents.abs().max(1.0) {
            return Err(format!("{value} has more than two decimal places"));
        }
        Ok(Cents(rounded as i64))
    }

    /// `self × qty`, or `None` past the range of `DECIMAL(18,2)`.
    pub fn times(self, qty: i64) -> Option<Cents> {
        self.0.checked_mul(qty).filter(|c| c.abs() <= MAX_CENTS).map(Cents)
    }
}

/// The largest amount `DECIMAL(18,2)` holds, in cents.
pub const MAX_CENTS: i64 = 999_999_999_999_999_999;

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // In JSON, a number with two decimals, the way the input carries it; between the
        // processes of a cluster (bincode), the cents.
        match serializer.is_human_readable() {
            true => serializer.serialize_f64(self.0 as f64 / 100.0),
            false => serializer.serialize_i64(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Cents;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount with at most two decimal places")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cents, E> {
                Cents(v).times(100).ok_or_else(|| E::custom(format!("{v} is too large")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cents, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| Cents(v).times(100))
                    .ok_or_else(|| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cents, E> {
                Cents::from_f64(v).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cents, E> {
                Cents::parse(v).map_err(E::custom)
            }
        }
        match deserializer.is_human_readable() {
            true => deserializer.deserialize_any(Visitor),
            false => i64::deserialize(deserializer).map(Cents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_processes_as_cents() {
        let bytes = bincode::serialize(&Cents(-1999)).unwrap();
        assert_eq!(bincode::deserialize::<Cents>(&bytes).unwrap(), Cents(-1999));
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Cents::parse("12.3"), Ok(Cents(1230)));
        assert_eq!(Cents::parse("-0.05"), Ok(Cents(-5)));
        assert_eq!(Cents::parse("7"), Ok(Cents(700)));
        assert!(Cents::parse("1.234").is_err());
        assert!(Cents::parse("abc").is_err());
        assert!(Cents::parse("99999999999999999999").is_err());
    }

    #[test]
    fn reads_json_numbers_without_float_error() {
        let c: Cents = serde_json::from_str("19.99").unwrap();
        assert_eq!(c, Cents(1999));
        let c: Cents = serde_json::from_str("0.1").unwrap();
        assert_eq!(c, Cents(10));
        assert!(serde_json::from_str::<Cents>("0.123").is_err());
        assert_eq!(Cents(-1205).to_string(), "-12.05");
    }
}
