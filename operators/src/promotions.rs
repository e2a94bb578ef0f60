//! `promotions`: each promotion's current record: what it discounts (a SKU or a category), when,
//! and by how much. Sale lines carry their own `promo_id` and discount; this is the table to
//! join them to.
#![doc = concat!("\n\nReference (`queries/promotions.sql`):\n\n```sql\n", include_str!("../../queries/promotions.sql"), "```")]

use differential_dataflow::VecCollection;
use tillflow_schemas::Epoch;
use tillflow_schemas::views::PromotionRecord;

use crate::records::{PromotionRec, current};

/// Each promotion's current record: the greatest (`ts`, `event_id`), a missing one ordering
/// first, then the greater SKU, category (as text, a missing one first), start, end and discount.
pub fn promotions<'s>(promotions: VecCollection<'s, Epoch, PromotionRec>) -> VecCollection<'s, Epoch, PromotionRecord> {
    let order = |p: &PromotionRec| {
        let (sku, category) = (p.sku.map(|s| s.as_str()), p.category.map(|c| c.as_str()));
        (p.ts, p.event_id.clone(), sku, category, p.start, p.end, p.discount_bp)
    };
    current(promotions.map(|p| (p.promo_id, p)), "current promotions", order).map(|(_, p)| PromotionRecord {
        promo_id: p.promo_id,
        sku: p.sku,
        category: p.category,
        start: p.start,
        end: p.end,
        discount_bp: p.discount_bp,
    })
}

#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("promotions");
    }
}
