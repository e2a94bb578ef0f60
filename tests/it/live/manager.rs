//! The district manager's day in live mode: `exception_history` from the exceptions' changes and
//! the managers' `exception_action` events (against a state machine written here, apart from the
//! pipeline's), kept across SIGKILL; alerts delivered once per new exception across a crash, with
//! retries; Slack payloads that are valid Block Kit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tillflow::journal::{Entry, Place};
use tillflow_schemas::raw::RawEvent;
use tillflow_schemas::views::Exception;
use tillflow_schemas::{Event, ExceptionAction};
use tillflow_testkit::events::{BASE, HOUR, line, movement, product, sale, store};

use super::{Live, TICK_MS, stand_in, wait_for};
use crate::history::{Lives, reference};

/// Store S1 (New York), SKUs K1 (cost 7.50) and K2 (cost 6.00), and `n` units of `sku` sold at
/// 4.00: below cost, so a `negative_margin`, and stock below zero, so a `ghost_inventory`.
fn below_cost(id: &str, sku: &str, n: i64, minutes: i64) -> Event {
    sale(id, "S1", BASE + 14 * HOUR + minutes * 60_000, vec![line(1, sku, n, 400, 0, false)])
}

fn reference_data() -> Vec<Event> {
    vec![store("S1", "America/New_York"), product("K1", 750, None, None), product("K2", 600, None, None)]
}

fn action(id: &str, exception_id: &str, action: &str, extra: Value) -> Vec<u8> {
    let mut event = json!({
        "type": "exception_action", "event_id": id, "ts": "2026-03-07T19:00:00Z", "store_id": "S1",
        "exception_id": exception_id, "action": action, "user": "dm1",
    });
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
        event.extend(extra);
    }
    format!("{event}\n").into_bytes()
}

/// The exception of `kind` about `subject`, once the live views have it.
fn exception_id(live: &Live, kind: &str, subject: &str) -> String {
    let sql = format!("SELECT exception_id FROM exceptions WHERE kind = '{kind}' AND subject = '{subject}'");
    let mut id = String::new();
    wait_for(&format!("a {kind} exception about {subject}"), || {
        id = live.flight(&sql).unwrap_or_default().lines().nth(1).unwrap_or_default().to_string();
        !id.is_empty()
    });
    id
}

fn histories(live: &Live) -> Lives {
    let sql = "SELECT exception_id, status, version, COALESCE(acknowledged_by, '') AS by_, \
               COALESCE(assigned_to, '') AS to_, COALESCE(note, '') AS note_, \
               CAST(ROUND(date_part('epoch', first_seen) * 1000) AS BIGINT) AS first_ms, cleared IS NOT NULL AS gone \
               FROM exception_history ORDER BY exception_id";
    let csv = live.flight(sql).unwrap_or_default();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let f = |i: usize| r[i].to_string();
            (f(0), (f(1), r[2].parse().unwrap(), f(3), f(4), f(5), r[6].parse().unwrap(), &r[7] == "true"))
        })
        .collect()
}

fn status_of(live: &Live, id: &str) -> (String, u32) {
    histories(live).get(id).map(|h| (h.0.clone(), h.1)).unwrap_or_default()
}

