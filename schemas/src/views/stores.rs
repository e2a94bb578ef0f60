use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Id, Text};

/// `stores`: each store's current record (the latest by `ts`, then `event_id`), so that analysts
/// join views to districts and regions, and scopes resolve a district or region to its stores.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreRecord {
    pub store_id: Id,
    pub name: Text,
    pub district: Id,
    pub region: Id,
    pub timezone: Id,
}

impl ViewRow for StoreRecord {
    const NAME: &'static str = "stores";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("name", |r| &r.name)
            .text("district", |r| &r.district)
            .text("region", |r| &r.region)
            .text("timezone", |r| &r.timezone);
    }
}
