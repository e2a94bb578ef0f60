//! Sources: finding input files, reading them in a deterministic order, assigning epochs,
//! dropping redelivered events and routing bad records to dead letters.
//!
//! Each file is read in its own order. Files are interleaved by their *clock* (the latest event
//! time the file has shown so far), so a file of stores without `ts` is read before the sales that
//! need it, and a record that arrives late in its file stays late. An event's epoch is its file's
//! clock rounded up to the tick (DESIGN.md, Time): a late event lands in the current epoch and
//! updates the rows of its own business day there.

use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use rustc_hash::{FxHashMap, FxHasher};
use tillflow_schemas::formats::{self, Record, Rejected, customers_in};
use tillflow_schemas::views::DeadLetter;
use tillflow_schemas::{Event, Format, Id, InputError, Millis, ShiftKind, Store, Text};

use crate::clock::{StoreClocks, WallClock, system_clock};
use crate::pseudonyms::{Pseudonyms, scrub};

pub use tillflow_schemas::Epoch;

/// How a run over finished input is cut into epochs (DESIGN.md, Time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epochs {
    /// Event time rounded up to a tick of this many milliseconds: the states a live run with that
    /// tick would have shown, epoch by epoch (`--tick`, `--at`, paced replays).
    Tick(i64),
    /// As fast as possible: a new epoch every this many records read. The final views are the
    /// same for any cut (tested); only the states in between differ.
    Records(u64),
}

impl Epochs {
    /// Records per epoch when the user asks for no epoch-by-epoch states. Large: each epoch a key
    /// is touched costs its operators a look at its history, and the arrangements sort what they
    /// receive while the epoch is still open, so reading overlaps computing anyway. Bounded, so
    /// that a long history is still compacted as it goes. (40 stores × 30 days, 360k records:
    /// one epoch ran in about 2.4 s, three of 2^17 in 3.1 s, eleven of 2^15 in 3.5 s.)
    pub const FAST: Epochs = Epochs::Records(1 << 19);

    /// `--tick` if given, else [`Epochs::FAST`].
    pub fn tick_or_fast(tick_ms: Option<i64>) -> Epochs {
        tick_ms.map_or(Epochs::FAST, Epochs::Tick)
    }
}

/// Every input file under the given paths (folders are walked), sorted by path.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>, String> {
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(format!(
                "input `{}` does not exist: pass files or folders of .ndjson, .csv or .parquet",
                path.display()
            ));
        }
        if path.is_file() {
            // A file named explicitly is read whatever its extension says, NDJSON by default.
            files.push((path.clone(), Format::of_path(path).unwrap_or(Format::Ndjson)));
            continue;
        }
        walk(path, &mut files).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("no .ndjson, .jsonl, .csv or .parquet files in the given input".into());
    }
    Ok(files)
}

fn walk(path: &Path, files: &mut Vec<(PathBuf, Format)>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?.path();
            let hidden = entry.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if !hidden {
                walk(&entry, files)?;
            }
        }
    } else if let Some(format) = Format::of_path(path).filter(|_| !is_plain_json(path)) {
        files.push((path.to_path_buf(), format));
    }
    Ok(())
}

/// `.json` files in folders are taken for documents (such as `ground_truth.json`), not events;
/// name one explicitly to read it as NDJSON.
fn is_plain_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// One input item, in ingest order.
#[derive(Debug)]
pub enum Ingested {
    Accepted {
        epoch: Epoch,
        event: Event,
        business_date: Option<tillflow_schemas::Day>,
        /// The earlier revision of the same sale this one replaces: taken back as it is fed.
        replaces: Option<Superseded>,
    },
    Dead(DeadLetter),
    /// Reference data another process of a cluster feeds: known here (stores and their zones),
    /// not fed.
    Known(Event),
    /// What the days beyond the retention left behind, read from a checkpoint of the ingest log.
    Settled(crate::retention::Settled),
    /// The dead letter from `source` at `position` was judged again: it leaves `dead_letters`.
    Retried {
        source: String,
        position: u64,
    },
    /// Held until the record of `store` comes (see [`Admission::released`]); the event as
    /// admission keeps it, for the ingest log.
    Held {
        store: Id,
        event: Event,
    },
}

/// A sale's revision that a later one replaced: where the graph's inputs keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superseded {
    pub event_id: Text,
    pub store_id: Id,
    pub business_date: tillflow_schemas::Day,
}

impl Ingested {
    /// An accepted event with its epoch and business day; `None` for anything else (and for
    /// what a replaced revision was: streams of revised sales are fed with [`Ingested::Accepted`]'s
    /// `replaces`).
    pub fn into_accepted(self) -> Option<(Epoch, Event, Option<tillflow_schemas::Day>)> {
        match self {
            Ingested::Accepted { epoch, event, business_date, .. } => Some((epoch, event, business_date)),
            _ => None,
        }
    }
}

