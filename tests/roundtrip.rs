//! Live calls in one round trip and shared answers (issue 13): a remembered source read at
//! the cached address, the live fallback when that cache is wrong, kick by cached `.id`, and
//! answers shared per router and user — never across, failures included.

use crate::support::engine::{fast_settings, router_configs, simulator, TestEngine, Watchdog};
use net_engine::fleet::{FleetError, FleetSettings, TrafficReading};
use net_engine::model::RouterId;
use net_engine::router::Client;
use net_engine::routeros::CommandBuilder;
use net_engine::sim::{Fault, SimRouter, Simulator};
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// No background polls (the snapshot is the warm-up's), and the given share window.
fn engine(routers: usize, users: usize, window: Duration) -> (Simulator, TestEngine) {
    let sim = simulator(routers, users);
    let settings = FleetSettings {
        poll_interval: Duration::from_secs(600),
        traffic_share_window: window,
        // One command per call and a cache that changes only by poll: these tests count the
        // round trips of the command path and change the router behind the engine's back.
        traffic_streams_max: 0,
        listen_sessions: false,
        ..fast_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    (sim, engine)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(3)
}

/// A RouterOS client on router `router`: another administrator changing things behind the
/// engine's back.
fn admin(router: &SimRouter) -> Client {
    let addr = router.addr();
    let mut client = Client::connect(&addr.ip().to_string(), addr.port(), Duration::from_secs(2))
        .expect("connects");
    client.login("admin", "", soon()).expect("logs in");
    client
}

fn set_remote_address(client: &mut Client, router: &SimRouter, user: &str, address: &str) {
    let id = router
        .with_state(|s| s.secret_id(user))
        .expect("the user has a secret");
    client
        .run(
            CommandBuilder::new("/ppp/secret/set")
                .attr(".id", &id)
                .attr("remote-address", address),
            soon(),
        )
        .expect("secret set");
}

fn retarget_queue(client: &mut Client, queue: &str, target: &str) {
    let rows = client
        .run(
            CommandBuilder::new("/queue/simple/print").query_eq("name", queue),
            soon(),
        )
        .expect("queue print");
    let id = rows.first().expect("the queue exists").text(".id");
    client
        .run(
            CommandBuilder::new("/queue/simple/set")
                .attr(".id", &id)
                .attr("target", target),
            soon(),
        )
        .expect("queue set");
}

fn commands(router: &SimRouter) -> u64 {
    router.with_state(|s| s.commands_received())
}

#[test]
fn a_remembered_source_costs_one_command_and_a_stale_address_falls_back_live() {
    let _watchdog = Watchdog::new("roundtrip_stale", Duration::from_secs(60));
    let (sim, engine) = engine(1, 80, Duration::ZERO);
    let router = &sim.routers()[0];
    let users = router.with_state(|s| s.users_with_traffic_source("target_queue"));
    let a = users.first().expect("a target-queue user").clone();
    let b = router
        .with_state(|s| s.users_with_traffic_source("monitor_traffic"))
        .first()
        .expect("a monitor-traffic user")
        .clone();
    router.with_state_mut(|s| {
        s.set_user_traffic(&a, Some((1_111_000, 2_222_000)));
        s.set_user_traffic(&b, Some((3_333_000, 4_444_000)));
    });
    let path = format!("/api/v1/router/1/traffic?user={a}");
    let first = engine.get(&path);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["source"], "target_queue");
    let queue_a = first.body["queue"]
        .as_str()
        .expect("a queue name")
        .to_owned();

    // Remembered source, address from the last poll: exactly one router command.
    let before = commands(router);
    let second = engine.get(&path);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(commands(router) - before, 1, "one round trip");
    assert_eq!(second.body["upload_bps"], 1_111_000);

    // Behind the engine's back (no poll since): a reconnects at a new address and its queue
    // follows it; b takes a's old address, with a queue of its own targeting it.
    let old = router
        .with_state(|s| s.session_address(&a))
        .unwrap()
        .to_string();
    let mut client = admin(router);
    set_remote_address(&mut client, router, &a, "10.250.0.9");
    set_remote_address(&mut client, router, &b, &old);
    router.with_state_mut(|s| {
        assert!(s.disconnect_user(&a) && s.disconnect_user(&b));
        assert!(s.connect_user(&a) && s.connect_user(&b));
        s.add_static_queue("queue-of-b", &format!("{old}/32"), 0, 0);
    });
    retarget_queue(&mut client, &queue_a, "10.250.0.9/32");
    assert_eq!(
        engine
            .fleet
            .get(RouterId(1))
            .unwrap()
            .snapshot()
            .sessions
            .iter()
            .find(|s| s.name == a)
            .map(|s| s.address.to_string()),
        Some(old.clone()),
        "the engine's cache is stale"
    );

    // The cached address now finds b's queue: not trusted, a is looked up live.
    let before = commands(router);
    let moved = engine.get(&path);
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["user"], a.as_str());
    assert_eq!(
        moved.body["queue"],
        queue_a.as_str(),
        "a's own queue, not b's"
    );
    assert_eq!(moved.body["upload_bps"], 1_111_000);
    assert_eq!(moved.body["download_bps"], 2_222_000);
    // The cached try, the live lookup, the remembered source at the live address.
    assert_eq!(commands(router) - before, 3);

    // b's session ended and came back: its cached `.id` is gone, kick falls back live.
    let kicked = engine.post("/api/v1/kick", &json!({"router_id": 1, "user": b}));
    assert_eq!(kicked.status, 200, "{}", kicked.text);
    assert_eq!(kicked.body["kicked"], 1);
    assert!(!router.with_state(|s| s.is_online(&b)));

    // A session that ended (and nothing else answers at the cached address): offline.
    router.with_state_mut(|s| s.disconnect_user(&a));
    retarget_queue(&mut client, &queue_a, &format!("{old}/32"));
    let gone = engine.get(&path);
    assert_eq!(
        (gone.status, gone.body["code"].as_str()),
        (404, Some("user_offline")),
        "{}",
        gone.text
    );
}

