//! Every REST route driven over loopback against the simulator: success shapes, auth,
//! 404s, validation, conflicts, body limits and wrong methods.

use crate::support::engine::{fast_settings, router_configs, simulator, TestEngine, Watchdog, KEY};
use serde_json::{json, Value};
use std::time::Duration;

fn engine_with_sim(users: usize) -> (net_engine::sim::Simulator, TestEngine) {
    let sim = simulator(2, users);
    let engine = TestEngine::start(router_configs(&sim), fast_settings());
    (sim, engine)
}

#[test]
fn public_routes_need_no_key_and_secured_ones_do() {
    let _watchdog = Watchdog::new("auth", Duration::from_secs(30));
    let (_sim, engine) = engine_with_sim(10);
    let health = engine.call("GET", "/api/v1/health", None, None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["routers_total"], 2);
    assert_eq!(health.body["routers_online"], 2);
    let secured = [
        ("GET", "/api/v1/routers"),
        ("POST", "/api/v1/routers/reload"),
        ("GET", "/api/v1/monitoring/targets"),
        ("GET", "/api/v1/router/1/health"),
        ("GET", "/api/v1/router/1/users"),
        ("GET", "/api/v1/router/1/profiles"),
        ("GET", "/api/v1/router/1/traffic?user=alice"),
        ("POST", "/api/v1/sync/1"),
        ("POST", "/api/v1/secret"),
        ("PUT", "/api/v1/secret/alice"),
        ("DELETE", "/api/v1/secret/alice?router_id=1"),
        ("POST", "/api/v1/kick"),
        ("POST", "/api/v1/isolate"),
        ("POST", "/api/v1/router/1/backup"),
        ("GET", "/metrics"),
    ];
    for (method, path) in secured {
        for key in [None, Some("wrong-key"), Some("test-key-0123456789abcdeF")] {
            let body = if method == "GET" || method == "DELETE" {
                None
            } else {
                Some("{}")
            };
            let answer = engine.call(method, path, key, body);
            assert_eq!(answer.status, 401, "{method} {path} with {key:?}");
            assert_eq!(answer.body["code"], "unauthorized");
        }
    }
}

