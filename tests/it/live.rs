//! Live mode as a user runs it: `tillflow run --follow` with HTTP ingest, psql on the Postgres
//! port, Flight SQL, consistency across views while events stream in, and `as_of`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tillflow_schemas::Event;

use crate::support::tillflow;
use tillflow_testkit::events::{BASE, DAY, HOUR, line, product, refund, sale, store};

mod manager;

/// Milliseconds per epoch in these tests.
const TICK_MS: u64 = 100;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `tillflow run --follow`, killed when dropped.
struct Live {
    child: Child,
    http: u16,
    pg: u16,
    flight: u16,
    /// Where the views and the ingest log go.
    out: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Live {
    fn start() -> Live {
        Live::start_with(&[])
    }

    /// Starts with extra arguments; stdin is a pipe the test may write to.
    fn start_with(extra: &[&str]) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::start_at(dir.path(), extra);
        live._dir = Some(dir);
        live
    }

    /// Starts with its views and ingest log in `out`, which outlives it.
    fn start_at(out: &std::path::Path, extra: &[&str]) -> Live {
        Live::start_crashing_at(out, extra, None)
    }

    /// [`Live::start_at`], set to crash at the named point of the ingest log's checkpoints (then
    /// not waiting for its servers: it may crash first).
    fn start_crashing_at(out: &std::path::Path, extra: &[&str], crash_at: Option<&str>) -> Live {
        let (http, pg, flight) = (free_port(), free_port(), free_port());
        let mut command = tillflow();
        if let Some(point) = crash_at {
            command.env("TILLFLOW_CRASH_AT", point);
        }
        let child = command
            .args(["run", "--follow", "--workers", "2", "--tick", &format!("{TICK_MS}ms"), "--persist-every", "300ms"])
            .args(extra)
            .stdin(Stdio::piped())
            .args(["--listen", &format!("127.0.0.1:{http}"), "--pg", &format!("127.0.0.1:{pg}")])
            .args(["--flight", &format!("127.0.0.1:{flight}"), "--out", &out.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let live = Live { child, http, pg, flight, out: out.to_path_buf(), _dir: None };
        if crash_at.is_some() {
            return live;
        }
        wait_for("the HTTP listener", || live.get("/healthz").is_some_and(|(s, _)| s == 200));
        wait_for("the Flight SQL server", || live.flight("SELECT 1").is_ok());
        live
    }

    fn request(&self, head: &str, body: &[u8]) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        let request =
            format!("{head}\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        stream.write_all(request.as_bytes()).ok()?;
        stream.write_all(body).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        Some((status, body))
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request(&format!("GET {path} HTTP/1.1"), b"")
    }

    /// Posts events as NDJSON; returns the status and the JSON answer.
    fn post(&self, events: &[Event]) -> (u16, serde_json::Value) {
        let body: String = events.iter().map(|e| e.to_json() + "\n").collect();
        self.post_raw(body.as_bytes())
    }

    fn post_raw(&self, body: &[u8]) -> (u16, serde_json::Value) {
        self.try_post(body).expect("tillflow answers")
    }

    /// Posts a body; None if tillflow did not answer (it was killed meanwhile).
    fn try_post(&self, body: &[u8]) -> Option<(u16, serde_json::Value)> {
        let (status, answer) = self.request("POST /v1/events HTTP/1.1", body)?;
        Some((status, serde_json::from_str(&answer).unwrap_or_else(|_| panic!("a JSON answer, got {answer:?}"))))
    }

    fn psql(&self, sql: &str) -> String {
        let output = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.pg.to_string(), "-U", "analyst", "-d", "tillflow", "-At", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql is installed (Debian package postgresql-client)");
        assert!(output.status.success(), "psql -c {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a statement through Flight SQL; rows as CSV lines.
    fn flight(&self, sql: &str) -> Result<String, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let batches = runtime.block_on(tillflow_queries::flight::query(
            &format!("127.0.0.1:{}", self.flight),
            sql,
            &Default::default(),
        ))?;
        tillflow::sql::render(&batches, tillflow::sql::OutputFormat::Csv).map_err(|e| e.to_string())
    }
}

impl Live {
    /// Stops tillflow as Ctrl-C would, and waits for it to finish.
    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        wait_for("tillflow to stop", || self.child.try_wait().unwrap().is_some());
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for a platform's API: `app` served on a free port of loopback for as long as the
/// returned runtime lives.
fn stand_in(app: axum::Router) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, addr)
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reference_data() -> Vec<Event> {
    vec![
        store("S1", "America/New_York"),
        store("S2", "Europe/Berlin"),
        product("K1", 300, None, None),
        product("K2", 120, None, None),
    ]
}

fn sale_at(i: i64, store_id: &str) -> Event {
    let ts = BASE + 14 * HOUR + i * 1_000;
    sale(&format!("t{i}"), store_id, ts, vec![line(1, "K1", 1 + i % 3, 500, 0, false), line(2, "K2", 2, 250, 0, false)])
}

#[test]
fn posted_events_reach_psql_and_flight_sql() {
    let live = Live::start();
    let (status, answer) = live.post(&reference_data());
    assert_eq!((status, answer["accepted"].as_u64()), (202, Some(4)), "{answer}");

    let sales: Vec<Event> = (0..6).map(|i| sale_at(i, "S1")).collect();
    let (status, answer) = live.post(&sales);
    assert_eq!(status, 202, "{answer}");
    let units_k1: i64 = (0..6).map(|i| 1 + i % 3).sum();
    let expected = format!("K1|{units_k1}\nK2|12\n");
    wait_for("the sales in sku_margin through psql", || {
        live.psql("SELECT sku, units_sold FROM sku_margin ORDER BY sku") == expected
    });

    // Redelivery is idempotent; a bad record gets its reason, and a dead letter.
    let (status, answer) = live.post(&sales[..2]);
    assert_eq!((status, answer["duplicates"].as_u64(), answer["accepted"].as_u64()), (202, Some(2), Some(0)));
    let (status, answer) = live.post_raw(b"{\"type\":\"sale\",\"event_id\":\"bad\"}\nnot json\n");
    assert_eq!((status, answer["dead_lettered"].as_u64()), (400, Some(2)), "{answer}");
    assert_eq!(answer["errors"][1]["position"], 2);
    assert!(answer["errors"][1]["reason"].as_str().unwrap().contains("malformed JSON"), "{answer}");
    wait_for("the dead letters", || live.psql("SELECT COUNT(*) FROM dead_letters") == "2\n");

    // Same answer through Flight SQL, and the catalog psql's \d reads.
    let csv = live.flight("SELECT sku, units_sold FROM sku_margin ORDER BY sku").unwrap();
    assert_eq!(csv, format!("sku,units_sold\nK1,{units_k1}\nK2,12"));
    let tables = live.psql("\\d");
    for view in ["sku_margin", "labor_demand", "exceptions", "dead_letters", "pipeline_stats"] {
        assert!(tables.contains(view), "\\d lists {view}:\n{tables}");
    }
    let columns = live.psql("\\d sku_margin");
    assert!(columns.contains("net_sales") && columns.contains("business_date"), "{columns}");

    // Postgres's identity, as drivers parse it, and the views described from docs/views.md.
    assert!(live.psql("SELECT version()").starts_with("PostgreSQL 16."), "{}", live.psql("SELECT version()"));
    assert_eq!(live.psql("SHOW server_version_num"), "160006\n");
    assert_eq!(live.psql("SELECT current_database()"), "tillflow\n");
    let described = live.psql("\\d+ sku_margin");
    assert!(described.contains("gross_sales − discounts − refunds"), "{described}");

    // The pipeline describes itself: the counts reconcile.
    let stats =
        live.psql("SELECT SUM(events_in), SUM(accepted), SUM(duplicates), SUM(dead_lettered) FROM pipeline_stats");
    assert_eq!(stats, "14|10|2|2\n");
    let (_, metrics) = live.get("/metrics").unwrap();
    assert!(metrics.contains("tillflow_events_received_total 14"), "{metrics}");
    assert!(metrics.contains("tillflow_view_rows{view=\"sku_margin\"} 2"), "{metrics}");
}

#[test]
fn a_query_never_sees_two_epochs() {
    let live = Live::start();
    live.post(&reference_data());
    // Net sales per store and day agree between sku_margin and labor_demand at every epoch.
    let disagreeing = "SELECT COUNT(*) AS n FROM \
        (SELECT store_id, business_date, SUM(net_sales) AS n FROM sku_margin GROUP BY 1, 2) a \
        FULL JOIN (SELECT store_id, business_date, SUM(net_sales) AS n FROM labor_demand GROUP BY 1, 2) b \
        ON a.store_id = b.store_id AND a.business_date = b.business_date \
        WHERE COALESCE(a.n, 0) <> COALESCE(b.n, 0)";
    let streamer = std::thread::scope(|scope| {
        let streaming = scope.spawn(|| {
            for i in 0..120 {
                let mut batch = vec![sale_at(i, if i % 2 == 0 { "S1" } else { "S2" })];
                if i % 7 == 6 {
                    let original = format!("t{}", i - 1);
                    let ts = BASE + 15 * HOUR + i * 1_000;
                    batch.push(refund(&format!("r{i}"), "S2", ts, Some(&original), "K2", 1, 250));
                }
                assert_eq!(live.post(&batch).0, 202);
                std::thread::sleep(Duration::from_millis(15));
            }
        });
        let mut queries = 0;
        while !streaming.is_finished() {
            assert_eq!(live.flight(disagreeing).unwrap(), "n\n0", "a query saw two epochs after {queries} queries");
            queries += 1;
        }
        streaming.join().unwrap();
        queries
    });
    assert!(streamer > 10, "only {streamer} queries ran while events streamed in");
    wait_for("every sale", || {
        live.flight("SELECT SUM(units_sold) FROM sku_margin WHERE sku = 'K2'").unwrap()
            == "sum(sku_margin.units_sold)\n240"
    });
    assert_eq!(live.flight(disagreeing).unwrap(), "n\n0");
}

#[test]
fn as_of_returns_what_a_query_returned_then() {
    let live = Live::start();
    live.post(&reference_data());
    live.post(&(0..3).map(|i| sale_at(i, "S1")).collect::<Vec<_>>());
    let query = "SELECT sku, units_sold, net_sales FROM sku_margin ORDER BY sku";
    wait_for("the first sales", || live.flight(query).unwrap().lines().count() == 3);
    // Let a persist pass with nothing changing, then note what a query returns and when.
    std::thread::sleep(Duration::from_millis(1_000));
    let then = live.flight(query).unwrap();
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let at_text = chrono::DateTime::from_timestamp_millis(at as i64).unwrap().to_rfc3339();
    std::thread::sleep(Duration::from_millis(300));

    live.post(&(3..9).map(|i| sale_at(i, "S1")).collect::<Vec<_>>());
    wait_for("the later sales", || live.flight(query).unwrap() != then);
    std::thread::sleep(Duration::from_millis(1_000));

    let by_epoch =
        format!("SELECT sku, units_sold, net_sales FROM as_of('sku_margin', 'epoch', {}) ORDER BY sku", at / TICK_MS);
    let by_time =
        format!("SELECT sku, units_sold, net_sales FROM as_of('sku_margin', 'time', '{at_text}') ORDER BY sku");
    assert_eq!(live.flight(&by_epoch).unwrap(), then);
    assert_eq!(live.flight(&by_time).unwrap(), then);
    let first_row = then.lines().nth(1).unwrap().replace(',', "|");
    assert_eq!(live.psql(&by_epoch.replace("ORDER BY sku", "ORDER BY sku LIMIT 1")).trim_end(), first_row, "psql too");
    let error = live.flight("SELECT * FROM as_of('sku_margin', 'epoch', 1)").unwrap_err();
    assert!(error.contains("nothing was persisted at or before epoch 1"), "{error}");
}

#[test]
fn followed_folders_and_stdin() {
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, events: &[Event], tail: &str| {
        let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
        std::fs::write(folder.path().join(name), text + tail).unwrap();
    };
    // Sales sort before the reference data by name; they are read after it all the same.
    write("a-sales.ndjson", &[sale_at(0, "S1")], "");
    write("b-reference.ndjson", &reference_data(), "");
    let folder_arg = folder.path().display().to_string();
    let mut live = Live::start_with(&["--input", &folder_arg, "--input", "-"]);
    let units = "SELECT SUM(units_sold) AS n FROM sku_margin";
    wait_for("the folder's sale", || live.flight(units).unwrap() == "n\n3");

    // Lines appended to a followed file count once complete; a new file is picked up.
    let appended = sale_at(1, "S1").to_json();
    let (first, rest) = appended.split_at(20);
    let mut file = std::fs::OpenOptions::new().append(true).open(folder.path().join("a-sales.ndjson")).unwrap();
    file.write_all(first.as_bytes()).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(4 * TICK_MS));
    assert_eq!(live.flight(units).unwrap(), "n\n3", "half a line is not read");
    file.write_all(format!("{rest}\n").as_bytes()).unwrap();
    wait_for("the appended sale", || live.flight(units).unwrap() == "n\n7");
    write("c-more.ndjson", &[sale_at(2, "S2")], "");
    wait_for("the new file", || live.flight(units).unwrap() == "n\n12");

    // stdin, in the same run.
    let stdin = live.child.stdin.as_mut().unwrap();
    stdin.write_all((sale_at(3, "S2").to_json() + "\nnot json\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for("the sale from stdin", || live.flight(units).unwrap() == "n\n15");
    wait_for("the dead letter from stdin", || {
        live.flight("SELECT source, position FROM dead_letters").unwrap() == "source,position\nstdin,2"
    });
}

/// The files each commit of a Delta table added and removed, oldest commit first.
fn commits(table: &std::path::Path) -> Vec<(Vec<String>, Vec<String>)> {
    let mut logs: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .map(|entries| {
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
        })
        .unwrap_or_default();
    logs.sort();
    let files = |actions: &[serde_json::Value], kind: &str| -> Vec<String> {
        actions.iter().filter_map(|a| a[kind]["path"].as_str().map(str::to_string)).collect()
    };
    logs.iter()
        .map(|log| {
            let text = std::fs::read_to_string(log).unwrap();
            let actions: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            (files(&actions, "add"), files(&actions, "remove"))
        })
        .collect()
}

#[test]
fn persists_rewrite_only_changed_days_and_old_versions_are_vacuumed() {
    let mut live = Live::start_with(&["--keep-history", "1ms"]);
    let table = live.out.join("sku_margin");
    live.post(&reference_data());
    live.post(&[sale_at(0, "S1"), sale_at(1, "S1")]);
    let first_day = |path: &String| path.starts_with("business_date=2026-03-07/");
    wait_for("the first day persisted", || commits(&table).iter().any(|(added, _)| added.iter().any(first_day)));

    let mut next_day = sale_at(2, "S1");
    if let Event::Sale(sale) = &mut next_day {
        sale.ts += DAY;
    }
    live.post(&[next_day]);
    let second_day = |path: &String| path.starts_with("business_date=2026-03-08/");
    wait_for("the second day persisted", || commits(&table).iter().any(|(added, _)| added.iter().any(second_day)));
    let (added, removed) = commits(&table).into_iter().find(|(added, _)| added.iter().any(second_day)).unwrap();
    assert!(added.iter().all(second_day) && removed.iter().all(second_day), "only 2026-03-08: {added:?} {removed:?}");

    // Ctrl-C persists a last time and vacuums: only the files the latest version reads remain.
    live.terminate();
    let log = commits(&table);
    let mut live_files: Vec<String> = Vec::new();
    for (added, removed) in log {
        live_files.retain(|f| !removed.contains(f));
        live_files.extend(added);
    }
    live_files.sort();
    let mut on_disk: Vec<String> = Vec::new();
    for partition in std::fs::read_dir(&table).unwrap().map(|e| e.unwrap().path()) {
        let name = partition.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("business_date=") {
            for file in std::fs::read_dir(&partition).unwrap() {
                on_disk.push(format!("{name}/{}", file.unwrap().file_name().to_string_lossy()));
            }
        }
    }
    on_disk.sort();
    assert_eq!(on_disk, live_files);
    assert!(live_files.iter().any(first_day) && live_files.iter().any(second_day), "{live_files:?}");
}

#[test]
fn acknowledged_events_survive_sigkill_and_redeliveries_count_once() {
    let out = tempfile::tempdir().unwrap();
    let mut events = reference_data();
    const SALES: i64 = 1_200;
    events.extend((0..SALES).map(|i| sale_at(i, if i % 3 == 0 { "S2" } else { "S1" })));
    let batches: Vec<String> =
        events.chunks(4).map(|chunk| chunk.iter().map(|e| e.to_json() + "\n").collect()).collect();
    // Batches before `next` were acknowledged; batch `next` may have been in flight at a kill.
    let mut next = 0;
    let mut seed: u64 = 0x5eed;
    for round in 0..4 {
        let mut live = Live::start_at(out.path(), &[]);
        let pid = live.child.id().to_string();
        let killed = round < 3;
        std::thread::scope(|scope| {
            let poster = scope.spawn(|| {
                while next < batches.len() {
                    match live.try_post(batches[next].as_bytes()) {
                        Some((202, _)) => {
                            next += 1;
                            std::thread::sleep(Duration::from_millis(3));
                        }
                        Some((status, answer)) => panic!("batch {next}: {status} {answer}"),
                        None => return,
                    }
                }
            });
            if killed {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 300));
                std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
            }
            poster.join().unwrap();
        });
        if killed {
            let _ = live.child.wait();
            assert!(next < batches.len(), "round {round}: the kill came after the last batch; post more");
            eprintln!("round {round}: killed after {next} batches");
            continue;
        }
        // Every event was acknowledged at least once: the views hold each exactly once.
        let units = |i: i64| 1 + i % 3;
        let k1: i64 = (0..SALES).map(units).sum();
        let expected = format!("sku,units\nK1,{k1}\nK2,{}", 2 * SALES);
        let query = "SELECT sku, SUM(units_sold) AS units FROM sku_margin GROUP BY sku ORDER BY sku";
        wait_for("every sale in sku_margin", || live.flight(query).unwrap() == expected);
        let (_, metrics) = live.get("/metrics").unwrap();
        let counter = |name: &str| -> u64 {
            let line = metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {metrics}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let received = counter("tillflow_events_received_total");
        let accepted = counter("tillflow_events_accepted_total");
        let duplicates = counter("tillflow_events_duplicate_total");
        let dead = counter("tillflow_events_dead_lettered_total");
        eprintln!("received {received}, duplicates {duplicates}");
        assert_eq!(accepted, events.len() as u64, "each event accepted once");
        assert_eq!((received, dead), (accepted + duplicates, 0));
        live.terminate();
    }
}

/// A day of sales posted before the stores' records (a new user's first try, which used to
/// dead-letter most of the day): every record waits, `pending` in `/metrics` and
/// `pipeline_stats` says how many, a restart keeps them waiting, and once the records come they
/// count once and the views equal those of the files read in order.
#[test]
fn events_posted_before_their_store_records_wait_for_them() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let (day, reference) = (sample.join("events-2026-03-02.ndjson"), sample.join("reference.ndjson"));
    let lines = |path: &std::path::Path| std::fs::read_to_string(path).unwrap().lines().count() as u64;
    let out = tempfile::tempdir().unwrap();
    let mut live = Live::start_at(out.path(), &[]);
    let gauge = |live: &Live, name: &str| -> u64 {
        let (_, metrics) = live.get("/metrics").unwrap();
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_string();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (status, answer) = live.post_raw(&std::fs::read(&day).unwrap());
    assert_eq!((status, answer["dead_lettered"].as_u64()), (202, Some(0)), "{answer}");
    let held = answer["held"].as_u64().expect("records held");
    assert!(held > lines(&day) / 2, "most of the day waits for its store: {answer}");
    assert_eq!(gauge(&live, "tillflow_events_pending"), held);
    wait_for("pending in pipeline_stats", || {
        live.flight("SELECT pending FROM pipeline_stats ORDER BY epoch DESC LIMIT 1").unwrap()
            == format!("pending\n{held}")
    });
    live.terminate();
    let mut live = Live::start_at(out.path(), &[]);
    wait_for("still waiting after a restart", || gauge(&live, "tillflow_events_pending") == held);
    assert_eq!(live.post_raw(&std::fs::read(&reference).unwrap()).0, 202);
    wait_for("every record judged", || gauge(&live, "tillflow_events_pending") == 0);
    let total = lines(&day) + lines(&reference);
    assert_eq!(gauge(&live, "tillflow_events_accepted_total"), total);
    assert_eq!(gauge(&live, "tillflow_events_received_total"), total);
    assert_eq!(gauge(&live, "tillflow_events_dead_lettered_total"), 0);
    live.terminate();

    let in_order = tempfile::tempdir().unwrap();
    let (day_s, reference_s) = (day.display().to_string(), reference.display().to_string());
    let in_order_s = in_order.path().display().to_string();
    crate::support::run_ok(&["run", "--input", &reference_s, "--input", &day_s, "--out", &in_order_s]);
    for sql in [
        "SELECT store_id, sku, business_date, units_sold, net_sales, cogs FROM sku_margin",
        "SELECT store_id, business_date, hour, transactions, net_sales, staff_on_clock FROM labor_demand",
        "SELECT store_id, sku, on_hand FROM inventory_position",
    ] {
        assert_eq!(persisted_rows(out.path(), sql), persisted_rows(in_order.path(), sql), "{sql}");
    }
}

/// A clock_out that came before its clock_in is a dead letter; once the clock_in has come,
/// `tillflow dead-letters retry` judges it again: it leaves `dead_letters`, the counts still
/// reconcile, and a restart and a replay of the ingest log do the same. A line that is not an
/// event stays.
#[test]
fn dead_letters_whose_cause_is_fixed_are_retried() {
    use tillflow_testkit::events::shift;
    let out = tempfile::tempdir().unwrap();
    let mut live = Live::start_at(out.path(), &[]);
    let at = |hour: i64| BASE + hour * HOUR;
    assert_eq!(live.post(&reference_data()).1["accepted"], 4);
    let (_, answer) = live.post(&[shift("H2", "S1", "a", at(22), false)]);
    assert!(answer["errors"][0]["reason"].as_str().unwrap().contains("without an open clock_in"), "{answer}");
    assert_eq!(live.post_raw(b"{not json\n").0, 400);
    assert_eq!(live.post(&[shift("H1", "S1", "a", at(14), true)]).1["accepted"], 1);
    let letters = "SELECT reason FROM dead_letters ORDER BY reason";
    wait_for("two dead letters", || live.flight(letters).unwrap().lines().count() == 3);

    let connect = format!("http://127.0.0.1:{}", live.http);
    let retried = crate::support::run_ok(&["dead-letters", "retry", "--connect", &connect, "--reason", "clock_in"]);
    let retried: serde_json::Value = serde_json::from_str(&retried).unwrap();
    assert_eq!((retried["received"].as_u64(), retried["accepted"].as_u64()), (Some(1), Some(1)), "{retried}");
    let everything = crate::support::run_ok(&["dead-letters", "retry", "--connect", &connect]);
    assert!(everything.contains("\"received\":0"), "the broken line is not an event to judge: {everything}");
    let counts = |live: &Live| -> Vec<u64> {
        let (_, metrics) = live.get("/metrics").unwrap();
        ["received", "accepted", "duplicate", "dead_lettered"]
            .iter()
            .map(|name| {
                let line = metrics.lines().find(|l| l.starts_with(&format!("tillflow_events_{name}_total "))).unwrap();
                line.rsplit(' ').next().unwrap().parse().unwrap()
            })
            .collect()
    };
    wait_for("one dead letter left", || live.flight(letters).unwrap().lines().count() == 2);
    assert_eq!(counts(&live), vec![7, 6, 0, 1], "received = accepted + duplicates + dead-lettered");
    live.terminate();

    let live = Live::start_at(out.path(), &[]);
    wait_for("the dead letter left, recovered", || live.flight(letters).unwrap().lines().count() == 2);
    assert_eq!(counts(&live), vec![7, 6, 0, 1], "the same after a restart");
    drop(live);
    let replayed = tempfile::tempdir().unwrap();
    let (out_s, replayed_s) = (out.path().display().to_string(), replayed.path().display().to_string());
    let summary = crate::support::run_ok(&["replay", "--log", &out_s, "--out", &replayed_s]);
    assert_eq!(persisted_rows(replayed.path(), letters).len(), 2, "{summary}");
}

/// The ingest log's files under `out`: checkpoints, segments and half-written files.
fn log_files(out: &std::path::Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(out.join("_ingest_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// Forty days of two stores into a ten-day retention, the ingest log checkpointed whenever days
/// leave: a crash while a checkpoint is written, and one after it is in place but before the
/// segments it stands for are gone, lose nothing; the log ends up a checkpoint and a short tail;
/// the views hold the last days only, and the stock still counts every sale ever made.
#[test]
fn checkpoints_of_the_ingest_log_survive_crashes_and_keep_it_short() {
    use std::os::unix::process::ExitStatusExt;
    let out = tempfile::tempdir().unwrap();
    let args = ["--retention", "10d", "--checkpoint-after", "0"];
    const DAYS: i64 = 40;
    // A sale of a store whose record never comes waits through every checkpoint and restart.
    let waiting = sale("w1", "S9", BASE + 14 * HOUR, vec![line(1, "K1", 1, 500, 0, false)]);
    let mut days: Vec<Vec<Event>> = vec![reference_data().into_iter().chain([waiting]).collect()];
    let mut sold: Vec<(i64, &str, i64, i64)> = Vec::new(); // (day, store, K1 units, K2 units)
    for d in 0..DAYS {
        let mut day = Vec::new();
        for (s, store_id) in ["S1", "S2"].into_iter().enumerate() {
            for i in 0..5 {
                let n = d * 10 + s as i64 * 5 + i;
                let ts = BASE + d * DAY + 14 * HOUR + n * 1_000;
                let units = 1 + n % 3;
                day.push(sale(
                    &format!("t{n}"),
                    store_id,
                    ts,
                    vec![line(1, "K1", units, 500, 0, false), line(2, "K2", 2, 250, 0, false)],
                ));
                sold.push((d, store_id, units, 2));
            }
        }
        days.push(day);
    }
    let batches: Vec<String> = days.iter().map(|day| day.iter().map(|e| e.to_json() + "\n").collect()).collect();
    let mut next = 0;
    // Posts the days from `next` on while tillflow runs; acknowledged days move `next`.
    let post_from = |live: &mut Live, next: &mut usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while live.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "tillflow neither crashed nor took every day");
            if *next == batches.len() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            match live.try_post(batches[*next].as_bytes()) {
                Some((202, _)) => *next += 1,
                Some((status, answer)) => panic!("day {next}: {status} {answer}"),
                None => std::thread::sleep(Duration::from_millis(20)), // not listening yet, or gone
            }
        }
    };
    // A crash while a checkpoint is written, then one after it is in place but before the
    // segments it stands for are removed.
    for point in ["checkpoint-writing", "checkpoint-renamed"] {
        let mut live = Live::start_crashing_at(out.path(), &args, Some(point));
        post_from(&mut live, &mut next);
        let status = live.child.wait().unwrap();
        assert_eq!(status.signal(), Some(6), "{point}: tillflow aborted there ({status})");
        let files = log_files(&live.out);
        match point {
            "checkpoint-writing" => {
                assert!(files.iter().any(|f| f.ends_with(".log.new")), "a half-written checkpoint: {files:?}");
                assert!(!files.iter().any(|f| f.starts_with("checkpoint-") && f.ends_with(".log")), "{files:?}");
            }
            _ => {
                let checkpoint = files.iter().find(|f| f.starts_with("checkpoint-")).expect("a checkpoint in place");
                let covers = &checkpoint["checkpoint-".len().."checkpoint-".len() + 8];
                assert!(
                    files.iter().any(|f| f.ends_with(".log") && f.as_str() < covers),
                    "segments it stands for: {files:?}"
                );
            }
        }
    }
    let mut live = Live::start_at(out.path(), &args);
    for batch in &batches[next..] {
        assert_eq!(live.post_raw(batch.as_bytes()).0, 202);
    }

    let first_kept = DAYS - 11;
    let units = |sku: usize, from: i64| -> i64 {
        sold.iter().filter(|(d, ..)| *d >= from).map(|(_, _, k1, k2)| if sku == 1 { *k1 } else { *k2 }).sum()
    };
    let margins = format!("sku,days,units\nK1,11,{}\nK2,11,{}", units(1, first_kept), units(2, first_kept));
    let by_sku = "SELECT sku, COUNT(DISTINCT business_date) AS days, SUM(units_sold) AS units FROM sku_margin \
                  GROUP BY sku ORDER BY sku";
    let stock = |store: &str, sku: usize| -> i64 {
        -sold
            .iter()
            .filter(|(_, s, ..)| *s == store)
            .map(|(_, _, k1, k2)| if sku == 1 { *k1 } else { *k2 })
            .sum::<i64>()
    };
    let on_hand = format!(
        "store_id,sku,on_hand\nS1,K1,{}\nS1,K2,{}\nS2,K1,{}\nS2,K2,{}",
        stock("S1", 1),
        stock("S1", 2),
        stock("S2", 1),
        stock("S2", 2)
    );
    let positions = "SELECT store_id, sku, on_hand FROM inventory_position ORDER BY store_id, sku";
    let metric = |live: &Live, name: &str| {
        let (_, metrics) = live.get("/metrics").unwrap();
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_string();
        line.rsplit(' ').next().unwrap().parse::<usize>().unwrap()
    };
    let events = days.iter().map(Vec::len).sum::<usize>() - 1;
    for round in 0..2 {
        wait_for("the last eleven days in sku_margin", || live.flight(by_sku).unwrap() == margins);
        assert_eq!(live.flight(positions).unwrap(), on_hand, "round {round}: every sale ever moved stock");
        assert_eq!(
            metric(&live, "tillflow_events_accepted_total"),
            events,
            "round {round}: each event counted once, the checkpointed ones too"
        );
        assert_eq!(metric(&live, "tillflow_events_pending"), 1, "round {round}: the sale of S9 still waits");
        let files = log_files(&live.out);
        let checkpoints: Vec<_> = files.iter().filter(|f| f.starts_with("checkpoint-")).collect();
        assert_eq!(checkpoints.len(), 1, "one checkpoint: {files:?}");
        assert!(!files.iter().any(|f| f.ends_with(".new")), "{files:?}");
        // The log holds far fewer events than were accepted: the days gone are folded away.
        let logged = tillflow::journal::read(&tillflow::journal::Place::Folder(live.out.join("_ingest_log"))).unwrap();
        let sales = logged
            .iter()
            .filter(|e| matches!(e, tillflow::journal::Entry::Accepted { event, .. } if event.contains("\"sale\"")))
            .count();
        assert!(sales <= 12 * 10 + 10, "round {round}: {sales} sales logged, not {}", DAYS * 10);
        live.terminate();
        let persisted = persisted_rows(&live.out, "SELECT COUNT(DISTINCT business_date) AS days FROM sku_margin");
        assert_eq!(persisted, ["11", "days"], "round {round}: the days gone left the Delta table too");
        live = Live::start_at(out.path(), &args);
    }
    // A replay of the checkpointed log gives the live run's views.
    live.terminate();
    let replayed = tempfile::tempdir().unwrap();
    let (out_s, replayed_s) = (live.out.display().to_string(), replayed.path().display().to_string());
    crate::support::run_ok(&["replay", "--log", &out_s, "--out", &replayed_s, "--retention", "10d"]);
    for sql in [
        "SELECT store_id, sku, business_date, units_sold, net_sales, cogs FROM sku_margin",
        "SELECT store_id, sku, on_hand, last_count_at FROM inventory_position",
    ] {
        assert_eq!(persisted_rows(&live.out, sql), persisted_rows(replayed.path(), sql), "{sql}");
    }
}

/// The epochs the commits of a Delta table hold, oldest first.
fn committed_epochs(table: &std::path::Path) -> Vec<u64> {
    let mut logs: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    logs.iter()
        .flat_map(|log| {
            let text = std::fs::read_to_string(log).unwrap();
            let actions: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            actions.into_iter().filter_map(|a| a["commitInfo"][tillflow_queries::as_of::EPOCH_KEY].as_u64())
        })
        .collect()
}

/// A query's rows as sorted CSV lines, over the views persisted in `out`.
fn persisted_rows(out: &std::path::Path, sql: &str) -> Vec<String> {
    let csv = crate::support::run_ok(&["sql", "--out", &out.display().to_string(), "--format", "csv", sql]);
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn replaying_the_ingest_log_reproduces_the_live_run_epoch_by_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut live = Live::start_at(&out, &[]);
    live.post(&reference_data());
    for round in 0..6 {
        let sales: Vec<Event> =
            (round * 40..round * 40 + 40).map(|i| sale_at(i, ["S1", "S2"][i as usize % 2])).collect();
        assert_eq!(live.post(&sales).0, 202);
        assert_eq!(live.post(&sales[..3]).1["duplicates"], 3, "a redelivery");
        assert_eq!(live.post_raw(b"{\"type\":\"sale\",\"store_id\":\n").0, 400);
        let original = format!("t{}", round * 40);
        live.post(&[refund(&format!("r{round}"), "S1", BASE + 15 * HOUR + round, Some(&original), "K1", 1, 500)]);
        std::thread::sleep(Duration::from_millis(400));
    }
    live.terminate();

    let replayed = dir.path().join("replayed");
    let (out_s, replayed_s) = (out.display().to_string(), replayed.display().to_string());
    crate::support::run_ok(&["replay", "--log", &out_s, "--out", &replayed_s, "--workers", "1"]);
    // What the servers logged is not derived from events: a replay has no access log.
    // Nor what the alert channels did: a replay sends nothing.
    let derived = tillflow::table_names()
        .into_iter()
        .filter(|t| !["pipeline_stats", "access_log", "alert_deliveries"].contains(t));
    for table in derived {
        let sql = format!("SELECT * FROM {table}");
        let (expected, got) = (persisted_rows(&out, &sql), persisted_rows(&replayed, &sql));
        assert!(
            // (this stream has no promotion)
            expected.len() > 1
                || table.starts_with("segment")
                || table.starts_with("customer")
                || table.starts_with("promotion")
                || table == "exception_history",
            "{table} has rows"
        );
        assert_eq!(got, expected, "{table}");
    }

    // Each state the live run persisted mid-way, reproduced by replaying up to its epoch.
    let epochs = committed_epochs(&out.join("sku_margin"));
    assert!(epochs.len() >= 4, "several persists while events came: {epochs:?}");
    for epoch in [epochs[1], epochs[epochs.len() / 2]] {
        let at = dir.path().join(format!("at{epoch}"));
        let at_s = at.display().to_string();
        crate::support::run_ok(&["replay", "--log", &out_s, "--at", &epoch.to_string(), "--out", &at_s]);
        let then = persisted_rows(&out, &format!("SELECT * FROM as_of('sku_margin', 'epoch', {epoch})"));
        assert_eq!(persisted_rows(&at, "SELECT * FROM sku_margin"), then, "epoch {epoch}");
    }
}

/// A Shopify POS order posted as its webhook, signed with the app's secret, reaches sku_margin;
/// a wrong or missing signature is refused with 401 and counted, never admitted; a webhook that
/// does not map is a dead letter holding the body as received.
#[test]
fn a_signed_shopify_webhook_reaches_sku_margin() {
    use axum::http::{HeaderMap, StatusCode};
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    // A stand-in for the shop's Admin API, serving the recorded inventory items.
    let items = |headers: HeaderMap| async move {
        match headers.get("x-shopify-access-token").is_some_and(|t| t == "shpat_test") {
            true => (StatusCode::OK, crate::shopify::ITEMS.to_string()),
            false => (StatusCode::UNAUTHORIZED, String::new()),
        }
    };
    let app = axum::Router::new().route("/admin/api/2025-10/inventory_items.json", axum::routing::get(items));
    let (_runtime, api) = stand_in(app);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    std::fs::write(
        &config,
        format!(
            "[sources.shopify]\nsecret = \"shpss_test\"\nlocations = {{ \"655441491\" = \"S1\" }}\n\
             api_base = \"http://{api}/admin/api/2025-10\"\naccess_token = \"shpat_test\"\n"
        ),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let config_arg = ["--config", &config.display().to_string()];
    let mut live = Live::start_at(out.path(), &config_arg);
    live.post(&reference_data());
    let sign = |body: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"shpss_test").unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let webhook = |topic: &str, signature: &str, body: &[u8]| {
        let head = format!(
            "POST /v1/sources/shopify HTTP/1.1\r\nX-Shopify-Topic: {topic}\r\nX-Shopify-Hmac-Sha256: {signature}\r\n\
             X-Shopify-Webhook-Id: b54557e4-{topic}"
        );
        live.request(&head, body).unwrap()
    };
    let order = crate::shopify::ORDER.as_bytes();

    let (status, answer) = webhook("orders/create", &sign(order), order);
    assert_eq!(status, 202, "{answer}");
    wait_for("the Shopify order in sku_margin", || {
        live.psql("SELECT units_sold, net_sales FROM sku_margin WHERE sku = 'K1'") == "3|34.47\n"
    });
    // Shopify sends the order again when it is paid, and retries: it counts once.
    let (status, answer) = webhook("orders/paid", &sign(order), order);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"duplicates\":1"), "{answer}");

    // The order edited at the register (one K1 fewer): the update replaces the sale.
    let version = |updated_at: &str, k1: i64| {
        let mut edited: serde_json::Value = serde_json::from_str(crate::shopify::ORDER).unwrap();
        edited["updated_at"] = serde_json::json!(updated_at);
        edited["line_items"][0]["quantity"] = serde_json::json!(k1);
        edited.to_string().into_bytes()
    };
    let edited = version("2026-03-07T10:40:00-05:00", 2);
    let (status, answer) = webhook("orders/updated", &sign(&edited), &edited);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    wait_for("the edited order in sku_margin", || {
        live.psql("SELECT units_sold, net_sales FROM sku_margin WHERE sku = 'K1'") == "2|22.48\n"
    });
    // A version between the two, delivered late, is superseded already: it changes nothing.
    let late = version("2026-03-07T10:20:00-05:00", 5);
    let (status, answer) = webhook("orders/updated", &sign(&late), &late);
    assert!(status == 202 && answer.contains("\"duplicates\":1"), "{answer}");

    // Not signed by the secret: 401, counted, nothing admitted.
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(order).unwrap()).unwrap();
    assert_eq!(webhook("orders/create", &sign(order), &reserialised).0, 401);
    assert_eq!(webhook("orders/create", "", order).0, 401);
    let (_, metrics) = live.get("/metrics").unwrap();
    assert!(metrics.contains("tillflow_unauthenticated_total 2"), "{metrics}");

