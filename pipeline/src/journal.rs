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
//!
//! In a **bucket** (`--out s3://…`) the log is the same files as objects under `_ingest_log/`,
//! with one difference: objects cannot be appended to, so each append is a segment of its own,
//! created only if absent. A second process writing the same log finds its next segment taken
//! and stops: two writers never interleave. Puts are atomic, so there are no torn entries, and
//! a checkpoint is due after [`MAX_SEGMENTS`] appends as well as by size.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use serde::{Deserialize, Serialize};
use tillflow_schemas::formats::{Record, Rejected};
use tillflow_schemas::raw::RawEvent;
use tillflow_schemas::views::{DeadLetter, ExceptionHistory};

use crate::retention::Settled;
use crate::source::{Admission, Counts, Epoch, Ingested, Window};

/// A segment is closed once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// A checkpoint is due once the log has this many segments after the last one (a bucket's log
/// writes a segment per append; opening it reads each).
pub const MAX_SEGMENTS: u64 = 4096;

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
    /// An exception's history as it changed (`crate::history`): from its figures, at the end of
    /// `epoch`, or from an action, right after the action's own entry. The last one of each
    /// exception is its history; a restart puts it back rather than recomputing past epochs.
    History {
        epoch: Epoch,
        row: Box<ExceptionHistory>,
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
            Entry::History { .. } => (HISTORY, 0),
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
            Entry::Settled { epoch, .. } | Entry::History { epoch, .. } => *epoch,
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
            // Not a record: the driver puts it back (`live`), a replay keeps the last of each.
            Entry::History { .. } => None,
        }
    }
}

/// Where a log's files are: a local folder, or a prefix in a bucket.
#[derive(Clone)]
pub enum Place {
    Folder(PathBuf),
    Bucket { store: Arc<dyn ObjectStore>, prefix: Key, url: String, runtime: tokio::runtime::Handle },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Folder(dir) => write!(f, "{}", dir.display()),
            Place::Bucket { url, .. } => f.write_str(url),
        }
    }
}

impl fmt::Debug for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Place({self})")
    }
}

fn io(error: object_store::Error) -> std::io::Error {
    let kind = match error {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            std::io::ErrorKind::AlreadyExists
        }
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, error)
}

impl Place {
    /// The log `name` (a folder's name) under a run's root URL: a folder for `file://`, a
    /// prefix for a bucket, none in memory.
    pub fn under(root: &url::Url, name: &str, runtime: &tokio::runtime::Handle) -> std::io::Result<Option<Place>> {
        if root.scheme() == "file" {
            let dir = root.to_file_path().map_err(|()| std::io::Error::other(format!("{root} is not a folder")))?;
            return Ok(Some(Place::Folder(dir.join(name))));
        }
        if !tillflow_queries::stores::BUCKET_SCHEMES.contains(&root.scheme()) {
            return Ok(None);
        }
        let url = root.join(&format!("{name}/")).map_err(std::io::Error::other)?;
        let (store, prefix) = tillflow_queries::stores::open(&url, &Default::default()).map_err(io)?;
        Ok(Some(Place::Bucket { store, prefix, url: url.to_string(), runtime: runtime.clone() }))
    }

