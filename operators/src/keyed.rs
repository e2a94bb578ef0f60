//! Arrangements shared by several operators, and what is read off them.

use differential_dataflow::difference::Semigroup;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{KeyBuilder, KeySpine, ValSpine};
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use tillflow_schemas::Epoch;

/// A collection of `(K, V)` arranged by `K`, once, for every operator that reads it.
pub type ByKey<'s, K, V, R = isize> = Arranged<'s, TraceAgent<ValSpine<K, V, Epoch, R>>>;

/// The keys of `arranged` that hold any value, once each, whatever the values' differences are.
pub fn keys<'s, K, V, R>(arranged: ByKey<'s, K, V, R>, name: &str) -> VecCollection<'s, Epoch, K>
where
    K: ExchangeData + Hashable,
    V: ExchangeData,
    R: ExchangeData + Semigroup,
{
    arranged
        .reduce_abelian::<_, KeyBuilder<K, Epoch, isize>, KeySpine<K, Epoch, isize>, _, _>(
            name,
            |_key, _values, out| out.push(((), 1)),
            |batch, key, updates| {
                batch.clear();
                batch.extend(updates.drain(..).map(|(value, time, diff)| ((key.clone(), value), time, diff)));
            },
        )
        .as_collection(|key, ()| key.clone())
}
