//! `tillflow run` as a two-process timely cluster on localhost gives the views, dead letters and
//! counts of one process.

use std::path::Path;
use std::process::Stdio;

use crate::support::{run_ok, tillflow};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Records only some process can judge: sales of unknown stores (dead letters on whichever
/// process owns each store), clock-outs without a clock-in, and a line that is not JSON.
fn bad_records(chain: &Path) -> String {
    let day = std::fs::read_to_string(chain.join("events-2026-03-03.ndjson")).unwrap();
    let sale: serde_json::Value = day
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|v: &serde_json::Value| v["type"] == "sale")
        .unwrap();
    let mut lines = Vec::new();
    for n in 0..8 {
        let mut unknown = sale.clone();
        unknown["store_id"] = format!("X{n}").into();
        unknown["event_id"] = format!("unknown-store-{n}").into();
        lines.push(unknown.to_string());
        let shift = serde_json::json!({
            "type": "shift", "event_id": format!("stray-{n}"), "ts": "2026-03-03T12:00:00Z",
            "store_id": format!("S00{}", n % 3 + 1), "staff_id": format!("NOBODY{n}"), "kind": "clock_out",
        });
        lines.push(shift.to_string());
    }
    lines.push("{not json".to_string());
    lines.join("\n") + "\n"
}

/// Every row of every table persisted in `out`, sorted, by table.
fn tables(out: &Path) -> Vec<(String, Vec<String>)> {
    let out = out.display().to_string();
    tillflow::run_table_names()
        .into_iter()
        .filter(|t| *t != "pipeline_stats" && *t != "access_log")
        .map(|table| {
            let csv = run_ok(&["sql", "--out", &out, "--format", "csv", &format!("SELECT * FROM {table}")]);
            let mut rows: Vec<String> = csv.lines().map(str::to_string).collect();
            rows.sort();
            (table.to_string(), rows)
        })
        .collect()
}

/// The counts and rows of a run's summary (not its timings, nor the epochs this process fed).
fn counts(summary: &str) -> Vec<String> {
    let counted = ["events read", "accepted", "duplicates", "dead-lettered", "view "];
    summary.lines().filter(|l| counted.iter().any(|c| l.trim_start().starts_with(c))).map(str::to_string).collect()
}

#[test]
fn two_processes_give_the_views_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    run_ok(&["generate", "--out", &chain.display().to_string(), "--stores", "3", "--days", "3", "--seed", "5"]);
    std::fs::write(chain.join("bad.ndjson"), bad_records(&chain)).unwrap();
    let chain = chain.display().to_string();

    let single = dir.path().join("single");
    let alone = crate::support::run_ok_keyed(&[
        "run",
        "--input",
        &chain,
        "--out",
        &single.display().to_string(),
        "--workers",
        "2",
        "--affinity-min-baskets",
        "3",
    ]);

    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let cluster = dir.path().join("cluster");
    let processes: Vec<_> = (0..2)
        .map(|id| {
            tillflow()
                .args(["run", "--input", &chain, "--out", &cluster.display().to_string(), "--workers", "1"])
                // Three days hold few pairs in 20 baskets: a lower minimum gives basket_affinity rows.
                .args(["--affinity-min-baskets", "3"])
                .args(["--processes", "2", "--process-id", &id.to_string(), "--hosts", &hosts.display().to_string()])
                .env("TILLFLOW_PSEUDONYM_KEY", crate::support::KNOWN_KEY)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = processes.into_iter().map(|p| p.wait_with_output().unwrap()).collect();
    for (id, output) in outputs.iter().enumerate() {
        assert!(output.status.success(), "process {id}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let first = String::from_utf8(outputs[0].stdout.clone()).unwrap();
    let second = String::from_utf8(outputs[1].stdout.clone()).unwrap();
    assert!(second.contains("written by process 0"), "{second}");
    let accepted = |summary: &str| -> u64 {
        let line = summary.lines().find(|l| l.trim_start().starts_with("accepted")).unwrap();
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    let share = accepted(&second) as f64 / accepted(&first) as f64;
    assert!(share > 0.1 && share < 0.9, "each process owns some stores: process 1 accepted {share:.2} of all");
    assert_eq!(counts(&first), counts(&alone), "process 0 reports the cluster's counts");

    let (one, two) = (tables(&single), tables(&cluster));
    for ((table, expected), (_, got)) in one.iter().zip(&two) {
        assert!(expected.len() > 1, "{table} has rows");
        assert_eq!(got, expected, "{table}");
    }
    let dead = &one.iter().find(|(t, _)| t == "dead_letters").unwrap().1;
    assert_eq!(dead.len(), 1 + 17, "a header and every bad record");
}
