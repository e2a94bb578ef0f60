//! `tillflow eval`: scores the exceptions of a generated chain against its `ground_truth.json`.
//!
//! Each injected kind is scored on its own units: a cashier (`excess_voids`, `discount_abuse`),
//! a refund (`refund_without_sale`, `cash_refund_of_card_sale`: the refunds injected), a store
//! (`understaffed_peak`), a register (`register_refunds`) or a (store, SKU) (`ghost_inventory`).
//! An exception of that kind on any day flags its unit.
//!
//! `basket_pair` is scored on `basket_affinity`: a pair of SKUs (in any district) that its last
//! state shows bought together [`PAIR_LIFT`] times as often as chance or more.
//!
//! The stock-outs `replenishment` projects are compared with the empty shelves the generator
//! recorded ([`Projection`]), and the lift `promotion_performance` measures with the lift each
//! promotion was built with ([`Lifts`]); neither has a target yet. The chain is run in one epoch
//! per day of event time, so that each day's projection is seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use tillflow_data::GroundTruth;
use tillflow_schemas::time::{MILLIS_PER_DAY, date_to_day};
use tillflow_schemas::views::{BasketAffinity, Exception, PromoFigures, PromotionPerformance, Replenishment};
use tillflow_schemas::{Day, Id};

use crate::dataflow::{Detail, Update, consolidate};
use crate::run::{RunConfig, compute};
use crate::source::Epochs;
use crate::{Error, Result};

pub const TARGET_RECALL: f64 = 0.95;
pub const TARGET_PRECISION: f64 = 0.90;

/// The lift from which `eval` counts a pair of `basket_affinity` as bought together.
pub const PAIR_LIFT: f64 = 4.0;

/// How the exceptions of one kind match what was injected.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub kind: String,
    pub injected: usize,
    pub flagged: usize,
    pub found: usize,
}

impl Score {
    pub fn precision(&self) -> Option<f64> {
        (self.flagged > 0).then(|| self.found as f64 / self.flagged as f64)
    }

    pub fn recall(&self) -> Option<f64> {
        (self.injected > 0).then(|| self.found as f64 / self.injected as f64)
    }

    pub fn meets_target(&self) -> bool {
        self.recall().is_some_and(|r| r >= TARGET_RECALL) && self.precision().is_some_and(|p| p >= TARGET_PRECISION)
    }
}

/// How far ahead a projected stock-out is scored, in days.
pub const PROJECTION_DAYS: Day = 7;

/// How many days after its projected date a stock-out still counts as foreseen.
pub const PROJECTION_SLACK: Day = 2;

/// The stock-outs `replenishment` projected against the shelves the generator emptied.
///
/// - projected: each (store, SKU, day) whose last row of the day projects a stock-out within
///   [`PROJECTION_DAYS`], early enough for the run to show whether it came; it came true when the
///   shelf was empty on a day after and no later than [`PROJECTION_SLACK`] days past the date;
/// - stock-outs: each first empty day of a (store, SKU) after a day with stock, from the second
///   week on; it was foreseen when a row of the week before projected a date no later than
///   [`PROJECTION_SLACK`] days past it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    pub projected: usize,
    pub came_true: usize,
    pub stockouts: usize,
    pub foreseen: usize,
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share =
            |n: usize, of: usize| if of == 0 { "-".to_string() } else { format!("{:.3}", n as f64 / of as f64) };
        write!(
            f,
            "stock-out projection (no target yet): {} projected within {PROJECTION_DAYS} days, {} came true \
             (precision {}); {} stock-outs, {} foreseen up to a week ahead (recall {})",
            self.projected,
            self.came_true,
            share(self.came_true, self.projected),
            self.stockouts,
            self.foreseen,
            share(self.foreseen, self.stockouts)
        )
    }
}

/// Each promotion's lift in units as built and as `promotion_performance` measured it over every
/// store and SKU-day with a baseline (`None` without one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifts(pub Vec<(String, f64, Option<f64>)>);

