//! The watermark: the latest event time any feeding process accepted, less the allowed lateness;
//! and each store's local day of it.

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use tillflow_schemas::time::{local_day, parse_tz};
use tillflow_schemas::{Day, Id, Millis};
use timely::progress::Timestamp;

use crate::records::StoreRec;

/// The one current watermark instant, from each feeding process's latest accepted event time
/// (keyed by process).
pub fn watermark<'s, T>(
    latest: VecCollection<'s, T, (u32, Millis)>,
    lateness: Millis,
) -> VecCollection<'s, T, ((), Millis)>
where
    T: Timestamp + Lattice + Ord,
{
    latest.map(|(_, ts)| ((), ts)).reduce_named("watermark", move |_, times, out| {
        if let Some((latest, _)) = times.last() {
            out.push((**latest - lateness, 1));
        }
    })
}

/// Each store's local day of the watermark, in its current time zone.
pub fn store_days<'s, T>(
    stores: VecCollection<'s, T, (Id, StoreRec)>,
    watermark: VecCollection<'s, T, ((), Millis)>,
) -> VecCollection<'s, T, (Id, Day)>
where
    T: Timestamp + Lattice + Ord,
{
    stores.map(|(store, record)| ((), (store, record.timezone))).join_map(watermark, |(), (store, zone), at| {
        (store.clone(), local_day(*at, parse_tz(zone).unwrap_or(chrono_tz::UTC)))
    })
}
