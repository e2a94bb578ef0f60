//! `AS OF`: an earlier persisted state of a view, as a table function.
//!
//! ```sql
//! SELECT * FROM as_of('sku_margin', 'epoch', 1763900000)   -- the last persist at or before that epoch
//! SELECT * FROM as_of('sku_margin', 'version', 3)          -- a Delta table version
//! SELECT * FROM as_of('sku_margin', 'time', '2026-11-23T10:00:00Z')  -- the state at that instant
//! ```
//!
//! Every persist commits each changed view with the epoch it holds (`tillflow.epoch` in the Delta
//! commit), so an epoch finds the newest commit at or before it.

use std::future::IntoFuture;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use url::Url;

use crate::persisted::table_url;

/// The commit metadata key holding the epoch a persisted version shows.
pub const EPOCH_KEY: &str = "tillflow.epoch";

/// Which earlier state.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    Epoch(u64),
    Version(u64),
    Time(DateTime<Utc>),
}

/// What a session may read of a persisted view: `None` if the view does not exist for its user,
/// else how to read the table as they may.
pub type Guard = Arc<dyn Fn(&str) -> Option<Wrap> + Send + Sync>;
/// A persisted table as one user may read it.
pub type Wrap = Box<dyn FnOnce(Arc<dyn TableProvider>) -> Arc<dyn TableProvider>>;

/// The guard of a session that may read every view.
pub fn unguarded() -> Guard {
    Arc::new(|_| Some(Box::new(|table| table)))
}

/// Registers `as_of(view, 'epoch'|'version'|'time', value)` over the views persisted under `root`,
/// each read through `guard`.
pub fn register(ctx: &SessionContext, root: &Url, guard: Guard) {
    ctx.register_udtf("as_of", Arc::new(AsOf { root: root.clone(), state: ctx.state(), guard }));
}

struct AsOf {
    root: Url,
    /// Where the table's object store gets registered (the runtime is shared with the session).
    state: SessionState,
    guard: Guard,
}

impl std::fmt::Debug for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsOf").field("root", &self.root).finish_non_exhaustive()
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        _ => None,
    }
}

fn text(expr: &Expr) -> Option<String> {
    match literal(expr)? {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn integer(expr: &Expr) -> Option<i64> {
    match literal(expr)? {
        ScalarValue::Int64(Some(n)) => Some(*n),
        ScalarValue::Int32(Some(n)) => Some(*n as i64),
        ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
        other => other.to_string().parse().ok(),
    }
}

const USAGE: &str =
    "as_of takes a view, 'epoch', 'version' or 'time', and a value: as_of('sku_margin', 'epoch', 1763900000)";

impl TableFunctionImpl for AsOf {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let [view, kind, value] = args else { return plan_err!("{USAGE}") };
        let (Some(view), Some(kind)) = (text(view), text(kind)) else { return plan_err!("{USAGE}") };
        let selector = match kind.as_str() {
            "epoch" => integer(value).and_then(|n| u64::try_from(n).ok()).map(Selector::Epoch),
            "version" => integer(value).and_then(|n| u64::try_from(n).ok()).map(Selector::Version),
            "time" => text(value).and_then(|t| t.parse::<DateTime<Utc>>().ok()).map(Selector::Time),
            _ => None,
        };
        let Some(selector) = selector else { return plan_err!("{USAGE}") };
        // A view's name, never a path out of the root.
        let named = !view.is_empty() && view.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let Some(wrap) = (self.guard)(&view).filter(|_| named) else {
            return plan_err!("as_of('{view}', …): no such view");
        };
        let url = table_url(&self.root, &view).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        // Table functions are planned synchronously; opening a Delta table is not.
        let table = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(open_at(url, selector)))
            .map_err(|e| DataFusionError::Plan(format!("as_of('{view}', …): {e}")))?;
        table.update_datafusion_session(&self.state)?;
        let provider = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(table.table_provider().into_future())
        })
        .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(wrap(provider))
    }
}

/// Opens the table at `url` as it was at `selector`.
pub async fn open_at(url: Url, selector: Selector) -> Result<DeltaTable, String> {
    let not_persisted = |e: deltalake::DeltaTableError| {
        format!("no persisted table at {url} ({e}): check the view name; live views persist every --persist-every")
    };
    let mut table = deltalake::open_table(url.clone()).await.map_err(not_persisted)?;
    match selector {
        Selector::Version(version) => table.load_version(version).await.map_err(|e| e.to_string())?,
        Selector::Time(at) => table.load_with_datetime(at).await.map_err(|e| e.to_string())?,
        Selector::Epoch(epoch) => {
            let latest = table.version().unwrap_or(0);
            let history: Vec<_> = table.history(None).try_collect().await.map_err(|e| e.to_string())?;
            // Newest first: the i-th entry is version latest − i.
            let version = history.iter().enumerate().find_map(|(i, commit)| {
                let persisted = commit.info.get(EPOCH_KEY)?.as_u64()?;
                (persisted <= epoch).then_some(latest.saturating_sub(i as u64))
            });
            let Some(version) = version else {
                return Err(format!(
                    "nothing was persisted at or before epoch {epoch}; try a later epoch, or 'version', 0"
                ));
            };
            table.load_version(version).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(table)
}
