//! `tillflow replay`: deterministic whatever the worker count, epoch by epoch; `--at` is the state
//! a full replay had at that epoch; a `--from`/`--until` window equals replaying only its events.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use tillflow::dataflow::{Detail, Output, Tuning, Update};
use tillflow::replay::{History, ReplayConfig, Speed, compute};
use tillflow::source::{Epoch, Window};
use tillflow_schemas::views::{
    CustomerSegment, Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RegisterAnomaly, RuleBreak,
    SegmentProfile, SkuMargin, ViewRow,
};

use crate::support::run_ok;

const HOUR: i64 = 3_600_000;

fn generated(dir: &Path) -> PathBuf {
    let chain = dir.join("chain");
    run_ok(&["generate", "--out", &chain.display().to_string(), "--stores", "3", "--days", "4", "--seed", "11"]);
    chain
}

/// A replay of `inputs` in hourly epochs that keeps every epoch's changes.
fn config(inputs: &[PathBuf], workers: usize, window: Window) -> ReplayConfig {
    ReplayConfig {
        history: History::Files {
            inputs: inputs.to_vec(),
            exports: Default::default(),
            epochs: tillflow::source::Epochs::Tick(HOUR),
        },
        out: String::new(),
        workers,
        tuning: Tuning::default(),
        window,
        speed: Speed::Max,
        detail: tillflow_testkit::support::every_epoch(),
        pseudonyms: tillflow::pseudonyms::Pseudonyms::known(),
    }
}

fn replay(inputs: &[PathBuf], workers: usize, window: Window) -> Output {
    compute(&config(inputs, workers, window)).unwrap()
}

/// A view's changes, consolidated per row and epoch: equal streams mean equal states at every epoch.
fn stream<R: ViewRow + Ord + Clone + 'static>(output: &Output) -> Vec<Update<R>> {
    let mut changes: Vec<Update<R>> = output.changes::<R>().to_vec();
    changes.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut merged: Vec<Update<R>> = Vec::new();
    for (row, epoch, diff) in changes {
        match merged.last_mut() {
            Some(last) if last.0 == row && last.1 == epoch => last.2 += diff,
            _ => merged.push((row, epoch, diff)),
        }
    }
    merged.retain(|(_, _, diff)| *diff != 0);
    merged
}

/// The view as it stood at the end of `epoch` (every epoch if None), as sorted rows.
fn state<R: ViewRow + Ord + Clone + 'static>(output: &Output, epoch: Option<Epoch>) -> Vec<R> {
    let upto = output.changes::<R>().iter().filter(|(_, t, _)| epoch.is_none_or(|e| *t <= e)).cloned().collect();
    tillflow::dataflow::consolidate(upto)
}

fn same_streams<R: ViewRow + Ord + Clone + Debug + 'static>(a: &Output, b: &Output) {
    let (a, b) = (stream::<R>(a), stream::<R>(b));
    assert!(!a.is_empty(), "{} has changes", R::NAME);
    assert!(a == b, "{}: the change streams differ ({} and {} changes)", R::NAME, a.len(), b.len());
}

/// Every view of `a` and `b` went through the same states, epoch by epoch.
fn same_epochs(a: &Output, b: &Output) {
    same_streams::<SkuMargin>(a, b);
    same_streams::<InventoryPosition>(a, b);
    same_streams::<RuleBreak>(a, b);
    same_streams::<RefundVoidAnomaly>(a, b);
    same_streams::<RegisterAnomaly>(a, b);
    same_streams::<LaborDemand>(a, b);
    same_streams::<Exception>(a, b);
    same_streams::<CustomerSegment>(a, b);
    same_streams::<SegmentProfile>(a, b);
}

fn same_state<R: ViewRow + Ord + Clone + Debug + 'static>(a: &Output, at: Option<Epoch>, b: &Output) {
    let (a, b) = (state::<R>(a, at), state::<R>(b, None));
    assert!(a == b, "{}: the states differ ({} and {} rows)", R::NAME, a.len(), b.len());
}