#[test]
fn exception_history_follows_figures_and_actions_and_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let mut live = Live::start_at(&out, &[]);
    live.post(&reference_data());
    assert_eq!(live.post(&[below_cost("t1", "K1", 3, 0)]).0, 202);
    let margin = exception_id(&live, "negative_margin", "K1");
    let ghost = exception_id(&live, "ghost_inventory", "K1");
    wait_for("both open", || status_of(&live, &margin) == ("open".into(), 1));

    // Refused, with a reason and a dead letter: an exception nobody knows, a dismissal without its reason.
    let (status, answer) = live.post_raw(&action("a0", "no-such-exception", "acknowledge", json!({})));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["errors"][0]["reason"].as_str().unwrap().contains("no exception `no-such-exception`"), "{answer}");
    let (status, answer) = live.post_raw(&action("a1", &margin, "dismiss", json!({})));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["errors"][0]["reason"].as_str().unwrap().contains("reason in `note`"), "{answer}");

    assert_eq!(live.post_raw(&action("a2", &margin, "acknowledge", json!({}))).0, 202);
    wait_for("acknowledged", || status_of(&live, &margin) == ("acknowledged".into(), 1));
    // Its figures change: a sale more below cost the same day. Acknowledged, it comes back.
    assert_eq!(live.post(&[below_cost("t2", "K1", 1, 5)]).0, 202);
    wait_for("reopened as version 2", || status_of(&live, &margin) == ("reopened".into(), 2));
    // A count puts K1's stock above zero: the ghost clears.
    assert_eq!(
        live.post(&[movement("c1", "S1", "K1", BASE + 15 * HOUR, tillflow_schemas::InventoryKind::Count, 20)]).0,
        202
    );
    wait_for("the ghost cleared", || status_of(&live, &ghost).0 == "cleared");
    let assign = action("a3", &margin, "assign", json!({"assignee": "sam"}));
    let note = action("a4", &margin, "note", json!({"note": "checking the price file"}));
    assert_eq!(live.post_raw(&[assign, note].concat()).0, 202);
    wait_for("assigned, with a note", || {
        histories(&live).get(&margin).is_some_and(|h| h.3 == "sam" && !h.4.is_empty())
    });
    let before = histories(&live);
    assert_eq!(before[&margin].2, "dm1", "who acknowledged it");

    // SIGKILL, and a restart: the histories come back as they were, not recomputed.
    live.child.kill().unwrap();
    live.child.wait().unwrap();
    let mut live = Live::start_at(&out, &[]);
    wait_for("the histories back", || histories(&live) == before);
    live.terminate();

    // The reference, from the run's own change stream (replayed from its log, epoch by epoch)
    // and the actions it admitted.
    let config = tillflow::replay::ReplayConfig {
        history: tillflow::replay::History::Log(out.clone()),
        out: "memory://history".into(),
        workers: 1,
        tuning: Default::default(),
        window: Default::default(),
        speed: tillflow::replay::Speed::Max,
        detail: tillflow::dataflow::Detail { epochs: true, profile: false },
        pseudonyms: tillflow::pseudonyms::Pseudonyms::for_out(&out.display().to_string(), None).unwrap(),
    };
    let replayed = tillflow::replay::compute(&config).unwrap();
    let entries = tillflow::journal::read(&Place::Folder(out.join(tillflow::serve::INGEST_LOG))).unwrap();
    let actions: Vec<(u64, ExceptionAction)> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Accepted { epoch, event, .. } => match RawEvent::from_json(event.as_bytes()).ok()?.validate() {
                Ok(Event::ExceptionAction(a)) => Some((*epoch, a)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(actions.len(), 3, "the three actions admitted");
    let expected = reference(replayed.changes::<Exception>(), &actions, TICK_MS as i64);
    assert_eq!(before, expected);
}

/// A receiver of alerts: what it answered 2xx to, by path, with the idempotency key and body;
/// it answers 500 to the first `failures` posts to `/hook`.
#[derive(Clone, Default)]
struct Receiver {
    delivered: Arc<Mutex<Vec<(String, String, Value)>>>,
    failures: Arc<Mutex<u32>>,
}

impl Receiver {
    fn app(&self) -> axum::Router {
        let receiver = self.clone();
        let take = move |path: &'static str| {
            let receiver = receiver.clone();
            move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                let receiver = receiver.clone();
                async move {
                    let mut failures = receiver.failures.lock().unwrap();
                    if path == "/hook" && *failures > 0 {
                        *failures -= 1;
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let key =
                        headers.get("idempotency-key").map(|k| k.to_str().unwrap().to_string()).unwrap_or_default();
                    receiver.delivered.lock().unwrap().push((path.to_string(), key, body.0));
                    axum::http::StatusCode::OK
                }
            }
        };
        axum::Router::new()
            .route("/hook", axum::routing::post(take("/hook")))
            .route("/slack", axum::routing::post(take("/slack")))
    }

    fn keys(&self, path: &str) -> Vec<String> {
        self.delivered.lock().unwrap().iter().filter(|d| d.0 == path).map(|d| d.1.clone()).collect()
    }
}

