//! The oracle of `customer_segments` and `segment_profiles`: both views computed from the
//! accepted events in one plain batch pass, for the tests to hold the dataflow against.
//!
//! It shares no code with the view. The features, their standardization, the two k-means starts,
//! the Lloyd rounds, the choice between the starts and the profiles are all written out below from
//! docs/views.md and the behaviour of `schemas/src/views/customer_segments.rs`; nothing of
//! `tillflow_schemas::views` is called, only its row types are filled in (field by field). From
//! tillflow it uses the event types alone; local days and hours come from chrono directly. A bug
//! in the view's shared definition (`CustomerFeatures::compute`, `Scale`, `initial_centroids`,
//! `segment`, `customer_as_of`) therefore shows up as a difference instead of passing both sides.
//!
//! Numbers: features are integers (cents, counts, thousandths). Standardized values and centroids
//! are whole numbers of thousandths of a standard deviation held in `f64` (exact for whole numbers
//! below 2^53, as are their sums and squared distances here), and every rounding the definition
//! prescribes is written out where it happens. The mean and standard deviation, the bisection's
//! principal axis and its projections are the floating point formulas of the definition, in the
//! same order of operations, so they round the same way.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use tillflow_schemas::views::{CustomerFeatures, CustomerSegment, Daypart, SegmentProfile};
use tillflow_schemas::{Cents, Event, Id, VoidScope};

/// k: the number of segments.
const SEGMENTS: usize = 4;
/// Lloyd rounds after each start.
const ROUNDS: usize = 16;
/// Frequency, monetary, mix and daypart count the purchases of this many UTC days ending on the
/// as-of day.
const WINDOW_DAYS: i32 = 90;
/// The watermark trails the chain's clock (see [`chain_clock`]) by this much (one hour).
const LATENESS_MS: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;
/// Standardized values count in thousandths of a standard deviation.
const PER_SD: f64 = 1000.0;
/// Initial centroids are rounded to a tenth of a standard deviation ...
const START_GRID: f64 = PER_SD / 10.0;
/// ... and Lloyd's centroids to a hundredth.
const CENTROID_GRID: f64 = PER_SD / 100.0;
/// Power iterations for a cluster's first principal component.
const POWER_ROUNDS: usize = 50;

/// The five clustered features, in this order: recency_days, frequency, monetary (cents),
/// avg_basket (cents), weekend share (thousandths).
type Raw = [i64; 5];
/// A standardized feature vector (or a centroid): whole thousandths of a standard deviation.
type Point = [f64; 5];

/// The version order of reference records and links: the greatest wins.
type StoreVersion<'a> = (Option<i64>, Option<&'a str>, &'a str, &'static str);
type ProductVersion<'a> = (Option<i64>, Option<&'a str>, &'a str);
type LinkVersion<'a> = (i64, &'a str, bool, &'a str);

/// One sale of a customer.
struct Purchase {
    /// UTC day: what the window and recency count in.
    utc_day: i32,
    /// Saturday or Sunday in the store's time zone.
    weekend: bool,
    /// 0 morning (before 12:00), 1 afternoon (before 17:00), 2 evening, store-local.
    daypart: usize,
    /// Σ qty × unit_price − discount over the sale's lines, in cents.
    net: i64,
}

/// Everything a customer bought.
#[derive(Default)]
struct History<'a> {
    purchases: Vec<Purchase>,
    /// (UTC day, department, line net) of every sale line whose SKU has a product record.
    lines: Vec<(i32, &'a str, i64)>,
}

