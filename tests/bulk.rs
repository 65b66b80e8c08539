//! `POST /api/v1/bulk` pipelined on one router (issue 15): over a simulated link with a
//! round trip, one router's items have many commands in flight at once (the simulator's
//! own count says so, no timing), a trap fails only its item, every valid item is applied
//! exactly once, and items for the same user keep their order.

use crate::support::engine::{router_configs, simulator_with, TestEngine, Watchdog};
use net_engine::fleet::FleetSettings;
use net_engine::sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use std::time::Duration;

fn linked(rtt_ms: u64, users: usize) -> Simulator {
    simulator_with(SimConfig {
        routers: 1,
        users,
        churn: false,
        seed: 7,
        rtt: Duration::from_millis(rtt_ms),
        ..SimConfig::default()
    })
}

fn engine(sim: &Simulator, in_flight: usize) -> TestEngine {
    let engine = TestEngine::start(
        router_configs(sim),
        FleetSettings {
            command_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_secs(60),
            bulk_in_flight: in_flight,
            ..FleetSettings::default()
        },
    );
    engine.wait_online(1, Duration::from_secs(10));
    engine
}

fn isolated_entries(sim: &Simulator) -> usize {
    sim.routers()[0].with_state(|s| {
        s.address_list_entries()
            .iter()
            .filter(|(list, _)| list == "ISOLATED")
            .count()
    })
}

fn count(sim: &Simulator, path: &str) -> u64 {
    sim.routers()[0].with_state(|s| s.command_count(path))
}

fn results(answer: &crate::support::engine::Answer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn one_routers_items_are_pipelined_and_each_applied_once() {
    let _watchdog = Watchdog::new("bulk_pipelined", Duration::from_secs(120));
    let sim = linked(50, 120);
    let engine = engine(&sim, 32);
    let online: Vec<String> = sim.routers()[0]
        .with_state(|s| s.active_names())
        .into_iter()
        .take(64)
        .collect();
    assert!(online.len() >= 40, "enough users online: {}", online.len());
    let before_in_flight = sim.routers()[0].max_in_flight();
    let adds_before = count(&sim, "/ip/firewall/address-list/add");
    let operations: Vec<Value> = online
        .iter()
        .map(|u| json!({"op": "isolate", "user": u, "router_id": 1, "comment": "unpaid"}))
        .collect();
    let answer = engine.post("/api/v1/bulk", &json!({ "operations": operations }));
    let results = results(&answer);
    assert_eq!(answer.body["ok"], online.len(), "{}", answer.text);
    assert!(results.iter().all(|r| r["status"] == "ok"));
    let in_flight = sim.routers()[0].max_in_flight();
    assert!(
        in_flight > 1 && in_flight > before_in_flight,
        "the simulator saw at most {in_flight} commands in flight (before the call {before_in_flight})"
    );
    assert!(
        in_flight <= 32,
        "never more than BULK_IN_FLIGHT: {in_flight}"
    );
    // Exactly one add per isolation, each entry once.
    assert_eq!(
        count(&sim, "/ip/firewall/address-list/add") - adds_before,
        online.len() as u64
    );
    assert_eq!(isolated_entries(&sim), online.len());
    // Again: already isolated, nothing more is sent.
    let again = engine.post("/api/v1/bulk", &json!({ "operations": operations }));
    assert_eq!(again.body["ok"], online.len(), "{}", again.text);
    assert_eq!(
        count(&sim, "/ip/firewall/address-list/add") - adds_before,
        online.len() as u64
    );
}

#[test]
fn a_trap_in_a_wave_fails_only_its_item_and_one_users_items_keep_their_order() {
    let _watchdog = Watchdog::new("bulk_trap", Duration::from_secs(120));
    let sim = linked(20, 40);
    let engine = engine(&sim, 32);
    let router = &sim.routers()[0];
    let online = router.with_state(|s| s.active_names());
    let secrets = router.with_state(|s| s.secret_names());
    let (a, b, c) = (&online[0], &online[1], &secrets[5]);
    let operations = json!([
        {"op": "isolate", "user": a, "router_id": 1},
        {"op": "set_profile", "user": c, "router_id": 1, "profile": "no-such-plan"},
        {"op": "isolate", "user": b, "router_id": 1},
        {"op": "unisolate", "user": a, "router_id": 1},
        {"op": "set_profile", "user": c, "router_id": 1, "profile": "20M"},
        {"op": "isolate", "user": a, "router_id": 1, "comment": "again"},
        {"op": "disable", "user": "nobody-at-all", "router_id": 1},
    ]);
    let answer = engine.post("/api/v1/bulk", &json!({ "operations": operations }));
    let results = results(&answer);
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["ok", "failed", "ok", "ok", "ok", "ok", "failed"],
        "{}",
        answer.text
    );
    // The router's refusal, with the code the single call gives it.
    assert_eq!(results[1]["code"], "invalid_field", "{}", results[1]);
    assert_eq!(results[6]["code"], "user_not_found", "{}", results[6]);
    // a: isolated, un-isolated, isolated again, in that order: one entry at the end.
    assert_eq!(count(&sim, "/ip/firewall/address-list/add"), 3);
    assert_eq!(count(&sim, "/ip/firewall/address-list/remove"), 1);
    assert_eq!(isolated_entries(&sim), 2, "a and b");
    // c ends on the plan of its last item.
    assert_eq!(
        router.with_state(|s| s.secret_property(c, "profile")),
        Some(b"20M".to_vec())
    );
    // Every item is audited once.
    let audit = engine.get("/api/v1/audit?limit=100");
    assert_eq!(audit.total_count.as_deref(), Some("7"), "{}", audit.text);
}

#[test]
fn a_bulk_kick_finds_sessions_the_cache_has_not_seen() {
    let _watchdog = Watchdog::new("bulk_kick", Duration::from_secs(120));
    let sim = linked(0, 40);
    let engine = TestEngine::start(
        router_configs(&sim),
        FleetSettings {
            command_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            // No push and no poll during the test: the cache stays as it was at warm-up.
            poll_interval: Duration::from_secs(600),
            listen_sessions: false,
            ..FleetSettings::default()
        },
    );
    engine.wait_online(1, Duration::from_secs(10));
    let router = &sim.routers()[0];
    let (online, offline) = router.with_state(|s| {
        let online = s.active_names();
        let offline = s
            .secret_names()
            .into_iter()
            .find(|n| !online.contains(n))
            .expect("an offline user");
        (online[0].clone(), offline)
    });
    // One dials in unseen; the other redials (a new session `.id` the cache does not know).
    router.with_state_mut(|s| {
        assert!(s.connect_user(&offline));
        assert!(s.disconnect_user(&online));
        assert!(s.connect_user(&online));
    });
    let removes_before = count(&sim, "/ppp/active/remove");
    let answer = engine.post(
        "/api/v1/bulk",
        &json!({"operations": [
            {"op": "kick", "user": offline, "router_id": 1},
            {"op": "kick", "user": online, "router_id": 1},
        ]}),
    );
    assert_eq!(answer.body["ok"], 2, "{}", answer.text);
    let (still_offline_user, still_online_user) =
        router.with_state(|s| (s.is_online(&offline), s.is_online(&online)));
    assert!(
        !still_offline_user,
        "{offline}'s unseen session was not kicked"
    );
    assert!(!still_online_user, "{online}'s new session was not kicked");
    // One remove for the unseen session, the stale `.id` and the new one for the redial.
    assert_eq!(count(&sim, "/ppp/active/remove") - removes_before, 3);
}
