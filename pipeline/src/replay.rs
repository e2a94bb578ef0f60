//! `tillflow replay`: history through the same graph as `run` and live mode, from input files or
//! from a live run's ingest log, as fast as the machine allows or paced by event time.
//!
//! A replay is deterministic: the input is read in one order (files merged by their clocks, a
//! log in its order), judged by one [`Admission`], and every view is exchanged by key, so the
//! views and their epoch-by-epoch states do not depend on the worker count. Replaying a log uses
//! the epochs the live run admitted each record in, so it reproduces that run's epochs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tillflow_queries::persisted::root_url;
use tillflow_schemas::Millis;
use tillflow_schemas::views::ExceptionHistory;

use crate::dataflow::{self, Changes, Detail, IngestFactory, Processes, Tuning};
use crate::journal::{self, Entry};
use crate::pseudonyms::Pseudonyms;
use crate::run::{self, Summary};
use crate::source::{self, Admission, Counts, Epochs, Ingest, IngestStream, Ingested, Window};
use crate::{Error, Result};

/// Where a replay reads from.
#[derive(Clone, Debug)]
pub enum History {
    /// Event files and folders, and a platform's exports, as `tillflow run` reads them, cut
    /// into `epochs`.
    Files { inputs: Vec<PathBuf>, exports: run::Exports, epochs: Epochs },
    /// A live run's ingest log folder (or its `--out` bucket URL); epochs are the ones it logged.
    Log(PathBuf),
}

