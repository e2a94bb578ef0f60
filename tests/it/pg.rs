//! The Postgres surface's own rules: descriptions read from docs/views.md, the version string
//! drivers parse, and the SQLSTATE each kind of mistake gets. Real clients are checked against a
//! live run by tests/pg_clients.sh.

use tillflow_queries::comments::from_docs;
use tillflow_queries::pg::{sqlstate, version};

#[test]
fn the_docs_describe_every_view_and_its_columns() {
    let described = from_docs();
    let margin = &described["sku_margin"];
    assert!(margin.table.starts_with("One row per (store_id, sku, business_date). A row for every"), "{margin:?}");
    assert_eq!(margin.columns["net_sales"], "gross_sales − discounts − refunds");
    assert_eq!(margin.columns["store_id"], "the store, as its store record names it");
    let labor = &described["labor_demand"];
    assert_eq!(labor.columns["items"], labor.columns["transactions"]);
    assert!(
        described["segment_profiles"].table.starts_with("One row per segment_id."),
        "{:?}",
        described["segment_profiles"]
    );
    assert!(described["customer_segments"].table.starts_with("One row per customer_id."));
    for table in tillflow::table_names().into_iter().filter(|t| *t != "pipeline_stats") {
        assert!(described.contains_key(table), "docs/views.md describes {table}");
    }
}

#[test]
fn version_reads_as_postgres_16_to_drivers() {
    let version = version();
    // SQLAlchemy's pattern for the server version.
    let rest = version.strip_prefix("PostgreSQL 16.").unwrap_or_else(|| panic!("{version}"));
    assert!(rest.starts_with(|c: char| c.is_ascii_digit()), "{version}");
    assert!(version.contains("tillflow"), "{version}");
}

#[test]
fn each_mistake_gets_its_sqlstate() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    runtime.block_on(ctx.sql("CREATE TABLE t (a INT)")).unwrap();
    for (sql, code) in [
        ("SELECT * FROM no_such_view", "42P01"),
        ("SELEC 1", "42601"),
        ("SELECT nope FROM t", "42703"),
        ("SELECT no_such_function(1)", "42883"),
    ] {
        let error = runtime.block_on(async { ctx.sql(sql).await?.collect().await }).unwrap_err();
        assert_eq!(sqlstate(&error), code, "{sql}: {error}");
    }
}
