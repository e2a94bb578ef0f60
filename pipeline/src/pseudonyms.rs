//! Pseudonyms at the door: admission replaces every customer identifier (`customer_ref`,
//! `customer_id`) by a keyed pseudonym before the event reaches the views, the ingest log or a
//! dead letter (DESIGN.md, Access, audit and privacy).
//!
//! A pseudonym is `card_` or `cust_` and the first 10 bytes, in hex, of HMAC-SHA-256 over the
//! field's name and the identifier: the same identifier always gets the same pseudonym under one
//! key (so replays agree and joins still join), and without the key it cannot be turned back,
//! nor guessed by hashing candidate ids. The key is 32 random bytes, kept in
//! `<out>/_keys/pseudonyms.key` (made on first start) unless the config or
//! `TILLFLOW_PSEUDONYM_KEY` gives one.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use tillflow_schemas::formats::Customer;
use tillflow_schemas::{Event, Id, InputError, Text};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Where the key is kept under `--out`.
pub const KEY_FILE: &str = "_keys/pseudonyms.key";

/// The environment variable that may hold the key (64 hex digits).
pub const KEY_VARIABLE: &str = "TILLFLOW_PSEUDONYM_KEY";

/// Bytes of the MAC a pseudonym keeps: 80 bits, so two customers of even a very large chain do
/// not share one.
const KEPT: usize = 10;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The keyed pseudonym function. Its `Debug` shows no key.
#[derive(Clone)]
pub struct Pseudonyms {
    mac: HmacSha256,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(<key>)")
    }
}

/// An identifier as received and the pseudonym that replaced it.
pub type Replaced = (String, Text);

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the pseudonym key must be 64 hex digits (32 random bytes); make one with `openssl rand -hex 32`")]
    Malformed,
    #[error("cannot read or make the pseudonym key {path}: {error}; check that folder's permissions and free space")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("--out {0} is not a folder: give the pseudonym key as pseudonym-key in the config or in {KEY_VARIABLE}")]
    NoFolder(String),
}

