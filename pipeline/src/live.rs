//! Live mode: records arrive continuously (followed files, stdin, HTTP) as [`Delivery`]s; every
//! tick closes an epoch, publishes one consistent snapshot of every view to the SQL layer, and, every
//! `persist_every`, hands the snapshot to the persister.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use tillflow_operators::exception_history::History;
use tillflow_queries::access::audit::AccessLog;
use tillflow_queries::live::Hub;
use tillflow_schemas::Millis;
use tillflow_schemas::formats::Record;
use tillflow_schemas::views::{
    AccessEntry, AlertDelivery, DeadLetter, Exception, ExceptionHistory, PipelineStat, ViewRow,
};
use tillflow_schemas::{Event, InputError};

use crate::alerts::Deliveries;
use crate::dataflow::{self, Changes, Tuning, ViewChanges, ViewState};
use crate::erasure::{CUSTOMER_TABLES, Erasures};
use crate::ingest_access::REFUSED_FOR_SCOPE;
use crate::journal::{Entry, Journal};
use crate::persist::Dirty;
use crate::pseudonyms::Pseudonyms;
use crate::source::{Admission, Counts, Epoch, Ingested, Window};

/// Records from one source, handed to the pipeline together.
pub struct Delivery {
    /// Where they came from, as dead letters name it (a file path, `stdin`, `http`).
    pub source: Arc<str>,
    pub records: Vec<Record>,
    /// Told what became of each record, once it is admitted.
    pub reply: Option<tokio::sync::oneshot::Sender<Vec<Verdict>>>,
    /// Also judge again the dead letters whose reason contains this text (every one if empty):
    /// `tillflow dead-letters retry`.
    pub retry: Option<String>,
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Duplicate,
    /// Waiting for its store's record; logged, and admitted when the record comes.
    Held,
    DeadLettered {
        position: u64,
        reason: String,
    },
}

#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub workers: usize,
    pub tuning: Tuning,
    pub tick: Duration,
    pub persist_every: Duration,
    /// `pipeline_stats` keeps this many epochs (with input) before the oldest leave.
    pub stats_kept: usize,
    /// What replaces customer identifiers at admission.
    pub pseudonyms: Pseudonyms,
    /// How long (event time) after an erasure everything persisted is rid of the customer.
    pub erasure_deadline_ms: Millis,
    /// The ingest log is checkpointed once days have left the retention and the log has grown
    /// by this many bytes, and by as many as the last checkpoint holds, since the last.
    pub checkpoint_after: u64,
}

/// Counters the HTTP `/metrics` endpoint reports; updated by the driver.
#[derive(Debug, Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Records waiting for their store's record.
    pub pending: AtomicU64,
    pub epoch: AtomicU64,
    pub compute_ms: AtomicU64,
    pub publish_ms: AtomicU64,
    pub persist_ms: AtomicU64,
    pub persists: AtomicU64,
    pub persist_failures: AtomicU64,
    /// Requests refused for a missing or wrong signature (they never reach the views).
    pub unauthenticated: AtomicU64,
    pub view_rows: Mutex<Vec<(&'static str, usize)>>,
}

