//! Every view's and column's description, from docs/views.md, where Postgres clients read them:
//! `pg_catalog.pg_description` and the functions `obj_description(oid, 'pg_class')` and
//! `col_description(oid, attnum)` (psql's `\d+`, SQLAlchemy's `Inspector`, BI tools' schema
//! browsers).
//!
//! `pg_catalog` hands out the tables' OIDs when `pg_class` is read, so `pg_catalog` is wrapped:
//! reading `pg_class` (or `pg_description`) also notes which OID each table has, and the
//! descriptions are joined to the tables by that.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, create_udf};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;

/// Postgres's OID of `pg_class`, the `classoid` of a description of a table or one of its
/// columns, unless `pg_class` lists itself with another.
const PG_CLASS_OID: i32 = 1259;

/// The text the descriptions are read from.
const VIEWS_DOC: &str = include_str!("../../docs/views.md");

/// A table's description and its columns', by column name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Described {
    pub table: String,
    pub columns: HashMap<String, String>,
}

/// The descriptions docs/views.md gives: each `## \`view\` — per …` section's heading and first
/// paragraph for the table, each row of its tables whose first cell names columns, and for the
/// columns it leaves out, "Columns every view shares".
pub fn from_docs() -> HashMap<String, Described> {
    let mut described: HashMap<String, Described> = HashMap::new();
    let mut current: Vec<String> = Vec::new();
    let mut paragraph: Option<String> = None;
    // "## Columns every view shares": meanings of the columns many views have.
    let mut shared: HashMap<String, String> = HashMap::new();
    let mut in_shared = false;
    for line in VIEWS_DOC.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current.clear();
            in_shared = heading.starts_with("Columns every view shares");
            // "`a` — per x, and `b` — per y": one view per backticked name, each with its grain.
            for part in heading.split(", and ") {
                let Some((name, grain)) = part.split_once(" — ") else { continue };
                let name = name.trim().trim_matches('`').to_string();
                described.entry(name.clone()).or_default().table = format!("One row {}.", plain(grain));
                current.push(name);
            }
            paragraph = Some(String::new());
            continue;
        }
        if in_shared {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() >= 4 && cells[1].starts_with('`') {
                shared.insert(cells[1].trim_matches('`').to_string(), plain(cells[2]));
            }
            continue;
        }
        if current.is_empty() {
            continue;
        }
        if let Some(text) = paragraph.as_mut() {
            match line.trim() {
                "" if text.is_empty() => continue,
                "" => {
                    for name in &current {
                        let table = &mut described.entry(name.clone()).or_default().table;
                        *table = format!("{table} {}", plain(text));
                    }
                    paragraph = None;
                }
                line if line.starts_with('|') || line.starts_with('#') => paragraph = None,
                line => {
                    text.push_str(if text.is_empty() { "" } else { " " });
                    text.push_str(line);
                }
            }
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 4 && cells[1].starts_with('`') {
            let meaning = plain(cells[2]);
            for column in cells[1].split(',').map(|c| c.trim().trim_matches('`')) {
                for name in &current {
                    described.entry(name.clone()).or_default().columns.insert(column.to_string(), meaning.clone());
                }
            }
        }
    }
    for view in described.values_mut() {
        for (column, meaning) in &shared {
            view.columns.entry(column.clone()).or_insert_with(|| meaning.clone());
        }
    }
    described
}

/// Markdown made plain text: no backticks or emphasis.
fn plain(text: &str) -> String {
    text.replace(['`', '*'], "")
}

/// Table OIDs as `pg_class` last handed them out, with each table's name.
type Oids = Arc<RwLock<HashMap<i32, String>>>;

/// Each described table's description, and its columns' in their order.
type Descriptions = Arc<HashMap<String, (String, Vec<Option<String>>)>>;

/// Wraps `pg_catalog` of `ctx`'s default catalog and registers the description functions; the
/// descriptions are those of docs/views.md for the tables registered at that moment.
pub async fn register(ctx: &SessionContext) -> Result<()> {
    let options = ctx.state().config().options().catalog.clone();
    let catalog = ctx
        .catalog(&options.default_catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {}", options.default_catalog)))?;
    let inner = catalog.schema("pg_catalog").ok_or_else(|| DataFusionError::Plan("no pg_catalog schema".into()))?;
    let tables = catalog
        .schema(&options.default_schema)
        .ok_or_else(|| DataFusionError::Plan(format!("no schema {}", options.default_schema)))?;
    let oids: Oids = Default::default();
    let docs = from_docs();
    let mut described = HashMap::new();
    for name in tables.table_names() {
        let (Some(doc), Some(table)) = (docs.get(&name), tables.table(&name).await?) else { continue };
        let columns = table.schema().fields().iter().map(|f| doc.columns.get(f.name()).cloned()).collect();
        described.insert(name, (doc.table.clone(), columns));
    }
    let descriptions: Descriptions = Arc::new(described);
    let wrapped = DescribedCatalog { inner, oids: Arc::clone(&oids), descriptions: Arc::clone(&descriptions) };
    catalog.register_schema("pg_catalog", Arc::new(wrapped))?;

    // obj_description(oid, 'pg_class') describes a table, col_description(oid, attnum) a column.
    for (name, second, of_column) in
        [("obj_description", DataType::Utf8, false), ("col_description", DataType::Int64, true)]
    {
        let (oids, descriptions) = (Arc::clone(&oids), Arc::clone(&descriptions));
        let lookup = move |oid: i32, attnum: Option<i64>| {
            let names = oids.read().unwrap_or_else(|e| e.into_inner());
            let (table, columns) = names.get(&oid).and_then(|name| descriptions.get(name))?;
            if !of_column {
                return Some(table.clone());
            }
            let attnum = usize::try_from(attnum?.checked_sub(1)?).ok()?;
            columns.get(attnum).cloned().flatten()
        };
        let function = Arc::new(move |args: &[ColumnarValue]| describe(args, &lookup));
        ctx.register_udf(create_udf(name, vec![DataType::Int64, second], DataType::Utf8, Volatility::Stable, function));
    }
    Ok(())
}

/// Applies `lookup(oid, second argument as a number)` row by row.
fn describe(args: &[ColumnarValue], lookup: impl Fn(i32, Option<i64>) -> Option<String>) -> Result<ColumnarValue> {
    let rows = args.iter().find_map(|a| match a {
        ColumnarValue::Array(array) => Some(array.len()),
        ColumnarValue::Scalar(_) => None,
    });
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let oid = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int64)?;
    let oid = oid.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let second = datafusion::arrow::compute::cast(&arrays[1], &DataType::Int64).ok();
    let second = second.as_ref().map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
    let out: StringArray = (0..oid.len())
        .map(|i| {
            let number = second.filter(|s| s.is_valid(i)).map(|s| s.value(i));
            oid.is_valid(i).then(|| lookup(oid.value(i) as i32, number)).flatten()
        })
        .collect();
    Ok(match rows {
        Some(_) => ColumnarValue::Array(Arc::new(out)),
        None => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
    })
}

