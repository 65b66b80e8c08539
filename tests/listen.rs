//! Push, not poll (issue 14) over loopback: sessions by `listen` within a second with the
//! poll at 60 s, isolation that follows a redialling customer (and an engine restart), live
//! traffic from a stream that stops when nobody asks, routers online within 2 s of coming
//! back, a growing backoff only for a refused login, and streams interleaved with commands.

use crate::support::engine::{
    eventually, fast_settings, router_configs, simulator, simulator_with, TestEngine, Watchdog,
};
use crate::support::ops::{webhook_config, WebhookReceiver};
use net_engine::fleet::FleetSettings;
use net_engine::model::RouterId;
use net_engine::router::{Client, StreamEvent};
use net_engine::routeros::CommandBuilder;
use net_engine::sim::SimConfig;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The poll as a safety net only (`POLL_INTERVAL_S=60`).
fn listen_settings() -> FleetSettings {
    FleetSettings {
        poll_interval: Duration::from_secs(60),
        ..fast_settings()
    }
}

fn next_event(receiver: &WebhookReceiver, within: Duration) -> Option<Value> {
    receiver.recv(within).map(|r| r.json())
}

#[test]
fn sessions_arrive_by_listen_within_a_second_and_the_poll_repeats_nothing() {
    let _watchdog = Watchdog::new("listen_sessions", Duration::from_secs(60));
    let receiver = WebhookReceiver::start(|_| 200);
    let sim = simulator(1, 20);
    let engine = TestEngine::start_observed(
        router_configs(&sim),
        listen_settings(),
        Some(webhook_config(&receiver.url)),
    );
    let up = next_event(&receiver, Duration::from_secs(5)).expect("router.up");
    assert_eq!(up["event"], "router.up");
    let router = &sim.routers()[0];
    eventually("the listen runs", Duration::from_secs(2), || {
        router.listen_count() >= 1
    });
    let handle = engine.fleet.get(RouterId(1)).unwrap();
    let online = router.with_state(|s| s.active_names())[0].clone();
    let offline = router
        .with_state(|s| {
            s.secret_names().into_iter().find(|n| {
                !s.is_online(n) && s.secret_property(n, "disabled") != Some(b"true".to_vec())
            })
        })
        .expect("an offline user");

    // Removed on the simulator directly, not through the engine.
    let started = Instant::now();
    router.with_state_mut(|s| assert!(s.disconnect_user(&online)));
    let down = next_event(&receiver, Duration::from_secs(1)).expect("session.down within 1 s");
    let down_after = started.elapsed();
    assert_eq!(down["event"], "session.down");
    assert_eq!(down["data"]["name"], online.as_str());
    assert!(down_after < Duration::from_secs(1), "{down_after:?}");
    eventually(
        "cached list without the session",
        Duration::from_millis(200),
        || !handle.snapshot().sessions.iter().any(|s| s.name == online),
    );
    let users = engine.get("/api/v1/router/1/users");
    assert_eq!(users.status, 200);

    let started = Instant::now();
    router.with_state_mut(|s| assert!(s.connect_user(&offline)));
    let up = next_event(&receiver, Duration::from_secs(1)).expect("session.up within 1 s");
    let up_after = started.elapsed();
    assert_eq!(up["event"], "session.up");
    assert_eq!(up["data"]["name"], offline.as_str());
    assert!(up_after < Duration::from_secs(1), "{up_after:?}");
    assert!(handle.snapshot().sessions.iter().any(|s| s.name == offline));

    // The safety-net poll (a sync runs the same poll) agrees: no second event.
    let sync = engine.post("/api/v1/sync/1", &json!({}));
    assert!(sync.status < 300, "{}", sync.text);
    assert!(
        next_event(&receiver, Duration::from_millis(1500)).is_none(),
        "the poll repeated an event"
    );
    eprintln!("listen: session.down after {down_after:?}, session.up after {up_after:?}");
}

/// Entries of the isolation list, read on a side connection: (address, comment, disabled).
fn isolation_entries(addr: std::net::SocketAddr) -> Vec<(String, String, bool)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut client = Client::connect("127.0.0.1", addr.port(), Duration::from_secs(2)).unwrap();
    client.login("admin", "", deadline).unwrap();
    client
        .address_list_entries("ISOLATED", deadline)
        .unwrap()
        .into_iter()
        .map(|e| (e.address.into(), e.comment.into(), e.disabled))
        .collect()
}