/// Checks a Slack incoming webhook's body against Block Kit's rules for the blocks it uses.
fn valid_block_kit(body: &Value) -> Result<(), String> {
    let text = body["text"].as_str().ok_or("no fallback `text`")?;
    if text.is_empty() {
        return Err("empty `text`".into());
    }
    let blocks = body["blocks"].as_array().ok_or("no `blocks` array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let text_object = |t: &Value, kinds: &[&str], max: usize| -> Result<(), String> {
        let kind = t["type"].as_str().ok_or("a text object without `type`")?;
        let text = t["text"].as_str().ok_or("a text object without `text`")?;
        match kinds.contains(&kind) && !text.is_empty() && text.chars().count() <= max {
            true => Ok(()),
            false => Err(format!("text object {t}")),
        }
    };
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => text_object(&block["text"], &["plain_text"], 150)?,
            Some("section") => {
                text_object(&block["text"], &["mrkdwn", "plain_text"], 3000)?;
                if let Some(fields) = block.get("fields") {
                    let fields = fields.as_array().ok_or("`fields` is not an array")?;
                    if fields.len() > 10 {
                        return Err("more than 10 fields".into());
                    }
                    fields.iter().try_for_each(|f| text_object(f, &["mrkdwn", "plain_text"], 2000))?;
                }
            }
            Some("context") => {
                let elements = block["elements"].as_array().ok_or("a context without `elements`")?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err("context elements".into());
                }
                elements.iter().try_for_each(|e| text_object(e, &["mrkdwn", "plain_text"], 3000))?;
            }
            other => return Err(format!("block type {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn alerts_are_delivered_once_across_sigkill_with_retries() {
    let receiver = Receiver::default();
    *receiver.failures.lock().unwrap() = 2;
    let (_runtime, addr) = stand_in(receiver.app());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    std::fs::write(
        &config,
        format!(
            "[[alerts]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://{addr}/hook\"\n\n\
             [[alerts]]\nname = \"district\"\nkind = \"slack\"\nurl = \"http://{addr}/slack\"\nmin_severity = \"high\"\n"
        ),
    )
    .unwrap();
    let (out, config) = (dir.path().join("live"), config.display().to_string());
    let mut live = Live::start_at(&out, &["--config", &config]);
    live.post(&reference_data());
    live.post(&[below_cost("t1", "K1", 3, 0)]);
    let margin = exception_id(&live, "negative_margin", "K1");
    let ghost = exception_id(&live, "ghost_inventory", "K1");
    wait_for("both alerts on the webhook, the high one on Slack", || {
        receiver.keys("/hook").len() == 2 && receiver.keys("/slack").len() == 1
    });
    let mut hook = receiver.keys("/hook");
    hook.sort();
    let mut owed = vec![format!("{margin}/v1"), format!("{ghost}/v1")];
    owed.sort();
    assert_eq!(hook, owed);
    assert_eq!(receiver.keys("/slack"), vec![format!("{ghost}/v1")], "the medium one is below the channel's minimum");
    for (path, key, body) in receiver.delivered.lock().unwrap().iter() {
        match path.as_str() {
            "/slack" => valid_block_kit(body).unwrap_or_else(|e| panic!("invalid Block Kit ({e}): {body}")),
            _ => {
                assert_eq!(body["idempotency_key"], key.as_str());
                assert_eq!(body["store_id"], "S1");
                assert!(["negative_margin", "ghost_inventory"].contains(&body["kind"].as_str().unwrap()), "{body}");
            }
        }
    }
    // The two 500s are in alert_deliveries, then the deliveries (each key's attempts numbered).
    let sql =
        "SELECT key, attempt, outcome, http_status FROM alert_deliveries WHERE channel = 'ops' ORDER BY key, attempt";
    let mut attempts = String::new();
    wait_for("alert_deliveries", || {
        attempts = live.flight(sql).unwrap_or_default();
        attempts.matches("delivered").count() == 2
    });
    let (failed, delivered) = (attempts.matches(",failed,500").count(), attempts.matches(",delivered,200").count());
    assert_eq!((failed, delivered), (2, 2), "{attempts}");
    for key in [&margin, &ghost] {
        let tries: Vec<&str> = attempts.lines().filter(|l| l.starts_with(key.as_str())).collect();
        let last = tries.last().unwrap_or_else(|| panic!("{key} attempted: {attempts}"));
        assert!(last.ends_with(&format!(",{},delivered,200", tries.len())), "{attempts}");
    }
    // Once the deliveries are recorded under --out, a crash must not send them again.
    let marked = |channel: &str, key: &str| out.join("_alerts").join(channel).join(key).exists();
    wait_for("the deliveries recorded", || {
        marked("ops", &format!("{margin}/v1"))
            && marked("ops", &format!("{ghost}/v1"))
            && marked("district", &format!("{ghost}/v1"))
    });
    live.child.kill().unwrap();
    live.child.wait().unwrap();

    let live = Live::start_at(&out, &["--config", &config]);
    live.post(&[below_cost("t2", "K2", 2, 10)]);
    let k2 = exception_id(&live, "ghost_inventory", "K2");
    // Alerts go out longest-waiting first: once the new one has arrived, a resend of the old
    // ones would have too.
    wait_for("the new exception's alerts", || {
        receiver.keys("/slack").contains(&format!("{k2}/v1")) && receiver.keys("/hook").contains(&format!("{k2}/v1"))
    });
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (path, key, _) in receiver.delivered.lock().unwrap().iter() {
        *counts.entry((path.clone(), key.clone())).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "each alert delivered once: {counts:?}");
    // The restarted run's alert_deliveries still lists the deliveries before the crash.
    let delivered = "SELECT COUNT(*) AS n FROM alert_deliveries WHERE outcome = 'delivered'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut listed = live.flight(delivered).unwrap_or_else(|e| e);
    while listed != "n\n6" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        listed = live.flight(delivered).unwrap_or_else(|e| e);
    }
    assert_eq!(listed, "n\n6", "six deliveries listed");
    assert_eq!(counts.len(), 4 + 2, "two exceptions of K1, two of K2 on the webhook; the high ones on Slack");
}

