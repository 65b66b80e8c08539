//! Issue 15: the audit trail, `Idempotency-Key` and `POST /bulk`, against the simulator
//! (and real MariaDB for durability across a restart and a database outage).

use crate::support::engine::{router_config, router_configs, simulator, TestEngine, KEY};
use crate::support::mysql::{PrivateServer, TestDatabase};
use net_engine::fleet::FleetSettings;
use net_engine::store::audit::AuditBackend;
use net_engine::store::{AuditTrail, FileAuditBackend, MysqlStore};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings() -> FleetSettings {
    FleetSettings {
        command_timeout: Duration::from_millis(600),
        connect_timeout: Duration::from_secs(1),
        poll_interval: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        late_answer_grace: Duration::from_secs(4),
        ..FleetSettings::default()
    }
}

fn audit(engine: &TestEngine, query: &str) -> Vec<Value> {
    let answer = engine.get(&format!("/api/v1/audit{query}"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body.as_array().cloned().unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn keyed(
    engine: &TestEngine,
    method: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> crate::support::engine::Answer {
    engine.call_with(
        method,
        path,
        Some(KEY),
        Some(&body.to_string()),
        &[("Idempotency-Key", key)],
    )
}

fn closed_port() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

#[test]
fn audit_records_each_write_kind_once_with_its_outcome_and_never_a_password() {
    let sim = simulator(1, 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let trail = Arc::new(
        AuditTrail::start(
            Some(Arc::new(FileAuditBackend::new(&path))),
            (Duration::from_millis(50), Duration::from_millis(200)),
        )
        .unwrap(),
    );
    let mut routers = router_configs(&sim);
    routers.push(router_config(2, closed_port()));
    let mut engine = TestEngine::start_audited(routers, settings(), Arc::clone(&trail));
    engine.wait_online(1, Duration::from_secs(5));
    let online = sim.routers()[0].with_state(|s| s.active_names());
    let user = online[0].clone();

    let created = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "audit-new", "password": "s3cret-pass-word"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let duplicate = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "audit-new", "password": "s3cret-pass-word"}),
    );
    assert_eq!(duplicate.status, 409);
    let updated = engine.put(
        "/api/v1/secret/audit-new",
        &json!({"router_id": 1, "password": "another-pass-1", "profile": "default"}),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        engine
            .post("/api/v1/kick", &json!({"router_id": 1, "user": user}))
            .status,
        200
    );
    assert_eq!(
        engine
            .post(
                "/api/v1/isolate",
                &json!({"router_id": 1, "user": online[1], "action": "add"})
            )
            .status,
        200
    );
    assert_eq!(
        engine.post("/api/v1/router/1/backup", &json!({})).status,
        200
    );
    assert_eq!(engine.post("/api/v1/sync/1", &json!({})).status, 200);
    assert_eq!(
        engine.delete("/api/v1/secret/audit-new?router_id=1").status,
        200
    );
    let offline = engine.post("/api/v1/kick", &json!({"router_id": 2, "user": user}));
    assert_eq!(offline.status, 503);
    // Refused before any router: not a write, not recorded.
    assert_eq!(
        engine
            .post(
                "/api/v1/kick",
                &json!({"router_id": 1, "user": "x".repeat(65)})
            )
            .status,
        400
    );

    let entries = audit(&engine, "");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("kick", "not_sent"),
            ("delete_secret", "applied"),
            ("sync", "applied"),
            ("backup", "applied"),
            ("isolate", "applied"),
            ("kick", "applied"),
            ("update_secret", "applied"),
            ("create_secret", "rejected"),
            ("create_secret", "applied"),
        ],
        "newest first"
    );
    let first = entries.last().unwrap();
    assert_eq!(first["change"]["password"], "(changed)");
    assert_eq!(first["status"], 201);
    assert_eq!(first["router_id"], 1);
    assert_eq!(first["user"], "audit-new");
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!(first["route"], "POST /api/v1/secret");
    assert_eq!(
        first["request_id"],
        created.request_id.clone().unwrap().as_str()
    );
    assert!(entries[7]["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    assert_eq!(entries[0]["status"], 503);
    // Filters and paging.
    assert_eq!(audit(&engine, "?user=audit-new").len(), 4);
    assert_eq!(audit(&engine, "?router_id=2").len(), 1);
    let page = engine.get("/api/v1/audit?limit=2&page=2");
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    assert_eq!(page.total_count.as_deref(), Some("9"));
    assert!(page.link.unwrap().contains("rel=\"next\""));
    assert_eq!(audit(&engine, "?until=1").len(), 0);

    let api_text = engine.get("/api/v1/audit").text;
    engine.shutdown();
    drop(trail);
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(file.lines().count(), 9);
    for text in [&file, &api_text] {
        assert!(!text.contains("s3cret-pass-word") && !text.contains("another-pass-1"));
    }
}

#[test]
fn audit_unknown_is_completed_by_the_late_answer_and_idempotent_retries_follow_it() {
    let sim = simulator(1, 20);
    let trail = Arc::new(AuditTrail::in_memory());
    let engine = TestEngine::start_audited(router_configs(&sim), settings(), Arc::clone(&trail));
    engine.wait_online(1, Duration::from_secs(5));
    let user = sim.routers()[0].with_state(|s| s.active_names())[0].clone();
    sim.routers()[0].set_latency(Duration::from_millis(350));
    let body = json!({"router_id": 1, "user": user});
    let first = keyed(&engine, "POST", "/api/v1/kick", "late-1", &body);
    assert_eq!(first.status, 504, "{}", first.text);
    let entry = audit(&engine, "")[0].clone();
    assert_eq!(entry["outcome"], "unknown");
    let busy = keyed(&engine, "POST", "/api/v1/kick", "late-1", &body);
    assert_eq!(busy.status, 409, "{}", busy.text);
    assert_eq!(busy.body["code"], "in_progress");
    assert!(busy.retry_after.is_some());
    wait_for("the late answer", Duration::from_secs(8), || {
        audit(&engine, "")[0]["outcome"] == "applied"
    });
    let entries = audit(&engine, "");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["status"], 504, "the status answered stays");
    sim.routers()[0].set_latency(Duration::ZERO);
    let sent = keyed(&engine, "POST", "/api/v1/kick", "late-1", &body);
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.replayed.as_deref(), Some("true"));
    assert_eq!(sent.body["kicked"], 1, "the router's final answer");
    assert_eq!(audit(&engine, "").len(), 1, "a replay is not a new write");
}

