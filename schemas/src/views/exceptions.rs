//! `exceptions`: the one table a district manager reads. Each exception is a pure function of one
//! row of another view (or, for staffing, of one store-day's hours), so the table is maintained
//! by mapping those views and is checked against the same mapping over their states.

use serde::{Deserialize, Serialize};

use super::{
    Columns, InventoryPosition, LaborDemand, RATES, RefundVoidAnomaly, Rule, RuleBreak, SkuMargin, StaffingStatus,
    ViewRow, Z_THRESHOLD,
};
use crate::{Cents, Day, Id, Text};

/// Understaffed hours in one business day that make it an exception.
pub const UNDERSTAFFED_HOURS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Exception {
    /// A hash of (kind, store, subject, business day): the same exception keeps its id while
    /// its figures change from epoch to epoch.
    pub exception_id: Text,
    pub district: Id,
    pub store_id: Id,
    pub kind: Text,
    pub severity: Severity,
    /// The cashier, SKU, refund, transaction or store it is about.
    pub subject: Text,
    pub business_date: Day,
    pub amount: Option<Cents>,
    pub evidence: String,
}

impl Exception {
    fn new(kind: &str, district: &Id, store_id: &Id, subject: &str, business_date: Day) -> Exception {
        let key = format!("{kind}|{store_id}|{subject}|{business_date}");
        Exception {
            exception_id: format!("{:016x}", fnv1a(key.as_bytes())).into(),
            district: *district,
            store_id: *store_id,
            kind: kind.into(),
            severity: Severity::Medium,
            subject: subject.into(),
            business_date,
            amount: None,
            evidence: String::new(),
        }
    }

    fn with(mut self, severity: Severity, amount: Option<Cents>, evidence: String) -> Exception {
        (self.severity, self.amount, self.evidence) = (severity, amount, evidence);
        self
    }

    /// One exception per kind of flag a cashier-day carries: `excess_voids`, `excess_refunds`, `discount_abuse`.
    pub fn from_anomaly(row: &RefundVoidAnomaly) -> Vec<Exception> {
        let flags = row.flags();
        let kinds: [(&str, &[usize]); 3] =
            [("excess_voids", &[0, 1]), ("excess_refunds", &[2, 3]), ("discount_abuse", &[4])];
        kinds
            .iter()
            .filter_map(|(kind, rates)| {
                let flagged: Vec<usize> = rates.iter().copied().filter(|i| flags.contains(&RATES[*i])).collect();
                let worst = flagged.iter().filter_map(|i| row.z(*i)).fold(f64::MIN, f64::max);
                (!flagged.is_empty()).then(|| {
                    let severity = if worst >= 2.0 * Z_THRESHOLD { Severity::High } else { Severity::Medium };
                    let amount = match *kind {
                        "excess_refunds" => Some(row.week.refund_amount),
                        "discount_abuse" => Some(row.week.manual_discount_amount),
                        _ => None,
                    };
                    let evidence = flagged.iter().map(|i| rate_evidence(row, *i)).collect::<Vec<_>>().join("; ");
                    Exception::new(kind, &row.district, &row.store_id, &row.cashier_id, row.business_date)
                        .with(severity, amount, evidence)
                })
            })
            .collect()
    }

    pub fn from_rule_break(row: &RuleBreak, district: &Id) -> Exception {
        let subject = row.refund_id.as_deref().unwrap_or(&row.transaction_id);
        let severity = match row.rule {
            Rule::RefundWithoutSale | Rule::CashRefundOfCardSale => Severity::High,
            Rule::RefundAboveOriginal | Rule::RefundBySameCashier => Severity::Medium,
            Rule::PostVoidAfterTender => Severity::Low,
        };
        let evidence = match &row.refund_id {
            Some(refund) => format!("refund {refund} by {} cites sale {}", row.cashier_id, row.transaction_id),
            None => format!("sale {} voided by {} after tender", row.transaction_id, row.cashier_id),
        };
        Exception::new(row.rule.name(), district, &row.store_id, subject, row.business_date).with(
            severity,
            Some(row.amount),
            evidence,
        )
    }