#[test]
fn read_routes_answer_with_their_shapes() {
    let _watchdog = Watchdog::new("reads", Duration::from_secs(30));
    let (sim, engine) = engine_with_sim(30);
    let routers = engine.get("/api/v1/routers");
    assert_eq!(routers.status, 200);
    let list = routers.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["state"], "online");
    assert_eq!(first["host"], "127.0.0.1");
    assert_eq!(first["port"], sim.routers()[0].addr().port());
    assert_eq!(first["identity"], "sim-1");
    assert!(first["version"].as_str().unwrap().starts_with("7.18"));
    assert!(
        first["rtt_ms"].is_number()
            && first["last_poll_at"].is_string()
            && first["last_error"].is_null()
    );
    assert!(!routers.text.contains("password"));

    let active_total: usize = sim
        .routers()
        .iter()
        .map(|r| r.with_state(|s| s.active_names().len()))
        .sum();
    let targets = engine.get("/api/v1/monitoring/targets");
    assert_eq!(targets.status, 200);
    let rows = targets.body.as_array().unwrap();
    assert_eq!(rows.len(), active_total);
    for key in [
        "router_id",
        "name",
        "address",
        "caller_id",
        "uptime",
        "service",
    ] {
        assert!(rows[0].get(key).is_some(), "{key}");
    }

    let health = engine.get("/api/v1/router/1/health");
    assert_eq!(health.status, 200);
    assert!(
        health.body["memory_total"].as_u64().unwrap()
            > health.body["memory_used"].as_u64().unwrap()
    );
    assert_eq!(health.body["live"], false);
    let live = engine.get("/api/v1/router/1/health?live=1");
    assert_eq!(live.status, 200);
    assert_eq!(live.body["live"], true);
    assert!(live.body["cpu_load"].is_number() && live.body["uptime_s"].is_number());

    let users = engine.get("/api/v1/router/1/users?per_page=10&page=2");
    assert_eq!(users.status, 200);
    assert_eq!(users.total_count.as_deref(), Some("30"));
    assert_eq!(users.body.as_array().unwrap().len(), 10);
    let alice = engine.get("/api/v1/router/1/users?q=alice");
    let names: Vec<&str> = alice
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"alice"));
    let row = alice
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice")
        .unwrap();
    assert_eq!(row["comment"], "Café Ñandú");
    let connected = engine.get("/api/v1/router/1/users?status=connected&per_page=1000");
    let online = sim.routers()[0].with_state(|s| s.active_names().len());
    assert_eq!(connected.total_count, Some(online.to_string()));
    assert!(connected
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["status"] == "connected" && u["ip"].is_string()));
    let sorted = engine.get("/api/v1/router/1/users?sort=name&order=desc&per_page=1000");
    let names: Vec<String> = sorted
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = names.clone();
    expected.sort();
    expected.reverse();
    assert_eq!(names, expected);

    let profiles = engine.get("/api/v1/router/1/profiles");
    assert_eq!(profiles.status, 200);
    assert!(profiles.body["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["rate_limit"].is_string()));

    let sync = engine.post("/api/v1/sync/2", &json!({}));
    assert_eq!(sync.status, 200);
    assert_eq!(sync.body["secrets"], 30);
    assert_eq!(sync.body["stored"], Value::Null);

    let reload = engine.post("/api/v1/routers/reload", &json!({}));
    assert_eq!(reload.status, 200);
    assert_eq!(
        reload.body,
        json!({"added": 0, "removed": 0, "restarted": 0})
    );

    let backup = engine.post("/api/v1/router/1/backup", &json!({}));
    assert_eq!(backup.status, 200);
    let file = backup.body["file"].as_str().unwrap().to_owned();
    assert!(
        file.starts_with("sim-1-") && file.ends_with(".backup"),
        "{file}"
    );
    assert!(sim.routers()[0]
        .with_state(|s| s.file_names())
        .contains(&file));
}

#[test]
fn secret_lifecycle_kick_and_isolate() {
    let _watchdog = Watchdog::new("mutations", Duration::from_secs(30));
    let (sim, engine) = engine_with_sim(20);
    let router = &sim.routers()[0];
    let created = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "bob-new", "password": "pw1", "profile": "default", "service": "pppoe",
                "remote_ip": "10.77.0.9", "comment": "São Paulo", "disabled": false}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(created.body["id"].as_str().unwrap().starts_with('*'));
    assert!(router.with_state(|s| s.has_secret("bob-new")));
    assert_eq!(
        router.with_state(|s| s.secret_comment_bytes("bob-new")),
        Some(b"S\xe3o Paulo".to_vec())
    );
    assert!(
        !sim.routers()[1].with_state(|s| s.has_secret("bob-new")),
        "router_id is honoured"
    );

    let duplicate = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "bob-new", "password": "x"}),
    );
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["code"], "secret_exists");

    let bad_profile = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "carol-new", "password": "x", "profile": "no-such-plan"}),
    );
    assert_eq!(bad_profile.status, 400, "{}", bad_profile.text);
    assert_eq!(bad_profile.body["field"], "profile");

    // Change plan and kick: the live session goes away so the new profile applies.
    let online = router
        .with_state(|s| s.active_names())
        .into_iter()
        .find(|n| n != "alice")
        .unwrap();
    let profile = engine.get("/api/v1/router/1/profiles").body["profiles"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = engine.put(
        &format!("/api/v1/secret/{online}"),
        &json!({"router_id": 1, "profile": profile, "kick": true}),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["updated"], json!(["profile"]));
    assert_eq!(changed.body["kicked"], 1);
    assert!(!router.with_state(|s| s.is_online(&online)));
    assert_eq!(
        router.with_state(|s| s.secret_property(&online, "profile")),
        Some(profile.into_bytes())
    );

    // Kick by user.
    let other = router
        .with_state(|s| s.active_names())
        .into_iter()
        .find(|n| n != "alice")
        .unwrap();
    let kicked = engine.post("/api/v1/kick", &json!({"router_id": 1, "user": other}));
    assert_eq!(kicked.body["kicked"], 1);
    assert!(!router.with_state(|s| s.is_online(&other)));
    let none = engine.post("/api/v1/kick", &json!({"router_id": 1, "user": other}));
    assert_eq!(none.body["kicked"], 0);

    // Isolate by user: the address comes from the live session; twice is still 200.
    let target = router.with_state(|s| s.active_names())[0].clone();
    let address = router
        .with_state(|s| s.session_address(&target))
        .unwrap()
        .to_string();
    let first = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "add", "user": target, "comment": "unpaid"}),
    );
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["address"], address);
    assert_eq!(first.body["changed"], true);
    let again = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "add", "user": target}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.body["changed"], false);
    let entries = router.with_state(|s| s.address_list_entries());
    assert_eq!(
        entries
            .iter()
            .filter(|(list, a)| list == "ISOLATED" && *a == address)
            .count(),
        1
    );
    let removed = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "remove", "ip": address}),
    );
    assert_eq!(removed.body["changed"], true);
    let removed_again = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "remove", "ip": address}),
    );
    assert_eq!(removed_again.status, 200);
    assert_eq!(removed_again.body["changed"], false);
    // An offline user with a fixed remote-address can be isolated too.
    let by_secret = engine.post(
        "/api/v1/isolate",
        &json!({"router_id": 1, "action": "add", "user": "bob-new", "list": "UNPAID"}),
    );
    assert_eq!(by_secret.status, 200, "{}", by_secret.text);
    assert_eq!(by_secret.body["address"], "10.77.0.9");

    let deleted = engine.delete("/api/v1/secret/bob-new?router_id=1&kick=1");
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["deleted"], true);
    assert!(!router.with_state(|s| s.has_secret("bob-new")));
    let gone = engine.delete("/api/v1/secret/bob-new?router_id=1");
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], "user_not_found");
}

