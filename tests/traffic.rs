//! Smart traffic detection over loopback: one test per source, exact names only, the
//! customer's point of view, remembered sources and offline users.

use crate::support::engine::{fast_settings, router_configs, simulator, TestEngine, Watchdog};
use net_engine::fleet::FleetSettings;
use std::time::Duration;

fn engine(users: usize) -> (net_engine::sim::Simulator, TestEngine) {
    let sim = simulator(1, users);
    // No background polls and no shared window: command counts on the simulator then come
    // from our requests only, one request at a time.
    let settings = FleetSettings {
        poll_interval: Duration::from_secs(600),
        traffic_share_window: Duration::ZERO,
        traffic_streams_max: 0,
        ..fast_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    (sim, engine)
}

#[test]
fn each_source_is_detected_and_reported_as_upload_then_download() {
    let _watchdog = Watchdog::new("sources", Duration::from_secs(60));
    let (sim, engine) = engine(80);
    let router = &sim.routers()[0];
    for (n, source) in ["queue", "pppoe_queue", "target_queue", "monitor_traffic"]
        .into_iter()
        .enumerate()
    {
        let users = router.with_state(|s| s.users_with_traffic_source(source));
        let user = users
            .first()
            .unwrap_or_else(|| panic!("the simulator has a user for {source}"))
            .clone();
        let (upload, download) = (1_000_000 + n as u64 * 1000, 9_000_000 + n as u64 * 1000);
        router.with_state_mut(|s| s.set_user_traffic(&user, Some((upload, download))));
        let answer = engine.get(&format!("/api/v1/router/1/traffic?user={user}"));
        assert_eq!(answer.status, 200, "{source} {user}: {}", answer.text);
        assert_eq!(answer.body["source"], source, "{user}");
        assert_eq!(answer.body["user"], user.as_str());
        assert_eq!(
            answer.body["upload_bps"], upload,
            "{source}: upload is the customer's upload"
        );
        assert_eq!(answer.body["download_bps"], download, "{source}");
        match source {
            "queue" => assert_eq!(answer.body["queue"], user.as_str()),
            "pppoe_queue" => assert_eq!(answer.body["queue"], format!("<pppoe-{user}>")),
            "target_queue" => assert!(answer.body["queue"].is_string()),
            _ => assert!(answer.body["queue"].is_null()),
        }
    }
}

#[test]
fn ali_never_matches_alice() {
    let _watchdog = Watchdog::new("ali_alice", Duration::from_secs(60));
    let (sim, engine) = engine(30);
    let router = &sim.routers()[0];
    router.with_state_mut(|s| {
        s.connect_user("ali");
        s.connect_user("alice");
        s.set_user_traffic("ali", Some((111_000, 222_000)));
        s.set_user_traffic("alice", Some((333_000, 444_000)));
    });
    let ali = engine.get("/api/v1/router/1/traffic?user=ali");
    assert_eq!(ali.status, 200, "{}", ali.text);
    assert_eq!(ali.body["upload_bps"], 111_000);
    assert_eq!(ali.body["download_bps"], 222_000);
    assert_eq!(
        ali.body["source"],
        router
            .with_state(|s| s.expected_traffic_source("ali"))
            .unwrap()
    );
    assert!(!ali.body["queue"]
        .as_str()
        .unwrap_or_default()
        .contains("alice"));
    let alice = engine.get("/api/v1/router/1/traffic?user=alice");
    assert_eq!(alice.body["upload_bps"], 333_000);
    // A prefix of a real user is not a user.
    let al = engine.get("/api/v1/router/1/traffic?user=al");
    assert_eq!(
        (al.status, al.body["code"].as_str()),
        (404, Some("user_not_found"))
    );
    // And ali offline is offline, even though alice is online.
    router.with_state_mut(|s| s.disconnect_user("ali"));
    let offline = engine.get("/api/v1/router/1/traffic?user=ali");
    assert_eq!(
        (offline.status, offline.body["code"].as_str()),
        (404, Some("user_offline"))
    );
}

#[test]
fn the_working_source_is_remembered() {
    let _watchdog = Watchdog::new("remembered", Duration::from_secs(60));
    let (sim, engine) = engine(80);
    let router = &sim.routers()[0];
    let user = router.with_state(|s| s.users_with_traffic_source("monitor_traffic"))[0].clone();
    let before = router.with_state(|s| s.commands_received());
    assert_eq!(
        engine
            .get(&format!("/api/v1/router/1/traffic?user={user}"))
            .status,
        200
    );
    let first = router.with_state(|s| s.commands_received()) - before;
    let before = router.with_state(|s| s.commands_received());
    assert_eq!(
        engine
            .get(&format!("/api/v1/router/1/traffic?user={user}"))
            .status,
        200
    );
    let second = router.with_state(|s| s.commands_received()) - before;
    // First: session lookup + three queue lookups + monitor; then the monitor alone (the
    // address of a user the last poll saw online comes from the cache).
    assert_eq!(first, 5, "first detection");
    assert_eq!(second, 1, "remembered source, one round trip");
}
