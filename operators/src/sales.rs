//! Sales that count: a post-voided sale counts nowhere, in any view.

use differential_dataflow::{ExchangeData, VecCollection};
use tillflow_schemas::Epoch;

use crate::records::{PostVoid, SaleLineRec, SaleLines, TransactionRec, VoidRec};

/// The sales cancelled by a post-void, once each.
pub fn post_voids<'s>(voids: VecCollection<'s, Epoch, VoidRec>) -> VecCollection<'s, Epoch, PostVoid> {
    voids.filter(|v| v.post).map(|v| (v.store_id, v.transaction_id)).distinct()
}

/// The lines of every sale that still counts, one record per line. Sales arrive as one record
/// each, so a post-void is matched per sale, not per line.
pub fn effective_sale_lines<'s>(
    sales: VecCollection<'s, Epoch, SaleLines>,
    post_voids: VecCollection<'s, Epoch, PostVoid>,
) -> VecCollection<'s, Epoch, SaleLineRec> {
    let sale =
        |lines: &SaleLines| lines.first().map(|l| (l.store_id.clone(), l.transaction_id.clone())).unwrap_or_default();
    not_post_voided(sales, post_voids, sale).flat_map(|lines| lines)
}

/// The header of every sale that still counts.
pub fn effective_transactions<'s>(
    transactions: VecCollection<'s, Epoch, TransactionRec>,
    post_voids: VecCollection<'s, Epoch, PostVoid>,
) -> VecCollection<'s, Epoch, TransactionRec> {
    not_post_voided(transactions, post_voids, |t| (t.store_id.clone(), t.transaction_id.clone()))
}

/// The records (sale lines or sale headers) of every sale that has not been post-voided; a late
/// post-void retracts them. `post_voids` must be distinct; `sale` names a record's sale.
fn not_post_voided<'s, D>(
    records: VecCollection<'s, Epoch, D>,
    post_voids: VecCollection<'s, Epoch, PostVoid>,
    sale: fn(&D) -> PostVoid,
) -> VecCollection<'s, Epoch, D>
where
    D: ExchangeData + std::hash::Hash,
{
    records.map(move |record| (sale(&record), record)).antijoin(post_voids).map(|(_, record)| record)
}