#[test]
fn idempotent_retry_after_a_never_sent_504_runs_it_and_other_bodies_get_422() {
    let sim = simulator(1, 20);
    let engine = TestEngine::start(router_configs(&sim), settings());
    engine.wait_online(1, Duration::from_secs(5));
    let online = sim.routers()[0].with_state(|s| s.active_names());
    sim.routers()[0].set_latency(Duration::from_millis(400));
    // A slow change holds the router thread; the keyed one expires in the queue behind it.
    let base = engine.base.clone();
    let blocker_user = online[0].clone();
    let blocker = std::thread::spawn(move || {
        ureq::post(&format!("{base}/api/v1/kick"))
            .set("X-App-Key", KEY)
            .send_string(&json!({"router_id": 1, "user": blocker_user}).to_string())
            .map(|r| r.status())
            .unwrap_or_else(|e| match e {
                ureq::Error::Status(code, _) => code,
                _ => 0,
            })
    });
    std::thread::sleep(Duration::from_millis(100));
    let body = json!({"router_id": 1, "user": online[1]});
    let first = keyed(&engine, "POST", "/api/v1/kick", "queued-1", &body);
    assert_eq!(first.status, 504, "{}", first.text);
    assert_eq!(blocker.join().unwrap(), 504);
    sim.routers()[0].set_latency(Duration::ZERO);
    let other = keyed(
        &engine,
        "POST",
        "/api/v1/kick",
        "queued-1",
        &json!({"router_id": 1, "user": online[2]}),
    );
    // While the late answer is pending the key is busy; once it says "never sent", it runs.
    wait_for("the never-sent answer", Duration::from_secs(8), || {
        let retry = keyed(&engine, "POST", "/api/v1/kick", "queued-1", &body);
        assert_ne!(retry.replayed.as_deref(), Some("true"), "{}", retry.text);
        retry.status == 200
    });
    assert!(other.status == 409 || other.status == 422, "{}", other.text);
    let entries = audit(&engine, "?user=".to_owned().as_str());
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["user"] == online[1].as_str())
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[0]["outcome"], "applied");
    assert_eq!(mine[1]["outcome"], "not_sent", "completed from unknown");
    let replay = keyed(&engine, "POST", "/api/v1/kick", "queued-1", &body);
    assert_eq!(replay.replayed.as_deref(), Some("true"));
    let mismatch = keyed(
        &engine,
        "POST",
        "/api/v1/kick",
        "queued-1",
        &json!({"router_id": 1, "user": online[2]}),
    );
    assert_eq!(mismatch.status, 422);
    let bad = keyed(&engine, "POST", "/api/v1/kick", "", &body);
    assert_eq!(bad.status, 400);
}

