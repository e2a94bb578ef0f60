//! The flat layout shared by CSV and Parquet: one row per line item, the event's own fields
//! repeated on each of its rows. Consecutive rows with the same `type` and `event_id` form one
//! record; `tenders` is one cell, `kind:amount` pairs joined by `|` (e.g. `card:12.50|cash:3.00`).
//! Line fields carry a `line_` prefix. The column list is [`COLUMNS`]; see docs/formats.md.

use serde_json::{Map, Value};

use super::{Customer, Record, Rejected};
use crate::InputError;
use crate::raw::RawEvent;

/// Every column of the flat layout, in order. A file may hold any subset, in any order.
pub const COLUMNS: &[&str] = &[
    "type",
    "event_id",
    "ts",
    "store_id",
    "transaction_id",
    "register_id",
    "cashier_id",
    "customer_ref",
    "refund_id",
    "original_transaction_id",
    "tender_kind",
    "reason",
    "scope",
    "customer_id",
    "consent",
    "sku",
    "kind",
    "qty",
    "unit_cost",
    "staff_id",
    "role",
    "name",
    "category",
    "department",
    "list_price",
    "supplier",
    "lead_time_days",
    "case_pack",
    "district",
    "region",
    "timezone",
    "promo_id",
    "start",
    "end",
    "discount_pct",
    "revision",
    "exception_id",
    "action",
    "user",
    "note",
    "assignee",
    "tenders",
    LINE_NO,
    "line_sku",
    "line_qty",
    "line_unit_price",
    "line_discount",
    "line_promo_id",
    "line_amount",
];

const LINE_NO: &str = "line_no";
const LINE_PREFIX: &str = "line_";

/// One event as flat rows of cells (empty string = absent), in [`COLUMNS`] order.
pub fn to_rows(raw: &RawEvent) -> Vec<Vec<String>> {
    let Ok(Value::Object(fields)) = serde_json::to_value(raw) else {
        return Vec::new();
    };
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut head: Vec<String> = COLUMNS.iter().map(|c| fields.get(*c).map(cell).unwrap_or_default()).collect();
    if let Some(Value::Array(tenders)) = fields.get("tenders") {
        let joined: Vec<String> = tenders
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    t.get("kind").map(cell).unwrap_or_default(),
                    t.get("amount").map(cell).unwrap_or_default()
                )
            })
            .collect();
        head[column("tenders")] = joined.join("|");
    }
    let Some(Value::Array(lines)) = fields.get("lines") else {
        return vec![head];
    };
    lines
        .iter()
        .map(|line| {
            let mut row = head.clone();
            for (i, name) in COLUMNS.iter().enumerate() {
                if let Some(field) = line_field(name) {
                    row[i] = line.get(field).map(cell).unwrap_or_default();
                }
            }
            row
        })
        .collect()
}

fn column(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).expect("a flat column")
}

/// The line field a flat column holds, if it is a line column.
fn line_field(column: &str) -> Option<&str> {
    if column == LINE_NO { Some(LINE_NO) } else { column.strip_prefix(LINE_PREFIX) }
}

/// Groups flat rows into records. Rows come as (position, raw text, cells by header).
pub struct Grouper {
    header: Vec<String>,
    pending: Option<Pending>,
}

struct Pending {
    position: u64,
    raw: String,
    key: (String, String),
    event: Map<String, Value>,
    lines: Vec<Value>,
    error: Option<InputError>,
}

impl Grouper {
    pub fn new(header: Vec<String>) -> Result<Self, InputError> {
        if !header.iter().any(|h| h == "type") {
            return Err(InputError::MissingColumn("type".into()));
        }
        Ok(Grouper { header, pending: None })
    }

    /// Adds one row; returns the record it completed, if any.
    pub fn push(&mut self, position: u64, raw: &str, cells: &[Option<&str>]) -> Option<Record> {
        let mut event = Map::new();
        let mut line = Map::new();
        let mut error = None;
        for (name, cell) in self.header.iter().zip(cells) {
            let Some(cell) = cell.map(str::trim).filter(|c| !c.is_empty()) else { continue };
            if let Some(field) = line_field(name) {
                line.insert(field.to_string(), Value::String(cell.to_string()));
            } else if name == "tenders" {
                match parse_tenders(cell) {
                    Ok(tenders) => {
                        event.insert(name.clone(), tenders);
                    }
                    Err(e) => error = Some(e),
                }
            } else if COLUMNS.contains(&name.as_str()) {
                event.insert(name.clone(), Value::String(cell.to_string()));
            }
        }
        let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let key = (text("type"), text("event_id"));
        let continues = !key.1.is_empty() && self.pending.as_ref().is_some_and(|p| p.key == key);
        if continues {
            let pending = self.pending.as_mut().expect("checked above");
            pending.raw.push('\n');
            pending.raw.push_str(raw);
            if !line.is_empty() {
                pending.lines.push(Value::Object(line));
            }
            if pending.error.is_none() {
                pending.error = error;
            }
            return None;
        }
        let done = self.pending.take().map(Pending::finish);
        self.pending = Some(Pending {
            position,
            raw: raw.to_string(),
            key,
            event,
            lines: if line.is_empty() { Vec::new() } else { vec![Value::Object(line)] },
            error,
        });
        done
    }

