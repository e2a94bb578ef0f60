//! A file mixing valid and malformed lines: every bad line lands in `dead_letters` with its
//! source, line number, raw text and reason; the run succeeds; the counts reconcile.

use tillflow::run::{RunConfig, run};

use tillflow_testkit::support::rows;

const GOOD_SALE: &str = r#"{"type":"sale","event_id":"e1","ts":"2026-03-07T15:00:00Z","store_id":"S1","transaction_id":"T1","register_id":"R1","cashier_id":"K1","lines":[{"line_no":1,"sku":"A","qty":2,"unit_price":"4.50","discount":0.5}],"tenders":[{"kind":"card","amount":8.5}]}"#;

#[test]
fn bad_lines_are_dead_lettered_with_reasons_and_counts_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    // Three days ahead of this machine's clock, whenever the test runs.
    let ahead = (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let lines = [
        r#"{"type":"store","store_id":"S1","name":"One","district":"D1","region":"East","timezone":"America/New_York"}"#,
        r#"{"type":"product","sku":"A","name":"Apple","category":"Fruit","department":"Produce","unit_cost":1.25,"list_price":4.5}"#,
        GOOD_SALE,
        r#"{"type":"sale","event_id":"e2","ts":"2026-03-07T15:0"#,
        r#"{"type":"teleport","event_id":"e3"}"#,
        r#"{"type":"sale","event_id":"e4","ts":"2026-03-07T15:00:00Z","store_id":"S1","transaction_id":"T4","register_id":"R1","cashier_id":"K1","lines":[{"sku":"A","qty":0,"unit_price":1}]}"#,
        r#"{"type":"sale","event_id":"e5","ts":"2026-03-07T15:00:00Z","store_id":"S1","transaction_id":"T5","register_id":"R1","cashier_id":"K1","lines":[{"sku":"A","qty":1,"unit_price":-3}]}"#,
        r#"{"type":"refund","event_id":"e6","ts":"yesterday","store_id":"S1","refund_id":"F1","register_id":"R1","cashier_id":"K1","lines":[{"sku":"A","qty":1,"amount":1}],"tender_kind":"cash"}"#,
        r#"{"type":"sale","event_id":"e7","ts":"2026-03-07T15:00:00Z","store_id":"S9","transaction_id":"T7","register_id":"R1","cashier_id":"K1","lines":[{"sku":"A","qty":1,"unit_price":1}]}"#,
        GOOD_SALE,
        &GOOD_SALE.replace(r#""qty":2"#, r#""qty":3"#),
        "",
        r#"{"type":"inventory","event_id":"e8","ts":"2026-03-07T12:00:00Z","store_id":"S1","sku":"A","kind":"receipt","qty":10}"#,
        r#"{"type":"shift","event_id":"e9","ts":"2026-03-07T13:00:00Z","store_id":"S1","staff_id":"K1","role":"cashier","kind":"clock_in"}"#,
        r#"{"type":"shift","event_id":"e10","ts":"2026-03-07T21:00:00Z","store_id":"S1","staff_id":"K1","role":"cashier","kind":"clock_out"}"#,
        r#"{"type":"shift","event_id":"e11","ts":"2026-03-07T21:05:00Z","store_id":"S1","staff_id":"K2","role":"cashier","kind":"clock_out"}"#,
        &GOOD_SALE.replace("\"e1\"", "\"e12\"").replace("\"T1\"", "\"T12\"").replace("2026-03-07T15:00:00Z", &ahead),
        &GOOD_SALE.replace("\"e1\"", "\"e13\"").replace("\"T1\"", "\"T13\"").replace("2026-03-07", "2025-01-01"),
    ];
    let input = dir.path().join("mixed.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("views");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config =
        RunConfig::new(vec![input.clone()], out.display().to_string(), 2, tillflow::pseudonyms::Pseudonyms::known());
    let summary = run(&config, &runtime).unwrap();

    let c = summary.counts;
    assert_eq!(c.received, 17, "blank lines are not records");
    assert_eq!((c.accepted, c.duplicates, c.dead_lettered), (5, 1, 11));
    assert_eq!(c.received, c.accepted + c.duplicates + c.dead_lettered);

    let ctx = runtime.block_on(tillflow::sql::open(&summary.out)).unwrap();
    let query = "SELECT source, position, event_id, reason, raw FROM dead_letters ORDER BY position";
    let dead = rows(&runtime.block_on(tillflow::sql::query(&ctx, query)).unwrap());
    let source = input.display().to_string();
    let expect = [
        (4, "malformed JSON", lines[3]),
        (5, "unknown type `teleport`", lines[4]),
        (6, "`lines[0].qty`: a line quantity cannot be zero", lines[5]),
        (7, "`lines[0].unit_price`: -3.00 is negative", lines[6]),
        (8, "`ts`: `yesterday` is not an RFC 3339 timestamp", lines[7]),
        (9, "unknown store `S9`", lines[8]),
        (11, "event_id `e1` was already accepted with different content", lines[10]),
        (13, "`unit_cost` is required on a inventory receipt record", lines[12]),
        (16, "clock_out of staff `K2` at store `S1` without an open clock_in", lines[15]),
        (17, "hours ahead of this machine's clock", lines[16]),
        (18, "ts is 430 days before the latest event, beyond the retention of 400 days", lines[17]),
    ];
    assert_eq!(dead.len(), expect.len(), "{dead:#?}");
    let mut by_position: Vec<(u64, String)> = dead
        .iter()
        .map(|row| {
            let cells: Vec<&str> = row.splitn(5, '|').collect();
            assert_eq!(cells[0], source);
            (cells[1].parse().unwrap(), row.clone())
        })
        .collect();
    by_position.sort();
    for ((position, row), (want_position, reason, raw)) in by_position.iter().zip(expect) {
        assert_eq!(*position, want_position);
        assert!(row.contains(reason), "line {position}: expected reason `{reason}` in {row}");
        let kept = row.splitn(5, '|').nth(4).unwrap();
        assert_eq!(kept, raw, "line {position}: the raw text exactly as received");
    }

    // The good sale counted once: 2 × 4.50 − 0.50, costed at the catalog 1.25.
    let margin = rows(
        &runtime
            .block_on(tillflow::sql::query(&ctx, "SELECT store_id, sku, units_sold, net_sales, cogs FROM sku_margin"))
            .unwrap(),
    );
    assert_eq!(margin, vec!["S1|A|2|8.50|2.50"]);
}

#[test]
fn csv_and_parquet_inputs_read_like_ndjson() {
    use tillflow_schemas::Format;
    use tillflow_schemas::formats::{flat, parquet, read_file};
    use tillflow_schemas::raw::RawEvent;

    let dir = tempfile::tempdir().unwrap();
    let event = RawEvent::from_json(GOOD_SALE.as_bytes()).unwrap().validate().unwrap();
    let rows = flat::to_rows(&event.to_raw());
    assert_eq!(rows.len(), 1);

    let csv_path = dir.path().join("events.csv");
    let mut writer = flat::csv_writer(std::fs::File::create(&csv_path).unwrap()).unwrap();
    writer.write_record(&rows[0]).unwrap();
    drop(writer);
    let mut text = std::fs::read_to_string(&csv_path).unwrap();
    text.push_str("sale,e9,not a time\n");
    std::fs::write(&csv_path, text).unwrap();
    let read: Vec<_> = read_file(&csv_path, Format::Csv).unwrap().collect();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].outcome.as_ref().unwrap(), &event);
    assert_eq!(read[1].position, 3);
    assert!(read[1].outcome.as_ref().unwrap_err().reason.to_string().contains("fields"));

    let parquet_path = dir.path().join("events.parquet");
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&parquet_path).unwrap(),
        parquet::flat_schema(),
        None,
    )
    .unwrap();
    writer.write(&parquet::flat_batch(&rows)).unwrap();
    writer.close().unwrap();
    let read: Vec<_> = read_file(&parquet_path, Format::Parquet).unwrap().collect();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].outcome.as_ref().unwrap(), &event);
}