fn user_row(engine: &TestEngine, user: &str) -> Value {
    let users = engine.get(&format!("/api/v1/router/1/users?q={user}&per_page=1000"));
    users
        .body
        .as_array()
        .and_then(|rows| rows.iter().find(|u| u["username"] == user).cloned())
        .unwrap_or_else(|| panic!("{user} not listed: {}", users.text))
}

#[test]
fn isolation_follows_a_redial_and_an_engine_restart_and_remove_leaves_nothing() {
    let _watchdog = Watchdog::new("isolation_follows", Duration::from_secs(60));
    let redial = Duration::from_millis(300);
    let sim = simulator_with(SimConfig {
        routers: 1,
        users: 20,
        churn: false,
        seed: 7,
        redial,
        ..SimConfig::default()
    });
    let router = &sim.routers()[0];
    let addr = router.addr();
    let user = router
        .with_state(|s| {
            s.active_names().into_iter().find(|n| {
                s.secret_property(n, "remote-address")
                    .is_none_or(|v| v.is_empty())
            })
        })
        .expect("an online user with a pool address");
    let old = router
        .with_state(|s| s.session_address(&user))
        .unwrap()
        .to_string();
    let mut engine = TestEngine::start(router_configs(&sim), listen_settings());
    let added = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "add", "user": user, "comment": "unpaid"}),
    );
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["address"], old.as_str());
    let tag = format!("net-engine:user={user}; unpaid");
    assert_eq!(
        isolation_entries(addr),
        vec![(old.clone(), tag.clone(), false)]
    );
    assert_eq!(user_row(&engine, &user)["isolated"], true);

    // Kicked on the simulator directly: the customer redials with a new address.
    let follow = |from: &str, limit: Duration| -> String {
        router.with_state_mut(|s| assert!(s.kick_user(&user)));
        let started = Instant::now();
        let mut new = None;
        while started.elapsed() < limit {
            if let Some(address) = router.with_state(|s| s.session_address(&user)) {
                let address = address.to_string();
                let entries = isolation_entries(addr);
                if address != from && entries == vec![(address.clone(), tag.clone(), false)] {
                    new = Some(address);
                    break;
                }
                // Never the old address listed (enabled) for whoever gets it next.
                assert!(
                    !entries
                        .iter()
                        .any(|(a, _, disabled)| a == from && !disabled)
                        || router
                            .with_state(|s| s.session_address(&user))
                            .map(|a| a.to_string())
                            == Some(from.to_owned()),
                    "old address still listed: {entries:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        new.unwrap_or_else(|| panic!("entry did not follow: {:?}", isolation_entries(addr)))
    };
    let second = follow(&old, redial + Duration::from_secs(1));
    assert_ne!(second, old);

    // The engine restarts while the customer redials: the new engine reconciles at start.
    engine.shutdown();
    drop(engine);
    router.with_state_mut(|s| assert!(s.kick_user(&user)));
    eventually("redialled", Duration::from_secs(3), || {
        router
            .with_state(|s| s.session_address(&user))
            .is_some_and(|a| a.to_string() != second)
    });
    let third = router
        .with_state(|s| s.session_address(&user))
        .unwrap()
        .to_string();
    let engine = TestEngine::start(router_configs(&sim), listen_settings());
    eventually("reconciled after a restart", Duration::from_secs(2), || {
        isolation_entries(addr) == vec![(third.clone(), tag.clone(), false)]
    });
    let fourth = follow(&third, redial + Duration::from_secs(1));
    assert_ne!(fourth, third);
    // Offline (kicked, not yet redialled) the user is still isolated by name.
    assert_eq!(user_row(&engine, &user)["isolated"], true);

    let removed = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "remove", "user": user}),
    );
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["changed"], true);
    assert!(isolation_entries(addr).is_empty());
    eventually("not isolated any more", Duration::from_secs(1), || {
        user_row(&engine, &user)["isolated"] == false
    });
}

