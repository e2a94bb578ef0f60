//! The `tillflow` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tillflow::brief::BriefFormat;
use tillflow::dataflow::{Detail, Processes, Tuning, ViewSet};
use tillflow::live::LiveConfig;
use tillflow::pseudonyms::Pseudonyms;
use tillflow::replay::{History, ReplayConfig, Speed};
use tillflow::report::ReportFormat;
use tillflow::run::{RunConfig, run};
use tillflow::serve::{ServeConfig, serve};
use tillflow::settings;
use tillflow::source::{Epochs, Platform};
use tillflow::sql::{self, OutputFormat};
use tillflow_data::ChainConfig;
use tillflow_queries::access::TlsFiles;
use tillflow_queries::persisted::root_url;
use tillflow_schemas::Format;

/// jemalloc, which hands memory freed by the arrangements' merges back to the system, so a long
/// run's resident memory follows its state (glibc's allocator keeps the high-water mark).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Live retail analytics: POS, loyalty, inventory and time-clock events into SQL-queryable views.
#[derive(Parser)]
#[command(name = "tillflow", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Generate a sample chain, run every view over it and show a few answers.
    Demo {
        /// Where the demo keeps its events and views.
        #[arg(long, default_value = "tillflow-demo")]
        dir: PathBuf,
        #[arg(long, default_value_t = default_workers())]
        workers: usize,
        /// Live instead: the chain fed a day at a time, the console on --listen, the high
        /// exceptions alerted to a local webhook.
        #[arg(long)]
        serve: bool,
        /// With --serve: where the console answers.
        #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
        listen: std::net::SocketAddr,
        /// With --serve: a webhook URL for the alerts [default: one of the demo's own, printing them].
        #[arg(long, requires = "serve")]
        alert_to: Option<String>,
        /// With --serve: a business day fed every PACE (e.g. 5s).
        #[arg(long, default_value = "5s", value_parser = settings::parse_duration_ms, requires = "serve")]
        pace: i64,
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
    /// Run the pipeline: over finished files to completion, or live (--follow, --listen, --pg, --flight).
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// Files or folders of .ndjson, .csv or .parquet events (repeatable); `-` reads stdin.
        #[arg(long, num_args = 1..)]
        input: Vec<PathBuf>,
        /// Where views are persisted: a folder or an object store URL [default: tillflow-data].
        #[arg(long)]
        out: Option<String>,
        #[command(flatten)]
        compute: ComputeArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// A TOML file setting any of these flags (flags given here win); see docs/live.md.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The platform whose order exports the .json inputs are (shopify, square, clover or
        /// lightspeed), as its API lists them: history mapped as its webhooks are, locations
        /// mapped to stores by [sources.PLATFORM] in --config.
        #[arg(long, value_name = "PLATFORM")]
        source: Option<tillflow::source::Platform>,
    },
    /// Replay history through the same graph: event files, or a live run's ingest log.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay {
        /// Files or folders of .ndjson, .csv or .parquet events (repeatable).
        #[arg(long, num_args = 1.., required_unless_present = "log", conflicts_with = "log")]
        input: Vec<PathBuf>,
        /// A live run's ingest log: its --out folder or bucket URL, or the _ingest_log folder in it.
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
        /// Where the replayed views are persisted: a folder or an object store URL.
        #[arg(long)]
        out: String,
        /// max, or a factor of event time: 60x replays an hour of events in a minute.
        #[arg(long, default_value = "max")]
        speed: Speed,
        /// Replay events dated from this time on (RFC 3339, or a day YYYY-MM-DD).
        #[arg(long, value_parser = parse_instant)]
        from: Option<i64>,
        /// Replay events dated before this time (RFC 3339, or a day YYYY-MM-DD).
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
        /// Stop after this epoch: the views as they stood when it was published.
        #[arg(long, value_name = "EPOCH")]
        at: Option<u64>,
        /// The platform whose order exports the .json inputs are, as with `run`.
        #[arg(long, value_name = "PLATFORM", conflicts_with = "log")]
        source: Option<Platform>,
        /// A TOML file whose [sources.PLATFORM] maps the platform's locations to stores (for --source).
        #[arg(long)]
        config: Option<PathBuf>,
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
    /// A store's morning briefing: yesterday against its forecast, the five actions that matter
    /// most, the exceptions open for more than a day.
    #[command(
        after_help = "Examples:\n  tillflow brief --out views --store S001\n  tillflow brief --out views --store S001 --date 2026-03-10 --format html --to brief.html"
    )]
    Brief {
        /// Where the views are persisted.
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        #[arg(long)]
        store: String,
        /// The morning of this day (YYYY-MM-DD): it reports the day before. By default the day
        /// after the store's latest business day with sales.
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = BriefFormat::Md)]
        format: BriefFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Delete persisted table versions older than --keep-history; with --erasures, also carry
    /// out every erasure of a stopped run now: its customers out of the ingest log, the dead
    /// letters and every version of the customer tables.
    #[command(
        after_help = "Examples:\n  tillflow vacuum --out views --erasures\n  tillflow vacuum --out views --keep-history 1d"
    )]
    Vacuum {
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        #[arg(long)]
        erasures: bool,
        /// Versions younger than this stay readable with as_of, e.g. 12h [default: 7d].
        #[arg(long, value_parser = settings::parse_duration_ms)]
        keep_history: Option<i64>,
    },
    /// Work on the dead letters of a running tillflow.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
    /// Make the SCRAM-SHA-256 verifier of a password, for `password_scram` in [[users]]: the
    /// password is read from the first line of standard input and never stored.
    #[command(after_help = "Example:\n  tillflow password < secret.txt")]
    Password,
    /// Query the persisted views with SQL; with no query, an interactive session.
    #[command(
        after_help = "Examples:\n  tillflow sql \"SELECT store_id, SUM(net_sales) FROM sku_margin GROUP BY 1\"\n  tillflow sql --out views --format csv \"SELECT * FROM dead_letters\""
    )]
    Sql {
        #[arg(long, default_value = "tillflow-data")]
        out: String,
        /// Query a running tillflow's Flight SQL server (`tillflow run --flight ADDR`) instead.
        #[arg(long, value_name = "ADDR", conflicts_with = "out")]
        connect: Option<String>,
        /// Sign in to --connect as this user; the password is read from TILLFLOW_PASSWORD, or
        /// the first line of standard input.
        #[arg(long, requires = "connect")]
        user: Option<String>,
        /// Connect to --connect over TLS, trusting the certificate authority in this PEM file.
        #[arg(long, value_name = "FILE", requires = "connect")]
        tls_ca: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        query: Option<String>,
    },
}

