//! `tillflow eval`: scores the exceptions of a generated chain against its `ground_truth.json`.
//!
//! Each injected kind is scored on its own units: a cashier (`excess_voids`, `discount_abuse`),
//! a refund (`refund_without_sale`, `cash_refund_of_card_sale`: the refunds injected), a store
//! (`understaffed_peak`), a register (`register_refunds`) or a (store, SKU) (`ghost_inventory`).
//! An exception of that kind on any day flags its unit.
//!
//! `basket_pair` is scored on `basket_affinity`: a pair of SKUs (in any district) that its last
//! state shows bought together [`PAIR_LIFT`] times as often as chance or more.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use tillflow_data::GroundTruth;
use tillflow_schemas::views::{BasketAffinity, Exception};

use crate::dataflow::consolidate;
use crate::run::{RunConfig, compute};
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

/// Runs every view over a generated chain in `dir` and scores its exceptions.
pub fn evaluate(dir: &Path, config: RunConfig) -> Result<Vec<Score>> {
    let path = dir.join("ground_truth.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::NoGroundTruth { path: path.clone(), source })?;
    let truth: GroundTruth =
        serde_json::from_str(&text).map_err(|source| Error::NotGroundTruth { path: path.clone(), source })?;
    let output = compute(&RunConfig { inputs: vec![dir.to_path_buf()], ..config })?;
    let exceptions = consolidate(output.changes::<Exception>().to_vec());
    let pairs = consolidate(output.changes::<BasketAffinity>().to_vec());
    Ok(score(&truth, &exceptions, &pairs))
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