/// How fast a replay goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the machine allows.
    Max,
    /// This many times faster than event time passed (3600 replays an hour a second).
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Speed, String> {
        if text.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match text.strip_suffix(['x', 'X']).unwrap_or(text).parse::<f64>() {
            Ok(times) if times.is_finite() && times > 0.0 => Ok(Speed::Times(times)),
            _ => Err(format!("`{text}` is not a speed: use max, or a factor such as 60x or 0.5x")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReplayConfig {
    pub history: History,
    pub out: String,
    pub workers: usize,
    pub tuning: Tuning,
    pub window: Window,
    pub speed: Speed,
    pub detail: Detail,
    /// What replaces customer identifiers at admission: the same key gives the same pseudonyms.
    pub pseudonyms: Pseudonyms,
}

/// Replays the history and persists every view as it stands at the end of the window.
pub fn replay(config: &ReplayConfig, runtime: &tokio::runtime::Runtime) -> Result<Summary> {
    let started = Instant::now();
    let root = root_url(&config.out)?;
    let output = compute(config)?;
    run::write(output, root, started, runtime)
}

/// Replays the history and returns every view's changes, without persisting anything.
pub fn compute(config: &ReplayConfig) -> Result<dataflow::Output> {
    let (window, retention_ms, speed) = (config.window, config.tuning.retention_ms, config.speed);
    let pseudonyms = config.pseudonyms.clone();
    let mut histories = None;
    let ingest: IngestFactory = match &config.history {
        History::Files { inputs, exports, epochs } => {
            let files = match (inputs.is_empty(), exports.files.is_empty()) {
                (true, false) => Vec::new(),
                _ => source::discover(inputs).map_err(Error::Input)?,
            };
            let (files, exports, epochs) = (Arc::new(files), Arc::new(exports.clone()), *epochs);
            Arc::new(move || {
                let read = |path: &PathBuf| source::platform_export(path, exports.platform, &exports.locations);
                let exports = exports.files.iter().map(read).collect();
                let ingest =
                    Ingest::open_with(&files, exports, epochs, retention_ms, pseudonyms.clone()).within(window);
                Box::new(Paced::new(ingest, speed, None))
            })
        }
        History::Log(dir) => {
            let entries = read_log(dir)?;
            histories = Some(exception_histories(&entries, &window));
            let entries = std::sync::Mutex::new(entries);
            Arc::new(move || {
                let entries = std::mem::take(&mut *entries.lock().unwrap_or_else(|e| e.into_inner()));
                let total = entries.len() as u64;
                let admission = Admission::new(retention_ms, pseudonyms.clone());
                let log = LogReplay { entries: entries.into_iter(), admission, window };
                Box::new(Paced::new(log, speed, Some(total)))
            })
        }
    };
    let mut output = dataflow::run(config.workers, &Processes::default(), config.tuning, ingest, config.detail)
        .map_err(Error::Dataflow)?;
    if let Some(histories) = histories {
        output.views.push(Box::new(Changes::<ExceptionHistory>(histories)));
    }
    Ok(output)
}

/// `exception_history` as the live run left it by the end of the window: each exception's last
/// logged row (the log keeps every row the run changed, so it is the run's history, exactly).
fn exception_histories(entries: &[Entry], window: &Window) -> Vec<(ExceptionHistory, u64, isize)> {
    let mut last = std::collections::BTreeMap::new();
    for entry in entries {
        if window.ends_before(entry.epoch()) {
            break;
        }
        if let Entry::History { epoch, row } = entry {
            last.insert(row.exception_id.clone(), ((**row).clone(), *epoch, 1));
        }
    }
    last.into_values().collect()
}

/// The entries of the ingest log at `path`: a log folder, or the `--out` folder (or bucket URL)
/// of the live run that wrote one.
fn read_log(path: &Path) -> Result<Vec<Entry>> {
    let unreadable = |at: &dyn std::fmt::Display| {
        let at = at.to_string();
        move |error| Error::ReadIngestLog { at, error }
    };
    let text = path.to_string_lossy();
    if text.contains("://") {
        // The run's --out URL, or its _ingest_log under it.
        let trimmed = text.trim_end_matches('/');
        let out = trimmed.strip_suffix(crate::serve::INGEST_LOG).unwrap_or(trimmed);
        let root = tillflow_queries::persisted::root_url(out)?;
        let runtime = tokio::runtime::Runtime::new().map_err(unreadable(&root))?;
        let place = journal::Place::under(&root, crate::serve::INGEST_LOG, runtime.handle())
            .map_err(unreadable(&root))?
            .ok_or_else(|| Error::NotAnIngestLog { path: path.to_path_buf() })?;
        if !place.exists().map_err(unreadable(&place))? {
            return Err(Error::NotAnIngestLog { path: path.to_path_buf() });
        }
        return journal::read(&place).map_err(unreadable(&place));
    }
    let nested = path.join(crate::serve::INGEST_LOG);
    let dir = if nested.is_dir() { nested } else { path.to_path_buf() };
    if !dir.is_dir() {
        return Err(Error::NotAnIngestLog { path: path.to_path_buf() });
    }
    journal::read(&journal::Place::Folder(dir.clone())).map_err(unreadable(&dir.display()))
}

/// A live run's logged verdicts, judged again in the epochs they were logged in.
struct LogReplay {
    entries: std::vec::IntoIter<Entry>,
    admission: Admission,
    window: Window,
}

impl Iterator for LogReplay {
    type Item = Ingested;

    fn next(&mut self) -> Option<Ingested> {
        loop {
            if let Some(item) = self.admission.released() {
                return Some(item);
            }
            let entry = self.entries.next()?;
            let epoch = entry.epoch();
            if self.window.ends_before(epoch) {
                self.entries = Vec::new().into_iter();
                return None;
            }
            match entry.readmit(&mut self.admission, epoch, &self.window) {
                // Still waiting for its store's record, as it was in the live run.
                Some(Ingested::Held { .. }) | None => {}
                Some(item) => return Some(item),
            }
        }
    }
}

impl IngestStream for LogReplay {
    fn counts(&self) -> Counts {
        self.admission.counts
    }
}

/// A stream held to a [`Speed`], showing its progress on the terminal.
struct Paced<S> {
    inner: S,
    speed: Speed,
    /// The first event time read, and when it was read.
    start: Option<(Millis, Instant)>,
    bar: ProgressBar,
}

impl<S: IngestStream> Paced<S> {
    fn new(inner: S, speed: Speed, total: Option<u64>) -> Self {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(style("{bar:30} {pos}/{len} records")),
            None => ProgressBar::no_length().with_style(style("{spinner} {pos} records")),
        };
        Paced { inner, speed, start: None, bar }
    }

    /// Sleeps until event time `ts` is due at the replay's speed.
    fn pace(&mut self, ts: Millis) {
        let Speed::Times(times) = self.speed else { return };
        let (first, began) = *self.start.get_or_insert((ts, Instant::now()));
        let due = began + Duration::from_secs_f64((ts - first).max(0) as f64 / 1000.0 / times);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{template}, {{per_sec}}, {{elapsed}}")).expect("a valid template")
}

impl<S: IngestStream> Iterator for Paced<S> {
    type Item = Ingested;

    fn next(&mut self) -> Option<Ingested> {
        let item = self.inner.next();
        match &item {
            Some(Ingested::Accepted { event, .. }) => {
                if let Some(ts) = event.ts() {
                    self.pace(ts);
                }
            }
            Some(
                Ingested::Dead(_)
                | Ingested::Known(_)
                | Ingested::Settled(_)
                | Ingested::Held { .. }
                | Ingested::Retried { .. },
            ) => {}
            None => self.bar.finish_and_clear(),
        }
        let counts = self.inner.counts();
        self.bar.set_position(counts.received + counts.skipped);
        item
    }
}

impl<S: IngestStream> IngestStream for Paced<S> {
    fn counts(&self) -> Counts {
        self.inner.counts()
    }
}
