use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id};

/// Lift from which a promotion counts as selling more than its baseline: 20%, beyond the
/// swing of a store's week of a category (docs/views.md).
pub const LIFT_PCT: i64 = 20;

/// The baseline sums are kept as this many times a day's baseline: a baseline day's mean over
/// the one to four baseline days the store traded is a whole number of twelfths of their sum.
pub const BASELINE_SCALE: i64 = 12;

/// What a promotion's lines sold against their baseline, as exact sums; the figures a
/// merchandiser reads are derived from them. The baseline is the mean of the baseline days the
/// store traded (the same weekday in the four weeks before the promotion started), kept as
/// [`BASELINE_SCALE`] times it so that the sums stay exact integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromoFigures {
    /// Σ qty of the lines citing the promotion.
    pub promo_units: i64,
    /// Σ qty × unit_price − discount of those lines.
    pub promo_sales: Cents,
    pub discount: Cents,
    /// promo_units at the product's current catalog cost.
    pub cogs: Cents,
    /// [`BASELINE_SCALE`] × the units a baseline day sold on lines without a promotion.
    pub baseline_units: i64,
    /// [`BASELINE_SCALE`] × their net sales.
    pub baseline_sales: Cents,
    /// baseline_units at the product's current catalog cost.
    pub baseline_cogs: Cents,
    /// The discount given on the units the baseline would have sold anyway.
    pub erosion: Cents,
}

/// What a promotion did, from its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing sold on the baseline days: no lift to measure.
    NoBaseline,
    /// 20% lift or more, and more margin than the baseline's.
    Profitable,
    /// 20% lift or more, bought with margin.
    LiftWithoutMargin,
    /// Under 20% lift, and less margin than the baseline's: the discount gave margin away.
    LosesMarginWithoutLift,
    /// Under 20% lift, no margin lost.
    Flat,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NoBaseline => "no_baseline",
            Verdict::Profitable => "profitable",
            Verdict::LiftWithoutMargin => "lift_without_margin",
            Verdict::LosesMarginWithoutLift => "loses_margin_without_lift",
            Verdict::Flat => "flat",
        }
    }
}

impl PromoFigures {
    /// The sums, in field order: figures of several rows add up element by element.
    pub fn to_array(&self) -> [i64; 8] {
        [
            self.promo_units,
            self.promo_sales.0,
            self.discount.0,
            self.cogs.0,
            self.baseline_units,
            self.baseline_sales.0,
            self.baseline_cogs.0,
            self.erosion.0,
        ]
    }

    /// The figures of sums in the order of [`PromoFigures::to_array`].
    pub fn from_array([units, sales, discount, cogs, b_units, b_sales, b_cogs, erosion]: [i64; 8]) -> PromoFigures {
        PromoFigures {
            promo_units: units,
            promo_sales: Cents(sales),
            discount: Cents(discount),
            cogs: Cents(cogs),
            baseline_units: b_units,
            baseline_sales: Cents(b_sales),
            baseline_cogs: Cents(b_cogs),
            erosion: Cents(erosion),
        }
    }

    /// promo_sales − cogs.
    pub fn margin(&self) -> Cents {
        Cents(self.promo_sales.0 - self.cogs.0)
    }

    /// [`BASELINE_SCALE`] × the baseline's margin per day, in cents.
    fn baseline_margin_scaled(&self) -> i64 {
        self.baseline_sales.0 - self.baseline_cogs.0
    }

    /// [`BASELINE_SCALE`] × (promo_units − baseline units per day).
    pub fn lift_scaled(&self) -> i64 {
        BASELINE_SCALE * self.promo_units - self.baseline_units
    }

    /// [`BASELINE_SCALE`] × (margin − baseline margin per day), in cents.
    pub fn incremental_margin_scaled(&self) -> i64 {
        BASELINE_SCALE * self.margin().0 - self.baseline_margin_scaled()
    }

    /// Baseline units per day.
    pub fn baseline_units_per_day(&self) -> f64 {
        self.baseline_units as f64 / BASELINE_SCALE as f64
    }

    /// Baseline margin per day, in currency units.
    pub fn baseline_margin(&self) -> f64 {
        self.baseline_margin_scaled() as f64 / (100 * BASELINE_SCALE) as f64
    }

    /// promo_units − baseline units per day.
    pub fn lift_units(&self) -> f64 {
        self.lift_scaled() as f64 / BASELINE_SCALE as f64
    }

    /// The lift in percent of the baseline; `None` without baseline units.
    pub fn lift_pct(&self) -> Option<f64> {
        (self.baseline_units > 0).then(|| self.lift_scaled() as f64 / self.baseline_units as f64 * 100.0)
    }

    /// margin − baseline margin per day, in currency units.
    pub fn incremental_margin(&self) -> f64 {
        self.incremental_margin_scaled() as f64 / (100 * BASELINE_SCALE) as f64
    }

    pub fn verdict(&self) -> Verdict {
        if self.baseline_units <= 0 {
            return Verdict::NoBaseline;
        }
        // lift_pct ≥ LIFT_PCT ⇔ 100 × (12 pu − bu) ≥ LIFT_PCT × bu, in integers.
        let lifted = 100 * self.lift_scaled() >= LIFT_PCT * self.baseline_units;
        match (lifted, self.incremental_margin_scaled() >= 0) {
            (true, true) => Verdict::Profitable,
            (true, false) => Verdict::LiftWithoutMargin,
            (false, false) => Verdict::LosesMarginWithoutLift,
            (false, true) => Verdict::Flat,
        }
    }

    /// The discount given on the units the baseline would have sold anyway: discount ×
    /// min(promo_units, baseline units per day) / promo_units, in whole cents (truncated);
    /// `baseline_units` is scaled by [`BASELINE_SCALE`].
    pub fn erosion_of(promo_units: i64, discount: Cents, baseline_units: i64) -> Cents {
        let scaled = BASELINE_SCALE * promo_units;
        match promo_units > 0 {
            true => Cents(discount.0 * scaled.min(baseline_units.max(0)) / scaled),
            false => Cents(0),
        }
    }
}

impl<R> Columns<'_, R> {
    /// A row's [`PromoFigures`] and what they say.
    pub fn promo_figures(&mut self, f: impl Fn(&R) -> PromoFigures) -> &mut Self {
        let f = &f;
        self.int("promo_units", |r| f(r).promo_units)
            .money("promo_sales", |r| f(r).promo_sales)
            .money("discount", |r| f(r).discount)
            .money("cogs", |r| f(r).cogs)
            .money("margin", |r| f(r).margin())
            .real("baseline_units", |r| f(r).baseline_units_per_day())
            .real("baseline_margin", |r| f(r).baseline_margin())
            .real("lift_units", |r| f(r).lift_units())
            .opt_real("lift_pct", |r| f(r).lift_pct())
            .real("incremental_margin", |r| f(r).incremental_margin())
            .money("margin_erosion", |r| f(r).erosion)
            .text("verdict", |r| f(r).verdict().as_str())
    }
}

/// `promotion_performance`: one row per (promotion, store, SKU, business day) with a sale line
/// citing the promotion (see `operators::promotion_performance` for the rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromotionPerformance {
    pub promo_id: Id,
    pub store_id: Id,
    pub sku: Id,
    pub business_date: Day,
    pub figures: PromoFigures,
}

impl ViewRow for PromotionPerformance {
    const NAME: &'static str = "promotion_performance";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("promo_id", |r| &r.promo_id)
            .text("store_id", |r| &r.store_id)
            .text("sku", |r| &r.sku)
            .date("business_date", |r| r.business_date)
            .promo_figures(|r| r.figures);
    }
}
