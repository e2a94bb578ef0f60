//! `customer_segments` and `segment_profiles`: features per linked, consenting customer over the
//! trailing window, and k-means segments computed inside the dataflow.
//!
//! Reference: `tests/it/segments_reference.rs` (a plain batch function written apart from this
//! code, sharing none of it: SQL cannot say k-means). Features are sums and maxima, so they are
//! kept per loyalty card ([`CardFigures`], from the card's purchases, keyed as they arrive) and
//! combined per customer over the cards linked to them: no purchase is arranged twice. A purchase
//! counts from the day after its own, so a purchase of today changes no figure (its card's reduce
//! runs, and yields what it yielded before). The k-means step,
//! [`segment`], takes every customer's raw features at once (the standardization and the initial
//! centroids depend on all of them) and yields each customer's segment and the profiles; it runs
//! again whenever any features change: once a day, when the as-of day moves, and when late
//! events, links or erasures change a customer. A run is milliseconds of plain loops;
//! maintaining Lloyd's rounds as dataflow instead cost far more, since each rescale moved every
//! point anyway. All arithmetic is integer, so the segments do not depend on the order of arrival
//! or the number of workers.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::{utc_day, weekday};
use tillflow_schemas::views::{CustomerFeatures, CustomerSegment, Daypart, Features, SegmentProfile};
use tillflow_schemas::{Cents, Day, Epoch, Id, Key, Millis};

use crate::records::{CatalogCost, LinkRec, SaleRec, greatest};

mod kmeans;

pub use kmeans::{KMEANS_ROUNDS, SEGMENTS, segment};

/// Purchases count towards frequency, monetary, mix and daypart over this many days, ending on
/// the as-of day.
pub const CUSTOMER_WINDOW_DAYS: Day = 90;

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

/// The as-of day of the customer views: the day before the UTC day of the watermark.
pub fn customer_as_of(watermark: Millis) -> Day {
    utc_day(watermark) - 1
}

/// The part of the day of a local hour: before 12, before 17, or later.
fn daypart(hour: u8) -> Daypart {
    match hour {
        0..12 => Daypart::Morning,
        12..17 => Daypart::Afternoon,
        _ => Daypart::Evening,
    }
}

fn in_window(day: Day, as_of: Day) -> bool {
    day > as_of - CUSTOMER_WINDOW_DAYS && day <= as_of
}

/// Saturday or Sunday.
fn is_weekend(day: Day) -> bool {
    weekday(day) >= 5
}

/// What one card's purchases add to its customer's features over the window ending on
/// `as_of`: every figure a sum or a maximum, so a customer's several cards combine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CardFigures {
    as_of: Day,
    /// The day of the last purchase on or before `as_of`.
    last: Day,
    frequency: i64,
    monetary: i64,
    weekend: i64,
    /// Purchases in the window by daypart.
    dayparts: [i64; 3],
    /// Net spend in the window by department, by name, without zeros.
    departments: Vec<(Id, i64)>,
}

/// One card's figures from its purchases and department spend (UTC day, department, net);
/// `None` before its first purchase up to `as_of`.
pub fn card_figures(as_of: Day, purchases: &[&Purchase], spend: &[(Day, &Id, i64)]) -> Option<CardFigures> {
    let last = purchases.iter().map(|p| p.day).filter(|day| *day <= as_of).max()?;
    let recent: Vec<&&Purchase> = purchases.iter().filter(|p| in_window(p.day, as_of)).collect();
    let mut dayparts = [0i64; 3];
    for p in &recent {
        dayparts[daypart(p.hour) as usize] += 1;
    }
    let mut departments: Vec<(Id, i64)> = Vec::new();
    for (_, department, net) in spend.iter().filter(|(day, _, _)| in_window(*day, as_of)) {
        add_to(&mut departments, **department, *net);
    }
    departments.retain(|(_, net)| *net != 0);
    departments.sort_by_key(|(name, net)| (name.as_str(), *net));
    Some(CardFigures {
        as_of,
        last,
        frequency: recent.len() as i64,
        monetary: recent.iter().map(|p| p.net.0).sum(),
        weekend: recent.iter().filter(|p| is_weekend(p.business_date)).count() as i64,
        dayparts,
        departments,
    })
}

fn add_to(departments: &mut Vec<(Id, i64)>, department: Id, net: i64) {
    match departments.iter_mut().find(|(d, _)| *d == department) {
        Some((_, total)) => *total += net,
        None => departments.push((department, net)),
    }
}

/// A customer's features from the figures of each of their cards.
pub fn features_of(customer_id: Id, cards: &[&CardFigures]) -> Option<CustomerFeatures> {
    let as_of = cards.iter().map(|c| c.as_of).max()?;
    let last = cards.iter().map(|c| c.last).max()?;
    let mut dayparts = [0i64; 3];
    let mut departments: Vec<(Id, i64)> = Vec::new();
    for card in cards {
        for (i, n) in card.dayparts.iter().enumerate() {
            dayparts[i] += n;
        }
        for (department, net) in &card.departments {
            add_to(&mut departments, *department, *net);
        }
    }
    // The most frequent daypart, the earliest among equals.
    let best = (0..3).rev().max_by_key(|i| dayparts[*i]).unwrap_or(0);
    departments.retain(|(_, net)| *net != 0);
    departments.sort_by_key(|(name, net)| (name.as_str(), *net));
    Some(CustomerFeatures {
        customer_id,
        as_of,
        recency_days: (as_of - last).max(0) as i64,
        frequency: cards.iter().map(|c| c.frequency).sum(),
        monetary: Cents(cards.iter().map(|c| c.monetary).sum()),
        weekend_purchases: cards.iter().map(|c| c.weekend).sum(),
        daypart: [Daypart::Morning, Daypart::Afternoon, Daypart::Evening][best],
        departments,
    })
}

