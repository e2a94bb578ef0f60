use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Id, Millis};

/// `promotions`: each promotion's current record (the latest by `ts`, then `event_id`): what it
/// discounts (a SKU or a whole category), when, and by how much.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromotionRecord {
    pub promo_id: Id,
    pub sku: Option<Id>,
    pub category: Option<Id>,
    pub start: Millis,
    pub end: Millis,
    /// Percent off, in hundredths of a percent (shown as a percentage with two decimals).
    pub discount_bp: i64,
}

impl ViewRow for PromotionRecord {
    const NAME: &'static str = "promotions";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("promo_id", |r| &r.promo_id)
            .opt_text("sku", |r| r.sku.as_ref().map(|s| s.as_str()))
            .opt_text("category", |r| r.category.as_ref().map(|s| s.as_str()))
            .timestamp("start", |r| r.start)
            .timestamp("end", |r| r.end)
            .money("discount_pct", |r| Cents(r.discount_bp));
    }
}
