//! `customer_segments` and `segment_profiles`: RFM-style features per loyalty customer and the
//! k-means segments over them, as rows. How they are computed is `operators::customer_segments`.

use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id};

/// Standardized features are kept as integers: this many units per standard deviation.
pub const FIXED_POINT: f64 = 1000.0;

/// The features k-means clusters on, in order.
pub const FEATURES: [&str; FEATURE_COUNT] = ["recency_days", "frequency", "monetary", "avg_basket", "weekend_share"];
pub const FEATURE_COUNT: usize = 5;

/// A feature vector: raw integer features, or standardized ones in [`FIXED_POINT`] units.
pub type Features = [i64; FEATURE_COUNT];

/// The part of the day a customer shops in most (local hour before 12, before 17, or later).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Daypart {
    #[default]
    Morning,
    Afternoon,
    Evening,
}

impl Daypart {
    pub fn name(self) -> &'static str {
        match self {
            Daypart::Morning => "morning",
            Daypart::Afternoon => "afternoon",
            Daypart::Evening => "evening",
        }
    }
}

/// A customer's figures over the window ending on `as_of`, the last whole UTC day before the
/// watermark's: purchases of later days count from the next day on, so features, scaling and
/// segments move once a day rather than at every epoch. Days here are UTC days of purchase.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomerFeatures {
    pub customer_id: Id,
    pub as_of: Day,
    /// Days from the last purchase (any time) to `as_of`, at least 0.
    pub recency_days: i64,
    /// Purchases in the window.
    pub frequency: i64,
    /// Net spend in the window.
    pub monetary: Cents,
    pub weekend_purchases: i64,
    pub daypart: Daypart,
    /// Net spend per department in the window, by department name.
    pub departments: Vec<(Id, i64)>,
}

impl CustomerFeatures {
    /// Net spend per purchase in the window, in cents (rounded down).
    pub fn avg_basket(&self) -> Option<Cents> {
        (self.frequency > 0).then(|| Cents(self.monetary.0.div_euclid(self.frequency)))
    }

    /// Per mille of the window's purchases made on a Saturday or Sunday.
    pub fn weekend_permille(&self) -> i64 {
        if self.frequency == 0 { 0 } else { 1000 * self.weekend_purchases / self.frequency }
    }

    /// The department with the greatest net spend (the first name among equals).
    pub fn top_department(&self) -> Option<&(Id, i64)> {
        self.departments.iter().rev().max_by_key(|(_, net)| *net)
    }

    /// Each department's share of the window's net spend, as JSON, greatest first.
    pub fn department_mix(&self) -> String {
        let total: i64 = self.departments.iter().map(|(_, n)| n).sum();
        let mut shares: Vec<&(Id, i64)> = self.departments.iter().collect();
        shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
        let body: Vec<String> = shares
            .iter()
            .map(|(d, n)| {
                format!(
                    "{}:{:.3}",
                    serde_json::to_string(d.as_str()).unwrap_or_default(),
                    *n as f64 / total.max(1) as f64
                )
            })
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// `customer_segments`: one row per linked, consenting, not erased customer with a purchase.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomerSegment {
    pub features: CustomerFeatures,
    pub segment_id: u8,
}

impl ViewRow for CustomerSegment {
    const NAME: &'static str = "customer_segments";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("customer_id", |r| &r.features.customer_id)
            .int("recency_days", |r| r.features.recency_days)
            .int("frequency", |r| r.features.frequency)
            .money("monetary", |r| r.features.monetary)
            .opt_money("avg_basket", |r| r.features.avg_basket())
            .real("weekend_share", |r| r.features.weekend_permille() as f64 / 1000.0)
            .text("preferred_daypart", |r| r.features.daypart.name())
            .opt_text("top_department", |r| r.features.top_department().map(|(d, _)| d.as_str()))
            .text_owned("department_mix", |r| r.features.department_mix())
            .int("segment_id", |r| r.segment_id as i64)
            .date("as_of_date", |r| r.features.as_of);
    }
}

/// `segment_profiles`: one row per segment with customers.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SegmentProfile {
    pub segment_id: u8,
    pub size: i64,
    /// Σ of the members' raw features (means are derived).
    pub raw_sums: Features,
    /// The standardized centroid, in [`FIXED_POINT`] units.
    pub centroid: Features,
    /// A readable name for the centroid, e.g. "high-value frequent weekend shoppers".
    pub label: String,
}

impl SegmentProfile {
    fn raw_mean(&self, i: usize) -> f64 {
        self.raw_sums[i] as f64 / self.size.max(1) as f64
    }
}

impl ViewRow for SegmentProfile {
    const NAME: &'static str = "segment_profiles";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.int("segment_id", |r| r.segment_id as i64)
            .int("size", |r| r.size)
            .text("label", |r| &r.label)
            .real("avg_recency_days", |r| r.raw_mean(0))
            .real("avg_frequency", |r| r.raw_mean(1))
            .real("avg_monetary", |r| r.raw_mean(2) / 100.0)
            .real("avg_basket", |r| r.raw_mean(3) / 100.0)
            .real("weekend_share", |r| r.raw_mean(4) / 1000.0)
            .text_owned("centroid", |r| {
                let z: Vec<String> = FEATURES
                    .iter()
                    .zip(r.centroid)
                    .map(|(f, v)| format!("\"{f}\":{:.3}", v as f64 / FIXED_POINT))
                    .collect();
                format!("{{{}}}", z.join(","))
            });
    }
}
