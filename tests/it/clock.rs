//! One wrong clock must not move time: a record dated in the next century is a dead letter
//! whatever its type, and one store whose clock runs ahead moves neither the watermark nor any
//! other store's figures.

use tillflow_testkit::support::rows;

use crate::support::run_ok;

#[test]
fn one_wrong_clock_does_not_move_time() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let chain_s = chain.display().to_string();
    run_ok(&["generate", "--out", &chain_s, "--stores", "4", "--days", "21", "--seed", "5"]);
    let (base, skewed) =
        (dir.path().join("base").display().to_string(), dir.path().join("skewed").display().to_string());
    crate::support::run_ok_keyed(&["run", "--input", &chain_s, "--out", &base, "--workers", "2"]);

    // An erasure of an unknown customer dated 2100, and a sale of S004 stamped by a register
    // whose clock is nine months ahead of the history (an hour before this machine's clock).
    let now = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let erasure = r#"{"type":"erasure","event_id":"wrong-1","ts":"2100-01-01T00:00:00Z","customer_id":"C-nobody"}"#;
    let sale = format!(
        r#"{{"type":"sale","event_id":"wrong-2","ts":"{now}","store_id":"S004","transaction_id":"T-wrong","register_id":"R9","cashier_id":"K-wrong","lines":[{{"line_no":1,"sku":"SKU-WRONG","qty":1,"unit_price":"2.00","discount":0}}],"tenders":[{{"kind":"cash","amount":"2.00"}}]}}"#
    );
    let extra = dir.path().join("wrong-clock.ndjson");
    std::fs::write(&extra, format!("{erasure}\n{sale}\n")).unwrap();
    let summary = crate::support::run_ok_keyed(&[
        "run",
        "--input",
        &chain_s,
        "--input",
        &extra.display().to_string(),
        "--out",
        &skewed,
    ]);
    let dead_line = summary.lines().find(|l| l.trim_start().starts_with("dead-lettered")).unwrap();
    assert_eq!(dead_line.split_whitespace().last(), Some("1"), "the erasure from 2100 is refused:\n{summary}");

    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let open = |out: &str| {
        runtime.block_on(tillflow::sql::open(&tillflow_queries::persisted::root_url(out).unwrap())).unwrap()
    };
    let (base, skewed) = (open(&base), open(&skewed));
    let select = |ctx: &datafusion::prelude::SessionContext, sql: &str| {
        rows(&runtime.block_on(tillflow::sql::query(ctx, sql)).unwrap())
    };
    let dead = select(&skewed, "SELECT event_id, reason, raw FROM dead_letters");
    assert_eq!(dead.len(), 1);
    assert!(dead[0].starts_with("wrong-1|") && dead[0].contains("ahead of this machine's clock"), "{dead:?}");
    let pseudonym = tillflow::pseudonyms::Pseudonyms::known().of(tillflow_schemas::formats::Customer::Id, "C-nobody");
    let kept = erasure.replace("C-nobody", &pseudonym);
    assert!(dead[0].ends_with(&kept), "the raw text as received, the customer pseudonymous: {dead:?}");

    let units = "SELECT SUM(avg_daily_units) FROM inventory_position";
    assert_ne!(select(&base, units), vec!["0".to_string()], "the chain sells");
    for sql in [
        "SELECT * FROM inventory_position WHERE store_id <> 'S004'",
        "SELECT * FROM customer_segments",
        "SELECT * FROM segment_profiles",
        "SELECT * FROM labor_demand WHERE store_id <> 'S004'",
        "SELECT * FROM refund_void_anomalies WHERE store_id <> 'S004'",
        "SELECT * FROM exceptions WHERE store_id <> 'S004'",
        "SELECT * FROM sku_margin WHERE sku <> 'SKU-WRONG'",
    ] {
        let want = select(&base, sql);
        assert!(!want.is_empty(), "{sql} has rows");
        assert_eq!(select(&skewed, sql), want, "{sql}: one store's clock moved the chain's time");
    }
    let outlier = select(&skewed, "SELECT store_id, units_sold, net_sales FROM sku_margin WHERE sku = 'SKU-WRONG'");
    assert_eq!(outlier, vec!["S004|1|2.00"], "the outlier's own sale still counts, on its own day");
}