/// Counts that always reconcile: `received = accepted + duplicates + dead_lettered`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub received: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// Records left out, not received: outside a replay's [`Window`], or another process's [`Share`].
    pub skipped: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.received += other.received;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.dead_lettered += other.dead_lettered;
        self.skipped += other.skipped;
    }
}

/// The part of the input a replay reads: events dated by a store (sales, refunds, voids,
/// inventory, shifts) from `from` up to but excluding `until`, and nothing admitted after epoch
/// `last_epoch`. Everything else (stores, products, promotions, loyalty links, erasures, and
/// records that do not parse) is always read. The default window holds everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    pub from: Option<Millis>,
    pub until: Option<Millis>,
    pub last_epoch: Option<Epoch>,
}

impl Window {
    pub fn admits(&self, record: &Record) -> bool {
        let Ok(event) = &record.outcome else { return true };
        match (event.dated_by_store(), event.ts()) {
            (Some(_), Some(ts)) => self.from.is_none_or(|from| ts >= from) && self.until.is_none_or(|until| ts < until),
            _ => true,
        }
    }

    /// Whether input admitted in `epoch` comes after the window, and so ends the replay.
    pub fn ends_before(&self, epoch: Epoch) -> bool {
        self.last_epoch.is_some_and(|last| epoch > last)
    }
}

/// The records one process of a cluster admits: the events of its stores (by a hash of the
/// store id), and, on process 0, everything else: reference data and records that do not parse.
/// Every process reads every record, so all agree on the epochs and know every store.
#[derive(Clone, Copy, Debug)]
pub struct Share {
    pub process: u32,
    pub processes: u32,
}

impl Share {
    pub fn owns(&self, record: &Record) -> bool {
        let owner = match record.outcome.as_ref().ok().and_then(Event::dated_by_store) {
            // CRC-32 of the id: the same in every process and every build, and it spreads ids
            // that differ in a digit.
            Some(store) => crc32fast::hash(store.as_bytes()) % self.processes.max(1),
            None => 0,
        };
        owner == self.process
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    /// The counts since `earlier`, a snapshot of the same running counts.
    /// (A retried dead letter leaves `dead_lettered`: a count that fell reads as zero.)
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            received: self.received.saturating_sub(earlier.received),
            accepted: self.accepted.saturating_sub(earlier.accepted),
            duplicates: self.duplicates.saturating_sub(earlier.duplicates),
            dead_lettered: self.dead_lettered.saturating_sub(earlier.dead_lettered),
            skipped: self.skipped.saturating_sub(earlier.skipped),
        }
    }
}

/// A stream of ingested items that keeps its counts.
pub trait IngestStream: Iterator<Item = Ingested> {
    fn counts(&self) -> Counts;
}

impl IngestStream for Ingest {
    fn counts(&self) -> Counts {
        self.admission.counts
    }
}

/// Items prepared in memory (tests, replays of a known sequence): each counts as received and accepted or dead.
pub struct Prepared {
    items: std::vec::IntoIter<Ingested>,
    counts: Counts,
}

impl Prepared {
    pub fn new(items: Vec<Ingested>) -> Self {
        Prepared { items: items.into_iter(), counts: Counts::default() }
    }
}

impl Iterator for Prepared {
    type Item = Ingested;

    fn next(&mut self) -> Option<Ingested> {
        let item = self.items.next()?;
        match &item {
            Ingested::Accepted { .. } => self.counts.accepted += 1,
            Ingested::Dead(_) => self.counts.dead_lettered += 1,
            Ingested::Known(_) => self.counts.skipped += 1,
            Ingested::Settled(_) | Ingested::Held { .. } | Ingested::Retried { .. } => return Some(item),
        }
        self.counts.received += 1;
        Some(item)
    }
}

impl IngestStream for Prepared {
    fn counts(&self) -> Counts {
        self.counts
    }
}

/// The ordered, deduplicated, epoch-stamped stream of every input file.
pub struct Ingest {
    records: Interleave,
    epochs: Epochs,
    /// Records read so far (for [`Epochs::Records`]).
    read: u64,
    admission: Admission,
    window: Window,
    share: Option<Share>,
    /// The window's last epoch is behind.
    ended: bool,
}

/// Judges each record in arrival order: dead letter, duplicate, or accepted; and counts them.
pub struct Admission {
    /// Every accepted event, by `event_id`.
    seen: FxHashMap<Text, Seen>,
    /// Accepted events since `seen` was last pruned.
    since_pruned: usize,
    stores: FxHashMap<Id, Store>,
    /// (store, staff) with a clock_in not yet matched by a clock_out.
    on_clock: rustc_hash::FxHashSet<(Id, Id)>,
    /// Each store's latest accepted event time; the retention counts back from the chain's clock.
    clocks: StoreClocks,
    retention_ms: Millis,
    /// What "now" is for the future limit.
    wall: WallClock,
    /// Replaces customer identifiers before anything keeps them.
    pseudonyms: Pseudonyms,
    /// The tombstones of customers erased from the ingest log: their new links are refused.
    erased: rustc_hash::FxHashSet<String>,
    /// Records waiting for their store's record, by store, in arrival order; counted once judged.
    held: FxHashMap<Id, Vec<Waiting>>,
    /// Judged once their store's record came, to be taken with [`Admission::released`].
    released: std::collections::VecDeque<Ingested>,
    pub counts: Counts,
}

