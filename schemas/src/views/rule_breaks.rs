use serde::{Deserialize, Serialize};

use super::{Columns, ViewRow};
use crate::{Cents, Day, Id, Text};

/// The refund and void rules of DESIGN.md (Views, `refund_void_anomalies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// The refund cites a transaction that is not a sale that counts (never rung, or post-voided).
    RefundWithoutSale,
    /// The refund is worth more than the whole original sale (net of discounts).
    RefundAboveOriginal,
    /// Paid back in cash for a sale paid by card and not in cash.
    CashRefundOfCardSale,
    /// Refunded by the cashier who rang the original sale.
    RefundBySameCashier,
    /// A completed, tendered sale cancelled afterwards.
    PostVoidAfterTender,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::RefundWithoutSale,
        Rule::RefundAboveOriginal,
        Rule::CashRefundOfCardSale,
        Rule::RefundBySameCashier,
        Rule::PostVoidAfterTender,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::RefundWithoutSale => "refund_without_sale",
            Rule::RefundAboveOriginal => "refund_above_original",
            Rule::CashRefundOfCardSale => "cash_refund_of_card_sale",
            Rule::RefundBySameCashier => "refund_by_same_cashier",
            Rule::PostVoidAfterTender => "post_void_after_tender",
        }
    }
}

/// `rule_breaks`: one row per refund or post-void that breaks a rule, with its evidence.
/// Keyed to the cashier who made the refund or the void, on its business day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleBreak {
    pub store_id: Id,
    pub cashier_id: Id,
    pub business_date: Day,
    pub rule: Rule,
    /// The refund that breaks the rule; `None` for post-voids.
    pub refund_id: Option<Text>,
    /// The sale cited or cancelled.
    pub transaction_id: Text,
    /// The refund's amount, or the voided sale's tendered amount.
    pub amount: Cents,
}

impl ViewRow for RuleBreak {
    const NAME: &'static str = "rule_breaks";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("store_id", |r| &r.store_id)
            .text("cashier_id", |r| &r.cashier_id)
            .date("business_date", |r| r.business_date)
            .text("rule", |r| r.rule.name())
            .opt_text("refund_id", |r| r.refund_id.as_deref())
            .text("transaction_id", |r| &r.transaction_id)
            .money("amount", |r| r.amount);
    }
}