#[test]
fn kick_by_the_cached_session_id_is_one_command() {
    let _watchdog = Watchdog::new("roundtrip_kick", Duration::from_secs(60));
    let (sim, engine) = engine(1, 40, Duration::ZERO);
    let router = &sim.routers()[0];
    let user = router.with_state(|s| s.active_names())[0].clone();
    let before = commands(router);
    let kicked = engine.post("/api/v1/kick", &json!({"router_id": 1, "user": user}));
    assert_eq!(kicked.status, 200, "{}", kicked.text);
    assert_eq!(kicked.body["kicked"], 1);
    assert!(!router.with_state(|s| s.is_online(&user)));
    // The remove by `.id`, then the lists re-read (sessions, secrets, isolation list):
    // no live lookup of the user first.
    assert_eq!(commands(router) - before, 4);
}

/// Every `(router, user)` call at once (one thread each, after a barrier).
fn burst(
    engine: &TestEngine,
    calls: &[(u64, String)],
) -> Vec<(u64, String, Result<TrafficReading, FleetError>)> {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let threads: Vec<_> = calls
        .iter()
        .cloned()
        .map(|(router, user)| {
            let handle = engine.fleet.get(RouterId(router)).expect("router exists");
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let result = handle.traffic(&user);
                (router, user, result)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("caller thread"))
        .collect()
}

#[test]
fn a_shared_answer_never_reaches_another_user_or_router() {
    let _watchdog = Watchdog::new("roundtrip_shared", Duration::from_secs(60));
    let (sim, engine) = engine(2, 40, Duration::from_millis(250));
    let (r1, r2) = (&sim.routers()[0], &sim.routers()[1]);
    let names1 = r1.with_state(|s| s.active_names());
    let names2 = r2.with_state(|s| s.active_names());
    let (a, b) = (names1[0].clone(), names1[1].clone());
    let c = names2
        .iter()
        .find(|n| **n != a && **n != b)
        .expect("another user on router 2")
        .clone();
    r1.with_state_mut(|s| {
        s.set_user_traffic(&a, Some((101_000, 201_000)));
        s.set_user_traffic(&b, Some((102_000, 202_000)));
    });
    r2.with_state_mut(|s| s.set_user_traffic(&c, Some((103_000, 203_000))));
    // The same name on router 2, with other numbers, when router 2 has it online.
    let a_on_2 = r2.with_state(|s| s.is_online(&a));
    if a_on_2 {
        r2.with_state_mut(|s| s.set_user_traffic(&a, Some((104_000, 204_000))));
    }
    // Detect every source first, then wait out the window.
    for (router, user) in [(1, &a), (1, &b), (2, &c)] {
        let handle = engine.fleet.get(RouterId(router)).unwrap();
        handle.traffic(user).expect("detected");
    }
    if a_on_2 {
        engine
            .fleet
            .get(RouterId(2))
            .unwrap()
            .traffic(&a)
            .expect("detected");
    }
    std::thread::sleep(Duration::from_millis(300));
    r1.set_latency(Duration::from_millis(100));
    r2.set_latency(Duration::from_millis(100));
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push((1, a.clone()));
        calls.push((1, b.clone()));
        calls.push((2, c.clone()));
        if a_on_2 {
            calls.push((2, a.clone()));
        }
    }
    let (before1, before2) = (commands(r1), commands(r2));
    let answers = burst(&engine, &calls);
    for (router, user, result) in &answers {
        let reading = result.as_ref().expect("answered");
        assert_eq!(&reading.user, user, "router {router}");
        let expected = match (router, user) {
            (1, u) if u == &a => (101_000, 201_000),
            (1, u) if u == &b => (102_000, 202_000),
            (2, u) if u == &c => (103_000, 203_000),
            (2, u) if u == &a => (104_000, 204_000),
            other => panic!("unexpected call {other:?}"),
        };
        assert_eq!(
            (reading.upload_bps, reading.download_bps),
            expected,
            "router {router} user {user}"
        );
    }
    // One command per router and user, however many asked.
    assert_eq!(commands(r1) - before1, 2, "router 1: a and b");
    assert_eq!(
        commands(r2) - before2,
        if a_on_2 { 2 } else { 1 },
        "router 2"
    );
    // Within the window the kept answer is the same reading (sampled_at included).
    let handle = engine.fleet.get(RouterId(1)).unwrap();
    let kept = handle.traffic(&a).expect("kept");
    let first = answers
        .iter()
        .find(|(r, u, _)| *r == 1 && u == &a)
        .and_then(|(_, _, r)| r.as_ref().ok())
        .unwrap();
    assert_eq!(kept.sampled_at, first.sampled_at);
    assert_eq!(kept.source, first.source);
}

