//! Views persisted as Delta Lake tables under one root URL: `<root>/<view>/`, partitioned by
//! `business_date` where the view has one. Each write is one atomic Delta commit; a live run
//! rewrites only the partitions that changed, and [`vacuum`] deletes files older versions alone
//! still needed.

use std::collections::BTreeSet;

use arrow::array::{BooleanArray, Date32Array, RecordBatch};
use datafusion::prelude::{col, lit};
use datafusion::scalar::ScalarValue;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use tillflow_queries::as_of::EPOCH_KEY;
use tillflow_queries::persisted::table_url;
use tillflow_schemas::Day;
use url::Url;

use crate::{Error, Result};

/// What changed in a table since it was last written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Dirty {
    #[default]
    Clean,
    /// Only the partitions of these business days.
    Days(BTreeSet<Day>),
    Whole,
    /// The whole table as a new table: every older version, file and log entry deleted (an
    /// erased customer may be in them).
    Rewrite,
}

impl Dirty {
    /// What is dirty after both `self` and `other` happened.
    pub fn merge(&mut self, other: Dirty) {
        *self = match (std::mem::take(self), other) {
            (Dirty::Rewrite, _) | (_, Dirty::Rewrite) => Dirty::Rewrite,
            (Dirty::Whole, _) | (_, Dirty::Whole) => Dirty::Whole,
            (Dirty::Clean, dirty) | (dirty, Dirty::Clean) => dirty,
            (Dirty::Days(mut days), Dirty::Days(more)) => {
                days.extend(more);
                Dirty::Days(days)
            }
        };
    }
}

/// Writes the `dirty` part of table `name`, whose whole content is now `batch`, in one commit:
/// the whole table, or only the partitions of the dirty days (`partition` names the partition
/// column). The commit records `epoch`, if given, for `as_of`.
pub async fn write_table(
    root: &Url,
    name: &str,
    partition: Option<&str>,
    batch: RecordBatch,
    epoch: Option<u64>,
    dirty: &Dirty,
) -> Result<()> {
    let url = table_url(root, name)?;
    // A rewrite leaves no older version behind (an erased customer must not stay in one).
    if let Some(path) = url.to_file_path().ok().filter(|_| url.scheme() == "file") {
        if *dirty == Dirty::Rewrite && path.exists() {
            let error = |error| Error::RemoveTable { at: path.display().to_string(), error };
            std::fs::remove_dir_all(&path).map_err(error)?;
        }
        std::fs::create_dir_all(&path).map_err(|error| Error::CreateFolder { path, error })?;
    } else if *dirty == Dirty::Rewrite && tillflow_queries::stores::BUCKET_SCHEMES.contains(&url.scheme()) {
        let error = |error| Error::RemoveTable { at: url.to_string(), error: std::io::Error::other(error) };
        tillflow_queries::stores::remove_all(&url).await.map_err(error)?;
    }
    let table = DeltaTable::try_from_url(url.clone()).await?;
    let write = match (dirty, partition) {
        (Dirty::Clean, _) => return Ok(()),
        (Dirty::Days(days), Some(column)) => {
            let days_only = rows_of_days(&batch, column, days)?;
            let partitions = days.iter().map(|day| lit(ScalarValue::Date32(Some(*day)))).collect();
            table
                .write(vec![days_only])
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(col(column).in_list(partitions, false))
        }
        (_, Some(column)) => {
            // Its days in a few groups, written side by side (one group is one writer).
            let groups = by_day_groups(&batch, column)?;
            let scan = datafusion::datasource::MemTable::try_new(batch.schema(), groups)?;
            let source = datafusion::datasource::provider_as_source(std::sync::Arc::new(scan));
            let plan = datafusion::logical_expr::LogicalPlanBuilder::scan("rows", source, None)?.build()?;
            let write = table.write(Vec::new()).with_input_plan(plan);
            write
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
                .with_partition_columns([column])
        }
        (_, None) => {
            table.write(vec![batch]).with_save_mode(SaveMode::Overwrite).with_schema_mode(SchemaMode::Overwrite)
        }
    };
    let write = match epoch {
        Some(epoch) => {
            let metadata = [(EPOCH_KEY.to_string(), serde_json::json!(epoch))];
            write.with_commit_properties(CommitProperties::default().with_metadata(metadata))
        }
        None => write,
    };
    write.await.map_err(|error| Error::WriteView {
        view: name.to_string(),
        url: url.to_string(),
        error: Box::new(error),
    })?;
    Ok(())
}

/// The rows of `batch` in as many groups as there are cores, each holding whole days of the
/// date `column`.
fn by_day_groups(batch: &RecordBatch, column: &str) -> Result<Vec<Vec<RecordBatch>>> {
    let dates = batch
        .column_by_name(column)
        .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
        .ok_or_else(|| Error::PartitionNotDate(column.to_string()))?;
    let groups = std::thread::available_parallelism().map_or(1, usize::from) as i32;
    (0..groups)
        .map(|group| {
            let keep: BooleanArray =
                dates.iter().map(|day| Some(day.unwrap_or(0).rem_euclid(groups) == group)).collect();
            Ok(vec![arrow::compute::filter_record_batch(batch, &keep)?])
        })
        .collect()
}

/// The rows of `batch` whose date `column` is one of `days`.
fn rows_of_days(batch: &RecordBatch, column: &str, days: &BTreeSet<Day>) -> Result<RecordBatch> {
    let dates = batch
        .column_by_name(column)
        .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
        .ok_or_else(|| Error::PartitionNotDate(column.to_string()))?;
    let keep: BooleanArray = dates.iter().map(|day| Some(day.is_some_and(|d| days.contains(&d)))).collect();
    Ok(arrow::compute::filter_record_batch(batch, &keep)?)
}

/// Deletes the data files of table `name` that no version younger than `keep` reads; returns how
/// many. Versions older than `keep` can no longer be read with `as_of`.
pub async fn vacuum(root: &Url, name: &str, keep: std::time::Duration) -> Result<usize> {
    let url = table_url(root, name)?;
    let table = match deltalake::open_table(url.clone()).await {
        Ok(table) => table,
        Err(DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_)) => return Ok(0),
        Err(error) => return Err(Error::OpenTable { url: url.to_string(), error: Box::new(error) }),
    };
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(keep)
        .with_enforce_retention_duration(false)
        .await
        .map_err(|error| Error::Vacuum { url: url.to_string(), error: Box::new(error) })?;
    Ok(metrics.files_deleted.len())
}
