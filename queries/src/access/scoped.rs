//! A table read under a scope: its scan keeps the scope's rows before the query sees any.
//!
//! The scan is an opaque leaf ([`ScopedScan`]): the plan it wraps is built for the scope alone
//! and never shown, optimized through or pushed into, so no predicate of the query runs on a row
//! outside the scope (a division by zero cannot quote one), `EXPLAIN` shows neither the inner
//! plan nor its statistics, and no statistic of the whole table reaches the planner.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::StreamExt;

use super::{Directory, Grant, Scope, Visibility, covered, visibility};

/// `inner` as `grant` may read it, or `None` when it may not read it at all.
pub fn under(
    name: &str,
    inner: Arc<dyn TableProvider>,
    grant: &Grant,
    directory: &Arc<dyn Directory>,
) -> Option<Arc<dyn TableProvider>> {
    match visibility(name, &inner.schema(), grant) {
        Visibility::Hidden => None,
        Visibility::Whole => Some(inner),
        Visibility::Rows { column } => Some(Arc::new(ScopedTable {
            name: name.to_string(),
            inner,
            column,
            scope: grant.scope.clone(),
            directory: Arc::clone(directory),
        })),
    }
}

/// A table whose rows are kept by the value of `column`: the scope's stores or districts, as the
/// directory places them when the query started.
#[derive(Debug)]
pub struct ScopedTable {
    name: String,
    inner: Arc<dyn TableProvider>,
    column: &'static str,
    scope: Scope,
    directory: Arc<dyn Directory>,
}

#[async_trait::async_trait]
impl TableProvider for ScopedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    /// Scans every column asked for and the scope's column, without the query's filters or
    /// limit (they run above, on the scope's rows only).
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.inner.schema();
        let scope_column = schema.index_of(self.column)?;
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..schema.fields().len()).collect());
        let mut read = wanted.clone();
        let at = match wanted.iter().position(|i| *i == scope_column) {
            Some(at) => at,
            None => {
                read.push(scope_column);
                wanted.len()
            }
        };
        let plan = self.inner.scan(state, Some(&read), &[], None).await?;
        let started = state.execution_props().query_execution_start_time;
        let allowed = covered(&self.scope, &self.directory.placements(started)).values(self.column).clone();
        let output = Arc::new(schema.project(&wanted)?);
        let label = format!("{}, {} of scope {}", self.name, self.column, self.scope);
        Ok(Arc::new(ScopedScan::new(plan, at, wanted.len(), Arc::new(allowed), output, label)))
    }
}

/// Runs a scan and keeps the rows whose `column` is `allowed`, and the first `width` columns.
#[derive(Debug)]
pub struct ScopedScan {
    input: Arc<dyn ExecutionPlan>,
    column: usize,
    width: usize,
    allowed: Arc<HashSet<String>>,
    schema: SchemaRef,
    label: String,
    properties: Arc<PlanProperties>,
}

impl ScopedScan {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        column: usize,
        width: usize,
        allowed: Arc<HashSet<String>>,
        schema: SchemaRef,
        label: String,
    ) -> ScopedScan {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ScopedScan { input, column, width, allowed, schema, label, properties: Arc::new(properties) }
    }
}

/// The rows of `batch` whose `column` is in `allowed` (a null is in no scope: the filter drops
/// it), and its first `width` columns.
fn keep(batch: &RecordBatch, column: usize, width: usize, allowed: &HashSet<String>) -> Result<RecordBatch> {
    let values = arrow::compute::cast(batch.column(column), &DataType::Utf8)?;
    let mask: BooleanArray = match allowed.iter().next() {
        // One store or district (the common scope): the vectorised comparison.
        Some(only) if allowed.len() == 1 => {
            let only = arrow::array::Scalar::new(StringArray::from(vec![only.as_str()]));
            arrow::compute::kernels::cmp::eq(&values, &only)?
        }
        _ => {
            let values = values.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
            values.iter().map(|v| Some(v.is_some_and(|v| allowed.contains(v)))).collect()
        }
    };
    let kept = arrow::compute::filter_record_batch(batch, &mask)?;
    Ok(kept.project(&(0..width).collect::<Vec<_>>())?)
}

impl DisplayAs for ScopedScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopedScan: {}", self.label)
    }
}

impl ExecutionPlan for ScopedScan {
    fn name(&self) -> &str {
        "ScopedScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: the wrapped scan is this node's own, out of reach of the optimizer and `EXPLAIN`.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let rows = self.input.execute(partition, context)?;
        let (column, width, allowed) = (self.column, self.width, Arc::clone(&self.allowed));
        let kept = rows.map(move |batch| keep(&batch?, column, width, &allowed));
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), kept)))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::pretty::pretty_format_batches;
    use chrono::{DateTime, Utc};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::access::Placement;

    #[derive(Debug)]
    struct Chain;

    impl Directory for Chain {
        fn placements(&self, _at: Option<DateTime<Utc>>) -> Vec<Placement> {
            let place = |s: &str, d: &str| Placement { store_id: s.into(), district: d.into(), region: "R".into() };
            vec![place("S1", "D1"), place("S2", "D1"), place("S3", "D2")]
        }
    }

    /// A table of (store_id, amount): S1 has 1 and 2, S2 has 0, S3 has 5.
    fn sales() -> Arc<dyn TableProvider> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("store_id", DataType::Utf8, false),
            Field::new("amount", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["S1", "S2", "S1", "S3"])),
                Arc::new(Int64Array::from(vec![1, 0, 2, 5])),
            ],
        )
        .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    async fn answer(scope: &str, sql: &str) -> datafusion::error::Result<String> {
        let grant = Grant { user: "u".into(), scope: scope.parse().unwrap(), pii: false };
        let directory: Arc<dyn Directory> = Arc::new(Chain);
        let ctx = SessionContext::new();
        ctx.register_table("sales", under("sales", sales(), &grant, &directory).unwrap())?;
        Ok(pretty_format_batches(&ctx.sql(sql).await?.collect().await?)?.to_string())
    }

    #[tokio::test]
    async fn a_scope_keeps_its_rows_whatever_the_query_asks() {
        let store = answer(
            "store:S1",
            "SELECT store_id, sum(amount) AS s FROM sales WHERE store_id = 'S3' OR 1 = 1 GROUP BY 1",
        )
        .await;
        assert!(store.as_ref().unwrap().contains("| S1       | 3 |"), "{store:?}");
        assert!(!store.unwrap().contains("S3"));
        let district = answer("district:D1", "SELECT count(*) AS n, sum(amount) AS s FROM sales").await.unwrap();
        assert!(district.contains("| 3 | 3 |"), "{district}");
        // S2's amount is 0: a store manager of S1 never divides by it.
        let divided = answer("store:S1", "SELECT sum(10 / amount) AS s FROM sales").await.unwrap();
        assert!(divided.contains("| 15 |"), "{divided}");
        assert!(answer("district:D1", "SELECT sum(10 / amount) FROM sales").await.is_err(), "S2 is in D1");
        let plan = answer("store:S1", "EXPLAIN SELECT * FROM sales").await.unwrap();
        assert!(plan.contains("ScopedScan: sales, store_id of scope store:S1"), "{plan}");
        assert!(!plan.contains("MemoryExec") && !plan.contains("DataSourceExec"), "{plan}");
    }
}
