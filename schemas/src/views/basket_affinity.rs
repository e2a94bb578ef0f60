use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow, ratio};
use crate::Id;

/// `basket_affinity`: one row per (district, sku_a, sku_b), `sku_a < sku_b`, of two SKUs bought
/// together in at least the minimum number of the district's baskets of the trailing 28 days
/// (see `operators::basket_affinity` for the rules). The ratios are derived from the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BasketAffinity {
    pub district: Id,
    pub sku_a: Id,
    pub sku_b: Id,
    /// The district's baskets in the window (sales that count holding a SKU).
    pub baskets: i64,
    pub baskets_a: i64,
    pub baskets_b: i64,
    pub baskets_both: i64,
}

impl BasketAffinity {
    /// How many times more often the two are bought together than if they were independent:
    /// both × baskets / (a × b).
    pub fn lift(&self) -> Option<f64> {
        let expected = self.baskets_a as f64 * self.baskets_b as f64;
        (expected > 0.0).then(|| self.baskets_both as f64 * self.baskets as f64 / expected)
    }
}

impl ViewRow for BasketAffinity {
    const NAME: &'static str = "basket_affinity";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("district", |r| &r.district)
            .text("sku_a", |r| &r.sku_a)
            .text("sku_b", |r| &r.sku_b)
            .int("baskets", |r| r.baskets)
            .int("baskets_a", |r| r.baskets_a)
            .int("baskets_b", |r| r.baskets_b)
            .int("baskets_both", |r| r.baskets_both)
            .opt_real("support", |r| ratio(r.baskets_both, r.baskets))
            .opt_real("confidence_ab", |r| ratio(r.baskets_both, r.baskets_a))
            .opt_real("confidence_ba", |r| ratio(r.baskets_both, r.baskets_b))
            .opt_real("lift", Self::lift);
    }
}