impl Lifts {
    /// Measures each promotion of the ground truth from the last state of `promotion_performance`.
    pub fn measure(truth: &GroundTruth, rows: &[PromotionPerformance]) -> Lifts {
        let mut totals: BTreeMap<&str, [i64; 8]> = BTreeMap::new();
        for row in rows.iter().filter(|row| row.figures.baseline_units > 0) {
            let total = totals.entry(row.promo_id.as_str()).or_default();
            total.iter_mut().zip(row.figures.to_array()).for_each(|(sum, n)| *sum += n);
        }
        let measured = |promo: &str| totals.get(promo).and_then(|total| PromoFigures::from_array(*total).lift_pct());
        Lifts(truth.promotions.iter().map(|p| (p.promo_id.clone(), p.lift_pct, measured(&p.promo_id))).collect())
    }
}

impl fmt::Display for Lifts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let measured: Vec<(&String, f64, f64)> =
            self.0.iter().filter_map(|(promo, built, measured)| Some((promo, *built, (*measured)?))).collect();
        let mut errors: Vec<f64> = measured.iter().map(|(_, built, got)| (got - built).abs()).collect();
        errors.sort_by(f64::total_cmp);
        let median = errors.get(errors.len() / 2).map_or("-".to_string(), |e| format!("{e:.1}"));
        write!(
            f,
            "promotion lift (no target): {} of {} promotions measured; median distance from the lift built in {median} points",
            measured.len(),
            self.0.len()
        )?;
        for (promo, built, got) in measured {
            write!(f, "\n  {promo:<8} built {built:>6.1}%  measured {got:>6.1}%")?;
        }
        Ok(())
    }
}

/// What `eval` found: the scores of each injected kind, the stock-out projection and the lifts.
pub struct Evaluation {
    pub scores: Vec<Score>,
    pub projection: Projection,
    pub lifts: Lifts,
}

