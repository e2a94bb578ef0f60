//! Events for the view tests: small constructors, and random streams that exercise every view.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow::source::Epoch;
use tillflow_schemas::*;

pub const DAY: i64 = 86_400_000;
pub const HOUR: i64 = 3_600_000;
pub const BASE: i64 = 1_772_841_600_000; // 2026-03-07T00:00:00Z, a Saturday

/// The business day of `BASE` plus `d` days.
pub fn day(d: i64) -> Day {
    tillflow_schemas::time::date_to_day(chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()) + d as i32
}

pub fn store(id: &str, tz: &str) -> Event {
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

pub fn product(sku: &str, cost: i64, ts: Option<i64>, event_id: Option<&str>) -> Event {
    Event::Product(Product {
        event_id: event_id.map(Text::from),
        ts,
        sku: sku.into(),
        name: sku.into(),
        category: "c".into(),
        department: "d".into(),
        unit_cost: Cents(cost),
        list_price: Cents(cost * 2),
        supply: supply_of(cost),
    })
}

/// How a product of catalog cost `cost` is reordered: a third without a word (the defaults),
/// the others from one of two suppliers, with a lead time of 0..=8 days and a case of 1..=6.
fn supply_of(cost: i64) -> Supply {
    if cost % 3 == 0 {
        return Supply::default();
    }
    Supply {
        supplier: Some(["V1", "V2"][(cost % 2) as usize].into()),
        lead_time_days: Some(cost % 9),
        case_pack: Some(1 + cost % 6),
    }
}

/// A sale by cashier `k`, paid by card.
pub fn sale(id: &str, store: &str, ts: i64, lines: Vec<SaleLine>) -> Event {
    sale_by(id, store, ts, "k", Some(TenderKind::Card), lines)
}

/// A sale rung by `cashier`, paid in full with `tender` (or not tendered).
pub fn sale_by(
    id: &str,
    store: &str,
    ts: i64,
    cashier: &str,
    tender: Option<TenderKind>,
    lines: Vec<SaleLine>,
) -> Event {
    let total: i64 = lines.iter().map(|l| l.qty * l.unit_price.0 - l.discount.0).sum();
    Event::Sale(Sale {
        event_id: format!("e-{id}").into(),
        ts,
        store_id: store.into(),
        transaction_id: id.into(),
        register_id: register_for(id),
        cashier_id: cashier.into(),
        customer_ref: None,
        lines,
        tenders: tender.map(|kind| Tender { kind, amount: Cents(total) }).into_iter().collect(),
        revision: None,
    })
}

pub fn line(no: u32, sku: &str, qty: i64, price: i64, discount: i64, promo: bool) -> SaleLine {
    SaleLine {
        line_no: no,
        sku: sku.into(),
        qty,
        unit_price: Cents(price),
        discount: Cents(discount),
        promo_id: promo.then(|| "P".into()),
    }
}

/// A refund by cashier `k` to a card.
pub fn refund(id: &str, store: &str, ts: i64, original: Option<&str>, sku: &str, qty: i64, amount: i64) -> Event {
    refund_by(id, store, ts, "k", TenderKind::Card, original, (sku, qty, amount))
}

pub fn refund_by(
    id: &str,
    store: &str,
    ts: i64,
    cashier: &str,
    tender_kind: TenderKind,
    original: Option<&str>,
    (sku, qty, amount): (&str, i64, i64),
) -> Event {
    Event::Refund(Refund {
        event_id: format!("e-{id}").into(),
        ts,
        store_id: store.into(),
        refund_id: id.into(),
        register_id: register_for(id),
        cashier_id: cashier.into(),
        original_transaction_id: original.map(Text::from),
        lines: vec![RefundLine { sku: sku.into(), qty, amount: Cents(amount) }],
        tender_kind,
        reason: None,
    })
}

pub fn void(id: &str, store: &str, ts: i64, transaction: &str, scope: VoidScope) -> Event {
    void_by(id, store, ts, "k", transaction, scope)
}

/// A void by `cashier`; a line void removes one line.
pub fn void_by(id: &str, store: &str, ts: i64, cashier: &str, transaction: &str, scope: VoidScope) -> Event {
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
        register_id: register_for(id),
        cashier_id: cashier.into(),
        scope,
        lines,
    })
}

