//! Customer segments: hand-computed features and retractions, and the k-means objective against
//! a batch k-means (k-means++ seeding, Lloyd to convergence, best of several seeds) over the
//! features as the independent reference (`segments_reference`) standardizes them.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow::dataflow::{consolidate, states_at};
use tillflow::run::{RunConfig, compute};
use tillflow_data::ChainConfig;
use tillflow_operators::customer_segments::SEGMENTS;
use tillflow_schemas::views::{CustomerSegment, Daypart};
use tillflow_schemas::*;

use tillflow_testkit::events::*;
use tillflow_testkit::support::run_prepared;

#[test]
fn features_of_one_customer_and_every_way_to_leave() {
    let ny = |d: i64, h: i64| BASE + d * DAY + (h + 5) * HOUR; // New York local hour (EST)
    let one = |price| vec![line(1, "K1", 1, price, 0, false)];
    let stamped = vec![
        (0, store("S1", "America/New_York")),
        (0, product("K1", 100, None, None)),
        (1, link("L-1", ny(0, 8), "L1", "C1", true)),
        (1, with_card(sale("T1", "S1", ny(0, 10), one(1000)), Some("L1"))),
        (1, with_card(sale("T2", "S1", ny(1, 18), one(3000)), Some("L1"))),
        (1, with_card(sale("T3", "S1", ny(5, 13), one(2000)), Some("L1"))),
        (1, with_card(sale("T4", "S1", ny(5, 14), one(9999)), Some("L9"))), // a card never linked
        (1, sale("T5", "S1", ny(11, 12), one(500))),
        (2, link("L-2", ny(11, 12), "L1", "C1", false)),
        (3, link("L-3", ny(11, 12) + 1, "L1", "C1", true)),
        (4, erasure("X-1", ny(11, 12), "C1")),
        (5, link("L-4", ny(11, 12) + 2, "L1", "C1", true)),
    ];
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<CustomerSegment>(), &[1, 2, 3, 4, 5]);
    assert_eq!(states[0].len(), 1);
    let c1 = &states[0][0].features;
    let pseudonym = tillflow::pseudonyms::Pseudonyms::known().of(tillflow_schemas::formats::Customer::Id, "C1");
    assert_eq!(c1.customer_id, pseudonym.as_str());
    assert_eq!(c1.as_of, day(10), "the watermark, 11:00 New York on day 11, is on that UTC day: as of the day before");
    assert_eq!((c1.recency_days, c1.frequency, c1.monetary), (5, 3, Cents(6000)));
    assert_eq!(c1.avg_basket(), Some(Cents(2000)));
    assert_eq!(c1.weekend_permille(), 666, "Saturday and Sunday of three purchases");
    assert_eq!(c1.daypart, Daypart::Morning, "one purchase per daypart: the earliest wins");
    assert_eq!(c1.department_mix(), r#"{"d":1.000}"#);
    assert!(states[1].is_empty(), "consent withdrawn");
    assert_eq!(states[2].len(), 1, "consent given again");
    assert!(states[3].is_empty(), "erased");
    assert!(states[4].is_empty(), "an erasure is for good");
}

/// Within-cluster sum of squares of `labels` over `points`.
fn wcss(points: &[[f64; 5]], labels: &[usize], k: usize) -> f64 {
    let mut total = 0.0;
    for cluster in 0..k {
        let members: Vec<&[f64; 5]> =
            points.iter().zip(labels).filter(|(_, l)| **l == cluster).map(|(p, _)| p).collect();
        if members.is_empty() {
            continue;
        }
        let centre: Vec<f64> =
            (0..5).map(|i| members.iter().map(|p| p[i]).sum::<f64>() / members.len() as f64).collect();
        total += members.iter().map(|p| (0..5).map(|i| (p[i] - centre[i]).powi(2)).sum::<f64>()).sum::<f64>();
    }
    total
}

fn nearest(p: &[f64; 5], centres: &[[f64; 5]]) -> usize {
    let d = |c: &[f64; 5]| (0..5).map(|i| (p[i] - c[i]).powi(2)).sum::<f64>();
    (0..centres.len()).min_by(|a, b| d(&centres[*a]).total_cmp(&d(&centres[*b]))).unwrap()
}

/// Batch k-means: k-means++ seeding, then Lloyd until no point moves; returns the WCSS.
fn batch_kmeans(points: &[[f64; 5]], k: usize, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres = vec![points[rng.random_range(0..points.len())]];
    while centres.len() < k {
        let weights: Vec<f64> = points
            .iter()
            .map(|p| {
                let c = centres[nearest(p, &centres)];
                (0..5).map(|i| (p[i] - c[i]).powi(2)).sum::<f64>()
            })
            .collect();
        let mut pick = rng.random_range(0.0..weights.iter().sum::<f64>());
        let chosen = weights
            .iter()
            .position(|w| {
                pick -= w;
                pick <= 0.0
            })
            .unwrap_or(points.len() - 1);
        centres.push(points[chosen]);
    }
    let mut labels: Vec<usize> = points.iter().map(|p| nearest(p, &centres)).collect();
    for _ in 0..500 {
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&[f64; 5]> =
                points.iter().zip(&labels).filter(|(_, l)| **l == c).map(|(p, _)| p).collect();
            if !members.is_empty() {
                *centre = std::array::from_fn(|i| members.iter().map(|p| p[i]).sum::<f64>() / members.len() as f64);
            }
        }
        let next: Vec<usize> = points.iter().map(|p| nearest(p, &centres)).collect();
        if next == labels {
            break;
        }
        labels = next;
    }
    wcss(points, &labels, k)
}

#[test]
fn kmeans_objective_is_within_two_percent_of_batch_kmeans() {
    for seed in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let config = ChainConfig { stores: 6, days: 21, seed, ..ChainConfig::default() };
        tillflow_data::generate(dir.path(), config, Format::Ndjson, &mut |_, _| {}).unwrap();
        let run = RunConfig {
            epochs: tillflow::source::Epochs::Tick(6 * HOUR),
            ..RunConfig::new(
                vec![dir.path().to_path_buf()],
                String::new(),
                2,
                tillflow::pseudonyms::Pseudonyms::known(),
            )
        };
        let segments = consolidate(compute(&run).unwrap().changes::<CustomerSegment>().to_vec());
        assert!(segments.len() > 500, "{} customers", segments.len());
        let points = tillflow_testkit::segments_reference::standardized(&segments);
        let labels: Vec<usize> = segments.iter().map(|s| s.segment_id as usize).collect();
        let ours = wcss(&points, &labels, SEGMENTS);
        let best = (0..8).map(|s| batch_kmeans(&points, SEGMENTS, s)).fold(f64::MAX, f64::min);
        assert!(ours <= 1.02 * best, "seed {seed}: incremental WCSS {ours:.1} vs best batch {best:.1}");
    }
}
