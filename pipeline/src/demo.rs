//! `tillflow demo`: a small chain, generated once, through every view, and a few telling answers.

use std::path::Path;

use tillflow_data::ChainConfig;
use tillflow_schemas::Format;

use crate::Result;
use crate::pseudonyms::Pseudonyms;
use crate::run::{RunConfig, run};
use crate::sql::{self, OutputFormat};

/// The demo chain, the same as the committed `data/sample/`: small enough to run in seconds,
/// big enough to show every kind of event and anomaly.
pub fn demo_chain() -> ChainConfig {
    ChainConfig { stores: 6, days: 7, seed: 1, ..ChainConfig::default() }
}

/// The district whose report the demo writes.
const DEMO_DISTRICT: &str = "D01";

/// The store whose morning briefing the demo writes.
const DEMO_STORE: &str = "S001";

/// Where the committed sample sits, relative to a checkout.
const SAMPLE: &str = "data/sample";

const QUESTIONS: &[(&str, &str)] = &[
    (
        "Worst-margin SKUs over the whole period (net sales over $20)",
        "SELECT store_id, sku, SUM(units_sold) AS units, SUM(net_sales) AS net_sales, SUM(gross_margin) AS margin, \
         ROUND(CAST(SUM(gross_margin) AS DOUBLE) / CAST(SUM(net_sales) AS DOUBLE), 3) AS margin_pct \
         FROM sku_margin GROUP BY store_id, sku HAVING SUM(net_sales) > 20 ORDER BY margin_pct LIMIT 5",
    ),
    (
        "Net sales and margin by store",
        "SELECT store_id, SUM(net_sales) AS net_sales, SUM(refunds) AS refunds, SUM(gross_margin) AS margin, \
         ROUND(CAST(SUM(gross_margin) AS DOUBLE) / CAST(SUM(net_sales) AS DOUBLE), 3) AS margin_pct \
         FROM sku_margin GROUP BY store_id ORDER BY store_id",
    ),
    (
        "The busiest store-days: baskets, and how they were paid (store_daily)",
        "SELECT store_id, business_date, transactions, net_sales, ROUND(avg_basket, 2) AS avg_basket, \
         ROUND(units_per_basket, 2) AS units_per_basket, tender_card, tender_cash, tender_gift_card \
         FROM store_daily ORDER BY net_sales DESC LIMIT 5",
    ),
    (
        "What the chain's departments sold, and their margin",
        "SELECT department, SUM(items) AS items, SUM(net_sales) AS net_sales, SUM(gross_margin) AS margin, \
         ROUND(CAST(SUM(gross_margin) AS DOUBLE) / CAST(SUM(net_sales) AS DOUBLE), 3) AS margin_pct \
         FROM category_daily GROUP BY department ORDER BY net_sales DESC LIMIT 6",
    ),
    (
        "Bought together: the strongest pairs of the last 28 days (basket_affinity)",
        "SELECT b.district, a.name AS product_a, c.name AS product_b, b.baskets_both, \
         ROUND(b.confidence_ab, 2) AS confidence_ab, ROUND(b.lift, 2) AS lift \
         FROM basket_affinity b JOIN products a ON a.sku = b.sku_a JOIN products c ON c.sku = b.sku_b \
         ORDER BY lift DESC, baskets_both DESC LIMIT 5",
    ),
    (
        "Stock that needs a look: negative (ghost inventory) or under five days of cover",
        "SELECT store_id, sku, on_hand, units_sold_14d, ROUND(days_of_cover, 1) AS days_of_cover, reorder, negative_stock \
         FROM inventory_position WHERE negative_stock OR reorder ORDER BY negative_stock DESC, days_of_cover LIMIT 6",
    ),
    (
        "What to order today: the draft orders by supplier (purchase_suggestions), soonest stock-out first",
        "SELECT store_id, order_group, skus, units, cases, cost, earliest_stockout_date \
         FROM purchase_suggestions ORDER BY earliest_stockout_date, cost DESC LIMIT 6",
    ),
    (
        "Slow movers: stock tied up in SKUs that do not sell (replenishment)",
        "SELECT r.store_id, p.name, r.on_hand, r.units_sold_28d, r.stock_value \
         FROM replenishment r JOIN products p ON p.sku = r.sku WHERE r.slow_mover \
         ORDER BY r.stock_value DESC LIMIT 5",
    ),
    (
        "Cashiers flagged against their district's peers (7-day rates)",
        "SELECT store_id, cashier_id, business_date, transactions_7d, ROUND(line_void_rate, 3) AS line_void_rate, \
         ROUND(manual_discount_rate, 3) AS manual_discount_rate, flags FROM refund_void_anomalies WHERE flagged \
         ORDER BY business_date DESC, store_id, cashier_id LIMIT 6",
    ),
    (
        "Registers flagged against the store's other registers (7-day rates)",
        "SELECT store_id, register_id, business_date, transactions_7d, cashiers_7d, \
         ROUND(refund_rate, 3) AS refund_rate, ROUND(refund_rate_others, 3) AS others, \
         ROUND(line_void_rate, 3) AS line_void_rate, ROUND(line_void_rate_others, 3) AS void_others, flags \
         FROM register_anomalies WHERE flagged ORDER BY business_date DESC, store_id, register_id LIMIT 6",
    ),
    (
        "Refunds and voids that break a rule",
        "SELECT rule, COUNT(*) AS breaks, SUM(amount) AS amount FROM rule_breaks GROUP BY rule ORDER BY breaks DESC",
    ),
    (
        "Understaffed hours: staff on the clock against staff required",
        "SELECT store_id, business_date, hour, transactions, ROUND(staff_on_clock, 2) AS staff_on_clock, required_staff, \
         ROUND(forecast_transactions, 1) AS forecast FROM labor_demand WHERE status = 'understaffed' \
         ORDER BY gap LIMIT 6",
    ),
    (
        "Customer segments (k-means over recency, frequency, spend, basket and weekend share)",
        "SELECT segment_id, size, label, ROUND(avg_recency_days, 1) AS recency_days, ROUND(avg_frequency, 1) AS frequency, \
         ROUND(avg_monetary, 2) AS monetary, ROUND(weekend_share, 2) AS weekend_share FROM segment_profiles ORDER BY segment_id",
    ),
    (
        "The district manager's exceptions, by kind and severity",
        "SELECT kind, severity, COUNT(*) AS exceptions FROM exceptions GROUP BY kind, severity \
         ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, exceptions DESC",
    ),
    (
        "Dead letters by reason",
        "SELECT reason, COUNT(*) AS records FROM dead_letters GROUP BY reason ORDER BY records DESC LIMIT 5",
    ),
];

