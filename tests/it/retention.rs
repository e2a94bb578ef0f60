//! Retention: what the days leaving it fold into, computed by hand; the views' equality with
//! their references under a short retention is in `views.rs`.

use chrono_tz::Tz;
use tillflow::retention::Retention;
use tillflow_schemas::time::{MILLIS_PER_DAY, local_day};
use tillflow_schemas::*;
use tillflow_testkit::events::*;

/// Two days of a SKU's stock leave a 15-day retention: the count, what moved after it (a
/// post-voided sale moves nothing) and the later receipt fold into one count at the count's
/// instant; the later receipt stays as the cost basis.
#[test]
fn leaving_days_fold_into_an_opening_count_and_a_cost_basis() {
    let mut retention = Retention::new(15 * MILLIS_PER_DAY);
    let keep = |retention: &mut Retention, event: Event| {
        let day = event.ts().map(|ts| local_day(ts, Tz::UTC));
        retention.keep(&event, day, Tz::UTC, 0);
    };
    let t = |d: i64, h: i64| BASE + d * DAY + h * HOUR;
    keep(&mut retention, store("S1", "UTC"));
    keep(&mut retention, sale("T0", "S1", t(0, 9), vec![line(1, "K1", 2, 100, 0, false)]));
    keep(&mut retention, movement("C1", "S1", "K1", t(0, 10), InventoryKind::Count, 10));
    keep(&mut retention, sale("T1", "S1", t(0, 11), vec![line(1, "K1", 3, 100, 0, false)]));
    keep(&mut retention, receipt("I1", "S1", "K1", t(0, 12), 70));
    keep(&mut retention, sale("T2", "S1", t(0, 12), vec![line(1, "K1", 2, 100, 0, false)]));
    keep(&mut retention, void("V2", "S1", t(0, 13), "T2", VoidScope::Post));
    keep(&mut retention, receipt("I2", "S1", "K1", t(1, 9), 80));
    keep(&mut retention, refund("R1", "S1", t(1, 10), Some("T1"), "K1", 1, 100));
    keep(&mut retention, movement("O1", "S1", "K2", t(1, 11), InventoryKind::TransferOut, 4));
    keep(&mut retention, sale("T3", "S1", t(20, 10), vec![line(1, "K1", 1, 100, 0, false)]));

    // Nothing has left while the watermark is within 15 days of day 0.
    assert!(retention.expire(Some(t(15, 9)), |_| Tz::UTC).events.is_empty());

    let expired = retention.expire(Some(t(20, 9)), |_| Tz::UTC);
    assert_eq!(expired.events.len(), 9, "days 0 and 1 left; day 20 and the store record stay");
    assert_eq!(retention.expired, 9);
    let openings: Vec<_> =
        expired.openings.iter().map(|(o, diff)| (o.sku.to_string(), o.is_count, o.ts, o.qty, *diff)).collect();
    assert_eq!(
        openings,
        vec![
            // 10 counted, then −3 sold, +10 and +10 received, +1 refunded; T2 was post-voided.
            ("K1".to_string(), true, t(0, 10), 10 - 3 + 10 + 10 + 1, 1),
            // No count ever: the transfer out alone.
            ("K2".to_string(), false, t(1, 11), -4, 1),
        ]
    );
    let receipts: Vec<_> =
        expired.receipts.iter().map(|(r, diff)| (r.event_id.to_string(), r.unit_cost, *diff)).collect();
    assert_eq!(
        receipts,
        vec![("I1".to_string(), Cents(70), 1), ("I1".to_string(), Cents(70), -1), ("I2".to_string(), Cents(80), 1)]
    );

    // What is kept is what a checkpoint writes: the store record and day 20, in order.
    let kept: Vec<_> = retention.kept().iter().map(|k| k.event.event_id().map(|id| id.to_string())).collect();
    assert_eq!(kept, vec![None, Some("e-T3".to_string())]);
    let settled = retention.settled();
    assert_eq!(settled.receipts.len(), 1);
    assert_eq!(settled.openings.iter().map(|o| o.qty).collect::<Vec<_>>(), vec![28, -4]);
}
