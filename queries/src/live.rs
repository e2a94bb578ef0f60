//! The live views: every epoch the pipeline publishes one snapshot of all views to a [`Hub`];
//! SQL reads them through [`LiveTable`]s.
//!
//! A query sees one epoch across all views: DataFusion stamps each query with its start time
//! (`query_execution_start_time`), and every table of the query reads the newest snapshot
//! published strictly before that instant. Snapshots are stamped under the hub's write lock, so
//! a query that started before a publish never sees it, whichever of its tables is planned first.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::access::{self, Directory, Grant, Placement, Visibility, scoped};
use crate::as_of::{Guard, Wrap};
use crate::functions;
use tillflow_schemas::views::{StoreRecord, ViewRow};

/// All views at the end of one epoch.
#[derive(Debug)]
pub struct Snapshot {
    pub epoch: u64,
    pub published: DateTime<Utc>,
    /// Per view, in the order of [`Hub::new`]'s schemas: its rows in batches.
    pub tables: Vec<Vec<RecordBatch>>,
}

/// The published snapshots, newest last; older ones are kept a little while for queries in flight.
#[derive(Debug)]
pub struct Hub {
    schemas: Vec<(&'static str, SchemaRef)>,
    history: RwLock<VecDeque<Arc<Snapshot>>>,
}

/// Snapshots kept for queries that started before the latest publish.
const KEPT: usize = 16;

impl Hub {
    /// A hub for the given views, each starting empty at epoch 0.
    pub fn new(schemas: Vec<(&'static str, SchemaRef)>) -> Arc<Hub> {
        let empty = Snapshot {
            epoch: 0,
            published: DateTime::<Utc>::MIN_UTC,
            tables: schemas.iter().map(|_| Vec::new()).collect(),
        };
        Arc::new(Hub { schemas, history: RwLock::new(VecDeque::from([Arc::new(empty)])) })
    }

    pub fn views(&self) -> &[(&'static str, SchemaRef)] {
        &self.schemas
    }

    /// Makes `tables` (in the order of the hub's views) the state of `epoch`.
    pub fn publish(&self, epoch: u64, tables: Vec<Vec<RecordBatch>>) {
        let mut history = self.history.write().unwrap_or_else(|e| e.into_inner());
        // Stamped inside the lock: see the module documentation.
        history.push_back(Arc::new(Snapshot { epoch, published: Utc::now(), tables }));
        while history.len() > KEPT {
            history.pop_front();
        }
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        let history = self.history.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(history.back().expect("a hub always holds a snapshot"))
    }

    /// The newest snapshot published strictly before `instant`.
    pub fn before(&self, instant: DateTime<Utc>) -> Arc<Snapshot> {
        let history = self.history.read().unwrap_or_else(|e| e.into_inner());
        let found = history.iter().rev().find(|s| s.published < instant).or(history.front());
        Arc::clone(found.expect("a hub always holds a snapshot"))
    }

    /// A session reading what `grant` may: every live view it may read, registered by name and
    /// scoped ([`crate::access`]), tillflow's functions, `information_schema`, and `as_of` over the
    /// same views persisted under `root`, scoped alike.
    pub fn session(self: &Arc<Self>, root: &url::Url, grant: &Grant) -> datafusion::error::Result<SessionContext> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(crate::pg::DATABASE, "public");
        let ctx = SessionContext::new_with_config(config);
        functions::register(&ctx);
        let directory: Arc<dyn Directory> = Arc::clone(self) as Arc<dyn Directory>;
        for (index, (name, schema)) in self.schemas.iter().enumerate() {
            let table = Arc::new(LiveTable { hub: Arc::clone(self), index, schema: Arc::clone(schema) });
            if let Some(table) = scoped::under(name, table, grant, &directory) {
                ctx.register_table(*name, table)?;
            }
        }
        crate::as_of::register(&ctx, root, self.as_of_guard(grant, directory));
        Ok(ctx)
    }

    /// `as_of` reads a persisted view as `grant` reads the live one; a view not served live is
    /// readable by those who may read everything.
    fn as_of_guard(self: &Arc<Self>, grant: &Grant, directory: Arc<dyn Directory>) -> Guard {
        let (hub, grant) = (Arc::clone(self), grant.clone());
        Arc::new(move |view: &str| {
            let readable = match hub.schemas.iter().find(|(name, _)| *name == view) {
                Some((_, schema)) => access::visibility(view, schema, &grant) != Visibility::Hidden,
                None => grant == Grant::everything(&grant.user),
            };
            let (view, grant, directory) = (view.to_string(), grant.clone(), Arc::clone(&directory));
            readable.then(|| -> Wrap {
                Box::new(move |table: Arc<dyn TableProvider>| {
                    let schema = table.schema();
                    scoped::under(&view, table, &grant, &directory)
                        .unwrap_or_else(|| Arc::new(datafusion::datasource::empty::EmptyTable::new(schema)))
                })
            })
        })
    }
}

/// Where the stores are: the `stores` view of the snapshot a query reads.
impl Directory for Hub {
    fn placements(&self, at: Option<DateTime<Utc>>) -> Vec<Placement> {
        let Some(index) = self.schemas.iter().position(|(name, _)| *name == StoreRecord::NAME) else {
            return Vec::new();
        };
        let snapshot = match at {
            Some(at) => self.before(at),
            None => self.latest(),
        };
        let mut placements = Vec::new();
        for batch in &snapshot.tables[index] {
            let column = |name: &str| batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>());
            let (Some(stores), Some(districts), Some(regions)) =
                (column("store_id"), column("district"), column("region"))
            else {
                continue;
            };
            for row in 0..batch.num_rows() {
                placements.push(Placement {
                    store_id: stores.value(row).to_string(),
                    district: districts.value(row).to_string(),
                    region: regions.value(row).to_string(),
                });
            }
        }
        placements
    }
}

/// One live view as a DataFusion table.
#[derive(Debug)]
pub struct LiveTable {
    hub: Arc<Hub>,
    index: usize,
    schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// A base table to clients (`pg_class.relkind = 'r'`), so that the schema browsers that list
    /// tables only (SQLAlchemy's `get_table_names`, several BI tools) list the views.
    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let snapshot = match state.execution_props().query_execution_start_time {
            Some(started) => self.hub.before(started),
            None => self.hub.latest(),
        };
        let batches = snapshot.tables[self.index].clone();
        let partitions = split(batches, state.config().target_partitions());
        Ok(MemorySourceConfig::try_new_exec(&partitions, self.schema(), projection.cloned())?)
    }
}

/// Splits the rows into at most `n` partitions of about equal size (slices share the batches'
/// memory), so a scan uses every core.
fn split(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let per_partition = total.div_ceil(n.max(1)).max(1);
    let mut partitions = vec![Vec::new()];
    let mut filled = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if filled == per_partition {
                partitions.push(Vec::new());
                filled = 0;
            }
            let take = (batch.num_rows() - offset).min(per_partition - filled);
            partitions.last_mut().expect("one partition at least").push(batch.slice(offset, take));
            offset += take;
            filled += take;
        }
    }
    partitions
}
