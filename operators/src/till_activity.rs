//! What happened at the till per (store, cashier or register, business day), that day and over
//! the trailing 7 days: the figures `refund_void_anomalies` compares cashiers on and
//! `register_anomalies` compares registers on.
//!
//! A record's measures travel together as one difference ([`Tally`]) that consolidation sums per
//! key (a sale costs O(1) work); for the 7-day sums each day's totals also count towards the 6
//! days after its own.

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::TillFigures;
use tillflow_schemas::{Day, Epoch, Id};

use crate::records::{RefundRec, SaleRec, VoidRec};
use crate::sums::Sums;

/// (store, cashier or register, business day).
pub type TillDay = (Id, Id, Day);

/// The trailing window of the weekly figures, in days.
pub const WINDOW_DAYS: Day = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Measure {
    Transactions,
    Gross,
    Discount,
    ManualDiscount,
    LineVoids,
    PostVoids,
    Refunds,
    NoReceiptRefunds,
    RefundAmount,
    RuleBreaks,
}

const MEASURES: usize = 10;

impl Measure {
    const ALL: [Measure; MEASURES] = [
        Measure::Transactions,
        Measure::Gross,
        Measure::Discount,
        Measure::ManualDiscount,
        Measure::LineVoids,
        Measure::PostVoids,
        Measure::Refunds,
        Measure::NoReceiptRefunds,
        Measure::RefundAmount,
        Measure::RuleBreaks,
    ];

    fn add_to(self, figures: &mut TillFigures, n: i64) {
        match self {
            Measure::Transactions => figures.transactions += n,
            Measure::Gross => figures.gross_sales.0 += n,
            Measure::Discount => figures.discount_amount.0 += n,
            Measure::ManualDiscount => figures.manual_discount_amount.0 += n,
            Measure::LineVoids => figures.line_voids += n,
            Measure::PostVoids => figures.post_voids += n,
            Measure::Refunds => figures.refunds += n,
            Measure::NoReceiptRefunds => figures.no_receipt_refunds += n,
            Measure::RefundAmount => figures.refund_amount.0 += n,
            Measure::RuleBreaks => figures.rule_breaks += n,
        }
    }
}

/// Every measure of a key at once, as differential's difference type: consolidation adds them
/// up, so a transaction is one update of its key, not one per measure.
pub type Tally = Sums<MEASURES>;

/// A record's measures.
pub fn tally(measures: &[(Measure, i64)]) -> Tally {
    let mut sums = Tally::default();
    for (measure, n) in measures {
        sums.0[*measure as usize] += n;
    }
    sums
}

/// The figures of summed measures.
pub fn till_figures(tally: &Tally) -> TillFigures {
    let mut figures = TillFigures::default();
    for measure in Measure::ALL {
        measure.add_to(&mut figures, tally.0[measure as usize]);
    }
    figures
}

/// Where and by whom a till record was rung: (store, register, cashier, business day).
pub type TillRecord = (Id, Id, Id, Day);

/// The measures of the sales that count, voids and refunds, each keyed by where and by whom it
/// was rung. A line void that removed no line measures nothing, and so is not there.
pub fn tallies<'s>(
    effective: VecCollection<'s, Epoch, SaleRec>,
    voids: VecCollection<'s, Epoch, VoidRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
) -> VecCollection<'s, Epoch, TillRecord, Tally> {
    effective
        .explode(|t| {
            let tally = tally(&[
                (Measure::Transactions, 1),
                (Measure::Gross, t.gross().0),
                (Measure::Discount, t.discount().0),
                (Measure::ManualDiscount, t.manual_discount().0),
            ]);
            Some(((t.store_id, t.register_id, t.cashier_id, t.business_date), tally))
        })
        .concat(voids.explode(|v| {
            let measure = if v.post { (Measure::PostVoids, 1) } else { (Measure::LineVoids, v.lines) };
            Some(((v.store_id, v.register_id, v.cashier_id, v.business_date), tally(&[measure])))
        }))
        .concat(refunds.explode(|r| {
            let tally = tally(&[
                (Measure::Refunds, 1),
                (Measure::NoReceiptRefunds, r.original.is_none() as i64),
                (Measure::RefundAmount, r.amount().0),
            ]);
            Some(((r.store_id, r.register_id, r.cashier_id, r.business_date), tally))
        }))
}

/// Per key with activity that day, the day's sums and those of the 7 days ending on it.
pub fn daily_and_weekly<'s>(
    tallies: VecCollection<'s, Epoch, TillDay, Tally>,
    name: &str,
) -> VecCollection<'s, Epoch, (TillDay, (Tally, Tally))> {
    let daily = tallies.count_total();
    let weekly = daily
        .clone()
        .explode(|((store, who, day), tally)| (0..WINDOW_DAYS).map(move |d| ((store, who, day + d), tally)))
        .count_total();
    daily
        .map(|(key, tally)| (key, (false, tally)))
        .concat(weekly.map(|(key, tally)| (key, (true, tally))))
        .reduce_named(name, |_key: &TillDay, parts, out| {
            let (mut day, mut week) = (None, Tally::default());
            for ((weekly, tally), _) in parts {
                match weekly {
                    true => week = *tally,
                    false => day = Some(*tally),
                }
            }
            if let Some(day) = day {
                out.push(((day, week), 1));
            }
        })
}
