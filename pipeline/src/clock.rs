//! Time as admission and the watermark see it: each store's latest event time, the chain's clock
//! that one wrong store cannot drag, and the wall clock (injected, so tests control it).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use tillflow_schemas::{Id, Millis};

/// The wall clock, in milliseconds since the Unix epoch.
pub type WallClock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The machine's clock.
pub fn system_clock() -> WallClock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
    })
}

/// The latest event time of each store, and the chain's clock: the **second** latest of them
/// (the latest while only one store has events). A store whose clock runs ahead (a register set
/// to the wrong year, a replayed file from tomorrow) moves its own latest time only; the chain's
/// time, and so the watermark, retention and every trailing window, stay where the other stores are.
#[derive(Clone, Debug, Default)]
pub struct StoreClocks {
    latest: FxHashMap<Id, Millis>,
    /// The two latest stores, latest first.
    top: [Option<(Millis, Id)>; 2],
}

impl StoreClocks {
    /// Notes an event of `store` at `ts`; whether that store's latest time moved.
    pub fn observe(&mut self, store: &Id, ts: Millis) -> bool {
        match self.latest.get_mut(store) {
            Some(latest) if *latest >= ts => return false,
            Some(latest) => *latest = ts,
            None => {
                self.latest.insert(*store, ts);
            }
        }
        let [first, second] = &mut self.top;
        let is = |slot: &Option<(Millis, Id)>| slot.as_ref().is_some_and(|(_, s)| s == store);
        if is(first) {
            *first = Some((ts, *store));
        } else if first.as_ref().is_none_or(|(t, _)| ts > *t) {
            // A new latest store; the old one becomes second, unless the mover was second already.
            *second = first.take();
            *first = Some((ts, *store));
        } else if is(second) || second.as_ref().is_none_or(|(t, _)| ts > *t) {
            *second = Some((ts, *store));
        }
        true
    }

    /// The chain's clock: the second latest store time, or the only one.
    pub fn chain(&self) -> Option<Millis> {
        let [first, second] = &self.top;
        second.as_ref().or(first.as_ref()).map(|(t, _)| *t)
    }

    /// Every store's latest time.
    pub fn stores(&self) -> impl Iterator<Item = (&Id, Millis)> {
        self.latest.iter().map(|(store, ts)| (store, *ts))
    }
}
