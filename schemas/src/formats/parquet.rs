//! Parquet in the flat layout (see [`super::flat`]). Columns may have any type Arrow can cast to
//! text (strings, integers, decimals, booleans, timestamps); the rows are then read as CSV's are.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::ChunkReader;

use super::flat::{COLUMNS, Grouper};
use super::{Record, Rejected};
use crate::InputError;

/// The records of a Parquet file, or of its bytes (anything Parquet can read in chunks).
pub fn read(input: impl ChunkReader + 'static) -> Result<Rows, InputError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(input).map_err(|e| InputError::MalformedParquet(e.to_string()))?;
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let grouper = Grouper::new(header)?;
    let batches = builder.with_batch_size(8192).build().map_err(|e| InputError::MalformedParquet(e.to_string()))?;
    Ok(Rows { batches, grouper, batch: Vec::new(), row: 0, rows: 0, position: 0, done: false })
}

pub struct Rows {
    batches: ParquetRecordBatchReader,
    grouper: Grouper,
    batch: Vec<StringArray>,
    row: usize,
    rows: usize,
    position: u64,
    done: bool,
}

impl Iterator for Rows {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if self.done {
                return None;
            }
            if self.row == self.rows {
                match self.batches.next() {
                    None => {
                        self.done = true;
                        return self.grouper.finish();
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        let reason = InputError::MalformedParquet(e.to_string());
                        return Some(Record::rejected(self.position + 1, Rejected::new(b"", reason)));
                    }
                    Some(Ok(batch)) => match as_text(&batch) {
                        Ok(columns) => {
                            self.rows = batch.num_rows();
                            self.row = 0;
                            self.batch = columns;
                        }
                        Err(reason) => {
                            self.done = true;
                            return Some(Record::rejected(self.position + 1, Rejected::new(b"", reason)));
                        }
                    },
                }
                continue;
            }
            let cells: Vec<Option<&str>> =
                self.batch.iter().map(|c| c.is_valid(self.row).then(|| c.value(self.row))).collect();
            let raw = cells.iter().map(|c| c.unwrap_or("")).collect::<Vec<_>>().join(",");
            self.row += 1;
            self.position += 1;
            if let Some(record) = self.grouper.push(self.position, &raw, &cells) {
                return Some(record);
            }
        }
    }
}

fn as_text(batch: &RecordBatch) -> Result<Vec<StringArray>, InputError> {
    batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(column, field)| {
            let text = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| {
                InputError::MalformedParquet(format!(
                    "column `{}` ({}) cannot be read as text: {e}",
                    field.name(),
                    field.data_type()
                ))
            })?;
            Ok(text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8").clone())
        })
        .collect()
}

/// The flat layout as an all-text Arrow schema, for writing Parquet.
pub fn flat_schema() -> Arc<Schema> {
    Arc::new(Schema::new(COLUMNS.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()))
}

/// Flat rows (as from [`super::flat::to_rows`]) as one record batch of [`flat_schema`].
pub fn flat_batch(rows: &[Vec<String>]) -> RecordBatch {
    let columns: Vec<ArrayRef> = (0..COLUMNS.len())
        .map(|i| {
            let cells = rows.iter().map(|r| Some(r[i].as_str()).filter(|c| !c.is_empty()));
            Arc::new(cells.collect::<StringArray>()) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(flat_schema(), columns).expect("columns match the flat schema")
}
