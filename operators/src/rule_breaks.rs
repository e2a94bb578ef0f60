//! `rule_breaks`: refunds and post-voids that break a rule of DESIGN.md, with their evidence.
//!
//! Reference: `queries/rule_breaks.sql`. A refund citing a transaction is matched with the sale of
//! that `transaction_id` anywhere in the chain (a refund may be made at another store); a
//! post-void with the sale it cancels in its own store.

use differential_dataflow::VecCollection;
use tillflow_schemas::Cents;
use tillflow_schemas::Epoch;
use tillflow_schemas::views::{Rule, RuleBreak};

use crate::records::{RefundRec, TransactionRec, VoidRec};

/// `transactions` are every sale (post-voided ones too), `effective` those that count.
pub fn rule_breaks<'s>(
    transactions: VecCollection<'s, Epoch, TransactionRec>,
    effective: VecCollection<'s, Epoch, TransactionRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    post_voids: VecCollection<'s, Epoch, VoidRec>,
) -> VecCollection<'s, Epoch, RuleBreak> {
    let cited = refunds.flat_map(|r| r.original_transaction_id.clone().map(|tx| (tx, r)));
    let sales = effective.map(|t| (t.transaction_id.clone(), t));

    let without_sale = cited
        .clone()
        .antijoin(sales.clone().map(|(id, _)| id).distinct())
        .map(|(_, refund)| refund_break(&refund, Rule::RefundWithoutSale));

    let against_sale = cited
        .join_map(sales, |_, refund, sale| {
            let broken = [
                (refund.amount > sale.net(), Rule::RefundAboveOriginal),
                (refund.in_cash && sale.paid_by_card && !sale.paid_in_cash, Rule::CashRefundOfCardSale),
                (refund.cashier_id == sale.cashier_id, Rule::RefundBySameCashier),
            ];
            broken.into_iter().filter(|(is, _)| *is).map(|(_, rule)| refund_break(refund, rule)).collect::<Vec<_>>()
        })
        .flat_map(|breaks| breaks);

    let after_tender = post_voids
        .map(|v| ((v.store_id.clone(), v.transaction_id.clone()), v))
        .join_map(
            transactions.map(|t| ((t.store_id.clone(), t.transaction_id.clone()), t.tendered)),
            |_, void, tendered| {
                (tendered.0 > 0).then(|| RuleBreak {
                    store_id: void.store_id.clone(),
                    cashier_id: void.cashier_id.clone(),
                    business_date: void.business_date,
                    rule: Rule::PostVoidAfterTender,
                    refund_id: None,
                    transaction_id: void.transaction_id.clone(),
                    amount: *tendered,
                })
            },
        )
        .flat_map(|r| r);

    without_sale.concat(against_sale).concat(after_tender)
}

fn refund_break(refund: &RefundRec, rule: Rule) -> RuleBreak {
    RuleBreak {
        store_id: refund.store_id.clone(),
        cashier_id: refund.cashier_id.clone(),
        business_date: refund.business_date,
        rule,
        refund_id: Some(refund.refund_id.clone()),
        transaction_id: refund.original_transaction_id.clone().unwrap_or_default(),
        amount: Cents(refund.amount.0),
    }
}
