//! `stores`: each store's current record, with its district, region and time zone; the other
//! views read the same records.
#![doc = concat!("\n\nReference (`queries/stores.sql`):\n\n```sql\n", include_str!("../../queries/stores.sql"), "```")]

use differential_dataflow::VecCollection;
use tillflow_schemas::views::StoreRecord;
use tillflow_schemas::{Epoch, Id};

use crate::records::{StoreRec, current};

/// Each store's current record: the greatest (`ts`, `event_id`), a missing one ordering first,
/// then the greater district, time zone, region and name (as text), as the reference orders them.
pub fn current_stores<'s>(stores: VecCollection<'s, Epoch, StoreRec>) -> VecCollection<'s, Epoch, (Id, StoreRec)> {
    current(stores.map(|s| (s.store_id, s)), "current stores", |s: &StoreRec| {
        (s.ts, s.event_id.clone(), s.district.as_str(), s.timezone.as_str(), s.region.as_str(), s.name.clone())
    })
}

/// The `stores` view: the current records as rows.
pub fn stores<'s>(current: VecCollection<'s, Epoch, (Id, StoreRec)>) -> VecCollection<'s, Epoch, StoreRecord> {
    current.map(|(_, s)| StoreRecord {
        store_id: s.store_id,
        name: s.name,
        district: s.district,
        region: s.region,
        timezone: s.timezone,
    })
}

#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("stores");
    }
}
