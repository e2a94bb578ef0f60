//! `products`: each product's current record, so that analysts join margins to categories and
//! departments without reading the files again.
#![doc = concat!("\n\nReference (`queries/products.sql`):\n\n```sql\n", include_str!("../../queries/products.sql"), "```")]

use differential_dataflow::VecCollection;
use tillflow_schemas::Epoch;
use tillflow_schemas::views::ProductRecord;

use crate::records::{ProductRec, current};

/// Each SKU's current record: the greatest (`ts`, `event_id`, `unit_cost`), a missing one
/// ordering first, then the greater name, category, department, list price, and supplier,
/// lead time and case pack (each missing first).
pub fn products<'s>(products: VecCollection<'s, Epoch, ProductRec>) -> VecCollection<'s, Epoch, ProductRecord> {
    let order = |p: &ProductRec| {
        let (category, department) = (p.category.as_str(), p.department.as_str());
        let supplier = p.supply.supplier.map(|s| s.as_str());
        let supply = (supplier, p.supply.lead_time_days, p.supply.case_pack);
        (p.ts, p.event_id.clone(), p.unit_cost, p.name.clone(), category, department, p.list_price, supply)
    };
    current(products.map(|p| (p.sku, p)), "current products", order).map(|(_, p)| ProductRecord {
        sku: p.sku,
        name: p.name,
        category: p.category,
        department: p.department,
        unit_cost: p.unit_cost,
        list_price: p.list_price,
        supply: p.supply,
    })
}

#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("products");
    }
}
