//! The tillflow pipeline: sources, the dataflow assembly, sinks, and the commands of the binary.
//!
//! - [`source`]: finding and reading input files, epochs, dedup, dead letters;
//! - [`clock`]: each store's latest time, the chain's clock one wrong store cannot drag, the wall clock;
//! - [`flatten`]: accepted events into the dataflow's input collections;
//! - [`dataflow`]: the graph (one call per view) and its execution on N workers;
//! - [`persist`]: views written as Delta Lake tables;
//! - [`profile`]: where the graph's time goes, view by view;
//! - [`run`]: `tillflow run` end to end, with its summary;
//! - [`replay`]: `tillflow replay`, history from files or an ingest log, deterministic;
//! - [`eval`]: `tillflow eval`, exceptions scored against a generated chain's ground truth;
//! - [`report`]: `tillflow report`, the district manager's morning report;
//! - [`brief`]: `tillflow brief`, a store's morning briefing;
//! - [`alerts`]: new and reopened exceptions, and briefings, pushed to webhooks and Slack;
//! - [`console`]: the live console on `GET /` of `--listen`;
//! - [`live`]: live mode: continuous input, one published snapshot per epoch;
//! - [`follow`], [`http`]: live inputs: followed files and stdin, HTTP ingest and metrics;
//! - [`platforms`]: the POS platforms' webhooks (Shopify, Square): signatures, API fetches;
//! - [`ingest_access`]: HTTP ingest tokens and their scopes, and TLS on the HTTP listener;
//! - [`journal`]: the ingest log that makes acknowledged input survive a crash;
//! - [`serve`]: `tillflow run --follow`, the live pipeline with its servers;
//! - [`sql`]: `tillflow sql`, one query or a REPL;
//! - [`demo`]: `tillflow demo`;
//! - [`error`]: the library's one error type: user errors, failures around it, its own failures.

pub mod alerts;
pub mod brief;
pub mod clock;
pub mod console;
pub mod dataflow;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod eval;
pub mod flatten;
pub mod follow;
pub mod http;
pub mod ingest_access;
pub mod journal;
pub mod live;
pub mod persist;
pub mod platforms;
pub mod profile;
pub mod pseudonyms;
pub mod replay;
pub mod report;
pub mod retention;
pub mod run;
pub mod serve;
pub mod settings;
pub mod source;
pub mod sql;

pub use error::{Error, Result};

use arrow::datatypes::SchemaRef;
use tillflow_schemas::views::{
    AccessEntry, AlertDelivery, BasketAffinity, CategoryDaily, CustomerSegment, DeadLetter, Exception,
    ExceptionHistory, InventoryPosition, LaborDemand, PipelineStat, ProductRecord, PromotionPerformance,
    PromotionRecord, PromotionSummary, PurchaseSuggestion, RefundVoidAnomaly, RegisterAnomaly, Replenishment,
    RuleBreak, SegmentProfile, SkuMargin, StoreDaily, StoreRecord, ViewRow,
};

/// A table tillflow serves and persists: the one registry of them, which the sinks, the SQL
/// servers, the tests and the benchmarks read.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: &'static str,
    /// The column it is partitioned by on disk, if any.
    pub partition: Option<&'static str>,
    /// The Arrow form of its row type.
    pub schema: SchemaRef,
    /// What its rows are checked against.
    pub reference: Reference,
    /// Written by live mode only (and `replay --log`): what managers and alert channels did.
    pub live_only: bool,
}

/// What a table's rows are checked against, sharing no code with the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Its definition in SQL, `queries/<view>.sql`, run over the raw events.
    Sql(&'static str),
    /// A batch function written apart (`tillflow_testkit::segments_reference`: SQL cannot say k-means).
    Batch,
    /// A fold over another view's changes and the managers' actions, checked against a state
    /// machine written apart in the tests (`exception_history`).
    Fold,
    /// Not derived from events by rules (what the pipeline says of itself).
    None,
}

fn table<R: ViewRow>(reference: Reference) -> Table {
    Table { name: R::NAME, partition: R::PARTITION, schema: R::schema(), reference, live_only: false }
}

/// A view whose reference is SQL.
fn sql_view<R: ViewRow>() -> Table {
    let (_, sql) = tillflow_queries::REFERENCE_SQL
        .iter()
        .find(|(name, _)| *name == R::NAME)
        .expect("every SQL-defined view has its queries/<view>.sql");
    table::<R>(Reference::Sql(sql))
}

/// Every table, in the order SQL lists them: the views, the reference tables, then `dead_letters`,
/// `pipeline_stats`, `access_log`, `exception_history` and `alert_deliveries` (the last five
/// written by the pipeline itself, the last two in live mode only).
pub fn tables() -> Vec<Table> {
    vec![
        sql_view::<SkuMargin>(),
        sql_view::<InventoryPosition>(),
        sql_view::<RuleBreak>(),
        sql_view::<RefundVoidAnomaly>(),
        sql_view::<RegisterAnomaly>(),
        sql_view::<LaborDemand>(),
        sql_view::<StoreDaily>(),
        sql_view::<CategoryDaily>(),
        sql_view::<BasketAffinity>(),
        sql_view::<PromotionPerformance>(),
        sql_view::<PromotionSummary>(),
        sql_view::<Replenishment>(),
        sql_view::<PurchaseSuggestion>(),
        sql_view::<Exception>(),
        sql_view::<StoreRecord>(),
        sql_view::<ProductRecord>(),
        sql_view::<PromotionRecord>(),
        table::<CustomerSegment>(Reference::Batch),
        table::<SegmentProfile>(Reference::Batch),
        table::<DeadLetter>(Reference::None),
        table::<PipelineStat>(Reference::None),
        table::<AccessEntry>(Reference::None),
        Table { live_only: true, ..table::<ExceptionHistory>(Reference::Fold) },
        Table { live_only: true, ..table::<AlertDelivery>(Reference::None) },
    ]
}

/// The names of [`tables`].
pub fn table_names() -> Vec<&'static str> {
    tables().iter().map(|t| t.name).collect()
}

/// The names of the tables a run over files writes: all but live mode's own.
pub fn run_table_names() -> Vec<&'static str> {
    tables().iter().filter(|t| !t.live_only).map(|t| t.name).collect()
}

/// Runs `attempt` up to three times, pausing 200 ms then 400 ms between tries; the last error if
/// every try failed. Each failure is logged with `what`, and the error's sources.
pub fn retry<T, E: std::error::Error + 'static>(what: &str, mut attempt: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if tries == 3 => return Err(e),
            Err(e) => tracing::warn!("{what} (attempt {tries}): {}", error::Chain(&e)),
        }
        std::thread::sleep(std::time::Duration::from_millis(100 << tries));
        tries += 1;
    }
}
