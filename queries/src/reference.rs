//! Reference definitions: each view computed from scratch over the accepted events, by DataFusion.

use datafusion::prelude::SessionContext;
use tillflow_schemas::tables::EventTables;

use crate::{REFERENCE_SQL, Result, functions};

/// The views every reference definition may use (`queries/shared.sql`).
const SHARED_SQL: &str = include_str!("../shared.sql");

/// A session with the event tables, tillflow's functions, and every shared view and reference view
/// computed into a table of its name, in order (each may use those before it).
pub async fn session(events: &EventTables) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    functions::register(&ctx);
    for (name, batch) in events.batches()? {
        ctx.register_batch(name, batch)?;
    }
    compute(&ctx).await?;
    Ok(ctx)
}

/// Computes every shared view and reference view into a table of its name, from the event tables
/// and functions `ctx` holds.
pub async fn compute(ctx: &SessionContext) -> Result<()> {
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