#[test]
fn dedup_forgets_ids_beyond_the_retention_and_still_counts_nothing_twice() {
    use tillflow::source::{Admission, Ingested};
    use tillflow_schemas::formats::Record;

    use tillflow_testkit::events::{BASE, DAY, line, sale, store};

    let mut admission = Admission::new(DAY, tillflow::pseudonyms::Pseudonyms::known());
    let mut admit = |event: tillflow_schemas::Event| match admission.admit(
        "test",
        Record::new(1, event.to_json().as_bytes(), Ok(event)),
        0,
    ) {
        None => "duplicate".to_string(),
        Some(Ingested::Accepted { .. }) => "accepted".to_string(),
        Some(Ingested::Dead(letter)) => letter.reason,
        Some(Ingested::Known(_) | Ingested::Settled(_)) => "known".to_string(),
        Some(Ingested::Held { .. }) => "held".to_string(),
        Some(Ingested::Retried { .. }) => "retried".to_string(),
    };
    let sale_at = |n: i64, ts: i64| sale(&format!("t{n}"), "S1", ts, vec![line(1, "A", 1, 100, 0, false)]);
    assert_eq!(admit(store("S1", "UTC")), "accepted");
    assert_eq!(admit(sale_at(0, BASE)), "accepted");
    assert_eq!(admit(sale_at(0, BASE)), "duplicate", "remembered while within the retention");
    // Enough later sales that the dedup state is pruned at least once.
    for n in 1..=70_000 {
        assert_eq!(admit(sale_at(n, BASE + 2 * DAY + n)), "accepted");
    }
    let forgotten = admit(sale_at(0, BASE));
    assert!(forgotten.contains("beyond the retention of 1 days"), "refused, not accepted again: {forgotten}");
    assert_eq!(admit(sale_at(70_000, BASE + 2 * DAY + 70_000)), "duplicate");
}

