//! Following inputs in live mode: files already present are read whole; then, every poll, new
//! files are read and lines appended to NDJSON files are picked up (complete lines only, so a
//! line being written is read once it ends). CSV and Parquet files are read once, when they
//! appear: write them elsewhere and move them in. `-` reads stdin to its end.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use tillflow_schemas::formats::{Record, Rejected, ndjson};
use tillflow_schemas::{Format, InputError};

use crate::live::Delivery;
use crate::source::{self, Interleave, Records};

/// Records per delivery from a file or stdin.
const CHUNK: usize = 4096;

/// Starts one thread for stdin (if `-` is among the inputs) and one for the files and folders.
pub fn spawn(
    inputs: &[PathBuf],
    poll: Duration,
    feed: &SyncSender<Delivery>,
    stop: &Arc<AtomicBool>,
    read_before: HashMap<String, u64>,
) -> Vec<JoinHandle<()>> {
    let mut threads = Vec::new();
    let (stdin, paths): (Vec<&PathBuf>, Vec<&PathBuf>) = inputs.iter().partition(|p| p.as_os_str() == "-");
    if !stdin.is_empty() {
        let feed = feed.clone();
        threads.push(std::thread::spawn(move || read_stdin(&feed)));
    }
    if !paths.is_empty() {
        let (paths, feed, stop) = (paths.into_iter().cloned().collect::<Vec<_>>(), feed.clone(), Arc::clone(stop));
        threads.push(std::thread::spawn(move || follow_files(&paths, poll, &feed, &stop, &read_before)));
    }
    threads
}

fn send(feed: &SyncSender<Delivery>, source: &Arc<str>, records: Vec<Record>) -> bool {
    records.is_empty() || feed.send(Delivery { source: Arc::clone(source), records, reply: None, retry: None }).is_ok()
}

fn read_stdin(feed: &SyncSender<Delivery>) {
    let source: Arc<str> = "stdin".into();
    let mut records = ndjson::Reader::new(std::io::stdin().lock());
    loop {
        // Hand over what has arrived as soon as the input pauses: one record at a time when it trickles.
        let Some(first) = records.next() else { return };
        if !send(feed, &source, vec![first]) {
            return;
        }
    }
}

/// How far a followed file has been read.
#[derive(Default)]
struct Progress {
    offset: u64,
    lines: u64,
}

/// Follows `paths`; records at or before a file's position in `read_before` (taken by an earlier
/// run, per the ingest log) are skipped.
fn follow_files(
    paths: &[PathBuf],
    poll: Duration,
    feed: &SyncSender<Delivery>,
    stop: &AtomicBool,
    read_before: &HashMap<String, u64>,
) {
    let mut progress: HashMap<PathBuf, Progress> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        // What appeared since the last poll, from every file, merged by event time as in batch
        // mode: a new folder's reference data is read before the sales that need it.
        let mut sources: Vec<(Arc<str>, Records)> = Vec::new();
        for (path, format) in source::discover(paths).unwrap_or_default() {
            let seen = progress.contains_key(&path);
            let state = progress.entry(path.clone()).or_default();
            let records: Records = match format {
                Format::Ndjson => Box::new(appended_lines(&path, state).into_iter()),
                _ if seen => continue,
                _ => source::read_file(&path, format),
            };
            sources.push((path.display().to_string().into(), records));
        }
        let mut records = Interleave::new(sources).peekable();
        while let Some((source, _, _)) = records.peek() {
            // One delivery per run of records from the same file.
            let source = Arc::clone(source);
            let mut run = Vec::new();
            while run.len() < CHUNK
                && let Some((_, record, _)) = records.next_if(|(s, _, _)| Arc::ptr_eq(s, &source))
            {
                if read_before.get(&*source).is_none_or(|read| record.position > *read) {
                    run.push(record);
                }
            }
            if !send(feed, &source, run) {
                return;
            }
        }
        std::thread::sleep(poll);
    }
}

/// The complete lines added to an NDJSON file since the last call.
fn appended_lines(path: &Path, progress: &mut Progress) -> Vec<Record> {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        if file.metadata()?.len() < progress.offset {
            return Ok(Vec::new()); // truncated or replaced: nothing new to read at our offset
        }
        file.seek(SeekFrom::Start(progress.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes = match read() {
        Ok(bytes) => bytes,
        Err(e) => {
            let reason = InputError::Io(format!("{}: {e}", path.display()));
            return vec![Record::rejected(progress.lines, Rejected::new(b"", reason))];
        }
    };
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else { return Vec::new() };
    let complete = &bytes[..end];
    let mut records: Vec<Record> = ndjson::Reader::new(complete).collect();
    for record in &mut records {
        record.position += progress.lines;
    }
    progress.offset += end as u64;
    progress.lines += complete.iter().filter(|b| **b == b'\n').count() as u64;
    records
}
