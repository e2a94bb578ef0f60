//! A view against its reference at every epoch: the events fed through admission into the graph
//! on 1 and 2 workers, the reference (SQL for all but the segments, whose reference is the batch
//! function of [`crate::segments_reference`]) run over the events admission accepted up to each
//! epoch. No reference shares code with the view it checks.

use std::collections::HashMap;

use tillflow::Reference;
use tillflow::dataflow::{Output, Tuning, ViewSet, states_at};
use tillflow::source::Epoch;
use tillflow_queries::reference::Settings;
use tillflow_schemas::time::{ALLOWED_LATENESS_MS, RETENTION_MS};
use tillflow_schemas::views::{
    BasketAffinity, CategoryDaily, CustomerSegment, Exception, InventoryPosition, LaborDemand, ProductRecord,
    PromotionPerformance, PromotionRecord, PromotionSummary, PurchaseSuggestion, RefundVoidAnomaly, RegisterAnomaly,
    Replenishment, RuleBreak, SegmentProfile, SkuMargin, StoreDaily, StoreRecord, ViewRow,
};
use tillflow_schemas::{Event, Millis};

use crate::events::random_stream;
use crate::retention_reference::within_retention;
use crate::support::{admitted_within, references, rows, run_tuned};

/// The views whose reference is SQL (`queries/<view>.sql`), from the registry.
pub fn sql_views() -> Vec<&'static str> {
    tillflow::tables().into_iter().filter(|t| matches!(t.reference, Reference::Sql(_))).map(|t| t.name).collect()
}

/// Every view of the dataflow with a reference, from the registry.
pub fn views() -> Vec<&'static str> {
    let of_the_dataflow = |t: &tillflow::Table| matches!(t.reference, Reference::Sql(_) | Reference::Batch);
    tillflow::tables().into_iter().filter(of_the_dataflow).map(|t| t.name).collect()
}

/// The settings the checks run the graph and the references with: short random streams need a
/// low minimum to give `basket_affinity` rows, and a short window to see days leave it.
pub const SETTINGS: Settings = Settings { affinity_min_baskets: 2, affinity_window_days: 5, slow_judged_days: 3 };

/// How many random streams a view's own reference test runs (`check_view`).
pub const STREAMS: u64 = 12;

/// A view's rows at each epoch of `epochs`.
pub fn actual<R: ViewRow + Ord + Clone + 'static>(output: &Output, epochs: &[Epoch]) -> Vec<Vec<R>> {
    states_at(output.changes::<R>(), epochs)
}

/// The reference rows of SQL-defined views at each epoch, by view name.
type Expected = HashMap<&'static str, Vec<Vec<String>>>;

/// The events the references read at each epoch: those accepted so far, less the days gone
/// beyond the retention.
fn read_at(stamped: &[(Epoch, Event)], epochs: &[Epoch], retention_ms: Millis) -> Vec<Vec<Event>> {
    epochs
        .iter()
        .map(|at| {
            let so_far: Vec<&Event> = stamped.iter().filter(|(e, _)| e <= at).map(|(_, ev)| ev).collect();
            within_retention(&latest_revisions(so_far), retention_ms, ALLOWED_LATENESS_MS)
        })
        .collect()
}

/// The events, each revised sale only in its last accepted revision (a later one replaces it).
fn latest_revisions(events: Vec<&Event>) -> Vec<&Event> {
    let mut last = std::collections::HashMap::new();
    for (i, event) in events.iter().enumerate() {
        if let (Some(id), Some(_)) = (event.event_id(), event.revision()) {
            last.insert(id, i);
        }
    }
    let latest = |i: usize, event: &Event| match (event.event_id(), event.revision()) {
        (Some(id), Some(_)) => last[id] == i,
        _ => true,
    };
    events.iter().enumerate().filter(|(i, event)| latest(*i, event)).map(|(_, event)| *event).collect()
}

fn expected(read: &[Vec<Event>], views: &[&'static str], settings: Settings) -> Expected {
    let mut expected: Expected = views.iter().map(|v| (*v, Vec::new())).collect();
    for events in read {
        let so_far: Vec<&Event> = events.iter().collect();
        for (view, batches) in views.iter().zip(references(&so_far, views, settings)) {
            expected.get_mut(view).unwrap().push(rows(&batches));
        }
    }
    expected
}

fn check<R: ViewRow + Ord + Clone + 'static>(output: &Output, expected: &Expected, epochs: &[Epoch], workers: usize) {
    let states = actual::<R>(output, epochs);
    for (i, at) in epochs.iter().enumerate() {
        let got = rows(&[R::to_batch(&states[i])]);
        assert_eq!(
            got,
            expected[R::NAME][i],
            "{} differs from the reference at epoch {at} with {workers} worker(s)",
            R::NAME
        );
    }
}

/// The batch reference of `customer_segments` and `segment_profiles` at each epoch.
fn expected_segments(read: &[Vec<Event>]) -> Vec<(Vec<CustomerSegment>, Vec<SegmentProfile>)> {
    read.iter()
        .map(|events| {
            let so_far: Vec<&Event> = events.iter().collect();
            let (mut segments, mut profiles) = crate::segments_reference::customer_segments(&so_far);
            segments.sort();
            profiles.sort();
            (segments, profiles)
        })
        .collect()
}

