//! Reference definitions: each view computed from scratch over the accepted events, by DataFusion.

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use tillflow_schemas::tables::EventTables;

use crate::{REFERENCE_SQL, Result, functions};

/// The views every reference definition may use (`queries/shared.sql`).
const SHARED_SQL: &str = include_str!("../shared.sql");

/// A session with the event tables, the shared views and tillflow's functions, ready for reference SQL.
pub async fn session(events: &EventTables) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    functions::register(&ctx);
    for (name, batch) in events.batches()? {
        ctx.register_batch(name, batch)?;
    }
    for statement in
        SHARED_SQL.split(';').filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--")))
    {
        ctx.sql(statement).await?;
    }
    Ok(ctx)
}

/// Runs a view's reference SQL over the given events.
pub async fn view(events: &EventTables, view: &str) -> Result<Vec<RecordBatch>> {
    let sql = REFERENCE_SQL
        .iter()
        .find(|(name, _)| *name == view)
        .map(|(_, sql)| *sql)
        .ok_or_else(|| datafusion::error::DataFusionError::Plan(format!("no reference SQL for view `{view}`")))?;
    let ctx = session(events).await?;
    Ok(ctx.sql(sql).await?.collect().await?)
}