#[test]
fn not_found_invalid_fields_large_bodies_and_wrong_methods() {
    let _watchdog = Watchdog::new("errors", Duration::from_secs(30));
    let (_sim, engine) = engine_with_sim(5);
    for path in [
        "/api/v1/router/99/health",
        "/api/v1/router/99/users",
        "/api/v1/router/99/traffic?user=alice",
    ] {
        let answer = engine.get(path);
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (404, Some("router_not_found")),
            "{path}"
        );
    }
    let answer = engine.post("/api/v1/kick", &json!({"router_id": 99, "user": "alice"}));
    assert_eq!(answer.status, 404);
    let answer = engine.put(
        "/api/v1/secret/nobody-at-all",
        &json!({"router_id": 1, "disabled": true}),
    );
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let answer = engine.get("/api/v1/router/1/traffic?user=nobody-at-all");
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let unknown = engine.get("/api/v1/nothing-here");
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("not_found"))
    );

    // (method, path, body, field that must be named)
    let long_name = "x".repeat(65);
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/v1/router/abc/health".into(), None, "id"),
        ("GET", "/api/v1/router/0/users".into(), None, "id"),
        (
            "GET",
            "/api/v1/router/1/users?status=sleeping".into(),
            None,
            "status",
        ),
        (
            "GET",
            "/api/v1/router/1/users?per_page=0".into(),
            None,
            "per_page",
        ),
        ("GET", "/api/v1/router/1/users?page=x".into(), None, "page"),
        (
            "GET",
            "/api/v1/router/1/users?sort=password".into(),
            None,
            "sort",
        ),
        (
            "GET",
            "/api/v1/router/1/users?order=up".into(),
            None,
            "order",
        ),
        (
            "GET",
            "/api/v1/router/1/health?live=maybe".into(),
            None,
            "live",
        ),
        ("GET", "/api/v1/router/1/traffic".into(), None, "user"),
        (
            "GET",
            format!("/api/v1/router/1/traffic?user={long_name}"),
            None,
            "user",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"user": "a", "password": "b"})),
            "router_id",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": "one", "user": "a", "password": "b"})),
            "router_id",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "password": "b"})),
            "user",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a\u{1}", "password": "b"})),
            "user",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "日本", "password": "b"})),
            "user",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a"})),
            "password",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a", "password": "b", "service": "ppp"})),
            "service",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a", "password": "b", "remote_ip": "10.0.0.300"})),
            "remote_ip",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a", "password": "b", "local_ip": "x"})),
            "local_ip",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a", "password": "b", "disabled": "perhaps"})),
            "disabled",
        ),
        (
            "POST",
            "/api/v1/secret".into(),
            Some(json!({"router_id": 1, "user": "a", "password": "b", "profil": "x"})),
            "profil",
        ),
        (
            "PUT",
            "/api/v1/secret/alice".into(),
            Some(json!({"profile": "x"})),
            "router_id",
        ),
        (
            "PUT",
            "/api/v1/secret/alice".into(),
            Some(json!({"router_id": 1, "remote_ip": "nope"})),
            "remote_ip",
        ),
        (
            "PUT",
            "/api/v1/secret/alice".into(),
            Some(json!({"router_id": 1, "kick": "sometimes"})),
            "kick",
        ),
        ("DELETE", "/api/v1/secret/alice".into(), None, "router_id"),
        (
            "DELETE",
            "/api/v1/secret/alice?router_id=-1".into(),
            None,
            "router_id",
        ),
        (
            "DELETE",
            "/api/v1/secret/alice?router_id=1&kick=2".into(),
            None,
            "kick",
        ),
        (
            "POST",
            "/api/v1/kick".into(),
            Some(json!({"user": "alice"})),
            "router_id",
        ),
        (
            "POST",
            "/api/v1/kick".into(),
            Some(json!({"router_id": 1})),
            "user",
        ),
        (
            "POST",
            "/api/v1/isolate".into(),
            Some(json!({"router_id": 1, "action": "block", "ip": "10.0.0.1"})),
            "action",
        ),
        (
            "POST",
            "/api/v1/isolate".into(),
            Some(json!({"router_id": 1, "action": "add"})),
            "ip",
        ),
        (
            "POST",
            "/api/v1/isolate".into(),
            Some(json!({"router_id": 1, "action": "add", "ip": "10.0.0"})),
            "ip",
        ),
        (
            "POST",
            "/api/v1/isolate".into(),
            Some(json!({"router_id": 1, "action": "add", "ip": "10.0.0.1", "list": "bad list"})),
            "list",
        ),
        (
            "POST",
            "/api/v1/isolate".into(),
            Some(json!({"action": "add", "ip": "10.0.0.1"})),
            "router_id",
        ),
        ("POST", "/api/v1/sync/x".into(), Some(json!({})), "id"),
        (
            "POST",
            "/api/v1/router/x/backup".into(),
            Some(json!({})),
            "id",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = engine.call(
            method,
            &path,
            Some(KEY),
            body.as_ref().map(|b| b.to_string()).as_deref(),
        );
        assert_eq!(
            answer.status, 400,
            "{method} {path} {body:?}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["field"], field,
            "{method} {path} {body:?}: {}",
            answer.text
        );
        assert!(answer.body["error"].is_string());
    }
    let not_json = engine.call("POST", "/api/v1/kick", Some(KEY), Some("{not json"));
    assert_eq!(
        (not_json.status, not_json.body["code"].as_str()),
        (400, Some("bad_json"))
    );

    let big = format!(
        "{{\"router_id\":1,\"user\":\"a\",\"password\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let too_large = engine.call("POST", "/api/v1/secret", Some(KEY), Some(&big));
    assert_eq!(
        (too_large.status, too_large.body["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // The engine is still fine afterwards.
    assert_eq!(engine.get("/api/v1/routers").status, 200);

    for (method, path) in [
        ("DELETE", "/api/v1/routers"),
        ("GET", "/api/v1/kick"),
        ("POST", "/api/v1/router/1/health"),
        ("GET", "/api/v1/secret/alice"),
    ] {
        let answer = engine.call(method, path, Some(KEY), None);
        assert_eq!(answer.status, 405, "{method} {path}");
        assert_eq!(answer.body["code"], "method_not_allowed");
        assert!(answer.allow.is_some());
    }
}

#[test]
fn changes_show_in_the_cached_lists_without_waiting_for_a_poll() {
    let _watchdog = Watchdog::new("cache_after_change", Duration::from_secs(30));
    let sim = simulator(1, 10);
    let settings = net_engine::fleet::FleetSettings {
        poll_interval: Duration::from_secs(600),
        ..fast_settings()
    };
    let engine = TestEngine::start(router_configs(&sim), settings);
    let listed = |q: &str| {
        engine
            .get(&format!("/api/v1/router/1/users?q={q}"))
            .body
            .clone()
    };
    let created = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "fresh-user", "password": "pw"}),
    );
    assert_eq!(created.status, 201);
    assert_eq!(listed("fresh-user")[0]["name"], "fresh-user");
    let online = sim.routers()[0]
        .with_state(|s| s.active_names())
        .into_iter()
        .find(|n| n != "alice")
        .unwrap();
    assert_eq!(
        engine
            .post("/api/v1/kick", &json!({"router_id": 1, "user": online}))
            .body["kicked"],
        1
    );
    let row = listed(&online)
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == online.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "offline");
    assert_eq!(
        engine
            .delete("/api/v1/secret/fresh-user?router_id=1")
            .status,
        200
    );
    assert_eq!(listed("fresh-user"), json!([]));
}

