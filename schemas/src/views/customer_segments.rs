//! `customer_segments` and `segment_profiles`: RFM-style features per loyalty customer and
//! k-means segments over them. The arithmetic is integer (fixed point) wherever results could
//! otherwise depend on the order of a sum, so the segments are the same on any worker count.

use serde::{Deserialize, Serialize};

use super::{Columns, Ratio, ViewRow};
use crate::{Cents, Day, Id};

/// Segments k-means looks for.
pub const SEGMENTS: usize = 4;
/// Lloyd rounds after the initial centroids.
pub const KMEANS_ROUNDS: usize = 16;
/// Purchases count towards frequency, monetary, mix and daypart over this many days, ending on
/// the as-of day.
pub const CUSTOMER_WINDOW_DAYS: Day = 90;
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
    pub fn of_hour(hour: u8) -> Daypart {
        match hour {
            0..12 => Daypart::Morning,
            12..17 => Daypart::Afternoon,
            _ => Daypart::Evening,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Daypart::Morning => "morning",
            Daypart::Afternoon => "afternoon",
            Daypart::Evening => "evening",
        }
    }
}

/// One purchase of a customer, as the features need it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Purchase {
    /// The UTC day of the purchase: what the window and recency count in.
    pub day: Day,
    /// The store-local day, for the weekend share.
    pub business_date: Day,
    pub hour: u8,
    pub net: Cents,
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
    /// From every purchase and department spend (UTC day, department, net) of one customer.
    pub fn compute(
        customer_id: &Id,
        as_of: Day,
        purchases: &[&Purchase],
        spend: &[(Day, &Id, i64)],
    ) -> Option<CustomerFeatures> {
        let last = purchases.iter().map(|p| p.day).filter(|day| *day <= as_of).max()?;
        let recent: Vec<&&Purchase> = purchases.iter().filter(|p| in_window(p.day, as_of)).collect();
        let mut parts = [0i64; 3];
        for p in &recent {
            parts[Daypart::of_hour(p.hour) as usize] += 1;
        }
        let best = (0..3).rev().max_by_key(|i| parts[*i]).unwrap_or(0);
        let mut departments: Vec<(Id, i64)> = Vec::new();
        for (day, department, net) in spend {
            if in_window(*day, as_of) {
                match departments.iter_mut().find(|(d, _)| d == *department) {
                    Some((_, total)) => *total += net,
                    None => departments.push(((*department).clone(), *net)),
                }
            }
        }
        departments.retain(|(_, net)| *net != 0);
        departments.sort_by_key(|(name, net)| (name.as_str(), *net));
        Some(CustomerFeatures {
            customer_id: customer_id.clone(),
            as_of,
            recency_days: (as_of - last).max(0) as i64,
            frequency: recent.len() as i64,
            monetary: Cents(recent.iter().map(|p| p.net.0).sum()),
            weekend_purchases: recent.iter().filter(|p| is_weekend(p.business_date)).count() as i64,
            daypart: [Daypart::Morning, Daypart::Afternoon, Daypart::Evening][best],
            departments,
        })
    }

    /// Net spend per purchase in the window, in cents (rounded down).
    pub fn avg_basket(&self) -> Option<Cents> {
        (self.frequency > 0).then(|| Cents(self.monetary.0.div_euclid(self.frequency)))
    }

    /// Per mille of the window's purchases made on a Saturday or Sunday.
    pub fn weekend_permille(&self) -> i64 {
        if self.frequency == 0 { 0 } else { 1000 * self.weekend_purchases / self.frequency }
    }

    /// The raw features k-means standardizes, in [`FEATURES`] order.
    pub fn raw(&self) -> Features {
        [
            self.recency_days,
            self.frequency,
            self.monetary.0,
            self.avg_basket().map_or(0, |c| c.0),
            self.weekend_permille(),
        ]
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

fn in_window(day: Day, as_of: Day) -> bool {
    day > as_of - CUSTOMER_WINDOW_DAYS && day <= as_of
}

/// Saturday or Sunday (day 0, 1970-01-01, was a Thursday).
pub fn is_weekend(day: Day) -> bool {
    matches!((day as i64 + 3).rem_euclid(7), 5 | 6)
}

/// How raw features become standardized ones: mean and standard deviation per feature, each
/// rounded to 3 significant digits so one more purchase rarely rescales every customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scale {
    pub mean: [Ratio; FEATURE_COUNT],
    pub sd: [Ratio; FEATURE_COUNT],
}