/// The demo's events: the committed sample in a checkout, else the same chain generated once
/// into `dir/events`.
fn events(dir: &Path) -> Result<std::path::PathBuf> {
    let sample = Path::new(SAMPLE);
    let events = if sample.join("ground_truth.json").exists() { sample.to_path_buf() } else { dir.join("events") };
    if !events.join("ground_truth.json").exists() {
        let config = demo_chain();
        println!("generating a {}-store, {}-day chain into {} ...", config.stores, config.days, events.display());
        tillflow_data::generate(&events, config, Format::Ndjson, &mut |_, _| {})?;
    }
    Ok(events)
}

pub fn demo(dir: &Path, workers: usize, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let events = events(dir)?;
    let out = dir.join("views");
    let out = out.display().to_string();
    let pseudonyms = Pseudonyms::for_out(&out, None)?;
    let config = RunConfig::new(vec![events], out.clone(), workers, pseudonyms);
    println!("running the pipeline ...");
    let summary = run(&config, runtime)?;
    println!("{summary}\n");
    let ctx = runtime.block_on(sql::open(&summary.out))?;
    for (title, query) in QUESTIONS {
        let batches = runtime.block_on(sql::query(&ctx, query))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let answer = if rows == 0 { "(none)".to_string() } else { sql::render(&batches, OutputFormat::Table)? };
        println!("{title}\n{answer}\n");
    }
    let report = dir.join("report.html");
    let html = runtime.block_on(crate::report::report(&ctx, DEMO_DISTRICT, None, crate::report::ReportFormat::Html))?;
    std::fs::write(&report, html)?;
    println!("District {DEMO_DISTRICT}'s morning report: {}", report.display());
    let brief = dir.join("brief.md");
    let text = runtime.block_on(crate::brief::brief(&ctx, DEMO_STORE, None, crate::brief::BriefFormat::Md))?;
    std::fs::write(&brief, text)?;
    println!("Store {DEMO_STORE}'s morning briefing: {}", brief.display());
    println!("Live, with the console and alerts: tillflow demo --serve");
    println!("Ask your own: tillflow sql --out {} \"SELECT * FROM sku_margin LIMIT 10\"", out);
    Ok(())
}

