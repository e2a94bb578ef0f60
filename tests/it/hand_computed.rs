//! Hand-computed expectations for each view's rules and flags.

use chrono::TimeZone;
use tillflow::dataflow::states_at;
use tillflow_schemas::views::{
    Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RegisterAnomaly, Rule, RuleBreak, Severity,
    SkuMargin, StaffingStatus,
};
use tillflow_schemas::*;

use tillflow_testkit::events::*;
use tillflow_testkit::support::run_prepared;

/// An instant at New York local time on `BASE`'s day plus `d` days.
fn new_york(d: i64, hour: u32, minute: u32) -> i64 {
    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 7).unwrap() + chrono::Days::new(d as u64);
    let local = date.and_hms_opt(hour, minute, 0).unwrap();
    chrono_tz::America::New_York.from_local_datetime(&local).single().unwrap().timestamp_millis()
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
    assert!(last.negative_stock && last.reorder);
    assert_eq!(last.days_of_cover.map(|d| d.0), Some(-17.0 / (30.0 / 14.0)));
}

#[test]
fn each_rule_with_its_evidence_and_retraction() {
    let at = |h| new_york(0, h, 0);
    let one = |qty, price| vec![line(1, "K1", qty, price, 0, false)];
    let stamped = vec![
        (0, store("S1", "America/New_York")),
        (1, sale_by("T1", "S1", at(9), "k", Some(TenderKind::Card), one(2, 1000))),
        (1, refund_by("R1", "S1", at(10), "k", TenderKind::Cash, Some("T1"), ("K1", 2, 2500))),
        (1, refund_by("R2", "S1", at(10), "j", TenderKind::Card, Some("T9"), ("K1", 1, 100))),
        (1, sale_by("T2", "S1", at(11), "j", Some(TenderKind::Cash), one(1, 500))),
        (1, void_by("V2", "S1", at(11) + 60_000, "m", "T2", VoidScope::Post)),
        (1, sale_by("T3", "S1", at(12), "j", None, one(1, 700))),
        (1, void_by("V3", "S1", at(12) + 60_000, "m", "T3", VoidScope::Post)),
        // The cited sale arrives late: R2 no longer breaks a rule ...
        (2, sale_by("T9", "S1", at(8), "m", Some(TenderKind::Card), one(1, 100))),
        // ... until that sale is post-voided.
        (3, void_by("V9", "S1", at(13), "m", "T9", VoidScope::Post)),
    ];
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<RuleBreak>(), &[1, 2, 3]);
    let rules = |state: &Vec<RuleBreak>| -> Vec<(Rule, Option<String>, String, i64)> {
        state
            .iter()
            .map(|r| (r.rule, r.refund_id.as_ref().map(|i| i.to_string()), r.transaction_id.to_string(), r.amount.0))
            .collect()
    };
    let r1 = |rule| (rule, Some("R1".to_string()), "T1".to_string(), 2500);
    let r2 = (Rule::RefundWithoutSale, Some("R2".to_string()), "T9".to_string(), 100);
    let v2 = (Rule::PostVoidAfterTender, None, "T2".to_string(), 500);
    let v9 = (Rule::PostVoidAfterTender, None, "T9".to_string(), 100);
    let mut first = vec![
        r1(Rule::RefundAboveOriginal),
        r1(Rule::CashRefundOfCardSale),
        r1(Rule::RefundBySameCashier),
        r2.clone(),
        v2.clone(),
    ];
    first.sort();
    let sorted = |mut v: Vec<(Rule, Option<String>, String, i64)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(rules(&states[0])), first, "the untendered T3 breaks nothing");
    assert_eq!(sorted(rules(&states[1])), sorted(first.iter().filter(|r| **r != r2).cloned().collect()));
    assert_eq!(sorted(rules(&states[2])), sorted([first.clone(), vec![v9]].concat()));
    let cashier = |state: &Vec<RuleBreak>, refund: &str| {
        state.iter().find(|r| r.refund_id.as_deref() == Some(refund)).map(|r| r.cashier_id.to_string())
    };
    assert_eq!(cashier(&states[0], "R2").as_deref(), Some("j"), "a refund's break belongs to the refunding cashier");

    let exceptions = states_at(output.changes::<Exception>(), &[3]).remove(0);
    let phantom = exceptions.iter().find(|e| e.kind == "refund_without_sale").unwrap();
    assert_eq!((phantom.subject.as_str(), phantom.severity, phantom.district.as_str()), ("R2", Severity::High, "D1"));
    assert_eq!(phantom.evidence, "refund R2 by j cites sale T9");
}