    /// The last record, once the input is exhausted.
    pub fn finish(&mut self) -> Option<Record> {
        self.pending.take().map(Pending::finish)
    }
}

impl Pending {
    fn finish(mut self) -> Record {
        // A row's text has no field names: the cells under the customer columns say what it holds.
        let customers: Vec<(Customer, String)> = Customer::FIELDS
            .into_iter()
            .filter_map(|(name, customer)| Some((customer, self.event.get(name)?.as_str()?.to_string())))
            .collect();
        let outcome = match self.error {
            Some(e) => Err(e),
            None => {
                if !self.lines.is_empty() {
                    self.event.insert("lines".into(), Value::Array(self.lines));
                }
                RawEvent::from_value(Value::Object(self.event)).and_then(RawEvent::validate)
            }
        };
        let outcome = outcome.map_err(|reason| {
            let mut rejected = Rejected::new(self.raw.as_bytes(), reason);
            rejected.customers.extend(customers);
            rejected
        });
        Record::new(self.position, self.raw.as_bytes(), outcome)
    }
}

fn parse_tenders(cell: &str) -> Result<Value, InputError> {
    let mut tenders = Vec::new();
    for part in cell.split('|').filter(|p| !p.trim().is_empty()) {
        let (kind, amount) = part
            .split_once(':')
            .ok_or_else(|| InputError::invalid("tenders", format!("`{part}` is not kind:amount")))?;
        let mut tender = Map::new();
        tender.insert("kind".into(), Value::String(kind.trim().to_string()));
        tender.insert("amount".into(), Value::String(amount.trim().to_string()));
        tenders.push(Value::Object(tender));
    }
    Ok(Value::Array(tenders))
}

/// CSV in the flat layout, with a header row.
pub struct CsvReader<R: std::io::Read> {
    reader: csv::Reader<R>,
    grouper: Option<Grouper>,
    record: csv::ByteRecord,
    header_error: Option<InputError>,
    /// A bad row waiting while the record before it is handed out first.
    queued: Option<Record>,
    done: bool,
}

impl<R: std::io::Read> CsvReader<R> {
    pub fn new(input: R) -> Self {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let (grouper, header_error) = match reader.headers() {
            Ok(h) => {
                let header = h.iter().map(|c| c.trim_start_matches('\u{feff}').trim().to_string()).collect();
                match Grouper::new(header) {
                    Ok(g) => (Some(g), None),
                    Err(e) => (None, Some(e)),
                }
            }
            Err(e) => (None, Some(InputError::MalformedCsv(e.to_string()))),
        };
        CsvReader { reader, grouper, record: csv::ByteRecord::new(), header_error, queued: None, done: false }
    }
}

impl<R: std::io::Read> Iterator for CsvReader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if let Some(reason) = self.header_error.take() {
            self.done = true;
            // An empty file has no header and nothing to report.
            if matches!(&reason, InputError::MissingColumn(_))
                && self.reader.byte_headers().map(|h| h.is_empty()).unwrap_or(false)
            {
                return None;
            }
            return Some(Record::rejected(1, Rejected::new(b"", reason)));
        }
        if let Some(record) = self.queued.take() {
            return Some(record);
        }
        loop {
            if self.done {
                return None;
            }
            let grouper = self.grouper.as_mut()?;
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return grouper.finish();
                }
                Err(e) => {
                    let position = e.position().map_or(0, |p| p.line());
                    if e.is_io_error() {
                        self.done = true;
                    }
                    let bad = Record::rejected(position, Rejected::new(b"", InputError::MalformedCsv(e.to_string())));
                    return Some(in_order(grouper, bad, &mut self.queued));
                }
            }
            let position = self.record.position().map_or(0, |p| p.line());
            let raw: Vec<u8> = self.record.iter().collect::<Vec<_>>().join(&b","[..]);
            let width = grouper.header.len();
            if self.record.len() != width {
                let reason = InputError::MalformedCsv(format!(
                    "the row has {} fields, the header has {width}",
                    self.record.len()
                ));
                let bad = Record::rejected(position, Rejected::new(&raw, reason));
                return Some(in_order(grouper, bad, &mut self.queued));
            }
            let cells: Result<Vec<Option<&str>>, usize> =
                self.record.iter().map(|c| std::str::from_utf8(c).map(Some).map_err(|e| e.valid_up_to())).collect();
            let cells = match cells {
                Ok(cells) => cells,
                Err(at) => {
                    let bad = Record::rejected(position, Rejected::new(&raw, InputError::NotUtf8(at)));
                    return Some(in_order(grouper, bad, &mut self.queued));
                }
            };
            let raw = String::from_utf8_lossy(&raw).into_owned();
            if let Some(record) = grouper.push(position, &raw, &cells) {
                return Some(record);
            }
        }
    }
}

/// Hands out the record still being grouped before a bad row that follows it.
fn in_order(grouper: &mut Grouper, bad: Record, queued: &mut Option<Record>) -> Record {
    match grouper.finish() {
        Some(earlier) => {
            *queued = Some(bad);
            earlier
        }
        None => bad,
    }
}

/// Writes events as flat CSV with the full header.
pub fn csv_writer<W: std::io::Write>(out: W) -> csv::Result<csv::Writer<W>> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(COLUMNS)?;
    Ok(writer)
}
