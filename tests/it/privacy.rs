//! Customer privacy as a chain's data protection officer would check it: no raw customer
//! identifier in any byte tillflow writes, pseudonyms that an analyst can still join on, and
//! the same pseudonyms again from the same key.

use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};

use std::collections::HashSet;

use serde_json::Value;
use tillflow::erasure::{Erasures, Forget};
use tillflow::journal::Entry;
use tillflow::pseudonyms::{KeyError, Pseudonyms, scrub};
use tillflow_schemas::formats::Customer;
use tillflow_schemas::views::DeadLetter;
use tillflow_schemas::{Event, Text};

use crate::support::{run_ok, tillflow};

/// The sample chain's loyalty cards are `L` and customers `C` and 8 digits.
fn raw_identifiers(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for at in 0..bytes.len().saturating_sub(8) {
        let prefix = bytes[at] == b'L' || bytes[at] == b'C';
        let before = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if prefix && before && bytes[at + 1..at + 9].iter().all(u8::is_ascii_digit) {
            found.push(text[at..at + 9].to_string());
        }
    }
    found
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(files(&path)) } else { found.push(path) }
    }
    found
}

/// What `find` finds under `out`: in every byte of every file, and in every value of every
/// Parquet file decoded (compressed pages hide text from a byte scan). `parquet_bytes: false`
/// leaves Parquet files' raw bytes out, for a `find` that matches a pattern (compressed bytes
/// are noise that a pattern may match).
pub fn identifiers_under(
    out: &Path,
    find: impl Fn(&str) -> Vec<String>,
    parquet_bytes: bool,
) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for path in files(out) {
        // A live run replaces files as it goes: one gone since the listing has nothing to find.
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let parquet = path.extension().is_some_and(|e| e == "parquet");
        if parquet_bytes || !parquet {
            found.extend(find(&String::from_utf8_lossy(&bytes)).into_iter().map(|id| (path.clone(), id)));
        }
        if parquet {
            let Ok(file) = std::fs::File::open(&path) else { continue };
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                for column in batch.columns() {
                    let Ok(text) = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8) else { continue };
                    let text = text.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
                    for value in text.iter().flatten() {
                        found.extend(find(value).into_iter().map(|id| (path.clone(), id)));
                    }
                }
            }
        }
    }
    found
}

/// The pseudonym of `raw` in `field` under the key kept in `out`, computed here from the
/// documented construction (HMAC-SHA-256 over field, NUL, identifier; 10 bytes in hex).
pub fn pseudonym(out: &Path, field: &str, raw: &str) -> String {
    let hex = std::fs::read_to_string(out.join("_keys/pseudonyms.key")).unwrap();
    let key: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{field}\0{raw}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let prefix = if field == "customer_ref" { "card_" } else { "cust_" };
    prefix.to_string() + &digest[..10].iter().map(|b| format!("{b:02x}")).collect::<String>()
}

fn sql(out: &Path, query: &str) -> String {
    run_ok(&["sql", "--out", &out.display().to_string(), "--format", "csv", query])
}