pub fn receipt(id: &str, store: &str, sku: &str, ts: i64, cost: i64) -> Event {
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

pub fn movement(id: &str, store: &str, sku: &str, ts: i64, kind: InventoryKind, qty: i64) -> Event {
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

/// The same sale, made with a loyalty card.
/// The register an event is rung on: one of three, spread by its id, so a stream's registers vary
/// apart from its cashiers ([`with_register`] chooses one).
fn register_for(id: &str) -> Id {
    format!("r{}", id.bytes().map(u32::from).sum::<u32>() % 3).as_str().into()
}

/// The event rung on `register` instead.
pub fn with_register(event: Event, register: &str) -> Event {
    let register_id = Id::from(register);
    match event {
        Event::Sale(sale) => Event::Sale(Sale { register_id, ..sale }),
        Event::Refund(refund) => Event::Refund(Refund { register_id, ..refund }),
        Event::Void(void) => Event::Void(Void { register_id, ..void }),
        other => other,
    }
}

pub fn with_card(event: Event, card: Option<&str>) -> Event {
    match event {
        Event::Sale(sale) => Event::Sale(Sale { customer_ref: card.map(Text::from), ..sale }),
        other => other,
    }
}

pub fn link(id: &str, ts: i64, card: &str, customer: &str, consent: bool) -> Event {
    Event::LoyaltyLink(LoyaltyLink {
        event_id: id.into(),
        ts,
        store_id: None,
        customer_ref: card.into(),
        customer_id: customer.into(),
        consent,
    })
}

pub fn erasure(id: &str, ts: i64, customer: &str) -> Event {
    Event::Erasure(Erasure { event_id: id.into(), ts, store_id: None, customer_id: customer.into() })
}

pub fn shift(id: &str, store: &str, staff: &str, ts: i64, clock_in: bool) -> Event {
    Event::Shift(Shift {
        event_id: id.into(),
        ts,
        store_id: store.into(),
        staff_id: staff.into(),
        role: "cashier".into(),
        kind: if clock_in { ShiftKind::ClockIn } else { ShiftKind::ClockOut },
    })
}

/// A random stream: reference data first (epoch 0), then events in a random arrival order
/// (so many arrive late), split into 1..=6 epochs at random. `size` bounds the number of events.
pub fn random_stream(seed: u64, size: std::ops::Range<u32>) -> Vec<(Epoch, Event)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stores = [("S1", "America/New_York"), ("S2", "America/Los_Angeles")];
    let skus = ["K1", "K2", "K3", "K4"]; // K4 has no catalog record: it costs 0 without a receipt
    let cashiers = ["k", "j", "m"];
    let tenders = [Some(TenderKind::Card), Some(TenderKind::Cash), None];
    let cards = [Some("L1"), Some("L2"), Some("L3"), Some("L4"), None];
    let mut events: Vec<Event> = stores.iter().map(|(s, tz)| store(s, tz)).collect();
    for (i, sku) in skus[..3].iter().enumerate() {
        events.push(product(sku, 100 + 50 * i as i64, None, None));
    }
    // Two promotions from the start, one on a SKU, one on a category.
    for (id, target) in [("PR1", PromoTarget::Sku("K1".into())), ("PR2", PromoTarget::Category("c".into()))] {
        let (start, end) = (BASE, BASE + 7 * DAY);
        events.push(Event::Promotion(Promotion {
            event_id: None,
            ts: None,
            promo_id: id.into(),
            target,
            start,
            end,
            discount_bp: 1250,
        }));
    }
    // Most cards are linked from the start; L4 never is.
    for (i, card) in ["L1", "L2", "L3"].iter().enumerate() {
        events.push(link(&format!("L-{card}"), BASE - DAY, card, ["C1", "C2", "C1"][i], true));
    }
    let reference_count = events.len();
    let mut sales: Vec<(String, &str)> = Vec::new();
    let mut receipt_times: Vec<i64> = Vec::new();
    let days = rng.random_range(2..20);
    let count = rng.random_range(size);
    // Revisions of sales still to come, in order.
    let mut revisions: std::collections::VecDeque<Event> = Default::default();
    for n in 0..count {
        if !revisions.is_empty() && rng.random_range(0..6) == 0 {
            events.extend(revisions.pop_front());
        }
        let s = stores[rng.random_range(0..2)].0;
        let sku = skus[rng.random_range(0..4)];
        let cashier = cashiers[rng.random_range(0..3)];
        // Cluster around local midnights so business days split where they should.
        let ts = BASE + rng.random_range(0..days) * DAY + rng.random_range(3..10) * HOUR + rng.random_range(0..HOUR);
        let event = match rng.random_range(0..100) {
            0..42 => {
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
                        let line = line(
                            k + 1,
                            skus[rng.random_range(0..4)],
                            qty,
                            price,
                            discount,
                            rng.random_range(0..3) == 0,
                        );
                        // Promoted lines cite either promotion (sometimes the other one than their SKU's).
                        SaleLine { promo_id: line.promo_id.map(|_| ["PR1", "PR2"][k as usize % 2].into()), ..line }
                    })
                    .collect();
                sales.push((id.clone(), s));
                let card = cards[rng.random_range(0..cards.len())];
                let sale = with_card(sale_by(&id, s, ts, cashier, tenders[rng.random_range(0..3)], lines), card);
                match rng.random_range(0..8) {
                    // A sale its POS edits later: revision 3 changes its lines and comes later;
                    // sometimes revision 2, older, comes after it (superseded already), and
                    // sometimes revision 4 says the same as 3 (a redelivery).
                    0 => {
                        let revised = |revision: u64, lines: Vec<SaleLine>| match &sale {
                            Event::Sale(sale) => Event::Sale(Sale { revision: Some(revision), lines, ..sale.clone() }),
                            _ => unreachable!("a sale"),
                        };
                        let Event::Sale(first) = &sale else { unreachable!("a sale") };
                        let mut edited = first.lines.clone();
                        match rng.random_range(0..3) {
                            0 if edited.len() > 1 => {
                                edited.pop();
                            }
                            1 => edited[0].qty += 1,
                            _ => edited.push(line(
                                edited.len() as u32 + 1,
                                skus[rng.random_range(0..4)],
                                1,
                                300,
                                0,
                                false,
                            )),
                        }
                        revisions.push_back(revised(3, edited.clone()));
                        if rng.random_range(0..3) == 0 {
                            let mut older = edited.clone();
                            older[0].discount = Cents(older[0].discount.0 / 2);
                            revisions.push_back(revised(2, older));
                        }
                        if rng.random_range(0..3) == 0 {
                            revisions.push_back(revised(4, edited));
                        }
                        revised(1, first.lines.clone())
                    }
                    _ => sale,
                }
            }
            42..54 => {
                let original = (!sales.is_empty() && rng.random_range(0..3) > 0)
                    .then(|| sales[rng.random_range(0..sales.len())].0.clone())
                    .or_else(|| (rng.random_range(0..3) == 0).then(|| format!("T{}", n + 1)));
                let tender = [TenderKind::Cash, TenderKind::Card][rng.random_range(0..2)];
                let line = (sku, rng.random_range(1..3), rng.random_range(10..3000));
                refund_by(&format!("R{n}"), s, ts, cashier, tender, original.as_deref(), line)
            }
            54..64 if !sales.is_empty() => {
                let (tx, tx_store) = sales[rng.random_range(0..sales.len())].clone();
                void_by(&format!("V{n}"), tx_store, ts, cashier, &tx, VoidScope::Post)
            }
            64..67 => void(&format!("V{n}"), s, ts, &format!("T{}", n + 1), VoidScope::Post), // a post-void before its sale arrives
            67..77 => {
                // Sometimes at exactly the time of an earlier receipt: the greater event_id wins.
                let at = if !receipt_times.is_empty() && rng.random_range(0..3) == 0 {
                    receipt_times[rng.random_range(0..receipt_times.len())]
                } else {
                    ts
                };
                receipt_times.push(at);
                receipt(&format!("I{n:03}"), s, sku, at, rng.random_range(20..1500))
            }
            77..79 => movement(&format!("C{n:03}"), s, sku, ts, InventoryKind::Count, rng.random_range(0..40)),
            79..80 => movement(&format!("A{n:03}"), s, sku, ts, InventoryKind::Adjustment, rng.random_range(-5..0)),
            80..81 => movement(&format!("O{n:03}"), s, sku, ts, InventoryKind::TransferOut, rng.random_range(1..8)),
            81..82 => movement(&format!("N{n:03}"), s, sku, ts, InventoryKind::TransferIn, rng.random_range(1..8)),
            82..84 if rng.random_range(0..2) == 0 => {
                // A promotion, new or changed, on a SKU or a category.
                let id = ["PR1", "PR2"][rng.random_range(0..2)];
                let target = match rng.random_range(0..2) {
                    0 => PromoTarget::Sku(skus[rng.random_range(0..4)].into()),
                    _ => PromoTarget::Category("c".into()),
                };
                let event_id = (rng.random_range(0..4) > 0).then(|| Text::from(format!("M{n}")));
                Event::Promotion(Promotion {
                    event_id,
                    ts: Some(ts),
                    promo_id: id.into(),
                    target,
                    start: ts,
                    end: ts + rng.random_range(1..10) * DAY,
                    discount_bp: rng.random_range(100..5000),
                })
            }
            82..84 => {
                product(skus[rng.random_range(0..3)], rng.random_range(20..900), Some(ts), Some(&format!("P{n}")))
            }
            84..89 => {
                let tx = sales.last().map_or("T0".to_string(), |(id, _)| id.clone());
                void_by(&format!("V{n}"), s, ts, cashier, &tx, VoidScope::Line)
            }
            89..95 => {
                let staff = ["a", "b"][rng.random_range(0..2)];
                shift(&format!("H{n:03}"), s, staff, ts, rng.random_range(0..10) < 6)
            }
            95..98 => {
                // Cards link to customers, move between them, and lose consent.
                let card = cards[rng.random_range(0..3)].unwrap_or("L1");
                let customer = ["C1", "C2", "C3"][rng.random_range(0..3)];
                link(&format!("L{n:03}"), ts, card, customer, rng.random_range(0..4) > 0)
            }
            98 => {
                // A store moves to another district mid-stream (its time zone stays).
                let (id, tz) = stores[rng.random_range(0..2)];
                let district = ["D1", "D2"][rng.random_range(0..2)];
                Event::Store(Store {
                    event_id: Some(format!("M{n:03}").into()),
                    ts: Some(ts),
                    district: district.into(),
                    ..match store(id, tz) {
                        Event::Store(s) => s,
                        _ => unreachable!("store() makes a store"),
                    }
                })
            }
            _ => erasure(&format!("X{n:03}"), ts, ["C1", "C2", "C3"][rng.random_range(0..3)]),
        };
        events.push(event);
    }
    events.extend(revisions);
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

