//! The binary as a user runs it: generate → run → sql, checked against the reference SQL.

use std::path::Path;

use tillflow::source::{Epochs, Ingest, discover};
use tillflow::sql::{OutputFormat, render};

use tillflow_schemas::views::{CustomerSegment, SegmentProfile, ViewRow};

use tillflow_testkit::support::rows;

use crate::support::{run_ok, tillflow};

const QUERY: &str = "SELECT store_id, sku, business_date, net_sales, cogs, gross_margin FROM sku_margin ORDER BY 1,2,3";

/// The events `run` accepts from a folder, read with the same sources.
fn accepted_events(dir: &Path) -> Vec<tillflow_schemas::Event> {
    let files = discover(&[dir.to_path_buf()]).unwrap();
    Ingest::open(
        &files,
        Epochs::Tick(3_600_000),
        tillflow_schemas::time::RETENTION_MS,
        tillflow::pseudonyms::Pseudonyms::known(),
    )
    .filter_map(|item| item.into_accepted().map(|(_, event, _)| event))
    .collect()
}

#[test]
fn generate_run_sql_equals_reference() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("g");
    let out = dir.path().join("o");
    let (chain_s, out_s) = (chain.display().to_string(), out.display().to_string());
    run_ok(&["generate", "--out", &chain_s, "--stores", "3", "--days", "4", "--seed", "7"]);
    let summary = crate::support::run_ok_keyed(&["run", "--input", &chain_s, "--out", &out_s, "--workers", "2"]);
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
        tillflow_queries::reference::session(&tables, Default::default()).await.unwrap()
    });
    let expected = runtime.block_on(async { ctx.sql(QUERY).await.unwrap().collect().await.unwrap() });
    let expected = render(&expected, OutputFormat::Csv).unwrap();
    assert!(csv.lines().count() > 100, "a 3-store, 4-day chain has hundreds of rows:\n{csv}");
    assert_eq!(csv.trim_end(), expected);

    // Every view, read back from its Delta table, equals its reference over the same events.
    let persisted =
        runtime.block_on(tillflow::sql::open(&tillflow_queries::persisted::root_url(&out_s).unwrap())).unwrap();
    let select = |ctx: &datafusion::prelude::SessionContext, view: &str, columns: &[String]| {
        let sql = format!("SELECT {} FROM {view}", columns.join(", "));
        runtime.block_on(async { ctx.sql(&sql).await.unwrap().collect().await.unwrap() })
    };
    for view in ["sku_margin", "inventory_position", "rule_breaks", "refund_void_anomalies", "labor_demand"] {
        let expected = select(&ctx, view, &["*".to_string()]);
        let columns: Vec<String> = expected[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        let got = select(&persisted, view, &columns);
        assert_eq!(rows(&got), rows(&expected), "{view}");
        assert!(!rows(&got).is_empty(), "{view} has rows");
    }
    let (segments, profiles) = tillflow_testkit::segments_reference::customer_segments(&refs);
    for (view, expected) in [
        (CustomerSegment::NAME, CustomerSegment::to_batch(&segments)),
        (SegmentProfile::NAME, SegmentProfile::to_batch(&profiles)),
    ] {
        let columns: Vec<String> = expected.schema().fields().iter().map(|f| f.name().clone()).collect();
        let got = select(&persisted, view, &columns);
        assert_eq!(rows(&got), rows(&[expected]), "{view}");
    }
}