/// What admission remembers of an accepted event.
struct Seen {
    /// The hash of what it says, its revision aside.
    content: u64,
    /// Until when it is remembered: its own time for a dated event (pruned once beyond the
    /// retention, when such an event is refused anyway), forever for reference data.
    kept_until: Millis,
    /// A revised sale: its revision, and when and where it was sold (a later revision may not
    /// change them).
    revised: Option<Revised>,
}

/// What admission remembers of a revised sale.
#[derive(Clone, Copy)]
struct Revised {
    revision: u64,
    ts: Millis,
    store_id: Id,
    business_date: tillflow_schemas::Day,
}

/// The hash of what an event says, a sale's revision aside: a revision that changes nothing
/// else is a redelivery.
fn content_of(event: &Event) -> u64 {
    let mut hasher = FxHasher::default();
    match event {
        Event::Sale(sale) if sale.revision.is_some() => {
            Event::Sale(tillflow_schemas::Sale { revision: None, ..sale.clone() }).hash(&mut hasher)
        }
        other => other.hash(&mut hasher),
    }
    hasher.finish()
}

/// A record held until its store's record comes: its event (identifiers pseudonyms already) and
/// its text (scrubbed likewise).
struct Waiting {
    source: String,
    position: u64,
    epoch: Epoch,
    raw: String,
    event: Event,
}

/// At most this many records wait for their store's record; more are dead letters.
pub const MAX_PENDING: usize = 100_000;

/// What stands in a dead letter's text for the identifier of an erased customer.
pub const ERASED: &str = "<erased>";

/// Accepted events between two prunings of the dedup state.
const PRUNE_EVERY: usize = 1 << 16;

/// How far ahead of the wall clock an event may be stamped (clock skew between systems).
pub const FUTURE_LIMIT_MS: Millis = tillflow_schemas::time::MILLIS_PER_DAY;

/// Records of several sources merged by their clocks (see the module documentation).
pub struct Interleave {
    sources: Vec<Source>,
    heap: BinaryHeap<std::cmp::Reverse<(Millis, usize)>>,
}

/// Records of one source, in their own order.
pub type Records = Box<dyn Iterator<Item = Record>>;

struct Source {
    name: Arc<str>,
    records: Records,
    next: Option<Record>,
    clock: Millis,
}

impl Source {
    /// The clock once the pending record is read.
    fn clock_after_next(&self) -> Millis {
        let ts = self.next.as_ref().and_then(|r| r.outcome.as_ref().ok()).and_then(Event::ts);
        ts.map_or(self.clock, |ts| ts.max(self.clock))
    }
}

impl Interleave {
    pub fn new(sources: Vec<(Arc<str>, Records)>) -> Interleave {
        let mut interleave = Interleave { sources: Vec::with_capacity(sources.len()), heap: BinaryHeap::new() };
        for (index, (name, mut records)) in sources.into_iter().enumerate() {
            let next = records.next();
            let source = Source { name, records, next, clock: Millis::MIN };
            if source.next.is_some() {
                interleave.heap.push(std::cmp::Reverse((source.clock_after_next(), index)));
            }
            interleave.sources.push(source);
        }
        interleave
    }

    /// Every file's records, read ahead in parallel; a file that cannot be opened at all is one
    /// rejected record, at position 0. `others` are read with them, in the same order of time.
    pub fn files(files: &[(PathBuf, Format)], others: Vec<(Arc<str>, Records)>) -> Interleave {
        let ahead = ReadAhead::new();
        let mut sources: Vec<(Arc<str>, Records)> =
            files.iter().map(|(path, format)| (path.display().to_string().into(), ahead.file(path, *format))).collect();
        sources.extend(others);
        Interleave::new(sources)
    }
}

/// A POS platform whose webhooks and order exports tillflow maps to canonical events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Shopify,
    Square,
    Clover,
    Lightspeed,
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(name: &str) -> Result<Platform, String> {
        match name {
            "shopify" => Ok(Platform::Shopify),
            "square" => Ok(Platform::Square),
            "clover" => Ok(Platform::Clover),
            "lightspeed" => Ok(Platform::Lightspeed),
            other => Err(format!(
                "`{other}` is not a platform tillflow reads exports of; choose shopify, square, clover or lightspeed"
            )),
        }
    }
}

/// The keys under which the platforms' APIs list orders (Shopify, Square: `orders`; Clover:
/// `elements`; Lightspeed: `register_sales` in API 0.9, `data` in 2.0).
const LISTINGS: [&str; 4] = ["orders", "elements", "register_sales", "data"];