/// Reads one HTTP/1.1 answer with `Content-Length` from `stream`: (head, body).
fn read_answer(
    stream: &mut std::io::BufReader<std::net::TcpStream>,
    head_only: bool,
) -> (String, Vec<u8>) {
    use std::io::{BufRead, Read};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).expect("a head line");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let mut body = vec![0; if head_only { 0 } else { length }];
    stream.read_exact(&mut body).expect("the whole body");
    (head, body)
}

#[test]
fn large_bodies_are_whole_and_keep_the_connection() {
    use std::io::Write;
    // 2 routers, 1 200 users: /monitoring/targets is well over the 64 KiB from which the
    // edge writes bodies itself instead of through tiny_http.
    let (_sim, engine) = engine_with_sim(1200);
    let addr = engine.base.trim_start_matches("http://").to_owned();
    let socket = std::net::TcpStream::connect(&addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = socket.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(socket);
    let ask = |writer: &mut std::net::TcpStream, method: &str, path: &str| {
        write!(
            writer,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nX-App-Key: {KEY}\r\n\r\n"
        )
        .unwrap();
    };
    // Two large answers, a HEAD and a small one, all on one kept-alive connection.
    ask(&mut writer, "GET", "/api/v1/monitoring/targets");
    let (head, body) = read_answer(&mut reader, false);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(head.contains("X-Request-Id: "), "{head}");
    assert!(body.len() >= 64 * 1024, "{} bytes", body.len());
    let targets: Value = serde_json::from_slice(&body).expect("whole JSON");
    let count = targets.as_array().map(Vec::len).unwrap_or(0);
    assert!(count > 0);
    ask(&mut writer, "HEAD", "/api/v1/monitoring/targets");
    let (head_again, nothing) = read_answer(&mut reader, true);
    assert!(
        head_again.contains(&format!("Content-Length: {}", body.len())),
        "{head_again}"
    );
    assert!(nothing.is_empty());
    ask(&mut writer, "GET", "/api/v1/monitoring/targets");
    let (_, again) = read_answer(&mut reader, false);
    assert_eq!(again.len(), body.len());
    ask(&mut writer, "GET", "/api/v1/routers");
    let (small_head, small) = read_answer(&mut reader, false);
    assert!(small_head.starts_with("HTTP/1.1 200 OK\r\n"));
    let routers: Value = serde_json::from_slice(&small).expect("routers JSON");
    assert_eq!(routers.as_array().map(Vec::len), Some(2));
    // Asked to close: the answer comes whole, then the connection ends.
    write!(
        writer,
        "GET /api/v1/monitoring/targets HTTP/1.1\r\nHost: x\r\nX-App-Key: {KEY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (_, last) = read_answer(&mut reader, false);
    assert_eq!(last.len(), body.len());
    let mut rest = Vec::new();
    use std::io::Read;
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the answer"
    );
}