/// A stream of `days` business days of two stores, arriving roughly in time order (events up to
/// 30 hours late), split into epochs of about two days: long enough for days to leave a short
/// retention. Sales, same-day post-voids and line voids, refunds (some of sales long gone),
/// receipts, counts, transfers, adjustments, shifts, cost changes, links and an erasure.
pub fn long_stream(seed: u64, days: i64) -> Vec<(Epoch, Event)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stores = [("S1", "America/New_York"), ("S2", "America/Los_Angeles")];
    let skus = ["K1", "K2", "K3", "K4"];
    let cashiers = ["k", "j", "m"];
    let cards = [Some("L1"), Some("L2"), Some("L3"), None];
    let mut reference: Vec<Event> = stores.iter().map(|(s, tz)| store(s, tz)).collect();
    reference.extend(skus[..3].iter().enumerate().map(|(i, sku)| product(sku, 100 + 50 * i as i64, None, None)));
    reference.extend(
        ["L1", "L2", "L3"]
            .iter()
            .enumerate()
            .map(|(i, card)| link(&format!("L-{card}"), BASE - DAY, card, ["C1", "C2", "C1"][i], true)),
    );
    let mut timed: Vec<(i64, Event)> = Vec::new();
    let mut sales: Vec<(String, &str)> = Vec::new();
    let mut n = 0;
    for d in 0..days {
        for (s, _) in stores {
            // Midday UTC: the same local day in both stores, so a post-void an hour after its sale
            // is on the sale's business day.
            let at = |rng: &mut ChaCha8Rng| BASE + d * DAY + 13 * HOUR + rng.random_range(0..7 * HOUR);
            let open = BASE + d * DAY + 13 * HOUR;
            let staff = ["a", "b"][rng.random_range(0..2)];
            timed.push((open, shift(&format!("H{n}"), s, staff, open, true)));
            timed.push((open + 7 * HOUR, shift(&format!("H{n}x"), s, staff, open + 7 * HOUR, false)));
            n += 1;
            for _ in 0..rng.random_range(2..7) {
                n += 1;
                let ts = at(&mut rng);
                let cashier = cashiers[rng.random_range(0..3)];
                let event = match rng.random_range(0..100) {
                    0..50 => {
                        let id = format!("T{n}");
                        let lines = (0..rng.random_range(1..3))
                            .map(|k| {
                                let qty = rng.random_range(1..4);
                                let price = rng.random_range(50..2000);
                                line(
                                    k + 1,
                                    skus[rng.random_range(0..4)],
                                    qty,
                                    price,
                                    rng.random_range(0..price / 3),
                                    k == 0,
                                )
                            })
                            .collect();
                        if rng.random_range(0..8) == 0 {
                            let void_at = ts + rng.random_range(1..HOUR);
                            timed.push((void_at, void_by(&format!("V{n}"), s, void_at, cashier, &id, VoidScope::Post)));
                        } else if rng.random_range(0..8) == 0 {
                            timed.push((ts + 1, void_by(&format!("W{n}"), s, ts + 1, cashier, &id, VoidScope::Line)));
                        }
                        sales.push((id.clone(), s));
                        let card = cards[rng.random_range(0..cards.len())];
                        with_card(sale_by(&id, s, ts, cashier, Some(TenderKind::Card), lines), card)
                    }
                    50..60 => {
                        let original = (!sales.is_empty()).then(|| sales[rng.random_range(0..sales.len())].0.clone());
                        let line = (skus[rng.random_range(0..4)], rng.random_range(1..3), rng.random_range(10..3000));
                        refund_by(&format!("R{n}"), s, ts, cashier, TenderKind::Cash, original.as_deref(), line)
                    }
                    60..72 => {
                        receipt(&format!("I{n:04}"), s, skus[rng.random_range(0..4)], ts, rng.random_range(20..1500))
                    }
                    72..78 => movement(
                        &format!("C{n:04}"),
                        s,
                        skus[rng.random_range(0..4)],
                        ts,
                        InventoryKind::Count,
                        rng.random_range(0..40),
                    ),
                    78..81 => movement(
                        &format!("A{n:04}"),
                        s,
                        skus[rng.random_range(0..4)],
                        ts,
                        InventoryKind::Adjustment,
                        rng.random_range(-5..0),
                    ),
                    81..84 => movement(
                        &format!("O{n:04}"),
                        s,
                        skus[rng.random_range(0..4)],
                        ts,
                        InventoryKind::TransferOut,
                        rng.random_range(1..8),
                    ),
                    84..87 => movement(
                        &format!("N{n:04}"),
                        s,
                        skus[rng.random_range(0..4)],
                        ts,
                        InventoryKind::TransferIn,
                        rng.random_range(1..8),
                    ),
                    87..90 => product(
                        skus[rng.random_range(0..3)],
                        rng.random_range(20..900),
                        Some(ts),
                        Some(&format!("P{n}")),
                    ),
                    90..93 => {
                        let card = ["L1", "L2", "L3"][rng.random_range(0..3)];
                        link(
                            &format!("L{n}"),
                            ts,
                            card,
                            ["C1", "C2", "C3"][rng.random_range(0..3)],
                            rng.random_range(0..4) > 0,
                        )
                    }
                    93 => erasure(&format!("X{n}"), ts, ["C1", "C2", "C3"][rng.random_range(0..3)]),
                    _ => sale_by(
                        &format!("T{n}"),
                        s,
                        ts,
                        cashier,
                        Some(TenderKind::Cash),
                        vec![line(1, "K1", 1, 500, 0, false)],
                    ),
                };
                timed.push((ts, event));
            }
        }
    }
    // Arrival: in time order, each event up to 30 hours late.
    let mut arriving: Vec<(i64, Event)> = timed
        .into_iter()
        .map(|(ts, e)| (ts + if rng.random_range(0..5) == 0 { rng.random_range(0..30 * HOUR) } else { 0 }, e))
        .collect();
    arriving.sort_by_key(|(at, _)| *at);
    let mut stamped: Vec<(Epoch, Event)> = reference.into_iter().map(|e| (0, e)).collect();
    stamped.extend(arriving.into_iter().map(|(at, e)| (1 + ((at - BASE) / (2 * DAY)) as Epoch, e)));
    stamped
}