/// A file of orders as a platform's API lists them (`{"orders": [...]}` and the like, a JSON
/// array, or one order per line), each mapped as its webhooks are (Shopify: the order's sale,
/// its cancellation if it was cancelled, and each of its refunds; Square, Clover, Lightspeed:
/// see their mappings in `tillflow_data`). The SKUs of Square's and Clover's items come from
/// what the file holds beside the orders: Square's catalog item variations (`"objects"`),
/// Clover's inventory items (`"items"`). `locations` maps the platform's location (Shopify,
/// Square), merchant (Clover) or outlet and register (Lightspeed) ids to stores. An order that
/// does not map is a dead letter with the reason and the order's JSON. Positions count orders.
pub fn platform_export(
    path: &Path,
    platform: Platform,
    locations: &std::collections::HashMap<String, String>,
) -> (Arc<str>, Records) {
    use serde_json::Value;
    let name: Arc<str> = path.display().to_string().into();
    let mut skus = std::collections::HashMap::new();
    let orders: Vec<Value> = match std::fs::read(path) {
        Err(e) => {
            return (
                name,
                Box::new(std::iter::once(Record::rejected(0, Rejected::new(b"", InputError::Io(e.to_string()))))),
            );
        }
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(mut listing)) => {
                skus = match platform {
                    Platform::Square => tillflow_data::square::skus_of_catalog(&Value::Object(listing.clone())),
                    Platform::Clover => listing
                        .get("items")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|item| {
                            Some((item["id"].as_str()?.to_string(), tillflow_data::clover::sku_of_item(item)?))
                        })
                        .collect(),
                    _ => skus,
                };
                match LISTINGS.iter().find_map(|key| listing.remove(*key).filter(Value::is_array)) {
                    Some(Value::Array(orders)) => orders,
                    _ => vec![Value::Object(listing)],
                }
            }
            Ok(Value::Array(orders)) => orders,
            Ok(other) => vec![other],
            Err(_) => bytes
                .split(|b| *b == b'\n')
                .filter(|line| !line.trim_ascii().is_empty())
                .map(|line| serde_json::from_slice(line).unwrap_or(Value::String(String::from_utf8_lossy(line).into())))
                .collect(),
        },
    };
    let stores = tillflow_data::lightspeed::Stores { outlets: locations.clone(), registers: locations.clone() };
    let mut records = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let position = i as u64 + 1;
        let (canonical, kept) = match platform {
            Platform::Shopify => {
                let body = order.to_string();
                (shopify_order(order, locations), tillflow_data::shopify::without_personal_data(body.as_bytes()))
            }
            Platform::Square => (
                tillflow_data::square::map_order(order, locations, &skus),
                tillflow_data::square::without_personal_data(order.to_string().as_bytes()),
            ),
            Platform::Clover => {
                let kept = tillflow_data::clover::without_personal_data(order);
                match clover_order(order, locations, &skus) {
                    Ok(mapped) => {
                        for reason in mapped.refused {
                            let reason = InputError::RuleBroken(reason);
                            records.push(Record::rejected(position, Rejected::new(&kept, reason)));
                        }
                        (Ok(mapped.records), kept)
                    }
                    Err(reason) => (Err(reason), kept),
                }
            }
            Platform::Lightspeed => (
                tillflow_data::lightspeed::map("sale.update", order, &stores, &std::collections::HashMap::new()),
                tillflow_data::lightspeed::without_personal_data(order),
            ),
        };
        match canonical {
            Ok(mapped) => records.extend(mapped.iter().map(|record| {
                let text = record.to_string();
                Record::new(position, text.as_bytes(), tillflow_schemas::formats::ndjson::parse_line(text.as_bytes()))
            })),
            Err(reason) => {
                records.push(Record::rejected(position, Rejected::new(&kept, InputError::RuleBroken(reason))))
            }
        }
    }
    (name, Box::new(records.into_iter()))
}

/// A Clover order of an export, of the merchant its `href` names.
fn clover_order(
    order: &serde_json::Value,
    merchants: &std::collections::HashMap<String, String>,
    skus: &std::collections::HashMap<String, String>,
) -> Result<tillflow_data::clover::Mapped, String> {
    let href = order["href"].as_str().unwrap_or_default();
    let merchant = href.split("/merchants/").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let store = merchants.get(merchant).ok_or_else(|| {
        format!("Clover merchant `{merchant}` (from the order's href) is not mapped to a store: add it under [sources.clover] merchants")
    })?;
    tillflow_data::clover::map_order(order, store, skus)
}

/// A Shopify order of an export as its webhooks map it: the sale, its cancellation, its refunds.
fn shopify_order(
    order: &serde_json::Value,
    locations: &std::collections::HashMap<String, String>,
) -> Result<Vec<serde_json::Value>, String> {
    let none = std::collections::HashMap::new();
    let map = |topic: &str, body: &[u8]| tillflow_data::shopify::map(topic, body, locations, &none);
    let body = order.to_string();
    let mut mapped = map("orders/create", body.as_bytes())?;
    if order["cancelled_at"].as_str().is_some() {
        mapped.extend(map("orders/cancelled", body.as_bytes())?);
    }
    for refund in order["refunds"].as_array().into_iter().flatten() {
        mapped.extend(map("refunds/create", refund.to_string().as_bytes())?);
    }
    Ok(mapped)
}