    // Signed, but at a location no store is mapped to: a dead letter with the body as received.
    let elsewhere = crate::shopify::ORDER.replace("655441491", "999").replace("450789469", "450789470");
    let (status, answer) = webhook("orders/create", &sign(elsewhere.as_bytes()), elsewhere.as_bytes());
    assert_eq!(status, 200, "logged as a dead letter, so answered 200 (not sent again): {answer}");
    assert!(answer.contains("location 999 is not mapped"), "{answer}");
    wait_for("the dead letter", || live.psql("SELECT COUNT(*) FROM dead_letters") == "1\n");
    let raw: serde_json::Value = serde_json::from_str(&live.psql("SELECT raw FROM dead_letters")).unwrap();
    let mut kept: serde_json::Value = serde_json::from_str(&elsewhere).unwrap();
    let card = crate::privacy::pseudonym(&live.out, "customer_ref", "shopify-customer-207119551");
    kept["customer"] = serde_json::json!({ "customer_ref": card });
    kept.as_object_mut().unwrap().remove("email");
    assert_eq!(raw, kept, "the dead letter keeps the webhook's body, the customer pseudonymous");
    assert_eq!(live.psql("SELECT SUM(units_sold) FROM sku_margin"), "3\n", "only the mapped order counts");

    // A product and a stock count name inventory items: fetched from the Admin API for their cost and SKU.
    let product = crate::shopify::PRODUCT.as_bytes();
    let (status, answer) = webhook("products/update", &sign(product), product);
    assert_eq!(status, 202, "{answer}");
    let level = crate::shopify::LEVEL.as_bytes();
    let (status, answer) = webhook("inventory_levels/update", &sign(level), level);
    assert_eq!(status, 202, "{answer}");
    wait_for("the product and its count", || {
        live.psql("SELECT unit_cost, list_price FROM products WHERE sku = 'K9'") == "14.50|39.00\n"
            && live.psql("SELECT on_hand FROM inventory_position WHERE store_id = 'S1' AND sku = 'K9'") == "6\n"
    });

