//! The engine against misbehaving routers: offline, silent, hanging, dropping, overloaded,
//! and a slow fleet member during warm-up.

use crate::support::engine::{
    eventually, fast_settings, router_config, router_configs, simulator, simulator_with_fault,
    TestEngine, Watchdog,
};
use net_engine::fleet::{FleetSettings, NoObserver};
use net_engine::model::RouterId;
use net_engine::sim::Fault;
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

#[test]
fn an_offline_router_answers_503_at_once() {
    let _watchdog = Watchdog::new("offline", Duration::from_secs(30));
    let sim = simulator(1, 5);
    let mut routers = router_configs(&sim);
    routers.push(router_config(2, closed_port()));
    let engine = TestEngine::start(routers, fast_settings());
    for path in [
        "/api/v1/router/2/health?live=1",
        "/api/v1/router/2/traffic?user=alice",
        "/api/v1/router/2/profiles",
    ] {
        let started = Instant::now();
        let answer = engine.get(path);
        let elapsed = started.elapsed();
        assert_eq!(answer.status, 503, "{path}: {}", answer.text);
        assert_eq!(answer.body["code"], "router_offline");
        assert!(answer.retry_after.is_some());
        assert!(
            elapsed < Duration::from_millis(500),
            "{path} took {elapsed:?}"
        );
    }
    let mutation = engine.post("/api/v1/kick", &json!({"router_id": 2, "user": "alice"}));
    assert_eq!(mutation.status, 503);
    let routers = engine.get("/api/v1/routers");
    let second = &routers.body[1];
    assert_eq!(second["state"], "offline");
    assert!(
        second["last_error"].as_str().unwrap().contains("connect"),
        "{second}"
    );
    assert_eq!(routers.body[0]["state"], "online");
    assert_eq!(engine.get("/api/v1/router/1/health?live=1").status, 200);
}

#[test]
fn silent_and_hanging_routers_give_504_then_recover_with_fresh_replies() {
    let _watchdog = Watchdog::new("silent_hang", Duration::from_secs(60));
    let sim = simulator(1, 20);
    let router = &sim.routers()[0];
    let engine = TestEngine::start(router_configs(&sim), fast_settings());
    let handle = engine.fleet.get(RouterId(1)).unwrap();
    for fault in [Fault::Silent, Fault::HangAfter(0)] {
        engine.wait_online(1, Duration::from_secs(10));
        let reconnects = handle.snapshot().reconnects;
        router.set_fault(Some(fault));
        let started = Instant::now();
        let answer = engine.get("/api/v1/router/1/health?live=1");
        let elapsed = started.elapsed();
        assert_eq!(answer.status, 504, "{fault:?}: {}", answer.text);
        assert_eq!(answer.body["code"], "router_timeout");
        assert!(
            elapsed < Duration::from_secs(2),
            "{fault:?}: {elapsed:?} > timeout + 1 s"
        );
        router.set_fault(None);
        // The timed-out session is recycled (the router thread may notice only after the
        // caller got its 504): wait for the new session, not the old one's last snapshot.
        eventually("a fresh session", Duration::from_secs(10), || {
            let snapshot = handle.snapshot();
            snapshot.reconnects > reconnects
                && snapshot.state == net_engine::fleet::RouterState::Online
        });
        // The next command gets its own reply: profiles, not a late resource row.
        let profiles = engine.get("/api/v1/router/1/profiles");
        assert_eq!(profiles.status, 200, "{}", profiles.text);
        assert!(profiles.body["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"].is_string()));
        let health = engine.get("/api/v1/router/1/health?live=1");
        assert_eq!(health.status, 200);
        assert!(health.body["memory_total"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_dropped_connection_is_502_or_503_and_the_thread_reconnects() {
    let _watchdog = Watchdog::new("drop", Duration::from_secs(60));
    let sim = simulator(1, 10);
    let router = &sim.routers()[0];
    let engine = TestEngine::start(router_configs(&sim), fast_settings());
    engine.wait_online(1, Duration::from_secs(10));
    let reconnects_before = engine.fleet.get(RouterId(1)).unwrap().snapshot().reconnects;
    router.set_fault(Some(Fault::DropAfter(0)));
    let answer = engine.get("/api/v1/router/1/health?live=1");
    assert!(
        answer.status == 502 || answer.status == 503,
        "{}",
        answer.text
    );
    router.set_fault(None);
    eventually("router reconnects", Duration::from_secs(10), || {
        let snapshot = engine.fleet.get(RouterId(1)).unwrap().snapshot();
        snapshot.state == net_engine::fleet::RouterState::Online
            && snapshot.reconnects > reconnects_before
    });
    assert_eq!(engine.get("/api/v1/router/1/health?live=1").status, 200);
}

#[test]
fn a_full_queue_is_503_at_once_and_other_routers_keep_answering() {
    let _watchdog = Watchdog::new("queue_full", Duration::from_secs(60));
    let sim = simulator(2, 10);
    let settings = FleetSettings {
        queue_capacity: 2,
        command_timeout: Duration::from_secs(4),
        ..fast_settings()
    };
    let engine = Arc::new(TestEngine::start_with(
        router_configs(&sim),
        FleetSettings {
            poll_interval: Duration::from_secs(60),
            ..settings
        },
        Arc::new(NoObserver),
        12,
        Duration::from_secs(5),
    ));
    sim.routers()[0].set_latency(Duration::from_millis(600));
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let started = Instant::now();
                let answer = engine.get("/api/v1/router/1/health?live=1");
                (
                    answer.status,
                    answer.body["code"].as_str().map(str::to_owned),
                    answer.retry_after,
                    started.elapsed(),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let other = engine.get("/api/v1/router/2/health?live=1");
    assert_eq!(other.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "router 2 waited {:?}",
        started.elapsed()
    );
    let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    let busy: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert!(!busy.is_empty(), "{results:?}");
    for (_, code, retry_after, elapsed) in &busy {
        assert_eq!(code.as_deref(), Some("queue_full"));
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert!(
            *elapsed < Duration::from_millis(300),
            "a busy answer took {elapsed:?}"
        );
    }
    assert!(
        results
            .iter()
            .all(|r| r.0 == 200 || r.0 == 503 || r.0 == 504),
        "{results:?}"
    );
    assert!(results.iter().any(|r| r.0 == 200), "{results:?}");
}

#[test]
fn a_read_queued_past_its_time_is_refused_and_a_slow_router_is_not_taken_for_lost() {
    let _watchdog = Watchdog::new("queued_too_long", Duration::from_secs(60));
    let sim = simulator(1, 10);
    let engine = Arc::new(TestEngine::start(
        router_configs(&sim),
        FleetSettings {
            poll_interval: Duration::from_secs(60),
            command_timeout: Duration::from_secs(1),
            ..fast_settings()
        },
    ));
    engine.wait_online(1, Duration::from_secs(10));
    let reconnects = engine.fleet.snapshots()[0].reconnects;
    // 300 ms a command, 1 s a caller: nothing was measured yet, so all eight are let in,
    // and only the first three can be answered in time.
    sim.routers()[0].set_latency(Duration::from_millis(300));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let answer = engine.get("/api/v1/router/1/health?live=1");
                (
                    answer.status,
                    answer.body["code"].as_str().map(str::to_owned),
                )
            })
        })
        .collect();
    let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(results.iter().any(|r| r.0 == 200), "{results:?}");
    assert!(
        results
            .iter()
            .any(|r| r.0 == 503 && r.1.as_deref() == Some("queue_full")),
        "the late ones are refused: {results:?}"
    );
    // Before, a late caller's command was sent with what its caller had left, timed out,
    // and the connection of a router that answers every 300 ms was recycled (502/504 for
    // all queued behind it).
    assert!(
        results.iter().all(|r| r.0 == 200 || r.0 == 503),
        "{results:?}"
    );
    let snapshot = &engine.fleet.snapshots()[0];
    assert!(!snapshot.unavailable, "{:?}", snapshot.last_error);
    assert_eq!(snapshot.reconnects, reconnects, "the session was kept");
    // The refusals sent nothing to the router, so they say nothing of its speed: the
    // estimate stays near the 300 ms the answered calls took (counted, each refusal's
    // ~0 ms would have pulled it down and let the next callers in to time out).
    let per_call = engine.fleet.get(RouterId(1)).unwrap().load().per_command();
    assert!(per_call >= Duration::from_millis(200), "{per_call:?}");
}