impl Scale {
    /// From the exact sums of the raw features (so the result does not depend on their order).
    pub fn of<'a>(raw: impl Iterator<Item = &'a Features>) -> Scale {
        let (mut n, mut s1, mut s2) = (0i128, [0i128; FEATURE_COUNT], [0i128; FEATURE_COUNT]);
        for x in raw {
            n += 1;
            for i in 0..FEATURE_COUNT {
                s1[i] += x[i] as i128;
                s2[i] += (x[i] as i128) * (x[i] as i128);
            }
        }
        let mut scale = Scale::default();
        if n == 0 {
            return scale;
        }
        for i in 0..FEATURE_COUNT {
            let mean = s1[i] as f64 / n as f64;
            let variance = (n * s2[i] - s1[i] * s1[i]) as f64 / (n * n) as f64;
            scale.mean[i] = Ratio(round_significant(mean));
            scale.sd[i] = Ratio(round_significant(variance.sqrt()));
        }
        scale
    }

    /// Standardized features, in [`FIXED_POINT`] units; a constant feature stands at 0.
    pub fn standardize(&self, raw: &Features) -> Features {
        std::array::from_fn(|i| {
            let sd = self.sd[i].0;
            if sd > 0.0 { ((raw[i] as f64 - self.mean[i].0) / sd * FIXED_POINT).round() as i64 } else { 0 }
        })
    }
}

fn round_significant(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let magnitude = 10f64.powi(x.abs().log10().floor() as i32 - 2);
    (x / magnitude).round() * magnitude
}

/// Squared distance between two standardized vectors.
pub fn distance(a: &Features, b: &Features) -> i64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid's segment (the lowest segment among equals) and its squared distance.
pub fn nearest(point: &Features, centroids: &[(u8, Features)]) -> Option<(u8, i64)> {
    centroids.iter().map(|(segment, c)| (distance(point, c), *segment)).min().map(|(d, segment)| (segment, d))
}

/// The integer mean of some vectors (rounded towards negative infinity).
pub fn mean(points: &[&Features]) -> Option<Features> {
    let n = points.len() as i64;
    (n > 0).then(|| std::array::from_fn(|i| points.iter().map(|p| p[i]).sum::<i64>().div_euclid(n)))
}

/// Centroids move in steps of a hundredth of a standard deviation, so one customer more or less
/// rarely moves a centroid (and with it every distance).
const CENTROID_STEP: i64 = (FIXED_POINT / 100.0) as i64;

/// A segment's new centroid: the mean of its points, to the nearest [`CENTROID_STEP`].
pub fn centroid_of(points: &[&Features]) -> Option<Features> {
    mean(points).map(|m| m.map(|v| (v + CENTROID_STEP / 2).div_euclid(CENTROID_STEP) * CENTROID_STEP))
}

/// The starts k-means runs from, each maintained to the end; the one with the smaller
/// within-cluster sum of squares gives the segments (the first among equals).
pub const STARTS: usize = 2;