const RUN_EXAMPLES: &str = "Examples:
  tillflow run --input chain --out views
  tillflow run --input day1.ndjson --input day2.csv --workers 2 --tick 15m
  tillflow run --follow --listen 127.0.0.1:8080 --pg 127.0.0.1:6875
  tail -f pos.ndjson | tillflow run --follow --input - --flight 127.0.0.1:50051
  tillflow run --config tillflow.toml --workers 4

Over files, epochs are cut for speed (the final views are the same for any cut); with --tick, an
epoch is --tick of event time, as a live run with that tick would have shown. Live, an epoch is
--tick of wall time (default 1s).";

const REPLAY_EXAMPLES: &str = "Examples:
  tillflow replay --input chain --out replayed --workers 2
  tillflow replay --input chain --from 2026-03-03 --until 2026-03-05 --speed 3600x --out two-days
  tillflow replay --log live-views --out replayed
  tillflow replay --log live-views --at 1772452800 --out at-that-epoch

Epochs: over files, cut for speed unless --tick, --at or --speed asks for event-time epochs (then
--tick of event time, default 1h); from a log, the epochs the live run published.";

/// An instant on the command line: RFC 3339, or the start (UTC) of a day YYYY-MM-DD.
fn parse_instant(text: &str) -> Result<i64, String> {
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => Ok(i64::from(tillflow_schemas::time::date_to_day(day)) * tillflow_schemas::time::MILLIS_PER_DAY),
        Err(_) => tillflow_schemas::time::parse_ts(text),
    }
}