/// The raw features k-means standardizes, in the order of `views::FEATURES`.
pub fn raw(features: &CustomerFeatures) -> Features {
    [
        features.recency_days,
        features.frequency,
        features.monetary.0,
        features.avg_basket().map_or(0, |c| c.0),
        features.weekend_permille(),
    ]
}

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
    effective: VecCollection<'s, Epoch, SaleRec>,
    catalog: VecCollection<'s, Epoch, CatalogCost>,
    links: VecCollection<'s, Epoch, LinkRec>,
    erasures: VecCollection<'s, Epoch, Id>,
    watermark: VecCollection<'s, Epoch, ((), Millis)>,
) -> (VecCollection<'s, Epoch, CustomerSegment>, VecCollection<'s, Epoch, SegmentProfile>) {
    let cards = links
        .map(|l| (l.card, (l.ts, l.event_id, l.consent, l.customer_id)))
        .reduce_named("customer_segments: links", |_card, links, out| {
            let latest = greatest(links, |(ts, event_id, consent, customer)| {
                (*ts, event_id.clone(), *consent, customer.as_str())
            });
            if let Some((_, _, true, customer)) = latest {
                out.push((*customer, 1));
            }
        })
        .map(|(card, customer)| (customer, card))
        .antijoin(erasures.distinct_total())
        .map(|(customer, card)| (card, customer))
        .arrange_by_key_named("customer_segments: customer by card");

    // Each card's figures, from its purchases and department spend and the as-of day.
    let with_card = effective.filter(|s| s.card.is_some());
    let purchases = with_card.clone().map(|s| {
        let purchase = Purchase { day: utc_day(s.ts), business_date: s.business_date, hour: s.hour, net: s.net() };
        (s.card.unwrap_or_default(), Part::Purchase(purchase))
    });
    let departments = catalog.map(|c| (c.sku, (c.ts, c.event_id, c.department))).reduce_named(
        "customer_segments: departments",
        |_sku, records, out| {
            if let Some((_, _, department)) =
                greatest(records, |(ts, id, department)| (*ts, id.clone(), department.as_str()))
            {
                out.push((*department, 1));
            }
        },
    );
    let spend = with_card
        .flat_map(|s| {
            let (card, day) = (s.card.unwrap_or_default(), utc_day(s.ts));
            s.lines.into_iter().map(move |l| ((l.sku, (card, day)), l.net()))
        })
        .explode(|(key, net)| Some((key, net as isize)))
        .join_map(departments, |_, (card, day), department| (*card, *day, *department))
        .count_total()
        .flat_map(|((card, day, department), net)| {
            (net != 0).then_some((card, Part::Spend(day, department, net as i64)))
        });
    let as_of = watermark.map(|((), at)| ((), customer_as_of(at)));
    let cards_as_of = purchases
        .clone()
        .map(|(card, _)| ((), card))
        .distinct_total()
        .join_map(as_of, |_, card, day| (*card, Part::AsOf(*day)));
    let card_figures = purchases.concat(spend).concat(cards_as_of).reduce_named(
        "customer_segments: card figures",
        |_card: &Key, parts, out| {
            let (mut as_of, mut bought, mut spend) = (None, Vec::new(), Vec::new());
            for (part, n) in parts {
                match part {
                    Part::AsOf(day) => as_of = Some(*day),
                    Part::Purchase(p) => bought.extend(std::iter::repeat_n(p, (*n).max(0) as usize)),
                    Part::Spend(day, department, net) => spend.push((*day, department, *net)),
                }
            }
            if let Some(figures) = as_of.and_then(|day| card_figures(day, &bought, &spend)) {
                out.push((figures, 1));
            }
        },
    );

    // Each customer's features, from the figures of the cards linked to them.
    let features = card_figures
        .arrange_by_key_named("customer_segments: figures by card")
        .join_core(cards, |_, figures, customer| Some((*customer, figures.clone())))
        .reduce_named("customer_segments: features", |customer: &Id, cards, out| {
            let cards: Vec<&CardFigures> =
                cards.iter().flat_map(|(card, n)| std::iter::repeat_n(*card, (*n).max(0) as usize)).collect();
            if let Some(features) = features_of(*customer, &cards) {
                out.push((features, 1));
            }
        });

    let segmented = features.clone().map(|(customer, f)| ((), (customer, raw(&f)))).reduce_named(
        "customer_segments: k-means",
        |_, all, out| {
            let customers: Vec<(&Id, Features)> =
                all.iter().flat_map(|((id, raw), n)| std::iter::repeat_n((id, *raw), (*n).max(0) as usize)).collect();
            let (segments, profiles) = segment(&customers);
            let assigned = customers.iter().zip(segments).map(|((id, _), s)| Segmented::Customer(**id, s));
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

/// Beside the views, their reference test: the batch function of
/// `tillflow_testkit::segments_reference` (its own features, standardization and k-means) at
/// every epoch of random streams fed through admission, on 1 and 2 workers.
#[cfg(test)]
mod reference {
    #[test]
    fn customer_segments_equal_their_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("customer_segments");
    }

    #[test]
    fn segment_profiles_equal_their_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("segment_profiles");
    }
}