/// Every view of `views` (names of [`views()`]) equals its reference at every epoch of `stamped`,
/// on 1 and 2 workers, the graph computing only those views (and what they read). Returns how
/// many reference rows were compared, over every epoch.
pub fn check_every_epoch(stamped: &[(Epoch, Event)], views: &[&str]) -> usize {
    check_every_epoch_within(stamped, views, RETENTION_MS)
}

/// [`check_every_epoch`] with a retention of `retention_ms`: at each epoch, the references read
/// the events accepted so far less the days the watermark has left beyond the retention
/// ([`within_retention`]).
pub fn check_every_epoch_within(stamped: &[(Epoch, Event)], views: &[&str], retention_ms: Millis) -> usize {
    // The references read what admission accepted; the graph is fed through admission itself.
    let accepted = admitted_within(stamped, retention_ms);
    let mut epochs: Vec<Epoch> = stamped.iter().map(|(e, _)| *e).collect();
    epochs.dedup();
    let read = read_at(&accepted, &epochs, retention_ms);
    let sql: Vec<&'static str> = sql_views().into_iter().filter(|v| views.contains(v)).collect();
    let expected = expected(&read, &sql, SETTINGS);
    let segmented = views.iter().any(|v| *v == CustomerSegment::NAME || *v == SegmentProfile::NAME);
    let segments = if segmented { expected_segments(&read) } else { Vec::new() };
    let compared = expected.values().flatten().map(Vec::len).sum::<usize>()
        + segments.iter().filter(|_| views.contains(&CustomerSegment::NAME)).map(|(s, _)| s.len()).sum::<usize>()
        + segments.iter().filter(|_| views.contains(&SegmentProfile::NAME)).map(|(_, p)| p.len()).sum::<usize>();
    let chosen = ViewSet::parse(&views.join(",")).expect("views with a reference");
    for workers in [1, 2] {
        let tuning = Tuning {
            views: chosen,
            retention_ms,
            affinity_min_baskets: SETTINGS.affinity_min_baskets,
            affinity_window_days: SETTINGS.affinity_window_days,
            slow_judged_days: SETTINGS.slow_judged_days,
            ..Tuning::default()
        };
        let output = run_tuned(stamped, workers, tuning);
        for view in views {
            match *view {
                SkuMargin::NAME => check::<SkuMargin>(&output, &expected, &epochs, workers),
                InventoryPosition::NAME => check::<InventoryPosition>(&output, &expected, &epochs, workers),
                RuleBreak::NAME => check::<RuleBreak>(&output, &expected, &epochs, workers),
                RefundVoidAnomaly::NAME => check::<RefundVoidAnomaly>(&output, &expected, &epochs, workers),
                RegisterAnomaly::NAME => check::<RegisterAnomaly>(&output, &expected, &epochs, workers),
                LaborDemand::NAME => check::<LaborDemand>(&output, &expected, &epochs, workers),
                StoreDaily::NAME => check::<StoreDaily>(&output, &expected, &epochs, workers),
                CategoryDaily::NAME => check::<CategoryDaily>(&output, &expected, &epochs, workers),
                BasketAffinity::NAME => check::<BasketAffinity>(&output, &expected, &epochs, workers),
                PromotionPerformance::NAME => check::<PromotionPerformance>(&output, &expected, &epochs, workers),
                PromotionSummary::NAME => check::<PromotionSummary>(&output, &expected, &epochs, workers),
                Replenishment::NAME => check::<Replenishment>(&output, &expected, &epochs, workers),
                PurchaseSuggestion::NAME => check::<PurchaseSuggestion>(&output, &expected, &epochs, workers),
                Exception::NAME => check::<Exception>(&output, &expected, &epochs, workers),
                StoreRecord::NAME => check::<StoreRecord>(&output, &expected, &epochs, workers),
                ProductRecord::NAME => check::<ProductRecord>(&output, &expected, &epochs, workers),
                PromotionRecord::NAME => check::<PromotionRecord>(&output, &expected, &epochs, workers),
                CustomerSegment::NAME => {
                    let got = actual::<CustomerSegment>(&output, &epochs);
                    for (i, at) in epochs.iter().enumerate() {
                        assert_eq!(got[i], segments[i].0, "customer_segments at epoch {at} with {workers} worker(s)");
                    }
                }
                SegmentProfile::NAME => {
                    let got = actual::<SegmentProfile>(&output, &epochs);
                    for (i, at) in epochs.iter().enumerate() {
                        assert_eq!(got[i], segments[i].1, "segment_profiles at epoch {at} with {workers} worker(s)");
                    }
                }
                other => panic!("{other} has no reference"),
            }
        }
    }
    compared
}

/// A view's own reference test: [`STREAMS`] random streams (post-voids, refunds, voids, shifts,
/// cost changes, counts and movements, late events, stores changing zone and district, random
/// epoch splits), each checked at every epoch on 1 and 2 workers. The seeds are fixed so that a
/// failure names the stream that fails; the workspace's randomized test (`tests/it/views.rs`)
/// explores new ones on every run.
pub fn check_view(view: &str) {
    let mut compared = 0;
    for seed in 0..STREAMS {
        let stream = random_stream(0x7111_f10e ^ seed, 10..80);
        match std::panic::catch_unwind(|| check_every_epoch(&stream, &[view])) {
            Ok(rows) => compared += rows,
            Err(failure) => {
                eprintln!("{view}: the random stream of seed {seed} fails");
                std::panic::resume_unwind(failure);
            }
        }
    }
    // Empty views equal empty references: the streams must give the view rows to compare.
    assert!(compared >= 10, "{view}: only {compared} rows compared over {STREAMS} streams");
}