/// A file's records, or one rejected record saying why it cannot be read, parsed on the
/// calling thread (see [`ReadAhead`] for files read in parallel).
pub fn read_file(path: &Path, format: Format) -> Records {
    formats::read_file(path, format)
        .unwrap_or_else(|reason| Box::new(std::iter::once(Record::rejected(0, Rejected::new(b"", reason)))))
}

/// Files read and parsed on threads of their own, ahead of the caller: parsing is most of the
/// cost of reading, record by record independent, so it runs beside admission and the dataflow,
/// several files at once. What is parsed but not yet taken is bounded over all the files
/// together; a file the caller waits on may always parse its next chunk.
#[derive(Clone)]
pub struct ReadAhead {
    budget: Arc<Budget>,
}

/// One file's records sent and not yet taken by the caller, and whether the caller is gone.
#[derive(Default)]
struct Pending {
    records: std::sync::atomic::AtomicUsize,
    dropped: std::sync::atomic::AtomicBool,
}

/// Records that may be parsed ahead of the caller, over every file.
struct Budget {
    left: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl ReadAhead {
    /// Records parsed ahead over all the files, at most (plus a chunk per file).
    const RECORDS: usize = 1 << 16;
    const CHUNK: usize = 2048;

    pub fn new() -> ReadAhead {
        let budget = Budget { left: std::sync::Mutex::new(Self::RECORDS), freed: std::sync::Condvar::new() };
        ReadAhead { budget: Arc::new(budget) }
    }

    /// The file's records, parsed on a thread of its own.
    pub fn file(&self, path: &Path, format: Format) -> Records {
        let (send, receive) = std::sync::mpsc::channel::<Vec<Record>>();
        let pending = Arc::new(Pending::default());
        let (budget, path, queued) = (Arc::clone(&self.budget), path.to_path_buf(), Arc::clone(&pending));
        let parser = std::thread::Builder::new().name("tillflow:parse".into()).spawn(move || {
            let mut records = read_file(&path, format);
            // Small chunks first: every file's first record is needed before the first is taken.
            let mut size = 16;
            loop {
                let chunk: Vec<Record> = records.by_ref().take(size).collect();
                size = (size * 4).min(Self::CHUNK);
                if chunk.is_empty() {
                    return;
                }
                let n = chunk.len();
                if !budget.take(n, &queued) {
                    return;
                }
                queued.records.fetch_add(n, SeqCst);
                if send.send(chunk).is_err() {
                    return;
                }
            }
        });
        match parser {
            Ok(_) => Box::new(Taken {
                chunks: receive,
                current: Vec::new().into_iter(),
                pending,
                budget: Arc::clone(&self.budget),
            }),
            Err(e) => Box::new(std::iter::once(Record::rejected(0, Rejected::new(b"", InputError::Io(e.to_string()))))),
        }
    }
}

impl Default for ReadAhead {
    fn default() -> Self {
        ReadAhead::new()
    }
}

impl Budget {
    /// Waits until `n` records fit in the budget, or until the caller has taken every record of
    /// this file (then the caller waits on it, and it goes ahead regardless). `false` once the
    /// caller is gone.
    fn take(&self, n: usize, file: &Pending) -> bool {
        let mut left = self.left.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *left < n && file.records.load(SeqCst) > 0 && !file.dropped.load(SeqCst) {
            left = self.freed.wait(left).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *left = left.saturating_sub(n);
        !file.dropped.load(SeqCst)
    }

    fn give(&self, n: usize) {
        let mut left = self.left.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *left = (*left + n).min(ReadAhead::RECORDS);
        self.freed.notify_all();
    }
}

/// The records of one file as the caller takes them, chunk by chunk.
struct Taken {
    chunks: std::sync::mpsc::Receiver<Vec<Record>>,
    current: std::vec::IntoIter<Record>,
    pending: Arc<Pending>,
    budget: Arc<Budget>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.pending.dropped.store(true, SeqCst);
        self.budget.give(0);
    }
}

impl Iterator for Taken {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.current.next() {
                return Some(record);
            }
            let chunk = self.chunks.recv().ok()?;
            let n = chunk.len();
            self.pending.records.fetch_sub(n, SeqCst);
            self.budget.give(n);
            self.current = chunk.into_iter();
        }
    }
}

impl Iterator for Interleave {
    /// The source's name, the record, and the source's clock once it is read.
    type Item = (Arc<str>, Record, Millis);

    fn next(&mut self) -> Option<Self::Item> {
        let std::cmp::Reverse((clock, index)) = self.heap.pop()?;
        let source = &mut self.sources[index];
        let record = source.next.take().expect("a queued source has a record");
        source.clock = clock;
        source.next = source.records.next();
        if source.next.is_some() {
            self.heap.push(std::cmp::Reverse((source.clock_after_next(), index)));
        }
        Some((Arc::clone(&source.name), record, clock))
    }
}