/// Both views over `events` (in any order): one row per linked, consenting, not erased customer
/// with a purchase on or before the as-of day, in customer_id order, and one profile per segment
/// with members, in segment_id order.
pub fn customer_segments(events: &[&Event]) -> (Vec<CustomerSegment>, Vec<SegmentProfile>) {
    // Reference records, links, erasures and post-voids.
    // Identifiers as text: ties between versions are broken by text, as docs/views.md says.
    let mut zones: BTreeMap<&str, (StoreVersion, Tz)> = BTreeMap::new();
    let mut departments: BTreeMap<&str, ProductVersion> = BTreeMap::new();
    let mut links: BTreeMap<&str, LinkVersion> = BTreeMap::new();
    let mut erased: BTreeSet<&str> = BTreeSet::new();
    let mut post_voided: BTreeSet<(&str, &str)> = BTreeSet::new();
    for event in events {
        match event {
            Event::Store(s) => {
                let version = (s.ts, s.event_id.as_deref(), s.district.as_str(), s.timezone.name());
                if zones.get(s.store_id.as_str()).is_none_or(|(current, _)| *current < version) {
                    zones.insert(s.store_id.as_str(), (version, s.timezone));
                }
            }
            Event::Product(p) => {
                let version = (p.ts, p.event_id.as_deref(), p.department.as_str());
                if departments.get(p.sku.as_str()).is_none_or(|current| *current < version) {
                    departments.insert(p.sku.as_str(), version);
                }
            }
            Event::LoyaltyLink(l) => {
                let version = (l.ts, l.event_id.as_str(), l.consent, l.customer_id.as_str());
                if links.get(l.customer_ref.as_str()).is_none_or(|current| *current < version) {
                    links.insert(l.customer_ref.as_str(), version);
                }
            }
            Event::Erasure(e) => {
                erased.insert(e.customer_id.as_str());
            }
            Event::Void(v) if v.scope == VoidScope::Post => {
                post_voided.insert((v.store_id.as_str(), v.transaction_id.as_str()));
            }
            _ => {}
        }
    }
    let Some(clock) = chain_clock(events) else { return (Vec::new(), Vec::new()) };
    let watermark = clock - LATENESS_MS;
    // The last whole UTC day before the watermark's.
    let as_of = utc_day(watermark) - 1;
    let window = (as_of - WINDOW_DAYS + 1)..=as_of;

    // Every sale that counts, under the customer its card is currently linked to.
    let mut customers: BTreeMap<&str, History> = BTreeMap::new();
    for event in events {
        let Event::Sale(sale) = event else { continue };
        let Some(card) = &sale.customer_ref else { continue };
        let Some((_, _, consent, customer)) = links.get(card.as_str()) else { continue };
        if !*consent || erased.contains(customer) {
            continue;
        }
        let Some((_, tz)) = zones.get(sale.store_id.as_str()) else { continue };
        if post_voided.contains(&(sale.store_id.as_str(), sale.transaction_id.as_str())) {
            continue;
        }
        let day = utc_day(sale.ts);
        let (weekend, hour) = local_weekend_and_hour(sale.ts, *tz);
        let history = customers.entry(*customer).or_default();
        let mut net = 0;
        for line in &sale.lines {
            let line_net = line.qty * line.unit_price.0 - line.discount.0;
            net += line_net;
            if let Some((_, _, department)) = departments.get(line.sku.as_str()) {
                history.lines.push((day, *department, line_net));
            }
        }
        let daypart = if hour < 12 {
            0
        } else if hour < 17 {
            1
        } else {
            2
        };
        history.purchases.push(Purchase { utc_day: day, weekend, daypart, net });
    }

    // Features.
    let mut rows: Vec<CustomerFeatures> = Vec::new();
    let mut raws: Vec<Raw> = Vec::new();
    for (customer, history) in &customers {
        // Recency counts from the last purchase on or before the as-of day; a customer with none
        // does not appear yet.
        let Some(last) = history.purchases.iter().map(|p| p.utc_day).filter(|day| *day <= as_of).max() else {
            continue;
        };
        let (mut frequency, mut monetary, mut weekend) = (0i64, 0i64, 0i64);
        let mut dayparts = [(Daypart::Morning, 0i64), (Daypart::Afternoon, 0), (Daypart::Evening, 0)];
        for p in history.purchases.iter().filter(|p| window.contains(&p.utc_day)) {
            frequency += 1;
            monetary += p.net;
            if p.weekend {
                weekend += 1;
            }
            dayparts[p.daypart].1 += 1;
        }
        // The most frequent daypart, the earliest among equals.
        let mut preferred = dayparts[0];
        for part in &dayparts[1..] {
            if part.1 > preferred.1 {
                preferred = *part;
            }
        }
        let mut spend: BTreeMap<&str, i64> = BTreeMap::new();
        for (day, department, net) in &history.lines {
            if window.contains(day) {
                *spend.entry(*department).or_default() += net;
            }
        }
        let by_department: Vec<(Id, i64)> =
            spend.into_iter().filter(|(_, net)| *net != 0).map(|(d, net)| (Id::from(d), net)).collect();

        let recency = i64::from(as_of - last);
        let avg_basket = if frequency > 0 { monetary.div_euclid(frequency) } else { 0 };
        let weekend_permille = if frequency > 0 { 1000 * weekend / frequency } else { 0 };
        raws.push([recency, frequency, monetary, avg_basket, weekend_permille]);
        rows.push(CustomerFeatures {
            customer_id: Id::from(*customer),
            as_of,
            recency_days: recency,
            frequency,
            monetary: Cents(monetary),
            weekend_purchases: weekend,
            daypart: preferred.0,
            departments: by_department,
        });
    }
    if rows.is_empty() {
        return (Vec::new(), Vec::new());
    }

    // Standardized features, then k-means from both starts.
    let points = standardize(&raws);
    let from_ranks = lloyd(&points, ranked_start(&points));
    let from_bisection = lloyd(&points, bisection_start(&points));
    // The smaller within-cluster sum of squares wins, the first start among equals.
    let centroids =
        if objective(&points, &from_bisection) < objective(&points, &from_ranks) { from_bisection } else { from_ranks };

    let assigned: Vec<usize> = points.iter().map(|p| nearest(p, &centroids).0).collect();
    let mut profiles = Vec::new();
    for (segment, centroid) in centroids.iter().enumerate() {
        let members: Vec<&Raw> = raws.iter().zip(&assigned).filter(|(_, s)| **s == segment).map(|(r, _)| r).collect();
        if members.is_empty() {
            continue;
        }
        let mut raw_sums = [0i64; 5];
        for member in &members {
            for (sum, value) in raw_sums.iter_mut().zip(member.iter()) {
                *sum += value;
            }
        }
        profiles.push(SegmentProfile {
            segment_id: segment as u8,
            size: members.len() as i64,
            raw_sums,
            centroid: centroid.map(|v| v as i64),
            label: label_of(centroid),
        });
    }
    let segments: Vec<CustomerSegment> = rows
        .into_iter()
        .zip(assigned)
        .map(|(features, segment)| CustomerSegment { features, segment_id: segment as u8 })
        .collect();
    (segments, profiles)
}