#[test]
fn a_failed_shared_command_fails_every_waiter_with_the_same_error() {
    let _watchdog = Watchdog::new("roundtrip_failure", Duration::from_secs(60));
    let (sim, engine) = engine(1, 40, Duration::from_millis(250));
    let router = &sim.routers()[0];
    router.set_latency(Duration::from_millis(150));

    // The router answers, the answer is an error: one lookup, everyone gets it.
    let calls: Vec<(u64, String)> = (0..8).map(|_| (1, "nobody-here".to_owned())).collect();
    let before = commands(router);
    let answers = burst(&engine, &calls);
    assert_eq!(commands(router) - before, 1, "one lookup for all");
    for (_, _, result) in &answers {
        assert_eq!(result, &Err(FleetError::UserNotFound("nobody-here".into())));
    }
    // A failure is not kept: the next call asks again.
    let before = commands(router);
    let again = engine
        .fleet
        .get(RouterId(1))
        .unwrap()
        .traffic("nobody-here");
    assert_eq!(again, Err(FleetError::UserNotFound("nobody-here".into())));
    assert_eq!(commands(router) - before, 1);

    // The router stops answering: every waiter gets the same timeout.
    let user = router.with_state(|s| s.active_names())[0].clone();
    router.set_fault(Some(Fault::Silent));
    let calls: Vec<(u64, String)> = (0..8).map(|_| (1, user.clone())).collect();
    let answers = burst(&engine, &calls);
    for (_, _, result) in &answers {
        assert_eq!(result, &Err(FleetError::Timeout));
    }
    router.set_fault(None);
}

#[test]
fn isolate_by_user_from_the_cached_address_is_one_command_and_a_stale_cache_falls_back_live() {
    let _watchdog = Watchdog::new("roundtrip_isolate", Duration::from_secs(60));
    let sim = simulator(1, 40);
    let settings = FleetSettings {
        poll_interval: Duration::from_secs(600),
        traffic_streams_max: 0,
        // The listen keeps the cached address current: the condition for the cached path.
        listen_sessions: true,
        ..fast_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    let router = &sim.routers()[0];
    let user = router.with_state(|s| s.active_names())[0].clone();
    let address = router
        .with_state(|s| s.session_address(&user))
        .expect("online")
        .to_string();
    let count = |path: &str| router.with_state(|s| s.command_count(path));
    let all = || commands(router);
    let before = all();
    let added = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "add", "user": user}),
    );
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["address"], address);
    assert_eq!(added.body["changed"], true);
    // The add, then the lists re-read (sessions, secrets, isolation list): no live read of
    // the isolation list or the user's session first.
    assert_eq!(
        all() - before,
        4,
        "{:?}",
        router.with_state(|s| s.command_counts())
    );
    assert_eq!(count("/ip/firewall/address-list/add"), 1);

    // Removed behind the engine's back: the cached remove meets `no such item` and the live
    // path answers truthfully.
    let mut direct = admin(router);
    let rows = direct
        .run(
            CommandBuilder::new("/ip/firewall/address-list/print").query_eq("address", &address),
            soon(),
        )
        .expect("list print");
    let id = rows
        .first()
        .expect("the entry is on the router")
        .text(".id");
    direct
        .run(
            CommandBuilder::new("/ip/firewall/address-list/remove").attr(".id", &id),
            soon(),
        )
        .expect("removed directly");
    let prints = count("/ip/firewall/address-list/print");
    let restored = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "remove", "user": user}),
    );
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["changed"], false);
    assert!(
        count("/ip/firewall/address-list/print") > prints,
        "fell back live"
    );
}
