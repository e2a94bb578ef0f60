//! The ingest log of live mode: every record's verdict is appended here, and synced to disk,
//! before the sender is answered. After a crash, replaying it restores what was acknowledged.
//!
//! A log is a folder of segments `00000000.log`, `00000001.log`, …; a new segment starts once the
//! current one passes [`SEGMENT_BYTES`] and at every start. An entry is its length (u32, little
//! endian), the CRC-32 of its body (u32), then the body: one JSON [`Entry`]. Reading stops at the
//! first entry that is incomplete or fails its checksum: a write cut short by a crash, never
//! acknowledged. The segment is truncated there, so new entries follow the last good one.
//!
//! A **checkpoint** keeps the log from growing for ever: `checkpoint-N.log`, in the same format,
//! stands for every segment before `N`. It holds what is still needed of them (see
//! [`crate::retention`]): first a [`Entry::Settled`] with the counts of every record they held and
//! the stock and cost the days beyond the retention left, then the accepted events still within
//! the retention, in order, and the dead letters. It is written beside the log, synced and
//! renamed into place; only then are the segments it stands for removed. A crash at any point
//! leaves either the old checkpoint and every segment after it, or the new one: opening the log
//! finishes the removal.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tillflow_schemas::formats::{Record, Rejected};
use tillflow_schemas::raw::RawEvent;
use tillflow_schemas::views::DeadLetter;

use crate::retention::Settled;
use crate::source::{Admission, Counts, Epoch, Ingested, Window};

/// A segment is closed once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// The verdict on one received record, with the epoch it was admitted in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Entry {
    /// Accepted; `event` is its JSON.
    Accepted {
        source: String,
        position: u64,
        epoch: Epoch,
        event: String,
    },
    Duplicate {
        source: String,
        position: u64,
        epoch: Epoch,
    },
    DeadLettered(DeadLetter),
    /// Accepted, then rewritten away because it named an erased customer: it still counts as
    /// accepted. An erasure's own entry keeps the customer's `tombstone` (a keyed hash of the
    /// pseudonym, not the pseudonym), so their links stay refused after a restart.
    Erased {
        source: String,
        position: u64,
        epoch: Epoch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tombstone: Option<String>,
    },
    /// The dead letter from `source` at `position` was judged again (`tillflow dead-letters
    /// retry`): it leaves `dead_letters` and its counts; the entry after it is the new verdict.
    Retried {
        source: String,
        position: u64,
        epoch: Epoch,
    },
    /// A checkpoint's first entry: the counts of the records it stands for but does not hold,
    /// what the days beyond the retention left behind, and the erased customers' tombstones.
    Settled {
        epoch: Epoch,
        counts: Counts,
        settled: Settled,
        tombstones: Vec<String>,
    },
}

impl Entry {
    /// The source and position the record came from.
    pub fn origin(&self) -> (&str, u64) {
        match self {
            Entry::Accepted { source, position, .. }
            | Entry::Duplicate { source, position, .. }
            | Entry::Erased { source, position, .. }
            | Entry::Retried { source, position, .. } => (source, *position),
            Entry::DeadLettered(letter) => (&letter.source, letter.position),
            Entry::Settled { .. } => (CHECKPOINT, 0),
        }
    }

    /// The epoch the record was admitted in.
    pub fn epoch(&self) -> Epoch {
        match self {
            Entry::Accepted { epoch, .. }
            | Entry::Duplicate { epoch, .. }
            | Entry::Erased { epoch, .. }
            | Entry::Retried { epoch, .. } => *epoch,
            Entry::DeadLettered(letter) => letter.epoch,
            Entry::Settled { epoch, .. } => *epoch,
        }
    }

    /// Judges the logged record again, in `epoch`. An accepted event is admitted anew (so, logged
    /// entries replayed in order, with the verdict it had) unless `window` leaves it out; a
    /// duplicate is counted; a dead letter is counted and returned as it was.
    pub fn readmit(self, admission: &mut Admission, epoch: Epoch, window: &Window) -> Option<Ingested> {
        let counts = &mut admission.counts;
        match self {
            Entry::Accepted { source, position, event, .. } => {
                let record = record_of(position, &event);
                if !window.admits(&record) {
                    counts.skipped += 1;
                    return None;
                }
                admission.admit_logged(&source, record, epoch)
            }
            Entry::Duplicate { .. } => {
                counts.received += 1;
                counts.duplicates += 1;
                None
            }
            Entry::DeadLettered(letter) => {
                counts.received += 1;
                counts.dead_lettered += 1;
                Some(Ingested::Dead(letter))
            }
            Entry::Erased { tombstone, .. } => {
                counts.received += 1;
                counts.accepted += 1;
                admission.forget(tombstone);
                None
            }
            Entry::Retried { source, position, .. } => {
                counts.received -= 1;
                counts.dead_lettered -= 1;
                Some(Ingested::Retried { source, position })
            }
            Entry::Settled { counts: settled_counts, settled, tombstones, .. } => {
                *counts += settled_counts;
                for tombstone in tombstones {
                    admission.forget(Some(tombstone));
                }
                Some(Ingested::Settled(settled))
            }
        }
    }
}