impl Pseudonyms {
    pub fn new(key: &[u8; 32]) -> Pseudonyms {
        Pseudonyms { mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length") }
    }

    /// A key of fresh random bytes, kept nowhere: for runs that persist nothing (`eval`).
    pub fn random() -> Pseudonyms {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the system's random source");
        Pseudonyms::new(&key)
    }

    /// A fixed, publicly known key: for tests and benchmarks, never for a chain's data.
    pub fn known() -> Pseudonyms {
        Pseudonyms::new(&[7; 32])
    }

    /// The key given in hex (the config's `pseudonym-key`, [`KEY_VARIABLE`]).
    pub fn from_hex(hex: &str) -> Result<Pseudonyms, KeyError> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(KeyError::Malformed);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| KeyError::Malformed)?;
        }
        Ok(Pseudonyms::new(&key))
    }

    /// The key for a run writing to `out`: `configured` (hex) if given, else [`KEY_VARIABLE`],
    /// else the key kept under the folder `out`, made on first start.
    pub fn for_out(out: &str, configured: Option<&str>) -> Result<Pseudonyms, KeyError> {
        if let Some(hex) = configured {
            return Pseudonyms::from_hex(hex);
        }
        if let Ok(hex) = std::env::var(KEY_VARIABLE) {
            return Pseudonyms::from_hex(&hex);
        }
        let root = tillflow_queries::persisted::root_url(out).map_err(|_| KeyError::NoFolder(out.into()))?;
        let folder = root.to_file_path().map_err(|()| KeyError::NoFolder(out.into()))?;
        Pseudonyms::kept_in(&folder)
    }

    /// The key under `folder` ([`KEY_FILE`]), made there with fresh random bytes if absent.
    pub fn kept_in(folder: &Path) -> Result<Pseudonyms, KeyError> {
        let path = folder.join(KEY_FILE);
        let io = |error| KeyError::Io { path: path.clone(), error };
        match std::fs::read_to_string(&path) {
            Ok(hex) => return Pseudonyms::from_hex(&hex),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            Err(_) => {}
        }
        std::fs::create_dir_all(path.parent().expect("a file under a folder")).map_err(io)?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the system's random source");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        // Created only if absent: processes of a cluster starting together agree on one key.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(hex.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
                Ok(Pseudonyms::new(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Pseudonyms::from_hex(&std::fs::read_to_string(&path).map_err(io)?)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The pseudonym of one identifier.
    pub fn of(&self, customer: Customer, raw: &str) -> Text {
        let mut mac = self.mac.clone();
        mac.update(customer.field().as_bytes());
        mac.update(b"\0");
        mac.update(raw.as_bytes());
        let digest = mac.finalize().into_bytes();
        let prefix: &[u8; 5] = match customer {
            Customer::Ref => b"card_",
            Customer::Id => b"cust_",
        };
        let mut text = [0u8; 5 + 2 * KEPT];
        text[..5].copy_from_slice(prefix);
        for (i, byte) in digest[..KEPT].iter().enumerate() {
            text[5 + 2 * i] = HEX[usize::from(byte >> 4)];
            text[6 + 2 * i] = HEX[usize::from(byte & 0xf)];
        }
        Text::new(std::str::from_utf8(&text).expect("ASCII"))
    }

    /// What the ingest log keeps of an erased customer once everything else is gone: a keyed
    /// hash of their pseudonym, enough to recognise them again and no more.
    pub fn tombstone(&self, customer: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"erased\0");
        mac.update(customer.as_bytes());
        mac.finalize().into_bytes()[..KEPT].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Replaces the event's customer identifiers by their pseudonyms; returns what it replaced.
    /// An event of the ingest log (`logged`) holds pseudonyms already and is left as it is,
    /// unless the log was written before tillflow made them.
    pub fn apply(&self, event: &mut Event, logged: bool) -> Result<Vec<Replaced>, InputError> {
        if logged && customers_of(event).all(is_pseudonym) {
            return Ok(Vec::new());
        }
        let mut replaced = Vec::new();
        match event {
            Event::Sale(sale) => {
                if let Some(card) = &mut sale.customer_ref {
                    replaced.push(self.card(card));
                }
            }
            Event::LoyaltyLink(link) => {
                replaced.push(self.card(&mut link.customer_ref));
                replaced.push(self.customer(&mut link.customer_id)?);
            }
            Event::Erasure(erasure) => replaced.push(self.customer(&mut erasure.customer_id)?),
            _ => {}
        }
        Ok(replaced)
    }

    fn card(&self, card: &mut Text) -> Replaced {
        let pseudonym = self.of(Customer::Ref, card);
        (std::mem::replace(card, pseudonym.clone()).into(), pseudonym)
    }

    fn customer(&self, id: &mut Id) -> Result<Replaced, InputError> {
        let pseudonym = self.of(Customer::Id, id.as_str());
        let interned = Id::new(&pseudonym).map_err(|e| InputError::invalid("customer_id", e.to_string()))?;
        Ok((std::mem::replace(id, interned).as_str().to_string(), pseudonym))
    }

    /// The pseudonyms of the identifiers a rejected record showed.
    pub fn of_each(&self, customers: &[(Customer, String)]) -> Vec<Replaced> {
        customers.iter().map(|(customer, raw)| (raw.clone(), self.of(*customer, raw))).collect()
    }
}

/// The customer identifiers an event holds.
fn customers_of(event: &Event) -> impl Iterator<Item = &str> {
    let (card, customer) = match event {
        Event::Sale(sale) => (sale.customer_ref.as_deref(), None),
        Event::LoyaltyLink(link) => (Some(link.customer_ref.as_str()), Some(link.customer_id.as_str())),
        Event::Erasure(erasure) => (None, Some(erasure.customer_id.as_str())),
        _ => (None, None),
    };
    card.into_iter().chain(customer)
}

/// Whether `text` has the form of a pseudonym.
fn is_pseudonym(text: &str) -> bool {
    let digits = text.strip_prefix("card_").or_else(|| text.strip_prefix("cust_"));
    digits.is_some_and(|d| d.len() == 2 * KEPT && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `text` with every whole occurrence of each identifier replaced by its pseudonym: the raw text
/// a dead letter keeps. An occurrence counts when no letter, digit, `_` or `-` touches it, so
/// the identifier `7` does not rewrite `17`.
pub fn scrub(text: &str, replaced: &[Replaced]) -> String {
    let mut text = text.to_string();
    for (raw, pseudonym) in replaced {
        if raw.is_empty() {
            continue;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        let mut before: Option<char> = None;
        while let Some(at) = rest.find(raw.as_str()) {
            let prior = rest[..at].chars().next_back().or(before);
            let after = rest[at + raw.len()..].chars().next();
            let touches = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
            out.push_str(&rest[..at]);
            if touches(prior) || touches(after) {
                out.push_str(raw);
            } else {
                out.push_str(pseudonym);
            }
            before = raw.chars().next_back();
            rest = &rest[at + raw.len()..];
        }
        out.push_str(rest);
        text = out;
    }
    text
}
