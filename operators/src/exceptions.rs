//! `exceptions`: the table a district manager reads, one exception per rule a row of another
//! view breaks (or, for staffing, one store-day's hours).
//!
//! Reference: `queries/exceptions.sql`, over the other views' reference tables. Each row becomes
//! its exceptions first, and only those meet their store's district (rows of a store without a
//! record wait for it), so the join holds the few exceptions, not every row of every view.
//!
//! The reference definition, `queries/exceptions.sql`, which the tests (`tests/it/views.rs`) compare
//! this view with at every epoch, on 1 and 2 workers, with events fed through admission:
#![doc = concat!("```sql\n", include_str!("../../queries/exceptions.sql"), "```")]

use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::{
    BASELINE_SCALE, CategoryDaily, Exception, Forecast, InventoryPosition, LaborDemand, PromoFigures,
    PromotionPerformance, RATES, REGISTER_RATES, Ratio, RefundVoidAnomaly, RegisterAnomaly, Replenishment, Rule,
    RuleBreak, Severity, SkuMargin, StaffingStatus, StoreDaily, Verdict,
};
use tillflow_schemas::{Cents, Day, Epoch, Id};

use crate::forecast::WEEKS_BACK;
use crate::records::StoreRec;
use crate::refund_void_anomalies::Z_THRESHOLD;
use crate::register_anomalies;
use crate::sums::Sums;

/// Understaffed hours in one business day that make it an exception.
pub const UNDERSTAFFED_HOURS: usize = 3;

/// How far under its forecast, in percent, an ended store-day must come to be an exception on
/// its own: beyond the swings of a small store's days after a promotion or a few empty shelves.
pub const BELOW_FORECAST_PCT: i64 = 45;

/// How far under its forecast, in percent, an ended store-day must come to be an exception when
/// one department explains it ([`DEPARTMENT_LEFT_PCT`]).
pub const CONCENTRATED_BELOW_PCT: i64 = 15;

/// The share of its own forecast, in percent, at or under which a department's day explains a
/// store-day's shortfall, if that department is [`DEPARTMENT_MIN_SHARE_PCT`] of the store's forecast.
pub const DEPARTMENT_LEFT_PCT: i64 = 25;

/// The share of the store's forecast, in percent, a department's forecast needs to explain a day.
pub const DEPARTMENT_MIN_SHARE_PCT: i64 = 10;

/// The fewest weeks a forecast must average for its day to be judged against it.
pub const FORECAST_MIN_WEEKS: i64 = 2;

/// The units a promotion's baseline expects over its (SKU, day)s at a store, from which it is
/// judged: on fewer, a 20% lift is within two swings of chance (the square root of 100 is 10).
pub const PROMOTION_MIN_BASELINE_UNITS: i64 = 100;

/// The (SKU, day)s a promotion at a store needs to be judged.
pub const PROMOTION_MIN_DAYS: i64 = 3;

/// The views the exceptions are read from.
pub struct Sources<'s> {
    pub anomalies: VecCollection<'s, Epoch, RefundVoidAnomaly>,
    pub registers: VecCollection<'s, Epoch, RegisterAnomaly>,
    pub rule_breaks: VecCollection<'s, Epoch, RuleBreak>,
    pub labor: VecCollection<'s, Epoch, LaborDemand>,
    pub margins: VecCollection<'s, Epoch, SkuMargin>,
    pub stock: VecCollection<'s, Epoch, InventoryPosition>,
    pub store_days: VecCollection<'s, Epoch, StoreDaily>,
    pub category_days: VecCollection<'s, Epoch, CategoryDaily>,
    pub promotion_days: VecCollection<'s, Epoch, PromotionPerformance>,
    pub replenishment: VecCollection<'s, Epoch, Replenishment>,
    /// Each store's local day of the watermark: the days before it have ended.
    pub today: VecCollection<'s, Epoch, (Id, Day)>,
}

pub fn exceptions<'s>(
    Sources {
        anomalies,
        registers,
        rule_breaks,
        labor,
        margins,
        stock,
        store_days,
        category_days,
        promotion_days,
        replenishment,
        today,
    }: Sources<'s>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
) -> VecCollection<'s, Epoch, Exception> {
    let staffing = labor
        .filter(|hour| hour.status == StaffingStatus::Understaffed)
        .map(|hour| ((hour.store_id, hour.business_date), hour))
        .reduce_named("exceptions: staffing", |_key: &(Id, Day), hours, out| {
            if let Some(exception) = from_staffing(hours.iter().map(|(h, _)| *h)) {
                out.push((exception, 1));
            }
        })
        .map(|(_, exception)| exception);
    anomalies
        .flat_map(|row| from_anomaly(&row))
        .concat(registers.flat_map(|row| from_register(&row)))
        .concat(rule_breaks.map(|row| from_rule_break(&row)))
        .concat(margins.flat_map(|row| from_margin(&row)))
        .concat(stock.flat_map(|row| from_inventory(&row)))
        .concat(staffing)
        .concat(sales_below_forecast(store_days, category_days, today))
        .concat(promotions_losing_margin(promotion_days))
        .concat(replenishment.flat_map(|row| from_replenishment(&row)))
        .map(|exception| (exception.store_id, exception))
        .join_map(stores, |_, exception, store| Exception { district: store.district, ..exception.clone() })
}