/// The view's rows' features standardized by this reference (in standard deviations), for the
/// k-means objective test: the scaling is the reference's, not the view's.
pub fn standardized(segments: &[CustomerSegment]) -> Vec<[f64; 5]> {
    let raws: Vec<Raw> = segments
        .iter()
        .map(|s| {
            let f = &s.features;
            let avg_basket = if f.frequency > 0 { f.monetary.0.div_euclid(f.frequency) } else { 0 };
            let weekend_permille = if f.frequency > 0 { 1000 * f.weekend_purchases / f.frequency } else { 0 };
            [f.recency_days, f.frequency, f.monetary.0, avg_basket, weekend_permille]
        })
        .collect();
    standardize(&raws).into_iter().map(|p| p.map(|v| v / PER_SD)).collect()
}

/// The chain's clock: the second latest of the stores' latest event times (the latest while only
/// one store has any), over the events a store dates (sales, refunds, voids, inventory, shifts);
/// none without such events.
fn chain_clock(events: &[&Event]) -> Option<i64> {
    let mut latest_of_store: BTreeMap<&Id, i64> = BTreeMap::new();
    for event in events {
        let (store, ts) = match event {
            Event::Sale(e) => (&e.store_id, e.ts),
            Event::Refund(e) => (&e.store_id, e.ts),
            Event::Void(e) => (&e.store_id, e.ts),
            Event::Inventory(e) => (&e.store_id, e.ts),
            Event::Shift(e) => (&e.store_id, e.ts),
            Event::LoyaltyLink(_)
            | Event::Erasure(_)
            | Event::Product(_)
            | Event::Store(_)
            | Event::Promotion(_)
            | Event::ExceptionAction(_) => {
                continue;
            }
        };
        let latest = latest_of_store.entry(store).or_insert(ts);
        *latest = (*latest).max(ts);
    }
    let mut times: Vec<i64> = latest_of_store.into_values().collect();
    times.sort();
    times.iter().rev().nth(1).or(times.last()).copied()
}

fn utc_day(ts: i64) -> i32 {
    ts.div_euclid(MS_PER_DAY) as i32
}

/// Whether the store-local date of `ts` is a Saturday or Sunday, and the store-local hour.
fn local_weekend_and_hour(ts: i64, tz: Tz) -> (bool, u32) {
    match DateTime::from_timestamp_millis(ts) {
        Some(utc) => {
            let local = utc.with_timezone(&tz);
            (matches!(local.weekday(), Weekday::Sat | Weekday::Sun), local.hour())
        }
        // Beyond chrono's range (hundreds of millennia away): UTC, day 0 being a Thursday.
        None => {
            let weekday_from_monday = (i64::from(utc_day(ts)) + 3).rem_euclid(7);
            (weekday_from_monday >= 5, (ts.rem_euclid(MS_PER_DAY) / 3_600_000) as u32)
        }
    }
}