/// The initial centroids of each start, rounded to a tenth of a standard deviation:
/// 0. points ranked by value (monetary + frequency − recency, then customer) cut into
///    [`SEGMENTS`] equal runs, each run's mean;
/// 1. bisection: the cluster with the largest sum of squares is split in two along its first
///    principal component, until there are [`SEGMENTS`]; each part's mean.
///
/// Both only depend on the set of points (they are first put in the order of customer ids' text).
pub fn initial_centroids(points: &[(&Id, &Features)]) -> [Vec<(u8, Features)>; STARTS] {
    let mut sorted: Vec<(&Id, &Features)> = points.to_vec();
    sorted.sort_by_key(|(id, p)| (id.as_str(), *p));
    let tenth = |m: Features| m.map(|v| (v as f64 / (FIXED_POINT / 10.0)).round() as i64 * (FIXED_POINT / 10.0) as i64);
    let numbered = |groups: Vec<Vec<&Features>>| -> Vec<(u8, Features)> {
        groups.iter().filter_map(|g| mean(g)).enumerate().map(|(j, m)| (j as u8, tenth(m))).collect()
    };

    let mut ranked = sorted.clone();
    ranked.sort_by_key(|(id, p)| (p[2] + p[1] - p[0], id.as_str()));
    let n = ranked.len();
    let runs =
        (0..SEGMENTS).map(|j| ranked[j * n / SEGMENTS..(j + 1) * n / SEGMENTS].iter().map(|(_, p)| *p).collect());

    let mut clusters: Vec<Vec<&Features>> = vec![sorted.iter().map(|(_, p)| *p).collect()];
    while clusters.len() < SEGMENTS {
        let widest = (0..clusters.len()).max_by(|a, b| spread(&clusters[*a]).0.total_cmp(&spread(&clusters[*b]).0));
        let Some(widest) = widest.filter(|w| clusters[*w].len() > 1) else { break };
        let cluster = clusters.remove(widest);
        let (_, centre, axis) = spread(&cluster);
        let (low, high): (Vec<&Features>, Vec<&Features>) = cluster
            .iter()
            .partition(|p| (0..FEATURE_COUNT).map(|k| (p[k] as f64 - centre[k]) * axis[k]).sum::<f64>() < 0.0);
        if low.is_empty() || high.is_empty() {
            // The widest cluster has no spread along its axis (identical points): nothing splits further.
            clusters.push(cluster);
            break;
        }
        clusters.extend([low, high]);
    }
    [numbered(runs.collect()), numbered(clusters)]
}

/// A cluster's sum of squares, mean, and first principal component (power iteration).
fn spread(points: &[&Features]) -> (f64, [f64; FEATURE_COUNT], [f64; FEATURE_COUNT]) {
    let n = points.len().max(1) as f64;
    let centre: [f64; FEATURE_COUNT] = std::array::from_fn(|k| points.iter().map(|p| p[k] as f64).sum::<f64>() / n);
    let mut cov = [[0f64; FEATURE_COUNT]; FEATURE_COUNT];
    for p in points {
        for a in 0..FEATURE_COUNT {
            for b in 0..FEATURE_COUNT {
                cov[a][b] += (p[a] as f64 - centre[a]) * (p[b] as f64 - centre[b]);
            }
        }
    }
    let mut axis = [1f64; FEATURE_COUNT];
    for _ in 0..50 {
        let next: [f64; FEATURE_COUNT] = std::array::from_fn(|a| (0..FEATURE_COUNT).map(|b| cov[a][b] * axis[b]).sum());
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        axis = next.map(|x| x / norm);
    }
    ((0..FEATURE_COUNT).map(|k| cov[k][k]).sum(), centre, axis)
}

/// The within-cluster sum of squares of `points` against `centroids`, each point counted at its
/// nearest centroid.
pub fn objective<'a>(points: impl Iterator<Item = &'a Features>, centroids: &[(u8, Features)]) -> i64 {
    points.filter_map(|p| nearest(p, centroids)).map(|(_, d)| d).sum()
}

