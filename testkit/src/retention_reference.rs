//! The events the references read once a retention has passed, written apart from the
//! pipeline's `retention` module: the store-dated events of business days before the
//! store-local date of `watermark − retention` are gone; what they did to stock stays as one
//! inventory record per (store, sku), and their receipts still price what came after them.

use std::collections::{HashMap, HashSet};

use chrono_tz::Tz;
use tillflow_schemas::time::local_day;
use tillflow_schemas::*;

/// The events a reference reads instead of `events` (all accepted so far, in order), with
/// `retention_ms` and `lateness_ms`:
///
/// - every reference record (stores, products, links, erasures, promotions);
/// - every store-dated event of a day still within the retention;
/// - each receipt of a day gone, with no units: it still prices the sales after it;
/// - per (store, sku) with events in days gone, the stock those days left: a count at the
///   instant of the last count gone (its level plus every movement after it), or, with none,
///   one adjustment of the units they moved. Sales post-voided by any void so far move nothing.
pub fn within_retention(events: &[&Event], retention_ms: Millis, lateness_ms: Millis) -> Vec<Event> {
    let mut zones: HashMap<Id, Tz> = HashMap::new();
    let mut latest: HashMap<Id, Millis> = HashMap::new();
    let mut voided: HashSet<(Id, Text)> = HashSet::new();
    for event in events {
        match event {
            Event::Store(store) => {
                zones.insert(store.store_id, store.timezone);
            }
            Event::Void(void) if void.scope == VoidScope::Post => {
                voided.insert((void.store_id, void.transaction_id.clone()));
            }
            _ => {}
        }
        if let (Some(store), Some(ts)) = (event.dated_by_store(), event.ts()) {
            let at = latest.entry(*store).or_insert(ts);
            *at = (*at).max(ts);
        }
    }
    // The chain's clock is the second latest store's latest time (the only one with one store).
    let mut times: Vec<Millis> = latest.values().copied().collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    let Some(clock) = times.get(1).or(times.first()).copied() else {
        return events.iter().map(|e| (*e).clone()).collect();
    };
    let horizon = clock - lateness_ms - retention_ms;
    let zone = |store: &Id| zones.get(store).copied().unwrap_or(Tz::UTC);
    let gone = |event: &Event| match (event.dated_by_store(), event.ts()) {
        (Some(store), Some(ts)) => local_day(ts, zone(store)) < local_day(horizon, zone(store)),
        _ => false,
    };

    let mut kept = Vec::new();
    // Per (store, sku) of the days gone: the last count (ts, event_id, level) and the movements.
    let mut counts: HashMap<(Id, Id), (Millis, Text, i64)> = HashMap::new();
    let mut moves: HashMap<(Id, Id), Vec<(Millis, i64)>> = HashMap::new();
    let mut last_gone = Millis::MIN;
    for event in events {
        if !gone(event) {
            kept.push((*event).clone());
            continue;
        }
        last_gone = last_gone.max(event.ts().unwrap_or(Millis::MIN));
        match event {
            Event::Inventory(inv) if inv.kind == InventoryKind::Count => {
                let count = (inv.ts, inv.event_id.clone(), inv.qty);
                let key = (inv.store_id, inv.sku);
                if counts.get(&key).is_none_or(|c| count > *c) {
                    counts.insert(key, count);
                }
            }
            Event::Inventory(inv) => {
                let units = match inv.kind {
                    InventoryKind::TransferOut => -inv.qty,
                    _ => inv.qty,
                };
                moves.entry((inv.store_id, inv.sku)).or_default().push((inv.ts, units));
                if inv.kind == InventoryKind::Receipt {
                    kept.push(Event::Inventory(Inventory { qty: 0, ..inv.clone() }));
                }
            }
            Event::Sale(sale) if !voided.contains(&(sale.store_id, sale.transaction_id.clone())) => {
                for line in &sale.lines {
                    moves.entry((sale.store_id, line.sku)).or_default().push((sale.ts, -line.qty));
                }
            }
            Event::Refund(refund) => {
                for line in &refund.lines {
                    moves.entry((refund.store_id, line.sku)).or_default().push((refund.ts, line.qty));
                }
            }
            _ => {}
        }
    }
    let keys: HashSet<(Id, Id)> = counts.keys().chain(moves.keys()).copied().collect();
    for (store, sku) in keys {
        let moved = moves.remove(&(store, sku)).unwrap_or_default();
        let stock = match counts.remove(&(store, sku)) {
            Some((ts, event_id, level)) => {
                let after: i64 = moved.iter().filter(|(at, _)| *at > ts).map(|(_, n)| n).sum();
                Inventory {
                    event_id,
                    ts,
                    store_id: store,
                    sku,
                    kind: InventoryKind::Count,
                    qty: level + after,
                    unit_cost: None,
                }
            }
            None => Inventory {
                event_id: Text::from("~gone"),
                ts: last_gone,
                store_id: store,
                sku,
                kind: InventoryKind::Adjustment,
                qty: moved.iter().map(|(_, n)| n).sum(),
                unit_cost: None,
            },
        };
        kept.push(Event::Inventory(stock));
    }
    kept
}