/// How `tillflow demo --serve` runs.
#[derive(Clone, Debug)]
pub struct ServeDemo {
    pub listen: std::net::SocketAddr,
    /// Where alerts go; none: a receiver of the demo's own, printing each to the terminal.
    pub alert_to: Option<String>,
    /// A business day of the sample every `pace`.
    pub pace: std::time::Duration,
    pub workers: usize,
}

/// `tillflow demo --serve`: the sample chain fed live, a business day every `pace` (the
/// reference data and the first day at once), with the console on `listen` and the new
/// exceptions alerted (high ones) to a local webhook. Starts afresh in `dir/live` each time.
pub fn serve(dir: &Path, demo: ServeDemo, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let sample = events(dir)?;
    let (feed, out) = (dir.join("live-events"), dir.join("live"));
    for stale in [&feed, &out] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)?;
        }
    }
    std::fs::create_dir_all(&feed)?;
    let mut days: Vec<std::path::PathBuf> = std::fs::read_dir(&sample)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("events-")))
        .collect();
    days.sort();
    days.insert(0, sample.join("reference.ndjson"));
    let url = match demo.alert_to {
        Some(url) => url,
        None => receive_alerts(runtime)?,
    };
    let channel = crate::alerts::Channel {
        name: "demo".into(),
        kind: crate::alerts::ChannelKind::Webhook,
        url: url.clone(),
        min_severity: "high".into(),
        kinds: Vec::new(),
        districts: Vec::new(),
        stores: Vec::new(),
        briefing_at: None,
    };
    let out_text = out.display().to_string();
    let pseudonyms = Pseudonyms::for_out(&out_text, None)?;
    let config = crate::serve::ServeConfig {
        inputs: vec![feed.clone()],
        out: out_text,
        live: crate::live::LiveConfig {
            workers: demo.workers,
            tuning: Default::default(),
            tick: std::time::Duration::from_secs(1),
            persist_every: std::time::Duration::from_secs(10),
            stats_kept: 3_600,
            pseudonyms,
            erasure_deadline_ms: crate::erasure::DEADLINE_MS,
            checkpoint_after: 64 << 20,
        },
        listen: Some(demo.listen),
        pg: None,
        flight: None,
        keep_history: std::time::Duration::from_secs(86_400),
        sources: Default::default(),
        users: Vec::new(),
        tls: None,
        ingest_tokens: Vec::new(),
        alerts: vec![channel],
    };
    println!("the console: http://{}/  (open it in a browser)", demo.listen);
    println!("alerts of high exceptions go to {url}");
    println!("feeding the sample chain: a business day every {:?}; Ctrl-C stops", demo.pace);
    let pace = demo.pace;
    std::thread::spawn(move || {
        for (i, day) in days.iter().enumerate() {
            if i > 1 {
                std::thread::sleep(pace);
            }
            // Written beside, then moved in: the follower reads it whole.
            let name = day.file_name().expect("a file");
            let staged = feed.join(format!(".{}", name.to_string_lossy()));
            if std::fs::copy(day, &staged).and_then(|_| std::fs::rename(&staged, feed.join(name))).is_err() {
                return;
            }
            if i > 0 {
                println!("fed {}", name.to_string_lossy());
            }
        }
        println!("the whole sample is in: acknowledge, dismiss, assign in the console; Ctrl-C stops");
    });
    crate::serve::serve(config, runtime)?;
    Ok(())
}

/// A webhook receiver on a free loopback port that prints each alert it gets; its URL.
fn receive_alerts(runtime: &tokio::runtime::Runtime) -> Result<String> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/alerts", listener.local_addr()?);
    let print = |axum::Json(alert): axum::Json<serde_json::Value>| async move {
        let field = |name: &str| alert[name].as_str().unwrap_or_default().to_string();
        println!(
            "alert received: {} {} at {} ({}): {} [{}]",
            field("severity"),
            field("kind"),
            field("store_id"),
            field("subject"),
            field("evidence"),
            field("idempotency_key")
        );
        axum::http::StatusCode::OK
    };
    let app = axum::Router::new().route("/alerts", axum::routing::post(print));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
