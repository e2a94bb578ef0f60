//! The k-means step of `customer_segments`: standardization, two deterministic starts, Lloyd
//! rounds in integer arithmetic, and the profile and label of each segment. It takes every
//! customer's raw features at once; see the module above for when it runs.

use serde::{Deserialize, Serialize};
use tillflow_schemas::Id;
use tillflow_schemas::views::{FEATURE_COUNT, FIXED_POINT, Features, Ratio, SegmentProfile};

/// Segments k-means looks for.
pub const SEGMENTS: usize = 4;
/// Lloyd rounds after the initial centroids.
pub const KMEANS_ROUNDS: usize = 16;

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
            (!members.is_empty()).then(|| profile(*segment, *centroid, &members))
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

/// A segment's profile from its centroid and its members' raw features.
fn profile(segment_id: u8, centroid: Features, members: &[&Features]) -> SegmentProfile {
    let raw_sums = std::array::from_fn(|i| members.iter().map(|m| m[i]).sum());
    SegmentProfile { segment_id, size: members.len() as i64, raw_sums, centroid, label: label(&centroid) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_standout_features() {
        // recency, frequency, monetary, basket, weekend share; 1000 = one standard deviation.
        assert_eq!(label(&[0, 900, 800, 0, 700]), "high-value frequent weekend shoppers");
        assert_eq!(label(&[1200, 900, -800, 0, -700]), "low-value lapsing weekday shoppers");
        assert_eq!(label(&[0, 0, 0, 0, 0]), "mid-value shoppers");
    }

    #[test]
    fn bisection_stops_on_identical_points() {
        let (a, b) = (Id::from("a"), Id::from("b"));
        let same = [0, 0, 0, 0, 0];
        let [ranked, bisected] = initial_centroids(&[(&a, &same), (&b, &same)]);
        assert_eq!(bisected, vec![(0, same)]);
        assert!(!ranked.is_empty());
    }
}
