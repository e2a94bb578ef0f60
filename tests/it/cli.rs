//! The binary as a user runs it: generate → run → sql, checked against the reference SQL.

use std::path::Path;

use tillflow::source::{Ingest, Ingested, discover};
use tillflow::sql::{OutputFormat, render};

use crate::support::{run_ok, tillflow};

const QUERY: &str = "SELECT store_id, sku, business_date, net_sales, cogs, gross_margin FROM sku_margin ORDER BY 1,2,3";

/// The events `run` accepts from a folder, read with the same sources.
fn accepted_events(dir: &Path) -> Vec<tillflow_schemas::Event> {
    let files = discover(&[dir.to_path_buf()]).unwrap();
    Ingest::open(&files, 3_600_000)
        .filter_map(|item| match item {
            Ingested::Accepted { event, .. } => Some(event),
            Ingested::Dead(_) => None,
        })
        .collect()
}

#[test]
fn generate_run_sql_equals_reference() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("g");
    let out = dir.path().join("o");
    let (chain_s, out_s) = (chain.display().to_string(), out.display().to_string());
    run_ok(&["generate", "--out", &chain_s, "--stores", "3", "--days", "4", "--seed", "7"]);
    let summary = run_ok(&["run", "--input", &chain_s, "--out", &out_s, "--workers", "2"]);
    let dead_line = summary.lines().find(|l| l.trim_start().starts_with("dead-lettered")).unwrap();
    assert_eq!(dead_line.split_whitespace().last(), Some("0"), "{summary}");
    let csv = run_ok(&["sql", "--out", &out_s, "--format", "csv", QUERY]);

    let events = accepted_events(&chain);
    let refs: Vec<&tillflow_schemas::Event> = events.iter().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ctx = runtime.block_on(async {
        let mut tables = tillflow_schemas::tables::EventTables::new();
        for e in &refs {
            tables.push(e);
        }
        tillflow_queries::reference::session(&tables).await.unwrap()
    });
    let reference_sql = tillflow_queries::REFERENCE_SQL[0].1;
    let ctx_query = format!("WITH sku_margin AS ({reference_sql}) {QUERY}");
    let expected = runtime.block_on(async { ctx.sql(&ctx_query).await.unwrap().collect().await.unwrap() });
    let expected = render(&expected, OutputFormat::Csv).unwrap();
    assert!(csv.lines().count() > 100, "a 3-store, 4-day chain has hundreds of rows:\n{csv}");
    assert_eq!(csv.trim_end(), expected);
}

#[test]
fn generate_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let read_all = |d: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect::<Vec<_>>()
    };
    for name in ["a", "b"] {
        let out = dir.path().join(name).display().to_string();
        run_ok(&["generate", "--out", &out, "--stores", "2", "--days", "2", "--seed", "3"]);
    }
    assert_eq!(read_all(&dir.path().join("a")), read_all(&dir.path().join("b")));
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a/ground_truth.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = truth["anomalies"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "excess_voids",
            "discount_abuse",
            "refund_without_sale",
            "cash_refund_of_card_sale",
            "understaffed_peak",
            "ghost_inventory"
        ]
    );
}

#[test]
fn user_mistakes_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere").display().to_string();
    for (args, hint) in [
        (vec!["run", "--input", missing.as_str()], "does not exist"),
        (vec!["sql", "--out", missing.as_str(), "SELECT 1"], "run `tillflow run"),
        (vec!["run", "--input", missing.as_str(), "--tick", "soon"], "duration"),
        (vec!["sql", "--out", "s3://bucket/views", "SELECT 1"], "local folders only"),
    ] {
        let output = tillflow().args(&args).output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    }
}

#[test]
fn demo_runs_on_a_fresh_directory_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo").display().to_string();
    let printed = run_ok(&["demo", "--dir", &demo_dir]);
    for title in [
        "Worst-margin SKUs",
        "Net sales and margin by store",
        "Busiest business days",
        "Stock that needs a look",
        "Dead letters by reason",
    ] {
        assert!(printed.contains(title), "{printed}");
    }
    // Six stores, each with its net sales line; every event accepted.
    let store_lines = printed.lines().filter(|l| l.starts_with("| S00")).count();
    assert!(store_lines >= 6 + 5, "{printed}");
    let accepted = printed.lines().find(|l| l.trim_start().starts_with("accepted")).unwrap();
    let read = printed.lines().find(|l| l.starts_with("events read")).unwrap();
    assert_eq!(accepted.split_whitespace().last(), read.split_whitespace().last());
}
