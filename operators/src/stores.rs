//! The current record of each store: its district and time zone.

use differential_dataflow::VecCollection;
use tillflow_schemas::Epoch;
use tillflow_schemas::Id;

use crate::records::StoreRec;

/// Each store's current record: the greatest (`ts`, `event_id`), a missing one ordering first.
pub fn current_stores<'s>(stores: VecCollection<'s, Epoch, StoreRec>) -> VecCollection<'s, Epoch, (Id, StoreRec)> {
    stores
        .map(|s| (s.store_id.clone(), ((s.ts, s.event_id.clone(), s.district.clone(), s.timezone.clone()), s)))
        .reduce_named("current stores", |_store, records, out| {
            if let Some(((_, record), _)) = records.iter().rev().find(|(_, n)| *n > 0) {
                out.push((record.clone(), 1));
            }
        })
}
