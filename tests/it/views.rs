//! Every view equals its reference SQL at every epoch, for random streams with post-voids,
//! refunds, cost changes, counts and movements, late events and random epoch splits, on 1 and 2
//! workers; plus hand-computed days.

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow::dataflow::states_at;
use tillflow::source::Epoch;
use tillflow_schemas::views::{InventoryPosition, SkuMargin, ViewRow};
use tillflow_schemas::*;

use crate::support::{reference, rows, run_prepared};

const DAY: i64 = 86_400_000;
const BASE: i64 = 1_772_841_600_000; // 2026-03-07T00:00:00Z

fn store(id: &str, tz: &str) -> Event {
    Event::Store(Store {
        event_id: None,
        ts: None,
        store_id: id.into(),
        name: id.into(),
        district: "D1".into(),
        region: "R".into(),
        timezone: tz.parse().unwrap(),
    })
}

fn product(sku: &str, cost: i64, ts: Option<i64>, event_id: Option<&str>) -> Event {
    Event::Product(Product {
        event_id: event_id.map(Id::from),
        ts,
        sku: sku.into(),
        name: sku.into(),
        category: "c".into(),
        department: "d".into(),
        unit_cost: Cents(cost),
        list_price: Cents(cost * 2),
    })
}

fn sale(id: &str, store: &str, ts: i64, lines: Vec<SaleLine>) -> Event {
    Event::Sale(Sale {
        event_id: format!("e-{id}").into(),
        ts,
        store_id: store.into(),
        transaction_id: id.into(),
        register_id: "r".into(),
        cashier_id: "k".into(),
        customer_ref: None,
        lines,
        tenders: vec![],
    })
}

fn line(no: u32, sku: &str, qty: i64, price: i64, discount: i64, promo: bool) -> SaleLine {
    SaleLine {
        line_no: no,
        sku: sku.into(),
        qty,
        unit_price: Cents(price),
        discount: Cents(discount),
        promo_id: promo.then(|| "P".into()),
    }
}

fn refund(id: &str, store: &str, ts: i64, original: Option<&str>, sku: &str, qty: i64, amount: i64) -> Event {
    Event::Refund(Refund {
        event_id: format!("e-{id}").into(),
        ts,
        store_id: store.into(),
        refund_id: id.into(),
        register_id: "r".into(),
        cashier_id: "k".into(),
        original_transaction_id: original.map(Id::from),
        lines: vec![RefundLine { sku: sku.into(), qty, amount: Cents(amount) }],
        tender_kind: TenderKind::Card,
        reason: None,
    })
}

fn void(id: &str, store: &str, ts: i64, transaction: &str, scope: VoidScope) -> Event {
    let lines = if scope == VoidScope::Line {
        vec![VoidLine { line_no: Some(9), sku: "K1".into(), qty: 1, unit_price: None }]
    } else {
        vec![]
    };
    Event::Void(Void {
        event_id: format!("e-{id}").into(),
        ts,
        store_id: store.into(),
        transaction_id: transaction.into(),
        register_id: "r".into(),
        cashier_id: "k".into(),
        scope,
        lines,
    })
}

fn receipt(id: &str, store: &str, sku: &str, ts: i64, cost: i64) -> Event {
    Event::Inventory(Inventory {
        event_id: id.into(),
        ts,
        store_id: store.into(),
        sku: sku.into(),
        kind: InventoryKind::Receipt,
        qty: 10,
        unit_cost: Some(Cents(cost)),
    })
}

fn movement(id: &str, store: &str, sku: &str, ts: i64, kind: InventoryKind, qty: i64) -> Event {
    Event::Inventory(Inventory {
        event_id: id.into(),
        ts,
        store_id: store.into(),
        sku: sku.into(),
        kind,
        qty,
        unit_cost: None,
    })
}

