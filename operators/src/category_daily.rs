//! `category_daily`: per (store, department, category, business day) items, returns, sales and
//! margin, and the day against its forecast.
//!
//! The rows of `sku_margin` summed by the current department and category of their product (a
//! SKU without a product record counts under none: both null); a product that changes category
//! moves its rows. `forecast_net_sales` as in `store_daily` ([`crate::forecast`]), per
//! (store, department, category).
//!
//! The reference definition, `queries/category_daily.sql`, which the tests (`tests/it/views.rs`)
//! compare this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/category_daily.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use tillflow_schemas::views::{CategoryDaily, ProductRecord, SkuMargin, Takings};
use tillflow_schemas::{Cents, Epoch, Id};

use crate::forecast::with_forecast;
use crate::sums::Sums;

/// A store's department and category.
type Class = (Id, Option<Id>, Option<Id>);

/// The sums of a class-day, in this order: items, units returned, gross sales, discounts,
/// refunds, cogs, its `sku_margin` rows.
type Daily = Sums<7>;

pub fn category_daily<'s>(
    margins: VecCollection<'s, Epoch, SkuMargin>,
    products: VecCollection<'s, Epoch, ProductRecord>,
) -> VecCollection<'s, Epoch, CategoryDaily> {
    let by_sku = margins.map(|row| (row.sku, row));
    let classes = products.map(|p| (p.sku, (p.department, p.category)));
    let classed = by_sku
        .clone()
        .join_map(classes.clone(), |_, row, (department, category)| {
            ((row.store_id, Some(*department), Some(*category)), row.clone())
        })
        .concat(by_sku.antijoin(classes.map(|(sku, _)| sku)).map(|(_, row)| ((row.store_id, None, None), row)));
    let daily = classed
        .explode(|(class, row): (Class, SkuMargin)| {
            let sums = Sums([
                row.units_sold,
                row.units_returned,
                row.gross_sales.0,
                row.discounts.0,
                row.refunds.0,
                row.cogs.0,
                1,
            ]);
            Some(((class, row.business_date), sums))
        })
        .count_total()
        .filter(|(_, sums): &((Class, _), Daily)| sums.0[6] > 0);
    with_forecast(daily, |Sums(s)| s[2] - s[3] - s[4]).map(
        |(((store_id, department, category), business_date), Sums(s), forecast)| CategoryDaily {
            store_id,
            department,
            category,
            business_date,
            items: s[0],
            units_returned: s[1],
            takings: Takings {
                gross_sales: Cents(s[2]),
                discounts: Cents(s[3]),
                refunds: Cents(s[4]),
                cogs: Cents(s[5]),
            },
            forecast,
        },
    )
}

/// Beside the view, its reference test: `queries/category_daily.sql` at every epoch of random
/// streams fed through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("category_daily");
    }
}
