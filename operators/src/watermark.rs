//! The watermark: the chain's clock (the second latest of the stores' latest event times, the
//! latest while only one store has events, so one store whose clock runs ahead cannot move time
//! for all) less the allowed lateness; and each store's local day of it.

use differential_dataflow::VecCollection;
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::records::StoreRec;

/// The one current watermark instant, from each store's latest event time (keyed by store).
pub fn watermark<'s>(
    latest: VecCollection<'s, Epoch, (Id, Millis)>,
    lateness: Millis,
) -> VecCollection<'s, Epoch, ((), Millis)> {
    latest.map(|(_, ts)| ((), ts)).reduce_named("watermark", move |_, times, out| {
        // Times arrive sorted, each with the number of stores at it: the second latest store's.
        let mut stores = times.iter().rev().flat_map(|(ts, count)| std::iter::repeat_n(**ts, (*count).max(0) as usize));
        let latest = stores.next();
        if let Some(chain) = stores.next().or(latest) {
            out.push((chain - lateness, 1));
        }
    })
}

/// The (store, day)s of each store's trailing window of `days` business days ending on its
/// watermark day, as keys: a new day brings one key in and takes one out.
pub fn trailing_days<'s>(
    today: VecCollection<'s, Epoch, (Id, Day)>,
    days: Day,
) -> VecCollection<'s, Epoch, ((Id, Day), ())> {
    today.flat_map(move |(store, as_of)| (0..days).map(move |back| ((store, as_of - back), ())))
}

/// Each store's local day of the watermark, in its current time zone.
pub fn store_days<'s>(
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
    watermark: VecCollection<'s, Epoch, ((), Millis)>,
) -> VecCollection<'s, Epoch, (Id, Day)> {
    stores
        .map(|(store, record)| ((), (store, record)))
        .join_map(watermark, |(), (store, record), at| (*store, record.day_of(*at)))
}