/// `GET path` (or a POST with `body`) signed in as `user`, if any.
fn as_user(live: &Live, method: &str, path: &str, user: Option<(&str, &str)>, body: &[u8]) -> (u16, String) {
    use base64::Engine;
    let mut head = format!("{method} {path} HTTP/1.1");
    if let Some((name, password)) = user {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
        head += &format!("\r\nAuthorization: Basic {basic}");
    }
    if !body.is_empty() {
        head += "\r\nContent-Type: application/json";
    }
    live.request(&head, body).expect("tillflow answers")
}

#[test]
fn the_console_signs_users_in_and_keeps_each_to_their_scope() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    std::fs::write(
        &config,
        "[[users]]\nname = \"s1-manager\"\npassword = \"s1-manager-password\"\nscope = \"store:S1\"\n\n\
         [[users]]\nname = \"analyst\"\npassword = \"analyst-password\"\nscope = \"chain\"\n",
    )
    .unwrap();
    let (out, http) = (dir.path().join("live"), super::free_port());
    let child = crate::support::tillflow()
        .args(["run", "--follow", "--tick", &format!("{TICK_MS}ms"), "--listen", &format!("127.0.0.1:{http}")])
        .args(["--out", &out.display().to_string(), "--config", &config.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut live = Live { child, http, pg: 0, flight: 0, out: out.clone(), _dir: None };
    wait_for("the HTTP listener", || live.get("/healthz").is_some_and(|(s, _)| s == 200));
    let mut events = reference_data();
    events.push(store("S2", "Europe/Berlin"));
    live.post(&events);
    live.post(&[
        below_cost("t1", "K1", 3, 0),
        sale("t2", "S2", BASE + 10 * HOUR, vec![line(1, "K2", 2, 400, 0, false)]),
    ]);

    let (analyst, manager) = (Some(("analyst", "analyst-password")), Some(("s1-manager", "s1-manager-password")));
    let list = |user| {
        let (status, body) = as_user(&live, "GET", "/v1/console/exceptions", user, b"");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let stores_seen = |listed: &Value| {
        let mut stores: Vec<String> = listed["exceptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["store_id"].as_str().unwrap().to_string())
            .collect();
        stores.dedup();
        stores
    };
    wait_for("both stores' exceptions", || stores_seen(&list(analyst)) == ["S1", "S2"]);
    let mine = list(manager);
    assert_eq!(mine["user"], "s1-manager");
    assert_eq!(stores_seen(&mine), ["S1"], "a store manager sees their store only");

    for path in ["/", "/v1/console/exceptions", "/v1/console/stream"] {
        assert_eq!(as_user(&live, "GET", path, None, b"").0, 401, "{path} without signing in");
    }
    assert_eq!(as_user(&live, "GET", "/v1/console/exceptions", Some(("analyst", "wrong")), b"").0, 401);

    let id_of = |listed: &Value, store: &str, kind: &str| {
        let found =
            listed["exceptions"].as_array().unwrap().iter().find(|e| e["store_id"] == store && e["kind"] == kind);
        found.map(|e| e["exception_id"].as_str().unwrap().to_string()).unwrap()
    };
    let everything = list(analyst);
    let (theirs, ours) = (id_of(&everything, "S2", "negative_margin"), id_of(&everything, "S1", "negative_margin"));
    let act = |id: &str| format!("{{\"exception_id\":\"{id}\",\"action\":\"acknowledge\",\"user\":\"someone-else\"}}");
    let (status, answer) = as_user(&live, "POST", "/v1/console/actions", manager, act(&theirs).as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("you may act on"), "{answer}");
    let (status, _) = as_user(&live, "GET", &format!("/v1/console/exceptions/{theirs}/rows"), manager, b"");
    assert_eq!(status, 404, "another store's evidence");
    let (status, rows) = as_user(&live, "GET", &format!("/v1/console/exceptions/{ours}/rows"), manager, b"");
    let rows: Value = serde_json::from_str(&rows).unwrap();
    assert_eq!((status, rows["view"].as_str()), (200, Some("sku_margin")));
    assert_eq!(rows["rows"].as_array().unwrap().len(), 1, "K1's day at S1: {rows}");

    let (status, answer) = as_user(&live, "POST", "/v1/console/actions", manager, act(&ours).as_bytes());
    assert_eq!(status, 202, "{answer}");
    wait_for("acknowledged by the user signed in", || {
        let listed = list(analyst);
        let row = listed["exceptions"].as_array().unwrap().iter().find(|e| e["exception_id"] == ours.as_str()).cloned();
        row.is_some_and(|r| r["status"] == "acknowledged" && r["acknowledged_by"] == "s1-manager")
    });
    live.terminate();
    let audited = crate::support::run_ok(&[
        "sql",
        "--out",
        &out.display().to_string(),
        "--format",
        "csv",
        "SELECT DISTINCT \"user\", outcome FROM access_log WHERE surface = 'console' ORDER BY 1, 2",
    ]);
    assert_eq!(
        audited, "user,outcome\nanalyst,ok\nanalyst,refused\ns1-manager,ok\ns1-manager,refused\n",
        "every access audited"
    );
}

#[test]
fn each_store_gets_its_morning_briefing_at_its_local_time() {
    let receiver = Receiver::default();
    let (_runtime, addr) = stand_in(receiver.app());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tillflow.toml");
    // At 00:00 local time: due at once, whatever the hour the test runs at.
    let channel = format!(
        "[[alerts]]\nname = \"briefings\"\nkind = \"slack\"\nurl = \"http://{addr}/slack\"\nstores = [\"S1\"]\n\
         kinds = [\"none of them\"]\nbriefing_at = \"00:00\"\n\n\
         [[alerts]]\nname = \"raw\"\nkind = \"webhook\"\nurl = \"http://{addr}/hook\"\nstores = [\"S1\"]\n\
         kinds = [\"none of them\"]\nbriefing_at = \"00:00\"\n"
    );
    std::fs::write(&config, channel).unwrap();
    let (out, config) = (dir.path().join("live"), config.display().to_string());
    let live = Live::start_at(&out, &["--config", &config]);
    let mut events = reference_data();
    events.push(store("S2", "Europe/Berlin"));
    live.post(&events);
    live.post(&[below_cost("t1", "K1", 3, 0)]);
    exception_id(&live, "negative_margin", "K1");
    wait_for("S1's briefing on both channels", || {
        receiver.keys("/slack").len() == 1 && receiver.keys("/hook").len() == 1
    });
    let today = chrono::Utc::now().with_timezone(&chrono_tz::America::New_York).date_naive();
    let delivered = receiver.delivered.lock().unwrap().clone();
    for (path, key, body) in &delivered {
        assert!(
            key == &format!("briefing/S1/{today}") || key == &format!("briefing/S1/{}", today.pred_opt().unwrap()),
            "S1's briefing of its local day, not S2's: {key}"
        );
        match path.as_str() {
            "/slack" => {
                valid_block_kit(body).unwrap_or_else(|e| panic!("invalid Block Kit ({e}): {body}"));
                assert!(body["text"].as_str().unwrap().starts_with("Morning briefing — S1"), "{body}");
            }
            _ => {
                let actions = body["briefing"]["actions"].as_array().unwrap();
                let kinds: Vec<&str> = actions.iter().map(|a| a["kind"].as_str().unwrap()).collect();
                assert!(kinds.contains(&"negative_margin"), "the K1 sale below cost is among the actions: {body}");
                assert_eq!(body["briefing"]["store_id"], "S1");
            }
        }
    }
}
