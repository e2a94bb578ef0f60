//! `customer_segments` and `segment_profiles`: features per linked, consenting customer over the
//! trailing window, and k-means segments computed inside the dataflow.
//!
//! Reference: `tests/it/segments_reference.rs` (a plain batch function written apart from this
//! code, sharing none of it: SQL cannot say k-means). Features are maintained per customer from purchases of days the as-of day has
//! reached (a purchase counts from the next day on, so it is held back until then). The k-means
//! step, [`segment`], takes every customer's raw features at once (the standardization and the
//! initial centroids depend on all of them) and yields each customer's segment and the profiles;
//! it runs again whenever any features change: once a day, when the as-of day moves, and when
//! late events, links or erasures change a customer. A run is milliseconds of plain loops;
//! maintaining Lloyd's rounds as dataflow instead cost far more, since each rescale moved every
//! point anyway. All arithmetic is integer, so the segments do not depend on the order of arrival
//! or the number of workers.

use differential_dataflow::{ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::utc_day;
use tillflow_schemas::views::{
    CustomerFeatures, CustomerSegment, Features, Purchase, SegmentProfile, customer_as_of, segment,
};
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::records::{CatalogCost, LinkRec, SaleLineRec, TransactionRec};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    AsOf(Day),
    Purchase(Purchase),
    /// Net spend of one day in one department.
    Spend(Day, Id, i64),
}

/// What the k-means step yields: each customer's segment, and each segment's profile.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Segmented {
    Customer(Id, u8),
    Profile(SegmentProfile),
}

/// Maintains both views from the sales that count, the catalog, loyalty links, erasures and the
/// watermark instant.
pub fn customer_segments<'s>(
    effective: VecCollection<'s, Epoch, TransactionRec>,
    sale_lines: VecCollection<'s, Epoch, SaleLineRec>,
    catalog: VecCollection<'s, Epoch, CatalogCost>,
    links: VecCollection<'s, Epoch, LinkRec>,
    erasures: VecCollection<'s, Epoch, Id>,
    watermark: VecCollection<'s, Epoch, ((), Millis)>,
) -> (VecCollection<'s, Epoch, CustomerSegment>, VecCollection<'s, Epoch, SegmentProfile>) {
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

    let as_of = watermark.map(|((), at)| ((), customer_as_of(at)));
    let bought = effective.flat_map(|t| {
        let purchase = Purchase { day: utc_day(t.ts), business_date: t.business_date, hour: t.hour, net: t.net() };
        t.customer_ref.map(|card| (purchase.day, (card, purchase)))
    });
    let purchases = closed(bought, as_of.clone())
        .map(|(_, (card, purchase))| (card, purchase))
        .join_map(cards.clone(), |_, purchase, customer| (customer.clone(), Part::Purchase(purchase.clone())));

    let departments = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.department))).reduce_named(
        "customer_segments: departments",
        |_sku, records, out| {
            if let Some(((_, _, department), _)) = records.iter().rev().find(|(_, n)| *n > 0) {
                out.push((department.clone(), 1));
            }
        },
    );
    let spent = sale_lines.flat_map(|l| {
        let net = l.qty * l.unit_price.0 - l.discount.0;
        l.customer_ref.map(|card| (utc_day(l.ts), (l.sku, card, net)))
    });
    let spend = closed(spent, as_of.clone())
        .map(|(day, (sku, card, net))| (sku, (card, day, net)))
        .join_map(departments, |_, (card, day, net), department| (card.clone(), (*day, department.clone(), *net)))
        .join_map(cards, |_, (day, department, net), customer| (customer.clone(), *day, department.clone(), *net))
        .explode(|(customer, day, department, net)| (net != 0).then_some(((customer, day, department), net as isize)))
        .count()
        .map(|((customer, day, department), net)| (customer, Part::Spend(day, department, net as i64)));

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

    let segmented = features.clone().map(|(customer, f)| ((), (customer, f.raw()))).reduce_named(
        "customer_segments: k-means",
        |_, all, out| {
            let customers: Vec<(&Id, Features)> =
                all.iter().flat_map(|((id, raw), n)| std::iter::repeat_n((id, *raw), (*n).max(0) as usize)).collect();
            let (segments, profiles) = segment(&customers);
            let assigned = customers.iter().zip(segments).map(|((id, _), s)| Segmented::Customer((*id).clone(), s));
            out.extend(assigned.chain(profiles.into_iter().map(Segmented::Profile)).map(|row| (row, 1)));
        },
    );
    let assigned = segmented.clone().flat_map(|((), s)| match s {
        Segmented::Customer(customer, segment) => Some((customer, segment)),
        Segmented::Profile(_) => None,
    });
    let segments = features.join_map(assigned, |_, features, segment| CustomerSegment {
        features: features.clone(),
        segment_id: *segment,
    });
    let profiles = segmented.flat_map(|((), s)| match s {
        Segmented::Profile(profile) => Some(profile),
        Segmented::Customer(..) => None,
    });
    (segments, profiles)
}

/// The records of the days the as-of day has reached. A purchase counts from the day after its
/// own, so holding it back until then spares recomputing its customer's features at every epoch
/// of that day, when they cannot change.
fn closed<'s, D>(
    records: VecCollection<'s, Epoch, (Day, D)>,
    as_of: VecCollection<'s, Epoch, ((), Day)>,
) -> VecCollection<'s, Epoch, (Day, D)>
where
    D: ExchangeData + std::hash::Hash,
{
    let days = records
        .clone()
        .map(|(day, _)| ((), day))
        .distinct()
        .join_map(as_of, |(), day, as_of| (*day, *day <= *as_of))
        .filter(|(_, closed)| *closed)
        .map(|(day, _)| (day, ()));
    records.join_map(days, |day, record, ()| (*day, record.clone()))
}