/// Every view of `b`, at its end, is every view of `a` at the end of epoch `at` (of `a`'s end if None).
fn same_states(a: &Output, at: Option<Epoch>, b: &Output) {
    same_state::<SkuMargin>(a, at, b);
    same_state::<InventoryPosition>(a, at, b);
    same_state::<RuleBreak>(a, at, b);
    same_state::<RefundVoidAnomaly>(a, at, b);
    same_state::<RegisterAnomaly>(a, at, b);
    same_state::<LaborDemand>(a, at, b);
    same_state::<Exception>(a, at, b);
    same_state::<CustomerSegment>(a, at, b);
    same_state::<SegmentProfile>(a, at, b);
}

#[test]
fn replay_is_deterministic_across_worker_counts_epoch_by_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec![generated(dir.path())];
    let one = replay(&chain, 1, Window::default());
    let two = replay(&chain, 2, Window::default());
    let again = replay(&chain, 2, Window::default());
    assert!(one.epochs > 24, "a four-day chain spans many hourly epochs: {}", one.epochs);
    assert_eq!(one.counts, two.counts);
    same_epochs(&one, &two);
    same_epochs(&two, &again);
}

#[test]
fn at_an_epoch_is_the_full_replay_then() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec![generated(dir.path())];
    let full = replay(&chain, 2, Window::default());
    let mut epochs: Vec<Epoch> = full.changes::<SkuMargin>().iter().map(|(_, t, _)| *t).collect();
    epochs.sort_unstable();
    epochs.dedup();
    for at in [epochs[epochs.len() / 3], epochs[epochs.len() * 2 / 3]] {
        let partial = replay(&chain, 2, Window { last_epoch: Some(at), ..Window::default() });
        assert!(partial.counts.received < full.counts.received, "--at {at} stops early");
        same_states(&full, Some(at), &partial);
    }
}

/// Keeps the lines of NDJSON files whose store-dated events fall in [from, until).
fn filter_chain(chain: &Path, into: &Path, from: i64, until: i64) {
    std::fs::create_dir_all(into).unwrap();
    for file in std::fs::read_dir(chain).unwrap().map(|e| e.unwrap().path()) {
        if file.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        let kept: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|line| {
                let event = tillflow_schemas::formats::ndjson::parse_line(line.as_bytes()).unwrap();
                event.dated_by_store().is_none() || event.ts().is_some_and(|ts| ts >= from && ts < until)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(into.join(file.file_name().unwrap()), kept).unwrap();
    }
}

#[test]
fn a_window_equals_replaying_only_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let chain = generated(dir.path());
    let from = tillflow_schemas::time::parse_ts("2026-03-03T00:00:00Z").unwrap();
    let until = tillflow_schemas::time::parse_ts("2026-03-04T12:00:00Z").unwrap();
    let window = Window { from: Some(from), until: Some(until), last_epoch: None };
    let windowed = replay(std::slice::from_ref(&chain), 2, window);
    let filtered = dir.path().join("filtered");
    filter_chain(&chain, &filtered, from, until);
    let only = replay(&[filtered], 2, Window::default());
    let everything = replay(&[chain], 2, Window::default());
    assert!(windowed.counts.skipped > 0 && windowed.counts.received == only.counts.received);
    assert_eq!(windowed.counts.received + windowed.counts.skipped, everything.counts.received);
    same_states(&only, None, &windowed);
}

#[test]
fn a_run_that_folds_its_changes_ends_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec![generated(dir.path())];
    let kept = replay(&chain, 2, Window::default());
    let folded = compute(&ReplayConfig { detail: Detail::default(), ..config(&chain, 2, Window::default()) }).unwrap();
    assert!(kept.epochs > 48, "the changes are folded mid-run too, every 48 epochs: {}", kept.epochs);
    same_states(&kept, None, &folded);
    let (kept, folded) = (kept.changes::<SkuMargin>(), folded.changes::<SkuMargin>());
    assert!(folded.len() < kept.len(), "{} folded changes, {} kept", folded.len(), kept.len());
    assert!(folded.iter().all(|(_, _, diff)| *diff > 0), "one net change per row that is there at the end");
}