#[test]
fn a_mutation_whose_caller_got_504_is_never_applied() {
    let _watchdog = Watchdog::new("stale_mutation", Duration::from_secs(60));
    let sim = simulator(1, 10);
    let router = &sim.routers()[0];
    let engine = Arc::new(TestEngine::start(
        router_configs(&sim),
        FleetSettings {
            poll_interval: Duration::from_secs(60),
            ..fast_settings()
        },
    ));
    engine.wait_online(1, Duration::from_secs(10));
    router.set_latency(Duration::from_millis(1500));
    // A slow read occupies the router thread...
    let slow = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || engine.get("/api/v1/router/1/health?live=1").status)
    };
    std::thread::sleep(Duration::from_millis(100));
    // ...so this mutation waits in the queue past its deadline.
    let answer = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "too-late", "password": "pw"}),
    );
    assert_eq!(answer.status, 504, "{}", answer.text);
    assert!(answer.body["error"]
        .as_str()
        .unwrap()
        .contains("outcome is unknown"));
    assert_eq!(slow.join().unwrap(), 504);
    router.set_latency(Duration::ZERO);
    engine.wait_online(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !router.with_state(|s| s.has_secret("too-late")),
        "a timed-out mutation reached the router"
    );
    let recent = router.with_state(|s| s.recent_commands());
    assert!(
        !recent.iter().any(|c| c.first() == b"/ppp/secret/add"),
        "the add was sent: {recent:?}"
    );
}

#[test]
fn warm_up_is_bounded_by_a_silent_router_and_healthy_data_is_there() {
    let _watchdog = Watchdog::new("warmup", Duration::from_secs(60));
    let sim = simulator_with_fault(3, 20, 0, Fault::Silent);
    let settings = FleetSettings {
        connect_timeout: Duration::from_secs(8),
        ..fast_settings()
    };
    let started = Instant::now();
    let engine = TestEngine::start_with(
        router_configs(&sim),
        settings,
        Arc::new(NoObserver),
        4,
        Duration::from_secs(1),
    );
    let serving_after = started.elapsed();
    assert!(
        serving_after < Duration::from_millis(2500),
        "serving started after {serving_after:?}"
    );
    let routers = engine.get("/api/v1/routers");
    let states: Vec<&str> = routers
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states[1..], ["online", "online"], "{states:?}");
    assert_ne!(states[0], "online");
    for id in [2, 3] {
        let users = engine.get(&format!("/api/v1/router/{id}/users"));
        assert_eq!(users.body.as_array().map(Vec::len), Some(20));
    }
    assert!(!engine
        .get("/api/v1/monitoring/targets")
        .body
        .as_array()
        .unwrap()
        .is_empty());
}
