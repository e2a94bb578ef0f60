//! Writing a generated chain: `reference.<ext>` (stores, products, promotions), one events file
//! per business day in arrival order (`events-YYYY-MM-DD.<ext>`), and `ground_truth.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use tillflow_schemas::formats::{flat, parquet as flat_parquet};
use tillflow_schemas::{Event, Format};

use crate::simulate::Simulator;
use crate::{Chain, ChainConfig, GroundTruth};

/// What was written.
#[derive(Debug)]
pub struct Generated {
    pub files: Vec<PathBuf>,
    pub events: u64,
    pub bytes: u64,
    pub truth: GroundTruth,
}

/// Generates the chain into `out` (created if missing). `progress(done_days, total_days)` is
/// called after each day.
pub fn generate(
    out: &Path,
    config: ChainConfig,
    format: Format,
    progress: &mut dyn FnMut(u32, u32),
) -> std::io::Result<Generated> {
    if config.stores == 0 || config.days == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "--stores and --days must be at least 1"));
    }
    std::fs::create_dir_all(out)?;
    let chain = Chain::new(config.clone());
    let mut simulator = Simulator::new(&chain);
    let mut files = Vec::new();
    let mut events = 0;

    let reference = out.join(format!("reference.{}", format.extension()));
    events += write_events(&reference, format, &chain.reference_events())?;
    files.push(reference);

    for day in 0..config.days {
        let batch = simulator.day(day);
        let date = config.start + chrono::Days::new(day as u64);
        let path = out.join(format!("events-{date}.{}", format.extension()));
        events += write_events(&path, format, &batch)?;
        files.push(path);
        progress(day + 1, config.days);
    }

    let truth = simulator.ground_truth();
    let truth_path = out.join("ground_truth.json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth).map_err(std::io::Error::other)? + "\n")?;
    files.push(truth_path);
    let bytes = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
    Ok(Generated { files, events, bytes, truth })
}

fn write_events(path: &Path, format: Format, events: &[Event]) -> std::io::Result<u64> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    match format {
        Format::Ndjson => {
            let mut out = file;
            for event in events {
                serde_json::to_writer(&mut out, &event.to_raw()).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Format::Csv => {
            let mut out = flat::csv_writer(file).map_err(std::io::Error::other)?;
            for event in events {
                for row in flat::to_rows(&event.to_raw()) {
                    out.write_record(&row).map_err(std::io::Error::other)?;
                }
            }
            out.flush()?;
        }
        Format::Parquet => {
            let mut writer =
                ArrowWriter::try_new(file, flat_parquet::flat_schema(), None).map_err(std::io::Error::other)?;
            for chunk in events.chunks(8192) {
                let rows: Vec<Vec<String>> = chunk.iter().flat_map(|e| flat::to_rows(&e.to_raw())).collect();
                writer.write(&flat_parquet::flat_batch(&rows)).map_err(std::io::Error::other)?;
            }
            writer.close().map_err(std::io::Error::other)?;
        }
    }
    Ok(events.len() as u64)
}