    /// Runs `work` on the bucket's runtime and waits for it (from any thread that is not one of
    /// that runtime's own).
    fn wait<T: Send + 'static>(
        runtime: &tokio::runtime::Handle,
        work: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> std::io::Result<T> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = answer.send(work.await);
        });
        answered.recv().map_err(|_| std::io::Error::other("the runtime stopped"))?.map_err(io)
    }

    fn key(prefix: &Key, name: &str) -> Key {
        prefix.clone().join(name)
    }

    /// Whether the log exists (a folder, or any object under the prefix).
    pub fn exists(&self) -> std::io::Result<bool> {
        match self {
            Place::Folder(dir) => Ok(dir.is_dir()),
            Place::Bucket { .. } => Ok(!self.names()?.is_empty()),
        }
    }

    /// Makes the folder (a bucket needs nothing).
    fn create(&self) -> std::io::Result<()> {
        match self {
            Place::Folder(dir) => std::fs::create_dir_all(dir),
            Place::Bucket { .. } => Ok(()),
        }
    }

    /// The names of the log's files.
    fn names(&self) -> std::io::Result<Vec<String>> {
        match self {
            Place::Folder(dir) => {
                Ok(std::fs::read_dir(dir)?.filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string)).collect())
            }
            Place::Bucket { store, prefix, runtime, .. } => {
                let (store, prefix) = (Arc::clone(store), prefix.clone());
                let listed = Place::wait(runtime, async move {
                    store.list(Some(&prefix)).map_ok(|meta| meta.location).try_collect::<Vec<_>>().await
                })?;
                Ok(listed.into_iter().filter_map(|key| key.filename().map(str::to_string)).collect())
            }
        }
    }

    /// The bytes of each file named, in order.
    fn read(&self, names: &[String]) -> std::io::Result<Vec<Vec<u8>>> {
        match self {
            Place::Folder(dir) => names.iter().map(|name| std::fs::read(dir.join(name))).collect(),
            Place::Bucket { store, prefix, runtime, .. } => {
                let keys: Vec<Key> = names.iter().map(|name| Place::key(prefix, name)).collect();
                let store = Arc::clone(store);
                Place::wait(runtime, async move {
                    futures::stream::iter(keys)
                        .map(|key| {
                            let store = Arc::clone(&store);
                            async move { Ok::<_, object_store::Error>(store.get(&key).await?.bytes().await?.to_vec()) }
                        })
                        .buffered(16)
                        .try_collect()
                        .await
                })
            }
        }
    }

    /// Writes file `name` whole and durably, only if it does not exist (else `AlreadyExists`).
    fn write_new(&self, name: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        match self {
            Place::Folder(dir) => {
                let mut file = OpenOptions::new().create_new(true).write(true).open(dir.join(name))?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                File::open(dir)?.sync_all()
            }
            Place::Bucket { store, prefix, runtime, .. } => {
                let (store, key) = (Arc::clone(store), Place::key(prefix, name));
                Place::wait(runtime, async move {
                    let payload = PutPayload::from(bytes.clone());
                    match store.put_opts(&key, payload, PutMode::Create.into()).await {
                        Ok(_) => Ok(()),
                        // Our own put, whose answer was lost before a retry: the same bytes.
                        Err(
                            taken @ (object_store::Error::AlreadyExists { .. }
                            | object_store::Error::Precondition { .. }),
                        ) => match store.get(&key).await?.bytes().await {
                            Ok(found) if found.as_ref() == bytes.as_slice() => Ok(()),
                            _ => Err(taken),
                        },
                        Err(e) => Err(e),
                    }
                })
            }
        }
    }

    /// Marks the log as written by this process (a bucket's `writer` object, replaced); returns
    /// the mark's tag, which [`Place::still_ours`] compares.
    fn claim(&self) -> std::io::Result<Option<String>> {
        match self {
            Place::Folder(_) => Ok(None),
            Place::Bucket { store, prefix, runtime, .. } => {
                let (store, key) = (Arc::clone(store), Place::key(prefix, WRITER));
                let mut mark = [0u8; 16];
                getrandom::fill(&mut mark).map_err(std::io::Error::other)?;
                let mark: String = mark.iter().map(|b| format!("{b:02x}")).collect();
                let put =
                    Place::wait(runtime, async move { store.put(&key, PutPayload::from(mark.into_bytes())).await })?;
                Ok(Some(put.e_tag.unwrap_or_default()))
            }
        }
    }

    /// Whether the log's `writer` mark is still the one `claim` made: a process that opened the
    /// log later has taken it over, and this one must not write to it any more.
    fn still_ours(&self, tag: &str) -> std::io::Result<bool> {
        match self {
            Place::Folder(_) => Ok(true),
            Place::Bucket { store, prefix, runtime, .. } => {
                let (store, key) = (Arc::clone(store), Place::key(prefix, WRITER));
                let meta = Place::wait(runtime, async move { store.head(&key).await })?;
                Ok(meta.e_tag.as_deref() == Some(tag))
            }
        }
    }

    /// Replaces file `name` (or writes it) atomically: a crash leaves the old or the new whole.
    fn replace(&self, name: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        match self {
            Place::Folder(dir) => {
                let (path, temporary) = (dir.join(name), dir.join(format!("{name}.new")));
                let mut file = File::create(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&temporary, &path)?;
                File::open(dir)?.sync_all()
            }
            Place::Bucket { store, prefix, runtime, .. } => {
                let (store, key) = (Arc::clone(store), Place::key(prefix, name));
                Place::wait(runtime, async move { store.put(&key, PutPayload::from(bytes)).await.map(|_| ()) })
            }
        }
    }

    /// Removes the files named.
    fn remove(&self, names: &[String]) -> std::io::Result<()> {
        match self {
            Place::Folder(dir) => {
                for name in names {
                    std::fs::remove_file(dir.join(name))?;
                }
                File::open(dir)?.sync_all()
            }
            Place::Bucket { store, prefix, runtime, .. } => {
                let keys: Vec<Key> = names.iter().map(|name| Place::key(prefix, name)).collect();
                let store = Arc::clone(store);
                Place::wait(runtime, async move {
                    // In batches where the store has them (S3: 1,000 keys a request).
                    let keys = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
                    let mut deleted = store.delete_stream(keys);
                    while let Some(done) = deleted.next().await {
                        match done {
                            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(())
                })
            }
        }
    }
}

/// Rewrites every file of the log whose entries `change` changes, each replaced atomically: a
/// crash leaves either file whole. Returns how many entries changed.
pub fn rewrite(place: &Place, mut change: impl FnMut(Entry) -> Entry) -> std::io::Result<usize> {
    let mut changed = 0;
    let names = files(place)?;
    for (name, bytes) in names.iter().zip(place.read(&names)?) {
        let mut entries = Vec::new();
        decode(&bytes, &mut entries);
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
            place.replace(name, bytes)?;
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

/// Every entry of the log, in order, without changing it (a torn tail is left off).
pub fn read(place: &Place) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for bytes in place.read(&files(place)?)? {
        decode(&bytes, &mut entries);
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

/// The source named by the entries of exceptions' histories.
pub const HISTORY: &str = "exception_history";

/// A bucket's log: the object naming the process that writes it (the last to open it).
const WRITER: &str = "writer";

/// The files of the log, in order: the latest checkpoint, then the segments after it.
fn files(place: &Place) -> std::io::Result<Vec<String>> {
    let names = place.names()?;
    let covers = checkpoints(&names).last().copied();
    let mut files: Vec<String> = covers.iter().map(|n| checkpoint_name(*n)).collect();
    files.extend(segments(&names).into_iter().filter(|s| covers.is_none_or(|n| *s >= n)).map(segment_name));
    Ok(files)
}

/// The segments each checkpoint among `names` stands for (those before the number), in order.
fn checkpoints(names: &[String]) -> Vec<u64> {
    let mut checkpoints: Vec<u64> =
        names.iter().filter_map(|name| name.strip_prefix("checkpoint-")?.strip_suffix(".log")?.parse().ok()).collect();
    checkpoints.sort_unstable();
    checkpoints
}

fn checkpoint_name(covers: u64) -> String {
    format!("checkpoint-{covers:08}.log")
}

/// The segment numbers among `names`, in order.
fn segments(names: &[String]) -> Vec<u64> {
    let mut segments: Vec<u64> = names.iter().filter_map(|name| name.strip_suffix(".log")?.parse().ok()).collect();
    segments.sort_unstable();
    segments
}

fn segment_name(segment: u64) -> String {
    format!("{segment:08}.log")
}

/// Removes what the latest checkpoint stands for (older checkpoints, the segments before it).
fn remove_covered(place: &Place) -> std::io::Result<()> {
    let names = place.names()?;
    let checkpoints = checkpoints(&names);
    let Some(latest) = checkpoints.last().copied() else { return Ok(()) };
    let mut covered: Vec<String> = checkpoints[..checkpoints.len() - 1].iter().map(|n| checkpoint_name(*n)).collect();
    covered.extend(segments(&names).into_iter().filter(|s| *s < latest).map(segment_name));
    place.remove(&covered)
}

/// Test hook: whether `TILLFLOW_CRASH_AT` names this point, where the process then ends at once
/// as a crash would.
fn crashes_at(point: &str) -> bool {
    std::env::var("TILLFLOW_CRASH_AT").is_ok_and(|at| at == point)
}

/// An open log, appending to its newest segment (in a bucket: writing a new one each time).
pub struct Journal {
    place: Place,
    segment: u64,
    /// The open segment in a folder.
    file: Option<File>,
    written: u64,
    /// Bytes of the segments after the latest checkpoint (all of them without one).
    since_checkpoint: u64,
    /// Segments after the latest checkpoint.
    segments_since_checkpoint: u64,
    /// Bytes of the latest checkpoint.
    checkpoint_bytes: u64,
    /// In a bucket: the tag of this process's `writer` mark, checked before every write.
    claim: Option<String>,
}

impl Journal {
    /// Opens the log (creating it), returning it with every entry already logged.
    pub fn open(place: &Place) -> std::io::Result<(Journal, Vec<Entry>)> {
        place.create()?;
        let stale: Vec<String> = place.names()?.into_iter().filter(|name| name.ends_with(".new")).collect();
        place.remove(&stale)?; // a checkpoint or a rewrite a crash cut short
        remove_covered(place)?;
        let names = place.names()?;
        let covers = checkpoints(&names).last().copied();
        let mut entries = Vec::new();
        let checkpoint_bytes = match covers {
            Some(n) => decode(&place.read(&[checkpoint_name(n)])?.concat(), &mut entries),
            None => 0,
        };
        let segments = segments(&names);
        let mut since_checkpoint = 0;
        let mut empty = Vec::new();
        let segment_names: Vec<String> = segments.iter().map(|s| segment_name(*s)).collect();
        for (name, bytes) in segment_names.iter().zip(place.read(&segment_names)?) {
            if bytes.is_empty() {
                empty.push(name.clone()); // a start that logged nothing
                continue;
            }
            let good = decode(&bytes, &mut entries);
            if good < bytes.len() as u64 {
                tracing::warn!("{place}/{name}: dropping an unfinished entry at byte {good} (never acknowledged)");
                if let Place::Folder(dir) = place {
                    OpenOptions::new().write(true).open(dir.join(name))?.set_len(good)?;
                }
            }
            since_checkpoint += good;
        }
        place.remove(&empty)?;
        let segment = segments.last().map_or(0, |s| s + 1).max(covers.unwrap_or(0));
        let mut journal = Journal {
            place: place.clone(),
            segment,
            file: None,
            written: 0,
            since_checkpoint,
            segments_since_checkpoint: (segments.len() - empty.len()) as u64,
            checkpoint_bytes,
            claim: place.claim()?,
        };
        journal.start_segment(segment)?;
        Ok((journal, entries))
    }

    /// Fails if another process has opened the log since this one did (a bucket's `writer`).
    fn check_claim(&self) -> std::io::Result<()> {
        match &self.claim {
            Some(tag) if !self.place.still_ours(tag)? => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} was opened by another process since: two tillflow runs share this ingest log; stop one of them",
                    self.place
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The segment after the current one: in a folder, the next file; in a bucket, where every
    /// write is a segment and `segment` is the next unwritten one, that same number (a skipped
    /// number would leave a name a second writer could take below a checkpoint).
    fn next_segment(&mut self) -> std::io::Result<()> {
        match self.place {
            Place::Folder(_) => self.start_segment(self.segment + 1),
            Place::Bucket { .. } => Ok(()),
        }
    }

    /// Goes on in segment `segment`: in a folder, an empty file made now (so a second process
    /// opening the log later starts after it).
    fn start_segment(&mut self, segment: u64) -> std::io::Result<()> {
        self.segment = segment;
        self.written = 0;
        if let Place::Folder(dir) = &self.place {
            let file = OpenOptions::new().create_new(true).append(true).open(dir.join(segment_name(segment)))?;
            File::open(dir)?.sync_all()?;
            self.file = Some(file);
        }
        Ok(())
    }

    /// Bytes logged since the latest checkpoint, and that checkpoint's own.
    pub fn sizes(&self) -> (u64, u64) {
        (self.since_checkpoint, self.checkpoint_bytes)
    }

    /// Whether the log has so many segments since its latest checkpoint that one is due anyway.
    pub fn many_segments(&self) -> bool {
        self.segments_since_checkpoint >= MAX_SEGMENTS
    }

    /// Writes a checkpoint standing for everything logged so far (`entries`, see the module's
    /// documentation), then removes the segments it stands for; the log goes on in a new segment.
    pub fn checkpoint(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        self.check_claim()?;
        self.next_segment()?;
        let mut bytes = Vec::new();
        for entry in entries {
            encode(entry, &mut bytes)?;
        }
        if crashes_at("checkpoint-writing") {
            if let Place::Folder(dir) = &self.place {
                let half = &bytes[..bytes.len() / 2];
                std::fs::write(dir.join(format!("{}.new", checkpoint_name(self.segment))), half)?;
            }
            std::process::abort();
        }
        let length = bytes.len() as u64;
        self.place.replace(&checkpoint_name(self.segment), bytes)?;
        if crashes_at("checkpoint-renamed") {
            std::process::abort();
        }
        remove_covered(&self.place)?;
        self.since_checkpoint = 0;
        self.segments_since_checkpoint = 0;
        self.checkpoint_bytes = length;
        Ok(())
    }

    /// Appends `entries` durably; once this returns, they survive a crash.
    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for entry in entries {
            encode(entry, &mut bytes)?;
        }
        let length = bytes.len() as u64;
        self.check_claim()?;
        match &mut self.file {
            Some(file) => {
                if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
                    // Cut off whatever part got out, so a retry follows the last whole entry.
                    let _ = file.set_len(self.written);
                    return Err(e);
                }
                self.written += length;
            }
            None => {
                let name = segment_name(self.segment);
                match self.place.write_new(&name, bytes) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(std::io::Error::new(
                            e.kind(),
                            format!(
                                "{}/{name} was written by another process: two tillflow runs share this ingest log; \
                                 stop one of them",
                                self.place
                            ),
                        ));
                    }
                    written => written?,
                }
                self.segments_since_checkpoint += 1;
                self.segment += 1;
            }
        }
        self.since_checkpoint += length;
        if self.written >= SEGMENT_BYTES {
            self.segments_since_checkpoint += 1;
            self.start_segment(self.segment + 1)?;
        }
        Ok(())
    }

    /// [`rewrite`]s the log, this process's open segment included, and goes on in a new segment.
    pub fn rewrite(&mut self, change: impl FnMut(Entry) -> Entry) -> std::io::Result<usize> {
        self.check_claim()?;
        let changed = rewrite(&self.place, change)?;
        self.next_segment()?;
        Ok(changed)
    }
}

/// Reads the entries in `bytes` into `entries`; returns how many bytes are whole entries.
fn decode(bytes: &[u8], entries: &mut Vec<Entry>) -> u64 {
    let mut good = 0;
    let mut rest = bytes;
    while rest.len() >= 8 {
        let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let Some(body) = rest.get(8..8 + length) else { break };
        if crc32fast::hash(body) != checksum {
            break;
        }
        match serde_json::from_slice(body) {
            Ok(entry) => entries.push(entry),
            Err(_) => break,
        }
        good += 8 + length as u64;
        rest = &rest[8 + length..];
    }
    good
}