impl Ingest {
    /// Reads `files`; events dated more than `retention_ms` before the latest are dead letters.
    pub fn open(files: &[(PathBuf, Format)], epochs: Epochs, retention_ms: Millis, pseudonyms: Pseudonyms) -> Ingest {
        Ingest::open_with(files, Vec::new(), epochs, retention_ms, pseudonyms)
    }

    /// Reads `files` and the `others` sources of records together.
    pub fn open_with(
        files: &[(PathBuf, Format)],
        others: Vec<(Arc<str>, Records)>,
        epochs: Epochs,
        retention_ms: Millis,
        pseudonyms: Pseudonyms,
    ) -> Ingest {
        Ingest {
            records: Interleave::files(files, others),
            epochs,
            read: 0,
            admission: Admission::new(retention_ms, pseudonyms),
            window: Window::default(),
            share: None,
            ended: false,
        }
    }

    /// Reads only what `window` holds.
    pub fn within(self, window: Window) -> Ingest {
        Ingest { window, ..self }
    }

    /// Admits only this process's share of the records.
    pub fn share(self, share: Share) -> Ingest {
        Ingest { share: (share.processes > 1).then_some(share), ..self }
    }

    /// The epoch of the next record read, whose source's clock is then `clock`.
    fn next_epoch(&mut self, clock: Millis) -> Epoch {
        self.read += 1;
        match self.epochs {
            Epochs::Records(per_epoch) => 1 + (self.read - 1) / per_epoch.max(1),
            Epochs::Tick(_) if clock <= 0 => 0,
            Epochs::Tick(tick_ms) => (clock as u64).div_ceil(tick_ms.max(1) as u64),
        }
    }
}

impl Admission {
    /// Forgets the ids of dated events beyond the retention, every [`PRUNE_EVERY`] events: a
    /// redelivery of one is refused as too old, so it still cannot count twice.
    fn prune_seen(&mut self) {
        self.since_pruned += 1;
        if self.since_pruned < PRUNE_EVERY {
            return;
        }
        self.since_pruned = 0;
        if let Some(latest) = self.clocks.chain() {
            let oldest = latest - self.retention_ms;
            self.seen.retain(|_, seen| seen.kept_until >= oldest);
        }
    }

    /// Accepts events dated up to `retention_ms` before the chain's clock, and none dated more
    /// than [`FUTURE_LIMIT_MS`] ahead of the machine's clock.
    pub fn new(retention_ms: Millis, pseudonyms: Pseudonyms) -> Admission {
        Admission {
            seen: FxHashMap::default(),
            since_pruned: 0,
            stores: FxHashMap::default(),
            on_clock: Default::default(),
            clocks: StoreClocks::default(),
            retention_ms,
            wall: system_clock(),
            pseudonyms,
            erased: Default::default(),
            held: FxHashMap::default(),
            released: Default::default(),
            counts: Counts::default(),
        }
    }

    /// How many records wait for their store's record.
    pub fn pending(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }

    /// The events held, in the order they came, with their source and position (for a
    /// checkpoint of the ingest log: judged again, they are held again).
    pub fn held(&self) -> Vec<(&str, u64, Epoch, &Event)> {
        let mut held: Vec<_> =
            self.held.values().flatten().map(|w| (w.source.as_str(), w.position, w.epoch, &w.event)).collect();
        held.sort_by_key(|(_, _, epoch, _)| *epoch);
        held
    }

    /// The next record judged because its store's record came (in the order they were held).
    pub fn released(&mut self) -> Option<Ingested> {
        self.released.pop_front()
    }

    /// Judges again, in `epoch`, the records held for `store`, whose record has come.
    fn release(&mut self, store: Id, epoch: Epoch) {
        for waiting in self.held.remove(&store).unwrap_or_default() {
            let record = Record::new(waiting.position, waiting.raw.as_bytes(), Ok(waiting.event));
            if let Some(item) = self.judge(&waiting.source, record, epoch, false) {
                self.released.push_back(item);
            }
        }
    }

    /// Ends the wait of every held record (the input has ended): each is a dead letter, its
    /// store's record never having come.
    pub fn abandon_held(&mut self) {
        let mut stores: Vec<Id> = self.held.keys().copied().collect();
        stores.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        for store in stores {
            for waiting in self.held.remove(&store).unwrap_or_default() {
                self.counts.received += 1;
                self.counts.dead_lettered += 1;
                let reason = InputError::UnknownStore(store.to_string());
                let letter = dead_letter(
                    &waiting.source,
                    waiting.position,
                    waiting.epoch,
                    reason,
                    waiting.raw,
                    waiting.event.event_id(),
                );
                self.released.push_back(Ingested::Dead(letter));
            }
        }
    }

    /// The same, with `wall` for the machine's clock.
    pub fn with_clock(self, wall: WallClock) -> Admission {
        Admission { wall, ..self }
    }

    /// The chain's clock: the latest event time (of the second-latest store), if any.
    pub fn clock(&self) -> Option<Millis> {
        self.clocks.chain()
    }

