//! Readers for the three input formats, and for HTTP request bodies. Each yields one [`Record`] per input record, in order,
//! with its position, so a bad record can be reported precisely and the rest read on.

pub mod flat;
pub mod ndjson;
pub mod parquet;

use std::path::Path;

use crate::{Event, InputError};

/// The outcome of reading one input record.
#[derive(Debug)]
pub struct Record {
    /// 1-based line number (NDJSON, CSV: the record's first data line) or row number (Parquet).
    pub position: u64,
    pub outcome: Result<Event, Rejected>,
    /// The text of a record that parsed, as received (cut like [`Rejected::raw`]): a rule that
    /// admission applies later dead-letters it with this text. Empty for a rejected record, whose
    /// text is in its [`Rejected`].
    pub raw: String,
}

impl Record {
    /// A record read at `position` from the text `raw`.
    pub fn new(position: u64, raw: &[u8], outcome: Result<Event, Rejected>) -> Record {
        let raw = if outcome.is_ok() { clip(raw) } else { String::new() };
        Record { position, outcome, raw }
    }

    /// A record that could not be read.
    pub fn rejected(position: u64, rejected: Rejected) -> Record {
        Record { position, outcome: Err(rejected), raw: String::new() }
    }
}

/// A record that was not accepted: its raw text (cut to [`RAW_LIMIT`] bytes) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub raw: String,
    pub reason: InputError,
    /// The customer identifiers `raw` shows, for admission to replace by their pseudonyms before
    /// the text is kept anywhere.
    pub customers: Vec<(Customer, String)>,
}

/// The two fields that identify a customer (DESIGN.md, Access, audit and privacy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Customer {
    /// `customer_ref`: a loyalty card.
    Ref,
    /// `customer_id`: the customer behind the cards.
    Id,
}

impl Customer {
    pub const FIELDS: [(&'static str, Customer); 2] = [("customer_ref", Customer::Ref), ("customer_id", Customer::Id)];

    pub fn field(self) -> &'static str {
        match self {
            Customer::Ref => "customer_ref",
            Customer::Id => "customer_id",
        }
    }
}

/// The customer identifiers a text shows as `"customer_ref": "…"`, `customer_id=…` and the
/// like: what a record that did not parse may still hold (JSON, form fields, key=value text).
pub fn customers_in(raw: &str) -> Vec<(Customer, String)> {
    let mut found = Vec::new();
    for (name, customer) in Customer::FIELDS {
        for (at, _) in raw.match_indices(name) {
            let rest = raw[at + name.len()..].trim_start_matches('"').trim_start();
            let Some(rest) = rest.strip_prefix([':', '=']) else { continue };
            let rest = rest.trim_start();
            let value = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or_default(),
                None => rest.split([',', '}', '&', ';', ' ', '\n', '\r', '\t']).next().unwrap_or_default(),
            };
            if !value.is_empty() && value != "null" {
                found.push((customer, value.to_string()));
            }
        }
    }
    found
}

/// Dead letters keep at most this much of a record's raw text.
pub const RAW_LIMIT: usize = 4096;

impl Rejected {
    pub fn new(raw: &[u8], reason: InputError) -> Self {
        let raw = clip(raw);
        Rejected { customers: customers_in(&raw), raw, reason }
    }
}

/// The raw text as UTF-8 (invalid bytes replaced), cut to [`RAW_LIMIT`] bytes with a note of the full size.
pub fn clip(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => clip_text(text),
        Err(_) if raw.len() <= RAW_LIMIT => String::from_utf8_lossy(raw).into_owned(),
        Err(_) => {
            let mut text = String::from_utf8_lossy(&raw[..RAW_LIMIT]).into_owned();
            text.push_str(&format!("… ({} bytes in all)", raw.len()));
            text
        }
    }
}

/// [`clip`] for text already known to be UTF-8: cut at a character boundary.
pub fn clip_text(text: &str) -> String {
    if text.len() <= RAW_LIMIT {
        return text.to_owned();
    }
    let cut = (0..=RAW_LIMIT).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Ndjson,
    Csv,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// The format of a file, from its extension; `None` for files that are not input.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// Reads a whole file of the given format. Fails only if the file cannot be opened at all (or,
/// for Parquet, its footer cannot be read); everything else is reported per record.
pub fn read_file(path: &Path, format: Format) -> Result<Box<dyn Iterator<Item = Record>>, InputError> {
    let file = std::fs::File::open(path).map_err(|e| InputError::Io(format!("{}: {e}", path.display())))?;
    Ok(match format {
        Format::Ndjson => Box::new(ndjson::Reader::new(std::io::BufReader::with_capacity(1 << 20, file))),
        Format::Csv => Box::new(flat::CsvReader::new(file)),
        Format::Parquet => Box::new(parquet::read(file)?),
    })
}

/// The records of a request body: a JSON array of events, or NDJSON.
pub fn body(body: &[u8]) -> Vec<Record> {
    let trimmed = body.trim_ascii_start();
    let trimmed = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed).trim_ascii_start();
    if !trimmed.starts_with(b"[") {
        return ndjson::Reader::new(body).collect();
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(trimmed) {
        Ok(items) => items
            .iter()
            .zip(1..)
            .map(|(item, position)| {
                // An array element's own text is not kept by the JSON parser: its compact form stands in.
                let line = serde_json::to_vec(item).unwrap_or_default();
                Record::new(position, &line, ndjson::parse_line(&line))
            })
            .collect(),
        Err(e) => {
            let rejected =
                Rejected::new(body, InputError::MalformedJson(format!("the JSON array does not parse: {e}")));
            vec![Record::rejected(1, rejected)]
        }
    }
}