/// The view an exception of `kind` is read from, and its column the exception's subject is
/// (none: the store-day is the subject): where its evidence rows are.
pub fn source_of(kind: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match kind {
        "excess_voids" | "excess_refunds" | "discount_abuse" => ("refund_void_anomalies", Some("cashier_id")),
        "register_voids" | "register_refunds" => ("register_anomalies", Some("register_id")),
        "understaffed_peak" => ("labor_demand", None),
        "negative_margin" => ("sku_margin", Some("sku")),
        "sales_below_forecast" => ("store_daily", None),
        "promotion_loses_margin" => ("promotion_performance", Some("promo_id")),
        "ghost_inventory" | "reorder" => ("inventory_position", Some("sku")),
        "slow_mover" => ("replenishment", Some("sku")),
        "refund_without_sale" | "refund_above_original" | "cash_refund_of_card_sale" | "refund_by_same_cashier" => {
            ("rule_breaks", Some("refund_id"))
        }
        "post_void_after_tender" => ("rule_breaks", Some("transaction_id")),
        _ => return None,
    })
}

/// The view an exception of `kind` is read from (`exceptions` for a kind not known).
pub fn view_of(kind: &str) -> &'static str {
    source_of(kind).map_or("exceptions", |(view, _)| view)
}

/// An exception of `kind` about `subject`, its district to be filled in. Its id is a hash of
/// (kind, store, subject, business day): the same exception keeps it while its figures change.
fn exception(kind: &str, store_id: Id, subject: &str, business_date: Day) -> Exception {
    let key = format!("{kind}|{store_id}|{subject}|{business_date}");
    Exception {
        exception_id: format!("{:016x}", fnv1a(key.as_bytes())).into(),
        district: Id::default(),
        store_id,
        kind: kind.into(),
        severity: Severity::Medium,
        subject: subject.into(),
        business_date,
        amount: None,
        evidence: String::new(),
    }
}

/// FNV-1a, 64 bits: a stable hash, the same on every platform and run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn with(mut e: Exception, severity: Severity, amount: Option<Cents>, evidence: String) -> Exception {
    (e.severity, e.amount, e.evidence) = (severity, amount, evidence);
    e
}

