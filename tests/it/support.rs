//! Shared helpers: running the dataflow over prepared events, and comparing rows.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use tillflow::dataflow::{self, IngestFactory, Output};
use tillflow::source::{Epoch, Ingested, Prepared};
use tillflow_schemas::Event;
use tillflow_schemas::tables::EventTables;
use tillflow_schemas::time::local_day;

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

/// Runs the reference SQL of each of `views` over the given events, in one session.
pub fn references(events: &[&Event], views: &[&str]) -> Vec<Vec<RecordBatch>> {
    let mut tables = EventTables::new();
    for event in events {
        tables.push(event);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let ctx = tillflow_queries::reference::session(&tables).await.unwrap();
        let mut out = Vec::new();
        for view in views {
            out.push(ctx.sql(&format!("SELECT * FROM {view}")).await.unwrap().collect().await.unwrap());
        }
        out
    })
}

/// Runs the dataflow over events already stamped with epochs; stores must precede their events.
/// Runs that keep every epoch's changes, for views compared epoch by epoch.
pub fn every_epoch() -> dataflow::Detail {
    dataflow::Detail { epochs: true, ..dataflow::Detail::default() }
}

pub fn run_prepared(stamped: &[(Epoch, Event)], workers: usize) -> Output {
    let mut zones = std::collections::HashMap::new();
    let items: Vec<(Epoch, Event, Option<i32>)> = stamped
        .iter()
        .map(|(epoch, event)| {
            if let Event::Store(store) = event {
                zones.insert(store.store_id.clone(), store.timezone);
            }
            let day =
                event.dated_by_store().and_then(|s| zones.get(s)).zip(event.ts()).map(|(tz, ts)| local_day(ts, *tz));
            (*epoch, event.clone(), day)
        })
        .collect();
    let items = Arc::new(items);
    let factory: IngestFactory = Arc::new(move || {
        let prepared = items
            .iter()
            .map(|(epoch, event, day)| Ingested::Accepted { epoch: *epoch, event: event.clone(), business_date: *day })
            .collect();
        Box::new(Prepared::new(prepared))
    });
    dataflow::run(workers, &Default::default(), Default::default(), factory, every_epoch()).unwrap()
}

pub fn tillflow() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillflow"))
}

/// Runs the binary; panics with its output unless it succeeds. Returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let output = tillflow().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "tillflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