    /// What replaces customer identifiers here.
    pub fn pseudonyms(&self) -> &Pseudonyms {
        &self.pseudonyms
    }

    /// The tombstones of the customers erased from the ingest log.
    pub fn tombstones(&self) -> Vec<String> {
        let mut tombstones: Vec<String> = self.erased.iter().cloned().collect();
        tombstones.sort_unstable();
        tombstones
    }

    /// Refuses the links of a customer erased from the ingest log from now on (their tombstone).
    pub fn forget(&mut self, tombstone: Option<String>) {
        self.erased.extend(tombstone);
    }

    /// Learns a store's record (its zone dates its events) without admitting it; the records
    /// held for that store are judged, in `epoch`.
    pub fn learn(&mut self, event: &Event, epoch: Epoch) {
        if let Event::Store(store) = event {
            self.stores.insert(store.store_id, store.clone());
            self.release(store.store_id, epoch);
        }
    }

    /// Judges one record as received: a dead letter, a duplicate (`None`), or an accepted event,
    /// its customer identifiers replaced by their pseudonyms in both the event and any dead
    /// letter's text.
    pub fn admit(&mut self, source: &str, record: Record, epoch: Epoch) -> Option<Ingested> {
        self.judge(source, record, epoch, true)
    }

    /// Judges a record of the ingest log, whose identifiers are pseudonyms already.
    pub fn admit_logged(&mut self, source: &str, record: Record, epoch: Epoch) -> Option<Ingested> {
        self.judge(source, record, epoch, false)
    }

    fn judge(&mut self, source: &str, record: Record, epoch: Epoch, received: bool) -> Option<Ingested> {
        self.counts.received += 1;
        let (event, replaced) = match record.outcome {
            Ok(mut event) => match self.pseudonyms.apply(&mut event, !received) {
                Ok(replaced) => (event, replaced),
                Err(reason) => {
                    self.counts.dead_lettered += 1;
                    let raw = scrub(&record.raw, &self.pseudonyms.of_each(&customers_in(&record.raw)));
                    let letter = dead_letter(source, record.position, epoch, reason, raw, event.event_id());
                    return Some(Ingested::Dead(letter));
                }
            },
            Err(rejected) => {
                self.counts.dead_lettered += 1;
                let replaced = if received { self.pseudonyms.of_each(&rejected.customers) } else { Vec::new() };
                let raw = scrub(&rejected.raw, &replaced);
                return Some(Ingested::Dead(dead_letter(source, record.position, epoch, rejected.reason, raw, None)));
            }
        };
        let raw = &record.raw;
        let dead = |reason: InputError, event_id: Option<&Text>| {
            dead_letter(source, record.position, epoch, reason, scrub(raw, &replaced), event_id)
        };
        if let Event::LoyaltyLink(link) = &event
            && !self.erased.is_empty()
            && self.erased.contains(&self.pseudonyms.tombstone(link.customer_id.as_str()))
        {
            self.counts.dead_lettered += 1;
            let gone: Vec<_> = replaced.iter().map(|(raw, _)| (raw.clone(), Text::new(ERASED))).collect();
            let reason = InputError::rule("this link's customer was erased; tillflow keeps no link of theirs");
            let letter = dead_letter(source, record.position, epoch, reason, scrub(raw, &gone), event.event_id());
            return Some(Ingested::Dead(letter));
        }
        let content = content_of(&event);
        let revision = event.revision();
        let mut replaces = None;
        if let Some(id) = event.event_id() {
            match self.seen.get(id) {
                Some(seen) if seen.content == content => {
                    self.counts.duplicates += 1;
                    return None;
                }
                // A revised sale: a higher revision replaces the one fed, a lower one (an older
                // version delivered late) is superseded already. A revision changes what was
                // sold and how it was paid, not when or where: the day and the store's clock
                // stay the ones it was fed with.
                Some(Seen { revised: Some(fed), .. }) if revision.is_some_and(|r| r != fed.revision) => {
                    if revision < Some(fed.revision) {
                        self.counts.duplicates += 1;
                        return None;
                    }
                    if (Some(fed.ts), Some(&fed.store_id)) != (event.ts(), event.dated_by_store()) {
                        self.counts.dead_lettered += 1;
                        let reason = InputError::rule(format!(
                            "revision {} of sale `{id}` changes its time or its store; a revision may change its \
                             lines, discounts and tenders, not when or where it was sold: send it as a new sale",
                            revision.unwrap_or_default()
                        ));
                        return Some(Ingested::Dead(dead(reason, Some(id))));
                    }
                    replaces = Some(Superseded {
                        event_id: id.clone(),
                        store_id: fed.store_id,
                        business_date: fed.business_date,
                    });
                }
                Some(_) => {
                    self.counts.dead_lettered += 1;
                    let reason = InputError::ConflictingDuplicate(id.to_string());
                    return Some(Ingested::Dead(dead(reason, Some(id))));
                }
                None => {}
            }
        }
        // Every dated record, reference data included, passes the future limit: a record from
        // tomorrow is a wrong clock, not news.
        if let Some(ts) = event.ts() {
            let ahead = ts - (self.wall)();
            if ahead > FUTURE_LIMIT_MS {
                self.counts.dead_lettered += 1;
                let reason = InputError::FromTheFuture(ahead / tillflow_schemas::time::MILLIS_PER_HOUR);
                return Some(Ingested::Dead(dead(reason, event.event_id())));
            }
        }
        let business_date = match (&event, event.dated_by_store(), event.ts()) {
            (Event::Store(_), _, _) => None,
            (_, Some(store_id), Some(ts)) => match self.stores.get(store_id) {
                Some(store) => Some(tillflow_schemas::time::local_day(ts, store.timezone)),
                // Waits for its store's record, counted when judged then.
                None if self.pending() < MAX_PENDING => {
                    let store = *store_id;
                    self.counts.received -= 1;
                    let raw = scrub(raw, &replaced);
                    let waiting = Waiting {
                        source: source.to_string(),
                        position: record.position,
                        epoch,
                        raw,
                        event: event.clone(),
                    };
                    self.held.entry(store).or_default().push(waiting);
                    return Some(Ingested::Held { store, event });
                }
                None => {
                    self.counts.dead_lettered += 1;
                    let reason = InputError::UnknownStore(store_id.to_string());
                    return Some(Ingested::Dead(dead(reason, event.event_id())));
                }
            },
            _ => None,
        };
        if let (Some(store_id), Some(ts)) = (business_date.and(event.dated_by_store()), event.ts()) {
            let behind = self.clocks.chain().map_or(0, |latest| latest - ts);
            if behind > self.retention_ms {
                let day = tillflow_schemas::time::MILLIS_PER_DAY;
                let reason =
                    InputError::OlderThanRetention { days: behind / day, retention_days: self.retention_ms / day };
                self.counts.dead_lettered += 1;
                return Some(Ingested::Dead(dead(reason, event.event_id())));
            }
            self.clocks.observe(store_id, ts);
        }
        if let Event::Shift(shift) = &event {
            let key = (shift.store_id, shift.staff_id);
            let matched = match shift.kind {
                ShiftKind::ClockIn => {
                    self.on_clock.insert(key);
                    true
                }
                ShiftKind::ClockOut => self.on_clock.remove(&key),
            };
            if !matched {
                self.counts.dead_lettered += 1;
                let reason = InputError::ClockOutWithoutClockIn {
                    staff: shift.staff_id.to_string(),
                    store: shift.store_id.to_string(),
                };
                return Some(Ingested::Dead(dead(reason, event.event_id())));
            }
        }
        if let Some(id) = event.event_id() {
            let kept_until = if business_date.is_some() { event.ts().unwrap_or(Millis::MAX) } else { Millis::MAX };
            let revised = match (revision, event.ts(), event.dated_by_store(), business_date) {
                (Some(revision), Some(ts), Some(store_id), Some(business_date)) => {
                    Some(Revised { revision, ts, store_id: *store_id, business_date })
                }
                _ => None,
            };
            self.seen.insert(id.clone(), Seen { content, kept_until, revised });
            self.prune_seen();
        }
        self.counts.accepted += 1;
        let store = match &event {
            Event::Store(store) => {
                self.stores.insert(store.store_id, store.clone());
                Some(store.store_id)
            }
            _ => None,
        };
        if let Some(store) = store {
            self.release(store, epoch);
        }
        Some(Ingested::Accepted { epoch, event, business_date, replaces })
    }
}