/// How the views are computed.
#[derive(clap::Args)]
struct ComputeArgs {
    /// Worker threads [default: the machine's cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Epoch width, e.g. 1h, 15m, 30s, 500ms [default: over files, epochs cut for speed; live, 1s].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    tick: Option<i64>,
    /// Transactions one person on the clock should handle in an hour (labor_demand) [default: 14].
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    labor_target: Option<i64>,
    /// The baskets two SKUs need in common to be a row of basket_affinity [default: 20].
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    affinity_min_baskets: Option<i64>,
    /// How far the watermark trails the latest event time, e.g. 30m [default: 1h].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    allowed_lateness: Option<i64>,
    /// Events dated longer than this before the latest event are dead-lettered, e.g. 90d [default: 400d].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    retention: Option<i64>,
    /// Compute and keep only these views (and what they read), e.g. sku_margin,exceptions [default: every view].
    #[arg(long, value_name = "VIEW,…", value_parser = ViewSet::parse)]
    views: Option<ViewSet>,
    /// Also print how long the graph spent in each view (over files; not live).
    #[arg(long)]
    profile: bool,
}

impl ComputeArgs {
    fn config(self, inputs: Vec<PathBuf>, out: String, pseudonyms: Pseudonyms) -> RunConfig {
        RunConfig {
            inputs,
            out,
            workers: self.workers.unwrap_or_else(default_workers),
            processes: Processes::default(),
            epochs: Epochs::tick_or_fast(self.tick),
            tuning: self.tuning(),
            detail: Detail { profile: self.profile, ..Detail::default() },
            exports: Default::default(),
            pseudonyms,
        }
    }

    fn tuning(&self) -> Tuning {
        let defaults = Tuning::default();
        Tuning {
            views: self.views.unwrap_or(defaults.views),
            labor_target: self.labor_target.unwrap_or(defaults.labor_target),
            affinity_min_baskets: self.affinity_min_baskets.unwrap_or(defaults.affinity_min_baskets),
            allowed_lateness_ms: self.allowed_lateness.unwrap_or(defaults.allowed_lateness_ms),
            retention_ms: self.retention.unwrap_or(defaults.retention_ms),
            ..defaults
        }
    }
}

/// Live mode.
#[derive(clap::Args)]
struct LiveArgs {
    /// Keep running: pick up new files and appended lines, and serve SQL while views change.
    #[arg(long)]
    follow: bool,
    /// HTTP ingest (POST /v1/events) and Prometheus metrics (GET /metrics) on this address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Postgres wire protocol on this address (beyond loopback: with [[users]] and TLS).
    #[arg(long, value_name = "ADDR")]
    pg: Option<SocketAddr>,
    /// Arrow Flight SQL on this address (beyond loopback: with [[users]] and TLS).
    #[arg(long, value_name = "ADDR")]
    flight: Option<SocketAddr>,
    /// The certificate chain (PEM) the SQL servers present; they then accept TLS only.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How often views are written to their Delta tables, e.g. 10s [default: 10s].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    persist_every: Option<i64>,
    /// How long persisted versions stay readable with as_of before their files are vacuumed,
    /// e.g. 12h [default: 7d].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    keep_history: Option<i64>,
    /// How long after an erasure (in event time) the ingest log, the dead letters and every
    /// persisted version are rid of the customer, e.g. 24h [default: 48h].
    #[arg(long, value_parser = settings::parse_duration_ms)]
    erasure_deadline: Option<i64>,
    /// Checkpoint the ingest log once days have left the retention and the log has grown by this
    /// much (and by as much as the last checkpoint) since the last one, e.g. 256MiB [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = settings::parse_size)]
    checkpoint_after: Option<u64>,
}