/// Each feature less its mean, over its standard deviation (population: divided by n), in whole
/// thousandths; a feature with no spread stands at 0 for everyone. Mean and standard deviation
/// come from the exact integer sums n, Σx, Σx² and are rounded to 3 significant digits.
fn standardize(raws: &[Raw]) -> Vec<Point> {
    let n = raws.len() as i128;
    let scale: [(f64, f64); 5] = std::array::from_fn(|k| {
        let sum: i128 = raws.iter().map(|r| i128::from(r[k])).sum();
        let sum_of_squares: i128 = raws.iter().map(|r| i128::from(r[k]) * i128::from(r[k])).sum();
        let mean = sum as f64 / n as f64;
        let variance = (n * sum_of_squares - sum * sum) as f64 / (n * n) as f64;
        (three_significant_digits(mean), three_significant_digits(variance.sqrt()))
    });
    raws.iter()
        .map(|raw| -> Point {
            std::array::from_fn(|k| {
                let (mean, sd) = scale[k];
                if sd > 0.0 { whole((raw[k] as f64 - mean) / sd * PER_SD) } else { 0.0 }
            })
        })
        .collect()
}

/// `x` to 3 significant digits: divided by the power of ten two below its leading digit's,
/// rounded (halves away from zero), multiplied back. 0 (and anything not finite) gives 0.
fn three_significant_digits(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let leading = x.abs().log10().floor() as i32;
    let unit = 10f64.powi(leading - 2);
    (x / unit).round() * unit
}

/// The nearest whole number (halves away from zero).
fn whole(x: f64) -> f64 {
    without_negative_zero(x.round())
}

/// −0 as 0, so that every zero compares, sorts and prints as the integer 0 does.
fn without_negative_zero(x: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x }
}

/// ⌊a / b⌋ for whole numbers a and b > 0 held in f64.
fn floor_div(a: f64, b: f64) -> f64 {
    let q = (a / b).floor();
    // The division rounds before the floor: step back onto the exact quotient if it crossed.
    let q = if q * b > a {
        q - 1.0
    } else if (q + 1.0) * b <= a {
        q + 1.0
    } else {
        q
    };
    without_negative_zero(q)
}

/// The mean of some points, each coordinate rounded down to a whole number.
fn floor_mean(points: &[Point], members: &[usize]) -> Point {
    let n = members.len() as f64;
    std::array::from_fn(|k| floor_div(members.iter().map(|i| points[*i][k]).sum(), n))
}

/// Rounded to the nearest tenth of a standard deviation, halves away from zero.
fn on_start_grid(point: Point) -> Point {
    point.map(|v| whole(v / START_GRID) * START_GRID)
}

/// Rounded to the nearest hundredth of a standard deviation, halves up (towards +∞).
fn on_centroid_grid(point: Point) -> Point {
    point.map(|v| floor_div(v + CENTROID_GRID / 2.0, CENTROID_GRID) * CENTROID_GRID)
}

/// First start: customers ranked by monetary + frequency − recency (standardized), then by
/// customer_id (`points` are in customer_id order), cut into 4 runs of ⌊n·j/4⌋..⌊n·(j+1)/4⌋; each
/// non-empty run's mean, on the start grid. Centroid i is segment i.
fn ranked_start(points: &[Point]) -> Vec<Point> {
    // A whole number: compared as one.
    let value = |p: &Point| (p[2] + p[1] - p[0]) as i64;
    let mut ranked: Vec<usize> = (0..points.len()).collect();
    ranked.sort_by_key(|i| (value(&points[*i]), *i));
    let n = ranked.len();
    (0..SEGMENTS)
        .map(|j| &ranked[j * n / SEGMENTS..(j + 1) * n / SEGMENTS])
        .filter(|run| !run.is_empty())
        .map(|run| on_start_grid(floor_mean(points, run)))
        .collect()
}

