//! Every view equals its reference at every epoch, for random streams with post-voids, refunds,
//! voids, shifts, cost changes, counts and movements, late events and random epoch splits, on 1
//! and 2 workers, fed through admission (`tillflow_testkit::views`). Every reference shares no
//! code with its view: SQL for all but the segments, whose reference is the batch function of
//! `tillflow_testkit::segments_reference`. Each view's own test, beside it in `operators/`, runs
//! fixed streams; this one explores new random streams on every run, every view at once.

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow::dataflow::Tuning;
use tillflow::source::Epoch;
use tillflow_schemas::views::{Exception, Forecast, RefundVoidAnomaly, Severity, SkuMargin, StoreDaily};
use tillflow_schemas::*;
use tillflow_testkit::events::*;
use tillflow_testkit::support::{admitted_within, run_prepared, run_tuned};
use tillflow_testkit::views::{actual, check_every_epoch, check_every_epoch_within, views};

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
        check_every_epoch(&random_stream(seed, 10..80), &views());
    }
}

/// A retention short enough for days to leave it: every view still equals its reference, which
/// reads the days left within the retention (and what the days gone did to stock and cost,
/// `tillflow_testkit::retention_reference`), at every epoch on 1 and 2 workers.
#[test]
fn views_age_out_as_the_watermark_passes_the_retention() {
    let retention = 15 * DAY;
    for seed in 0..3 {
        let stream = long_stream(0x2e7e ^ seed, 40);
        let compared = check_every_epoch_within(&stream, &views(), retention);
        assert!(compared > 0);
        // Days did leave: the references read fewer sales than were accepted, and the margins
        // start on the first day within the retention.
        let accepted = admitted_within(&stream, retention);
        let all: Vec<&Event> = accepted.iter().map(|(_, e)| e).collect();
        let read = tillflow_testkit::retention_reference::within_retention(&all, retention, time::ALLOWED_LATENESS_MS);
        let sales = |events: &mut dyn Iterator<Item = &Event>| events.filter(|e| matches!(e, Event::Sale(_))).count();
        assert!(
            sales(&mut read.iter()) * 2 < sales(&mut all.iter().copied()),
            "most of 40 days left a 15-day retention"
        );
        let output = run_tuned(&stream, 1, Tuning { retention_ms: retention, ..Tuning::default() });
        let margins = tillflow::dataflow::consolidate(output.changes::<SkuMargin>().to_vec());
        let first = margins.iter().map(|m| m.business_date).min().expect("margins");
        assert!(first >= day(40 - 16) && first <= day(40 - 14), "the first day kept is {first}");
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
        check_every_epoch(&stamped, &views());
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

/// Four weeks of two stores selling the same every day, then one day at S1 where the grocery
/// department sells a third of its usual: that day, once ended, is 28.6% under the same weekday
/// of the four weeks before, and the exception says so and names the department. Hand-computed.
#[test]
fn a_store_day_far_under_its_forecast_is_an_exception_naming_the_department() {
    let grocery = match product("K2", 100, None, None) {
        Event::Product(p) => Event::Product(Product { category: "snacks".into(), department: "grocery".into(), ..p }),
        _ => unreachable!("product() makes a product"),
    };
    let mut events =
        vec![store("S1", "America/New_York"), store("S2", "America/New_York"), product("K1", 300, None, None), grocery];
    for d in 0..30 {
        for s in ["S1", "S2"] {
            // K1 (d/c): 2 × 10.00; K2 (grocery/snacks): 3 × 5.00, but 1 at S1 on day 28.
            let snacks = if s == "S1" && d == 28 { 1 } else { 3 };
            let ts = BASE + d * DAY + 15 * HOUR;
            let lines = vec![line(1, "K1", 2, 1000, 0, false), line(2, "K2", snacks, 500, 0, false)];
            events.push(sale(&format!("{s}-{d}"), s, ts, lines));
        }
    }
    let stamped: Vec<(Epoch, Event)> =
        events.into_iter().enumerate().map(|(i, e)| (if i < 4 { 0 } else { 1 + i as u64 / 25 }, e)).collect();
    check_every_epoch(&stamped, &["store_daily", "category_daily", "exceptions"]);

    let output = run_prepared(&stamped, 2);
    let last = stamped.last().unwrap().0;
    let days = &actual::<StoreDaily>(&output, &[last])[0];
    let dip = days.iter().find(|r| r.store_id.as_str() == "S1" && r.business_date == day(28)).unwrap();
    assert_eq!(dip.takings.net_sales(), Cents(2500));
    assert_eq!(dip.forecast, Some(Forecast { sum: Cents(14_000), days: 4 }), "days 0, 7, 14 and 21 at 35.00");
    let below: Vec<Exception> = actual::<Exception>(&output, &[last])[0]
        .iter()
        .filter(|e| e.kind.as_str() == "sales_below_forecast")
        .cloned()
        .collect();
    assert_eq!(below.len(), 1, "only S1's day 28; day 29 has not ended: {below:?}");
    let e = &below[0];
    assert_eq!((e.store_id.as_str(), e.subject.as_str(), e.business_date), ("S1", "S1", day(28)));
    assert_eq!((e.severity, e.amount), (Severity::Medium, Some(Cents(-1000))), "25.00 is 71% of 35.00");
    assert_eq!(
        e.evidence,
        "net sales 25.00 against a forecast of 35.00 (the same weekday, 4 weeks); furthest under: grocery/snacks -10.00"
    );
}