/// Bad records that carry customer identifiers: a sale of an unknown store, a line of broken
/// JSON, and a CSV row of an unknown type.
fn bad_records(dir: &Path) {
    std::fs::write(
        dir.join("bad.ndjson"),
        concat!(
            r#"{"type":"sale","event_id":"X-1","ts":"2026-03-03T12:00:00Z","store_id":"S999","transaction_id":"X-T1","register_id":"R1","cashier_id":"K1","customer_ref":"L09900001","lines":[{"line_no":1,"sku":"SKU-0001","qty":1,"unit_price":1.0}],"tenders":[{"kind":"cash","amount":1.0}]}"#,
            "\n",
            r#"{"type":"loyalty_link","event_id":"X-2","customer_ref":"L09900002","customer_id":"C09900002","consent":tru"#,
            "\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("bad.csv"), "type,event_id,customer_ref,customer_id\nlinkage,X-3,L09900003,C09900003\n")
        .unwrap();
}

#[test]
fn no_raw_customer_identifier_is_written_and_the_same_key_gives_the_same_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    for file in files(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample").as_path()) {
        std::fs::copy(&file, input.join(file.file_name().unwrap())).unwrap();
    }
    bad_records(&input);
    let out = dir.path().join("views");
    run_ok(&["run", "--input", &input.display().to_string(), "--out", &out.display().to_string()]);

    assert_eq!(identifiers_under(&out, raw_identifiers, false), vec![], "raw customer identifiers under --out");
    // Each bad record's text is kept, its identifiers replaced by their pseudonyms.
    let letters =
        sql(&out, "SELECT raw FROM dead_letters WHERE event_id = 'X-1' OR raw LIKE '%X-2%' OR raw LIKE '%X-3%'");
    for (field, raw) in [
        ("customer_ref", "L09900001"),
        ("customer_ref", "L09900002"),
        ("customer_id", "C09900002"),
        ("customer_ref", "L09900003"),
        ("customer_id", "C09900003"),
    ] {
        assert!(letters.contains(&pseudonym(&out, field, raw)), "{raw} in {letters}");
    }
    // Analysts join on pseudonyms: the segments' customers are the linked customers'.
    let segments = sql(&out, "SELECT customer_id FROM customer_segments ORDER BY customer_id");
    let customers: Vec<&str> = segments.lines().skip(1).collect();
    assert!(customers.len() > 50, "{segments}");
    assert!(customers.contains(&pseudonym(&out, "customer_id", "C00100001").as_str()), "{segments}");

    // Another folder makes another key; the same key, given, gives the same pseudonyms.
    let other = dir.path().join("other");
    run_ok(&["run", "--input", &input.display().to_string(), "--out", &other.display().to_string()]);
    let query = "SELECT customer_id, segment_id FROM customer_segments ORDER BY customer_id";
    assert_ne!(sql(&other, query), sql(&out, query));
    let again = dir.path().join("again");
    let key = std::fs::read_to_string(out.join("_keys/pseudonyms.key")).unwrap();
    let status = tillflow()
        .args(["run", "--input", &input.display().to_string(), "--out", &again.display().to_string()])
        .env("TILLFLOW_PSEUDONYM_KEY", key.trim())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert_eq!(sql(&again, query), sql(&out, query));
    assert_eq!(
        sql(&again, "SELECT raw FROM dead_letters ORDER BY raw"),
        sql(&out, "SELECT raw FROM dead_letters ORDER BY raw")
    );
}

#[test]
fn a_malformed_key_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = tillflow()
        .args(["run", "--input", "data/sample", "--out", &dir.path().display().to_string()])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("TILLFLOW_PSEUDONYM_KEY", "not-a-key")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("openssl rand -hex 32"));
}

// The pieces, through their public interface.

