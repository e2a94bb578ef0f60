//! The bad-input corpus: one case per kind of bad or odd input, each with its expected outcome.
//! Every case is read after the same reference data (a store and a product); for each record it
//! expects acceptance or a dead letter whose reason contains the given words, and the counts
//! reconcile.

use tillflow::dataflow::consolidate;
use tillflow::source::{Epochs, Ingest, Ingested};
use tillflow_schemas::Format;
use tillflow_schemas::formats::flat;
use tillflow_schemas::raw::RawEvent;
use tillflow_schemas::time::RETENTION_MS;
use tillflow_schemas::views::{DeadLetter, SkuMargin};

use tillflow_testkit::events::{BASE, HOUR, refund, void};

const STORE: &str =
    r#"{"type":"store","store_id":"S1","name":"One","district":"D1","region":"East","timezone":"America/New_York"}"#;
const PRODUCT: &str = r#"{"type":"product","sku":"A","name":"Apple","category":"Fruit","department":"Produce","unit_cost":1.25,"list_price":4.5}"#;
const SALE: &str = r#"{"type":"sale","event_id":"e1","ts":"2026-03-07T15:00:00Z","store_id":"S1","transaction_id":"T1","register_id":"R1","cashier_id":"K1","lines":[{"line_no":1,"sku":"A","qty":2,"unit_price":"4.50","discount":0.5}],"tenders":[{"kind":"card","amount":8.5}]}"#;