/// Runs every view over a generated chain in `dir` and scores its exceptions, the projected
/// stock-outs and the measured lifts.
pub fn evaluate(dir: &Path, config: RunConfig) -> Result<Evaluation> {
    let path = dir.join("ground_truth.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::NoGroundTruth { path: path.clone(), source })?;
    let truth: GroundTruth =
        serde_json::from_str(&text).map_err(|source| Error::NotGroundTruth { path: path.clone(), source })?;
    let detail = Detail { epochs: true, ..config.detail };
    let daily = RunConfig { inputs: vec![dir.to_path_buf()], epochs: Epochs::Tick(MILLIS_PER_DAY), detail, ..config };
    let output = compute(&daily)?;
    let exceptions = consolidate(output.changes::<Exception>().to_vec());
    let pairs = consolidate(output.changes::<BasketAffinity>().to_vec());
    let projection = projection(&truth, output.changes::<Replenishment>());
    let promotions = consolidate(output.changes::<PromotionPerformance>().to_vec());
    Ok(Evaluation {
        scores: score(&truth, &exceptions, &pairs),
        projection,
        lifts: Lifts::measure(&truth, &promotions),
    })
}

/// Scores the stock-outs `replenishment` projected day by day (see [`Projection`]).
pub fn projection(truth: &GroundTruth, changes: &[Update<Replenishment>]) -> Projection {
    let day_of = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(date_to_day);
    let Some(first) = day_of(&truth.start).filter(|_| truth.days > 0) else {
        return Projection::default();
    };
    let last = first + truth.days as Day - 1;
    let empty: BTreeSet<(Id, Id, Day)> = truth
        .stockouts
        .iter()
        .filter_map(|s| Some((Id::from(s.store_id.as_str()), Id::from(s.sku.as_str()), day_of(&s.date)?)))
        .collect();

    // The last row of each (store, SKU, day), epoch by epoch.
    let mut updates: Vec<&Update<Replenishment>> = changes.iter().collect();
    updates.sort_by_key(|(_, epoch, _)| *epoch);
    let (mut state, mut rows) = (BTreeMap::<&Replenishment, isize>::new(), BTreeMap::new());
    for (i, (row, epoch, diff)) in updates.iter().map(|u| (&u.0, u.1, u.2)).enumerate() {
        *state.entry(row).or_default() += diff;
        if updates.get(i + 1).is_none_or(|next| next.1 != epoch) {
            state.retain(|_, count| *count != 0);
            for row in state.keys() {
                rows.insert((row.store_id, row.sku, row.as_of_date), row.projected_stockout);
            }
        }
    }

    let mut p = Projection::default();
    for ((store, sku, day), projected) in &rows {
        let Some(at) = projected.filter(|at| *at > *day && *at <= day + PROJECTION_DAYS) else { continue };
        if at + PROJECTION_SLACK > last {
            continue;
        }
        p.projected += 1;
        p.came_true += usize::from((day + 1..=at + PROJECTION_SLACK).any(|d| empty.contains(&(*store, *sku, d))));
    }
    for (store, sku, day) in &empty {
        if *day < first + 7 || empty.contains(&(*store, *sku, day - 1)) {
            continue;
        }
        p.stockouts += 1;
        let foreseen = (day - PROJECTION_DAYS..*day)
            .any(|d| rows.get(&(*store, *sku, d)).copied().flatten().is_some_and(|at| at <= day + PROJECTION_SLACK));
        p.foreseen += usize::from(foreseen);
    }
    p
}

/// Scores each kind the ground truth holds: the exceptions of its kind, or for `basket_pair` the
/// pairs of `basket_affinity` with a lift of [`PAIR_LIFT`] or more.
pub fn score(truth: &GroundTruth, exceptions: &[Exception], pairs: &[BasketAffinity]) -> Vec<Score> {
    let per_event = |kind: &str| matches!(kind, "refund_without_sale" | "cash_refund_of_card_sale");
    let kinds: BTreeSet<&str> = truth.anomalies.iter().map(|a| a.kind.as_str()).collect();
    kinds
        .into_iter()
        .map(|kind| {
            let injected: BTreeSet<String> = truth
                .anomalies
                .iter()
                .filter(|a| a.kind == kind)
                .flat_map(|a| {
                    if per_event(kind) { a.evidence.clone() } else { vec![format!("{}/{}", a.store_id, a.subject)] }
                })
                .collect();
            let flagged: BTreeSet<String> =
                match kind {
                    "basket_pair" => pairs
                        .iter()
                        .filter(|p| p.lift().is_some_and(|lift| lift >= PAIR_LIFT))
                        .map(|p| format!("/{}+{}", p.sku_a, p.sku_b))
                        .collect(),
                    _ => exceptions
                        .iter()
                        .filter(|e| e.kind == kind)
                        .map(|e| {
                            if per_event(kind) {
                                e.subject.to_string()
                            } else {
                                format!("{}/{}", e.store_id, e.subject)
                            }
                        })
                        .collect(),
                };
            Score {
                kind: kind.to_string(),
                injected: injected.len(),
                flagged: flagged.len(),
                found: injected.intersection(&flagged).count(),
            }
        })
        .collect()
}

/// The scores as a table.
pub struct Table<'a>(pub &'a [Score]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        writeln!(
            f,
            "{:<26} {:>8} {:>8} {:>6} {:>9} {:>7}  target",
            "kind", "injected", "flagged", "found", "precision", "recall"
        )?;
        for s in self.0 {
            writeln!(
                f,
                "{:<26} {:>8} {:>8} {:>6} {:>9} {:>7}  {}",
                s.kind,
                s.injected,
                s.flagged,
                s.found,
                ratio(s.precision()),
                ratio(s.recall()),
                if s.meets_target() { "met" } else { "MISSED" }
            )?;
        }
        write!(f, "target: recall >= {TARGET_RECALL} at precision >= {TARGET_PRECISION} for every injected kind")
    }
}