/// Segments customers given their raw features: standardized by the [`Scale`] of all of them,
/// then k-means from each of the [`initial_centroids`] starts for [`KMEANS_ROUNDS`] rounds,
/// keeping the start with the smaller [`objective`] (the first among equals). Returns each
/// customer's segment (its nearest final centroid), in the order given, and each segment's
/// profile. The result depends on the set of customers, not their order.
pub fn segment(customers: &[(&Id, Features)]) -> (Vec<u8>, Vec<SegmentProfile>) {
    let scale = Scale::of(customers.iter().map(|(_, raw)| raw));
    let points: Vec<Features> = customers.iter().map(|(_, raw)| scale.standardize(raw)).collect();
    let starts = initial_centroids(&customers.iter().map(|(id, _)| *id).zip(&points).collect::<Vec<_>>());
    let finals = starts.map(|mut centroids| {
        for _ in 0..KMEANS_ROUNDS {
            let nearest_segments: Vec<Option<u8>> =
                points.iter().map(|p| nearest(p, &centroids).map(|(s, _)| s)).collect();
            for (segment, centroid) in centroids.iter_mut() {
                let members: Vec<&Features> = points
                    .iter()
                    .zip(&nearest_segments)
                    .filter(|(_, s)| **s == Some(*segment))
                    .map(|(p, _)| p)
                    .collect();
                *centroid = centroid_of(&members).unwrap_or(*centroid);
            }
        }
        centroids
    });
    let centroids =
        finals.iter().min_by_key(|centroids| objective(points.iter(), centroids)).cloned().unwrap_or_default();
    let segments: Vec<u8> = points.iter().map(|p| nearest(p, &centroids).map_or(0, |(s, _)| s)).collect();
    let profiles = centroids
        .iter()
        .filter_map(|(segment, centroid)| {
            let members: Vec<&Features> =
                customers.iter().zip(&segments).filter(|(_, s)| *s == segment).map(|((_, raw), _)| raw).collect();
            (!members.is_empty()).then(|| SegmentProfile::from_members(*segment, *centroid, &members))
        })
        .collect();
    (segments, profiles)
}

/// A readable name for a standardized centroid, e.g. "high-value frequent weekend shoppers".
pub fn label(centroid: &Features) -> String {
    let z = |i: usize| centroid[i] as f64 / FIXED_POINT;
    let value = if z(2) > 0.5 {
        "high-value"
    } else if z(2) < -0.5 {
        "low-value"
    } else {
        "mid-value"
    };
    let mut words = vec![value];
    if z(0) > 0.75 {
        words.push("lapsing");
    } else if z(1) > 0.75 {
        words.push("frequent");
    }
    if z(4) > 0.5 {
        words.push("weekend");
    } else if z(4) < -0.5 {
        words.push("weekday");
    }
    words.push("shoppers");
    words.join(" ")
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
}

impl SegmentProfile {
    pub fn from_members(segment_id: u8, centroid: Features, members: &[&Features]) -> SegmentProfile {
        let raw_sums = std::array::from_fn(|i| members.iter().map(|m| m[i]).sum());
        SegmentProfile { segment_id, size: members.len() as i64, raw_sums, centroid }
    }

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
            .text_owned("label", |r| label(&r.centroid))
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

/// The as-of day of the customer views: the day before the UTC day of the watermark.
pub fn customer_as_of(watermark: crate::Millis) -> Day {
    crate::time::utc_day(watermark) - 1
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_name_the_standout_features() {
        // recency, frequency, monetary, basket, weekend share; 1000 = one standard deviation.
        assert_eq!(label(&[0, 900, 800, 0, 700]), "high-value frequent weekend shoppers");
        assert_eq!(label(&[1200, 900, -800, 0, -700]), "low-value lapsing weekday shoppers");
        assert_eq!(label(&[0, 0, 0, 0, 0]), "mid-value shoppers");
    }

    #[test]
    fn bisection_stops_on_identical_points() {
        let (a, b) = (crate::Id::from("a"), crate::Id::from("b"));
        let same = [0, 0, 0, 0, 0];
        let [ranked, bisected] = super::initial_centroids(&[(&a, &same), (&b, &same)]);
        assert_eq!(bisected, vec![(0, same)]);
        assert!(!ranked.is_empty());
    }
}
