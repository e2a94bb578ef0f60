//! The end-to-end benchmark: one generated chain, every figure of benches/RESULTS.md, in one run.
//!
//! ```sh
//! cargo bench --bench e2e -- --stores 40 --days 30
//! ```
//!
//! 1. generates the chain (NDJSON and Parquet), unless it is already in `--dir`;
//! 2. `tillflow run` over the NDJSON with 1 and 2 workers: events/s, peak RSS, rows per view;
//! 3. DuckDB (Python `duckdb`, benches/duckdb_from_ndjson.py) computing the SQL views from the
//!    same NDJSON, parse included, its row counts and totals checked against tillflow's views;
//!    then `tillflow replay` from the Parquet copy: events/s;
//! 4. the graph in this process: the history in large epochs up to the busiest `--tail` seconds
//!    of the last day, then those in 1-second epochs, each timed from close to settled (p50, p99,
//!    mean);
//! 5. the same events recomputed from scratch by the reference SQL in DataFusion, and by the same
//!    SQL in DuckDB (Python `duckdb`, benches/duckdb_recompute.py), with the ratio of a 1-second
//!    batch's cost to a full recompute.
//!
//! The report is printed and written between the `e2e` markers of benches/RESULTS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tillflow::source::Epochs;
use tillflow_data::ChainConfig;
use tillflow_schemas::{Day, Event, Format, Millis};