/// `pg_catalog`, with `pg_class` noting OIDs and `pg_description` holding tillflow's rows too.
#[derive(Debug)]
struct DescribedCatalog {
    inner: Arc<dyn SchemaProvider>,
    oids: Oids,
    descriptions: Descriptions,
}

#[async_trait]
impl SchemaProvider for DescribedCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.inner.table(name).await? else { return Ok(None) };
        Ok(Some(match name {
            "pg_class" => Arc::new(Noted { inner: table, classes: None, oids: Arc::clone(&self.oids), rows: None }),
            "pg_description" => Arc::new(Noted {
                inner: table,
                classes: self.inner.table("pg_class").await?,
                oids: Arc::clone(&self.oids),
                rows: Some(Arc::clone(&self.descriptions)),
            }),
            _ => table,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `pg_class` (noting each table's OID as it is read), or `pg_description` (reading `pg_class`
/// first, then adding a row per described table and column).
#[derive(Debug)]
struct Noted {
    inner: Arc<dyn TableProvider>,
    /// For `pg_description`: the `pg_class` to read OIDs from.
    classes: Option<Arc<dyn TableProvider>>,
    oids: Oids,
    /// For `pg_description`: the descriptions to add.
    rows: Option<Descriptions>,
}

impl Noted {
    async fn read(table: &Arc<dyn TableProvider>, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let plan = table.scan(state, None, &[], None).await?;
        collect(plan, state.task_ctx()).await
    }

    fn note(&self, classes: &[RecordBatch]) {
        let mut oids = self.oids.write().unwrap_or_else(|e| e.into_inner());
        for batch in classes {
            let (Some(oid), Some(name)) = (batch.column_by_name("oid"), batch.column_by_name("relname")) else {
                continue;
            };
            let (Some(oid), Some(name)) = (oid.as_primitive_opt::<Int32Type>(), name.as_string_opt::<i32>()) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                oids.insert(oid.value(i), name.value(i).to_string());
            }
        }
    }

    /// tillflow's rows of `pg_description`, in its schema.
    fn described(&self, schema: &SchemaRef) -> Result<Option<RecordBatch>> {
        let Some(rows) = &self.rows else { return Ok(None) };
        let oids = self.oids.read().unwrap_or_else(|e| e.into_inner());
        let class_oid = oids.iter().find(|(_, name)| *name == "pg_class").map_or(PG_CLASS_OID, |(oid, _)| *oid);
        let (mut objoid, mut objsubid, mut text) = (Vec::new(), Vec::new(), Vec::new());
        for (oid, name) in oids.iter() {
            let Some((table, columns)) = rows.get(name) else { continue };
            objoid.push(*oid);
            objsubid.push(0);
            text.push(table.clone());
            for (i, column) in columns.iter().enumerate() {
                if let Some(column) = column {
                    objoid.push(*oid);
                    objsubid.push(i as i32 + 1);
                    text.push(column.clone());
                }
            }
        }
        let n = objoid.len();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|field| -> Result<ArrayRef> {
                let array: ArrayRef = match field.name().as_str() {
                    "objoid" => Arc::new(Int32Array::from(objoid.clone())),
                    "classoid" => Arc::new(Int32Array::from(vec![class_oid; n])),
                    "objsubid" => Arc::new(Int32Array::from(objsubid.clone())),
                    "description" => Arc::new(StringArray::from(text.clone())),
                    _ => datafusion::arrow::array::new_null_array(field.data_type(), n),
                };
                Ok(datafusion::arrow::compute::cast(&array, field.data_type())?)
            })
            .collect::<Result<_>>()?;
        Ok(Some(RecordBatch::try_new(Arc::clone(schema), columns)?))
    }
}

#[async_trait]
impl TableProvider for Noted {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut batches = Self::read(&self.inner, state).await?;
        match &self.classes {
            None => self.note(&batches),
            Some(classes) => self.note(&Self::read(classes, state).await?),
        }
        let schema = self.schema();
        batches.extend(self.described(&schema)?);
        Ok(MemorySourceConfig::try_new_exec(&[batches], schema, projection.cloned())?)
    }
}