#[test]
fn eval_meets_the_target_on_the_default_chain_and_two_other_seeds() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2", "3"] {
        let chain = dir.path().join(seed).display().to_string();
        run_ok(&["generate", "--out", &chain, "--seed", seed]);
        let table = run_ok(&["eval", "--input", &chain, "--check"]);
        let met = table.lines().filter(|l| l.ends_with(" met")).count();
        assert_eq!(met, 11, "seed {seed}:\n{table}");
        // The projected stock-outs against the shelves the generator emptied, seen day by day: some
        // of each, and figures that add up (the scoring itself: eval's unit test).
        let line = table.lines().find(|l| l.starts_with("stock-out projection")).expect("the projection's line");
        let numbers: Vec<usize> =
            line.split(|c: char| !c.is_ascii_digit() && c != '.').filter_map(|w| w.parse().ok()).collect();
        let [projected, _, came_true, stockouts, foreseen] = numbers[..5] else { panic!("{line}") };
        assert!(0 < came_true && came_true <= projected, "seed {seed}: {line}");
        assert!(0 < foreseen && foreseen <= stockouts, "seed {seed}: {line}");
        // The promotion customers ignore (built with no lift) measures under the 20% that counts
        // as lift.
        let ignored = table.lines().find(|l| l.trim_start().starts_with("P004-0")).expect("the ignored promotion");
        let figures: Vec<f64> =
            ignored.split_whitespace().filter_map(|w| w.trim_end_matches('%').parse().ok()).collect();
        let [built, measured] = figures[..] else { panic!("seed {seed}: {ignored}") };
        assert_eq!(built, 0.0, "seed {seed}: {ignored}");
        assert!(measured.abs() < 20.0, "seed {seed}: {ignored}");
    }
}

