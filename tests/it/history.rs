//! `exception_history`'s reference: a state machine written here, apart from the pipeline's
//! fold, from the rules of docs/manager.md; and the fold against it at every epoch of random
//! streams (retractions, late events, 1 and 2 workers), with random actions. The live run's
//! history is checked against the same reference in `live::manager`.

use std::collections::{BTreeMap, BTreeSet};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow_operators::exception_history::History;
use tillflow_schemas::views::{Exception, Status};
use tillflow_schemas::{ActionKind, ExceptionAction, Text};
use tillflow_testkit::events::random_stream;
use tillflow_testkit::support::run_prepared;

/// Each exception's life: id → (status, version, acknowledged_by,
/// assigned_to, note, first_seen in ms, whether it has cleared).
pub type Lives = BTreeMap<String, (String, u32, String, String, String, i64, bool)>;

/// The reference: each exception's life by the rules of docs/manager.md, from the epochs'
/// changes of `exceptions` and the actions admitted in each epoch (applied before that epoch's
/// changes, as they arrived during it).
pub fn reference(changes: &[(Exception, u64, isize)], actions: &[(u64, ExceptionAction)], tick_ms: i64) -> Lives {
    let mut epochs: Vec<u64> = changes.iter().map(|c| c.1).chain(actions.iter().map(|a| a.0)).collect();
    epochs.sort();
    epochs.dedup();
    let mut standing: BTreeMap<String, Exception> = BTreeMap::new();
    let mut counts: BTreeMap<Exception, isize> = BTreeMap::new();
    let mut lives = Lives::new();
    let said = |e: &Exception| (e.severity, e.amount, e.evidence.clone());
    for epoch in epochs {
        for (_, a) in actions.iter().filter(|a| a.0 == epoch) {
            let life = lives.get_mut(a.exception_id.as_str()).expect("actions name known exceptions");
            match a.action {
                ActionKind::Acknowledge => {
                    if !life.6 {
                        life.0 = "acknowledged".into();
                    }
                    life.2 = a.user.to_string();
                }
                ActionKind::Dismiss => {
                    if !life.6 {
                        life.0 = "dismissed".into();
                    }
                    life.4 = a.note.as_deref().unwrap_or_default().to_string();
                }
                ActionKind::Assign => life.3 = a.assignee.as_deref().unwrap_or_default().to_string(),
                ActionKind::Note => life.4 = a.note.as_deref().unwrap_or_default().to_string(),
                ActionKind::Reopen => {
                    life.0 = "reopened".into();
                    life.1 += 1;
                    life.6 = false;
                }
            }
        }
        for (row, _, diff) in changes.iter().filter(|c| c.1 == epoch) {
            *counts.entry(row.clone()).or_default() += diff;
        }
        let now: BTreeMap<String, Exception> =
            counts.iter().filter(|(_, n)| **n > 0).map(|(e, _)| (e.exception_id.to_string(), e.clone())).collect();
        let ids: std::collections::BTreeSet<String> = standing.keys().chain(now.keys()).cloned().collect();
        for id in ids {
            match (lives.get_mut(&id), now.get(&id)) {
                (None, Some(_)) => {
                    let first = epoch as i64 * tick_ms;
                    lives.insert(
                        id.clone(),
                        ("open".into(), 1, String::new(), String::new(), String::new(), first, false),
                    );
                }
                (Some(life), None) => {
                    life.0 = "cleared".into();
                    life.6 = true;
                }
                (Some(life), Some(e)) => {
                    // Worse: a higher severity (High < Medium < Low in the enum's order); at the
                    // same one a larger amount, or without one other evidence.
                    let worse = standing.get(&id).is_none_or(|b| match b.severity.cmp(&e.severity) {
                        std::cmp::Ordering::Equal => match (b.amount, e.amount) {
                            (Some(x), Some(y)) => y.0.abs() > x.0.abs(),
                            _ => said(b) != said(e),
                        },
                        order => order == std::cmp::Ordering::Greater,
                    });
                    if life.6 || (worse && life.0 == "acknowledged") {
                        life.0 = "reopened".into();
                        life.1 += 1;
                        life.6 = false;
                    }
                }
                (None, None) => {}
            }
        }
        standing = now;
    }
    lives
}

