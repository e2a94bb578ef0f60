use serde::{Deserialize, Serialize};

use super::{Columns, Ratio, TillFigures, ViewRow, ratio};
use crate::{Day, Id};

/// The rates a register is compared on with the store's other registers, over the trailing 7
/// days: the count rates of [`super::RATES`], in the same order.
pub const REGISTER_RATES: [&str; 4] = ["line_void_rate", "post_void_rate", "refund_rate", "no_receipt_refund_rate"];

/// `register_anomalies`: one row per (store, register, business day) with activity: the day's and
/// the trailing 7 days' figures, each 7-day rate against the store's other registers over the same
/// days, and flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegisterAnomaly {
    pub store_id: Id,
    pub register_id: Id,
    pub business_date: Day,
    pub district: Id,
    pub day: TillFigures,
    /// The 7 business days ending on `business_date`.
    pub week: TillFigures,
    /// The cashiers who rang a sale, a void or a refund on this register over the 7 days.
    pub cashiers: i64,
    /// The store's other registers together, over the same 7 days.
    pub others: TillFigures,
    /// Per rate of [`REGISTER_RATES`], the events against those the other registers' rate predicts
    /// (see `operators::register_anomalies`).
    pub z: [Option<Ratio>; 4],
    /// The rates flagged, one bit per rate of [`REGISTER_RATES`].
    pub flags: u8,
}

impl RegisterAnomaly {
    /// The names of the rates flagged, in [`REGISTER_RATES`] order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        (0..REGISTER_RATES.len()).filter(|i| self.flags & (1 << i) != 0).map(|i| REGISTER_RATES[i]).collect()
    }

    /// Rate `i` of the other registers: their events over their transactions.
    pub fn others_rate(&self, i: usize) -> Option<f64> {
        let (events, n) = self.others.rate_terms()[i];
        ratio(events, n)
    }
}

impl ViewRow for RegisterAnomaly {
    const NAME: &'static str = "register_anomalies";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("register_id", |r| &r.register_id)
            .date("business_date", |r| r.business_date)
            .text("district", |r| &r.district);
        for (suffix, figures) in [("", (|r| &r.day) as fn(&Self) -> &TillFigures), ("_7d", |r| &r.week)] {
            c.till_counts(suffix, figures).money(&format!("gross_sales{suffix}"), |r| figures(r).gross_sales);
        }
        c.int("cashiers_7d", |r| r.cashiers).int("other_registers_transactions_7d", |r| r.others.transactions);
        for (i, rate) in REGISTER_RATES.iter().enumerate() {
            c.opt_real(rate, |r| r.week.rates()[i])
                .opt_real(&format!("{rate}_others"), |r| r.others_rate(i))
                .opt_real(&format!("{rate}_z"), |r| r.z[i].map(|z| z.0));
        }
        c.flag("flagged", |r| r.flags != 0).text_owned("flags", |r| r.flag_names().join(","));
    }
}