/// Events of a store whose record has not come wait for it (not counted yet), and are judged
/// when it comes, in their own business day; a redelivery held twice counts once; what still
/// waits when the input ends is a dead letter, and the counts reconcile.
#[test]
fn events_wait_for_their_store_record_and_count_once_judged() {
    use tillflow::source::{Admission, Ingested};
    use tillflow_schemas::formats::Record;
    use tillflow_testkit::events::{BASE, HOUR, day, line, sale, store};

    let mut admission = Admission::new(400 * 86_400_000, tillflow::pseudonyms::Pseudonyms::known());
    let admit = |admission: &mut Admission, event: tillflow_schemas::Event| {
        let verdict = match admission.admit("test", Record::new(1, event.to_json().as_bytes(), Ok(event)), 7) {
            None => "duplicate".to_string(),
            Some(Ingested::Accepted { .. }) => "accepted".to_string(),
            Some(Ingested::Dead(letter)) => letter.reason,
            Some(Ingested::Held { store, .. }) => format!("held for {}", store.as_str()),
            other => format!("{other:?}"),
        };
        let released: Vec<String> = std::iter::from_fn(|| admission.released())
            .map(|item| match item {
                Ingested::Accepted { event, business_date, epoch, .. } => {
                    format!("{} on {} in epoch {epoch}", event.event_id().unwrap(), business_date.unwrap())
                }
                Ingested::Dead(letter) => letter.reason,
                other => format!("{other:?}"),
            })
            .collect();
        (verdict, released)
    };
    // 02:00 UTC is the evening before in New York: the sale's business day is New York's.
    let late_evening = sale("T1", "S1", BASE + 2 * HOUR, vec![line(1, "K1", 1, 500, 0, false)]);
    assert_eq!(admit(&mut admission, late_evening.clone()).0, "held for S1");
    assert_eq!(admit(&mut admission, late_evening).0, "held for S1", "a redelivery waits too");
    assert_eq!(admit(&mut admission, sale("T2", "S2", BASE, vec![])).0, "held for S2");
    assert_eq!((admission.pending(), admission.counts.received), (3, 0), "waiting, not yet counted");

    let (verdict, released) = admit(&mut admission, store("S1", "America/New_York"));
    assert_eq!(verdict, "accepted");
    assert_eq!(
        released,
        vec![format!("e-T1 on {} in epoch 7", day(-1))],
        "judged now, in its own day; the redelivery a duplicate"
    );
    let counts = admission.counts;
    assert_eq!((counts.received, counts.accepted, counts.duplicates, admission.pending()), (3, 2, 1, 1));

    admission.abandon_held();
    let abandoned: Vec<_> = std::iter::from_fn(|| admission.released()).collect();
    assert!(
        matches!(&abandoned[..], [Ingested::Dead(letter)] if letter.reason.contains("unknown store `S2`")),
        "{abandoned:?}"
    );
    let counts = admission.counts;
    assert_eq!(counts.received, counts.accepted + counts.duplicates + counts.dead_lettered);
    assert_eq!((counts.received, admission.pending()), (4, 0));
}