impl Metrics {
    fn count(&self, admission: &Admission) {
        let counts = &admission.counts;
        self.pending.store(admission.pending() as u64, Ordering::Relaxed);
        self.received.store(counts.received, Ordering::Relaxed);
        self.accepted.store(counts.accepted, Ordering::Relaxed);
        self.duplicates.store(counts.duplicates, Ordering::Relaxed);
        self.dead_lettered.store(counts.dead_lettered, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!("# HELP tillflow_{name} {help}\n# TYPE tillflow_{name} {kind}\n"));
            out.push_str(&format!("tillflow_{name} {value}\n"));
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric("events_received_total", "counter", "Records received from every source.", get(&self.received));
        metric("events_accepted_total", "counter", "Records accepted into the views.", get(&self.accepted));
        metric("events_duplicate_total", "counter", "Redelivered records ignored.", get(&self.duplicates));
        metric("events_dead_lettered_total", "counter", "Records sent to dead_letters.", get(&self.dead_lettered));
        metric("events_pending", "gauge", "Records waiting for their store's record.", get(&self.pending));
        metric("epoch", "gauge", "The latest published epoch.", get(&self.epoch));
        metric("epoch_compute_ms", "gauge", "Last epoch: close until every view settled.", get(&self.compute_ms));
        metric("epoch_publish_ms", "gauge", "Last epoch: building and publishing the snapshot.", get(&self.publish_ms));
        metric("persist_ms", "gauge", "Duration of the last persist.", get(&self.persist_ms));
        metric("persists_total", "counter", "Persists completed.", get(&self.persists));
        metric(
            "persist_failures_total",
            "counter",
            "Persists that failed (retried next time).",
            get(&self.persist_failures),
        );
        metric(
            "unauthenticated_total",
            "counter",
            "Requests refused for a missing or wrong signature.",
            get(&self.unauthenticated),
        );
        out.push_str("# HELP tillflow_view_rows Rows in each live view.\n# TYPE tillflow_view_rows gauge\n");
        for (view, rows) in self.view_rows.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!("tillflow_view_rows{{view=\"{view}\"}} {rows}\n"));
        }
        out
    }
}