/// What the fold says, in the reference's terms.
fn folded(history: &History) -> Lives {
    history
        .rows()
        .map(|r| {
            let text = |t: &Option<String>| t.clone().unwrap_or_default();
            let life = (
                r.status.name().to_string(),
                r.version,
                text(&r.acknowledged_by),
                text(&r.assigned_to),
                text(&r.note),
                r.first_seen,
                r.status == Status::Cleared,
            );
            (r.exception_id.clone(), life)
        })
        .collect()
}

/// A random action on one of `known`, at `epoch`.
fn random_action(
    rng: &mut ChaCha8Rng,
    known: &[String],
    stores: &BTreeMap<String, String>,
    n: usize,
) -> ExceptionAction {
    let id = &known[rng.random_range(0..known.len())];
    let kinds =
        [ActionKind::Acknowledge, ActionKind::Dismiss, ActionKind::Assign, ActionKind::Note, ActionKind::Reopen];
    let action = kinds[rng.random_range(0..kinds.len())];
    ExceptionAction {
        event_id: Text::from(format!("a{n}").as_str()),
        ts: 1_000 + n as i64,
        store_id: stores[id].as_str().into(),
        exception_id: id.as_str().into(),
        action,
        user: ["dm1", "dm2"][rng.random_range(0..2)].into(),
        note: matches!(action, ActionKind::Dismiss | ActionKind::Note)
            .then(|| Text::from(format!("note {n}").as_str())),
        assignee: (action == ActionKind::Assign).then(|| Text::from("sam")),
    }
}

#[test]
fn the_fold_equals_the_reference_at_every_epoch_of_random_streams() {
    let (mut acted, mut statuses) = (0, BTreeSet::new());
    for seed in 0..12u64 {
        let stream = random_stream(seed, 60..160);
        let output = run_prepared(&stream, 1 + (seed % 2) as usize);
        let changes: Vec<(Exception, u64, isize)> = output.changes::<Exception>().to_vec();
        let mut epochs: Vec<u64> = changes.iter().map(|c| c.1).collect();
        epochs.sort();
        epochs.dedup();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut history, mut actions) = (History::default(), Vec::new());
        let (mut known, mut stores) = (Vec::new(), BTreeMap::new());
        let mut seen_before = BTreeSet::new();
        for (i, epoch) in epochs.iter().enumerate() {
            // Actions during the epoch, on exceptions seen before it; then its changes.
            for n in 0..if known.is_empty() { 0 } else { rng.random_range(1..5) } {
                let action = random_action(&mut rng, &known, &stores, i * 10 + n);
                assert_eq!(history.refuses(&action), None, "seed {seed}: an exception seen before");
                history.act(&action).expect("a known exception");
                actions.push((*epoch, action));
            }
            let now: Vec<(Exception, isize)> =
                changes.iter().filter(|c| c.1 == *epoch).map(|(e, _, d)| (e.clone(), *d)).collect();
            history.observe(&now, *epoch as i64);
            let upto: Vec<(Exception, u64, isize)> = changes.iter().filter(|c| c.1 <= *epoch).cloned().collect();
            let expected = reference(&upto, &actions, 1);
            assert_eq!(folded(&history), expected, "seed {seed}, epoch {epoch}");
            statuses.extend(expected.values().map(|life| life.0.clone()));
            for (e, _) in &now {
                if seen_before.insert(e.exception_id.to_string()) {
                    known.push(e.exception_id.to_string());
                    stores.insert(e.exception_id.to_string(), e.store_id.to_string());
                }
            }
        }
        acted += actions.len();
    }
    // The streams reach every status, by figures and by actions.
    assert!(acted >= 30, "{acted} actions");
    assert_eq!(statuses, ["acknowledged", "cleared", "dismissed", "open", "reopened"].map(String::from).into());
}