/// Rewrites every segment of the log in `dir` whose entries `change` changes, each by writing
/// the new segment beside it, syncing it and renaming it over the old one: a crash leaves either
/// segment whole. Returns how many entries changed.
pub fn rewrite(dir: &Path, mut change: impl FnMut(Entry) -> Entry) -> std::io::Result<usize> {
    let mut changed = 0;
    for path in files(dir)? {
        let mut entries = Vec::new();
        read_segment(&path, &mut entries)?;
        let mut bytes = Vec::new();
        let mut differs = false;
        for entry in entries {
            let new = change(entry.clone());
            if new != entry {
                differs = true;
                changed += 1;
            }
            encode(&new, &mut bytes)?;
        }
        if differs {
            let temporary = path.with_extension("log.new");
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(changed)
}

/// Appends one entry's bytes: length, checksum, body.
fn encode(entry: &Entry, bytes: &mut Vec<u8>) -> std::io::Result<()> {
    let body = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    Ok(())
}

/// Every entry of the log in `dir`, in order, without changing it (a torn tail is left off).
pub fn read(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in files(dir)? {
        read_segment(&path, &mut entries)?;
    }
    Ok(entries)
}

/// A record from the canonical JSON of an event (a logged event, or a dead letter's text).
pub fn record_of(position: u64, json: &str) -> Record {
    let parsed = RawEvent::from_json(json.as_bytes()).and_then(RawEvent::validate);
    Record::new(position, json.as_bytes(), parsed.map_err(|e| Rejected::new(b"", e)))
}

/// The source named by the entries a checkpoint holds.
pub const CHECKPOINT: &str = "checkpoint";

/// The files of the log in `dir`, in order: the latest checkpoint, then the segments after it.
fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let covers = checkpoints(dir)?.last().copied();
    let mut files: Vec<PathBuf> = covers.iter().map(|n| checkpoint_path(dir, *n)).collect();
    files.extend(segments(dir)?.into_iter().filter(|s| covers.is_none_or(|n| *s >= n)).map(|s| segment_path(dir, s)));
    Ok(files)
}

/// The segments each checkpoint in `dir` stands for (those before the number), in order.
fn checkpoints(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut checkpoints: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("checkpoint-")?.strip_suffix(".log")?.parse().ok())
        .collect();
    checkpoints.sort_unstable();
    Ok(checkpoints)
}

fn checkpoint_path(dir: &Path, covers: u64) -> PathBuf {
    dir.join(format!("checkpoint-{covers:08}.log"))
}

/// Removes what the latest checkpoint stands for (older checkpoints, the segments before it) and
/// files a crash left half written.
fn remove_covered(dir: &Path) -> std::io::Result<()> {
    let checkpoints = checkpoints(dir)?;
    let Some(latest) = checkpoints.last().copied() else { return Ok(()) };
    for older in &checkpoints[..checkpoints.len() - 1] {
        std::fs::remove_file(checkpoint_path(dir, *older))?;
    }
    for segment in segments(dir)?.into_iter().filter(|s| *s < latest) {
        std::fs::remove_file(segment_path(dir, segment))?;
    }
    File::open(dir)?.sync_all()
}

/// Test hook: whether `TILLFLOW_CRASH_AT` names this point, where the process then ends at once
/// as a crash would.
fn crashes_at(point: &str) -> bool {
    std::env::var("TILLFLOW_CRASH_AT").is_ok_and(|at| at == point)
}

/// The segment numbers in `dir`, in order.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut segments: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

/// An open log, appending to its newest segment.
pub struct Journal {
    dir: PathBuf,
    segment: u64,
    file: File,
    written: u64,
    /// Bytes of the segments after the latest checkpoint (all of them without one).
    since_checkpoint: u64,
    /// Bytes of the latest checkpoint.
    checkpoint_bytes: u64,
}