#[test]
fn the_district_report_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, out) = (dir.path().join("g").display().to_string(), dir.path().join("o").display().to_string());
    run_ok(&["generate", "--out", &chain, "--stores", "5", "--days", "10", "--seed", "1"]);
    run_ok(&["run", "--input", &chain, "--out", &out]);
    let html_path = dir.path().join("report.html");
    run_ok(&["report", "--out", &out, "--district", "D01", "--to", &html_path.display().to_string()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("District D01 — morning report for 2026-03-11"), "the latest day by default");
    assert_eq!(html.matches("<svg").count(), 2 + 5, "void rates, margins, and one staffing chart per store");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "self-contained");

    let markdown = run_ok(&["report", "--out", &out, "--district", "D01", "--date", "2026-03-09", "--format", "md"]);
    assert!(markdown.starts_with("# District D01 — morning report for 2026-03-09"), "{markdown}");
    assert!(markdown.contains("## Exceptions by store") && markdown.contains("| high |"), "{markdown}");
    // Each store's day against the same weekday a week before (the chain began on 2026-03-02).
    let days =
        markdown.split("## Each store's day against its forecast").nth(1).unwrap().split("\n## ").next().unwrap();
    let stores: Vec<&str> = days.lines().filter(|l| l.starts_with("| S0")).collect();
    assert_eq!(stores.len(), 5, "{days}");
    assert!(stores.iter().all(|l| l.ends_with("% |")), "each with its deviation from the forecast: {days}");
    // The promotions selling that day (the second week's, from 2026-03-09), worst incremental
    // margin first, their units the district's promoted units of those promotions so far.
    let promotions = markdown.split("## Promotions selling today").nth(1).unwrap().split("\n## ").next().unwrap();
    let promos: Vec<Vec<&str>> = promotions
        .lines()
        .filter(|l| l.starts_with("| P0"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(promos.len() >= 3 && promos.iter().all(|p| p[0].starts_with("P002-")), "{promotions}");
    let incremental: Vec<f64> = promos.iter().map(|p| p[4].parse().unwrap()).collect();
    assert!(incremental.windows(2).all(|w| w[0] <= w[1]), "worst first: {promotions}");
    let units: i64 = promos.iter().map(|p| p[1].parse::<i64>().unwrap()).sum();
    let query = "SELECT SUM(p.promo_units) FROM promotion_performance p JOIN stores s ON s.store_id = p.store_id \
                 WHERE s.district = 'D01' AND p.promo_id LIKE 'P002-%' AND p.business_date <= DATE '2026-03-09'";
    let total = run_ok(&["sql", "--out", &out, "--format", "csv", query]);
    assert_eq!(total.lines().nth(1), Some(units.to_string().as_str()), "{promotions}");
    // The registers standing out that day: those `register_anomalies` flags in the district (the
    // voiding cashier's own register among them), each with its flags.
    let registers = markdown.split("## Registers standing out").nth(1).unwrap().split("\n## ").next().unwrap();
    let listed: Vec<String> = registers
        .lines()
        .filter(|l| l.starts_with("| S0"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            format!("{},{},{}", cells[0], cells[1], cells[5].replace(", ", ","))
        })
        .collect();
    let query = "SELECT store_id, register_id, flags FROM register_anomalies WHERE district = 'D01' \
                 AND business_date = DATE '2026-03-09' AND flagged ORDER BY store_id, register_id";
    let flagged = run_ok(&["sql", "--out", &out, "--format", "csv", query]);
    let flagged: Vec<String> = flagged.lines().skip(1).map(|l| l.replace('"', "")).collect();
    assert!(!flagged.is_empty() && listed == flagged, "{registers}\nflagged: {flagged:?}");
    // Draft orders are today's: none on a past day; on the latest, every store's, their costs
    // adding up to the district's purchase suggestions.
    let drafts = |markdown: &str| {
        let section = markdown.split("## Draft orders for the day").nth(1).unwrap().split("\n## ").next().unwrap();
        let rows: Vec<Vec<String>> = section
            .lines()
            .filter(|l| l.starts_with("| S0"))
            .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
            .collect();
        rows
    };
    assert!(drafts(&markdown).is_empty(), "2026-03-09 has ended: {markdown}");
    let latest = run_ok(&["report", "--out", &out, "--district", "D01", "--format", "md"]);
    let orders = drafts(&latest);
    assert!(!orders.is_empty(), "{latest}");
    let cents = |text: &str| (text.parse::<f64>().unwrap() * 100.0).round() as i64;
    let cost: i64 = orders.iter().map(|o| cents(&o[4])).sum();
    let query = "SELECT SUM(p.cost) FROM purchase_suggestions p JOIN stores s ON s.store_id = p.store_id \
                 WHERE s.district = 'D01' AND p.business_date = DATE '2026-03-11'";
    let total = run_ok(&["sql", "--out", &out, "--format", "csv", query]);
    assert_eq!(cents(total.lines().nth(1).unwrap()), cost, "{latest}");

    let csv = run_ok(&["report", "--out", &out, "--district", "D01", "--date", "2026-03-09", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("exception_id,business_date,store_id,severity,kind,subject,amount,evidence"));
    assert!(lines.all(|l| l.contains(",2026-03-09,")), "{csv}");

    let output = tillflow().args(["report", "--out", &out, "--district", "D99"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("no district `D99`") && stderr.contains("D01"), "{stderr}");
}

#[test]
fn a_config_file_sets_the_flags_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let (out, other) = (dir.path().join("views"), dir.path().join("other"));
    let config = dir.path().join("tillflow.toml");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample");
    std::fs::write(&config, format!("input = [{sample:?}]\nout = {:?}\nworkers = 1\ntick = \"1d\"\n", out.display()))
        .unwrap();
    let summary = run_ok(&["run", "--config", &config.display().to_string()]);
    assert!(
        summary.contains("epochs                      9"),
        "a day per epoch (7 days, reference data and a day boundary):\n{summary}"
    );
    assert!(out.join("sku_margin/_delta_log").is_dir());
    run_ok(&["run", "--config", &config.display().to_string(), "--out", &other.display().to_string()]);
    assert!(other.join("sku_margin/_delta_log").is_dir(), "--out wins over the file");
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
            "ghost_inventory",
            "register_refunds",
            "slow_mover",
            "basket_pair",
        ]
    );
}

