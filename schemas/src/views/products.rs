use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Id, Supply, Text};

/// `products`: each product's current record (the latest by `ts`, then `event_id`), so that
/// analysts join margins to categories and departments.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProductRecord {
    pub sku: Id,
    pub name: Text,
    pub category: Id,
    pub department: Id,
    pub unit_cost: Cents,
    pub list_price: Cents,
    pub supply: Supply,
}

impl ViewRow for ProductRecord {
    const NAME: &'static str = "products";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("sku", |r| &r.sku)
            .text("name", |r| &r.name)
            .text("category", |r| &r.category)
            .text("department", |r| &r.department)
            .money("unit_cost", |r| r.unit_cost)
            .money("list_price", |r| r.list_price)
            .opt_text("supplier", |r| r.supply.supplier.as_ref().map(|s| s.as_str()))
            .opt_int("lead_time_days", |r| r.supply.lead_time_days)
            .opt_int("case_pack", |r| r.supply.case_pack);
    }
}