impl Journal {
    /// Opens the log in `dir` (creating it), returning it with every entry already logged.
    pub fn open(dir: &Path) -> std::io::Result<(Journal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        for stale in
            std::fs::read_dir(dir)?.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "new"))
        {
            std::fs::remove_file(stale.path())?;
        }
        remove_covered(dir)?;
        let covers = checkpoints(dir)?.last().copied();
        let mut entries = Vec::new();
        let checkpoint_bytes = match covers {
            Some(n) => read_segment(&checkpoint_path(dir, n), &mut entries)?,
            None => 0,
        };
        let segments = segments(dir)?;
        let mut since_checkpoint = 0;
        for segment in &segments {
            let path = segment_path(dir, *segment);
            let length = std::fs::metadata(&path)?.len();
            if length == 0 {
                std::fs::remove_file(&path)?; // a start that logged nothing
                continue;
            }
            let good = read_segment(&path, &mut entries)?;
            if good < length {
                tracing::warn!("{}: dropping an unfinished entry at byte {good} (never acknowledged)", path.display());
                OpenOptions::new().write(true).open(&path)?.set_len(good)?;
            }
            since_checkpoint += good;
        }
        let segment = segments.last().map_or(0, |s| s + 1).max(covers.unwrap_or(0));
        let file = create_segment(dir, segment)?;
        let journal = Journal { dir: dir.to_path_buf(), segment, file, written: 0, since_checkpoint, checkpoint_bytes };
        Ok((journal, entries))
    }

    /// Bytes logged since the latest checkpoint, and that checkpoint's own.
    pub fn sizes(&self) -> (u64, u64) {
        (self.since_checkpoint, self.checkpoint_bytes)
    }

    /// Writes a checkpoint standing for everything logged so far (`entries`, see the module's
    /// documentation), then removes the segments it stands for; the log goes on in a new segment.
    pub fn checkpoint(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        self.segment += 1;
        self.file = create_segment(&self.dir, self.segment)?;
        self.written = 0;
        let mut bytes = Vec::new();
        for entry in entries {
            encode(entry, &mut bytes)?;
        }
        let path = checkpoint_path(&self.dir, self.segment);
        let temporary = path.with_extension("log.new");
        let mut file = File::create(&temporary)?;
        if crashes_at("checkpoint-writing") {
            file.write_all(&bytes[..bytes.len() / 2])?;
            file.sync_all()?;
            std::process::abort();
        }
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        File::open(&self.dir)?.sync_all()?;
        if crashes_at("checkpoint-renamed") {
            std::process::abort();
        }
        remove_covered(&self.dir)?;
        self.since_checkpoint = 0;
        self.checkpoint_bytes = bytes.len() as u64;
        Ok(())
    }

    /// Appends `entries` and syncs them to disk; once this returns, they survive a crash.
    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for entry in entries {
            encode(entry, &mut bytes)?;
        }
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut off whatever part got out, so a retry follows the last whole entry.
            let _ = self.file.set_len(self.written);
            return Err(e);
        }
        self.written += bytes.len() as u64;
        self.since_checkpoint += bytes.len() as u64;
        if self.written >= SEGMENT_BYTES {
            self.segment += 1;
            self.file = create_segment(&self.dir, self.segment)?;
            self.written = 0;
        }
        Ok(())
    }
}

impl Journal {
    /// [`rewrite`]s the log, this process's open segment included, and goes on in a new segment.
    pub fn rewrite(&mut self, change: impl FnMut(Entry) -> Entry) -> std::io::Result<usize> {
        let changed = rewrite(&self.dir, change)?;
        self.segment += 1;
        self.file = create_segment(&self.dir, self.segment)?;
        self.written = 0;
        Ok(changed)
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:08}.log"))
}

/// Creates an empty segment and makes its name durable.
fn create_segment(dir: &Path, segment: u64) -> std::io::Result<File> {
    let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, segment))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Reads a segment's entries into `entries`; returns how many bytes of it are whole entries.
fn read_segment(path: &Path, entries: &mut Vec<Entry>) -> std::io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut good = 0;
    loop {
        let mut header = [0u8; 8];
        if !read_full(&mut reader, &mut header)? {
            return Ok(good);
        }
        let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if length > 2 * SEGMENT_BYTES as usize {
            return Ok(good);
        }
        let mut body = vec![0; length];
        if !read_full(&mut reader, &mut body)? || crc32fast::hash(&body) != checksum {
            return Ok(good);
        }
        match serde_json::from_slice(&body) {
            Ok(entry) => entries.push(entry),
            Err(_) => return Ok(good),
        }
        good += 8 + length as u64;
    }
}

/// Fills `buffer`; false if the input ended first.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<bool> {
    match reader.read_exact(buffer) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}