#[test]
fn user_mistakes_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere").display().to_string();
    let config = dir.path().join("tillflow.toml");
    std::fs::write(&config, "workers = 2\npersist_every = \"10s\"\n").unwrap();
    let config = config.display().to_string();
    let zero = dir.path().join("zero.toml");
    std::fs::write(&zero, "affinity-min-baskets = 0\n").unwrap();
    let zero = zero.display().to_string();
    for (args, hint) in [
        (vec!["run"], "nothing to read"),
        (vec!["run", "--config", config.as_str()], "unknown field `persist_every`"),
        (vec!["run", "--config", zero.as_str()], "expected a whole number of 1 or more, got 0"),
        (vec!["run", "--input", missing.as_str(), "--affinity-min-baskets", "0"], "0 is not in 1.."),
        (vec!["run", "--follow", "--pg", "0.0.0.0:6875"], "configure [tls]"),
        (vec!["run", "--follow", "--listen", "0.0.0.0:8080"], "[[ingest_tokens]]"),
        (vec!["run", "--follow", "--input", missing.as_str()], "does not exist"),
        (vec!["sql", "--connect", "127.0.0.1:1", "SELECT 1"], "no tillflow Flight SQL server answers"),
        (vec!["run", "--input", missing.as_str()], "does not exist"),
        (vec!["sql", "--out", missing.as_str(), "SELECT 1"], "run `tillflow run"),
        (vec!["run", "--input", missing.as_str(), "--tick", "soon"], "duration"),
        (vec!["sql", "--out", "ftp://host/views", "SELECT 1"], "or a bucket (s3://, gs://, az://)"),
        (vec!["run", "--follow", "--profile"], "live mode has /metrics instead"),
        (
            vec!["run", "--input", missing.as_str(), "--views", "margins"],
            "is not a view; choose among customer_segments",
        ),
    ] {
        let output = tillflow().args(&args).output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    }
}

#[test]
fn profile_splits_the_graph_time_by_view() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, out) = (dir.path().join("chain").display().to_string(), dir.path().join("views").display().to_string());
    run_ok(&["generate", "--out", &chain, "--stores", "2", "--days", "3"]);
    let summary = run_ok(&["run", "--input", &chain, "--out", &out, "--workers", "2", "--profile"]);
    let stages: Vec<(&str, f64)> = summary
        .lines()
        .skip_while(|l| !l.starts_with("graph time"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (rest, share) = l.trim().rsplit_once(' ')?;
            let (stage, _seconds) = rest.trim_end().rsplit_once(' ')?;
            Some((stage.trim(), share.trim_end_matches('%').parse().ok()?))
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|(stage, _)| *stage).collect();
    for view in ["customer_segments", "sku_margin", "inventory_position", "rule_breaks", "refund_void_anomalies"] {
        assert!(names.contains(&view), "{view} in {names:?}");
    }
    let total: f64 = stages.iter().map(|(_, share)| share).sum();
    assert!((99.0..=101.0).contains(&total), "the shares add up to {total}%: {summary}");
    let busiest = summary.lines().skip_while(|l| *l != "busiest operators").skip(1).count();
    assert_eq!(busiest, 10, "{summary}");
}

