//! `tillflow eval`'s scoring of projected stock-outs and measured lifts, on hand-counted rows.

use tillflow::eval::{Lifts, Projection, projection};
use tillflow_data::{GroundTruth, PromotionLift, StockOut};
use tillflow_schemas::Day;
use tillflow_schemas::time::date_to_day;
use tillflow_schemas::views::{PromoFigures, PromotionPerformance, Replenishment};

/// Days after the chain's first day, 2026-03-02.
fn d(n: Day) -> Day {
    date_to_day(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()) + n
}

fn row(sku: &str, as_of: Day, projected: Option<Day>) -> Replenishment {
    Replenishment {
        store_id: "S1".into(),
        sku: sku.into(),
        as_of_date: d(as_of),
        projected_stockout: projected.map(d),
        ..Replenishment::default()
    }
}

/// K1 projected on day 10 for day 13 and empty on days 14 and 15: a projection that came true
/// and one stock-out foreseen. K2 projected for day 12, never empty; K3 projected beyond the
/// week; K2 empty on day 3 (the first week); K4 empty on day 20, never projected. K1's row of
/// day 10 is the day's last: an earlier one (epoch 1) projected nothing.
#[test]
fn projections_are_scored_against_the_empty_shelves() {
    let empty = [("K1", 14), ("K1", 15), ("K2", 3), ("K4", 20)];
    let truth = GroundTruth {
        seed: 1,
        stores: 1,
        days: 28,
        start: "2026-03-02".into(),
        anomalies: Vec::new(),
        stockouts: empty
            .iter()
            .map(|(sku, n)| StockOut {
                store_id: "S1".into(),
                sku: sku.to_string(),
                date: chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
                    .unwrap()
                    .checked_add_days(chrono::Days::new(*n))
                    .unwrap()
                    .to_string(),
            })
            .collect(),
        promotions: Vec::new(),
    };
    let changes = vec![
        (row("K1", 10, None), 1, 1),
        (row("K1", 10, None), 2, -1),
        (row("K1", 10, Some(13)), 2, 1),
        (row("K2", 10, Some(12)), 2, 1),
        (row("K3", 10, Some(30)), 2, 1),
        (row("K1", 10, Some(13)), 3, -1),
        (row("K1", 11, None), 3, 1),
    ];
    let scored = projection(&truth, &changes);
    assert_eq!(scored, Projection { projected: 2, came_true: 1, stockouts: 2, foreseen: 1 });
}

/// P1 sold 15 units at S1 and 15 at S2 where 10 a day were expected (kept as 12 × 10), and 5 on
/// a day without a baseline, which is left out: 30 against 20, a lift of 50%. P2 has no row.
#[test]
fn lifts_are_measured_over_the_rows_with_a_baseline() {
    let truth = GroundTruth {
        seed: 1,
        stores: 2,
        days: 28,
        start: "2026-03-02".into(),
        anomalies: Vec::new(),
        stockouts: Vec::new(),
        promotions: vec![
            PromotionLift { promo_id: "P1".into(), lift_pct: 50.0 },
            PromotionLift { promo_id: "P2".into(), lift_pct: 100.0 },
        ],
    };
    let row = |store: &str, day: Day, promo_units: i64, baseline_units: i64| PromotionPerformance {
        promo_id: "P1".into(),
        store_id: store.into(),
        sku: "K1".into(),
        business_date: d(day),
        figures: PromoFigures { promo_units, baseline_units, ..PromoFigures::default() },
    };
    let rows = [row("S1", 21, 15, 120), row("S1", 22, 5, 0), row("S2", 21, 15, 120)];
    assert_eq!(Lifts::measure(&truth, &rows), Lifts(vec![("P1".into(), 50.0, Some(50.0)), ("P2".into(), 100.0, None)]));
}
