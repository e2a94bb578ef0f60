//! Sale lines that count: a post-voided sale counts nowhere, in any view.

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use timely::progress::Timestamp;

use crate::records::{PostVoid, SaleLineRec};

/// The lines of every sale that has not been post-voided (a late post-void retracts them).
pub fn effective_sale_lines<'s, T>(
    lines: VecCollection<'s, T, SaleLineRec>,
    post_voids: VecCollection<'s, T, PostVoid>,
) -> VecCollection<'s, T, SaleLineRec>
where
    T: Timestamp + Lattice + Ord,
{
    lines
        .map(|line| ((line.store_id.clone(), line.transaction_id.clone()), line))
        .antijoin(post_voids.distinct())
        .map(|(_, line)| line)
}