    /// A business day with [`UNDERSTAFFED_HOURS`] or more understaffed hours; `hours` are that store-day's rows.
    pub fn from_staffing<'a>(hours: impl IntoIterator<Item = &'a LaborDemand>, district: &Id) -> Option<Exception> {
        let short: Vec<&LaborDemand> =
            hours.into_iter().filter(|h| h.status() == StaffingStatus::Understaffed).collect();
        let first = short.first()?;
        if short.len() < UNDERSTAFFED_HOURS {
            return None;
        }
        let severity = if short.len() >= 2 * UNDERSTAFFED_HOURS { Severity::High } else { Severity::Medium };
        let evidence = short
            .iter()
            .map(|h| {
                format!(
                    "{:02}:00 {} transactions, {:.1} staff on clock, {:.1} required",
                    h.hour,
                    h.transactions,
                    h.staff_on_clock(),
                    h.required_staff()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Some(
            Exception::new("understaffed_peak", district, &first.store_id, &first.store_id, first.business_date)
                .with(severity, None, evidence),
        )
    }

    /// A SKU sold below cost on a day: planned when every unit was on promotion.
    pub fn from_margin(row: &SkuMargin, district: &Id) -> Option<Exception> {
        let margin = row.gross_margin();
        if margin.0 >= 0 || row.net_sales().0 <= 0 {
            return None;
        }
        let planned = row.promo_units >= row.units_sold;
        let severity = if planned { Severity::Low } else { Severity::Medium };
        let evidence = format!(
            "{} units, net sales {}, cost {}{}",
            row.units_sold,
            row.net_sales(),
            row.cogs,
            if planned { ", all on promotion" } else { "" }
        );
        Some(Exception::new("negative_margin", district, &row.store_id, &row.sku, row.business_date).with(
            severity,
            Some(margin),
            evidence,
        ))
    }

    /// Negative stock (`ghost_inventory`) and `reorder` needs, dated by the watermark's day.
    pub fn from_inventory(row: &InventoryPosition, district: &Id) -> Vec<Exception> {
        let Some(day) = row.as_of_date else { return Vec::new() };
        let cover = row.days_of_cover().map_or("no recent sales".to_string(), |d| format!("{d:.1} days of cover"));
        let mut out = Vec::new();
        if row.negative_stock() {
            let evidence =
                format!("on hand {} after the last count; {} sold in 14 days", row.on_hand, row.units_sold_window);
            out.push(Exception::new("ghost_inventory", district, &row.store_id, &row.sku, day).with(
                Severity::High,
                None,
                evidence,
            ));
        } else if row.reorder() {
            let evidence = format!("on hand {}, {cover}", row.on_hand);
            out.push(Exception::new("reorder", district, &row.store_id, &row.sku, day).with(
                Severity::Low,
                None,
                evidence,
            ));
        }
        out
    }
}

fn rate_evidence(row: &RefundVoidAnomaly, i: usize) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    format!(
        "{} {} over 7 days ({} transactions), district median {}, z {:.1}",
        RATES[i],
        pct(row.week.rates()[i]),
        row.week.transactions,
        pct(row.median[i].map(|m| m.0)),
        row.z(i).unwrap_or_default()
    )
}

/// FNV-1a, 64 bits: a stable hash, the same on every platform and run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl ViewRow for Exception {
    const NAME: &'static str = "exceptions";
    const PARTITION: Option<&'static str> = Some("business_date");

    fn business_date(&self) -> Option<Day> {
        Some(self.business_date)
    }

    fn columns(c: &mut Columns<'_, Self>) {
        c.text("exception_id", |r| &r.exception_id)
            .text("district", |r| &r.district)
            .text("store_id", |r| &r.store_id)
            .text("kind", |r| &r.kind)
            .text("severity", |r| r.severity.name())
            .text("subject", |r| &r.subject)
            .date("business_date", |r| r.business_date)
            .opt_money("amount", |r| r.amount)
            .text("evidence", |r| &r.evidence);
    }
}
