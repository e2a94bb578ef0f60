//! CSV in the flat layout: any bytes give records in order, each accepted or rejected with a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillflow_schemas::formats::flat::CsvReader;

fuzz_target!(|data: &[u8]| {
    let mut last = 0;
    for record in CsvReader::new(data) {
        assert!(record.position >= last, "positions never go back");
        last = record.position;
    }
});