#[test]
fn bulk_applies_valid_items_once_and_answers_each() {
    let sim = simulator(3, 120);
    let engine = TestEngine::start(
        router_configs(&sim),
        FleetSettings {
            command_timeout: Duration::from_secs(5),
            ..settings()
        },
    );
    for id in 1..=3 {
        engine.wait_online(id, Duration::from_secs(5));
    }
    let mut operations = Vec::new();
    let mut expected = [0usize; 3];
    for (k, router) in sim.routers().iter().enumerate() {
        for name in router.with_state(|s| s.active_names()) {
            let unique = sim
                .routers()
                .iter()
                .filter(|r| r.with_state(|s| s.has_secret(&name)))
                .count()
                == 1;
            if operations.len() % 2 == 0 || !unique {
                operations.push(json!({"op": "isolate", "user": name, "router_id": k + 1}));
            } else {
                operations.push(json!({"op": "isolate", "user": name}));
            }
            expected[k] += 1;
        }
    }
    let valid = operations.len();
    let invalid = [
        json!({"op": "isolate", "user": "x".repeat(65), "router_id": 1}),
        json!({"op": "kick", "user": "nobody-here", "router_id": 99}),
        json!({"op": "set_profile", "user": "nobody-here", "router_id": 1, "profile": "default"}),
        json!({"op": "explode", "user": "x", "router_id": 1}),
    ];
    while operations.len() < 996 {
        let k = operations.len() % 3;
        let name = sim.routers()[k].with_state(|s| s.secret_names())[0].clone();
        operations.push(json!({"op": "enable", "user": name, "router_id": k + 1}));
    }
    operations.extend(invalid.iter().cloned());
    assert_eq!(operations.len(), 1000);
    let answer = engine.post("/api/v1/bulk", &json!({"operations": operations}));
    assert_eq!(
        answer.status,
        200,
        "{}",
        &answer.text[..answer.text.len().min(400)]
    );
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
    }
    assert_eq!(answer.body["failed"], 4, "{:?}", &results[996..]);
    assert_eq!(answer.body["ok"], 996);
    assert_eq!(results[996]["code"], "invalid_field");
    assert_eq!(results[997]["code"], "router_not_found");
    assert_eq!(results[998]["code"], "user_not_found");
    for (k, router) in sim.routers().iter().enumerate() {
        let listed = router.with_state(|s| {
            s.address_list_entries()
                .iter()
                .filter(|(list, _)| list == "ISOLATED")
                .count()
        });
        assert!(
            listed >= expected[k],
            "router {k}: {listed} < {}",
            expected[k]
        );
    }
    let entries = engine.get("/api/v1/audit?limit=1000");
    assert_eq!(
        entries.total_count.as_deref(),
        Some("1000"),
        "every item is audited"
    );
    assert!(valid > 0);
    let bad = engine.post("/api/v1/bulk", &json!({"ops": []}));
    assert_eq!(bad.status, 400);
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "kick", "user": "a"}))
        .collect();
    assert_eq!(
        engine
            .post("/api/v1/bulk", &json!({"operations": too_many}))
            .status,
        400
    );
}

#[test]
fn mysql_audit_survives_a_restart_and_an_outage() {
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let database = TestDatabase::create_on(&server.settings, "audit_outage", "");
    let store = Arc::new(database.store());
    store.migrate().unwrap();
    let sim = simulator(1, 20);
    let start = |store: &Arc<MysqlStore>| {
        let backend: Arc<dyn AuditBackend> = store.clone();
        let trail = Arc::new(
            AuditTrail::start(
                Some(backend),
                (Duration::from_millis(100), Duration::from_millis(300)),
            )
            .unwrap(),
        );
        let engine =
            TestEngine::start_audited(router_configs(&sim), settings(), Arc::clone(&trail));
        engine.wait_online(1, Duration::from_secs(5));
        (engine, trail)
    };
    let user = sim.routers()[0].with_state(|s| s.active_names())[0].clone();
    let body = json!({"router_id": 1, "user": user});
    let (mut engine, trail) = start(&store);
    let first = keyed(&engine, "POST", "/api/v1/kick", "restart-1", &body);
    assert_eq!(first.status, 200);
    wait_for("the entry in MySQL", Duration::from_secs(5), || {
        trail.stats().written >= 2
    });
    server.down();
    let during = engine.post("/api/v1/kick", &body);
    assert_eq!(during.status, 200, "writes answer while MySQL is down");
    std::thread::sleep(Duration::from_millis(500));
    assert!(trail.stats().pending >= 1);
    server.up();
    wait_for("the buffered entry", Duration::from_secs(15), || {
        trail.stats().pending == 0
    });
    assert_eq!(trail.stats().dropped, 0);
    let metrics = engine.get("/metrics").text;
    assert!(
        metrics.contains("netengine_audit_dropped_total 0"),
        "{metrics}"
    );
    engine.shutdown();
    drop(trail);
    let mut conn = database.conn();
    use ::mysql::prelude::Queryable;
    let rows: Vec<(String, String)> = conn
        .query("SELECT action, change_json FROM audit_log")
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (engine, _trail) = start(&store);
    let replay = keyed(&engine, "POST", "/api/v1/kick", "restart-1", &body);
    assert_eq!(replay.status, 200);
    assert_eq!(replay.replayed.as_deref(), Some("true"), "{}", replay.text);
    assert_eq!(audit(&engine, "").len(), 2, "loaded from MySQL");
}
