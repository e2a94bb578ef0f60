use serde::{Deserialize, Serialize};

use super::{Columns, Ratio, ViewRow, ratio};
use crate::{Cents, Day, Id};

/// The rates compared with district peers, over the trailing 7 days.
pub const RATES: [&str; 5] =
    ["line_void_rate", "post_void_rate", "refund_rate", "no_receipt_refund_rate", "manual_discount_rate"];

/// What one cashier, or one register, did over some business days.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TillFigures {
    /// Sales rung that count (not post-voided).
    pub transactions: i64,
    pub gross_sales: Cents,
    pub discount_amount: Cents,
    /// Discounts on lines without a promotion: the cashier's own.
    pub manual_discount_amount: Cents,
    /// Lines removed by line voids.
    pub line_voids: i64,
    pub post_voids: i64,
    pub refunds: i64,
    pub no_receipt_refunds: i64,
    pub refund_amount: Cents,
    /// Rows of `rule_breaks`.
    pub rule_breaks: i64,
}

impl TillFigures {
    /// The numerator and denominator of each of [`RATES`].
    pub fn rate_terms(&self) -> [(i64, i64); 5] {
        let n = self.transactions;
        [
            (self.line_voids, n),
            (self.post_voids, n),
            (self.refunds, n),
            (self.no_receipt_refunds, n),
            (self.manual_discount_amount.0, self.gross_sales.0),
        ]
    }

    pub fn rates(&self) -> [Option<f64>; 5] {
        self.rate_terms().map(|(num, den)| ratio(num, den))
    }
}

impl<R> Columns<'_, R> {
    /// The columns a cashier's and a register's figures share, each name ending in `suffix`:
    /// transactions, line and post voids, refunds, those without receipt, and the amount refunded.
    pub fn till_counts(&mut self, suffix: &str, figures: fn(&R) -> &TillFigures) -> &mut Self {
        self.int(&format!("transactions{suffix}"), move |r| figures(r).transactions)
            .int(&format!("line_voids{suffix}"), move |r| figures(r).line_voids)
            .int(&format!("post_voids{suffix}"), move |r| figures(r).post_voids)
            .int(&format!("refunds{suffix}"), move |r| figures(r).refunds)
            .int(&format!("no_receipt_refunds{suffix}"), move |r| figures(r).no_receipt_refunds)
            .money(&format!("refund_amount{suffix}"), move |r| figures(r).refund_amount)
    }
}

/// `refund_void_anomalies`: one row per (store, cashier, business day) with activity: the day's and
/// the trailing 7 days' figures, each 7-day rate against the district's peers that day, and flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundVoidAnomaly {
    pub store_id: Id,
    pub cashier_id: Id,
    pub business_date: Day,
    pub district: Id,
    pub day: TillFigures,
    /// The 7 business days ending on `business_date`.
    pub week: TillFigures,
    /// Per rate, the median over the district's cashiers that day with [`MIN_SUPPORT`].
    pub median: [Option<Ratio>; 5],
    /// Per rate, the median absolute deviation from `median` over the same peers.
    pub mad: [Option<Ratio>; 5],
    /// Per rate, the same peers' pooled rate: Σ numerators / Σ denominators.
    pub pooled: [Option<Ratio>; 5],
    /// Per rate, the robust z-score against the peers (see `operators::refund_void_anomalies`).
    pub z: [Option<Ratio>; 5],
    /// The rates flagged, one bit per rate of [`RATES`].
    pub flags: u8,
}

impl RefundVoidAnomaly {
    /// The names of the rates flagged, in [`RATES`] order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        (0..RATES.len()).filter(|i| self.flags & (1 << i) != 0).map(|i| RATES[i]).collect()
    }
}

impl ViewRow for RefundVoidAnomaly {
    const NAME: &'static str = "refund_void_anomalies";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("cashier_id", |r| &r.cashier_id)
            .date("business_date", |r| r.business_date)
            .text("district", |r| &r.district);
        for (suffix, figures) in [("", (|r| &r.day) as fn(&Self) -> &TillFigures), ("_7d", |r| &r.week)] {
            c.till_counts(suffix, figures)
                .money(&format!("discount_amount{suffix}"), |r| figures(r).discount_amount)
                .money(&format!("manual_discount_amount{suffix}"), |r| figures(r).manual_discount_amount)
                .money(&format!("gross_sales{suffix}"), |r| figures(r).gross_sales)
                .int(&format!("rule_breaks{suffix}"), |r| figures(r).rule_breaks);
        }
        for (i, rate) in RATES.iter().enumerate() {
            c.opt_real(rate, |r| r.week.rates()[i])
                .opt_real(&format!("{rate}_median"), |r| r.median[i].map(|m| m.0))
                .opt_real(&format!("{rate}_mad"), |r| r.mad[i].map(|m| m.0))
                .opt_real(&format!("{rate}_district"), |r| r.pooled[i].map(|m| m.0))
                .opt_real(&format!("{rate}_z"), |r| r.z[i].map(|z| z.0));
        }
        c.flag("flagged", |r| r.flags != 0).text_owned("flags", |r| r.flag_names().join(","));
    }
}
