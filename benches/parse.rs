//! Parsing per input format: records per second from NDJSON, CSV and Parquet files of one
//! generated chain, and from an HTTP body.
//!
//! ```sh
//! cargo bench --bench parse
//! ```

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tillflow_data::ChainConfig;
use tillflow_schemas::Format;
use tillflow_schemas::formats::{self, Record};

/// The day of sales of a 5-store chain, in `format` (generated once per run).
fn day_file(dir: &Path, format: Format) -> PathBuf {
    let out = dir.join(format.extension());
    let config = ChainConfig { stores: 5, days: 1, ..ChainConfig::default() };
    let generated = tillflow_data::generate(&out, config, format, &mut |_, _| {}).expect("a generated chain");
    let ext = format.extension();
    generated
        .files
        .into_iter()
        .find(|f| {
            f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("events"))
                && f.extension().is_some_and(|e| e == ext)
        })
        .expect("a day of events")
}

fn count(records: impl Iterator<Item = Record>) -> usize {
    records.filter(|r| r.outcome.is_ok()).count()
}

fn parsing(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut group = c.benchmark_group("parse");
    for format in [Format::Ndjson, Format::Csv, Format::Parquet] {
        let file = day_file(dir.path(), format);
        let records = count(formats::read_file(&file, format).expect("readable"));
        group.throughput(Throughput::Elements(records as u64));
        group.bench_function(format.extension(), |b| {
            b.iter(|| count(formats::read_file(&file, format).expect("readable")))
        });
    }
    let body = std::fs::read(day_file(dir.path(), Format::Ndjson)).expect("readable");
    group.throughput(Throughput::Elements(formats::body(&body).len() as u64));
    group.bench_function("http_body", |b| b.iter(|| formats::body(&body).len()));
    group.finish();
}

criterion_group!(benches, parsing);
criterion_main!(benches);