#[test]
fn a_cashier_far_above_the_district_median_is_flagged() {
    // Five cashiers, 40 sales each on one day; line voids 1, 1, 2, 2 and 16.
    let mut stamped = vec![(0, store("S1", "America/New_York"))];
    for (c, (cashier, voids)) in [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 16)].into_iter().enumerate() {
        for n in 0..40 {
            let id = format!("T{c}-{n}");
            let ts = new_york(0, 9, 0) + (c as i64 * 40 + n) * 60_000;
            stamped.push((
                1,
                sale_by(&id, "S1", ts, cashier, Some(TenderKind::Card), vec![line(1, "K1", 1, 1000, 0, false)]),
            ));
            if n < voids {
                stamped.push((1, void_by(&format!("V{c}-{n}"), "S1", ts - 1000, cashier, &id, VoidScope::Line)));
            }
        }
    }
    let output = run_prepared(&stamped, 2);
    let state = states_at(output.changes::<RefundVoidAnomaly>(), &[1]).remove(0);
    let e = state.iter().find(|r| r.cashier_id == "e").unwrap();
    assert_eq!((e.week.transactions, e.week.line_voids), (40, 16));
    assert_eq!(e.median[0].map(|m| m.0), Some(0.05));
    assert_eq!(e.mad[0].map(|m| m.0), Some(0.025));
    assert_eq!(e.pooled[0].map(|m| m.0), Some(22.0 / 200.0));
    // The expected rate is the pooled 0.11 (above the median): (0.40 − 0.05) / max(1.4826 × 0.025, √(0.11 / 40))
    let z = e.z[0].unwrap().0;
    assert!((z - 0.35 / (0.11f64 / 40.0).sqrt()).abs() < 1e-9, "z = {z}");
    // 16 voids where 4.4 were expected: 2 (√16 − √4.4)
    let count_z = tillflow_operators::refund_void_anomalies::count_z(e, 0).unwrap();
    assert!((count_z - 2.0 * (4.0 - 4.4f64.sqrt())).abs() < 1e-9, "count z = {count_z}");
    assert_eq!(e.flag_names(), vec!["line_void_rate"]);
    assert!(state.iter().filter(|r| r.cashier_id != "e").all(|r| r.flags == 0));

    let exceptions = states_at(output.changes::<Exception>(), &[1]).remove(0);
    let voids: Vec<&Exception> = exceptions.iter().filter(|x| x.kind == "excess_voids").collect();
    assert_eq!(voids.len(), 1);
    assert_eq!((voids[0].subject.as_str(), voids[0].severity), ("e", Severity::Medium), "z below 7 is medium");
    assert!(
        voids[0].evidence.starts_with("line_void_rate 40.0% over 7 days (40 transactions), district median 5.0%"),
        "{}",
        voids[0].evidence
    );
}

