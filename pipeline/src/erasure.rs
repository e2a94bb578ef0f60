//! Erasure that reaches every persisted byte (DESIGN.md, Access, audit and privacy).
//!
//! An `erasure` event takes a customer out of every view at once (the dataflow's business). What
//! tillflow wrote before stays on disk until the erasure's deadline (`erasure-deadline`, 48 h of
//! event time by default) or `tillflow vacuum --erasures`; then:
//!
//! - the ingest log is rewritten: the customer's links and erasures become [`Entry::Erased`]
//!   (counted as accepted, holding nothing of theirs but the erasure's tombstone), their cards
//!   are cut from the sales that carried them (the sale itself stays: its money is the chain's),
//!   and their identifiers in dead letters' text become `<erased>`;
//! - the tables that can hold a customer identifier ([`CUSTOMER_TABLES`]) are written anew as
//!   one version, so no older version, file or log statistic of them keeps the customer.
//!
//! A card counts as the erased customer's when a link tied it to them; a card later linked to
//! someone else loses, in the log, its sales of before and after alike.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use serde_json::Value;
use tillflow_queries::persisted::root_url;
use tillflow_schemas::raw::RawEvent;
use tillflow_schemas::views::{CustomerSegment, DeadLetter, ViewRow};
use tillflow_schemas::{Event, Millis, Text};

use crate::journal::{self, Entry};
use crate::persist::{Dirty, write_table};
use crate::pseudonyms::{Pseudonyms, scrub};
use crate::source::ERASED;
use crate::{Error, Result};

/// Tables whose rows may name a customer: rewritten whole when one is erased.
pub const CUSTOMER_TABLES: [&str; 2] = [CustomerSegment::NAME, DeadLetter::NAME];

/// The default deadline: 48 hours of event time after the erasure.
pub const DEADLINE_MS: Millis = 48 * tillflow_schemas::time::MILLIS_PER_HOUR;

/// What admission accepted that an erasure needs: each customer's cards, and the erasures whose
/// deadline has not passed.
#[derive(Debug, Default)]
pub struct Erasures {
    cards: HashMap<Text, HashSet<Text>>,
    /// Customers to forget, with the event time of their erasure.
    pending: Vec<(Text, Millis)>,
    /// The customers (and cards) forgotten so far.
    forgotten: Forget,
}

impl Erasures {
    /// Notes an accepted event (its identifiers pseudonyms already).
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::LoyaltyLink(link) => {
                let customer = Text::new(link.customer_id.as_str());
                self.cards.entry(customer).or_default().insert(link.customer_ref.clone());
            }
            Event::Erasure(erasure) => self.pending.push((Text::new(erasure.customer_id.as_str()), erasure.ts)),
            _ => {}
        }
    }

    /// The customers whose erasure is `deadline_ms` or more behind the chain's `clock`, taken
    /// out of the pending ones.
    pub fn due(&mut self, clock: Option<Millis>, deadline_ms: Millis) -> Option<Forget> {
        let clock = clock?;
        let (due, pending) = self.pending.drain(..).partition(|(_, ts)| clock - ts >= deadline_ms);
        self.pending = pending;
        self.forget(due)
    }

    /// Every pending erasure, whatever its deadline (`tillflow vacuum --erasures`).
    pub fn all(&mut self) -> Option<Forget> {
        let due = std::mem::take(&mut self.pending);
        self.forget(due)
    }

    fn forget(&mut self, due: Vec<(Text, Millis)>) -> Option<Forget> {
        if due.is_empty() {
            return None;
        }
        let mut forget = Forget::default();
        for (customer, _) in due {
            forget.cards.extend(self.cards.remove(&customer).unwrap_or_default());
            forget.customers.insert(customer);
        }
        self.forgotten.customers.extend(forget.customers.iter().cloned());
        self.forgotten.cards.extend(forget.cards.iter().cloned());
        Some(forget)
    }

    /// Every customer forgotten or waiting to be, with their cards: what a checkpoint of the
    /// ingest log must not hold.
    pub fn every(&self) -> Option<Forget> {
        let mut every = self.forgotten.clone();
        for (customer, _) in &self.pending {
            every.cards.extend(self.cards.get(customer).into_iter().flatten().cloned());
            every.customers.insert(customer.clone());
        }
        (!every.customers.is_empty()).then_some(every)
    }
}

/// The customers (and their cards) to take out of everything persisted, by pseudonym.
#[derive(Clone, Debug, Default)]
pub struct Forget {
    pub customers: HashSet<Text>,
    pub cards: HashSet<Text>,
}

impl Forget {
    /// `text` with each of the customers' identifiers replaced by `<erased>`.
    pub fn scrub(&self, text: &str) -> String {
        let gone: Vec<_> =
            self.customers.iter().chain(&self.cards).map(|id| (id.to_string(), Text::new(ERASED))).collect();
        scrub(text, &gone)
    }

    /// A dead letter as it is kept once the customers are forgotten.
    pub fn letter(&self, mut letter: DeadLetter) -> DeadLetter {
        letter.raw = self.scrub(&letter.raw);
        letter
    }

