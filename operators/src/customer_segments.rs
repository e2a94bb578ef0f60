//! `customer_segments` and `segment_profiles`: features per linked, consenting customer over the
//! trailing window, and k-means segments computed inside the dataflow.
//!
//! Reference: `tillflow_queries::customer_segments` (a plain batch function: SQL cannot say
//! k-means). The k-means is Lloyd's algorithm unrolled into [`KMEANS_ROUNDS`] rounds of dataflow,
//! each an assignment (each point to its nearest centroid) and an update (each segment's centroid
//! becomes the mean of its points). All arithmetic is integer, so the result does not depend on
//! the order of arrival or the number of workers. Differential maintains every round: a changed
//! customer is re-assigned alone; a centroid that moves re-assigns the points it wins or loses.

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::utc_day;
use tillflow_schemas::views::{
    CustomerFeatures, CustomerSegment, Features, KMEANS_ROUNDS, Purchase, STARTS, Scale, SegmentProfile, centroid_of,
    customer_as_of, initial_centroids, nearest,
};
use tillflow_schemas::{Day, Id, Millis};
use timely::progress::Timestamp;

use crate::records::{CatalogCost, LinkRec, SaleLineRec, TransactionRec};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    AsOf(Day),
    Purchase(Purchase),
    /// Net spend of one day in one department.
    Spend(Day, Id, i64),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Update {
    /// The segment's centroid (in a round: the one the round starts from).
    Centroid(Features),
    Member(Features),
}

/// Per start, its centroids, (segment, centroid) in segment order, as one record.
type Centroids<'s, T> = VecCollection<'s, T, (u8, Vec<(u8, Features)>)>;
type Points<'s, T> = VecCollection<'s, T, (Id, Features)>;
/// `((start, customer, point), (segment, squared distance))`.
type Assignments<'s, T> = VecCollection<'s, T, ((u8, Id, Features), (u8, i64))>;

