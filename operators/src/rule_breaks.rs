//! `rule_breaks`: refunds and post-voids that break a rule of DESIGN.md, with their evidence.
//!
//! Reference: `queries/rule_breaks.sql`. A refund citing a transaction is matched with the sale of
//! that `transaction_id` anywhere in the chain (a refund may be made at another store); a
//! post-void with the sale it cancels in its own store.
//!
//! The reference definition, `queries/rule_breaks.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/rule_breaks.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::ThresholdTotal;
use tillflow_schemas::views::{Rule, RuleBreak};
use tillflow_schemas::{Cents, Epoch, Id, TenderKind};

use crate::keyed::ByKey;
use crate::records::{PostVoid, RefundRec, SaleRec, VoidRec};

/// What a refund is checked against in the sale it cites.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
struct Cited {
    net: Cents,
    cashier_id: Id,
    paid_by_card: bool,
    paid_in_cash: bool,
}

/// `sales` are every sale by (store, transaction), post-voided ones too; `effective` those that count.
pub fn rule_breaks<'s>(
    sales: ByKey<'s, PostVoid, SaleRec>,
    effective: VecCollection<'s, Epoch, SaleRec>,
    refunds: VecCollection<'s, Epoch, RefundRec>,
    voids: VecCollection<'s, Epoch, VoidRec>,
) -> VecCollection<'s, Epoch, RuleBreak> {
    let cited = refunds
        .flat_map(|r| r.original.clone().map(|(transaction, _)| (transaction, r)))
        .arrange_by_key_named("rule_breaks: refunds by cited sale");
    let sales_by_id = effective
        .map(|s| {
            let cited = Cited {
                net: s.net(),
                cashier_id: s.cashier_id,
                paid_by_card: s.paid_by(TenderKind::Card),
                paid_in_cash: s.paid_by(TenderKind::Cash),
            };
            (s.transaction, cited)
        })
        .arrange_by_key_named("rule_breaks: sales by transaction id");

    let matched = cited
        .clone()
        .join_core(sales_by_id, |transaction, refund, sale| Some((*transaction, refund.clone(), sale.clone())));
    let against_sale = matched.clone().flat_map(|(_, refund, sale)| {
        let broken = [
            (refund.amount() > sale.net, Rule::RefundAboveOriginal),
            (
                refund.tender_kind == TenderKind::Cash && sale.paid_by_card && !sale.paid_in_cash,
                Rule::CashRefundOfCardSale,
            ),
            (refund.cashier_id == sale.cashier_id, Rule::RefundBySameCashier),
        ];
        broken.into_iter().filter(|(is, _)| *is).map(move |(_, rule)| refund_break(&refund, rule))
    });
    let sold = matched
        .map(|(transaction, _, _)| transaction)
        .distinct_total()
        .arrange_by_self_named("rule_breaks: cited sales found");
    let with_sale = cited.clone().join_core(sold, |_, refund, ()| Some(refund.clone()));
    let without_sale = cited
        .as_collection(|_, refund| refund.clone())
        .concat(with_sale.negate())
        .map(|refund| refund_break(&refund, Rule::RefundWithoutSale));

    let after_tender = voids
        .filter(|v| v.post)
        .map(|v| ((v.store_id, v.transaction), v))
        .arrange_by_key_named("rule_breaks: post-voids by sale")
        .join_core(sales, |_, void, sale| {
            (sale.tendered().0 > 0).then(|| RuleBreak {
                store_id: void.store_id,
                cashier_id: void.cashier_id,
                business_date: void.business_date,
                rule: Rule::PostVoidAfterTender,
                refund_id: None,
                transaction_id: void.transaction_id.clone(),
                amount: sale.tendered(),
            })
        });

    without_sale.concat(against_sale).concat(after_tender)
}

fn refund_break(refund: &RefundRec, rule: Rule) -> RuleBreak {
    RuleBreak {
        store_id: refund.store_id,
        cashier_id: refund.cashier_id,
        business_date: refund.business_date,
        rule,
        refund_id: Some(refund.refund_id.clone()),
        transaction_id: refund.original.as_ref().map(|(_, text)| text.clone()).unwrap_or_default(),
        amount: refund.amount(),
    }
}

/// Beside the view, its reference test: `queries/rule_breaks.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("rule_breaks");
    }
}
