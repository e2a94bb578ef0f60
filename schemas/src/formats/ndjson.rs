//! Newline-delimited JSON: one record per line. Tolerates a byte-order mark, CRLF endings and blank lines.

use std::io::BufRead;

use super::{Record, Rejected};
use crate::InputError;
use crate::raw::RawEvent;

pub struct Reader<R> {
    input: R,
    line: Vec<u8>,
    position: u64,
    failed: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader { input, line: Vec::with_capacity(4096), position: 0, failed: false }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if self.failed {
                return None;
            }
            self.line.clear();
            match self.input.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    self.position += 1;
                    let rejected = Rejected::new(&self.line, InputError::Io(e.to_string()));
                    return Some(Record::rejected(self.position, rejected));
                }
            }
            self.position += 1;
            let mut bytes: &[u8] = &self.line;
            if self.position == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let bytes = bytes.trim_ascii();
            if bytes.is_empty() {
                continue;
            }
            return Some(Record::new(self.position, bytes, parse_line(bytes)));
        }
    }
}

/// Parses and validates one NDJSON line.
pub fn parse_line(bytes: &[u8]) -> Result<crate::Event, Rejected> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Rejected::new(bytes, InputError::NotUtf8(e.valid_up_to())));
    }
    RawEvent::from_json(bytes).and_then(RawEvent::validate).map_err(|reason| Rejected::new(bytes, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Vec<Record> {
        Reader::new(text).collect()
    }

    #[test]
    fn reads_good_and_reports_bad_lines_by_number() {
        let input = b"\xEF\xBB\xBF{\"type\":\"erasure\",\"event_id\":\"e1\",\"ts\":1,\"customer_id\":\"c\"}\r\n\n{\"type\":\"sale\"\n{\"type\":\"bogus\",\"event_id\":\"x\"}\n";
        let records = read(input);
        assert_eq!(records.len(), 3);
        assert!(records[0].outcome.is_ok());
        assert_eq!(records[1].position, 3);
        let bad = records[1].outcome.as_ref().unwrap_err();
        assert!(matches!(bad.reason, InputError::MalformedJson(_)), "{bad:?}");
        assert_eq!(bad.raw, "{\"type\":\"sale\"");
        let unknown = records[2].outcome.as_ref().unwrap_err();
        assert_eq!(unknown.reason, InputError::UnknownType("bogus".into()));
    }

    #[test]
    fn names_the_field_at_fault() {
        let line = br#"{"type":"sale","event_id":"e","ts":"2026-01-01T00:00:00Z","store_id":"s","transaction_id":"t","register_id":"r","cashier_id":"c","lines":[{"sku":"a","qty":"x","unit_price":1}]}"#;
        let err = parse_line(line).unwrap_err();
        assert!(err.reason.to_string().starts_with("`lines[0].qty`"), "{}", err.reason);
        let zero = br#"{"type":"sale","event_id":"e","ts":"2026-01-01T00:00:00Z","store_id":"s","transaction_id":"t","register_id":"r","cashier_id":"c","lines":[{"sku":"a","qty":0,"unit_price":1}]}"#;
        assert!(parse_line(zero).unwrap_err().reason.to_string().contains("cannot be zero"));
        let negative = br#"{"type":"sale","event_id":"e","ts":"2026-01-01T00:00:00Z","store_id":"s","transaction_id":"t","register_id":"r","cashier_id":"c","lines":[{"sku":"a","qty":1,"unit_price":-1}]}"#;
        assert!(parse_line(negative).unwrap_err().reason.to_string().contains("negative"));
    }

    #[test]
    fn rejects_non_utf8() {
        let err = parse_line(b"{\"type\":\"s\xFF\"}").unwrap_err();
        assert_eq!(err.reason, InputError::NotUtf8(10));
    }
}
