//! Reference definitions: each view computed from scratch over the accepted events, by DataFusion.

use datafusion::prelude::SessionContext;
use tillflow_schemas::tables::EventTables;

use crate::{REFERENCE_SQL, Result, functions};

/// The views every reference definition may use (`queries/shared.sql`).
const SHARED_SQL: &str = include_str!("../shared.sql");

/// The settings of the definitions that have some, as the one-row table `settings` the reference
/// SQL reads. The defaults are those a run uses unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The baskets a pair of SKUs needs in common to be a row of `basket_affinity`.
    pub affinity_min_baskets: i64,
    /// The business days of `basket_affinity`'s window.
    pub affinity_window_days: i32,
    /// The days of the 28 a store must have traded before `replenishment` judges its slow movers.
    pub slow_judged_days: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { affinity_min_baskets: 20, affinity_window_days: 28, slow_judged_days: 14 }
    }
}

/// A session with the event tables, tillflow's functions, and every shared view and reference view
/// computed into a table of its name, in order (each may use those before it).
pub async fn session(events: &EventTables, settings: Settings) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    functions::register(&ctx);
    for (name, batch) in events.batches()? {
        ctx.register_batch(name, batch)?;
    }
    compute(&ctx, settings).await?;
    Ok(ctx)
}

/// Computes every shared view and reference view into a table of its name, from the event tables
/// and functions `ctx` holds.
pub async fn compute(ctx: &SessionContext, settings: Settings) -> Result<()> {
    let Settings { affinity_min_baskets, affinity_window_days, slow_judged_days } = settings;
    ctx.sql(&format!(
        "CREATE TABLE settings AS SELECT CAST({affinity_min_baskets} AS BIGINT) AS affinity_min_baskets, \
         CAST({affinity_window_days} AS INT) AS affinity_window_days, \
         CAST({slow_judged_days} AS BIGINT) AS slow_judged_days"
    ))
    .await?;
    for statement in
        SHARED_SQL.split(';').filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--")))
    {
        ctx.sql(statement).await?;
    }
    for (name, sql) in REFERENCE_SQL {
        ctx.sql(&format!("CREATE TABLE {name} AS {sql}")).await?;
    }
    Ok(())
}