/// HMAC-SHA-256 of RFC 4231's test case 2 (key "Jefe"), computed apart: the MAC under the
/// pseudonyms is the standard one.
#[test]
fn the_mac_is_hmac_sha256() {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
    mac.update(b"what do ya want for nothing?");
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

#[test]
fn pseudonyms_are_stable_keyed_and_separate_per_field() {
    let (a, b) = (Pseudonyms::new(&[1; 32]), Pseudonyms::new(&[2; 32]));
    let card = a.of(Customer::Ref, "L-1001");
    assert_eq!(card, a.of(Customer::Ref, "L-1001"));
    assert!(card.starts_with("card_") && card.len() == 25, "{card}");
    assert_ne!(card, b.of(Customer::Ref, "L-1001"));
    assert_ne!(a.of(Customer::Id, "L-1001")[5..], card[5..]);
    assert_ne!(card, a.of(Customer::Ref, "L-1002"));
}

#[test]
fn scrubbing_replaces_whole_identifiers_only() {
    let replaced = vec![("7".to_string(), Text::new("card_x")), ("C1".to_string(), Text::new("cust_y"))];
    assert_eq!(
        scrub(r#"{"customer_ref":"7","qty":17,"customer_id":"C1","x":"C10"}"#, &replaced),
        r#"{"customer_ref":"card_x","qty":17,"customer_id":"cust_y","x":"C10"}"#
    );
    assert_eq!(scrub("7,7,x7", &replaced[..1]), "card_x,card_x,x7");
}

#[test]
fn keys_in_hex_are_checked_and_kept_keys_reused() {
    assert!(matches!(Pseudonyms::from_hex("abc"), Err(KeyError::Malformed)));
    assert!(matches!(Pseudonyms::from_hex(&"zz".repeat(32)), Err(KeyError::Malformed)));
    let folder = tempfile::tempdir().unwrap();
    let first = Pseudonyms::kept_in(folder.path()).unwrap().of(Customer::Id, "C1");
    let again = Pseudonyms::kept_in(folder.path()).unwrap().of(Customer::Id, "C1");
    assert_eq!(first, again);
    let other = Pseudonyms::kept_in(tempfile::tempdir().unwrap().path()).unwrap().of(Customer::Id, "C1");
    assert_ne!(first, other, "a new folder makes a new random key");
}

fn accepted(event: &str) -> Entry {
    Entry::Accepted { source: "s".into(), position: 1, epoch: 2, event: event.into() }
}

#[test]
fn the_log_keeps_counts_and_sales_but_nothing_of_the_customer() {
    let forget =
        Forget { customers: HashSet::from([Text::new("cust_1")]), cards: HashSet::from([Text::new("card_1")]) };
    let pseudonyms = Pseudonyms::known();
    let erased = |tombstone| Entry::Erased { source: "s".into(), position: 1, epoch: 2, tombstone };
    let link = r#"{"type":"loyalty_link","customer_ref":"card_1","customer_id":"cust_1","consent":true}"#;
    assert_eq!(forget.entry(accepted(link), &pseudonyms), erased(None));
    let erasure = r#"{"type":"erasure","customer_id":"cust_1"}"#;
    assert_eq!(forget.entry(accepted(erasure), &pseudonyms), erased(Some(pseudonyms.tombstone("cust_1"))));
    let sale = r#"{"type":"sale","customer_ref":"card_1","store_id":"S1"}"#;
    let Entry::Accepted { event, .. } = forget.entry(accepted(sale), &pseudonyms) else { panic!("a sale stays") };
    assert_eq!(serde_json::from_str::<Value>(&event).unwrap(), serde_json::json!({"type": "sale", "store_id": "S1"}));
    let other = r#"{"type":"sale","customer_ref":"card_2","store_id":"S1"}"#;
    assert_eq!(forget.entry(accepted(other), &pseudonyms), accepted(other), "another customer's sale");
    let letter = DeadLetter {
        source: "s".into(),
        position: 3,
        epoch: 2,
        event_id: None,
        reason: "unknown store".into(),
        raw: r#"{"customer_ref":"card_1","x":"card_12"}"#.into(),
    };
    let Entry::DeadLettered(kept) = forget.entry(Entry::DeadLettered(letter), &pseudonyms) else { panic!() };
    assert_eq!(kept.raw, r#"{"customer_ref":"<erased>","x":"card_12"}"#);
}

#[test]
fn erasures_fall_due_at_their_deadline_with_their_cards() {
    let mut erasures = Erasures::default();
    let link = |card: &str, customer: &str| {
        Event::LoyaltyLink(tillflow_schemas::LoyaltyLink {
            event_id: "l".into(),
            ts: 0,
            store_id: None,
            customer_ref: card.into(),
            customer_id: tillflow_schemas::Id::new(customer).unwrap(),
            consent: true,
        })
    };
    erasures.observe(&link("card_a", "cust_a"));
    erasures.observe(&link("card_b", "cust_a"));
    erasures.observe(&link("card_c", "cust_c"));
    erasures.observe(&Event::Erasure(tillflow_schemas::Erasure {
        event_id: "e".into(),
        ts: 1_000,
        store_id: None,
        customer_id: tillflow_schemas::Id::new("cust_a").unwrap(),
    }));
    assert!(erasures.due(Some(1_999), 1_000).is_none());
    let forget = erasures.due(Some(2_000), 1_000).unwrap();
    assert_eq!(forget.customers, HashSet::from([Text::new("cust_a")]));
    assert_eq!(forget.cards, HashSet::from([Text::new("card_a"), Text::new("card_b")]));
    assert!(erasures.all().is_none(), "done once");
}
