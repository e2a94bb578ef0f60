//! HTTP request bodies (NDJSON or a JSON array): positions are 1-based and increasing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillflow_schemas::formats;

fuzz_target!(|data: &[u8]| {
    let records = formats::body(data);
    let mut last = 0;
    for record in &records {
        assert!(record.position > last, "positions increase from 1");
        last = record.position;
    }
});