#[test]
fn a_register_far_above_the_store_s_other_registers_is_flagged() {
    // Three registers, 40 sales each, one cashier per register; R1 and R2 each refund one sale
    // with its receipt, R3 rings 16 refunds without receipt, by all three cashiers in turn.
    let mut stamped = vec![(0, store("S1", "America/New_York"))];
    let one = || vec![line(1, "K1", 1, 1000, 0, false)];
    for (r, (register, cashier)) in [("R1", "a"), ("R2", "b"), ("R3", "c")].into_iter().enumerate() {
        for n in 0..40 {
            let ts = new_york(0, 9, 0) + (r as i64 * 40 + n) * 60_000;
            let sale = sale_by(&format!("T{r}-{n}"), "S1", ts, cashier, Some(TenderKind::Card), one());
            stamped.push((1, with_register(sale, register)));
        }
    }
    for (r, (register, cashier)) in [("R1", "b"), ("R2", "c")].into_iter().enumerate() {
        let refund = refund_by(
            &format!("F{r}"),
            "S1",
            new_york(0, 18, 0),
            cashier,
            TenderKind::Card,
            Some(&format!("T{r}-0")),
            ("K1", 1, 1000),
        );
        stamped.push((1, with_register(refund, register)));
    }
    for n in 0..16 {
        let cashier = ["a", "b", "c"][n % 3];
        let refund = refund_by(
            &format!("N{n}"),
            "S1",
            new_york(0, 19, n as u32),
            cashier,
            TenderKind::Cash,
            None,
            ("K1", 1, 1000),
        );
        stamped.push((1, with_register(refund, "R3")));
    }
    // Later, 100 more sales on R3 bring its rate back within reach of the others'.
    for n in 40..140 {
        let sale = sale_by(&format!("T2-{n}"), "S1", new_york(0, 20, 0) + n, "c", Some(TenderKind::Card), one());
        stamped.push((2, with_register(sale, "R3")));
    }
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<RegisterAnomaly>(), &[1, 2]);
    let r3 = states[0].iter().find(|r| r.register_id == "R3").unwrap();
    assert_eq!((r3.week.transactions, r3.week.refunds, r3.week.no_receipt_refunds, r3.cashiers), (40, 16, 16, 3));
    assert_eq!((r3.others.transactions, r3.others.refunds, r3.others.no_receipt_refunds), (80, 2, 0));
    // The expected rate counts one event more than the others had. Refunds: 16 where
    // 40 × 3/80 = 1.5 were expected, 2 (√16 − √1.5); without receipt 40 × 1/80: 2 (√16 − √0.5).
    let z = |i: usize| r3.z[i].unwrap().0;
    assert!((z(2) - 2.0 * (4.0 - 1.5f64.sqrt())).abs() < 1e-9, "refund z = {}", z(2));
    assert!((z(3) - 2.0 * (4.0 - 0.5f64.sqrt())).abs() < 1e-9, "no-receipt z = {}", z(3));
    assert_eq!(r3.flag_names(), vec!["refund_rate", "no_receipt_refund_rate"]);
    assert!(states[0].iter().filter(|r| r.register_id != "R3").all(|r| r.flags == 0));
    let r1 = states[0].iter().find(|r| r.register_id == "R1").unwrap();
    assert_eq!((r1.others.transactions, r1.others.refunds, r1.cashiers), (80, 17, 2));

    // 16 refunds in 140 sales where 5.25 were expected: 2 (√16 − √5.25) = 3.4, no longer flagged;
    // without receipt 1.75 were expected: 2 (√16 − √1.75) = 5.4, still flagged.
    let r3 = states[1].iter().find(|r| r.register_id == "R3").unwrap();
    assert_eq!((r3.week.transactions, r3.flag_names()), (140, vec!["no_receipt_refund_rate"]));
    assert!((r3.z[2].unwrap().0 - 2.0 * (4.0 - 5.25f64.sqrt())).abs() < 1e-9);

    let exceptions = states_at(output.changes::<Exception>(), &[1, 2]);
    let flagged: Vec<&Exception> = exceptions[0].iter().filter(|x| x.kind.starts_with("register_")).collect();
    assert_eq!(flagged.len(), 1);
    let e = flagged[0];
    assert_eq!((e.kind.as_str(), e.subject.as_str(), e.severity), ("register_refunds", "R3", Severity::Medium));
    assert_eq!(e.amount, Some(Cents(16_000)));
    assert_eq!(
        e.evidence,
        "refund_rate 40.0% over 7 days (40 transactions, 3 cashiers), other registers 2.5%, z 5.6; \
         no_receipt_refund_rate 40.0% over 7 days (40 transactions, 3 cashiers), other registers 0.0%, z 6.6"
    );
    let later: Vec<&Exception> = exceptions[1].iter().filter(|x| x.kind.starts_with("register_")).collect();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].exception_id, e.exception_id, "the same exception, its figures changed");
    assert_eq!(
        later[0].evidence,
        "no_receipt_refund_rate 11.4% over 7 days (140 transactions, 3 cashiers), other registers 0.0%, z 5.4"
    );
}

