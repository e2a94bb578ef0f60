//! `store_daily`: per (store, business day) transactions, items, sales, margin, baskets, the
//! tender mix and the day against its forecast.
//!
//! A store-day has a row when `sku_margin` has one of it (a sale or refund line). Its sums are
//! those of its `sku_margin` rows; `transactions` counts the sales that count (not
//! post-voided); each tender kind's amount is what those sales tendered in it less what the
//! day's refunds gave back in it. `forecast_net_sales` is the mean net sales of the same weekday
//! one to four weeks before ([`crate::forecast`]). Everything is a difference summed by
//! consolidation: a change costs the rows it touches.
//!
//! The reference definition, `queries/store_daily.sql`, which the tests (`tests/it/views.rs`)
//! compare this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/store_daily.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use tillflow_schemas::raw::TENDER_KINDS;
use tillflow_schemas::views::{SkuMargin, StoreDaily, Takings};
use tillflow_schemas::{Cents, Epoch, TenderKind};

use crate::forecast::with_forecast;
use crate::records::{RefundRec, SaleRec};
use crate::sums::Sums;

/// The sums of a store-day, in this order: items, gross sales, discounts, refunds, cogs,
/// transactions, each tender kind from [`TENDERS`] (in `TENDER_KINDS` order), and its
/// `sku_margin` rows.
type Daily = Sums<{ ROWS + 1 }>;
const ITEMS: usize = 0;
const GROSS: usize = 1;
const DISCOUNTS: usize = 2;
const REFUNDS: usize = 3;
const COGS: usize = 4;
const TRANSACTIONS: usize = 5;
const TENDERS: usize = 6;
const ROWS: usize = TENDERS + TENDER_KINDS.len();

/// The slot of a tender kind among the tender sums.
fn tender_slot(kind: TenderKind) -> usize {
    TENDERS + TENDER_KINDS.iter().position(|(_, known)| *known == kind).expect("every tender kind is named")
}

pub fn store_daily<'s>(
    margins: VecCollection<'s, Epoch, SkuMargin>,
    sales: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
) -> VecCollection<'s, Epoch, StoreDaily> {
    let from_margins = margins.explode(|row| {
        let mut sums = Daily::default();
        sums.0[ITEMS] = row.units_sold;
        sums.0[GROSS] = row.gross_sales.0;
        sums.0[DISCOUNTS] = row.discounts.0;
        sums.0[REFUNDS] = row.refunds.0;
        sums.0[COGS] = row.cogs.0;
        sums.0[ROWS] = 1;
        Some(((row.store_id, row.business_date), sums))
    });
    let from_sales = sales.explode(|sale| {
        let mut sums = Daily::default();
        sums.0[TRANSACTIONS] = 1;
        for tender in sale.tenders.iter() {
            sums.0[tender_slot(tender.kind)] += tender.amount.0;
        }
        Some(((sale.store_id, sale.business_date), sums))
    });
    let from_refunds = refunds.explode(|refund| {
        let mut sums = Daily::default();
        sums.0[tender_slot(refund.tender_kind)] = -refund.amount().0;
        Some(((refund.store_id, refund.business_date), sums))
    });
    let daily = from_margins.concat(from_sales).concat(from_refunds).count_total().filter(|(_, sums)| sums.0[ROWS] > 0);
    with_forecast(daily, |Sums(s)| s[GROSS] - s[DISCOUNTS] - s[REFUNDS]).map(
        |((store_id, business_date), Sums(s), forecast)| StoreDaily {
            store_id,
            business_date,
            transactions: s[TRANSACTIONS],
            items: s[ITEMS],
            takings: Takings {
                gross_sales: Cents(s[GROSS]),
                discounts: Cents(s[DISCOUNTS]),
                refunds: Cents(s[REFUNDS]),
                cogs: Cents(s[COGS]),
            },
            tenders: std::array::from_fn(|i| Cents(s[TENDERS + i])),
            forecast,
        },
    )
}

/// Beside the view, its reference test: `queries/store_daily.sql` at every epoch of random
/// streams fed through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("store_daily");
    }
}