    // The ingest log holds both versions: a restart, and a replay of it, replace the same way.
    live.terminate();
    let live = Live::start_at(out.path(), &config_arg);
    wait_for("the edited order after a restart", || {
        live.psql("SELECT units_sold, net_sales FROM sku_margin WHERE sku = 'K1'") == "2|22.48\n"
    });
    drop(live);
    let replayed = tempfile::tempdir().unwrap();
    let (log, to) = (out.path().display().to_string(), replayed.path().display().to_string());
    crate::support::run_ok(&["replay", "--log", &log, "--out", &to]);
    let k1 = persisted_rows(replayed.path(), "SELECT units_sold, net_sales FROM sku_margin WHERE sku = 'K1'");
    assert_eq!(k1, ["2,22.48", "units_sold,net_sales"], "the replay replaces the order as the live run did");
}

/// A Square notification names an order; tillflow fetches it (and its items' SKUs) from the
/// API at `api_base`, here a stand-in serving the recorded answers of `crate::square`.
#[test]
fn a_signed_square_notification_is_fetched_and_reaches_sku_margin() {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    use serde_json::json;

    let authorized = |headers: &HeaderMap| headers.get("authorization").is_some_and(|v| v == "Bearer sq-token");
    let order = move |Path(id): Path<String>, headers: HeaderMap| async move {
        if !authorized(&headers) {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        let mut open: serde_json::Value = serde_json::from_str(crate::square::ORDER).unwrap();
        open["id"] = json!("OPEN1");
        open["state"] = json!("OPEN");
        match id.as_str() {
            "CAISENgvlJ6jLWAzERDzjyHVybY" => (StatusCode::OK, format!("{{\"order\": {}}}", crate::square::ORDER)),
            "Pbq7SCCAgPmDZ0Js7qZTyA8Yb0C" => (StatusCode::OK, format!("{{\"order\": {}}}", crate::square::RETURN)),
            "OPEN1" => (StatusCode::OK, json!({ "order": open }).to_string()),
            "DOWN" => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
            _ => (StatusCode::NOT_FOUND, r#"{"errors": [{"code": "NOT_FOUND"}]}"#.to_string()),
        }
    };
    let app = axum::Router::new()
        .route("/v2/orders/{id}", get(order))
        .route("/v2/catalog/batch-retrieve", post(|| async { crate::square::CATALOG }));
    let (_runtime, api) = stand_in(app);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    let url = "https://tillflow.example.com/v1/sources/square";
    std::fs::write(
        &config,
        format!(
            "[sources.square]\nsignature_key = \"sq-key\"\nnotification_url = \"{url}\"\naccess_token = \"sq-token\"\n\
             api_base = \"http://{api}\"\nlocations = {{ \"L8S1XYZ\" = \"S1\" }}\n"
        ),
    )
    .unwrap();
    let live = Live::start_with(&["--config", &config.display().to_string()]);
    live.post(&reference_data());
    let sign = |body: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"sq-key").unwrap();
        mac.update(url.as_bytes());
        mac.update(body.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let notify = |signature: &str, body: &str| {
        let head = format!("POST /v1/sources/square HTTP/1.1\r\nx-square-hmacsha256-signature: {signature}");
        live.request(&head, body.as_bytes()).unwrap()
    };
    let updated = |id: &str| {
        crate::square::notification("order.updated", json!({"order_updated": {"order_id": id, "state": "COMPLETED"}}))
    };

    let body = updated("CAISENgvlJ6jLWAzERDzjyHVybY");
    let (status, answer) = notify(&sign(&body), &body);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    wait_for("the Square order in sku_margin", || {
        live.psql("SELECT sku, units_sold, net_sales FROM sku_margin ORDER BY sku") == "K1|3|34.47\nK2|1|9.00\n"
    });
    // The payment of the same order leads to the same sale: it counts once.
    let paid = crate::square::notification(
        "payment.updated",
        json!({"payment": {"id": "p1", "status": "COMPLETED", "order_id": "CAISENgvlJ6jLWAzERDzjyHVybY"}}),
    );
    let (status, answer) = notify(&sign(&paid), &paid);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"duplicates\":1"), "{answer}");
    // The refund: its return order is fetched, one bag back.
    let refund = crate::square::notification(
        "refund.created",
        json!({"refund": {"id": "UKSTQ43xqBPXMzWjVQzl3ZDFQbVZY", "status": "COMPLETED", "order_id": "Pbq7SCCAgPmDZ0Js7qZTyA8Yb0C"}}),
    );
    let (status, answer) = notify(&sign(&refund), &refund);
    assert_eq!(status, 202, "{answer}");
    wait_for("the Square refund in sku_margin", || {
        live.psql("SELECT SUM(units_returned), SUM(net_sales) FROM sku_margin WHERE sku = 'K1'") == "1|22.98\n"
    });

    // An open order is nothing yet; Square's API failing is 503 (Square sends it again).
    let open = updated("OPEN1");
    let (status, answer) = notify(&sign(&open), &open);
    assert_eq!((status, answer.contains("order OPEN1 is OPEN")), (200, true), "{answer}");
    let down = updated("DOWN");
    assert_eq!(notify(&sign(&down), &down).0, 503);
    // Not signed with the key for this URL: 401, counted, nothing fetched or admitted.
    assert_eq!(notify("", &body).0, 401);
    assert_eq!(notify(&sign(&format!("{body} ")), &body).0, 401);
    let (_, metrics) = live.get("/metrics").unwrap();
    assert!(metrics.contains("tillflow_unauthenticated_total 2"), "{metrics}");
    // An order Square does not have: a dead letter with the notification as received.
    let gone = updated("GONE");
    let (status, answer) = notify(&sign(&gone), &gone);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Square has no order GONE"), "{answer}");
    wait_for("the dead letter", || live.psql("SELECT COUNT(*) FROM dead_letters") == "1\n");
    let raw: serde_json::Value = serde_json::from_str(&live.psql("SELECT raw FROM dead_letters")).unwrap();
    assert_eq!(raw, serde_json::from_str::<serde_json::Value>(&gone).unwrap());
}