#[test]
fn staff_on_clock_from_shifts_and_the_hours_they_leave_short() {
    let at = new_york;
    let one = || vec![line(1, "K1", 1, 1000, 0, false)];
    let mut stamped = vec![
        (0, store("S1", "America/New_York")),
        (1, shift("H1", "S1", "a", at(0, 9, 0), true)),
        (1, shift("H2", "S1", "a", at(0, 11, 30), false)),
        (1, shift("H3", "S1", "b", at(0, 10, 15), true)),
        (1, refund("R1", "S1", at(0, 10, 50), None, "K1", 1, 500)),
    ];
    for n in 0..40 {
        stamped.push((1, sale(&format!("T{n}"), "S1", at(0, 10, n), one())));
    }
    // After 13:00 nobody is on the clock (b's open shift runs to the watermark).
    for n in 0..20 {
        stamped.push((1, sale(&format!("U{n}"), "S1", at(0, 13, n), one())));
        stamped.push((1, sale(&format!("V{n}"), "S1", at(0, 14, n), one())));
    }
    // b clocks out; a week later, the same hour is forecast from this one.
    stamped.push((2, shift("H4", "S1", "b", at(0, 12, 30), false)));
    for n in 0..14 {
        stamped.push((3, sale(&format!("W{n}"), "S1", at(7, 10, n), one())));
    }
    let output = run_prepared(&stamped, 2);
    let states = states_at(output.changes::<LaborDemand>(), &[1, 2, 3]);
    let hour = |state: &Vec<LaborDemand>, d: i64, h: u8| {
        state.iter().find(|r| r.business_date == day(d) && r.hour == h).cloned()
    };

    let ten = hour(&states[0], 0, 10).unwrap();
    assert_eq!((ten.transactions, ten.items, ten.net_sales), (40, 40, Cents(39_500)));
    assert_eq!(ten.staff_on_clock(), 1.75, "a all hour, b from 10:15");
    assert_eq!((ten.required_staff.0, ten.status), (40.0 / 14.0, StaffingStatus::Understaffed));
    assert_eq!(ten.gap(), 1.75 - 40.0 / 14.0);
    assert_eq!(ten.transactions_per_labor_hour(), Some(40.0 / 1.75));
    assert_eq!(hour(&states[0], 0, 9).unwrap().staff_on_clock(), 1.0);
    assert_eq!(hour(&states[0], 0, 11).unwrap().staff_on_clock(), 1.5);
    // b's open shift runs to the watermark, 13:19 (the latest event, 14:19, less an hour).
    assert_eq!(hour(&states[0], 0, 12).unwrap().staff_on_clock(), 1.0);
    let one_pm = hour(&states[0], 0, 13).unwrap();
    assert_eq!((one_pm.staff_on_clock(), one_pm.status), (19.0 / 60.0, StaffingStatus::Understaffed));
    let nine = hour(&states[0], 0, 9).unwrap();
    assert_eq!(
        (nine.required_staff.0, nine.status),
        (0.0, StaffingStatus::Ok),
        "one person before opening is not overstaffing"
    );

    let exceptions = states_at(output.changes::<Exception>(), &[1, 2]);
    let short = exceptions[0].iter().find(|e| e.kind == "understaffed_peak").expect("3 understaffed hours");
    assert_eq!((short.subject.as_str(), short.business_date, short.severity), ("S1", day(0), Severity::Medium));
    assert!(
        short.evidence.starts_with("10:00 40 transactions, 1.8 staff on clock, 2.9 required"),
        "{}",
        short.evidence
    );

    assert_eq!(hour(&states[1], 0, 12).unwrap().staff_on_clock(), 0.5, "b clocked out at 12:30");
    let later = exceptions[1].iter().find(|e| e.kind == "understaffed_peak").unwrap();
    assert_eq!(later.exception_id, short.exception_id, "the same exception keeps its id");

    let week_on = hour(&states[2], 7, 10).unwrap();
    assert_eq!((week_on.history_transactions, week_on.history_weeks), (40, 1));
    assert_eq!(week_on.forecast_transactions(), Some(40.0));
    assert_eq!(week_on.required_staff.0, 40.0 / 14.0, "the forecast of 40 outweighs the 14 seen so far");
}