/// Per kind, the rates (bits of `flags`) that raise it. Yields each kind with a flagged rate, the
/// rates flagged and the severity: high when the worst z-score of them is twice `threshold`.
fn flagged_kinds<'k>(
    kinds: &[(&'k str, &[usize])],
    flags: u8,
    z: &[Option<Ratio>],
    threshold: f64,
) -> Vec<(&'k str, Vec<usize>, Severity)> {
    kinds
        .iter()
        .filter_map(|(kind, rates)| {
            let flagged: Vec<usize> = rates.iter().copied().filter(|i| flags & (1 << i) != 0).collect();
            let worst = flagged.iter().filter_map(|i| z[*i]).map(|z| z.0).fold(f64::MIN, f64::max);
            let severity = if worst >= 2.0 * threshold { Severity::High } else { Severity::Medium };
            (!flagged.is_empty()).then_some((*kind, flagged, severity))
        })
        .collect()
}

/// A rate as a percentage with one decimal, `-` when there is none.
fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

/// One exception per kind of flag a cashier-day carries: `excess_voids`, `excess_refunds`, `discount_abuse`.
pub fn from_anomaly(row: &RefundVoidAnomaly) -> Vec<Exception> {
    let kinds: [(&str, &[usize]); 3] =
        [("excess_voids", &[0, 1]), ("excess_refunds", &[2, 3]), ("discount_abuse", &[4])];
    flagged_kinds(&kinds, row.flags, &row.z, Z_THRESHOLD)
        .into_iter()
        .map(|(kind, flagged, severity)| {
            let amount = match kind {
                "excess_refunds" => Some(row.week.refund_amount),
                "discount_abuse" => Some(row.week.manual_discount_amount),
                _ => None,
            };
            let evidence = flagged.iter().map(|i| rate_evidence(row, *i)).collect::<Vec<_>>().join("; ");
            with(exception(kind, row.store_id, &row.cashier_id, row.business_date), severity, amount, evidence)
        })
        .collect()
}

fn rate_evidence(row: &RefundVoidAnomaly, i: usize) -> String {
    format!(
        "{} {} over 7 days ({} transactions), district median {}, z {:.1}",
        RATES[i],
        pct(row.week.rates()[i]),
        row.week.transactions,
        pct(row.median[i].map(|m| m.0)),
        row.z[i].map_or(0.0, |z| z.0)
    )
}

/// One exception per kind of flag a register-day carries: `register_voids`, `register_refunds`.
pub fn from_register(row: &RegisterAnomaly) -> Vec<Exception> {
    let kinds: [(&str, &[usize]); 2] = [("register_voids", &[0, 1]), ("register_refunds", &[2, 3])];
    flagged_kinds(&kinds, row.flags, &row.z, register_anomalies::Z_THRESHOLD)
        .into_iter()
        .map(|(kind, flagged, severity)| {
            let amount = (kind == "register_refunds").then_some(row.week.refund_amount);
            let evidence = flagged
                .iter()
                .map(|&i| {
                    format!(
                        "{} {} over 7 days ({} transactions, {} cashiers), other registers {}, z {:.1}",
                        REGISTER_RATES[i],
                        pct(row.week.rates()[i]),
                        row.week.transactions,
                        row.cashiers,
                        pct(row.others_rate(i)),
                        row.z[i].map_or(0.0, |z| z.0)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            with(exception(kind, row.store_id, &row.register_id, row.business_date), severity, amount, evidence)
        })
        .collect()
}

pub fn from_rule_break(row: &RuleBreak) -> Exception {
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
    with(exception(row.rule.name(), row.store_id, subject, row.business_date), severity, Some(row.amount), evidence)
}

/// A business day with [`UNDERSTAFFED_HOURS`] or more understaffed hours; `hours` are that store-day's rows.
pub fn from_staffing<'a>(hours: impl IntoIterator<Item = &'a LaborDemand>) -> Option<Exception> {
    let short: Vec<&LaborDemand> = hours.into_iter().filter(|h| h.status == StaffingStatus::Understaffed).collect();
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
                h.required_staff.0
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let store = first.store_id;
    Some(with(exception("understaffed_peak", store, &store, first.business_date), severity, None, evidence))
}

/// A SKU sold below cost on a day: planned when every unit was on promotion.
pub fn from_margin(row: &SkuMargin) -> Option<Exception> {
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
    Some(with(
        exception("negative_margin", row.store_id, &row.sku, row.business_date),
        severity,
        Some(margin),
        evidence,
    ))
}

/// What a `sales_below_forecast` exception is made of, by store-day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum DayPart {
    /// The store-day, ended and [`CONCENTRATED_BELOW_PCT`] or more under its forecast: its net
    /// sales and forecast.
    Store(Cents, Forecast),
    /// A department's net sales that day and its sum over the days that forecast it (a day it
    /// sold nothing counts zero).
    Department(Option<Id>, DepartmentDay),
}

/// A department's net sales on a store-day, and their sum over the days that forecast that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DepartmentDay {
    pub net: Cents,
    pub before: Cents,
}

/// Store-days that ended [`BELOW_FORECAST_PCT`] or more under a forecast of
/// [`FORECAST_MIN_WEEKS`] or more, or [`CONCENTRATED_BELOW_PCT`] or more with a department
/// explaining it, with the departments furthest under theirs.
fn sales_below_forecast<'s>(
    store_days: VecCollection<'s, Epoch, StoreDaily>,
    category_days: VecCollection<'s, Epoch, CategoryDaily>,
    today: VecCollection<'s, Epoch, (Id, Day)>,
) -> VecCollection<'s, Epoch, Exception> {
    let under = store_days
        .map(|row| (row.store_id, row))
        .join_map(today, |_, row, today| (row.clone(), *today))
        .flat_map(|(row, today)| {
            let forecast = row.forecast?;
            let net = row.takings.net_sales();
            let under = row.business_date < today
                && forecast.days >= FORECAST_MIN_WEEKS
                && forecast.sum.0 > 0
                && share_of_forecast(net, forecast, 100 - CONCENTRATED_BELOW_PCT);
            under.then_some(((row.store_id, row.business_date), DayPart::Store(net, forecast)))
        });
    // Each department-day's net sales, and the same sent forward to the days it forecasts.
    let departments = category_days
        .flat_map(|row| {
            let (key, net) = ((row.store_id, row.department), row.takings.net_sales().0);
            let forward = WEEKS_BACK.map(|weeks| ((key, row.business_date + weeks), Sums([0, net])));
            std::iter::once(((key, row.business_date), Sums([net, 0]))).chain(forward)
        })
        .explode(|(key, sums)| Some((key, sums)))
        .count_total()
        .map(|(((store, department), day), Sums([net, before]))| {
            ((store, day), DayPart::Department(department, DepartmentDay { net: Cents(net), before: Cents(before) }))
        });
    under
        .concat(departments)
        .reduce_named("exceptions: sales below forecast", |(store, day), parts, out| {
            let Some((net, forecast)) = parts.iter().find_map(|(part, _)| match part {
                DayPart::Store(net, forecast) => Some((*net, *forecast)),
                DayPart::Department(..) => None,
            }) else {
                return;
            };
            let departments: Vec<(Option<Id>, DepartmentDay)> = parts
                .iter()
                .filter_map(|(part, _)| match part {
                    DayPart::Department(name, figures) => Some((*name, *figures)),
                    DayPart::Store(..) => None,
                })
                .collect();
            if let Some(exception) = from_store_day(*store, *day, net, forecast, &departments) {
                out.push((exception, 1));
            }
        })
        .map(|(_, exception)| exception)
}