/// A snapshot handed to the persister: the epoch, then each table's name, rows and what changed
/// since the previous hand-over.
pub type Persistable = (Epoch, Vec<(&'static str, Vec<RecordBatch>, Dirty)>);

/// Where the live pipeline publishes: the hub SQL reads, the metrics, the persister (`persist`
/// should not block: the driver waits for it), and the access log it publishes with each epoch.
pub struct Publishing {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub persist: Arc<dyn Fn(Persistable) + Send + Sync>,
    pub access_log: Arc<AccessLog>,
    /// What the alert channels did, published as `alert_deliveries`.
    pub deliveries: Arc<Deliveries>,
}

/// Runs the live pipeline until `stop` is set and the feed is drained, publishing every epoch and
/// handing a snapshot to the persister every `persist_every`.
pub fn run(
    config: LiveConfig,
    feed: Receiver<Delivery>,
    publishing: Publishing,
    stop: Arc<AtomicBool>,
    journal: Option<(Journal, Vec<Entry>)>,
) -> Result<Counts, String> {
    let Publishing { hub, metrics, persist, access_log, deliveries } = publishing;
    let start = Mutex::new(Some((feed, journal)));
    let guards = timely::execute(timely::Config::process(config.workers.max(1)), move |worker| {
        let mut graph = dataflow::build(worker, config.tuning);
        let mut counts = Ok(Counts::default());
        if worker.index() == 0 {
            let (feed, journal) = start.lock().unwrap_or_else(|e| e.into_inner()).take().expect("one worker 0");
            let outlets = Outlets {
                hub: &hub,
                metrics: &metrics,
                persist: &persist,
                access_log: &access_log,
                deliveries: &deliveries,
            };
            let mut driver = Driver::new(&config, &graph.captures, outlets);
            let tick_ms = config.tick.as_millis().max(1) as u64;
            let mut epoch: Epoch = now_ms() / tick_ms;
            graph.inputs.advance_to(epoch);
            if let Some((journal, logged)) = journal {
                driver.recover(logged, epoch, &mut graph.inputs);
                driver.journal = Some(journal);
            }
            loop {
                let deadline = Instant::now() + config.tick;
                let mut drained = false;
                while Instant::now() < deadline {
                    match feed.recv_timeout(deadline.saturating_duration_since(Instant::now()).min(TICK_SLICE)) {
                        Ok(delivery) => {
                            // Group commit: the deliveries waiting now are judged together and
                            // logged in one write (one sync, or one object in a bucket).
                            let mut group = vec![delivery];
                            while group.len() < GROUP_COMMIT
                                && let Ok(delivery) = feed.try_recv()
                            {
                                group.push(delivery);
                            }
                            driver.admit(group, epoch, &mut graph.inputs);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            drained = true;
                            break;
                        }
                    }
                    worker.step();
                }
                let closed = Instant::now();
                let next = (now_ms() / tick_ms).max(epoch + 1);
                graph.advance(worker, next);
                driver.publish(epoch, closed, &graph.inputs.watermark, &graph.captures);
                driver.checkpoint_if_due(&graph.inputs, epoch);
                epoch = next;
                if drained || driver.failure.is_some() || stop.load(Ordering::Relaxed) && driver.idle {
                    break;
                }
            }
            driver.persist_now(epoch);
            counts = match driver.failure.take() {
                Some(failure) => Err(failure),
                None => Ok(driver.admission.counts),
            };
        }
        graph.finish(worker);
        counts
    })?;
    let mut total = Counts::default();
    for counts in guards.join() {
        total += counts??;
    }
    Ok(total)
}

/// The most deliveries judged together and logged in one write.
const GROUP_COMMIT: usize = 64;

/// How long the driver waits for input before stepping the dataflow again.
const TICK_SLICE: Duration = Duration::from_millis(2);

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Worker 0's state between epochs: admission, the views' current rows, dead letters and stats.
struct Driver<'a> {
    config: &'a LiveConfig,
    hub: &'a Arc<Hub>,
    metrics: &'a Metrics,
    persist: &'a Arc<dyn Fn(Persistable) + Send + Sync>,
    /// What the SQL servers record, published with each epoch.
    access_log: &'a AccessLog,
    accesses: Box<dyn ViewState>,
    admission: Admission,
    /// The views' states in the hub's order, and the capture feeding each.
    states: Vec<Box<dyn ViewState>>,
    order: Vec<usize>,
    batches: Vec<Vec<RecordBatch>>,
    /// Per table (views, dead letters, stats): changed since the last hand-over to the persister.
    unpersisted: Vec<Dirty>,
    dead_letters: Vec<DeadLetter>,
    stats: std::collections::VecDeque<PipelineStat>,
    /// The running counts when the current epoch began.
    epoch_start: Counts,
    last_persist: Instant,
    /// No input arrived during the last epoch.
    idle: bool,
    /// Persists (completed or failed) reported in `pipeline_stats` so far.
    persists_seen: u64,
    /// Where verdicts are logged before they are answered, if anywhere.
    journal: Option<Journal>,
    /// Why the pipeline must stop: the ingest log cannot be written.
    failure: Option<String>,
    /// Cards and erasures seen, for the erasures' deadlines.
    erasures: Erasures,
    /// Events gone beyond the retention when the last checkpoint was written.
    expired_at_checkpoint: u64,
    /// Dead letters left `dead_letters` (retried) since the last publish.
    letters_changed: bool,
    /// Every exception's life (`exception_history`), and whether it changed since the last publish.
    history: History,
    history_changed: bool,
    /// History rows an action changed, logged after the action's entry.
    acted: Vec<ExceptionHistory>,
    deliveries: &'a Deliveries,
    /// Every delivery attempt so far (`alert_deliveries`).
    delivered: Vec<AlertDelivery>,
}

/// Where the driver publishes.
struct Outlets<'a> {
    hub: &'a Arc<Hub>,
    metrics: &'a Metrics,
    persist: &'a Arc<dyn Fn(Persistable) + Send + Sync>,
    access_log: &'a AccessLog,
    deliveries: &'a Deliveries,
}

/// The tables after the views, in the hub's order (see [`crate::tables`]).
const DEAD_LETTERS: usize = 0;
const PIPELINE_STATS: usize = 1;
const ACCESS_LOG: usize = 2;
const EXCEPTION_HISTORY: usize = 3;
const ALERT_DELIVERIES: usize = 4;
const OWN_TABLES: usize = 5;

/// `alert_deliveries` keeps this many attempts, the latest (a channel down for days retries
/// every 5 minutes).
const DELIVERIES_KEPT: usize = 100_000;

