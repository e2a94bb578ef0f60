//! Reference definitions: each view computed from scratch over the accepted events, by DataFusion.

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use tillflow_schemas::tables::EventTables;

use crate::{REFERENCE_SQL, Result, functions};

/// A session with the event tables registered (and tillflow's functions), ready for reference SQL.
pub fn session(events: &EventTables) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    functions::register(&ctx);
    for (name, batch) in events.batches()? {
        ctx.register_batch(name, batch)?;
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
    let ctx = session(events)?;
    Ok(ctx.sql(sql).await?.collect().await?)
}