/// How `sales_below_forecast` names the department of SKUs without a product record.
pub const NO_PRODUCT_RECORD: &str = "(no product record)";

/// Whether `net` is at most `pct` percent of the forecast's mean (in 128 bits: a day's cents
/// times 400 may not fit in 64).
fn share_of_forecast(net: Cents, forecast: Forecast, pct: i64) -> bool {
    100 * net.0 as i128 * forecast.days as i128 <= pct as i128 * forecast.sum.0 as i128
}

/// `n / d` rounded to the nearest integer, halves away from zero (`d > 0`).
fn rounded_div(n: i64, d: i64) -> i64 {
    let q = (2 * n.abs() + d) / (2 * d);
    if n < 0 { -q } else { q }
}

/// How far net sales came from their forecast's mean, in cents (negative: under).
fn against_forecast(net: Cents, forecast: Forecast) -> i64 {
    rounded_div(net.0 * forecast.days - forecast.sum.0, forecast.days)
}

/// A store-day's exception, if it is [`BELOW_FORECAST_PCT`] under its forecast, or
/// [`CONCENTRATED_BELOW_PCT`] under with a department of [`DEPARTMENT_MIN_SHARE_PCT`] of the
/// forecast selling [`DEPARTMENT_LEFT_PCT`] or less of its own. `departments` are that day's, each
/// with its sum over the forecast's days; the three furthest under are its evidence.
pub fn from_store_day(
    store: Id,
    day: Day,
    net: Cents,
    forecast: Forecast,
    departments: &[(Option<Id>, DepartmentDay)],
) -> Option<Exception> {
    let department_forecast = |d: &DepartmentDay| Forecast { sum: d.before, days: forecast.days };
    let explains = |d: &DepartmentDay| {
        100 * d.before.0 as i128 >= DEPARTMENT_MIN_SHARE_PCT as i128 * forecast.sum.0 as i128
            && share_of_forecast(d.net, department_forecast(d), DEPARTMENT_LEFT_PCT)
    };
    let store_wide = share_of_forecast(net, forecast, 100 - BELOW_FORECAST_PCT);
    let concentrated =
        share_of_forecast(net, forecast, 100 - CONCENTRATED_BELOW_PCT) && departments.iter().any(|(_, d)| explains(d));
    if !store_wide && !concentrated {
        return None;
    }
    let mean = |f: Forecast| Cents(rounded_div(f.sum.0, f.days));
    let halved = share_of_forecast(net, forecast, 50);
    let severity = if halved { Severity::High } else { Severity::Medium };
    let mut evidence =
        format!("net sales {net} against a forecast of {} (the same weekday, {} weeks)", mean(forecast), forecast.days);
    let name = |d: &Option<Id>| d.map_or(NO_PRODUCT_RECORD, |d| d.as_str()).to_string();
    let mut short: Vec<(i64, String, &DepartmentDay)> = departments
        .iter()
        .map(|(department, d)| (against_forecast(d.net, department_forecast(d)), name(department), d))
        .filter(|(by, _, _)| *by < 0)
        .collect();
    short.sort();
    if !short.is_empty() {
        let furthest: Vec<String> = short
            .iter()
            .take(3)
            .map(|(_, name, d)| format!("{name} {} against {}", d.net, mean(department_forecast(d))))
            .collect();
        evidence.push_str("; furthest under: ");
        evidence.push_str(&furthest.join(", "));
    }
    let amount = Cents(against_forecast(net, forecast));
    Some(with(exception("sales_below_forecast", store, store.as_str(), day), severity, Some(amount), evidence))
}