/// Second start, bisection: from one cluster of everyone (in customer_id order), split the
/// widest cluster (the greatest sum of squared deviations from its mean; the last one among
/// equals) by the side of its mean its points lie on along its first principal component, the
/// lower side first, the two halves going to the end of the list, until there are 4 clusters.
/// It stops early when the widest cluster has one point, or all its points fall on one side
/// (that cluster then moves to the end of the list). Each cluster's mean, on the start grid, in
/// list order; centroid i is segment i.
fn bisection_start(points: &[Point]) -> Vec<Point> {
    let mut clusters: Vec<Vec<usize>> = vec![(0..points.len()).collect()];
    while clusters.len() < SEGMENTS {
        let mut widest = 0;
        let mut widest_spread = f64::NEG_INFINITY;
        for (i, cluster) in clusters.iter().enumerate() {
            let (spread, _, _) = principal_component(points, cluster);
            if spread >= widest_spread {
                widest = i;
                widest_spread = spread;
            }
        }
        if clusters[widest].len() <= 1 {
            break;
        }
        let cluster = clusters.remove(widest);
        let (_, centre, axis) = principal_component(points, &cluster);
        let (low, high): (Vec<usize>, Vec<usize>) = cluster.iter().copied().partition(|i| {
            let along: f64 = points[*i].iter().zip(&centre).zip(&axis).map(|((x, c), a)| (x - c) * a).sum();
            along < 0.0
        });
        if low.is_empty() || high.is_empty() {
            clusters.push(cluster);
            break;
        }
        clusters.push(low);
        clusters.push(high);
    }
    clusters.iter().filter(|c| !c.is_empty()).map(|c| on_start_grid(floor_mean(points, c))).collect()
}

/// Of the points `members`: the sum of squared deviations from their mean (the trace of the
/// scatter matrix), the mean, and the first principal component, by power iteration on the
/// scatter matrix: 50 rounds from (1, 1, 1, 1, 1), normalized each round, stopping if it vanishes.
fn principal_component(points: &[Point], members: &[usize]) -> (f64, [f64; 5], [f64; 5]) {
    let n = members.len().max(1) as f64;
    let centre: [f64; 5] = std::array::from_fn(|k| members.iter().map(|i| points[*i][k]).sum::<f64>() / n);
    let mut scatter = [[0.0f64; 5]; 5];
    for i in members {
        let deviation: [f64; 5] = std::array::from_fn(|k| points[*i][k] - centre[k]);
        for (row, a) in scatter.iter_mut().zip(&deviation) {
            for (cell, b) in row.iter_mut().zip(&deviation) {
                *cell += a * b;
            }
        }
    }
    let trace: f64 = scatter.iter().enumerate().map(|(k, row)| row[k]).sum();
    let mut axis = [1.0f64; 5];
    for _ in 0..POWER_ROUNDS {
        let next: [f64; 5] = std::array::from_fn(|a| scatter[a].iter().zip(&axis).map(|(s, x)| s * x).sum());
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        axis = next.map(|x| x / norm);
    }
    (trace, centre, axis)
}

fn squared_distance(a: &Point, b: &Point) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid (the lowest index among equals) and the squared distance to it.
fn nearest(point: &Point, centroids: &[Point]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, centroid) in centroids.iter().enumerate() {
        let d = squared_distance(point, centroid);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// 16 Lloyd rounds: every point to its nearest centroid, then every centroid with members to
/// their floor mean on the centroid grid (one without members stays where it is).
fn lloyd(points: &[Point], mut centroids: Vec<Point>) -> Vec<Point> {
    for _ in 0..ROUNDS {
        let assigned: Vec<usize> = points.iter().map(|p| nearest(p, &centroids).0).collect();
        for (j, centroid) in centroids.iter_mut().enumerate() {
            let members: Vec<usize> = (0..points.len()).filter(|i| assigned[*i] == j).collect();
            if !members.is_empty() {
                *centroid = on_centroid_grid(floor_mean(points, &members));
            }
        }
    }
    centroids
}

/// The within-cluster sum of squares: every point at its nearest centroid.
fn objective(points: &[Point], centroids: &[Point]) -> f64 {
    points.iter().map(|p| nearest(p, centroids).1).sum()
}

/// The label docs/views.md gives a standardized centroid (1000 units = one standard deviation):
/// value from monetary (±0.5), then lapsing (recency > 0.75) or else frequent (frequency > 0.75),
/// then weekend or weekday (weekend share ±0.5).
fn label_of(centroid: &[f64; 5]) -> String {
    let sd = |i: usize| centroid[i] / 1000.0;
    let mut words = Vec::new();
    words.push(match sd(2) {
        m if m > 0.5 => "high-value",
        m if m < -0.5 => "low-value",
        _ => "mid-value",
    });
    if sd(0) > 0.75 {
        words.push("lapsing");
    } else if sd(1) > 0.75 {
        words.push("frequent");
    }
    if sd(4) > 0.5 {
        words.push("weekend");
    } else if sd(4) < -0.5 {
        words.push("weekday");
    }
    words.push("shoppers");
    words.join(" ")
}