impl<'a> Driver<'a> {
    fn new(config: &'a LiveConfig, captures: &[dataflow::Capture], outlets: Outlets<'a>) -> Self {
        let Outlets { hub, metrics, persist, access_log, deliveries } = outlets;
        // The hub lists the views first, then the tables the pipeline writes itself.
        let mut captured: Vec<(usize, Box<dyn ViewState>)> =
            captures.iter().map(|c| c().new_state()).enumerate().collect();
        let tables = hub.views().len();
        let mut order = Vec::new();
        let mut states = Vec::new();
        for (name, _) in &hub.views()[..tables - OWN_TABLES] {
            let at = captured.iter().position(|(_, s)| s.name() == *name).expect("every view is captured");
            let (capture, state) = captured.swap_remove(at);
            order.push(capture);
            states.push(state);
        }
        Driver {
            config,
            hub,
            metrics,
            persist,
            access_log,
            accesses: Changes::<AccessEntry>(Vec::new()).new_state(),
            admission: Admission::new(config.tuning.retention_ms, config.pseudonyms.clone()),
            states,
            order,
            batches: vec![Vec::new(); tables],
            unpersisted: vec![Dirty::Whole; tables],
            dead_letters: Vec::new(),
            stats: Default::default(),
            epoch_start: Counts::default(),
            last_persist: Instant::now(),
            idle: true,
            persists_seen: 0,
            journal: None,
            failure: None,
            erasures: Erasures::default(),
            expired_at_checkpoint: 0,
            letters_changed: false,
            history: History::default(),
            history_changed: false,
            acted: Vec::new(),
            deliveries,
            delivered: Vec::new(),
        }
    }