fn dead_letter(
    source: &str,
    position: u64,
    epoch: Epoch,
    reason: InputError,
    raw: String,
    event_id: Option<&Text>,
) -> DeadLetter {
    DeadLetter {
        source: source.to_string(),
        position,
        epoch,
        event_id: event_id.map(|id| id.to_string()),
        reason: reason.to_string(),
        raw,
    }
}

impl Iterator for Ingest {
    type Item = Ingested;

    fn next(&mut self) -> Option<Ingested> {
        loop {
            if let Some(item) = self.admission.released() {
                return Some(item);
            }
            let Some((source, record, clock)) = self.records.next().filter(|_| !self.ended) else { break };
            let epoch = self.next_epoch(clock);
            if self.window.ends_before(epoch) {
                self.ended = true;
                break;
            }
            if !self.window.admits(&record) {
                self.admission.counts.skipped += 1;
                continue;
            }
            if let Some(share) = self.share
                && !share.owns(&record)
            {
                self.admission.counts.skipped += 1;
                match record.outcome {
                    Ok(event) if event.dated_by_store().is_none() => {
                        self.admission.learn(&event, epoch);
                        return Some(Ingested::Known(event));
                    }
                    _ => continue,
                }
            }
            match self.admission.admit(&source, record, epoch) {
                Some(Ingested::Held { .. }) | None => {}
                Some(item) => return Some(item),
            }
        }
        // The input has ended: what still waits for its store's record never gets it.
        self.admission.abandon_held();
        self.admission.released()
    }
}
