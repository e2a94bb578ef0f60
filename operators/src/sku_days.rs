//! What each (store, sku, business day) sold, returned and moved: the line-level work that
//! `sku_margin` and `inventory_position` share, done once. Each line is summed into its day as
//! a difference ([`DaySums`]), and the units moved at each instant are arranged once, for the
//! only two questions that need instants: the cost of units moved after a same-day receipt, and
//! the units moved before a same-day count.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use tillflow_schemas::{Day, Epoch, Id, Millis};

use crate::keyed::ByKey;
use crate::records::{RefundRec, SaleRec};
use crate::sums::Sums;

pub type StoreSkuDay = (Id, Id, Day);

/// The sums of a (store, sku, day), in this order: units sold, units returned, gross sales,
/// discounts, refunds, promo units, lines (sale and refund lines; positive iff any), and the net
/// sales of the lines citing a promotion.
pub type DaySums = Sums<8>;

pub const SOLD: usize = 0;
pub const RETURNED: usize = 1;
pub const GROSS: usize = 2;
pub const DISCOUNTS: usize = 3;
pub const REFUNDS: usize = 4;
pub const PROMO: usize = 5;
pub const LINES: usize = 6;
pub const PROMO_NET: usize = 7;

/// The line-level collections read by several views.
pub struct SkuDays<'s> {
    /// Every (store, sku, day) with a sale or refund line, with its sums: one record each.
    pub sums: VecCollection<'s, Epoch, (StoreSkuDay, DaySums)>,
    /// The units each (store, sku, day) moved into stock at each instant (sales out, negative;
    /// refunds back in), as the difference of `((store, sku, day), ts)`.
    pub instants: ByKey<'s, StoreSkuDay, Millis>,
}

/// From the sales that count and the refunds.
pub fn sku_days<'s>(
    sales: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
) -> SkuDays<'s> {
    let sale_sums = sales.clone().flat_map(|s| {
        let (store, day) = (s.store_id, s.business_date);
        s.lines.into_iter().map(move |l| {
            let (promo, promo_net) = if l.promo_id.is_some() { (l.qty, l.net()) } else { (0, 0) };
            ((store, l.sku, day), Sums([l.qty, 0, l.gross(), l.discount.0, 0, promo, 1, promo_net]))
        })
    });
    let refund_sums = refunds.clone().flat_map(|r| {
        let (store, day) = (r.store_id, r.business_date);
        r.lines.into_iter().map(move |l| ((store, l.sku, day), Sums([0, l.qty, 0, 0, l.amount.0, 0, 1, 0])))
    });
    let sums = sale_sums.concat(refund_sums).explode(|(key, sums)| Some((key, sums))).count_total();

    let instants = sales
        .flat_map(|s| {
            let (store, day, ts) = (s.store_id, s.business_date, s.ts);
            s.lines.into_iter().map(move |l| (((store, l.sku, day), ts), -l.qty))
        })
        .concat(refunds.flat_map(|r| {
            let (store, day, ts) = (r.store_id, r.business_date, r.ts);
            r.lines.into_iter().map(move |l| (((store, l.sku, day), ts), l.qty))
        }))
        .explode(|(key, units)| Some((key, units as isize)))
        .arrange_by_key_named("units moved by (store, sku, day) and instant");
    SkuDays { sums, instants }
}
