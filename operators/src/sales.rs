//! Sales that count: a post-voided sale counts nowhere, in any view.
//!
//! Reference: `effective_sale_lines` and `effective_transactions` in `queries/shared.sql`.
//! Every sale is arranged once by (store, transaction) ([`Sales::by_transaction`]): the sales
//! that count are read from it, and `rule_breaks` finds there the sale a post-void cancels.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::ThresholdTotal;
use tillflow_schemas::Epoch;

use crate::keyed::ByKey;
use crate::records::{PostVoid, SaleRec, VoidRec};

/// The sales, arranged once, and those that count.
pub struct Sales<'s> {
    /// Every sale, post-voided ones included, by (store, transaction).
    pub by_transaction: ByKey<'s, PostVoid, SaleRec>,
    /// Sales not post-voided.
    pub effective: VecCollection<'s, Epoch, SaleRec>,
}

/// Arranges `sales` by (store, transaction) and removes the post-voided ones; a late post-void
/// retracts its sale.
pub fn sales<'s>(sales: VecCollection<'s, Epoch, SaleRec>, voids: VecCollection<'s, Epoch, VoidRec>) -> Sales<'s> {
    let by_transaction =
        sales.clone().map(|s| ((s.store_id, s.transaction), s)).arrange_by_key_named("sales by transaction");
    let post_voided = voids
        .filter(|v| v.post)
        .map(|v| (v.store_id, v.transaction))
        .distinct_total()
        .arrange_by_self_named("post-voided sales");
    let voided = by_transaction.clone().join_core(post_voided, |_, sale, ()| Some(sale.clone()));
    Sales { by_transaction, effective: sales.concat(voided.negate()) }
}