/// Maintains both views from the sales that count, the catalog, loyalty links, erasures and the
/// watermark instant.
pub fn customer_segments<'s, T>(
    effective: VecCollection<'s, T, TransactionRec>,
    sale_lines: VecCollection<'s, T, SaleLineRec>,
    catalog: VecCollection<'s, T, CatalogCost>,
    links: VecCollection<'s, T, LinkRec>,
    erasures: VecCollection<'s, T, Id>,
    watermark: VecCollection<'s, T, ((), Millis)>,
) -> (VecCollection<'s, T, CustomerSegment>, VecCollection<'s, T, SegmentProfile>)
where
    T: Timestamp + Lattice + Ord,
{
    let cards = links
        .map(|l| (l.customer_ref, (l.ts, l.event_id, l.consent, l.customer_id)))
        .reduce_named("customer_segments: links", |_card, links, out| {
            if let Some(((_, _, true, customer), _)) = links.iter().rev().find(|(_, n)| *n > 0) {
                out.push((customer.clone(), 1));
            }
        })
        .map(|(card, customer)| (customer, card))
        .antijoin(erasures.distinct())
        .map(|(customer, card)| (card, customer));

    let purchases = effective
        .flat_map(|t| {
            let purchase = Purchase { day: utc_day(t.ts), business_date: t.business_date, hour: t.hour, net: t.net() };
            t.customer_ref.map(|card| (card, purchase))
        })
        .join_map(cards.clone(), |_, purchase, customer| (customer.clone(), Part::Purchase(purchase.clone())));

    let departments = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.department))).reduce_named(
        "customer_segments: departments",
        |_sku, records, out| {
            if let Some(((_, _, department), _)) = records.iter().rev().find(|(_, n)| *n > 0) {
                out.push((department.clone(), 1));
            }
        },
    );
    let spend = sale_lines
        .flat_map(|l| {
            let net = l.qty * l.unit_price.0 - l.discount.0;
            l.customer_ref.map(|card| (l.sku, (card, utc_day(l.ts), net)))
        })
        .join_map(departments, |_, (card, day, net), department| (card.clone(), (*day, department.clone(), *net)))
        .join_map(cards, |_, (day, department, net), customer| (customer.clone(), *day, department.clone(), *net))
        .explode(|(customer, day, department, net)| (net != 0).then_some(((customer, day, department), net as isize)))
        .count()
        .map(|((customer, day, department), net)| (customer, Part::Spend(day, department, net as i64)));

    let as_of = watermark.map(|((), at)| ((), customer_as_of(at)));
    let customers_as_of = purchases
        .clone()
        .map(|(customer, _)| ((), customer))
        .distinct()
        .join_map(as_of, |_, customer, day| (customer.clone(), Part::AsOf(*day)));

    let features = purchases.concat(spend).concat(customers_as_of).reduce_named(
        "customer_segments: features",
        |customer: &Id, parts, out| {
            let (mut as_of, mut bought, mut spend) = (None, Vec::new(), Vec::new());
            for (part, n) in parts {
                match part {
                    Part::AsOf(day) => as_of = Some(*day),
                    Part::Purchase(p) => bought.extend(std::iter::repeat_n(p, (*n).max(0) as usize)),
                    Part::Spend(day, department, net) => spend.push((*day, department, *net)),
                }
            }
            if let Some(features) = as_of.and_then(|day| CustomerFeatures::compute(customer, day, &bought, &spend)) {
                out.push((features, 1));
            }
        },
    );

    let scale =
        features.clone().map(|(_, f)| ((), f.raw())).reduce_named("customer_segments: scale", |_, raws, out| {
            let all = raws.iter().flat_map(|(raw, n)| std::iter::repeat_n(*raw, (*n).max(0) as usize));
            out.push((Scale::of(all), 1));
        });
    let points: Points<'s, T> = features
        .clone()
        .map(|(customer, f)| ((), (customer, f.raw())))
        .join_map(scale, |_, (customer, raw), scale| (customer.clone(), scale.standardize(raw)));

    let mut centroids: Centroids<'s, T> = points
        .clone()
        .map(|point| ((), point))
        .reduce_named("customer_segments: initial centroids", |_, points, out| {
            let all: Vec<(&Id, &Features)> = points.iter().map(|((id, p), _)| (id, p)).collect();
            for (start, centroids) in initial_centroids(&all).into_iter().enumerate() {
                out.push(((start as u8, centroids), 1));
            }
        })
        .map(|((), start)| start);
    for _ in 0..KMEANS_ROUNDS {
        let assigned = assign(points.clone(), centroids.clone());
        centroids = assigned
            .map(|((start, _, point), (segment, _))| ((start, segment), Update::Member(point)))
            .concat(centroids.flat_map(|(start, all)| {
                all.into_iter().map(move |(segment, c)| ((start, segment), Update::Centroid(c)))
            }))
            .reduce_named("customer_segments: update", |_segment, updates, out| {
                let members: Vec<&Features> = updates
                    .iter()
                    .filter_map(|(u, n)| match u {
                        Update::Member(p) => Some(std::iter::repeat_n(p, (*n).max(0) as usize)),
                        Update::Centroid(_) => None,
                    })
                    .flatten()
                    .collect();
                let previous = updates.iter().find_map(|(u, _)| match u {
                    Update::Centroid(c) => Some(*c),
                    Update::Member(_) => None,
                });
                if let Some(centroid) = centroid_of(&members).or(previous) {
                    out.push((centroid, 1));
                }
            })
            .map(|((start, segment), centroid)| (start, (segment, centroid)))
            .reduce_named("customer_segments: gather", |_start, all, out| {
                out.push((all.iter().map(|((segment, c), _)| (*segment, *c)).collect(), 1));
            });
    }

    // The start whose final centroids leave the smaller within-cluster sum of squares.
    let assigned = assign(points, centroids.clone());
    let objectives = assigned.clone().explode(|((start, _, _), (_, d))| Some((start, d as isize))).count();
    let best = centroids
        .clone()
        .map(|(start, _)| ((), (start, 0)))
        .concat(objectives.map(|(start, sum)| ((), (start, sum as i64))))
        .reduce_named("customer_segments: best start", |_, sums, out| {
            let mut totals = [0i64; STARTS];
            for ((start, sum), _) in sums {
                totals[*start as usize] += sum;
            }
            let best = (0..STARTS).min_by_key(|s| (totals[*s], *s)).unwrap_or(0);
            out.push((best as u8, 1));
        })
        .map(|((), start)| (start, ()));
    let centroids = centroids.join_map(best.clone(), |_, all, ()| ((), all.clone()));
    let assigned = assigned
        .map(|((start, customer, point), (segment, _))| (start, (customer, point, segment)))
        .join_map(best, |_, (customer, point, segment), ()| ((customer.clone(), *point), *segment));

    let by_customer = assigned.map(|((customer, _), segment)| (customer, segment));
    let segments = features
        .clone()
        .join_map(by_customer.clone(), |_, f, segment| CustomerSegment { features: f.clone(), segment_id: *segment });
    let profiles = features
        .join_map(by_customer, |_, f, segment| (*segment, Update::Member(f.raw())))
        .concat(centroids.flat_map(|((), all)| all.into_iter().map(|(segment, c)| (segment, Update::Centroid(c)))))
        .reduce_named("segment_profiles", |segment: &u8, parts, out| {
            let mut members = Vec::new();
            let mut centroid = None;
            for (part, n) in parts {
                match part {
                    Update::Member(raw) => members.extend(std::iter::repeat_n(raw, (*n).max(0) as usize)),
                    Update::Centroid(c) => centroid = Some(*c),
                }
            }
            if let (Some(centroid), false) = (centroid, members.is_empty()) {
                out.push((SegmentProfile::from_members(*segment, centroid, &members), 1));
            }
        })
        .map(|(_, profile)| profile);
    (segments, profiles)
}

/// Each point, for each start, with its nearest centroid's segment (the lowest among equals) and
/// squared distance. A start's centroids travel as one record, so a point is matched once per
/// start, not once per centroid.
fn assign<'s, T>(points: Points<'s, T>, centroids: Centroids<'s, T>) -> Assignments<'s, T>
where
    T: Timestamp + Lattice + Ord,
{
    points.map(|point| ((), point)).join_map(
        centroids.map(|start| ((), start)),
        |_, (customer, point), (start, all)| {
            ((*start, customer.clone(), *point), nearest(point, all).unwrap_or((0, 0)))
        },
    )
}