/// Clover: the verification handshake, then notifications with the app's auth code naming
/// orders and payments, fetched from the REST API at `api_base` (a stand-in serving the
/// recorded answers of `crate::clover`).
#[test]
fn a_clover_notification_is_verified_fetched_and_reaches_sku_margin() {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use serde_json::json;

    let authorized = |headers: &HeaderMap| headers.get("authorization").is_some_and(|v| v == "Bearer cl-token");
    let order = move |Path((merchant, id)): Path<(String, String)>, headers: HeaderMap| async move {
        match (authorized(&headers), merchant.as_str(), id.as_str()) {
            (false, ..) => (StatusCode::UNAUTHORIZED, String::new()),
            (true, "XYZVJT2ZRRRSC", "X87EZTY4P965T") => (StatusCode::OK, crate::clover::ORDER.to_string()),
            (true, "XYZVJT2ZRRRSC", "OPEN1") => {
                let mut open: serde_json::Value = serde_json::from_str(crate::clover::ORDER).unwrap();
                open["id"] = json!("OPEN1");
                open["paymentState"] = json!("OPEN");
                (StatusCode::OK, open.to_string())
            }
            _ => (StatusCode::NOT_FOUND, r#"{"message": "Not Found"}"#.to_string()),
        }
    };
    let payment = |Path((_, id)): Path<(String, String)>| async move {
        json!({"id": id, "order": {"id": "X87EZTY4P965T"}, "amount": 2157}).to_string()
    };
    let item = |Path((_, id)): Path<(String, String)>| async move {
        match crate::clover::ITEMS.iter().find(|(item, _)| *item == id) {
            Some((_, body)) => (StatusCode::OK, body.to_string()),
            None => (StatusCode::NOT_FOUND, String::new()),
        }
    };
    let app = axum::Router::new()
        .route("/v3/merchants/{merchant}/orders/{id}", get(order))
        .route("/v3/merchants/{merchant}/payments/{id}", get(payment))
        .route("/v3/merchants/{merchant}/items/{id}", get(item));
    let (_runtime, api) = stand_in(app);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    std::fs::write(
        &config,
        format!(
            "[sources.clover]\nauth_code = \"0307e264-b33a-4913\"\naccess_token = \"cl-token\"\n\
             api_base = \"http://{api}\"\nmerchants = {{ \"XYZVJT2ZRRRSC\" = \"S1\" }}\n"
        ),
    )
    .unwrap();
    let live = Live::start_with(&["--config", &config.display().to_string()]);
    live.post(&reference_data());
    let notify = |auth: &str, body: &str| {
        let head = format!("POST /v1/sources/clover HTTP/1.1\r\nX-Clover-Auth: {auth}");
        live.request(&head, body.as_bytes()).unwrap()
    };
    let event = |merchant: &str, object: &str| {
        json!({"appId": "DRKVJT2ZRRRSC", "merchants": {merchant: [{"objectId": object, "type": "UPDATE", "ts": 1772896502000_i64}]}})
            .to_string()
    };

    // Setting the URL: Clover's verification code is answered 200, without the auth code.
    let (status, answer) = notify("", r#"{"verificationCode":"5220ecf5-7dea"}"#);
    assert_eq!(status, 200, "{answer}");
    let order = event("XYZVJT2ZRRRSC", "O:X87EZTY4P965T");
    let (status, answer) = notify("0307e264-b33a-4913", &order);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"accepted\":2"), "the sale and its refund: {answer}");
    wait_for("the Clover order in sku_margin", || {
        live.psql(
            "SELECT sku, SUM(units_sold), SUM(units_returned), SUM(net_sales) FROM sku_margin GROUP BY 1 ORDER BY 1",
        ) == "K1|3|1|21.96\nK2|1|0|7.90\n"
    });
    // The payment leads to the same order: both records count once.
    let (status, answer) = notify("0307e264-b33a-4913", &event("XYZVJT2ZRRRSC", "P:P2"));
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("\"duplicates\":2"), "{answer}");
    // Not yet paid: nothing; no auth code or another one: 401, counted.
    let (status, answer) = notify("0307e264-b33a-4913", &event("XYZVJT2ZRRRSC", "O:OPEN1"));
    assert_eq!((status, answer.contains("not paid yet")), (200, true), "{answer}");
    assert_eq!(notify("", &order).0, 401);
    assert_eq!(notify("0307e264-b33a-4914", &order).0, 401);
    let (_, metrics) = live.get("/metrics").unwrap();
    assert!(metrics.contains("tillflow_unauthenticated_total 2"), "{metrics}");
    // An unmapped merchant and a kind of object tillflow does not map: dead letters, each the event as listed.
    let (status, answer) = notify("0307e264-b33a-4913", &event("OTHERMERCHANT", "O:X87EZTY4P965T"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Clover merchant OTHERMERCHANT is not mapped"), "{answer}");
    let (status, answer) = notify("0307e264-b33a-4913", &event("XYZVJT2ZRRRSC", "C:6GN5ZWZ8RQ4QA"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("kind `C` are not mapped"), "{answer}");
    wait_for("the dead letters", || live.psql("SELECT COUNT(*) FROM dead_letters") == "2\n");
    let kept = live.psql("SELECT raw FROM dead_letters ORDER BY raw");
    assert!(kept.contains("O:X87EZTY4P965T") && !kept.contains("6GN5ZWZ8RQ4QA"), "no customer id kept: {kept}");
}

/// Lightspeed: form-encoded webhooks to a URL carrying tillflow's token (Lightspeed signs
/// nothing), the object as JSON in `payload`.
#[test]
fn a_lightspeed_webhook_with_its_token_reaches_sku_margin() {
    // A stand-in for Lightspeed's API (2.0), answering for the product an inventory level names.
    let product = |headers: axum::http::HeaderMap| async move {
        match headers.get("authorization").is_some_and(|v| v == "Bearer ls-api") {
            true => (axum::http::StatusCode::OK, crate::lightspeed::PRODUCT_ANSWER),
            false => (axum::http::StatusCode::UNAUTHORIZED, ""),
        }
    };
    let app = axum::Router::new().route("/api/2.0/products/{id}", axum::routing::get(product));
    let (_runtime, api) = stand_in(app);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    let (register, outlet) = (crate::lightspeed::REGISTER, crate::lightspeed::OUTLET);
    std::fs::write(
        &config,
        format!(
            "[sources.lightspeed]\ntoken = \"ls-0123456789abcdef\"\nregisters = {{ \"{register}\" = \"S1\" }}\n\
             outlets = {{ \"{outlet}\" = \"S1\" }}\napi_base = \"http://{api}/api/2.0\"\naccess_token = \"ls-api\"\n"
        ),
    )
    .unwrap();
    let live = Live::start_with(&["--config", &config.display().to_string()]);
    live.post(&reference_data());
    let webhook = |token: &str, kind: &str, payload: &str| {
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("type", kind)
            .append_pair("payload", payload)
            .finish();
        let head = format!(
            "POST /v1/sources/lightspeed?token={token} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded"
        );
        live.request(&head, form.as_bytes()).unwrap()
    };
    let (status, answer) = webhook("ls-0123456789abcdef", "sale.update", crate::lightspeed::SALE);
    assert_eq!(status, 202, "{answer}");
    wait_for("the Lightspeed sale in sku_margin", || {
        live.psql("SELECT sku, units_sold, net_sales FROM sku_margin ORDER BY sku") == "K1|3|32.97\nK2|1|9.00\n"
    });
    // Lightspeed sends a sale again on each update: the same record counts once.
    let (_, answer) = webhook("ls-0123456789abcdef", "sale.update", crate::lightspeed::SALE);
    assert!(answer.contains("\"duplicates\":1"), "{answer}");
    let (status, answer) = webhook("ls-0123456789abcdef", "product.update", crate::lightspeed::PRODUCT);
    assert_eq!(status, 202, "{answer}");
    wait_for("the product", || {
        live.psql("SELECT unit_cost, list_price FROM products WHERE sku = 'K9'") == "14.50|39.13\n"
    });
    // A stock level names its product by id: its SKU is fetched from the API.
    let (status, answer) = webhook("ls-0123456789abcdef", "inventory.update", crate::lightspeed::LEVEL);
    assert_eq!(status, 202, "{answer}");
    wait_for("the stock count", || {
        live.psql("SELECT on_hand FROM inventory_position WHERE store_id = 'S1' AND sku = 'K9'") == "7\n"
    });
    let mut saved: serde_json::Value = serde_json::from_str(crate::lightspeed::SALE).unwrap();
    saved["status"] = serde_json::json!("SAVED");
    let (status, answer) = webhook("ls-0123456789abcdef", "sale.update", &saved.to_string());
    assert_eq!((status, answer.contains("the sale is SAVED")), (200, true), "{answer}");
    // Without the token, or with another: 401, counted.
    assert_eq!(webhook("", "sale.update", crate::lightspeed::SALE).0, 401);
    assert_eq!(webhook("ls-0123456789abcdeX", "sale.update", crate::lightspeed::SALE).0, 401);
    let (_, metrics) = live.get("/metrics").unwrap();
    assert!(metrics.contains("tillflow_unauthenticated_total 2"), "{metrics}");
    // A register no store is mapped to: a dead letter, the customer's name left out, their id pseudonymous.
    let elsewhere = crate::lightspeed::SALE.replace(register, "ffffffff-0000").replace("a2961c07", "b2961c07");
    let (status, answer) = webhook("ls-0123456789abcdef", "sale.update", &elsewhere);
    assert_eq!(status, 200, "{answer}");
    wait_for("the dead letter", || live.psql("SELECT COUNT(*) FROM dead_letters") == "1\n");
    let raw = live.psql("SELECT raw FROM dead_letters");
    assert!(raw.contains("ffffffff-0000") && !raw.contains("Ann Example"), "{raw}");
    assert!(!raw.contains("e52b4b5c") && raw.contains("cust_"), "the customer id pseudonymous: {raw}");
}

/// An erasure as a privacy request demands it: the customer leaves the views at once, and once
/// the deadline (here 1 h of event time) has passed, no byte under `--out` holds their raw
/// identifiers or their pseudonyms: not the ingest log, not a dead letter, not an old version of
/// a table. The rewritten log still replays to the live run's views, and their links stay
/// refused after a restart.
#[test]
fn an_erased_customer_leaves_every_persisted_byte_by_the_deadline() {
    use crate::privacy::{identifiers_under, pseudonym};
    use tillflow_testkit::events::{erasure, link, with_card};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut live = Live::start_at(&out, &["--erasure-deadline", "1h"]);
    let at = |day: i64, hour: i64| BASE + day * DAY + hour * HOUR;
    live.post(&reference_data());
    let sales = vec![
        link("L-1", at(0, 13), "L77700001", "C77700001", true),
        link("L-2", at(0, 13), "L77700002", "C77700002", true),
        with_card(sale("T1", "S1", at(0, 15), vec![line(1, "K1", 2, 500, 0, false)]), Some("L77700001")),
        with_card(sale("T2", "S1", at(0, 16), vec![line(1, "K2", 1, 250, 0, false)]), Some("L77700002")),
    ];
    assert_eq!(live.post(&sales).1["accepted"], 4);
    let stray = with_card(sale("T1", "S1", at(0, 17), vec![line(1, "K1", 9, 500, 0, false)]), Some("L77700001"));
    assert_eq!(live.post(&[stray]).1["dead_lettered"], 1, "a sale sent again changed, with the card");
    live.post(&[sale("T3", "S1", at(3, 15), vec![line(1, "K1", 1, 500, 0, false)])]);
    live.post(&[sale("T4", "S2", at(3, 15), vec![line(1, "K1", 1, 500, 0, false)])]);

    let (customer, card) = (pseudonym(&out, "customer_id", "C77700001"), pseudonym(&out, "customer_ref", "L77700001"));
    let traces = [customer.clone(), card.clone(), "C77700001".to_string(), "L77700001".to_string()];
    let find = |text: &str| traces.iter().filter(|t| text.contains(t.as_str())).cloned().collect::<Vec<_>>();
    wait_for("both customers in customer_segments", || {
        live.psql("SELECT customer_id FROM customer_segments ORDER BY customer_id").lines().count() == 2
    });
    wait_for("the customer persisted, in the log, the dead letters and customer_segments", || {
        let found = identifiers_under(&out, find, true);
        let holds =
            |part: &str| found.iter().any(|(path, id)| path.to_string_lossy().contains(part) && *id == customer);
        holds("_ingest_log")
            && holds("customer_segments")
            && found.iter().any(|(p, id)| p.to_string_lossy().contains("dead_letters") && *id == card)
    });
    assert!(
        identifiers_under(
            &out,
            |text: &str| find(text).into_iter().filter(|t| t.starts_with(['C', 'L'])).collect(),
            true
        )
        .is_empty(),
        "pseudonyms only, never the raw identifiers"
    );

    live.post(&[erasure("X-1", at(3, 16), "C77700001")]);
    wait_for("the customer out of the live view", || {
        live.psql("SELECT customer_id FROM customer_segments").trim() == pseudonym(&out, "customer_id", "C77700002")
    });
    // The deadline passes in event time, at both stores (the chain's clock is the second-latest store's).
    live.post(&[sale("T5", "S1", at(3, 18), vec![line(1, "K2", 1, 250, 0, false)])]);
    live.post(&[sale("T6", "S2", at(3, 18), vec![line(1, "K2", 1, 250, 0, false)])]);
    wait_for("no trace of the customer under --out", || identifiers_under(&out, find, true).is_empty());
    let letter = live.psql("SELECT raw FROM dead_letters WHERE event_id = 'e-T1'");
    assert!(
        letter.contains("\"customer_ref\":\"<erased>\"") && letter.contains("\"qty\":9"),
        "the letter stays: {letter}"
    );
    live.terminate();
    assert_eq!(identifiers_under(&out, find, true), vec![], "after the last persist too");

    let replayed = dir.path().join("replayed");
    let summary = crate::support::run_ok(&[
        "replay",
        "--log",
        &out.display().to_string(),
        "--out",
        &replayed.display().to_string(),
    ]);
    let count = |label: &str| {
        summary
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_string)
    };
    let counts = [count("events read"), count("accepted"), count("dead-lettered")];
    assert_eq!(
        counts,
        [Some("14".into()), Some("13".into()), Some("1".into())],
        "every record still counts:\n{summary}"
    );
    for table in ["customer_segments", "sku_margin", "dead_letters"] {
        let sql = format!("SELECT * FROM {table}");
        assert_eq!(
            persisted_rows(&replayed, &sql),
            persisted_rows(&out, &sql),
            "{table} replayed from the rewritten log"
        );
    }

    let live = Live::start_at(&out, &["--erasure-deadline", "1h"]);
    let (status, answer) = live.post(&[link("L-9", at(3, 19), "L77700001", "C77700001", true)]);
    assert_eq!((status, answer["dead_lettered"].as_u64()), (400, Some(1)), "{answer}");
    assert!(answer["errors"][0]["reason"].as_str().unwrap().contains("erased"), "{answer}");
}

/// `tillflow vacuum --erasures` carries out a stopped run's erasures before their deadline.
#[test]
fn vacuum_erasures_rids_a_stopped_run_of_the_customer_at_once() {
    use crate::privacy::{identifiers_under, pseudonym};
    use tillflow_testkit::events::{erasure, link, with_card};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut live = Live::start_at(&out, &[]);
    live.post(&reference_data());
    let at = |hour: i64| BASE + hour * HOUR;
    live.post(&[
        link("L-1", at(13), "L88800001", "C88800001", true),
        with_card(sale("T1", "S1", at(15), vec![line(1, "K1", 1, 500, 0, false)]), Some("L88800001")),
        erasure("X-1", at(16), "C88800001"),
    ]);
    live.terminate();
    let traces = [pseudonym(&out, "customer_id", "C88800001"), pseudonym(&out, "customer_ref", "L88800001")];
    let find = |text: &str| traces.iter().filter(|t| text.contains(t.as_str())).cloned().collect::<Vec<_>>();
    assert!(!identifiers_under(&out, find, true).is_empty(), "the deadline (48 h) has not passed: the log holds them");
    let said = crate::support::run_ok(&["vacuum", "--out", &out.display().to_string(), "--erasures"]);
    assert!(said.contains("erased 1 customer(s)"), "{said}");
    assert_eq!(identifiers_under(&out, find, true), vec![]);
    let replayed = dir.path().join("replayed");
    crate::support::run_ok(&["replay", "--log", &out.display().to_string(), "--out", &replayed.display().to_string()]);
    let sql = "SELECT * FROM sku_margin";
    assert_eq!(persisted_rows(&replayed, sql), persisted_rows(&out, sql), "the sale still counts");
}