/// What becomes of one record.
#[derive(Debug)]
enum Outcome {
    Accepted,
    Duplicate,
    /// Accepted, replacing an earlier revision of the same sale.
    Replaced,
    /// A dead letter whose reason contains this.
    Dead(&'static str),
}
use Outcome::*;

/// A sale like [`SALE`] with `from` replaced by `to`, and its own ids.
fn sale_with(id: &str, from: &str, to: &str) -> String {
    SALE.replace(r#""e1""#, &format!(r#""{id}""#)).replace(r#""T1""#, &format!(r#""T{id}""#)).replace(from, to)
}

/// [`SALE`] at `revision`, selling `qty`.
fn revised(revision: &str, qty: &str) -> String {
    SALE.replace(r#""qty":2"#, &format!(r#""qty":{qty}"#))
        .replace(r#""type":"sale","#, &format!(r#""type":"sale","revision":{revision},"#))
}

/// The verdicts on `bytes` read as file `name`, after the reference data.
fn outcomes(name: &str, bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("0-reference.ndjson");
    std::fs::write(&reference, format!("{STORE}\n{PRODUCT}\n")).unwrap();
    let case = dir.path().join(name);
    std::fs::write(&case, bytes).unwrap();
    let format = Format::of_path(&case).unwrap();
    let mut ingest = Ingest::open(
        &[(reference.clone(), Format::Ndjson), (case.clone(), format)],
        Epochs::Tick(HOUR),
        RETENTION_MS,
        tillflow::pseudonyms::Pseudonyms::known(),
    );
    let mut verdicts = Vec::new();
    let mut reference_accepted = 0;
    let mut duplicates_before = 0;
    let mut units_accepted: i64 = 0;
    // Each accepted sale's units, by event id: a revision replaces them.
    let mut sold = std::collections::HashMap::new();
    loop {
        let item = ingest.next();
        let counts = tillflow::source::IngestStream::counts(&ingest);
        for _ in duplicates_before..counts.duplicates {
            verdicts.push("duplicate".to_string());
        }
        duplicates_before = counts.duplicates;
        match item {
            None => break,
            Some(Ingested::Accepted { event, replaces, .. })
                if !matches!(event, tillflow_schemas::Event::Store(_) | tillflow_schemas::Event::Product(_)) =>
            {
                let units = match &event {
                    tillflow_schemas::Event::Sale(sale) => sale.lines.iter().map(|l| l.qty).sum(),
                    _ => 0,
                };
                if let Some(earlier) = &replaces {
                    units_accepted -= sold.remove(&earlier.event_id).unwrap_or_default();
                }
                if let Some(id) = event.event_id() {
                    sold.insert(id.clone(), units);
                }
                units_accepted += units;
                verdicts.push(if replaces.is_some() { "replaced" } else { "accepted" }.into())
            }
            Some(Ingested::Accepted { .. }) => reference_accepted += 1,
            Some(Ingested::Dead(letter)) => {
                assert_eq!(letter.source, case.display().to_string());
                verdicts.push(format!("dead: {}", letter.reason));
            }
            Some(Ingested::Settled(_) | Ingested::Retried { .. }) => panic!("a file holds no log entry"),
            Some(Ingested::Held { .. }) => verdicts.push("held".into()),
            Some(Ingested::Known(event)) => panic!("one process owns everything, yet {event:?} was left to another"),
        }
    }
    let counts = tillflow::source::IngestStream::counts(&ingest);
    assert_eq!(counts.received, counts.accepted + counts.duplicates + counts.dead_lettered);
    assert_eq!(reference_accepted, 2, "the reference data is accepted");

    // Through the views, as `tillflow run` reads the same files: the same counts, one dead
    // letter per refused record with its reason, and the accepted sales in `sku_margin`.
    let run = tillflow::run::RunConfig::new(
        vec![reference, case],
        String::new(),
        2,
        tillflow::pseudonyms::Pseudonyms::known(),
    );
    let output = tillflow::run::compute(&run).unwrap();
    assert_eq!(output.counts, counts, "{name}: the run counts what admission counted");
    let letters = consolidate(output.changes::<DeadLetter>().to_vec());
    let refused: Vec<&String> = verdicts.iter().filter(|v| v.starts_with("dead: ")).collect();
    assert_eq!(letters.len(), refused.len(), "{name}: one dead letter per refused record: {letters:?}");
    for letter in &letters {
        assert!(refused.iter().any(|v| v.ends_with(&letter.reason)), "{name}: {letter:?}");
    }
    let units: i64 = consolidate(output.changes::<SkuMargin>().to_vec()).iter().map(|r| r.units_sold).sum();
    assert_eq!(units, units_accepted, "{name}: the accepted sales' units, and only theirs, reach sku_margin");
    verdicts
}

/// CSV text of `rows`, every field quoted, the widths as given.
fn csv(rows: &[Vec<String>]) -> Vec<u8> {
    let line =
        |row: &Vec<String>| row.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect::<Vec<_>>().join(",");
    rows.iter().map(|row| line(row) + "\n").collect::<String>().into_bytes()
}

fn parquet_of(batch: &arrow::array::RecordBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    bytes
}

#[test]
fn every_kind_of_bad_input_has_its_outcome() {
    let good = RawEvent::from_json(SALE.as_bytes()).unwrap().validate().unwrap();
    let good_rows = flat::to_rows(&good.to_raw());
    let mut header: Vec<String> = flat::COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut long_line = sale_with("e9", "", "");
    long_line.insert_str(long_line.len() - 1, &format!(r#","pad":"{}""#, "x".repeat(10 << 20)));
    let huge_number = sale_with("e10", r#""qty":2"#, r#""qty":100000000000000000000000"#);
    let refund_unknown = refund("r1", "S1", BASE + 16 * HOUR, Some("T-unknown"), "A", 1, 450).to_json();
    let void_unknown = void("v1", "S1", BASE + 16 * HOUR, "T-unknown", tillflow_schemas::VoidScope::Post).to_json();
    let wrong_schema = arrow::array::RecordBatch::try_from_iter([(
        "sku",
        std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])) as _,
    )])
    .unwrap();

    // Three days ahead of this machine's clock, whenever the test runs.
    let ahead = (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cases: Vec<(&str, &str, Vec<u8>, Vec<Outcome>)> = vec![
        ("truncated JSON", "a.ndjson", SALE[..60].into(), vec![Dead("malformed JSON")]),
        ("trailing garbage", "a.ndjson", format!("{SALE} x").into(), vec![Dead("malformed JSON")]),
        ("not an object", "a.ndjson", b"[1,2]\n42\n".to_vec(), vec![Dead("must be a JSON object"), Dead("must be a JSON object")]),
        ("missing type", "a.ndjson", SALE.replace(r#""type":"sale","#, "").into(), vec![Dead("missing `type`")]),
        ("unknown type", "a.ndjson", SALE.replace(r#""sale""#, r#""teleport""#).into(), vec![Dead("unknown type `teleport`")]),
        ("missing field", "a.ndjson", SALE.replace(r#""store_id":"S1","#, "").into(), vec![Dead("`store_id` is required")]),
        ("wrong type", "a.ndjson", SALE.replace(r#""qty":2"#, r#""qty":"two""#).into(), vec![Dead("qty")]),
        ("null where a value is required", "a.ndjson", SALE.replace(r#""qty":2"#, r#""qty":null"#).into(), vec![Dead("qty")]),
        ("number too large", "a.ndjson", huge_number.into(), vec![Dead("qty")]),
        ("negative price", "a.ndjson", SALE.replace(r#""unit_price":"4.50""#, r#""unit_price":-1"#).into(), vec![Dead("is negative")]),
        ("quantity of zero", "a.ndjson", SALE.replace(r#""qty":2"#, r#""qty":0"#).into(), vec![Dead("cannot be zero")]),
        ("discount above the line", "a.ndjson", SALE.replace(r#""discount":0.5"#, r#""discount":50"#).into(), vec![Dead("exceeds the line total")]),
        ("sale without lines", "a.ndjson", SALE.replace(r#"{"line_no":1,"sku":"A","qty":2,"unit_price":"4.50","discount":0.5}"#, "").into(), vec![Dead("at least one line")]),
        ("invalid timestamp", "a.ndjson", SALE.replace("2026-03-07T15:00:00Z", "2026-02-30T15:00:00Z").into(), vec![Dead("RFC 3339")]),
        ("timestamp without zone", "a.ndjson", SALE.replace("2026-03-07T15:00:00Z", "2026-03-07T15:00:00").into(), vec![Dead("RFC 3339")]),
        ("invalid time zone", "a.ndjson", STORE.replace("S1", "S2").replace("America/New_York", "Mars/Olympus").into(), vec![Dead("timezone")]),
        ("non-UTF-8 bytes", "a.ndjson", [&SALE.as_bytes()[..40], b"\xff\xfe", &SALE.as_bytes()[40..]].concat(), vec![Dead("not UTF-8")]),
        ("a byte-order mark", "a.ndjson", [b"\xef\xbb\xbf".as_slice(), SALE.as_bytes()].concat(), vec![Accepted]),
        ("CRLF line endings", "a.ndjson", format!("{SALE}\r\n{}\r\n", sale_with("e2", "T15", "T16")).into(), vec![Accepted, Accepted]),
        ("a 10 MB line", "a.ndjson", long_line.into(), vec![Accepted]),
        ("an empty file", "a.ndjson", Vec::new(), vec![]),
        ("blank lines only", "a.ndjson", b"\n\n  \n".to_vec(), vec![]),
        ("CSV with a missing column", "a.csv", { header.retain(|c| c != "store_id"); csv(&[header.clone(), [&good_rows[0][..3], &good_rows[0][4..]].concat()]) }, vec![Dead("`store_id` is required on a sale record")]),
        ("CSV row with extra fields", "a.csv", csv(&[flat::COLUMNS.iter().map(|c| c.to_string()).collect(), [good_rows[0].clone(), vec!["extra".into()]].concat()]), vec![Dead("fields")]),
        ("Parquet with the wrong schema", "a.parquet", parquet_of(&wrong_schema), vec![Dead("column")]),
        ("Parquet that is not Parquet", "a.parquet", b"PAR1 not really".to_vec(), vec![Dead("Parquet")]),
        ("clock_out without clock_in", "a.ndjson", br#"{"type":"shift","event_id":"s1","ts":"2026-03-07T21:05:00Z","store_id":"S1","staff_id":"K2","role":"cashier","kind":"clock_out"}"#.to_vec(), vec![Dead("without an open clock_in")]),
        ("refund of an unknown transaction (flagged in rule_breaks)", "a.ndjson", refund_unknown.into(), vec![Accepted]),
        ("void of an unknown transaction", "a.ndjson", void_unknown.into(), vec![Accepted]),
        ("an event far in the future", "a.ndjson", sale_with("e3", "2026-03-07T15:00:00Z", &ahead).into(), vec![Dead("ahead of this machine's clock")]),
        ("an event older than the retention", "a.ndjson", format!("{SALE}\n{}\n", sale_with("e4", "2026-03-07", "2024-03-07")).into(), vec![Accepted, Dead("beyond the retention")]),
        ("the same id twice, same content", "a.ndjson", format!("{SALE}\n{SALE}\n").into(), vec![Accepted, Duplicate]),
        ("the same id twice, other content", "a.ndjson", format!("{SALE}\n{}\n", SALE.replace(r#""qty":2"#, r#""qty":3"#)).into(), vec![Accepted, Dead("already accepted with different content")]),
        ("a sale revised: a higher revision replaces it, a lower one is superseded, an equal one the same", "a.ndjson", format!("{}\n{}\n{}\n{}\n", revised("1", "2"), revised("3", "3"), revised("2", "5"), revised("4", "3")).into(), vec![Accepted, Replaced, Duplicate, Duplicate]),
        ("the same revision with other content", "a.ndjson", format!("{}\n{}\n", revised("2", "2"), revised("2", "3")).into(), vec![Accepted, Dead("already accepted with different content")]),
        ("a revision moving the sale to another time", "a.ndjson", format!("{}\n{}\n", revised("1", "2"), revised("2", "3").replace("15:00:00Z", "16:00:00Z")).into(), vec![Accepted, Dead("changes its time or its store")]),
        ("a revision that is not a whole number", "a.ndjson", revised("-1", "2").into(), vec![Dead("a revision is a whole number")]),
        ("a revision on a sale accepted without one", "a.ndjson", format!("{SALE}\n{}\n", revised("2", "3")).into(), vec![Accepted, Dead("already accepted with different content")]),
        ("an unknown SKU (accepted: its product may come later)", "a.ndjson", SALE.replace(r#""sku":"A""#, r#""sku":"ZZZ""#).into(), vec![Accepted]),
        ("a lead time beyond a year", "a.ndjson", PRODUCT.replace(r#""list_price":4.5"#, r#""list_price":4.5,"lead_time_days":400"#).into(), vec![Dead("`lead_time_days`: give a whole number of days from 0 to 365 (or leave it out), not 400")]),
        ("a case of no units", "a.ndjson", PRODUCT.replace(r#""list_price":4.5"#, r#""list_price":4.5,"case_pack":0"#).into(), vec![Dead("`case_pack`: give a whole number of units from 1 to 1000000 (or leave it out), not 0")]),
        ("an unknown store", "a.ndjson", SALE.replace(r#""store_id":"S1""#, r#""store_id":"S9""#).into(), vec![Dead("unknown store `S9`")]),
    ];
    let mut failures = Vec::new();
    for (kind, name, bytes, expected) in &cases {
        let got = outcomes(name, bytes);
        let matches = got.len() == expected.len()
            && got.iter().zip(expected).all(|(got, want)| match want {
                Accepted => got == "accepted",
                Duplicate => got == "duplicate",
                Replaced => got == "replaced",
                Dead(words) => got.starts_with("dead: ") && got.contains(words),
            });
        if !matches {
            failures.push(format!("{kind}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(cases.len() >= 30, "{} kinds", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
