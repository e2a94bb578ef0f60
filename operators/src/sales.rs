//! Sales that count: a post-voided sale counts nowhere, in any view.

use differential_dataflow::{ExchangeData, VecCollection};
use tillflow_schemas::Epoch;

use crate::records::PostVoid;

/// The records (sale lines or sale headers) of every sale that has not been post-voided; a late
/// post-void retracts them. `post_voids` must be distinct; `sale` names a record's sale.
pub fn not_post_voided<'s, D>(
    records: VecCollection<'s, Epoch, D>,
    post_voids: VecCollection<'s, Epoch, PostVoid>,
    sale: fn(&D) -> PostVoid,
) -> VecCollection<'s, Epoch, D>
where
    D: ExchangeData + std::hash::Hash,
{
    records.map(move |record| (sale(&record), record)).antijoin(post_voids).map(|(_, record)| record)
}