#[test]
fn demo_runs_on_a_fresh_directory_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo").display().to_string();
    let printed = run_ok(&["demo", "--dir", &demo_dir]);
    for title in [
        "Worst-margin SKUs",
        "Net sales and margin by store",
        "The busiest store-days: baskets, and how they were paid",
        "What the chain's departments sold",
        "Bought together: the strongest pairs of the last 28 days",
        "Stock that needs a look",
        "What to order today: the draft orders by supplier",
        "Slow movers",
        "Cashiers flagged against their district's peers",
        "Refunds and voids that break a rule",
        "Understaffed hours",
        "Customer segments",
        "The district manager's exceptions",
        "Dead letters by reason",
        "District D01's morning report",
        "Store S001's morning briefing",
    ] {
        assert!(printed.contains(title), "{printed}");
    }
    let brief = std::fs::read_to_string(dir.path().join("demo/brief.md")).unwrap();
    assert!(brief.starts_with("# Morning briefing — S001"), "{brief}");
    // The pairs bought together: rows of the sample's one district, each with its lift.
    let pairs = printed.split("Bought together").nth(1).unwrap().split("\n\n").next().unwrap();
    let pair_rows: Vec<&str> = pairs.lines().filter(|l| l.starts_with("| D01 ")).collect();
    assert!(!pair_rows.is_empty() && pair_rows.len() <= 5, "{pairs}");
    // Draft orders: the sample's suppliers, each line with whole cases and a cost.
    let orders = printed.split("What to order today").nth(1).unwrap().split("\n\n").next().unwrap();
    let order_rows: Vec<Vec<&str>> = orders
        .lines()
        .filter(|l| l.starts_with("| S00"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(!order_rows.is_empty() && order_rows.len() <= 6, "{orders}");
    let suppliers = ["Northline Foods", "Valley Fresh", "Brightway Supply", "Threadworks", "Bakery", "Electronics"];
    assert!(order_rows.iter().all(|o| suppliers.contains(&o[1]) && o[4].parse::<i64>().unwrap() > 0), "{orders}");
    // Six stores, each with its net sales line; every event accepted.
    let store_lines = printed.lines().filter(|l| l.starts_with("| S00")).count();
    assert!(store_lines >= 6 + 5, "{printed}");
    let accepted = printed.lines().find(|l| l.trim_start().starts_with("accepted")).unwrap();
    let read = printed.lines().find(|l| l.starts_with("events read")).unwrap();
    assert_eq!(accepted.split_whitespace().last(), read.split_whitespace().last());
}

/// `run` over files cuts the input for speed unless `--tick` asks for event-time epochs; every
/// view it ends with is the same for any cut (dead letters aside, which record their epoch).
#[test]
fn final_views_do_not_depend_on_how_the_input_is_cut_into_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain").display().to_string();
    run_ok(&["generate", "--out", &chain, "--stores", "3", "--days", "6", "--seed", "11"]);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cuts: [&[&str]; 4] = [&[], &["--tick", "1h"], &["--tick", "1d"], &["--tick", "7m"]];
    let mut tables: Vec<Vec<(String, Vec<String>)>> = Vec::new();
    for (i, cut) in cuts.iter().enumerate() {
        let out = dir.path().join(format!("out{i}")).display().to_string();
        let workers = if i % 2 == 0 { "2" } else { "1" };
        let mut args = vec!["run", "--input", &chain, "--out", &out, "--workers", workers];
        args.extend_from_slice(cut);
        let summary = crate::support::run_ok_keyed(&args);
        let epochs = summary.lines().find(|l| l.starts_with("epochs")).unwrap();
        let epochs: u64 = epochs.split_whitespace().last().unwrap().parse().unwrap();
        match cut.is_empty() {
            true => assert!(epochs < 10, "a 6-day chain read for speed takes a few epochs: {epochs}"),
            false => assert!(epochs > 6, "--tick {} cuts 6 days into more epochs than days: {epochs}", cut[1]),
        }
        let ctx = runtime.block_on(tillflow::sql::open(&tillflow_queries::persisted::root_url(&out).unwrap())).unwrap();
        let views = tillflow::run_table_names()
            .into_iter()
            .filter(|name| !["dead_letters", "pipeline_stats", "access_log"].contains(name))
            .map(|name| {
                let batches = runtime.block_on(tillflow::sql::query(&ctx, &format!("SELECT * FROM {name}"))).unwrap();
                (name.to_string(), rows(&batches))
            })
            .collect();
        tables.push(views);
    }
    assert!(tables[0].iter().all(|(_, rows)| !rows.is_empty()), "every view has rows");
    for (i, other) in tables.iter().enumerate().skip(1) {
        for ((name, want), (_, got)) in tables[0].iter().zip(other) {
            assert_eq!(got, want, "{name}: the cut {:?} changes the final rows", cuts[i]);
        }
    }
}