#[test]
fn a_watched_customer_reads_from_one_stream_that_stops_when_nobody_asks() {
    let _watchdog = Watchdog::new("traffic_stream", Duration::from_secs(60));
    let sim = simulator(1, 40);
    let router = &sim.routers()[0];
    router.set_rtt(Duration::from_millis(20));
    let idle = Duration::from_millis(1500);
    let settings = FleetSettings {
        traffic_share_window: Duration::ZERO,
        traffic_stream_idle: idle,
        ..listen_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    let user = router.with_state(|s| s.active_names())[0].clone();
    router.with_state_mut(|s| s.set_user_traffic(&user, Some((100_000, 200_000))));
    let path = format!("/api/v1/router/1/traffic?user={user}");
    let first = engine.get(&path);
    assert_eq!(first.status, 200, "{}", first.text);
    // The stream's first reading.
    std::thread::sleep(Duration::from_millis(300));
    let monitors = router.with_state(|s| s.command_count("/interface/monitor-traffic"));
    let mut sampled = HashSet::new();
    let mut fastest = Duration::MAX;
    let mut slowest = Duration::ZERO;
    let mut moved = false;
    for k in 0..12 {
        if k == 6 {
            router.with_state_mut(|s| s.set_user_traffic(&user, Some((300_000, 600_000))));
        }
        let started = Instant::now();
        let answer = engine.get(&path);
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "{}", answer.text);
        fastest = fastest.min(took);
        slowest = slowest.max(took);
        sampled.insert(answer.body["sampled_at"].to_string());
        if answer.body.to_string().contains("300000") {
            moved = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        router.with_state(|s| s.command_count("/interface/monitor-traffic")),
        monitors,
        "later calls answer from the stream"
    );
    assert!(sampled.len() >= 2, "sampled_at moves: {sampled:?}");
    assert!(moved, "the stream follows the rates");
    eprintln!("stream answers: fastest {fastest:?}, slowest {slowest:?} (router rtt 20 ms)");
    assert!(
        fastest < Duration::from_millis(10),
        "well under one round trip: {fastest:?}"
    );
    let cancels = router.with_state(|s| s.command_count("/cancel"));
    std::thread::sleep(idle + Duration::from_millis(700));
    assert_eq!(
        router.with_state(|s| s.command_count("/cancel")),
        cancels + 1,
        "the idle stream is cancelled"
    );
}

fn online_within(engine: &TestEngine, id: u64, limit: Duration) -> Duration {
    let handle = engine.fleet.get(RouterId(id)).unwrap();
    let started = Instant::now();
    while started.elapsed() < limit {
        if handle.snapshot().state == net_engine::fleet::snapshot::RouterState::Online {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("router {id} not online within {limit:?}");
}

#[test]
fn a_router_that_comes_back_is_online_within_two_seconds_whatever_the_outage() {
    let _watchdog = Watchdog::new("comes_back", Duration::from_secs(60));
    let sim = simulator(1, 5);
    // Production schedule: unreachable retried every 1 s, login backoff 1 s .. 300 s. The
    // old schedule (1, 2, 4, 8 …) would be 4-8 s late after the 8 s outage.
    let settings = FleetSettings {
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
        unreachable_retry: Duration::from_secs(1),
        ..listen_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    online_within(&engine, 1, Duration::from_secs(5));
    let router = &sim.routers()[0];
    for outage in [Duration::from_secs(3), Duration::from_secs(8)] {
        router.stop();
        let handle = engine.fleet.get(RouterId(1)).unwrap();
        eventually("offline", Duration::from_secs(3), || {
            handle.snapshot().state != net_engine::fleet::snapshot::RouterState::Online
        });
        std::thread::sleep(outage);
        router.restart().unwrap();
        let back = online_within(&engine, 1, Duration::from_secs(2));
        eprintln!("outage {outage:?}: online {back:?} after the router came back");
    }
}

#[test]
fn a_refused_login_is_retried_at_a_growing_interval() {
    let _watchdog = Watchdog::new("login_backoff", Duration::from_secs(30));
    // Accepts TCP and closes at once: the login breaks every time.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let times = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            times.lock().unwrap().push(Instant::now());
            drop(stream);
        }
    });
    let settings = FleetSettings {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        unreachable_retry: Duration::from_millis(50),
        ..listen_settings()
    };
    let engine = TestEngine::start(
        vec![crate::support::engine::router_config(1, addr)],
        settings,
    );
    std::thread::sleep(Duration::from_millis(3500));
    drop(engine);
    let times = accepted.lock().unwrap().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("login retries: {gaps:?}");
    // 100, 200, 400, 800, 800 … ±20 %: at most 8 tries in 3.5 s, never the 50 ms probe.
    assert!(
        times.len() >= 4 && times.len() <= 8,
        "{} tries",
        times.len()
    );
    assert!(gaps[0] >= Duration::from_millis(75), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(300), "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g <= Duration::from_millis(1100)),
        "{gaps:?}"
    );
}

#[test]
fn a_stream_and_commands_share_one_connection_through_cancel_and_reconnect() {
    let _watchdog = Watchdog::new("stream_interleave", Duration::from_secs(60));
    let sim = simulator(1, 60);
    let router = &sim.routers()[0];
    let addr = router.addr();
    let names = router.with_state(|s| s.secret_names());
    let mut rng = net_engine::rng::Rng::new(14);
    for round in 0..2 {
        let deadline = || Instant::now() + Duration::from_secs(2);
        let mut client = Client::connect("127.0.0.1", addr.port(), Duration::from_secs(2)).unwrap();
        client.login("admin", "", deadline()).unwrap();
        let listen = client.listen_active().unwrap();
        let mut rows = 0;
        let mut ended = false;
        for k in 0..150 {
            // Changes for the stream, between and during commands.
            let name = &names[(rng.unit() * names.len() as f64) as usize % names.len()];
            router.with_state_mut(|s| {
                if !s.disconnect_user(name) {
                    s.connect_user(name);
                }
            });
            // Random sizes: one secret, some secrets, every secret.
            let picked = (rng.unit() * 3.0) as usize;
            let mut command = CommandBuilder::new("/ppp/secret/print");
            let expected: Option<&str> = match picked {
                0 => {
                    command = command.query_eq("name", name.as_bytes());
                    Some(name)
                }
                _ => None,
            };
            let answer = client.run(command, deadline()).unwrap();
            match expected {
                Some(name) => {
                    assert_eq!(answer.len(), 1);
                    assert_eq!(answer[0].text("name"), name);
                }
                None => assert_eq!(answer.len(), names.len()),
            }
            assert!(
                answer.iter().all(|r| r.get("profile").is_some()),
                "a secret row"
            );
            if k == 100 {
                client.cancel_stream(&listen, deadline()).unwrap();
            }
            for event in client.take_stream_events() {
                assert_eq!(event.tag(), listen);
                match event {
                    StreamEvent::Row { record, .. } => {
                        assert!(record.get(".id").is_some(), "a session row");
                        assert!(record.get("profile").is_none(), "not a secret row");
                        rows += 1;
                    }
                    StreamEvent::Ended {
                        traps, cancelled, ..
                    } => {
                        assert!(traps.is_empty(), "{traps:?}");
                        assert!(cancelled);
                        ended = true;
                    }
                }
            }
        }
        // Drain the end of the cancelled stream.
        while client.stream_count() > 0 {
            client.wait_stream(Duration::from_millis(100)).unwrap();
            ended |= client.take_stream_events().iter().any(|e| {
                matches!(
                    e,
                    StreamEvent::Ended {
                        cancelled: true,
                        ..
                    }
                )
            });
        }
        assert!(ended, "the cancelled stream ended cleanly");
        assert!(rows > 50, "round {round}: {rows} stream rows");
        assert_eq!(client.stream_count(), 0);
        if round == 0 {
            // A reconnect: the router restarts; the next round starts its stream again.
            router.stop();
            let _ = client.wait_stream(Duration::from_millis(200));
            router.restart().unwrap();
        }
    }
}

#[test]
fn the_engine_keeps_answers_in_step_while_streams_run_and_the_router_restarts() {
    let _watchdog = Watchdog::new("engine_interleave", Duration::from_secs(60));
    let sim = simulator(1, 40);
    let router = &sim.routers()[0];
    let settings = FleetSettings {
        traffic_share_window: Duration::ZERO,
        ..listen_settings()
    };
    let engine = Arc::new(TestEngine::start(router_configs(&sim), settings));
    let users: Vec<String> = router
        .with_state(|s| s.active_names())
        .into_iter()
        .take(4)
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for user in users.clone() {
        let engine = Arc::clone(&engine);
        let stop = Arc::clone(&stop);
        workers.push(std::thread::spawn(move || {
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let answer = engine.get(&format!("/api/v1/router/1/traffic?user={user}"));
                if answer.status == 200 {
                    assert_eq!(answer.body["user"], user.as_str(), "{}", answer.text);
                    answered += 1;
                }
                let profiles = engine.get("/api/v1/router/1/profiles?live=1");
                if profiles.status == 200 {
                    assert!(!profiles.text.contains(&format!("<pppoe-{user}>")));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            answered
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    router.stop();
    std::thread::sleep(Duration::from_millis(500));
    router.restart().unwrap();
    online_within(&engine, 1, Duration::from_secs(3));
    eventually(
        "listen and streams restarted",
        Duration::from_secs(3),
        || router.listen_count() >= 1,
    );
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for worker in workers {
        let answered = worker.join().unwrap();
        assert!(answered > 10, "{answered} answers");
    }
    // Sessions still arrive by the listen after the reconnect.
    let handle = engine.fleet.get(RouterId(1)).unwrap();
    let gone = users[0].clone();
    router.with_state_mut(|s| assert!(s.disconnect_user(&gone)));
    eventually(
        "down by listen after a reconnect",
        Duration::from_secs(1),
        || !handle.snapshot().sessions.iter().any(|s| s.name == gone),
    );
}
