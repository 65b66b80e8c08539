//! Webhook delivery against real HTTP receivers on loopback: body, headers and signature,
//! retries, give-up, a hung receiver that must not block senders, and shutdown.

use crate::support::ops::{
    wait_until, with_watchdog, ReceivedRequest, SilentListener, WebhookReceiver,
};
use hmac::{Hmac, Mac};
use net_engine::model::{rfc3339, ActiveSession, RouterId};
use net_engine::webhook::{self, Event, SendOutcome, WebhookConfig, WebhookStats};
use sha2::Sha256;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

const SECRET: &str = "test-secret-🔑";
const WAIT: Duration = Duration::from_secs(5);

/// Short timeouts and backoff so the whole file runs in a few seconds.
fn fast_config(url: &str) -> WebhookConfig {
    WebhookConfig {
        queue_capacity: 64,
        max_attempts: 3,
        request_timeout: Duration::from_millis(500),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..WebhookConfig::new(url, SECRET)
    }
}

/// The signature recomputed here, independently of `webhook::sign`.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn session(name: &str, address: &str) -> ActiveSession {
    ActiveSession {
        id: "*1".into(),
        name: name.into(),
        service: "pppoe".into(),
        caller_id: "C4:6E:1F:98:8B:6F".into(),
        address: address.into(),
        uptime: "5m".into(),
        session_id: "0x81".into(),
    }
}

fn assert_signed_event(request: &ReceivedRequest) -> serde_json::Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/webhooks/net-engine");
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    let user_agent = request.header("User-Agent").unwrap_or("");
    assert_eq!(
        user_agent,
        format!("net-engine/{}", env!("CARGO_PKG_VERSION"))
    );
    let signature = request.header("Signature").expect("Signature header");
    assert_eq!(signature, expected_signature(&request.body));
    let body = request.json();
    assert_eq!(request.header("X-NetEngine-Event"), body["event"].as_str());
    assert_eq!(request.header("X-NetEngine-Delivery"), body["id"].as_str());
    body
}