/// `--views` computes the views asked for (and what they read) and keeps only those: each equals
/// the same view of a run of every view, and nothing else is written.
#[test]
fn a_run_of_some_views_equals_those_views_of_a_full_run() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain").display().to_string();
    run_ok(&["generate", "--out", &chain, "--stores", "3", "--days", "5", "--seed", "5"]);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let read = |out: &str| -> Vec<(String, Vec<String>)> {
        let ctx = runtime.block_on(tillflow::sql::open(&tillflow_queries::persisted::root_url(out).unwrap())).unwrap();
        tillflow::run_table_names()
            .into_iter()
            .filter(|name| std::path::Path::new(out).join(name).join("_delta_log").is_dir())
            .map(|name| {
                let batches = runtime.block_on(tillflow::sql::query(&ctx, &format!("SELECT * FROM {name}"))).unwrap();
                (name.to_string(), rows(&batches))
            })
            .collect()
    };
    let full = dir.path().join("full").display().to_string();
    run_ok(&["run", "--input", &chain, "--out", &full, "--workers", "2"]);
    let full = read(&full);
    let choices =
        ["exceptions,labor_demand", "segment_profiles", "rule_breaks", "store_daily,category_daily", "basket_affinity"];
    for (i, chosen) in choices.into_iter().enumerate() {
        let out = dir.path().join(format!("some{i}")).display().to_string();
        let summary = run_ok(&["run", "--input", &chain, "--out", &out, "--workers", "2", "--views", chosen]);
        let some = read(&out);
        let names: Vec<&str> = some.iter().map(|(name, _)| name.as_str()).collect();
        let always = tillflow::dataflow::ViewSet::ALWAYS_KEPT.into_iter().chain(["dead_letters", "pipeline_stats"]);
        let mut expected: Vec<&str> = chosen.split(',').chain(always).collect();
        expected.retain(|name| full.iter().any(|(n, _)| n == name));
        let mut sorted = names.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected, "--views {chosen} writes those views alone: {summary}");
        for (name, got) in &some {
            let (_, want) = full.iter().find(|(n, _)| n == name).unwrap();
            // `stores` is kept by every run, whatever --views says: it too equals the full run's.
            if name != "pipeline_stats" && name != "dead_letters" {
                assert!(!want.is_empty(), "{name} has rows");
                assert_eq!(got, want, "{name} of --views {chosen}");
            }
        }
    }
}

#[test]
fn the_morning_briefing_of_a_sample_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("views").display().to_string();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample");
    run_ok(&["run", "--input", sample, "--out", &out]);
    // The golden file was read and checked by hand: yesterday (2026-03-08, the sample's last
    // day), five actions ranked by severity × amount, the exceptions dated before yesterday.
    // After a deliberate change: `tillflow brief --out VIEWS --store S001 > tests/golden/brief-S001.md`.
    let golden = include_str!("../golden/brief-S001.md");
    assert_eq!(run_ok(&["brief", "--out", &out, "--store", "S001"]), golden);

    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&["brief", "--out", &out, "--store", "S001", "--format", "json"])).unwrap();
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 5);
    let scores: Vec<f64> = actions.iter().map(|a| a["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked: {scores:?}");
    let net_sales = run_ok(&[
        "sql",
        "--out",
        &out,
        "--format",
        "csv",
        "SELECT CAST(net_sales AS DOUBLE) FROM store_daily WHERE store_id = 'S001' AND business_date = DATE '2026-03-08'",
    ]);
    assert_eq!(json["yesterday"]["net_sales"].as_f64().unwrap().to_string(), net_sales.lines().nth(1).unwrap());
    let older = json["open_older"].as_array().unwrap();
    assert!(!older.is_empty() && older.iter().all(|a| a["business_date"].as_str().unwrap() < "2026-03-08"));

    let html = run_ok(&["brief", "--out", &out, "--store", "S001", "--date", "2026-03-05", "--format", "html"]);
    assert!(html.contains("<h1>Morning briefing — S001 Riverside #1 (D01), 2026-03-05</h1>"), "{html}");
    assert!(html.contains("2026-03-04:"), "yesterday is the day before --date");
    let output = tillflow().args(["brief", "--out", &out, "--store", "S999"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no store `S999`"));
}
