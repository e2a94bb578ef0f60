//! Parquet records: any bytes either fail as a whole with a reason or give records in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillflow_schemas::formats::parquet;

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = parquet::read(bytes::Bytes::copy_from_slice(data)) {
        let mut last = 0;
        for record in rows {
            assert!(record.position >= last, "positions never go back");
            last = record.position;
        }
    }
});
