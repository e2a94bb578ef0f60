use serde::{Deserialize, Serialize};

use super::promotion_performance::PromoFigures;
use super::{Columns, ViewRow};
use crate::Id;

/// `promotion_summary`: one row per promotion with a row of `promotion_performance`: the sums
/// of its rows, and the figures and verdict they give.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromotionSummary {
    pub promo_id: Id,
    /// Its rows in `promotion_performance`: (store, SKU, day)s with a line citing it.
    pub store_sku_days: i64,
    pub figures: PromoFigures,
}

impl ViewRow for PromotionSummary {
    const NAME: &'static str = "promotion_summary";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("promo_id", |r| &r.promo_id).int("store_sku_days", |r| r.store_sku_days).promo_figures(|r| r.figures);
    }
}