#[derive(Subcommand)]
enum DeadLetters {
    /// Judge again the dead letters whose cause has been fixed (a store record or a clock_in
    /// that came later): each accepted one leaves dead_letters. Records refused for a token's
    /// scope are not retried: send them again with a token allowed to post them.
    #[command(
        after_help = "Examples:\n  tillflow dead-letters retry --connect http://127.0.0.1:8080 --reason \"clock_out\"\n  tillflow dead-letters retry --connect https://tillflow.example:8080 --token \"$TOKEN\""
    )]
    Retry {
        /// The HTTP listener (`--listen`) of the running tillflow, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        connect: String,
        /// Only the dead letters whose reason contains this text [default: every one].
        #[arg(long)]
        reason: Option<String>,
        /// A `chain` ingest token, when the listener has [[ingest_tokens]].
        #[arg(long)]
        token: Option<String>,
    },
}

/// A run over files as one process of a timely cluster.
#[derive(clap::Args)]
struct ClusterArgs {
    /// How many processes share the run (each reads every file and admits its stores' events).
    #[arg(long, requires = "hosts")]
    processes: Option<usize>,
    /// This process's place in the cluster, from 0; process 0 writes the views.
    #[arg(long, requires = "hosts")]
    process_id: Option<usize>,
    /// A file listing every process's host:port, one per line, the same file for all.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
}