/// A random stream: reference data first (epoch 0), then events in a random arrival order
/// (so many arrive late), split into 1..=6 epochs at random.
fn random_stream(seed: u64) -> Vec<(Epoch, Event)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stores = [("S1", "America/New_York"), ("S2", "America/Los_Angeles")];
    let skus = ["K1", "K2", "K3", "K4"]; // K4 has no catalog record: it costs 0 without a receipt
    let mut events: Vec<Event> = stores.iter().map(|(s, tz)| store(s, tz)).collect();
    for (i, sku) in skus[..3].iter().enumerate() {
        events.push(product(sku, 100 + 50 * i as i64, None, None));
    }
    let reference_count = events.len();
    let mut sales: Vec<(String, &str)> = Vec::new();
    let mut receipt_times: Vec<i64> = Vec::new();
    let count = rng.random_range(10..50);
    for n in 0..count {
        let s = stores[rng.random_range(0..2)].0;
        let sku = skus[rng.random_range(0..4)];
        // Cluster around local midnights so business days split where they should.
        let ts =
            BASE + rng.random_range(0..20) * DAY + rng.random_range(3..10) * 3_600_000 + rng.random_range(0..3_600_000);
        let event = match rng.random_range(0..100) {
            0..45 => {
                let id = format!("T{n}");
                // Sometimes at exactly a receipt's instant: that receipt prices it.
                let ts = if !receipt_times.is_empty() && rng.random_range(0..4) == 0 {
                    receipt_times[rng.random_range(0..receipt_times.len())]
                } else {
                    ts
                };
                let lines = (0..rng.random_range(1..4))
                    .map(|k| {
                        let qty = if rng.random_range(0..12) == 0 { -1 } else { rng.random_range(1..4) };
                        let price = rng.random_range(50..2000);
                        let discount = if qty > 0 { rng.random_range(0..price * qty / 3 + 1) } else { 0 };
                        line(k + 1, skus[rng.random_range(0..4)], qty, price, discount, rng.random_range(0..3) == 0)
                    })
                    .collect();
                sales.push((id.clone(), s));
                sale(&id, s, ts, lines)
            }
            45..60 => {
                let original = (!sales.is_empty() && rng.random_range(0..2) == 0)
                    .then(|| sales[rng.random_range(0..sales.len())].0.clone());
                refund(
                    &format!("R{n}"),
                    s,
                    ts,
                    original.as_deref(),
                    sku,
                    rng.random_range(1..3),
                    rng.random_range(10..1500),
                )
            }
            60..72 if !sales.is_empty() => {
                let (tx, tx_store) = sales[rng.random_range(0..sales.len())].clone();
                void(&format!("V{n}"), tx_store, ts, &tx, VoidScope::Post)
            }
            72..77 => void(&format!("V{n}"), s, ts, &format!("T{}", n + 1), VoidScope::Post), // a post-void before its sale arrives
            77..92 => {
                // Sometimes at exactly the time of an earlier receipt: the greater event_id wins.
                let at = if !receipt_times.is_empty() && rng.random_range(0..3) == 0 {
                    receipt_times[rng.random_range(0..receipt_times.len())]
                } else {
                    ts
                };
                receipt_times.push(at);
                receipt(&format!("I{n:03}"), s, sku, at, rng.random_range(20..1500))
            }
            92..94 => movement(&format!("C{n:03}"), s, sku, ts, InventoryKind::Count, rng.random_range(0..40)),
            94..95 => movement(&format!("A{n:03}"), s, sku, ts, InventoryKind::Adjustment, rng.random_range(-5..0)),
            95..96 => movement(&format!("O{n:03}"), s, sku, ts, InventoryKind::TransferOut, rng.random_range(1..8)),
            96..97 => movement(&format!("N{n:03}"), s, sku, ts, InventoryKind::TransferIn, rng.random_range(1..8)),
            97..99 => {
                product(skus[rng.random_range(0..3)], rng.random_range(20..900), Some(ts), Some(&format!("P{n}")))
            }
            _ => void(&format!("V{n}"), s, ts, "T0", VoidScope::Line),
        };
        events.push(event);
    }
    let epochs = rng.random_range(1..7u64);
    let mut stamped: Vec<(Epoch, Event)> = Vec::new();
    let mut epoch = 1;
    for (i, event) in events.into_iter().enumerate() {
        if i < reference_count {
            stamped.push((0, event));
            continue;
        }
        if epoch < epochs && rng.random_range(0..4) == 0 {
            epoch += 1;
        }
        stamped.push((epoch, event));
    }
    stamped
}