#[test]
fn one_store_running_ahead_does_not_move_the_chain_clock() {
    use tillflow::clock::StoreClocks;
    use tillflow_schemas::Id;

    let mut clocks = StoreClocks::default();
    let (a, b, c): (Id, Id, Id) = ("A".into(), "B".into(), "C".into());
    assert_eq!(clocks.chain(), None);
    clocks.observe(&a, 100);
    assert_eq!(clocks.chain(), Some(100), "one store: its own time");
    clocks.observe(&b, 90);
    assert_eq!(clocks.chain(), Some(90));
    assert!(clocks.observe(&a, 4_000_000_000_000), "A's clock jumps to the next century");
    assert_eq!(clocks.chain(), Some(90), "the chain stays with B");
    clocks.observe(&b, 120);
    clocks.observe(&c, 110);
    assert_eq!(clocks.chain(), Some(120));
    assert!(!clocks.observe(&b, 50), "an earlier event moves nothing");
    clocks.observe(&c, 130);
    assert_eq!(clocks.chain(), Some(130), "C passes B: the second latest is C");
    assert_eq!(clocks.stores().find(|(s, _)| **s == b).map(|(_, t)| t), Some(120));
}

#[test]
fn the_future_limit_counts_from_the_injected_clock_for_every_dated_record() {
    use tillflow::source::{Admission, Ingested};
    use tillflow_schemas::formats::Record;

    use tillflow_testkit::events::{BASE, DAY, HOUR, line, link, product, sale, store};

    let mut admission =
        Admission::new(400 * DAY, tillflow::pseudonyms::Pseudonyms::known()).with_clock(std::sync::Arc::new(|| BASE));
    let mut admit = |event: tillflow_schemas::Event| match admission.admit(
        "test",
        Record::new(1, event.to_json().as_bytes(), Ok(event)),
        0,
    ) {
        Some(Ingested::Accepted { .. }) => "accepted".to_string(),
        Some(Ingested::Dead(letter)) => letter.reason,
        other => format!("{other:?}"),
    };
    assert_eq!(admit(store("S1", "UTC")), "accepted");
    let one = || vec![line(1, "A", 1, 100, 0, false)];
    assert_eq!(admit(sale("t1", "S1", BASE + 23 * HOUR, one())), "accepted", "within a day of the clock");
    for (what, event) in [
        ("a sale", sale("t2", "S1", BASE + 2 * DAY, one())),
        ("a product", product("A", 100, Some(BASE + 2 * DAY), Some("p1"))),
        ("a loyalty link", link("l1", BASE + 2 * DAY, "L1", "C1", true)),
    ] {
        let verdict = admit(event);
        assert!(verdict.contains("48 hours ahead of this machine's clock"), "{what}: {verdict}");
    }
}
