//! Views persisted as Delta Lake tables under one root URL: `<root>/<view>/`, partitioned by
//! `business_date` where the view has one. Each write is one atomic Delta commit.

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use tillflow_queries::as_of::EPOCH_KEY;
use tillflow_queries::persisted::table_url;
use tillflow_schemas::views::ViewRow;
use url::Url;

/// Replaces a view's table with `rows` in one commit; earlier versions stay readable.
pub async fn write_view<R: ViewRow>(root: &Url, rows: &[R]) -> anyhow::Result<()> {
    write_table(root, R::NAME, R::PARTITION, R::to_batch(rows), None).await
}

/// Replaces the table `name` with `batch` in one commit, partitioned by `partition` if given; the
/// commit records `epoch`, if given, for `as_of`.
pub async fn write_table(
    root: &Url,
    name: &str,
    partition: Option<&str>,
    batch: RecordBatch,
    epoch: Option<u64>,
) -> anyhow::Result<()> {
    let url = table_url(root, name)?;
    if let Some(path) = url.to_file_path().ok().filter(|_| url.scheme() == "file") {
        std::fs::create_dir_all(&path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    }
    let table = DeltaTable::try_from_url(url.clone()).await?;
    let mut write =
        table.write(vec![batch]).with_save_mode(SaveMode::Overwrite).with_schema_mode(SchemaMode::Overwrite);
    if let Some(column) = partition {
        write = write.with_partition_columns([column]);
    }
    if let Some(epoch) = epoch {
        let metadata = [(EPOCH_KEY.to_string(), serde_json::json!(epoch))];
        write = write.with_commit_properties(CommitProperties::default().with_metadata(metadata));
    }
    write.await.map_err(|e| anyhow::anyhow!("writing view {name} to {url}: {e}"))?;
    Ok(())
}