#[test]
fn every_event_arrives_once_with_a_valid_signature_and_the_documented_body() {
    with_watchdog(Duration::from_secs(20), || {
        let receiver = WebhookReceiver::start(|_| 200);
        let (sender, worker) = webhook::start(fast_config(&receiver.url)).unwrap();
        let before = rfc3339(SystemTime::now());
        let events = [
            Event::router_up(
                RouterId(1),
                "10.0.0.1",
                serde_json::json!({"identity": "core", "version": "7.18.2"}),
            ),
            Event::session_up(RouterId(1), "10.0.0.1", &session("alice", "10.10.0.25")),
            Event::session_down(RouterId(2), "10.0.0.2", &session("Café Ñandú", "")),
            Event::router_down(RouterId(2), "10.0.0.2", "connection refused"),
        ];
        let mut sent_ids = Vec::new();
        for event in events.iter().cloned() {
            match sender.send(event) {
                SendOutcome::Queued(id) => sent_ids.push(id),
                other => panic!("not queued: {other:?}"),
            }
        }
        let mut bodies = Vec::new();
        for _ in &events {
            let request = receiver.recv(WAIT).expect("event delivered");
            let text = String::from_utf8(request.body.clone()).unwrap();
            // Field order as documented: id, event, router_id, host, data, timestamp.
            let positions: Vec<usize> = [
                "\"id\":",
                "\"event\":",
                "\"router_id\":",
                "\"host\":",
                "\"data\":",
                "\"timestamp\":",
            ]
            .iter()
            .map(|key| {
                text.find(key)
                    .unwrap_or_else(|| panic!("{key} missing in {text}"))
            })
            .collect();
            assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
            assert!(text.starts_with("{\"id\":"), "{text}");
            bodies.push(assert_signed_event(&request));
        }
        let after = rfc3339(SystemTime::now());

        // Delivered in order, each exactly once, under the ids `send` returned.
        let received_ids: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(received_ids, sent_ids);
        assert_eq!(sent_ids.iter().collect::<HashSet<_>>().len(), 4);
        let kinds: Vec<&str> = bodies
            .iter()
            .map(|b| b["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["router.up", "session.up", "session.down", "router.down"]
        );
        for body in &bodies {
            assert_eq!(body.as_object().unwrap().len(), 6, "{body}");
            let timestamp = body["timestamp"].as_str().unwrap();
            assert!(
                timestamp.len() == 20 && timestamp.ends_with('Z'),
                "{timestamp}"
            );
            assert!(
                before.as_str() <= timestamp && timestamp <= after.as_str(),
                "{timestamp}"
            );
        }
        assert_eq!(bodies[0]["router_id"], 1);
        assert_eq!(bodies[0]["host"], "10.0.0.1");
        assert_eq!(bodies[0]["data"]["identity"], "core");
        assert_eq!(bodies[1]["data"]["name"], "alice");
        assert_eq!(bodies[1]["data"]["address"], "10.10.0.25");
        assert_eq!(bodies[2]["data"]["name"], "Café Ñandú");
        assert_eq!(bodies[2]["data"]["address"], serde_json::Value::Null);
        assert_eq!(bodies[3]["data"]["error"], "connection refused");

        assert!(wait_until(WAIT, || sender.stats().delivered == 4));
        // Nothing is sent twice.
        assert!(receiver.recv(Duration::from_millis(200)).is_none());
        let stats = worker.shutdown(Duration::from_secs(1));
        assert_eq!(
            stats,
            WebhookStats {
                delivered: 4,
                failed: 0,
                dropped: 0,
                retried: 0,
                queue_depth: 0
            }
        );
    });
}

#[test]
fn two_500s_then_200_delivers_on_the_third_try_exactly_once() {
    with_watchdog(Duration::from_secs(20), || {
        let receiver = WebhookReceiver::start(|index| if index < 2 { 500 } else { 200 });
        let (sender, worker) = webhook::start(fast_config(&receiver.url)).unwrap();
        sender.send(Event::router_down(RouterId(9), "192.0.2.9", "timeout"));
        let attempts: Vec<ReceivedRequest> = (0..3)
            .map(|_| receiver.recv(WAIT).expect("attempt arrives"))
            .collect();
        // Every attempt carries the same id, body and signature, so the app can de-duplicate.
        for attempt in &attempts {
            assert_signed_event(attempt);
            assert_eq!(attempt.body, attempts[0].body);
            assert_eq!(
                attempt.header("X-NetEngine-Delivery"),
                attempts[0].header("X-NetEngine-Delivery")
            );
        }
        assert!(wait_until(WAIT, || sender.stats().delivered == 1));
        assert!(
            receiver.recv(Duration::from_millis(300)).is_none(),
            "delivered more than once"
        );
        assert_eq!(receiver.count(), 3);
        let stats = worker.shutdown(Duration::from_secs(1));
        assert_eq!(
            (stats.delivered, stats.retried, stats.failed, stats.dropped),
            (1, 2, 0, 0)
        );
    });
}

#[test]
fn gives_up_after_max_attempts_and_counts_it() {
    with_watchdog(Duration::from_secs(20), || {
        let receiver = WebhookReceiver::start(|_| 503);
        let (sender, worker) = webhook::start(fast_config(&receiver.url)).unwrap();
        let SendOutcome::Queued(id) = sender.send(Event::router_down(RouterId(3), "h", "e")) else {
            panic!("not queued");
        };
        assert!(wait_until(WAIT, || sender.stats().failed == 1));
        assert_eq!(receiver.count(), 3, "max_attempts is 3");
        for _ in 0..3 {
            let request = receiver.recv(WAIT).unwrap();
            assert_eq!(request.header("X-NetEngine-Delivery"), Some(id.as_str()));
        }
        let stats = worker.shutdown(Duration::from_secs(1));
        assert_eq!(
            (stats.delivered, stats.retried, stats.failed, stats.dropped),
            (0, 2, 1, 0)
        );
    });
}

#[test]
fn a_refused_connection_is_retried_then_given_up() {
    with_watchdog(Duration::from_secs(20), || {
        // A port that was just free: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = WebhookConfig {
            max_attempts: 2,
            ..fast_config(&format!("http://127.0.0.1:{port}/hook"))
        };
        let (sender, worker) = webhook::start(config).unwrap();
        sender.send(Event::router_up(RouterId(1), "h", serde_json::json!({})));
        assert!(wait_until(WAIT, || sender.stats().failed == 1));
        let stats = worker.shutdown(Duration::from_secs(1));
        assert_eq!((stats.delivered, stats.retried, stats.failed), (0, 1, 1));
    });
}

