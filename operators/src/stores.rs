//! The current record of each store: its district and time zone.

use differential_dataflow::VecCollection;
use tillflow_schemas::{Epoch, Id};

use crate::records::{StoreRec, greatest};

/// Each store's current record: the greatest (`ts`, `event_id`), a missing one ordering first,
/// then the greater district and time zone (as text), as the reference orders them.
pub fn current_stores<'s>(stores: VecCollection<'s, Epoch, StoreRec>) -> VecCollection<'s, Epoch, (Id, StoreRec)> {
    stores.map(|s| (s.store_id, s)).reduce_named("current stores", |_store, records, out| {
        let latest = greatest(records, |s| (s.ts, s.event_id.clone(), s.district.as_str(), s.timezone.as_str()));
        if let Some(record) = latest {
            out.push((record.clone(), 1));
        }
    })
}
