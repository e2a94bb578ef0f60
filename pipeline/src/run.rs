//! `tillflow run` over finished files: read, compute every view, persist, summarize.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tillflow_queries::persisted::root_url;
use url::Url;

use crate::dataflow::{self, Detail, IngestFactory, Processes, Tuning};
use crate::persist::{Dirty, write_table};
use crate::profile::Profile;
use crate::pseudonyms::Pseudonyms;
use crate::source::{self, Counts, Epochs, Ingest, Share};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub inputs: Vec<PathBuf>,
    pub out: String,
    pub workers: usize,
    /// The cluster this process is part of, if any.
    pub processes: Processes,
    /// How the input is cut into epochs.
    pub epochs: Epochs,
    pub tuning: Tuning,
    pub detail: Detail,
    /// A platform's order exports to read besides `inputs` (`--source`), and the store of each
    /// of its locations.
    pub exports: Exports,
    /// What replaces customer identifiers at admission.
    pub pseudonyms: Pseudonyms,
}

/// Files of orders as a platform's Orders API lists them, mapped as its webhooks are.
#[derive(Clone, Debug)]
pub struct Exports {
    pub platform: source::Platform,
    pub files: Vec<PathBuf>,
    pub locations: std::collections::HashMap<String, String>,
}

impl Default for Exports {
    fn default() -> Exports {
        Exports { platform: source::Platform::Shopify, files: Vec::new(), locations: Default::default() }
    }
}

impl RunConfig {
    /// A run of one process over `inputs`, in epochs chosen for speed, with the views' default settings.
    pub fn new(inputs: Vec<PathBuf>, out: String, workers: usize, pseudonyms: Pseudonyms) -> RunConfig {
        RunConfig {
            inputs,
            out,
            workers,
            processes: Processes::default(),
            epochs: Epochs::FAST,
            tuning: Tuning::default(),
            detail: Detail::default(),
            exports: Exports::default(),
            pseudonyms,
        }
    }
}

/// What `tillflow run` reports when it ends.
#[derive(Debug)]
pub struct Summary {
    pub counts: Counts,
    pub epochs: u64,
    pub views: Vec<(&'static str, usize)>,
    pub out: Url,
    pub wall: Duration,
    /// Of the wall time: reading and computing, then writing the tables.
    pub compute: Duration,
    pub persist: Duration,
    /// With `--profile`: the graph's time per stage, over all of this process's workers.
    pub profile: Profile,
}

pub fn run(config: &RunConfig, runtime: &tokio::runtime::Runtime) -> Result<Summary> {
    let started = Instant::now();
    let root = root_url(&config.out)?;
    let output = compute(config)?;
    write(output, root, started, runtime)
}

/// Persists every view of `output` (and its dead letters) under `root`; the summary of a run
/// that began at `started`.
pub fn write(
    output: dataflow::Output,
    root: Url,
    started: Instant,
    runtime: &tokio::runtime::Runtime,
) -> Result<Summary> {
    let compute = started.elapsed();
    // Every view at once, each on a thread of its own: turning rows into Arrow and encoding
    // Parquet keep the cores busy while other views wait on the disk.
    let root = &root;
    let written: Vec<Result<(&'static str, usize)>> = std::thread::scope(|scope| {
        let writers: Vec<_> = output
            .views
            .into_iter()
            .map(|view| {
                scope.spawn(move || {
                    let (name, partition, batch) = (view.name(), view.partition(), view.into_batch());
                    let rows = batch.num_rows();
                    let write =
                        || runtime.block_on(write_table(root, name, partition, batch.clone(), None, &Dirty::Whole));
                    crate::retry(&format!("writing view {name}"), write).map(|()| (name, rows))
                })
            })
            .collect();
        writers.into_iter().map(|writer| writer.join().unwrap_or_else(|_| Err(Error::WriterPanicked))).collect()
    });
    let views = written.into_iter().collect::<Result<Vec<_>>>()?;
    let root = root.clone();
    Ok(Summary {
        counts: output.counts,
        epochs: output.epochs,
        views,
        out: root,
        wall: started.elapsed(),
        compute,
        persist: started.elapsed() - compute,
        profile: output.profile,
    })
}

/// Reads the inputs (this process's share of them, in a cluster) and computes every view,
/// without persisting anything.
pub fn compute(config: &RunConfig) -> Result<dataflow::Output> {
    let files = match (config.inputs.is_empty(), config.exports.files.is_empty()) {
        (true, false) => Vec::new(),
        _ => source::discover(&config.inputs).map_err(Error::Input)?,
    };
    let files = Arc::new(files);
    if let Some(missing) = config.exports.files.iter().find(|path| !path.is_file()) {
        return Err(Error::InputMissing(missing.clone()));
    }
    let exports = Arc::new(config.exports.clone());
    let (epochs, retention_ms, pseudonyms) = (config.epochs, config.tuning.retention_ms, config.pseudonyms.clone());
    let share = Share { process: config.processes.process as u32, processes: config.processes.count() as u32 };
    let ingest: IngestFactory = Arc::new(move || {
        let read = |path: &PathBuf| source::platform_export(path, exports.platform, &exports.locations);
        let exports = exports.files.iter().map(read).collect();
        Box::new(Ingest::open_with(&files, exports, epochs, retention_ms, pseudonyms.clone()).share(share))
    });
    dataflow::run(config.workers, &config.processes, config.tuning, ingest, config.detail).map_err(Error::Dataflow)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let secs = self.wall.as_secs_f64();
        writeln!(f, "events read      {:>12}", c.received)?;
        writeln!(f, "  accepted       {:>12}", c.accepted)?;
        writeln!(f, "  duplicates     {:>12}", c.duplicates)?;
        writeln!(f, "  dead-lettered  {:>12}", c.dead_lettered)?;
        if c.skipped > 0 {
            writeln!(f, "skipped          {:>12}  (outside the window, or another process's share)", c.skipped)?;
        }
        writeln!(f, "epochs           {:>12}", self.epochs)?;
        for (view, rows) in &self.views {
            writeln!(f, "view {view:<14} {rows:>9} rows")?;
        }
        match self.views.is_empty() {
            true => writeln!(f, "views            written by process 0 of the cluster")?,
            false => writeln!(f, "written to       {}", self.out)?,
        }
        writeln!(f, "wall time        {secs:>11.2}s  ({:.0} events/s)", c.received as f64 / secs.max(1e-9))?;
        write!(
            f,
            "  read+compute   {:>11.2}s\n  persist        {:>11.2}s",
            self.compute.as_secs_f64(),
            self.persist.as_secs_f64()
        )?;
        let busy: f64 = self.profile.stages.iter().map(|(_, time)| time.as_secs_f64()).sum();
        if self.profile.stages.is_empty() {
            return Ok(());
        }
        write!(f, "\ngraph time, all workers {busy:>8.2}s")?;
        let share = |time: &Duration| 100.0 * time.as_secs_f64() / busy.max(1e-9);
        for (stage, time) in &self.profile.stages {
            write!(f, "\n  {stage:<36} {:>8.2}s {:>5.1}%", time.as_secs_f64(), share(time))?;
        }
        write!(f, "\nbusiest operators")?;
        for operator in self.profile.operators.iter().take(10) {
            let (stage, name, time) = (operator.stage, &operator.name, &operator.time);
            write!(f, "\n  {stage:<24} {name:<36} {:>8.2}s {:>5.1}%", time.as_secs_f64(), share(time))?;
        }
        Ok(())
    }
}
