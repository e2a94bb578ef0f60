//! The reference definition of `customer_segments` and `segment_profiles`: a plain batch function
//! over the accepted events (SQL cannot say k-means). Loops over everything, from scratch; the
//! k-means itself is the view's definition, [`segment`], shared with the dataflow.

use std::collections::{BTreeMap, BTreeSet};

use tillflow_schemas::time::{ALLOWED_LATENESS_MS, local_day, local_hour, utc_day};
use tillflow_schemas::views::{
    CustomerFeatures, CustomerSegment, Features, Purchase, SegmentProfile, customer_as_of, segment,
};
use tillflow_schemas::{Cents, Day, Event, Id, Millis, VoidScope};

/// Both views over `events` (stores before the events that use them).
pub fn customer_segments(events: &[&Event]) -> (Vec<CustomerSegment>, Vec<SegmentProfile>) {
    let mut zones = BTreeMap::new();
    let mut stores = BTreeMap::new();
    let mut departments: BTreeMap<&Id, (Option<Millis>, Option<&Id>, &Id)> = BTreeMap::new();
    let mut cards: BTreeMap<&Id, (Millis, &Id, bool, &Id)> = BTreeMap::new();
    let mut erased = BTreeSet::new();
    let mut voided = BTreeSet::new();
    let mut latest = None;
    for event in events {
        latest = latest.max(event.ts());
        match event {
            Event::Store(s) => {
                let key = (s.ts, s.event_id.clone(), s.district.clone(), s.timezone.name().to_string());
                if stores.get(&s.store_id).is_none_or(|k| *k < key) {
                    zones.insert(s.store_id.clone(), s.timezone);
                    stores.insert(s.store_id.clone(), key);
                }
            }
            Event::Product(p) => {
                let record = (p.ts, p.event_id.as_ref(), &p.department);
                if departments.get(&p.sku).is_none_or(|r| *r < record) {
                    departments.insert(&p.sku, record);
                }
            }
            Event::LoyaltyLink(l) => {
                let record = (l.ts, &l.event_id, l.consent, &l.customer_id);
                if cards.get(&l.customer_ref).is_none_or(|r| *r < record) {
                    cards.insert(&l.customer_ref, record);
                }
            }
            Event::Erasure(e) => {
                erased.insert(&e.customer_id);
            }
            Event::Void(v) if v.scope == VoidScope::Post => {
                voided.insert((&v.store_id, &v.transaction_id));
            }
            _ => {}
        }
    }
    let Some(latest) = latest else { return (Vec::new(), Vec::new()) };
    let as_of = customer_as_of(latest - ALLOWED_LATENESS_MS);
    let customer_of = |card: &Option<Id>| -> Option<&Id> {
        let (_, _, consent, customer) = cards.get(card.as_ref()?)?;
        (*consent && !erased.contains(customer)).then_some(*customer)
    };

    let mut purchases: BTreeMap<&Id, Vec<Purchase>> = BTreeMap::new();
    let mut spend: BTreeMap<&Id, BTreeMap<(Day, Id), i64>> = BTreeMap::new();
    for event in events {
        let Event::Sale(sale) = event else { continue };
        let (Some(customer), Some(tz)) = (customer_of(&sale.customer_ref), zones.get(&sale.store_id)) else {
            continue;
        };
        if voided.contains(&(&sale.store_id, &sale.transaction_id)) {
            continue;
        }
        let day = local_day(sale.ts, *tz);
        let net: i64 = sale.lines.iter().map(|l| l.qty * l.unit_price.0 - l.discount.0).sum();
        purchases.entry(customer).or_default().push(Purchase {
            day: utc_day(sale.ts),
            business_date: day,
            hour: local_hour(sale.ts, *tz),
            net: Cents(net),
        });
        for line in &sale.lines {
            if let Some((_, _, department)) = departments.get(&line.sku) {
                let net = line.qty * line.unit_price.0 - line.discount.0;
                *spend.entry(customer).or_default().entry((utc_day(sale.ts), (*department).clone())).or_default() +=
                    net;
            }
        }
    }

    let features: Vec<CustomerFeatures> = purchases
        .iter()
        .filter_map(|(customer, bought)| {
            let bought: Vec<&Purchase> = bought.iter().collect();
            let spent: Vec<(Day, &Id, i64)> = spend
                .get(customer)
                .map(|s| s.iter().filter(|(_, net)| **net != 0).map(|((day, d), net)| (*day, d, *net)).collect())
                .unwrap_or_default();
            CustomerFeatures::compute(customer, as_of, &bought, &spent)
        })
        .collect();

    let customers: Vec<(&Id, Features)> = features.iter().map(|f| (&f.customer_id, f.raw())).collect();
    let (segment_ids, profiles) = segment(&customers);
    let segments =
        features.iter().zip(segment_ids).map(|(f, segment_id)| CustomerSegment { features: f.clone(), segment_id });
    (segments.collect(), profiles)
}