    /// Judges each delivery's records (or, for a retry, the dead letters it names), logs all
    /// their verdicts in one write (if there is a log) and only then answers each.
    fn admit(&mut self, deliveries: Vec<Delivery>, epoch: Epoch, inputs: &mut crate::flatten::Inputs) {
        if self.failure.is_some() {
            return; // the senders are told tillflow is stopping
        }
        let mut entries = Vec::new();
        let mut answers = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let mut verdicts = Vec::with_capacity(delivery.records.len());
            if let Some(reason) = &delivery.retry {
                self.retry(reason, epoch, inputs, &mut verdicts, &mut entries);
            }
            let source = &delivery.source;
            for record in delivery.records {
                let position = record.position;
                let judged = self.admission.admit(source, self.vetted(record), epoch);
                let (verdict, entry) = self.judged(source, position, epoch, judged, inputs);
                verdicts.push(verdict);
                entries.extend(entry);
                entries.extend(self.acted.drain(..).map(|row| Entry::History { epoch, row: Box::new(row) }));
            }
            answers.push((delivery.reply, verdicts));
        }
        self.metrics.count(&self.admission);
        if !self.log(&entries) {
            return;
        }
        for (reply, verdicts) in answers {
            if let Some(reply) = reply {
                let _ = reply.send(verdicts);
            }
        }
    }

    /// Judges again the dead letters whose reason contains `reason` (every one if empty) and
    /// whose text is a canonical event, as records received now: each leaves `dead_letters`, and
    /// its new verdict is logged after a `retried` entry, so a recovery or replay does the same.
    /// A record refused for its token's scope is not retried (the scope is the sender's, not
    /// tillflow's to widen).
    fn retry(
        &mut self,
        reason: &str,
        epoch: Epoch,
        inputs: &mut crate::flatten::Inputs,
        verdicts: &mut Vec<Verdict>,
        entries: &mut Vec<Entry>,
    ) {
        let mut chosen = Vec::new();
        for letter in std::mem::take(&mut self.dead_letters) {
            let retried = letter.reason.contains(reason) && !letter.reason.starts_with(REFUSED_FOR_SCOPE);
            let record = retried.then(|| crate::journal::record_of(letter.position, &letter.raw));
            match record {
                Some(record) if record.outcome.is_ok() => chosen.push((letter, record)),
                _ => self.dead_letters.push(letter),
            }
        }
        self.letters_changed |= !chosen.is_empty();
        for (letter, record) in chosen {
            let counts = &mut self.admission.counts;
            counts.received -= 1;
            counts.dead_lettered -= 1;
            if self.journal.is_some() {
                entries.push(Entry::Retried { source: letter.source.clone(), position: letter.position, epoch });
            }
            // Its text holds pseudonyms already.
            let judged = self.admission.admit_logged(&letter.source, self.vetted(record), epoch);
            let (verdict, entry) = self.judged(&letter.source, letter.position, epoch, judged, inputs);
            verdicts.push(verdict);
            entries.extend(entry);
            entries.extend(self.acted.drain(..).map(|row| Entry::History { epoch, row: Box::new(row) }));
        }
    }

    /// The record, or, for an action on an exception tillflow does not know (or of another
    /// store), its refusal: admission dead-letters it with the reason.
    fn vetted(&self, mut record: Record) -> Record {
        if let Ok(Event::ExceptionAction(action)) = &record.outcome
            && let Some(reason) = self.history.refuses(action)
        {
            let raw = std::mem::take(&mut record.raw);
            record.outcome = Err(tillflow_schemas::formats::Rejected::new(raw.as_bytes(), InputError::rule(reason)));
        }
        record
    }

    /// What admission's verdict on a record means here: the event fed, or the dead letter kept,
    /// and the entry that logs it (if there is a log); then the records it released, fed.
    fn judged(
        &mut self,
        source: &str,
        position: u64,
        epoch: Epoch,
        judged: Option<Ingested>,
        inputs: &mut crate::flatten::Inputs,
    ) -> (Verdict, Option<Entry>) {
        let logging = self.journal.is_some();
        let accepted = |event: &tillflow_schemas::Event| {
            logging.then(|| Entry::Accepted { source: source.to_string(), position, epoch, event: event.to_json() })
        };
        let judged = match judged {
            None => {
                let entry = logging.then(|| Entry::Duplicate { source: source.to_string(), position, epoch });
                (Verdict::Duplicate, entry)
            }
            Some(Ingested::Accepted { event, business_date, replaces, .. }) => {
                self.erasures.observe(&event);
                let entry = accepted(&event);
                if let Event::ExceptionAction(action) = &event
                    && let Some(row) = self.history.act(action)
                {
                    self.history_changed = true;
                    self.acted.push(row);
                }
                if let Some(earlier) = replaces {
                    inputs.supersede(&earlier);
                }
                inputs.push(event, business_date);
                (Verdict::Accepted, entry)
            }
            Some(Ingested::Dead(letter)) => {
                let verdict = Verdict::DeadLettered { position, reason: letter.reason.clone() };
                let entry = logging.then(|| Entry::DeadLettered(letter.clone()));
                self.dead_letters.push(letter);
                (verdict, entry)
            }
            // Logged as received: judged again on recovery, it waits again.
            Some(Ingested::Held { event, .. }) => (Verdict::Held, accepted(&event)),
            Some(Ingested::Known(_) | Ingested::Settled(_) | Ingested::Retried { .. }) => {
                unreachable!("admission judges every record it is given")
            }
        };
        self.take_released(inputs);
        judged
    }

    /// Appends `entries` to the ingest log, if there is one; false if it cannot be written (the
    /// pipeline then stops, without answering).
    fn log(&mut self, entries: &[Entry]) -> bool {
        let Some(journal) = &mut self.journal else { return true };
        let Err(e) = crate::retry("writing the ingest log", || journal.append(entries)) else { return true };
        tracing::error!("cannot write the ingest log: {e}; stopping without answering the last delivery");
        self.failure = Some(format!(
            "cannot write the ingest log: {e}; the last delivery was not acknowledged. Free space or fix \
             permissions, then start tillflow again: it recovers everything acknowledged"
        ));
        false
    }

    /// Feeds the records judged because their store's record came (their entries are in the
    /// log already: judged again on recovery, they wait and come out the same way).
    fn take_released(&mut self, inputs: &mut crate::flatten::Inputs) {
        while let Some(item) = self.admission.released() {
            self.feed(item, inputs);
        }
    }

    /// Applies what admission made of a logged or released record: an event fed, a dead letter
    /// kept or (retried) taken out, what a checkpoint's days left fed again.
    fn feed(&mut self, item: Ingested, inputs: &mut crate::flatten::Inputs) {
        match item {
            Ingested::Accepted { event, business_date, replaces, .. } => {
                self.erasures.observe(&event);
                if let Some(earlier) = replaces {
                    inputs.supersede(&earlier);
                }
                inputs.push(event, business_date);
            }
            Ingested::Dead(letter) => self.dead_letters.push(letter),
            Ingested::Settled(settled) => inputs.restore(settled),
            Ingested::Retried { source, position } => {
                self.dead_letters.retain(|l| (l.source.as_str(), l.position) != (source.as_str(), position));
            }
            Ingested::Known(_) | Ingested::Held { .. } => {}
        }
    }

    /// Restores what the ingest log says was received: the accepted events judged again (in the
    /// same order, so with the same verdicts), the duplicates counted, the dead letters kept.
    fn recover(&mut self, logged: Vec<Entry>, epoch: Epoch, inputs: &mut crate::flatten::Inputs) {
        let entries = logged.len();
        for entry in logged {
            if let Entry::History { row, .. } = entry {
                self.history.restore(*row);
                self.history_changed = true;
                continue;
            }
            if let Some(item) = entry.readmit(&mut self.admission, epoch, &Window::default()) {
                self.feed(item, inputs);
            }
            self.take_released(inputs);
        }
        self.epoch_start = Counts::default();
        self.metrics.count(&self.admission);
        if entries > 0 {
            eprintln!("tillflow: recovered {entries} records from the ingest log");
        }
    }

    /// Applies the epoch's changes and publishes every view as of `epoch`.
    fn publish(
        &mut self,
        epoch: Epoch,
        closed: Instant,
        watermark: &crate::flatten::Watermark,
        captures: &[dataflow::Capture],
    ) {
        let settled = Instant::now();
        let views = self.states.len();
        let mut exceptions = Vec::new();
        for (i, (state, capture)) in self.states.iter_mut().zip(&self.order).enumerate() {
            let mut changes = captures[*capture]();
            if changes.name() == Exception::NAME {
                let typed = changes.into_any().downcast::<Changes<Exception>>().expect("the exceptions' changes");
                exceptions = typed.0.iter().map(|(row, _, diff)| (row.clone(), *diff)).collect();
                changes = typed;
            }
            let dirty = state.apply(changes);
            if dirty != Dirty::Clean {
                self.batches[i] = state.batches();
                self.unpersisted[i].merge(dirty);
            }
        }
        // Without the exceptions view (`--views`), there is nothing to follow.
        if self.states.iter().any(|state| state.name() == Exception::NAME) {
            self.observe_exceptions(&exceptions, epoch);
        }
        let counts = self.admission.counts - std::mem::replace(&mut self.epoch_start, self.admission.counts);
        self.idle = counts.received == 0;
        let erased = self.erase_due();
        let own = |table: usize| views + table;
        if erased
            || counts.dead_lettered > 0
            || std::mem::take(&mut self.letters_changed)
            || self.batches[own(DEAD_LETTERS)].is_empty()
        {
            self.batches[own(DEAD_LETTERS)] = vec![DeadLetter::to_batch(&self.dead_letters)];
            self.unpersisted[own(DEAD_LETTERS)].merge(Dirty::Whole);
        }
        if std::mem::take(&mut self.history_changed) || self.batches[own(EXCEPTION_HISTORY)].is_empty() {
            let rows: Vec<ExceptionHistory> = self.history.rows().cloned().collect();
            self.batches[own(EXCEPTION_HISTORY)] = vec![ExceptionHistory::to_batch(&rows)];
            self.unpersisted[own(EXCEPTION_HISTORY)].merge(Dirty::Whole);
        }
        let attempts = self.deliveries.drain();
        if !attempts.is_empty() || self.batches[own(ALERT_DELIVERIES)].is_empty() {
            self.delivered.extend(attempts);
            let over = self.delivered.len().saturating_sub(DELIVERIES_KEPT);
            self.delivered.drain(..over);
            self.batches[own(ALERT_DELIVERIES)] = vec![AlertDelivery::to_batch(&self.delivered)];
            self.unpersisted[own(ALERT_DELIVERIES)].merge(Dirty::Whole);
        }
        let view_rows: Vec<(&'static str, usize)> = self.states.iter().map(|s| (s.name(), s.rows())).collect();
        let published_at = now_ms() as i64;
        if !self.idle || self.stats.is_empty() {
            let stat = PipelineStat {
                epoch,
                published_at,
                events_in: counts.received,
                accepted: counts.accepted,
                duplicates: counts.duplicates,
                dead_lettered: counts.dead_lettered,
                pending: self.admission.pending() as u64,
                watermark: watermark.at(),
                lag_ms: watermark.latest().map(|l| published_at - l),
                state_rows: view_rows.iter().map(|(_, n)| *n as u64).sum(),
                view_rows: serde_json::to_string(
                    &view_rows.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                )
                .unwrap_or_default(),
                compute_ms: (settled - closed).as_millis() as u64,
                publish_ms: settled.elapsed().as_millis() as u64,
                persist_ms: self.persist_completed(),
            };
            self.stats.push_back(stat);
            while self.stats.len() > self.config.stats_kept {
                self.stats.pop_front();
            }
            let rows: Vec<PipelineStat> = self.stats.iter().cloned().collect();
            self.batches[own(PIPELINE_STATS)] = vec![PipelineStat::to_batch(&rows)];
            self.unpersisted[own(PIPELINE_STATS)] = Dirty::Whole;
        }
        let accesses: Vec<_> = self.access_log.drain().into_iter().map(|entry| (entry, epoch, 1)).collect();
        let changed = self.accesses.apply(Box::new(Changes(accesses)));
        if changed != Dirty::Clean {
            self.batches[own(ACCESS_LOG)] = self.accesses.batches();
            self.unpersisted[own(ACCESS_LOG)].merge(changed);
        }
        self.hub.publish(epoch, self.batches.clone());
        let m = self.metrics;
        m.epoch.store(epoch, Ordering::Relaxed);
        m.compute_ms.store((settled - closed).as_millis() as u64, Ordering::Relaxed);
        m.publish_ms.store(settled.elapsed().as_millis() as u64, Ordering::Relaxed);
        *m.view_rows.lock().unwrap_or_else(|e| e.into_inner()) = view_rows;
        if erased || self.last_persist.elapsed() >= self.config.persist_every {
            self.persist_now(epoch);
        }
    }

    /// Folds the epoch's changes of `exceptions` into their histories, and logs the rows changed
    /// (a restart puts them back rather than recomputing the epochs before it).
    fn observe_exceptions(&mut self, changes: &[(Exception, isize)], epoch: Epoch) {
        let at = (epoch as u128 * self.config.tick.as_millis()) as tillflow_schemas::Millis;
        if let Some(clock) = self.admission.clock() {
            // A day of margin: business days are local, the clock is UTC.
            let kept_from = tillflow_schemas::time::utc_day(clock - self.config.tuning.retention_ms) - 1;
            self.history.forget_before(kept_from);
        }
        let changed = self.history.observe(changes, at);
        if changed.is_empty() {
            return;
        }
        self.history_changed = true;
        let entries: Vec<Entry> = changed.into_iter().map(|row| Entry::History { epoch, row: Box::new(row) }).collect();
        self.log(&entries);
    }

    /// Rids the ingest log, the dead letters and the customer tables of the customers whose
    /// erasure's deadline has passed; whether there were any. The views left them already.
    fn erase_due(&mut self) -> bool {
        let Some(forget) = self.erasures.due(self.admission.clock(), self.config.erasure_deadline_ms) else {
            return false;
        };
        if let Some(journal) = &mut self.journal {
            let pseudonyms = self.admission.pseudonyms().clone();
            match crate::retry("rewriting the ingest log", || journal.rewrite(|e| forget.entry(e, &pseudonyms))) {
                Ok(changed) => tracing::info!("erasure: {changed} entries of the ingest log rewritten"),
                Err(e) => {
                    tracing::error!("cannot rewrite the ingest log for an erasure: {e}; stopping");
                    self.failure = Some(format!(
                        "cannot rewrite the ingest log for an erasure: {e}. Free space or fix permissions, then \
                         start tillflow again, or run `tillflow vacuum --erasures`"
                    ));
                    return false;
                }
            }
        }
        for customer in &forget.customers {
            self.admission.forget(Some(self.admission.pseudonyms().tombstone(customer)));
        }
        let letters = std::mem::take(&mut self.dead_letters);
        self.dead_letters = letters.into_iter().map(|letter| forget.letter(letter)).collect();
        for (i, (name, _)) in self.hub.views().iter().enumerate() {
            if CUSTOMER_TABLES.contains(name) {
                self.unpersisted[i] = Dirty::Rewrite;
            }
        }
        true
    }

    /// Checkpoints the ingest log (see [`crate::journal`]) once days have left the retention
    /// since the last checkpoint and the log has grown past `checkpoint_after` and past the last
    /// checkpoint's size, or once it has [`crate::journal::MAX_SEGMENTS`] segments since the
    /// last (a bucket's log, a segment per append): a restart then reads the checkpoint and the
    /// log's tail only.
    fn checkpoint_if_due(&mut self, inputs: &crate::flatten::Inputs, epoch: Epoch) {
        let Some(journal) = &self.journal else { return };
        let (since, last) = journal.sizes();
        let expired = inputs.retention.expired;
        let shrinks = expired != self.expired_at_checkpoint && since >= self.config.checkpoint_after.max(last);
        if !shrinks && !journal.many_segments() {
            return;
        }
        let entries = self.checkpoint_entries(inputs, epoch);
        let Some(journal) = &mut self.journal else { return };
        match crate::retry("writing a checkpoint of the ingest log", || journal.checkpoint(&entries)) {
            Ok(()) => {
                self.expired_at_checkpoint = expired;
                tracing::info!("checkpoint of the ingest log written: {} entries", entries.len());
            }
            Err(e) => tracing::warn!(
                "cannot write a checkpoint of the ingest log: {e}; the log keeps every segment, and a restart reads them all"
            ),
        }
    }

    /// What a checkpoint holds: the counts of the records it does not, what the days beyond the
    /// retention left, the events within it (erased customers scrubbed) and the dead letters.
    fn checkpoint_entries(&self, inputs: &crate::flatten::Inputs, epoch: Epoch) -> Vec<Entry> {
        let forget = self.erasures.every();
        let accepted = |source: &str, position, epoch, event: &tillflow_schemas::Event| {
            let entry = Entry::Accepted { source: source.to_string(), position, epoch, event: event.to_json() };
            match &forget {
                Some(forget) => forget.entry(entry, self.admission.pseudonyms()),
                None => entry,
            }
        };
        let mut written = Counts::default();
        let mut entries = vec![];
        for kept in inputs.retention.kept() {
            entries.push(accepted(crate::journal::CHECKPOINT, kept.seq, kept.epoch, &kept.event));
            written.received += 1;
            written.accepted += 1;
        }
        // Records waiting for their store's record: judged again on recovery, they wait again
        // (and count then, not now).
        for (source, position, epoch, event) in self.admission.held() {
            entries.push(accepted(source, position, epoch, event));
        }
        for letter in &self.dead_letters {
            entries.push(Entry::DeadLettered(letter.clone()));
            written.received += 1;
            written.dead_lettered += 1;
        }
        entries.extend(self.history.rows().map(|row| Entry::History { epoch, row: Box::new(row.clone()) }));
        let settled = Entry::Settled {
            epoch,
            counts: self.admission.counts - written,
            settled: inputs.retention.settled(),
            tombstones: self.admission.tombstones(),
        };
        entries.insert(0, settled);
        entries
    }

    /// The duration of the persist that completed since the previous stats row, if one did.
    fn persist_completed(&mut self) -> Option<u64> {
        let done =
            self.metrics.persists.load(Ordering::Relaxed) + self.metrics.persist_failures.load(Ordering::Relaxed);
        (std::mem::replace(&mut self.persists_seen, done) != done)
            .then(|| self.metrics.persist_ms.load(Ordering::Relaxed))
    }

    /// Hands the latest snapshot to the persister.
    fn persist_now(&mut self, epoch: Epoch) {
        self.last_persist = Instant::now();
        let tables = self
            .hub
            .views()
            .iter()
            .zip(&self.batches)
            .zip(&mut self.unpersisted)
            .map(|(((name, _), batches), changed)| (*name, batches.clone(), std::mem::take(changed)))
            .collect();
        (self.persist)((epoch, tables));
    }
}