/// Each promotion at each store whose rows, summed, lose margin without lift.
fn promotions_losing_margin<'s>(
    promotion_days: VecCollection<'s, Epoch, PromotionPerformance>,
) -> VecCollection<'s, Epoch, Exception> {
    promotion_days
        .map(|row| ((row.promo_id, row.store_id), (row.business_date, row.figures)))
        .reduce_named("exceptions: promotions losing margin", |(promo, store), rows, out| {
            let first = rows.iter().map(|((day, _), _)| *day).min().expect("a group has rows");
            let mut total = [0; 8];
            for ((_, figures), count) in rows {
                total.iter_mut().zip(figures.to_array()).for_each(|(sum, n)| *sum += *count as i64 * n);
            }
            let days = rows.iter().map(|(_, count)| *count as i64).sum();
            if let Some(exception) = from_promotion(*promo, *store, first, days, &PromoFigures::from_array(total)) {
                out.push((exception, 1));
            }
        })
        .map(|(_, exception)| exception)
}

/// A promotion at a store, over its `days` (SKU, day)s from `first`, that loses margin
/// without lift, once it has [`PROMOTION_MIN_DAYS`] and [`PROMOTION_MIN_BASELINE_UNITS`].
pub fn from_promotion(promo: Id, store: Id, first: Day, days: i64, total: &PromoFigures) -> Option<Exception> {
    let judged = days >= PROMOTION_MIN_DAYS && total.baseline_units >= PROMOTION_MIN_BASELINE_UNITS * BASELINE_SCALE;
    if !judged || total.verdict() != Verdict::LosesMarginWithoutLift {
        return None;
    }
    let severity = if total.lift_scaled() <= 0 { Severity::High } else { Severity::Medium };
    let evidence = format!(
        "{} units on promotion where {:.1} were expected from the same weekdays of the four weeks before \
         ({days} SKU-days); discount {}, of which {} on units that would have sold anyway",
        total.promo_units,
        total.baseline_units_per_day(),
        total.discount,
        total.erosion
    );
    let amount = Cents(rounded_div(total.incremental_margin_scaled(), BASELINE_SCALE));
    Some(with(exception("promotion_loses_margin", store, promo.as_str(), first), severity, Some(amount), evidence))
}

/// Negative stock (`ghost_inventory`) and `reorder` needs, dated by the watermark's day.
pub fn from_inventory(row: &InventoryPosition) -> Option<Exception> {
    let day = row.as_of_date?;
    if row.negative_stock {
        let evidence =
            format!("on hand {} after the last count; {} sold in 14 days", row.on_hand, row.units_sold_window);
        Some(with(exception("ghost_inventory", row.store_id, &row.sku, day), Severity::High, None, evidence))
    } else if row.reorder {
        let cover = row.days_of_cover.map_or("no recent sales".to_string(), |d| format!("{:.1} days of cover", d.0));
        let evidence = format!("on hand {}, {cover}", row.on_hand);
        Some(with(exception("reorder", row.store_id, &row.sku, day), Severity::Low, None, evidence))
    } else {
        None
    }
}

/// A `slow_mover`: stock on hand that sold nothing on the store's days traded of the 28 (high),
/// or holds more than 90 days of their sales (low), dated by the watermark's day; its amount is
/// what the stock cost.
pub fn from_replenishment(row: &Replenishment) -> Option<Exception> {
    if !row.slow_mover {
        return None;
    }
    let (on_hand, sold, traded) = (row.on_hand, row.units_sold(), row.days_traded());
    let (severity, evidence) = if sold <= 0 {
        (Severity::High, format!("{on_hand} on hand, no sale in {traded} days traded"))
    } else {
        let cover = on_hand * traded / sold;
        (Severity::Low, format!("{on_hand} on hand, {sold} sold in {traded} days traded: {cover} days of cover"))
    };
    let e = exception("slow_mover", row.store_id, &row.sku, row.as_of_date);
    Some(with(e, severity, Some(row.stock_value()), evidence))
}

/// Beside the view, its reference test: `queries/exceptions.sql` at every epoch of random streams fed
/// through admission, on 1 and 2 workers (`tillflow_testkit::views::check_view`).
#[cfg(test)]
mod reference {
    #[test]
    fn equals_its_reference_at_every_epoch() {
        tillflow_testkit::views::check_view("exceptions");
    }
}