fn check_every_epoch(stamped: &[(Epoch, Event)]) {
    let mut epochs: Vec<Epoch> = stamped.iter().map(|(e, _)| *e).collect();
    epochs.dedup();
    let expected = |view: &str| -> Vec<Vec<String>> {
        epochs
            .iter()
            .map(|at| {
                let so_far: Vec<&Event> = stamped.iter().filter(|(e, _)| e <= at).map(|(_, ev)| ev).collect();
                rows(&reference(&so_far, view))
            })
            .collect()
    };
    let (margins, stock) = (expected("sku_margin"), expected("inventory_position"));
    for workers in [1, 2] {
        let output = run_prepared(stamped, workers);
        let margin_states = states_at(output.changes::<SkuMargin>(), &epochs);
        let stock_states = states_at(output.changes::<InventoryPosition>(), &epochs);
        for (i, at) in epochs.iter().enumerate() {
            let actual = rows(&[SkuMargin::to_batch(&margin_states[i])]);
            assert_eq!(
                actual, margins[i],
                "sku_margin differs from the reference at epoch {at} with {workers} worker(s)"
            );
            let actual = rows(&[InventoryPosition::to_batch(&stock_states[i])]);
            assert_eq!(
                actual, stock[i],
                "inventory_position differs from the reference at epoch {at} with {workers} worker(s)"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn views_equal_their_references_at_every_epoch(seed in any::<u64>()) {
        check_every_epoch(&random_stream(seed));
    }
}

#[test]
fn hand_computed_day() {
    let at = |h: i64| BASE + 14 * 3_600_000 + h * 60_000; // 09:00 New York, plus minutes
    let stamped = vec![
        (0, store("S1", "America/New_York")),
        (0, product("K1", 300, None, None)),
        (1, sale("T1", "S1", at(0), vec![line(1, "K1", 2, 1000, 100, true)])),
        (1, receipt("I1", "S1", "K1", at(60), 400)),
        (2, sale("T2", "S1", at(120), vec![line(1, "K1", 1, 1000, 0, false)])),
        (2, sale("T3", "S1", at(130), vec![line(1, "K1", 5, 1000, 0, false)])),
        (3, refund("R1", "S1", at(180), Some("T1"), "K1", 1, 1000)),
        (3, void("V1", "S1", at(140), "T3", VoidScope::Post)),
        // Late: a receipt at the same instant as I1 with a greater event_id reprices T2, not T1.
        (4, receipt("I2", "S1", "K1", at(60), 450)),
    ];
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<SkuMargin>(), &[1, 2, 3, 4]);
    let day = tillflow_schemas::time::date_to_day(chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap());
    let row = |units_sold, units_returned, gross, discounts, refunds, cogs, promo_units| SkuMargin {
        store_id: "S1".into(),
        sku: "K1".into(),
        business_date: day,
        units_sold,
        units_returned,
        gross_sales: Cents(gross),
        discounts: Cents(discounts),
        refunds: Cents(refunds),
        cogs: Cents(cogs),
        promo_units,
    };
    // T1 before any receipt: catalog cost 3.00 × 2.
    assert_eq!(states[0], vec![row(2, 0, 2000, 100, 0, 600, 2)]);
    // T2 at 4.00, T3 at 4.00.
    assert_eq!(states[1], vec![row(8, 0, 8000, 100, 0, 600 + 400 + 2000, 2)]);
    // T3 post-voided; refund of one unit at 11:00, priced at the receipt in force (4.00).
    assert_eq!(states[2], vec![row(3, 1, 3000, 100, 1000, 600 + 400 - 400, 2)]);
    // The late receipt wins the tie at 10:00: T2 and the refund now cost 4.50.
    let last = &states[3][0];
    assert_eq!(last, &row(3, 1, 3000, 100, 1000, 600 + 450 - 450, 2));
    assert_eq!(last.net_sales(), Cents(1900));
    assert_eq!(last.gross_margin(), Cents(1300));
    assert_eq!(last.margin_pct(), Some(13.0 / 19.0));
}

#[test]
fn hand_computed_stock() {
    let at = |day: i64, h: i64| BASE + day * DAY + (14 + h) * 3_600_000; // 09:00 New York + h hours
    let one = |qty| vec![line(1, "K1", qty, 1000, 0, false)];
    let stamped = vec![
        (0, store("S1", "America/New_York")),
        (1, movement("C1", "S1", "K1", at(0, 0), InventoryKind::Count, 20)),
        (1, sale("T1", "S1", at(0, 1), one(3))),
        (1, movement("I1", "S1", "K1", at(0, 2), InventoryKind::TransferOut, 4)),
        (2, sale("T2", "S1", at(1, 1), one(5))),
        (2, refund("R1", "S1", at(1, 2), Some("T1"), "K1", 1, 1000)),
        (3, void("V1", "S1", at(1, 3), "T2", VoidScope::Post)),
        // A count arriving late, before the transfer: only movements after it count.
        (4, movement("C2", "S1", "K1", at(0, 1) + 1, InventoryKind::Count, 16)),
        (5, sale("T3", "S1", at(20, 0), one(30))),
    ];
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<InventoryPosition>(), &[1, 2, 3, 4, 5]);
    let day =
        |d: i64| tillflow_schemas::time::date_to_day(chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()) + d as i32;
    let on = |state: &Vec<InventoryPosition>| (state[0].on_hand, state[0].units_sold_window, state[0].as_of_date);
    assert_eq!(on(&states[0]), (20 - 3 - 4, 3, Some(day(0))));
    assert_eq!(on(&states[1]), (13 - 5 + 1, 8, Some(day(1))));
    assert_eq!(on(&states[2]), (13 + 1, 3, Some(day(1))), "the post-voided sale leaves stock and demand");
    assert_eq!(on(&states[3]), (16 - 4 + 1, 3, Some(day(1))));
    // Twenty days on, only the new sale is within the 14-day window; stock is negative.
    let last = &states[4][0];
    assert_eq!((last.on_hand, last.units_sold_window, last.as_of_date), (13 - 30, 30, Some(day(20))));
    assert!(last.negative_stock() && last.reorder());
    assert_eq!(last.days_of_cover(), Some(-17.0 / (30.0 / 14.0)));
}
