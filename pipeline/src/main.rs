//! The `tillflow` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillflow::report::ReportFormat;
use tillflow::run::{RunConfig, run};
use tillflow::sql::{self, OutputFormat};
use tillflow_data::ChainConfig;
use tillflow_queries::persisted::root_url;
use tillflow_schemas::Format;
use tillflow_schemas::views::TARGET_TRANSACTIONS_PER_LABOR_HOUR;

/// Live retail analytics: POS, loyalty, inventory and time-clock events into SQL-queryable views.
#[derive(Parser)]
#[command(name = "tillflow", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a sample chain, run every view over it and show a few answers.
    Demo {
        /// Where the demo keeps its events and views.
        #[arg(long, default_value = "tillflow-demo")]
        dir: PathBuf,
        #[arg(long, default_value_t = default_workers())]
        workers: usize,
    },
    /// Write a deterministic synthetic chain, with ground_truth.json of its injected anomalies.
    #[command(after_help = "Example:\n  tillflow generate --out chain --stores 5 --days 7 --seed 1")]
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = ChainConfig::default().stores, value_parser = clap::value_parser!(u32).range(1..))]
        stores: u32,
        #[arg(long, default_value_t = ChainConfig::default().days, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
        #[arg(long, default_value_t = ChainConfig::default().seed)]
        seed: u64,
        /// First business day (YYYY-MM-DD).
        #[arg(long, default_value_t = ChainConfig::default().start)]
        start: chrono::NaiveDate,
        #[arg(long, value_enum, default_value_t = InputFormat::Ndjson)]
        format: InputFormat,
    },
    /// Run the pipeline over files and folders of events, persisting every view.
    #[command(
        after_help = "Examples:\n  tillflow run --input chain --out views\n  tillflow run --input day1.ndjson --input day2.csv --workers 2 --tick 15m"
    )]
    Run {
        /// Files or folders of .ndjson, .csv or .parquet events (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<PathBuf>,
        /// Where views are persisted: a folder or an object store URL.
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        #[command(flatten)]
        compute: ComputeArgs,
    },
    /// Score the exceptions of a generated chain against its ground_truth.json.
    #[command(after_help = "Example:\n  tillflow generate --out chain && tillflow eval --input chain")]
    Eval {
        /// A folder written by `tillflow generate`.
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        compute: ComputeArgs,
        /// Exit with an error when a kind misses the target.
        #[arg(long)]
        check: bool,
    },
    /// The district manager's morning report: exceptions by store, with charts.
    #[command(
        after_help = "Examples:\n  tillflow report --out views --district D01 --to report.html\n  tillflow report --out views --district D01 --date 2026-03-08 --format md"
    )]
    Report {
        /// Where the views are persisted.
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        #[arg(long)]
        district: String,
        /// The business day (YYYY-MM-DD); by default the district's latest day with sales.
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Query the persisted views with SQL; with no query, an interactive session.
    #[command(
        after_help = "Examples:\n  tillflow sql \"SELECT store_id, SUM(net_sales) FROM sku_margin GROUP BY 1\"\n  tillflow sql --out views --format csv \"SELECT * FROM dead_letters\""
    )]
    Sql {
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        query: Option<String>,
    },
}

/// How the views are computed.
#[derive(clap::Args)]
struct ComputeArgs {
    #[arg(long, default_value_t = default_workers())]
    workers: usize,
    /// Epoch width in event time, e.g. 1h, 15m, 30s, 500ms.
    #[arg(long, default_value = "1h", value_parser = parse_duration_ms)]
    tick: i64,
    /// Transactions one person on the clock should handle in an hour (labor_demand).
    #[arg(long, default_value_t = TARGET_TRANSACTIONS_PER_LABOR_HOUR, value_parser = clap::value_parser!(i64).range(1..))]
    labor_target: i64,
}

impl ComputeArgs {
    fn config(self, inputs: Vec<PathBuf>, out: String) -> RunConfig {
        RunConfig { inputs, out, workers: self.workers, tick_ms: self.tick, labor_target: self.labor_target }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InputFormat {
    Ndjson,
    Csv,
    Parquet,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 1h, 15m, 30s or 500ms"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: the unit must be ms, s, m, h or d")),
    };
    if n <= 0 {
        return Err("the duration must be positive".into());
    }
    Ok(n * unit_ms)
}

/// Warnings, less the Delta kernel's report of each table it creates (an empty log is expected then).
const QUIET_LOGS: &str = "warn,buoyant_kernel=off";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| QUIET_LOGS.into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match command {
        Command::Demo { dir, workers } => tillflow::demo::demo(&dir, workers, &runtime),
        Command::Generate { out, stores, days, seed, start, format } => {
            let format = match format {
                InputFormat::Ndjson => Format::Ndjson,
                InputFormat::Csv => Format::Csv,
                InputFormat::Parquet => Format::Parquet,
            };
            let bar = indicatif::ProgressBar::new(days as u64).with_style(
                indicatif::ProgressStyle::with_template("{spinner} day {pos}/{len} {wide_bar} {elapsed}")
                    .expect("a valid template"),
            );
            let config = ChainConfig { stores, days, seed, start };
            let generated = tillflow_data::generate(&out, config, format, &mut |done, _| bar.set_position(done as u64))
                .map_err(|e| anyhow::anyhow!("cannot write to {}: {e}", out.display()))?;
            bar.finish_and_clear();
            println!(
                "wrote {} events ({:.1} MB) in {} files to {}, with {} injected anomalies in ground_truth.json",
                generated.events,
                generated.bytes as f64 / 1e6,
                generated.files.len(),
                out.display(),
                generated.truth.anomalies.len()
            );
            Ok(())
        }
        Command::Run { input, out, compute } => {
            let summary = run(&compute.config(input, out), &runtime)?;
            println!("{summary}");
            Ok(())
        }
        Command::Eval { input, compute, check } => {
            let scores = tillflow::eval::evaluate(&input, compute.config(Vec::new(), String::new()))?;
            println!("{}", tillflow::eval::Table(&scores));
            if check && !scores.iter().all(|s| s.meets_target()) {
                anyhow::bail!("some kinds miss the target");
            }
            Ok(())
        }
        Command::Report { out, district, date, format, to } => {
            let root = root_url(&out)?;
            let ctx = runtime.block_on(sql::open(&root))?;
            let text = runtime.block_on(tillflow::report::report(&ctx, &district, date.as_deref(), format))?;
            match to {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Sql { out, format, query } => {
            let root = root_url(&out)?;
            let ctx = runtime.block_on(sql::open(&root))?;
            match query {
                Some(q) => {
                    let batches = runtime.block_on(sql::query(&ctx, &q))?;
                    println!("{}", sql::render(&batches, format)?);
                    Ok(())
                }
                None => sql::repl(&ctx, format, &runtime),
            }
        }
    }
}
