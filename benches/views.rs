//! The update cost of each view: one batch of changes on top of a large state.
//!
//! ```sh
//! cargo bench --bench views
//! ```
//!
//! The whole graph is loaded with the history of a generated chain (10 stores × 28 days, in
//! hourly epochs). Each iteration is then one epoch holding one batch: the history's last
//! [`BATCH`] sales and refunds (by event time), taken back in one iteration and fed again in the next, so the
//! state stays the full history. A view's time is what its operators ran for, from timely's
//! schedule log ([`tillflow::profile`]); `graph` is the wall time from closing the epoch to
//! every view settled.

use std::time::{Duration, Instant};

use criterion::Criterion;
use tillflow::dataflow::{Graph, build};
use tillflow::profile::OperatorClock;
use tillflow::source::{Epoch, Epochs, Ingest, Ingested, discover};
use tillflow_data::ChainConfig;
use tillflow_schemas::{Day, Event, Format};

/// Events per batch.
const BATCH: usize = 64;

/// The accepted events of a generated chain, with their epochs and business days.
fn history() -> Vec<(Epoch, Event, Option<Day>)> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = ChainConfig { stores: 10, days: 28, ..ChainConfig::default() };
    tillflow_data::generate(dir.path(), config, Format::Ndjson, &mut |_, _| {}).expect("a generated chain");
    let files = discover(&[dir.path().to_path_buf()]).expect("the generated files");
    Ingest::open(
        &files,
        Epochs::Tick(3_600_000),
        tillflow_schemas::time::RETENTION_MS,
        tillflow::pseudonyms::Pseudonyms::known(),
    )
    .filter_map(Ingested::into_accepted)
    .collect()
}

fn main() {
    let events = history();
    let mut latest: Vec<&(Epoch, Event, Option<Day>)> =
        events.iter().filter(|(_, event, _)| matches!(event, Event::Sale(_) | Event::Refund(_))).collect();
    latest.sort_by_key(|(_, event, _)| std::cmp::Reverse(event.ts()));
    let batch: Vec<(Event, Option<Day>)> =
        latest.into_iter().take(BATCH).map(|(_, event, day)| (event.clone(), *day)).collect();
    let end = batch.first().and_then(|(e, _)| e.ts()).unwrap_or_default();
    let start = batch.last().and_then(|(e, _)| e.ts()).unwrap_or_default();
    eprintln!(
        "batch: the last {} sales and refunds, {:.0} minutes of event time",
        batch.len(),
        (end - start) as f64 / 60e3
    );
    timely::execute_directly(move |worker| {
        let operators = OperatorClock::install(worker);
        let mut graph = build(worker, Default::default());
        let stages = graph.stages.clone();
        let settle = |graph: &mut Graph, worker: &mut timely::worker::Worker, next| {
            graph.advance(worker, next);
            drop(graph.drain());
        };
        let mut epoch: Epoch = 0;
        for (at, event, day) in events {
            if at > epoch {
                settle(&mut graph, worker, at);
                epoch = at;
            }
            graph.inputs.push(event, day);
        }
        epoch += 1;
        settle(&mut graph, worker, epoch);
        let loaded = operators.profile(worker, &stages).operators;

        // Takes the batch back, or feeds it again, in an epoch of its own.
        let mut fed = true;
        let mut flip = |graph: &mut Graph, worker: &mut timely::worker::Worker| {
            for (event, day) in &batch {
                match fed {
                    true => graph.inputs.retract(event.clone(), *day),
                    false => graph.inputs.push(event.clone(), *day),
                }
            }
            fed = !fed;
            epoch += 1;
            settle(graph, worker, epoch);
        };

        let mut criterion = Criterion::default().sample_size(20).configure_from_args();
        let mut group = criterion.benchmark_group(format!("a batch of {BATCH} events"));
        group.bench_function("graph", |b| {
            b.iter_custom(|iterations| {
                let started = Instant::now();
                for _ in 0..iterations {
                    flip(&mut graph, worker);
                }
                started.elapsed()
            })
        });
        let names: Vec<&'static str> =
            operators.profile(worker, &stages).stages.iter().map(|(name, _)| *name).collect();
        for name in names {
            let spent = |operators: &OperatorClock, worker: &timely::worker::Worker| {
                operators.profile(worker, &stages).stage(name)
            };
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    let before = spent(&operators, worker);
                    for _ in 0..iterations {
                        flip(&mut graph, worker);
                    }
                    spent(&operators, worker).saturating_sub(before)
                })
            });
        }
        group.finish();
        criterion.final_summary();
        eprintln!("busiest operators over the batches:");
        let mut batches = operators.profile(worker, &stages).operators;
        for operator in &mut batches {
            let before = loaded.iter().find(|o| o.id == operator.id).map_or(Duration::ZERO, |o| o.time);
            operator.time = operator.time.saturating_sub(before);
        }
        batches.sort_by_key(|o| std::cmp::Reverse(o.time));
        for operator in batches.iter().take(15) {
            eprintln!("  {:<24} {:<36} {:>8.3} s", operator.stage, operator.name, operator.time.as_secs_f64());
        }
    });
}
