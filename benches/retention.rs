//! State that ages out, measured: memory over a run far longer than the retention, and the time a
//! restart takes against the length of the run, with and without a checkpoint of the ingest log.
//!
//! `cargo bench --profile dev --bench retention -- --stores 10 --days 120`
//!
//! 1. **Memory.** The generated chain is read from its files through admission and fed day by
//!    day into the graph (one worker), once with a 30-day retention and once with the default
//!    400 days, each in a process of its own; after every tenth day the process's resident
//!    memory (`VmRSS`) and the events kept are recorded.
//! 2. **Recovery.** For runs of 30, 60 and 120 days, the ingest log a live run would have written
//!    is built, then `tillflow run --follow` is started on it and timed until its first epoch is
//!    published (every view holding the recovered state): once replaying the whole log, once
//!    from a checkpoint the previous start wrote.
//!
//! The tables are printed and written to `benches/RESULTS.md` (section "Issue 15: state that ages out").

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tillflow::dataflow::Tuning;
use tillflow::journal::{Entry, Journal, Place};
use tillflow_data::ChainConfig;
use tillflow_schemas::time::MILLIS_PER_DAY;
use tillflow_schemas::{Day, Event, Format};

#[path = "chain.rs"]
mod chain;
use chain::{accepted, admitted, generated};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    stores: u32,
    #[arg(long, default_value_t = 120)]
    days: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the chain and the logs are kept between runs.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/retention"))]
    dir: PathBuf,
    /// Run only the memory measurement with this retention, in this process (the parent runs it
    /// for 30 and 400 days, each in a child).
    #[arg(long, hide = true)]
    memory_only: Option<i64>,
    /// Do not rewrite benches/RESULTS.md.
    #[arg(long)]
    no_write: bool,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let chain = args.dir.join(format!("chain-{}x{}-{}", args.stores, args.days, args.seed));
    let config = ChainConfig { stores: args.stores, days: args.days, seed: args.seed, ..ChainConfig::default() };
    generated(&chain, config, Format::Ndjson)?;
    if let Some(days) = args.memory_only {
        memory(&chain, days);
        return Ok(());
    }
    let mut text = format!(
        "A chain of {} stores over {} days (seed {}), `cargo bench --profile dev --bench retention -- --stores {} \
         --days {}`.\n\n",
        args.stores, args.days, args.seed, args.stores, args.days
    );
    text.push_str(
        "Memory, read from the files through admission and fed day by day into the graph (1 worker): resident MiB and events kept, after each tenth day.\n\n",
    );
    let mut columns = Vec::new();
    for retention in [30, 400] {
        let output = Command::new(std::env::current_exe()?)
            .args(["--stores", &args.stores.to_string(), "--days", &args.days.to_string()])
            .args(["--seed", &args.seed.to_string(), "--dir", &args.dir.display().to_string()])
            .args(["--memory-only", &retention.to_string()])
            .stderr(Stdio::inherit())
            .output()?;
        anyhow::ensure!(output.status.success(), "the memory run with a {retention}-day retention failed");
        columns.push((retention, String::from_utf8(output.stdout)?));
    }
    text.push_str("| day | 30-day retention: RSS | events kept | 400-day retention: RSS | events kept |\n");
    text.push_str("| --: | --: | --: | --: | --: |\n");
    let rows: Vec<Vec<&str>> = columns.iter().map(|(_, out)| out.lines().collect()).collect();
    for (short, long) in rows[0].iter().zip(&rows[1]) {
        let short: Vec<&str> = short.split(',').collect();
        let long: Vec<&str> = long.split(',').collect();
        text.push_str(&format!("| {} | {} MiB | {} | {} MiB | {} |\n", short[0], short[1], short[2], long[1], long[2]));
    }

    text.push_str(
        "\nRecovery: `tillflow run --follow` started on the ingest log of a run of N days (30-day \
                   retention), timed until its first epoch is published with every view recovered.\n\n",
    );
    text.push_str("| run | log replayed whole | from a checkpoint | checkpoint + tail | speed-up |\n| --: | --: | --: | --: | --: |\n");
    let events = accepted(&chain);
    for days in [30, 60, 90, 120].into_iter().filter(|d| *d <= args.days as i64) {
        let log = args.dir.join(format!("recovery-{days}"));
        let _ = std::fs::remove_dir_all(&log);
        let logged = write_log(&log.join(tillflow::serve::INGEST_LOG), &events, days)?;
        // The first start after the log is written pays for warming up; the second is timed.
        restart(&log, "1GiB")?;
        let whole = restart(&log, "1GiB")?;
        // This start writes a checkpoint (days have left the retention); the next reads it.
        restart(&log, "0")?;
        let bytes = log_bytes(&log.join(tillflow::serve::INGEST_LOG))?;
        let checkpointed = restart(&log, "0")?;
        text.push_str(&format!(
            "| {days} days, {logged} events | {:.2} s | {:.2} s | {:.0} MB | {:.1}× |\n",
            whole.as_secs_f64(),
            checkpointed.as_secs_f64(),
            bytes as f64 / 1e6,
            whole.as_secs_f64() / checkpointed.as_secs_f64()
        ));
    }
    println!("{text}");
    if !args.no_write {
        write_results(&text)?;
    }
    Ok(())
}