    /// An entry of the ingest log as it is kept once the customers are forgotten.
    pub fn entry(&self, entry: Entry, pseudonyms: &Pseudonyms) -> Entry {
        match entry {
            Entry::Accepted { source, position, epoch, event } => {
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&event) else {
                    return Entry::Accepted { source, position, epoch, event };
                };
                let named = |field: &str, among: &HashSet<Text>| {
                    fields.get(field).and_then(Value::as_str).is_some_and(|id| among.contains(id))
                };
                let (customer, card) = (named("customer_id", &self.customers), named("customer_ref", &self.cards));
                match fields.get("type").and_then(Value::as_str) {
                    Some("erasure") if customer => {
                        let id = fields["customer_id"].as_str().unwrap_or_default();
                        Entry::Erased { source, position, epoch, tombstone: Some(pseudonyms.tombstone(id)) }
                    }
                    Some("loyalty_link") if customer => Entry::Erased { source, position, epoch, tombstone: None },
                    _ if card => {
                        fields.remove("customer_ref");
                        Entry::Accepted { source, position, epoch, event: Value::Object(fields).to_string() }
                    }
                    _ => Entry::Accepted { source, position, epoch, event },
                }
            }
            Entry::DeadLettered(letter) => Entry::DeadLettered(self.letter(letter)),
            other => other,
        }
    }
}

/// What `tillflow vacuum --erasures` did.
#[derive(Debug, Default)]
pub struct Vacuumed {
    pub customers: usize,
    pub log_entries: usize,
    pub tables: Vec<&'static str>,
}

impl std::fmt::Display for Vacuumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.customers == 0 {
            return write!(f, "no erasure waiting: nothing persisted names an erased customer");
        }
        write!(
            f,
            "erased {} customer(s): {} entries of the ingest log rewritten; tables written anew: {}",
            self.customers,
            self.log_entries,
            self.tables.join(", ")
        )
    }
}

/// Every erasure the ingest log under `out` holds, carried out now: the log rewritten and the
/// customer tables written anew without the customers. For a stopped run (a live run does this
/// itself at each erasure's deadline).
pub fn vacuum_erasures(out: &str, pseudonyms: &Pseudonyms, runtime: &tokio::runtime::Runtime) -> Result<Vacuumed> {
    let root = root_url(out)?;
    let log = journal::Place::under(&root, crate::serve::INGEST_LOG, runtime.handle())
        .map_err(|source| Error::OpenIngestLog { at: root.to_string(), source })?;
    let unreadable = |log: &journal::Place| {
        let at = log.to_string();
        move |error| Error::ReadIngestLog { at, error }
    };
    let log = match log {
        Some(log) if log.exists().map_err(unreadable(&log))? => Some(log),
        _ => None,
    };
    let mut erasures = Erasures::default();
    let entries = match &log {
        Some(log) => journal::read(log).map_err(unreadable(log))?,
        None => Vec::new(),
    };
    for entry in &entries {
        if let Entry::Accepted { event, .. } = entry
            && let Ok(event) = RawEvent::from_json(event.as_bytes()).and_then(RawEvent::validate)
        {
            erasures.observe(&event);
        }
    }
    let Some(forget) = erasures.all() else { return Ok(Vacuumed::default()) };
    let log_entries = match &log {
        Some(log) => journal::rewrite(log, |e| forget.entry(e, pseudonyms)).map_err(unreadable(log))?,
        None => 0,
    };
    let mut tables = Vec::new();
    for name in CUSTOMER_TABLES {
        match runtime.block_on(rewrite_table(&root, name, &forget)) {
            Ok(()) => tables.push(name),
            Err(Error::Queries(e)) if matches!(*e, tillflow_queries::Error::NothingPersisted(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Vacuumed { customers: forget.customers.len(), log_entries, tables })
}

/// Writes table `name` anew (one version, nothing older) from its current rows without the
/// forgotten customers.
async fn rewrite_table(root: &url::Url, name: &'static str, forget: &Forget) -> Result<()> {
    let (ctx, _) = tillflow_queries::persisted::session(root, &[name]).await?;
    let batches = ctx.sql(&format!("SELECT * FROM {name}")).await?.collect().await?;
    let (schema, partition) = match name {
        CustomerSegment::NAME => (CustomerSegment::schema(), CustomerSegment::PARTITION),
        _ => (DeadLetter::schema(), DeadLetter::PARTITION),
    };
    let mut kept = Vec::new();
    for batch in batches {
        // The view's own column order and types, whatever the reader returned.
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let column = batch
                    .column_by_name(field.name())
                    .ok_or_else(|| Error::Input(format!("{name} has no {}", field.name())))?;
                Ok(arrow::compute::cast(column, field.data_type())?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut batch = RecordBatch::try_new(schema.clone(), columns)?;
        let text =
            |column: &str| batch.column_by_name(column).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
        if let Some(customers) = text("customer_id") {
            let keep: BooleanArray =
                customers.iter().map(|c| Some(!c.is_some_and(|c| forget.customers.contains(c)))).collect();
            batch = arrow::compute::filter_record_batch(&batch, &keep)?;
        } else if let Some(raw) = text("raw") {
            let scrubbed: StringArray = raw.iter().map(|r| r.map(|r| forget.scrub(r))).collect();
            let at = batch.schema().index_of("raw")?;
            let mut columns = batch.columns().to_vec();
            columns[at] = std::sync::Arc::new(scrubbed);
            batch = RecordBatch::try_new(schema.clone(), columns)?;
        }
        kept.push(batch);
    }
    let batch = arrow::compute::concat_batches(&schema, &kept)?;
    write_table(root, name, partition, batch, None, &Dirty::Rewrite).await
}
