//! NDJSON: any bytes give records in line order, and an accepted event written back as JSON
//! reads as the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillflow_schemas::formats::ndjson;

fuzz_target!(|data: &[u8]| {
    let mut last = 0;
    for record in ndjson::Reader::new(data) {
        assert!(record.position > last, "positions increase");
        last = record.position;
        if let Ok(event) = record.outcome {
            let again = ndjson::parse_line(event.to_json().as_bytes()).expect("an accepted event's JSON reads back");
            assert_eq!(again, event);
        }
    }
});