/// Streams the chain from its files through admission into the graph, day by day, with a
/// retention of `retention_days`; prints `day,MiB,kept` after every tenth day.
fn memory(chain: &Path, retention_days: i64) {
    let retention_ms = retention_days * MILLIS_PER_DAY;
    let chain = chain.to_path_buf();
    let tuning = Tuning { retention_ms, ..Tuning::default() };
    timely::execute_directly(move |worker| {
        let mut graph = tillflow::dataflow::build(worker, tuning);
        // Settles the day before `next` and, after each tenth day, prints the figures.
        let close = |graph: &mut tillflow::dataflow::Graph, worker: &mut timely::worker::Worker, day: u64| {
            graph.advance(worker, day + 1);
            drop(graph.drain());
            if day > 0 && day.is_multiple_of(10) {
                println!("{day},{},{}", memory_mib(), graph.inputs.retention.kept().len());
            }
        };
        let (mut first, mut day) = (None, 0);
        for (event, business_date) in admitted(&chain, retention_ms) {
            if let Some(ts) = event.ts() {
                let first = *first.get_or_insert(ts / MILLIS_PER_DAY);
                let today = (ts / MILLIS_PER_DAY - first + 1) as u64;
                if today > day {
                    close(&mut graph, worker, day);
                    day = today;
                }
            }
            graph.inputs.push(event, business_date);
        }
        close(&mut graph, worker, day);
        graph.finish(worker);
    });
}

/// The process's resident memory, in MiB.
fn memory_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    format!("{:.0}", kib / 1024.0)
}

/// Writes the ingest log a live run of the chain's first `days` days would have written, one
/// epoch per hour of event time; returns how many events it holds.
fn write_log(dir: &Path, events: &[(Event, Option<Day>)], days: i64) -> anyhow::Result<usize> {
    let first = events.iter().find_map(|(e, _)| e.ts()).unwrap_or_default();
    let (mut journal, _) = Journal::open(&Place::Folder(dir.to_path_buf()))?;
    let mut entries = Vec::new();
    let mut logged = 0;
    for (position, (event, _)) in events.iter().enumerate() {
        if event.ts().is_some_and(|ts| ts - first >= days * MILLIS_PER_DAY) {
            continue;
        }
        let epoch = event.ts().map_or(0, |ts| (ts / 3_600_000) as u64);
        entries.push(Entry::Accepted {
            source: "bench".into(),
            position: position as u64,
            epoch,
            event: event.to_json(),
        });
        logged += 1;
        if entries.len() == 10_000 {
            journal.append(&std::mem::take(&mut entries))?;
        }
    }
    journal.append(&entries)?;
    Ok(logged)
}

fn log_bytes(dir: &Path) -> std::io::Result<u64> {
    std::fs::read_dir(dir)?.map(|e| e.and_then(|e| e.metadata()).map(|m| m.len())).sum()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts tillflow on the log under `out`, times it until its first epoch is published, and
/// stops it as Ctrl-C would.
fn restart(out: &Path, checkpoint_after: &str) -> anyhow::Result<Duration> {
    let (http, pg, flight) = (free_port(), free_port(), free_port());
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tillflow"))
        .args(["run", "--follow", "--tick", "100ms", "--retention", "30d", "--checkpoint-after", checkpoint_after])
        .args(["--listen", &format!("127.0.0.1:{http}"), "--pg", &format!("127.0.0.1:{pg}")])
        .args(["--flight", &format!("127.0.0.1:{flight}"), "--out", &out.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || std::io::BufReader::new(stderr).lines().map_while(Result::ok).for_each(drop));
    let published = |port: u16| -> Option<u64> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.lines().find_map(|l| l.strip_prefix("tillflow_epoch "))?.trim().parse().ok()
    };
    while published(http).is_none_or(|epoch| epoch == 0) {
        anyhow::ensure!(child.try_wait()?.is_none(), "tillflow stopped before publishing");
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3_600), "no epoch within an hour");
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    child.wait()?;
    Ok(elapsed)
}

/// Replaces the section of benches/RESULTS.md this benchmark writes (or adds it before the live
/// mode's).
fn write_results(text: &str) -> anyhow::Result<()> {
    const TITLE: &str = "## Issue 15: state that ages out\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/RESULTS.md");
    let results = std::fs::read_to_string(&path)?;
    let commit = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output()?;
    let section = format!(
        "{TITLE}\nWritten by `benches/retention.rs` at commit {} on this machine.\n\n{text}\n",
        String::from_utf8_lossy(&commit.stdout).trim()
    );
    let (start, end) = match results.find(TITLE) {
        Some(s) => {
            // Up to the next section or hand-written subsection, which stays.
            let rest = &results[s + TITLE.len()..];
            let next = [rest.find("\n## "), rest.find("\n### ")].into_iter().flatten().min();
            (s, next.map_or(results.len(), |e| s + TITLE.len() + e + 1))
        }
        None => {
            let at = results.find("## Live mode (issue 14").unwrap_or(results.len());
            (at, at)
        }
    };
    std::fs::write(path, format!("{}{section}{}", &results[..start], &results[end..]))?;
    Ok(())
}
