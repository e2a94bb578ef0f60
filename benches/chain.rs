//! What the end-to-end benchmarks share (`#[path]`-included by each): the binary's allocator, a
//! generated chain kept between runs, and its events as admission accepts them.

use std::path::Path;

use tillflow::source::{Epochs, Ingest, discover};
use tillflow_data::ChainConfig;
use tillflow_schemas::{Day, Event, Format, Millis};

/// The allocator of the `tillflow` binary, so that the in-process graph runs as it does there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Generates the chain of `config` into `dir` as `format`, unless an earlier run did.
pub fn generated(dir: &Path, config: ChainConfig, format: Format) -> std::io::Result<()> {
    if !dir.join("ground_truth.json").exists() {
        eprintln!("generating {}", dir.display());
        tillflow_data::generate(dir, config, format, &mut |_, _| {})?;
    }
    Ok(())
}

/// The chain's events admission accepts with `retention_ms`, with their business days, in
/// ingest order, read as they are needed.
pub fn admitted(dir: &Path, retention_ms: Millis) -> impl Iterator<Item = (Event, Option<Day>)> {
    let files = discover(&[dir.to_path_buf()]).expect("the generated chain");
    Ingest::open(&files, Epochs::Tick(3_600_000), retention_ms, tillflow::pseudonyms::Pseudonyms::known())
        .filter_map(|item| item.into_accepted().map(|(_, event, day)| (event, day)))
}

/// [`admitted`] with the default retention, all at once.
pub fn accepted(dir: &Path) -> Vec<(Event, Option<Day>)> {
    admitted(dir, tillflow_schemas::time::RETENTION_MS).collect()
}
