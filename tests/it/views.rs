//! Every view equals its reference at every epoch, for random streams with post-voids, refunds,
//! voids, shifts, cost changes, counts and movements, late events and random epoch splits, on 1
//! and 2 workers, fed through admission. Every reference shares no code with its view: SQL for
//! all but the segments, whose reference is the batch function of `segments_reference`.

use std::collections::HashMap;

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow::dataflow::{Output, states_at};
use tillflow::source::Epoch;
use tillflow_schemas::views::{
    CustomerSegment, Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RuleBreak, SegmentProfile,
    SkuMargin, ViewRow,
};
use tillflow_schemas::*;

use crate::events::*;
use crate::support::{admitted, references, rows, run_prepared};

/// The views with a reference SQL, as rows at each epoch of `epochs`.
fn actual<R: ViewRow + Ord + Clone + 'static>(output: &Output, epochs: &[Epoch]) -> Vec<Vec<R>> {
    states_at(output.changes::<R>(), epochs)
}

/// The reference rows of every SQL-defined view at each epoch, by view name.
type Expected = HashMap<&'static str, Vec<Vec<String>>>;

const SQL_VIEWS: [&str; 6] = [
    SkuMargin::NAME,
    InventoryPosition::NAME,
    RuleBreak::NAME,
    RefundVoidAnomaly::NAME,
    LaborDemand::NAME,
    Exception::NAME,
];

fn expected(stamped: &[(Epoch, Event)], epochs: &[Epoch]) -> Expected {
    let mut expected: Expected = SQL_VIEWS.iter().map(|v| (*v, Vec::new())).collect();
    for at in epochs {
        let so_far: Vec<&Event> = stamped.iter().filter(|(e, _)| e <= at).map(|(_, ev)| ev).collect();
        for (view, batches) in SQL_VIEWS.iter().zip(references(&so_far, &SQL_VIEWS)) {
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
fn expected_segments(stamped: &[(Epoch, Event)], epochs: &[Epoch]) -> Vec<(Vec<CustomerSegment>, Vec<SegmentProfile>)> {
    epochs
        .iter()
        .map(|at| {
            let so_far: Vec<&Event> = stamped.iter().filter(|(e, _)| e <= at).map(|(_, ev)| ev).collect();
            let (mut segments, mut profiles) = crate::segments_reference::customer_segments(&so_far);
            segments.sort();
            profiles.sort();
            (segments, profiles)
        })
        .collect()
}

fn check_segments(
    output: &Output,
    expected: &[(Vec<CustomerSegment>, Vec<SegmentProfile>)],
    epochs: &[Epoch],
    workers: usize,
) {
    let (segments, profiles) = (actual::<CustomerSegment>(output, epochs), actual::<SegmentProfile>(output, epochs));
    for (i, at) in epochs.iter().enumerate() {
        assert_eq!(segments[i], expected[i].0, "customer_segments at epoch {at} with {workers} worker(s)");
        assert_eq!(profiles[i], expected[i].1, "segment_profiles at epoch {at} with {workers} worker(s)");
    }
}

fn check_every_epoch(stamped: &[(Epoch, Event)]) {
    // The references read what admission accepted; the graph is fed through admission itself.
    let accepted = admitted(stamped);
    let mut epochs: Vec<Epoch> = stamped.iter().map(|(e, _)| *e).collect();
    epochs.dedup();
    let expected = expected(&accepted, &epochs);
    let segments = expected_segments(&accepted, &epochs);
    for workers in [1, 2] {
        let output = run_prepared(stamped, workers);
        check::<SkuMargin>(&output, &expected, &epochs, workers);
        check::<InventoryPosition>(&output, &expected, &epochs, workers);
        check::<RuleBreak>(&output, &expected, &epochs, workers);
        check::<RefundVoidAnomaly>(&output, &expected, &epochs, workers);
        check::<LaborDemand>(&output, &expected, &epochs, workers);
        check_segments(&output, &segments, &epochs, workers);
        check::<Exception>(&output, &expected, &epochs, workers);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        // Failing seeds are kept and tried first next time (the test runs from pipeline/).
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "../tests/it/views.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn views_equal_their_references_at_every_epoch(seed in any::<u64>()) {
        check_every_epoch(&random_stream(seed, 10..80));
    }
}

/// A busy district: five cashiers with enough transactions to be compared with their peers, one
/// voiding far more than the others and one discounting heavily, in random epochs.
fn busy_district(seed: u64) -> Vec<(Epoch, Event)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events =
        vec![store("S1", "America/New_York"), store("S2", "America/Chicago"), product("K1", 300, None, None)];
    let cashiers = [("S1", "k1"), ("S1", "k2"), ("S1", "voider"), ("S2", "k4"), ("S2", "discounter")];
    let mut n = 0;
    for d in 0..4 {
        for (store, cashier) in cashiers {
            for _ in 0..rng.random_range(10..16) {
                n += 1;
                let ts = BASE + d * DAY + 15 * HOUR + n * 60_000;
                let id = format!("T{n}");
                let discount = if cashier == "discounter" && n % 2 == 0 { 400 } else { 0 };
                events.push(sale_by(
                    &id,
                    store,
                    ts,
                    cashier,
                    Some(TenderKind::Card),
                    vec![line(1, "K1", 1, 1000, discount, false)],
                ));
                let void_odds = if cashier == "voider" { 2 } else { 40 };
                if rng.random_range(0..void_odds) == 0 {
                    events.push(void_by(&format!("V{n}"), store, ts - 1000, cashier, &id, VoidScope::Line));
                }
                if rng.random_range(0..60) == 0 {
                    events.push(void_by(&format!("P{n}"), store, ts + 60_000, cashier, &id, VoidScope::Post));
                }
                if rng.random_range(0..30) == 0 {
                    let original = (rng.random_range(0..2) == 0).then_some(id.as_str());
                    events.push(refund_by(
                        &format!("R{n}"),
                        store,
                        ts + HOUR,
                        cashier,
                        TenderKind::Cash,
                        original,
                        ("K1", 1, 900),
                    ));
                }
            }
        }
    }
    let epochs = rng.random_range(1..6u64);
    let mut stamped: Vec<(Epoch, Event)> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (if i < 3 { 0 } else { 1 + rng.random_range(0..epochs) }, e))
        .collect();
    stamped.sort_by_key(|(epoch, _)| *epoch);
    stamped
}

#[test]
fn busy_district_equals_its_reference_and_flags_the_outliers() {
    for seed in 0..3 {
        let stamped = busy_district(seed);
        check_every_epoch(&stamped);
        let output = run_prepared(&stamped, 2);
        let last = *stamped.iter().map(|(e, _)| e).max().unwrap();
        let state = &actual::<RefundVoidAnomaly>(&output, &[last])[0];
        let flagged = |cashier: &str, rate: &str| {
            state.iter().filter(|r| r.cashier_id == cashier).any(|r| r.flag_names().contains(&rate))
        };
        assert!(flagged("voider", "line_void_rate"), "seed {seed}: the voider is flagged");
        assert!(flagged("discounter", "manual_discount_rate"), "seed {seed}: the discounter is flagged");
        for quiet in ["k1", "k2", "k4"] {
            assert!(state.iter().filter(|r| r.cashier_id == quiet).all(|r| r.flags == 0), "seed {seed}: {quiet}");
        }
    }
}
