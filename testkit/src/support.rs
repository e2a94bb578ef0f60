//! Running the dataflow over prepared events fed through admission, the reference SQL over the
//! same events, and rows as text to compare them.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use tillflow::dataflow::{self, IngestFactory, Output, Tuning, ViewSet};
use tillflow::source::{Admission, Counts, Epoch, IngestStream, Ingested};
use tillflow_queries::reference::Settings;
use tillflow_schemas::formats::{Record, ndjson};
use tillflow_schemas::tables::EventTables;
use tillflow_schemas::time::RETENTION_MS;
use tillflow_schemas::{Event, Millis};

/// Every row of the batches as `a|b|c` text (floats to 12 significant digits), sorted.
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|column| match column.data_type() {
                    DataType::Float64 if column.is_valid(row) => {
                        let v = column.as_any().downcast_ref::<arrow::array::Float64Array>().unwrap().value(row);
                        format!("{v:.12e}")
                    }
                    _ => array_value_to_string(column, row).unwrap(),
                })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

/// Runs the reference SQL of each of `views` over the given events, in one session, with the
/// definitions' `settings`.
pub fn references(events: &[&Event], views: &[&str], settings: Settings) -> Vec<Vec<RecordBatch>> {
    let mut tables = EventTables::new();
    for event in events {
        tables.push(event);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let ctx = tillflow_queries::reference::session(&tables, settings).await.unwrap();
        let mut out = Vec::new();
        for view in views {
            out.push(ctx.sql(&format!("SELECT * FROM {view}")).await.unwrap().collect().await.unwrap());
        }
        out
    })
}

/// Runs that keep every epoch's changes, for views compared epoch by epoch.
pub fn every_epoch() -> dataflow::Detail {
    dataflow::Detail { epochs: true, ..dataflow::Detail::default() }
}

/// Events stamped with epochs, as NDJSON text read through the admission a file's records take
/// (parse, dedup, rules, business days, dead letters), each in its epoch.
pub struct Admitted {
    lines: Arc<Vec<(Epoch, String)>>,
    next: usize,
    admission: Admission,
}

impl Admitted {
    fn new(lines: Arc<Vec<(Epoch, String)>>, retention_ms: Millis) -> Admitted {
        Admitted { lines, next: 0, admission: Admission::new(retention_ms, tillflow::pseudonyms::Pseudonyms::known()) }
    }
}

/// Each event as the NDJSON line a file would hold, with its epoch.
fn ndjson_lines(stamped: &[(Epoch, Event)]) -> Arc<Vec<(Epoch, String)>> {
    Arc::new(stamped.iter().map(|(epoch, event)| (*epoch, event.to_json())).collect())
}

impl Iterator for Admitted {
    type Item = Ingested;

    fn next(&mut self) -> Option<Ingested> {
        loop {
            let (epoch, text) = self.lines.get(self.next)?;
            self.next += 1;
            let record = Record::new(self.next as u64, text.as_bytes(), ndjson::parse_line(text.as_bytes()));
            if let Some(item) = self.admission.admit("events", record, *epoch) {
                return Some(item);
            }
        }
    }
}

impl IngestStream for Admitted {
    fn counts(&self) -> Counts {
        self.admission.counts
    }
}

/// The events admission accepts of `stamped`, with their epochs: what the references read.
pub fn admitted(stamped: &[(Epoch, Event)]) -> Vec<(Epoch, Event)> {
    admitted_within(stamped, RETENTION_MS)
}

/// [`admitted`], with a retention of `retention_ms`.
pub fn admitted_within(stamped: &[(Epoch, Event)], retention_ms: Millis) -> Vec<(Epoch, Event)> {
    Admitted::new(ndjson_lines(stamped), retention_ms)
        .filter_map(|item| item.into_accepted().map(|(epoch, event, _)| (epoch, event)))
        .collect()
}

/// Runs the dataflow over events stamped with epochs, fed through admission; stores must precede
/// their events.
pub fn run_prepared(stamped: &[(Epoch, Event)], workers: usize) -> Output {
    run_views(stamped, workers, ViewSet::ALL)
}

/// [`run_prepared`], computing and keeping only `views` (and what they read).
pub fn run_views(stamped: &[(Epoch, Event)], workers: usize, views: ViewSet) -> Output {
    run_tuned(stamped, workers, Tuning { views, ..Tuning::default() })
}

/// [`run_prepared`] with `tuning` (the views kept, the retention, ...).
pub fn run_tuned(stamped: &[(Epoch, Event)], workers: usize, tuning: Tuning) -> Output {
    let lines = ndjson_lines(stamped);
    let retention_ms = tuning.retention_ms;
    let factory: IngestFactory = Arc::new(move || Box::new(Admitted::new(Arc::clone(&lines), retention_ms)));
    dataflow::run(workers, &Default::default(), tuning, factory, every_epoch()).unwrap()
}