#[test]
fn a_hung_receiver_never_blocks_send_and_the_queue_bound_holds() {
    with_watchdog(Duration::from_secs(20), || {
        let listener = SilentListener::start();
        let config = WebhookConfig {
            queue_capacity: 10,
            max_attempts: 2,
            request_timeout: Duration::from_millis(300),
            ..fast_config(&listener.url)
        };
        let (sender, worker) = webhook::start(config).unwrap();
        let started = Instant::now();
        let mut queued = 0;
        for index in 0..100 {
            let event = Event::router_down(RouterId(index), "h", "e");
            if matches!(sender.send(event), SendOutcome::Queued(_)) {
                queued += 1;
            }
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(50),
            "100 sends took {elapsed:?}"
        );
        let stats = sender.stats();
        assert!(stats.queue_depth <= 10, "{stats:?}");
        // 10 wait in the queue, at most one more was taken by the busy delivery thread.
        assert!((10..=11).contains(&queued), "queued {queued}");
        assert_eq!(stats.dropped, 100 - queued);
        assert!(
            wait_until(WAIT, || listener.accepted() >= 1),
            "worker never connected"
        );

        // Shutdown is bounded by the flush window plus one request timeout.
        let shutdown_started = Instant::now();
        let stats = worker.shutdown(Duration::from_millis(100));
        let shutdown_took = shutdown_started.elapsed();
        assert!(
            shutdown_took < Duration::from_millis(300 + 1000),
            "shutdown took {shutdown_took:?}"
        );
        assert_eq!(stats.delivered, 0);
        // Every event is accounted for exactly once.
        assert_eq!(
            stats.delivered + stats.failed + stats.dropped,
            100,
            "{stats:?}"
        );
        assert_eq!(stats.queue_depth, 0);
        // After shutdown, send still returns at once and counts the drop.
        assert_eq!(
            sender.send(Event::router_down(RouterId(1), "h", "e")),
            SendOutcome::Closed
        );
        assert_eq!(sender.stats().dropped, stats.dropped + 1);
    });
}

#[test]
fn shutdown_flushes_what_is_queued() {
    with_watchdog(Duration::from_secs(20), || {
        let receiver = WebhookReceiver::start(|_| 204);
        let (sender, worker) = webhook::start(fast_config(&receiver.url)).unwrap();
        for index in 0..20 {
            sender.send(Event::router_up(
                RouterId(index),
                "h",
                serde_json::json!({}),
            ));
        }
        let stats = worker.shutdown(Duration::from_secs(5));
        assert_eq!((stats.delivered, stats.failed, stats.dropped), (20, 0, 0));
        assert_eq!(receiver.count(), 20);
    });
}

#[test]
fn shutdown_cuts_a_long_backoff_short() {
    with_watchdog(Duration::from_secs(20), || {
        let receiver = WebhookReceiver::start(|_| 500);
        let config = WebhookConfig {
            max_attempts: 5,
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30),
            ..fast_config(&receiver.url)
        };
        let (sender, worker) = webhook::start(config).unwrap();
        sender.send(Event::router_up(RouterId(1), "h", serde_json::json!({})));
        assert!(receiver.recv(WAIT).is_some());
        // The worker now sleeps 30 s before its retry; shutdown must not wait for that.
        assert!(wait_until(WAIT, || receiver.count() == 1));
        let started = Instant::now();
        let stats = worker.shutdown(Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!((stats.delivered, stats.failed, stats.retried), (0, 1, 0));
        assert_eq!(receiver.count(), 1);
    });
}