#[path = "chain.rs"]
mod chain;
use chain::{accepted, generated};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 40)]
    stores: u32,
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the chain is generated and kept between runs.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/e2e"))]
    dir: PathBuf,
    /// Fed in 1-second epochs at the end: the this many seconds of the last day with the most sales.
    #[arg(long, default_value_t = 600)]
    tail: i64,
    /// Skip the `tillflow run` and `replay` measurements (steps 2 and 3).
    #[arg(long)]
    skip_runs: bool,
    /// Skip DuckDB (when Python's duckdb is not installed).
    #[arg(long)]
    no_duckdb: bool,
    /// How many times `tillflow run` on 2 workers and DuckDB each run, alternately: this VM's
    /// run-to-run spread is ±20 %, so medians are compared.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Do not rewrite benches/RESULTS.md.
    #[arg(long)]
    no_write: bool,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let chain = args.dir.join(format!("chain-{}x{}-{}", args.stores, args.days, args.seed));
    let ndjson = chain.join("ndjson");
    let parquet = chain.join("parquet");
    let config = ChainConfig { stores: args.stores, days: args.days, seed: args.seed, ..ChainConfig::default() };
    for (dir, format) in [(&ndjson, Format::Ndjson), (&parquet, Format::Parquet)] {
        generated(dir, config.clone(), format)?;
    }
    let mut report = Report::default();
    let bytes: u64 =
        std::fs::read_dir(&ndjson)?.map(|e| e.map(|e| e.metadata().map_or(0, |m| m.len())).unwrap_or(0)).sum();
    report.line(format!(
        "chain: {} stores × {} days, seed {}; {:.0} MB of NDJSON",
        args.stores,
        args.days,
        args.seed,
        bytes as f64 / 1e6
    ));

    if !args.skip_runs {
        runs(&mut report, &args.dir, &ndjson, &parquet, !args.no_duckdb, args.repeat.max(1))?;
    }
    let events = accepted(&ndjson);
    for workers in [1, 2] {
        let timing = incremental(&events, workers, args.tail * 1000);
        report.line(format!(
            "in-process graph, {workers} worker(s): history ({} events) in {:.2} s → {:.0} events/s; \
             then {} 1-second epochs ({} events): settle p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms",
            timing.history_events,
            timing.history.as_secs_f64(),
            timing.history_events as f64 / timing.history.as_secs_f64(),
            timing.epochs.len(),
            timing.tail_events,
            percentile(&timing.epochs, 0.50),
            percentile(&timing.epochs, 0.99),
            timing.epochs.iter().sum::<f64>() / timing.epochs.len().max(1) as f64,
        ));
        report.batch_ms = timing.epochs.iter().sum::<f64>() / timing.epochs.len().max(1) as f64;
        if workers == 1 {
            let per_epoch = timing.epochs.len().max(1) as f64;
            report.line(format!(
                "where worker 0's graph time went, history (s) and per 1-second epoch (ms): {}",
                timing
                    .history_stages
                    .iter()
                    .zip(&timing.tail_stages)
                    .map(|((stage, history), (_, tail))| format!(
                        "{stage} {:.1} s, {:.2} ms",
                        history.as_secs_f64(),
                        tail.as_secs_f64() * 1000.0 / per_epoch
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    let tables = args.dir.join("event-tables");
    let datafusion_s = datafusion_recompute(&events, &tables)?;
    report.line(format!(
        "DataFusion recompute of every reference view from scratch: {datafusion_s:.2} s → a 1-second batch is \
         **{:.0}×** cheaper",
        datafusion_s * 1000.0 / report.batch_ms
    ));
    if !args.no_duckdb {
        let duckdb_s = duckdb_recompute(&tables)?;
        report.line(format!(
            "DuckDB recompute of the same SQL: {duckdb_s:.2} s → a 1-second batch is **{:.0}×** cheaper",
            duckdb_s * 1000.0 / report.batch_ms
        ));
    }
    println!("{}", report.text);
    if !args.no_write {
        report.write(Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/RESULTS.md"), &args)?;
    }
    Ok(())
}

/// Steps 2 and 3: `tillflow run` over NDJSON with 1 and 2 workers (2 workers and DuckDB
/// `repeat` times, alternately), and `replay` from Parquet.
fn runs(
    report: &mut Report,
    dir: &Path,
    ndjson: &Path,
    parquet: &Path,
    duckdb: bool,
    repeat: usize,
) -> anyhow::Result<()> {
    let out = dir.join("views");
    let reference = path(&ndjson.join("reference.ndjson"));
    let baseline = measure(&["run", "--input", &reference, "--out", &path(&out), "--workers", "2"])?.peak_rss;
    let run = |workers: usize| {
        measure(&["run", "--input", &path(ndjson), "--out", &path(&out), "--workers", &workers.to_string()])
    };

    // The views DuckDB computes too: those whose reference is SQL (customer_segments and
    // segment_profiles are k-means, not SQL).
    let same_out = dir.join("views-same");
    let sql_views: Vec<&str> = tillflow::tables()
        .into_iter()
        .filter(|t| matches!(t.reference, tillflow::Reference::Sql(_)))
        .map(|t| t.name)
        .collect();
    let same_views = &sql_views.join(",");
    let same = || {
        let args =
            ["run", "--input", &path(ndjson), "--out", &path(&same_out), "--workers", "2", "--views", same_views];
        measure(&args)
    };

    let one = run(1)?;
    let (mut twos, mut sames, mut ducks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat {
        twos.push(run(2)?);
        if duckdb {
            sames.push(same()?);
            ducks.push(duckdb_from_ndjson(ndjson)?);
        }
    }
    let compute: Vec<f64> = twos.iter().map(|r| r.compute_s).collect();
    let walls: Vec<f64> = twos.iter().map(|r| r.wall_s).collect();
    let two = twos.into_iter().min_by(|a, b| a.compute_s.total_cmp(&b.compute_s)).expect("at least one run");
    for (workers, seconds, run) in [(1, one.compute_s, &one), (2, median(&compute), &two)] {
        report.line(format!(
            "`tillflow run` NDJSON, {workers} worker(s): {} events in {seconds:.2} s read+compute{} → **{:.0} events/s**; \
             peak RSS {:.0} MiB",
            run.events,
            if workers == 2 { format!(" (median of {repeat}: {})", spread(&compute)) } else { String::new() },
            run.events as f64 / seconds,
            run.peak_rss as f64 / (1 << 20) as f64
        ));
    }
    report.line(format!(
        "the same end to end, persisting every view as Delta included: median {:.2} s ({}) → {:.0} events/s",
        median(&walls),
        spread(&walls),
        two.events as f64 / median(&walls)
    ));
    if duckdb {
        let seconds: Vec<f64> = ducks.iter().map(|d| d.seconds).collect();
        let with_writes: Vec<f64> = ducks.iter().map(|d| d.seconds + d.write_seconds).collect();
        let same_compute: Vec<f64> = sames.iter().map(|r| r.compute_s).collect();
        let same_walls: Vec<f64> = sames.iter().map(|r| r.wall_s).collect();
        let checked = check_against_duckdb(&ducks[0], &out)?;
        report.line(format!(
            "DuckDB from the same NDJSON, parse included ({} threads): the {} SQL views in a median {:.2} s ({}; parse \
             {:.2} s), {:.2} s with the views written as Parquet ({}); DuckDB's row counts, totals and digests are \
             {checked}",
            ducks[0].threads,
            ducks[0].views,
            median(&seconds),
            spread(&seconds),
            ducks[0].parse_seconds,
            median(&with_writes),
            spread(&with_writes),
        ));
        report.line(format!(
            "**the same views** (`tillflow run --views {same_views}`, 2 workers): median {:.2} s read+compute ({}), \
             {:.2} s with every view persisted as Delta ({}) → tillflow **{:.2}×** DuckDB's speed computing, \
             **{:.2}×** with both writing their views",
            median(&same_compute),
            spread(&same_compute),
            median(&same_walls),
            spread(&same_walls),
            median(&seconds) / median(&same_compute),
            median(&with_writes) / median(&same_walls),
        ));
        report.line(format!(
            "every view (the {} SQL views, customer_segments and segment_profiles) against DuckDB's {} SQL views: \
             tillflow **{:.2}×** DuckDB's speed computing, {:.2}× with both writing",
            ducks[0].views,
            ducks[0].views,
            median(&seconds) / median(&compute),
            median(&with_writes) / median(&walls),
        ));
    }
    let rows: u64 = two.views.iter().map(|(_, n)| n).sum();
    report.line(format!(
        "view rows: {} (total {rows}); peak RSS above a run over the reference data alone ({:.0} MiB), \
         per view row: **{:.0} bytes**",
        two.views.iter().map(|(v, n)| format!("{v} {n}")).collect::<Vec<_>>().join(", "),
        baseline as f64 / (1 << 20) as f64,
        two.peak_rss.saturating_sub(baseline) as f64 / rows.max(1) as f64
    ));
    report.line(format!("2 workers / 1 worker: **{:.2}×**", one.compute_s / median(&compute)));
    let replay = measure(&["replay", "--input", &path(parquet), "--out", &path(&out), "--workers", "2"])?;
    report.line(format!(
        "`tillflow replay` Parquet, 2 workers: {} events in {:.2} s → **{:.0} events/s**",
        replay.events,
        replay.compute_s,
        replay.events as f64 / replay.compute_s
    ));

    Ok(())
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The values, smallest first, as text.
fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[derive(Default)]
struct Report {
    text: String,
    batch_ms: f64,
}

impl Report {
    fn line(&mut self, line: String) {
        eprintln!("{line}");
        self.text.push_str(&format!("- {line}\n"));
    }

    /// Replaces the text between the e2e markers of RESULTS.md.
    fn write(&self, results: PathBuf, args: &Args) -> anyhow::Result<()> {
        let (begin, end) = ("<!-- e2e:begin -->", "<!-- e2e:end -->");
        let old = std::fs::read_to_string(&results)?;
        let (Some(a), Some(b)) = (old.find(begin), old.find(end)) else {
            anyhow::bail!("{} has no {begin} … {end} section", results.display());
        };
        let profile = if cfg!(debug_assertions) { " --profile dev" } else { "" };
        let command = format!(
            "cargo bench{profile} --bench e2e -- --stores {} --days {} --seed {}",
            args.stores, args.days, args.seed
        );
        let commit = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output();
        let commit = commit.ok().and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
        let new =
            format!("{}{begin}\n`{command}` at commit {}\n\n{}{}", &old[..a], commit.trim(), self.text, &old[b..]);
        std::fs::write(&results, new)?;
        Ok(())
    }
}

/// What one `tillflow` command reported, and its peak memory.
struct Measured {
    events: u64,
    compute_s: f64,
    /// Read, compute and persist.
    wall_s: f64,
    views: Vec<(String, u64)>,
    peak_rss: u64,
}

/// Runs the tillflow binary, sampling its peak resident memory until it ends.
fn measure(args: &[&str]) -> anyhow::Result<Measured> {
    let child = Command::new(env!("CARGO_BIN_EXE_tillflow")).args(args).stdout(Stdio::piped()).spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0) * 1024);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "tillflow {args:?} failed");
    let summary = String::from_utf8(output.stdout)?;
    let field = |name: &str| -> Option<&str> {
        summary
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().nth(name.split(' ').count()))
    };
    let events = field("events read").and_then(|v| v.parse().ok()).unwrap_or(0);
    let compute_s = field("read+compute").and_then(|v| v.trim_end_matches('s').parse().ok()).unwrap_or(f64::NAN);
    let wall_s = field("wall time").and_then(|v| v.trim_end_matches('s').parse().ok()).unwrap_or(f64::NAN);
    let views = summary
        .lines()
        .filter_map(|l| l.strip_prefix("view "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.parse().ok()?))
        })
        .collect();
    Ok(Measured { events, compute_s, wall_s, views, peak_rss: sampler.join().unwrap_or(0) })
}

struct Incremental {
    history: Duration,
    history_events: usize,
    /// Milliseconds from closing each 1-second epoch of the tail to every view settled.
    epochs: Vec<f64>,
    tail_events: usize,
    /// Worker 0's time per stage of the graph over the history, and over the tail.
    history_stages: Vec<(&'static str, Duration)>,
    tail_stages: Vec<(&'static str, Duration)>,
}

/// The start of the `tail_ms` of the last day holding the most sales.
fn busiest(events: &[(Event, Option<Day>)], tail_ms: Millis) -> Millis {
    let end = events.iter().filter_map(|(e, _)| e.ts()).max().unwrap_or(0);
    let mut buckets = std::collections::BTreeMap::<Millis, usize>::new();
    let sales = events.iter().filter(|(e, _)| matches!(e, Event::Sale(_))).filter_map(|(e, _)| e.ts());
    for ts in sales.filter(|ts| *ts > end - tillflow_schemas::time::MILLIS_PER_DAY) {
        *buckets.entry(ts - ts.rem_euclid(tail_ms)).or_default() += 1;
    }
    buckets.into_iter().max_by_key(|(start, n)| (*n, *start)).map_or(end - tail_ms, |(start, _)| start)
}

/// Events per epoch of the history, as `tillflow run` cuts finished input.
const HISTORY_EPOCH_EVENTS: u64 = match Epochs::FAST {
    Epochs::Records(n) => n,
    Epochs::Tick(_) => 1 << 19,
};

/// Feeds the history in large epochs up to the busiest `tail_ms` of the last day, then that in
/// 1-second epochs (numbered from the tail's first second on); what comes after is not fed.
fn incremental(events: &[(Event, Option<Day>)], workers: usize, tail_ms: Millis) -> Incremental {
    let tail_from = busiest(events, tail_ms);
    let tail_until = tail_from + tail_ms;
    let events = Arc::new(events.to_vec());
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let operators = tillflow::profile::OperatorClock::install(worker);
        let mut graph = tillflow::dataflow::build(worker, Default::default());
        let stages = graph.stages.clone();
        let mut timing = Incremental {
            history: Duration::ZERO,
            history_events: 0,
            epochs: Vec::new(),
            tail_events: 0,
            history_stages: Vec::new(),
            tail_stages: Vec::new(),
        };
        let mut epoch: u64 = 0;
        let close = |graph: &mut tillflow::dataflow::Graph, worker: &mut timely::worker::Worker, next: u64| {
            graph.advance(worker, next);
            drop(graph.drain());
        };
        if worker.index() == 0 {
            let started = Instant::now();
            let mut clock = Millis::MIN;
            let mut tail = Vec::new();
            for (event, day) in events.iter() {
                clock = clock.max(event.ts().unwrap_or(clock));
                if clock >= tail_until {
                    break;
                }
                if clock >= tail_from {
                    tail.push((clock, event.clone(), *day));
                    continue;
                }
                // The history in the epochs `tillflow run` cuts for speed.
                if (timing.history_events as u64).is_multiple_of(HISTORY_EPOCH_EVENTS) {
                    epoch += 1;
                    close(&mut graph, worker, epoch);
                }
                graph.inputs.push(event.clone(), *day);
                timing.history_events += 1;
            }
            let next = epoch + 1;
            close(&mut graph, worker, next);
            epoch = next;
            timing.history = started.elapsed();
            timing.history_stages = operators.profile(worker, &stages).stages;
            timing.tail_events = tail.len();
            let mut tail = tail.into_iter().peekable();
            while let Some((clock, _, _)) = tail.peek() {
                let second = (*clock as u64).div_ceil(1000).max(epoch);
                while let Some((_, event, day)) = tail.next_if(|(c, _, _)| (*c as u64).div_ceil(1000) <= second) {
                    graph.inputs.push(event, day);
                }
                let closed = Instant::now();
                close(&mut graph, worker, second + 1);
                timing.epochs.push(closed.elapsed().as_secs_f64() * 1000.0);
                epoch = second + 1;
            }
            let history = &timing.history_stages;
            timing.tail_stages = operators.profile(worker, &stages).stages;
            for ((_, tail), (_, before)) in timing.tail_stages.iter_mut().zip(history) {
                *tail = tail.saturating_sub(*before);
            }
        }
        graph.finish(worker);
        timing
    })
    .expect("timely starts");
    guards.join().into_iter().filter_map(Result::ok).find(|t| t.history_events > 0).expect("worker 0's timing")
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

/// Seconds DataFusion takes to compute every reference view from the event tables (loaded first,
/// not timed); the tables are also written to `tables` as Parquet for DuckDB.
fn datafusion_recompute(events: &[(Event, Option<Day>)], tables: &Path) -> anyhow::Result<f64> {
    let mut rows = tillflow_schemas::tables::EventTables::new();
    for (event, _) in events {
        rows.push(event);
    }
    let batches = rows.batches()?;
    // Only this run's tables: DuckDB loads every Parquet file in the folder.
    if tables.exists() {
        std::fs::remove_dir_all(tables)?;
    }
    std::fs::create_dir_all(tables)?;
    for (name, batch) in &batches {
        let file = std::fs::File::create(tables.join(format!("{name}.parquet")))?;
        let mut writer = deltalake::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
        writer.write(batch)?;
        writer.close()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        tillflow_queries::functions::register(&ctx);
        for (name, batch) in batches {
            ctx.register_batch(name, batch)?;
        }
        let started = Instant::now();
        tillflow_queries::reference::compute(&ctx, Default::default()).await?;
        Ok(started.elapsed().as_secs_f64())
    })
}

/// What DuckDB printed after computing the SQL views from the NDJSON files, parse included.
struct Duck {
    seconds: f64,
    parse_seconds: f64,
    /// Writing the views as Parquet files, after `seconds`.
    write_seconds: f64,
    threads: serde_json::Value,
    views: usize,
    result: serde_json::Value,
}

fn duckdb_from_ndjson(ndjson: &Path) -> anyhow::Result<Duck> {
    let result: serde_json::Value = serde_json::from_str(&duckdb_script("duckdb_from_ndjson.py", ndjson)?)?;
    Ok(Duck {
        seconds: result["seconds"].as_f64().unwrap_or(f64::NAN),
        parse_seconds: result["parse_seconds"].as_f64().unwrap_or(f64::NAN),
        write_seconds: result["write_seconds"].as_f64().unwrap_or(f64::NAN),
        threads: result["threads"].clone(),
        views: result["rows"].as_object().map_or(0, |rows| rows.len()),
        result,
    })
}

/// Whether DuckDB's row counts and totals equal those of tillflow's views persisted under `out`, in words.
fn check_against_duckdb(duck: &Duck, out: &Path) -> anyhow::Result<String> {
    let result = &duck.result;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let ctx = runtime.block_on(tillflow::sql::open(&tillflow_queries::persisted::root_url(&path(out))?))?;
    let scalar = |sql: &str| -> anyhow::Result<String> {
        let batches = runtime.block_on(tillflow::sql::query(&ctx, sql))?;
        let column = batches.first().map(|b| b.column(0).clone()).ok_or_else(|| anyhow::anyhow!("{sql}: no rows"))?;
        Ok(arrow::util::display::array_value_to_string(&column, 0)?)
    };
    let mut checked = Vec::new();
    let mut differences = Vec::new();
    let rows = result["rows"].as_object().cloned().unwrap_or_default();
    for (view, duck) in &rows {
        let (ours, duck) = (scalar(&format!("SELECT COUNT(*) FROM {view}"))?, duck.to_string());
        checked.push(format!("{view} {ours} rows"));
        if ours != duck {
            differences.push(format!("{view}: {ours} rows, DuckDB {duck}"));
        }
    }
    for (name, duck) in result["totals"].as_object().cloned().unwrap_or_default() {
        let (view, column) = name.split_once('.').unwrap_or((&name, ""));
        let ours = scalar(&format!("SELECT COALESCE(SUM({column}), 0) FROM {view}"))?;
        let duck = duck.as_str().map_or_else(|| duck.to_string(), str::to_string);
        checked.push(format!("Σ {name} {ours}"));
        if ours != duck {
            differences.push(format!("Σ {name}: {ours}, DuckDB {duck}"));
        }
    }
    let digests = result["digest_sql"].as_object().cloned().unwrap_or_default();
    for (view, sql) in digests {
        let ours = scalar(sql.as_str().unwrap_or_default())?;
        let duck = result["digests"][&view].as_str().unwrap_or_default().to_string();
        checked.push(format!("a digest of every row of {view}"));
        if ours != duck {
            differences.push(format!("{view}: rows differ (digest {ours}, DuckDB {duck})"));
        }
    }
    Ok(match differences.is_empty() {
        true => format!("equal to tillflow's ({})", checked.join(", ")),
        false => format!("**differing** from tillflow's: {}", differences.join("; ")),
    })
}

/// What one of the DuckDB scripts in benches/ printed, run on `input`.
fn duckdb_script(script: &str, input: &Path) -> anyhow::Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches").join(script);
    let output = Command::new("python3").arg(path).arg(input).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{script} failed (pip install duckdb, or pass --no-duckdb): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// Seconds DuckDB takes to compute the same views from the Parquet event tables.
fn duckdb_recompute(tables: &Path) -> anyhow::Result<f64> {
    let text = duckdb_script("duckdb_recompute.py", tables)?;
    text.trim().parse().map_err(|_| anyhow::anyhow!("duckdb_recompute.py printed {text:?}, not seconds"))
}