impl ClusterArgs {
    fn processes(&self) -> anyhow::Result<Processes> {
        let Some(file) = &self.hosts else { return Ok(Processes::default()) };
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read the hosts file {}: {e}", file.display()))?;
        let hosts: Vec<String> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
        let count = self.processes.unwrap_or(hosts.len());
        anyhow::ensure!(
            hosts.len() == count && count > 0,
            "{} lists {} hosts for --processes {count}: give one host:port line per process",
            file.display(),
            hosts.len()
        );
        let process = self.process_id.unwrap_or(0);
        anyhow::ensure!(process < count, "--process-id {process} is not below --processes {count}");
        Ok(Processes { hosts, process })
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InputFormat {
    Ndjson,
    Csv,
    Parquet,
}

/// The password to sign in with: TILLFLOW_PASSWORD, or the first line of standard input.
/// With `--source`, the `.json` inputs are the platform's exports, its stores from `[sources]`;
/// returns the other inputs and the exports.
fn exports_among(
    input: Vec<PathBuf>,
    source: Option<Platform>,
    sources: &settings::SourcesSettings,
) -> anyhow::Result<(Vec<PathBuf>, tillflow::run::Exports)> {
    let Some(platform) = source else { return Ok((input, tillflow::run::Exports::default())) };
    let (exports, input): (Vec<PathBuf>, Vec<PathBuf>) =
        input.into_iter().partition(|path| path.extension().is_some_and(|x| x == "json"));
    let name = format!("{platform:?}").to_lowercase();
    let (locations, key) = match platform {
        Platform::Shopify => (sources.shopify.as_ref().map(|s| s.locations.clone()), "locations"),
        Platform::Square => (sources.square.as_ref().map(|s| s.locations.clone()), "locations"),
        Platform::Clover => (sources.clover.as_ref().map(|s| s.merchants.clone()), "merchants"),
        Platform::Lightspeed => (
            sources
                .lightspeed
                .as_ref()
                .map(|s| s.outlets.iter().chain(&s.registers).map(|(k, v)| (k.clone(), v.clone())).collect()),
            "outlets",
        ),
    };
    let locations = locations.unwrap_or_default();
    if exports.is_empty() {
        anyhow::bail!(
            "--source {name} reads the .json inputs as {name} order exports, and none was given: pass the export as --input FILE.json"
        );
    }
    if locations.is_empty() {
        anyhow::bail!(
            "--source {name} needs the store of each {name} {}: [sources.{name}] {key} = {{ \"<id>\" = \"<store_id>\" }} in --config",
            key.trim_end_matches('s')
        );
    }
    Ok((input, tillflow::run::Exports { platform, files: exports, locations }))
}

/// The platforms' webhooks of `[sources]`, their secrets from the file or the environment.
/// Writes a command's text to `to`, saying so, or to standard output.
fn emit(text: &str, to: Option<&std::path::Path>) -> anyhow::Result<()> {
    match to {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn sources(settings: &settings::SourcesSettings) -> anyhow::Result<tillflow::platforms::Sources> {
    // A value of the config, else of the environment; none if empty.
    let given = |value: &Option<String>, variable: &str| {
        value.clone().or_else(|| std::env::var(variable).ok()).filter(|s| !s.is_empty())
    };
    let secret = |value: &Option<String>, variable: &str, what: &str| -> anyhow::Result<String> {
        given(value, variable).ok_or_else(|| anyhow::anyhow!("{what}: set it in the config or {variable}"))
    };
    // An optional API: its base and its token, both or neither.
    let api =
        |base: Option<String>, token: &Option<String>, variable: &str, both: &str| match (base, given(token, variable))
        {
            (Some(base), Some(token)) => Ok(Some((base, token))),
            (None, None) => Ok(None),
            _ => Err(anyhow::anyhow!("{both}; or leave out both")),
        };
    let shopify = match &settings.shopify {
        None => None,
        Some(shopify) => {
            let app_secret =
                secret(&shopify.secret, "TILLFLOW_SHOPIFY_SECRET", "[sources.shopify] needs the app's `secret`")?;
            let base = shopify.api_base.clone().or_else(|| {
                shopify.shop.as_ref().map(|shop| format!("https://{}/admin/api/2025-10", shop.trim_end_matches('/')))
            });
            let both = "[sources.shopify] needs both `shop` (or `api_base`) and `access_token` for the Admin API";
            let admin = api(base, &shopify.access_token, "TILLFLOW_SHOPIFY_ACCESS_TOKEN", both)?;
            Some(tillflow::platforms::Shopify::new(app_secret, shopify.locations.clone(), admin))
        }
    };
    let square = match &settings.square {
        None => None,
        Some(square) => {
            let what = "[sources.square] needs the subscription's `signature_key`";
            let signature_key = secret(&square.signature_key, "TILLFLOW_SQUARE_SIGNATURE_KEY", what)?;
            let what = "[sources.square] needs an `access_token` to fetch orders";
            let access_token = secret(&square.access_token, "TILLFLOW_SQUARE_ACCESS_TOKEN", what)?;
            let Some(notification_url) = square.notification_url.clone() else {
                anyhow::bail!(
                    "[sources.square] needs `notification_url`: the URL of the subscription, as Square signs it"
                );
            };
            let api_base = square.api_base.clone().unwrap_or_else(|| "https://connect.squareup.com".into());
            Some(tillflow::platforms::Square::new(
                signature_key,
                notification_url,
                api_base,
                access_token,
                square.locations.clone(),
            ))
        }
    };
    let clover = match &settings.clover {
        None => None,
        Some(clover) => {
            let what = "[sources.clover] needs an `access_token` to fetch orders";
            let access_token = secret(&clover.access_token, "TILLFLOW_CLOVER_ACCESS_TOKEN", what)?;
            // Absent until the webhook URL is verified: until then only the verification is answered.
            let auth_code = given(&clover.auth_code, "TILLFLOW_CLOVER_AUTH_CODE");
            let api_base = clover.api_base.clone().unwrap_or_else(|| "https://api.clover.com".into());
            Some(tillflow::platforms::Clover::new(auth_code, api_base, access_token, clover.merchants.clone()))
        }
    };
    let lightspeed = match &settings.lightspeed {
        None => None,
        Some(lightspeed) => {
            let what = "[sources.lightspeed] needs a `token` for the webhook URL";
            let token = secret(&lightspeed.token, "TILLFLOW_LIGHTSPEED_TOKEN", what)?;
            if token.chars().count() < 16 {
                anyhow::bail!("[sources.lightspeed] token is too short: use 16 characters or more, random");
            }
            let (outlets, registers) = (lightspeed.outlets.clone(), lightspeed.registers.clone());
            let both = "[sources.lightspeed] needs both `api_base` and `access_token` for its API";
            let variable = "TILLFLOW_LIGHTSPEED_ACCESS_TOKEN";
            let api = api(lightspeed.api_base.clone(), &lightspeed.access_token, variable, both)?;
            Some(tillflow::platforms::Lightspeed::new(token, outlets, registers, api))
        }
    };
    Ok(tillflow::platforms::Sources { shopify, square, clover, lightspeed })
}

fn read_password() -> anyhow::Result<String> {
    match std::env::var("TILLFLOW_PASSWORD") {
        Ok(password) if !password.is_empty() => Ok(password),
        _ => first_line_of_stdin(),
    }
}

fn first_line_of_stdin() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as typed; or set TILLFLOW_PASSWORD): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        anyhow::bail!("no password: give it on the first line of standard input (or in TILLFLOW_PASSWORD)");
    }
    Ok(password)
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Warnings, less the Delta kernel's report of each table it creates (an empty log is expected then).
/// The ingest log grows by this much between checkpoints, at least.
const CHECKPOINT_AFTER: u64 = 64 << 20;

/// Writes `text` and a newline to standard output; a reader that went away (`| head`) is not
/// an error.
fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

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
        Command::Demo { dir, workers, serve: false, .. } => Ok(tillflow::demo::demo(&dir, workers, &runtime)?),
        Command::Demo { dir, workers, serve: true, listen, alert_to, pace } => {
            let pace = Duration::from_millis(pace as u64);
            let demo = tillflow::demo::ServeDemo { listen, alert_to, pace, workers };
            Ok(tillflow::demo::serve(&dir, demo, &runtime)?)
        }
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
        Command::Run { input, out, compute, live, cluster, config, source } => {
            let mut file = match config {
                Some(path) => settings::load(&path)?,
                None => settings::Settings::default(),
            };
            let input = if input.is_empty() { file.input.clone().unwrap_or_default() } else { input };
            let out = out.or(file.out.clone()).unwrap_or_else(|| "tillflow-data".into());
            let pseudonyms = Pseudonyms::for_out(&out, file.pseudonym_key.as_ref().map(|k| k.0.as_str()))?;
            let compute = ComputeArgs {
                workers: compute.workers.or(file.workers),
                tick: compute.tick.or(file.tick),
                labor_target: compute.labor_target.or(file.labor_target),
                affinity_min_baskets: compute.affinity_min_baskets.or(file.affinity_min_baskets),
                allowed_lateness: compute.allowed_lateness.or(file.allowed_lateness),
                retention: compute.retention.or(file.retention),
                views: match (compute.views, &file.views) {
                    (None, Some(names)) => Some(ViewSet::parse(&names.join(",")).map_err(anyhow::Error::msg)?),
                    (views, _) => views,
                },
                profile: compute.profile,
            };
            let (listen, pg, flight) = (live.listen.or(file.listen), live.pg.or(file.pg), live.flight.or(file.flight));
            let tls = match (live.tls_cert, live.tls_key, &file.tls) {
                (Some(cert), Some(key), _) => Some(TlsFiles { cert, key }),
                (_, _, Some(tls)) => Some(TlsFiles { cert: tls.cert.clone(), key: tls.key.clone() }),
                _ => None,
            };
            // Taken out of the file's settings, so that passwords given in the clear are wiped now.
            let users = std::mem::take(&mut file.users).iter().map(|u| u.user()).collect::<Result<Vec<_>, _>>();
            let users = users.map_err(anyhow::Error::msg)?;
            let ingest_tokens = file.ingest_tokens.iter().map(|t| t.token()).collect::<Result<Vec<_>, _>>();
            let ingest_tokens = ingest_tokens.map_err(anyhow::Error::msg)?;
            let follow =
                live.follow || file.follow.unwrap_or(false) || listen.is_some() || pg.is_some() || flight.is_some();
            if !follow {
                if input.is_empty() {
                    anyhow::bail!(
                        "nothing to read: pass --input FILE_OR_FOLDER, or --follow with --listen ADDR for HTTP ingest"
                    );
                }
                let (input, exports) = exports_among(input, source, &file.sources)?;
                let config =
                    RunConfig { processes: cluster.processes()?, exports, ..compute.config(input, out, pseudonyms) };
                let summary = run(&config, &runtime)?;
                println!("{summary}");
                return Ok(());
            }
            if compute.profile {
                anyhow::bail!("--profile times a run over files or a replay; live mode has /metrics instead");
            }
            if let Some(platform) = source {
                let name = format!("{platform:?}").to_lowercase();
                anyhow::bail!(
                    "--source {name} reads exports in a run over files; live mode takes {name}'s webhooks on /v1/sources/{name}"
                );
            }
            if cluster.hosts.is_some() {
                anyhow::bail!(
                    "--hosts runs a cluster over files; live mode (--follow, --listen, --pg, --flight) is one process"
                );
            }
            let persist_every = live.persist_every.or(file.persist_every).unwrap_or(10_000);
            let tick = compute.tick.unwrap_or(1_000);
            let keep_history = live.keep_history.or(file.keep_history).unwrap_or(7 * 86_400_000);
            let config = ServeConfig {
                inputs: input,
                out,
                live: LiveConfig {
                    workers: compute.workers.unwrap_or_else(default_workers),
                    tuning: compute.tuning(),
                    tick: Duration::from_millis(tick as u64),
                    persist_every: Duration::from_millis(persist_every as u64),
                    stats_kept: 3_600,
                    pseudonyms,
                    erasure_deadline_ms: live
                        .erasure_deadline
                        .or(file.erasure_deadline)
                        .unwrap_or(tillflow::erasure::DEADLINE_MS),
                    checkpoint_after: live.checkpoint_after.or(file.checkpoint_after).unwrap_or(CHECKPOINT_AFTER),
                },
                listen,
                pg,
                flight,
                users,
                tls,
                ingest_tokens,
                keep_history: Duration::from_millis(keep_history as u64),
                sources: sources(&file.sources)?,
                alerts: file
                    .alerts
                    .iter()
                    .map(|a| a.channel())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)?,
            };
            let counts = serve(config, &runtime)?;
            eprintln!(
                "tillflow: stopped; {} received = {} accepted + {} duplicates + {} dead-lettered",
                counts.received, counts.accepted, counts.duplicates, counts.dead_lettered
            );
            Ok(())
        }
        Command::Replay { input, log, out, speed, from, until, at, source, config, compute } => {
            // The key of the run being replayed: its log's folder's, or the one this replay writes to.
            let keys = match &log {
                Some(dir) if dir.ends_with(tillflow::serve::INGEST_LOG) => dir.parent().unwrap_or(dir).to_path_buf(),
                Some(dir) => dir.clone(),
                None => PathBuf::from(&out),
            };
            let pseudonyms = Pseudonyms::for_out(&keys.display().to_string(), None)?;
            let history = match log {
                Some(dir) => History::Log(dir),
                // Epoch-by-epoch states (a tick, an epoch to stop at, a pace) need event-time
                // epochs; otherwise the replay cuts the input for speed.
                None => {
                    let paced = speed != Speed::Max;
                    let tick = compute.tick.or((at.is_some() || paced).then_some(3_600_000));
                    let file = match &config {
                        Some(path) => settings::load(path)?,
                        None => settings::Settings::default(),
                    };
                    let (inputs, exports) = exports_among(input, source, &file.sources)?;
                    History::Files { inputs, exports, epochs: Epochs::tick_or_fast(tick) }
                }
            };
            let config = ReplayConfig {
                history,
                out,
                workers: compute.workers.unwrap_or_else(default_workers),
                tuning: compute.tuning(),
                window: tillflow::source::Window { from, until, last_epoch: at },
                speed,
                detail: Detail { profile: compute.profile, ..Detail::default() },
                pseudonyms,
            };
            println!("{}", tillflow::replay::replay(&config, &runtime)?);
            Ok(())
        }
        Command::Eval { input, compute, check } => {
            if compute.views.is_some_and(|views| !views.has("exceptions")) {
                anyhow::bail!("eval scores the exceptions: leave out --views, or include exceptions in it");
            }
            let evaluation =
                tillflow::eval::evaluate(&input, compute.config(Vec::new(), String::new(), Pseudonyms::random()))?;
            println!("{}", tillflow::eval::Table(&evaluation.scores));
            println!("{}", evaluation.projection);
            println!("{}", evaluation.lifts);
            if check && !evaluation.scores.iter().all(|s| s.meets_target()) {
                anyhow::bail!("some kinds miss the target");
            }
            Ok(())
        }
        Command::Report { out, district, date, format, to } => {
            let root = root_url(&out)?;
            let ctx = runtime.block_on(sql::open(&root))?;
            let text = runtime.block_on(tillflow::report::report(&ctx, &district, date.as_deref(), format))?;
            emit(&text, to.as_deref())
        }
        Command::Brief { out, store, date, format, to } => {
            let root = root_url(&out)?;
            let ctx = runtime.block_on(sql::open(&root))?;
            let text = runtime.block_on(tillflow::brief::brief(&ctx, &store, date.as_deref(), format))?;
            emit(&text, to.as_deref())
        }
        Command::Vacuum { out, erasures, keep_history } => {
            if erasures {
                let pseudonyms = Pseudonyms::for_out(&out, None)?;
                println!("{}", tillflow::erasure::vacuum_erasures(&out, &pseudonyms, &runtime)?);
            }
            let keep = Duration::from_millis(keep_history.unwrap_or(7 * 86_400_000) as u64);
            let root = root_url(&out)?;
            let mut deleted = 0;
            for table in tillflow::tables() {
                deleted += runtime.block_on(tillflow::persist::vacuum(&root, table.name, keep))?;
            }
            println!("vacuumed {deleted} files of versions older than {keep:?}");
            Ok(())
        }
        Command::DeadLetters(DeadLetters::Retry { connect, reason, token }) => {
            let url = format!("{}/v1/dead-letters/retry", connect.trim_end_matches('/'));
            let mut request = reqwest::Client::new().post(&url).query(&[("reason", reason.unwrap_or_default())]);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = runtime
                .block_on(request.send())
                .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}; is tillflow running with --listen there?"))?;
            let status = response.status();
            let body = runtime.block_on(response.text())?;
            anyhow::ensure!(status.is_success() || status.as_u16() == 400, "{url} answered {status}: {}", body.trim());
            println!("{}", body.trim());
            Ok(())
        }
        Command::Password => {
            let password = first_line_of_stdin()?;
            println!("{}", tillflow_queries::access::scram::Verifier::generate(&password));
            Ok(())
        }
        Command::Sql { out, connect, user, tls_ca, format, query } => {
            let run: Box<sql::Run<'static>> = match connect {
                Some(addr) => {
                    let connect = tillflow_queries::flight::Connect {
                        ca: match tls_ca {
                            Some(path) => Some(
                                std::fs::read(&path)
                                    .map_err(|e| anyhow::anyhow!("cannot read --tls-ca {}: {e}", path.display()))?,
                            ),
                            None => None,
                        },
                        user: match user {
                            Some(user) => Some((user, read_password()?)),
                            None => None,
                        },
                    };
                    Box::new(move |q: &str| {
                        runtime
                            .block_on(tillflow_queries::flight::query(&addr, q, &connect))
                            .map_err(tillflow::Error::Remote)
                    })
                }
                None => {
                    let ctx = runtime.block_on(sql::open(&root_url(&out)?))?;
                    Box::new(move |q: &str| runtime.block_on(sql::query(&ctx, q)))
                }
            };
            match query {
                Some(q) => Ok(print_out(&sql::render(&run(&q)?, format)?)?),
                None => Ok(sql::repl(&*run, format)?),
            }
        }
    }
}
