//! The engine's production wiring over loopback: webhook events from real router and
//! session changes, a hung receiver that slows nothing, and `/metrics` that moves.

use crate::support::engine::{
    eventually, fast_settings, router_configs, simulator, TestEngine, Watchdog, KEY,
};
use crate::support::ops::{webhook_config, SilentListener, WebhookReceiver};
use crate::support::prometheus::parse_exposition;
use net_engine::webhook::{self, WebhookConfig};
use std::time::{Duration, Instant};

#[test]
fn session_events_follow_the_simulator_and_none_fire_at_start_up() {
    let _watchdog = Watchdog::new("session_events", Duration::from_secs(60));
    let receiver = WebhookReceiver::start(|_| 200);
    let sim = simulator(2, 20);
    let engine = TestEngine::start_observed(
        router_configs(&sim),
        fast_settings(),
        Some(webhook_config(&receiver.url)),
    );
    let mut events = Vec::new();
    while let Some(request) = receiver.recv(Duration::from_millis(2500)) {
        let body = request.json();
        assert_eq!(
            request.header("Signature"),
            Some(webhook::sign(b"hook-secret", &request.body).as_str())
        );
        assert_eq!(request.header("X-NetEngine-Event"), body["event"].as_str());
        assert_eq!(request.header("X-NetEngine-Delivery"), body["id"].as_str());
        events.push(body);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["router.up", "router.up"],
        "only router.up at start-up, no session storm"
    );

    let router = &sim.routers()[0];
    let online = router.with_state(|s| s.active_names())[0].clone();
    let offline = router
        .with_state(|s| {
            s.secret_names().into_iter().find(|n| {
                !s.is_online(n) && s.secret_property(n, "disabled") != Some(b"true".to_vec())
            })
        })
        .expect("an offline user");
    router.with_state_mut(|s| {
        assert!(s.disconnect_user(&online));
        assert!(s.connect_user(&offline));
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < 2 && Instant::now() < deadline {
        if let Some(request) = receiver.recv(Duration::from_millis(200)) {
            seen.push(request.json());
        }
    }
    let mut pairs: Vec<(String, String)> = seen
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["data"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("session.down".to_owned(), online.clone()),
            ("session.up".to_owned(), offline.clone())
        ]
    );
    assert!(seen
        .iter()
        .all(|e| e["router_id"] == 1 && e["host"] == "127.0.0.1"));
    // Nothing else: each change fires once.
    assert!(receiver.recv(Duration::from_millis(1500)).is_none());
    drop(engine);
}

#[test]
fn a_hung_receiver_slows_neither_polls_nor_the_api() {
    let _watchdog = Watchdog::new("hung_receiver", Duration::from_secs(60));
    let hung = SilentListener::start();
    let config = WebhookConfig {
        queue_capacity: 4,
        request_timeout: Duration::from_secs(2),
        ..webhook_config(&hung.url)
    };
    let sim = simulator(1, 40);
    let engine = TestEngine::start_observed(router_configs(&sim), fast_settings(), Some(config));
    let router = &sim.routers()[0];
    // Many session changes: far more events than the queue holds.
    let names = router.with_state(|s| s.active_names());
    router.with_state_mut(|s| {
        names.iter().for_each(|n| {
            s.disconnect_user(n);
        })
    });
    let handle = engine.fleet.get(net_engine::model::RouterId(1)).unwrap();
    let first_poll = handle.snapshot().last_poll_at;
    eventually("polls continue", Duration::from_secs(5), || {
        handle.snapshot().last_poll_at != first_poll
    });
    eventually("drops are counted", Duration::from_secs(5), || {
        engine
            .webhook_stats()
            .is_some_and(|stats| stats.dropped > 0)
    });
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(engine.get("/api/v1/router/1/health?live=1").status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "API slowed to {:?}",
            started.elapsed()
        );
    }
    let metrics = engine.get("/metrics").text;
    let samples = parse_exposition(&metrics).expect("metrics parse");
    let dropped = samples
        .iter()
        .find(|s| s.name == "netengine_webhook_dropped_total")
        .unwrap();
    assert!(dropped.value > 0.0);
}

#[test]
fn metrics_parse_and_move_when_a_router_goes_down_and_up() {
    let _watchdog = Watchdog::new("metrics", Duration::from_secs(60));
    let sim = simulator(2, 10);
    let engine = TestEngine::start_observed(router_configs(&sim), fast_settings(), None);
    let up = |engine: &TestEngine, id: &str| -> f64 {
        let text = engine.get("/metrics").text;
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        samples
            .iter()
            .find(|s| s.name == "netengine_router_up" && s.label("router_id") == Some(id))
            .map(|s| s.value)
            .unwrap()
    };
    assert_eq!(engine.call("GET", "/metrics", None, None).status, 401);
    let bearer = ureq::get(&format!("{}/metrics", engine.base))
        .set("Authorization", &format!("Bearer {KEY}"))
        .call()
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(up(&engine, "1"), 1.0);
    assert_eq!(engine.get("/api/v1/router/1/health?live=1").status, 200);
    let text = engine.get("/metrics").text;
    for name in [
        "netengine_build_info",
        "netengine_router_reconnects_total",
        "netengine_command_duration_seconds_bucket",
        "netengine_router_queue_depth",
        "netengine_router_active_sessions",
        "netengine_http_requests_total",
        "netengine_webhook_deliveries_total",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.contains("route=\"/api/v1/router/:id/health\""),
        "routes are patterns, not raw paths"
    );
    sim.routers()[0].stop();
    eventually("router 1 reported down", Duration::from_secs(10), || {
        up(&engine, "1") == 0.0
    });
    assert_eq!(up(&engine, "2"), 1.0);
    sim.routers()[0].restart().unwrap();
    eventually(
        "router 1 reported up again",
        Duration::from_secs(10),
        || up(&engine, "1") == 1.0,
    );
    let text = engine.get("/metrics").text;
    let samples = parse_exposition(&text).unwrap();
    let reconnects = samples
        .iter()
        .find(|s| {
            s.name == "netengine_router_reconnects_total" && s.label("router_id") == Some("1")
        })
        .unwrap();
    assert!(reconnects.value >= 1.0);
}
