//! The Go engine's wire contract (../shared/docs/go-compat.md) replayed row by row against
//! the engine and the simulator: every Go field with its Go type, bare arrays where Go had
//! arrays, Go bodies with and without `router_id`, the Go status texts; the fleet index
//! that finds a write's router; and the paging headers of the users list.

use crate::support::engine::{
    eventually, fast_settings, router_configs, simulator, simulator_with_fault, Answer, TestEngine,
    Watchdog,
};
use net_engine::fleet::{FleetSettings, NoObserver};
use net_engine::sim::{Fault, Simulator};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn engine(routers: usize, users: usize) -> (Simulator, TestEngine) {
    let sim = simulator(routers, users);
    let engine = TestEngine::start(router_configs(&sim), fast_settings());
    (sim, engine)
}

fn array(answer: &Answer) -> &Vec<Value> {
    answer
        .body
        .as_array()
        .unwrap_or_else(|| panic!("a bare array, got {}", answer.text))
}

/// Go's optional strings: omitted, or a non-empty string.
fn omitted_or_text(row: &Value, key: &str) {
    match row.get(key) {
        None => {}
        Some(Value::String(s)) => assert!(!s.is_empty(), "{key} empty in {row}"),
        Some(other) => panic!("{key} must be a string or absent, got {other} in {row}"),
    }
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {row}"))
}

fn integer(row: &Value, key: &str) -> u64 {
    row[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is an integer in {row}"))
}

fn boolean(row: &Value, key: &str) -> bool {
    row[key]
        .as_bool()
        .unwrap_or_else(|| panic!("{key} is a boolean in {row}"))
}

fn user_row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} listed"))
}

#[test]
fn every_read_answers_the_go_shape() {
    let _watchdog = Watchdog::new("go_reads", Duration::from_secs(60));
    let (sim, engine) = engine(2, 20);

    // GET /health: {"status":"ok","muscle":"alive"}, public.
    let health = engine.call("GET", "/api/v1/health", None, None);
    assert_eq!(health.status, 200);
    assert_eq!(text(&health.body, "status"), "ok");
    assert_eq!(text(&health.body, "muscle"), "alive");

    // GET /routers: bare array of {id, name, host, port, username}, no password.
    let routers = engine.get("/api/v1/routers");
    let list = array(&routers);
    assert_eq!(list.len(), 2);
    for router in list {
        assert!(integer(router, "id") > 0);
        text(router, "name");
        text(router, "host");
        assert!(integer(router, "port") > 0);
        text(router, "username");
        assert!(router.get("password").is_none(), "{router}");
    }
    assert_eq!(list[0]["id"], 1);

    // GET /monitoring/targets: bare array of {name, address, caller_id, uptime, router_id}.
    let live: usize = sim
        .routers()
        .iter()
        .map(|r| r.with_state(|s| s.active_names().len()))
        .sum();
    let targets = engine.get("/api/v1/monitoring/targets?request_id=abc");
    assert_eq!(targets.status, 200);
    let rows = array(&targets);
    assert_eq!(rows.len(), live);
    for row in rows {
        for key in ["name", "address", "caller_id", "uptime"] {
            assert!(row[key].is_string(), "{key} in {row}");
        }
        assert!(integer(row, "router_id") >= 1);
    }

    // GET /router/:id/users: bare array of every secret, Go's status values.
    let users = engine.get("/api/v1/router/1/users");
    let rows = array(&users);
    let secrets = sim.routers()[0].with_state(|s| s.secret_names());
    assert_eq!(rows.len(), secrets.len(), "every secret, no paging");
    for row in rows {
        let status = text(row, "status");
        assert!(
            ["connected", "isolated", "offline"].contains(&status),
            "{row}"
        );
        assert_eq!(row["name"], row["username"]);
        text(row, "username");
        for key in ["ip", "uptime", "profile"] {
            omitted_or_text(row, key);
        }
        let (online, disabled, isolated) = (
            boolean(row, "online"),
            boolean(row, "disabled"),
            boolean(row, "isolated"),
        );
        assert!(
            !disabled || isolated,
            "a disabled secret is isolated: {row}"
        );
        let expected = if isolated {
            "isolated"
        } else if online {
            "connected"
        } else {
            "offline"
        };
        assert_eq!(status, expected, "{row}");
        assert_eq!(row.get("uptime").is_some(), online, "{row}");
    }
    let router = &sim.routers()[0];
    let online = router.with_state(|s| s.active_names())[0].clone();
    let address = router
        .with_state(|s| s.session_address(&online))
        .unwrap()
        .to_string();
    let row = user_row(rows, &online);
    assert_eq!(row["status"], "connected");
    assert_eq!(row["ip"], address.as_str());

    // GET /router/:id/health: cpu is a string, memories integers, uptime RouterOS text.
    let health = engine.get("/api/v1/router/1/health");
    assert_eq!(health.status, 200, "{}", health.text);
    let body = &health.body;
    let cpu: u64 = text(body, "cpu").parse().expect("cpu is digits");
    assert_eq!(cpu, integer(body, "cpu_load"));
    assert!(integer(body, "total_memory") > integer(body, "free_memory"));
    assert_eq!(
        integer(body, "total_memory") - integer(body, "free_memory"),
        integer(body, "memory_used")
    );
    assert!(!text(body, "uptime").is_empty());
    assert_eq!(
        text(body, "board_name"),
        router.with_state(|s| s.board_name())
    );
    assert!(text(body, "version").starts_with("7."));

    // GET /router/:id/traffic?user=U: {name, rx, tx}, rx = download, tx = upload.
    let user = router.with_state(|s| s.users_with_traffic_source("pppoe_queue"))[0].clone();
    router.with_state_mut(|s| s.set_user_traffic(&user, Some((1_200_000, 15_400_000))));
    let traffic = engine.get(&format!("/api/v1/router/1/traffic?user={user}"));
    assert_eq!(traffic.status, 200, "{}", traffic.text);
    assert_eq!(text(&traffic.body, "name"), user);
    assert_eq!(integer(&traffic.body, "rx"), 15_400_000, "rx is download");
    assert_eq!(integer(&traffic.body, "tx"), 1_200_000, "tx is upload");
    assert_eq!(traffic.body["download_bps"], traffic.body["rx"]);
    for path in ["/api/v1/router/1/traffic", "/api/v1/router/1/traffic?user="] {
        let missing = engine.get(path);
        assert_eq!(missing.status, 400);
        assert_eq!(missing.body["error"], "Query param 'user' required");
        assert_eq!(missing.body["field"], "user");
    }

    // Errors keep Go's `error` string.
    let unauthorized = engine.call("GET", "/api/v1/routers", Some("nope"), None);
    assert_eq!(unauthorized.status, 401);
    assert!(unauthorized.body["error"].is_string());
}

#[test]
fn health_before_the_first_poll_is_the_go_503() {
    let _watchdog = Watchdog::new("go_no_data", Duration::from_secs(60));
    let sim = simulator_with_fault(1, 5, 0, Fault::Silent);
    let settings = FleetSettings {
        connect_timeout: Duration::from_secs(8),
        ..fast_settings()
    };
    let engine = TestEngine::start_with(
        router_configs(&sim),
        settings,
        Arc::new(NoObserver),
        4,
        Duration::from_millis(200),
    );
    let health = engine.get("/api/v1/router/1/health");
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.body["status"], "No data yet");
    assert_eq!(health.body["next_retry"], "1s", "the poll interval");
    assert_eq!(health.body["code"], "no_data_yet");
    assert!(health.body["error"].is_string());
    assert!(health.retry_after.is_some());
}

#[test]
fn go_write_bodies_work_without_router_id_on_a_one_router_fleet() {
    let _watchdog = Watchdog::new("go_writes", Duration::from_secs(60));
    let (sim, engine) = engine(1, 20);
    let router = &sim.routers()[0];

    // POST /secret, Go's body: no router_id.
    let created = engine.post(
        "/api/v1/secret",
        &json!({"user": "go-one", "password": "pw-1", "profile": "10M", "remote_ip": "10.77.0.5"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "Secret Created");
    assert_eq!(created.body["user"], "go-one");
    assert_eq!(created.body["router_id"], 1);
    assert!(router.with_state(|s| s.has_secret("go-one")));
    // And with router_id, as net-engine clients send it.
    let created = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 1, "user": "go-two", "password": "pw-2", "profile": "10M"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "Secret Created");

    // PUT /secret/:user {profile}.
    for body in [
        json!({"profile": "20M"}),
        json!({"router_id": 1, "profile": "5M"}),
    ] {
        let updated = engine.put("/api/v1/secret/go-one", &body);
        assert_eq!(updated.status, 200, "{}", updated.text);
        assert_eq!(updated.body["status"], "Plan Updated");
        assert_eq!(updated.body["user"], "go-one");
        assert_eq!(updated.body["profile"], body["profile"]);
    }
    assert_eq!(
        router.with_state(|s| s.secret_property("go-one", "profile")),
        Some(b"5M".to_vec())
    );

    // POST /isolate {ip, action, list}: the users list then says isolated.
    let isolate = |action: &str, with_id: bool| {
        let mut body = json!({"ip": "10.77.0.5", "action": action, "list": "ISOLATED"});
        if with_id {
            body["router_id"] = json!(1);
        }
        engine.post("/api/v1/isolate", &body)
    };
    let added = isolate("add", false);
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["status"], "Isolation Updated");
    assert_eq!(added.body["ip"], "10.77.0.5");
    assert_eq!(added.body["action"], "add");
    let users = engine.get("/api/v1/router/1/users?q=go-one");
    let row = user_row(array(&users), "go-one");
    assert_eq!(row["status"], "isolated", "{row}");
    assert_eq!(
        (row["isolated"].clone(), row["disabled"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(row["ip"], "10.77.0.5");
    let isolated = engine.get("/api/v1/router/1/users?status=isolated");
    assert!(array(&isolated).iter().any(|u| u["username"] == "go-one"));
    let removed = isolate("remove", true);
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["action"], "remove");
    let users = engine.get("/api/v1/router/1/users?q=go-one");
    assert_eq!(user_row(array(&users), "go-one")["status"], "offline");

    // POST /sync/:id and POST /router/:id/backup.
    let sync = engine.post("/api/v1/sync/1", &json!({}));
    assert_eq!(sync.status, 200);
    assert_eq!(sync.body["status"], "Sync command sent");
    assert!(sync.body["secrets"].is_u64());
    let backup = engine.post("/api/v1/router/1/backup", &json!({}));
    assert_eq!(backup.status, 200);
    assert_eq!(backup.body["status"], "Backup created");
    assert!(text(&backup.body, "file").ends_with(".backup"));

    // Kick and delete without router_id, resolved the same way.
    let kicked = engine.post("/api/v1/kick", &json!({"user": "go-two"}));
    assert_eq!(
        (kicked.status, kicked.body["kicked"].clone()),
        (200, json!(0))
    );
    assert_eq!(engine.delete("/api/v1/secret/go-two").status, 200);
    assert!(!router.with_state(|s| s.has_secret("go-two")));
}

#[test]
fn a_user_on_one_router_resolves_and_a_name_on_two_is_400_naming_both() {
    let _watchdog = Watchdog::new("go_index_user", Duration::from_secs(60));
    let (sim, engine) = engine(2, 20);
    let created = engine.post(
        "/api/v1/secret",
        &json!({"router_id": 2, "user": "only-on-two", "password": "pw"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let updated = engine.put("/api/v1/secret/only-on-two", &json!({"profile": "20M"}));
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["router_id"], 2);
    assert_eq!(
        sim.routers()[1].with_state(|s| s.secret_property("only-on-two", "profile")),
        Some(b"20M".to_vec())
    );
    let found = engine.get("/api/v1/users/only-on-two");
    assert_eq!(found.status, 200);
    let rows = array(&found);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["router_id"].clone(), rows[0]["router_name"].clone()),
        (json!(2), json!("sim-2"))
    );
    assert_eq!(rows[0]["profile"], "20M");
    assert_eq!(rows[0]["status"], "offline");

    // `alice` is on both routers: never a guess.
    assert!(sim
        .routers()
        .iter()
        .all(|r| r.with_state(|s| s.has_secret("alice"))));
    let ambiguous = engine.put("/api/v1/secret/alice", &json!({"profile": "10M"}));
    assert_eq!(ambiguous.status, 400, "{}", ambiguous.text);
    assert_eq!(ambiguous.body["code"], "router_id_required");
    assert_eq!(ambiguous.body["field"], "router_id");
    assert_eq!(ambiguous.body["candidates"], json!([1, 2]));
    assert!(
        text(&ambiguous.body, "error").contains("1, 2"),
        "{}",
        ambiguous.text
    );
    assert_eq!(array(&engine.get("/api/v1/users/alice")).len(), 2);
    // A user nobody holds, and a create in a fleet of two.
    let unknown = engine.put("/api/v1/secret/nobody-here", &json!({"profile": "10M"}));
    assert_eq!(
        (unknown.status, unknown.body["code"].clone()),
        (400, json!("router_id_required"))
    );
    assert_eq!(unknown.body["candidates"], json!([]));
    let create = engine.post(
        "/api/v1/secret",
        &json!({"user": "x-new", "password": "pw"}),
    );
    assert_eq!(create.status, 400);
    assert_eq!(create.body["candidates"], json!([1, 2]));
    assert!(!sim
        .routers()
        .iter()
        .any(|r| r.with_state(|s| s.has_secret("x-new"))));
    assert_eq!(
        engine.get("/api/v1/users/nobody-here").body["code"],
        "user_not_found"
    );
}

#[test]
fn an_address_resolves_to_the_router_where_it_is_live() {
    let _watchdog = Watchdog::new("go_index_ip", Duration::from_secs(60));
    let (sim, engine) = engine(2, 20);
    let router = &sim.routers()[1];
    let user = router.with_state(|s| s.active_names())[0].clone();
    let address = router
        .with_state(|s| s.session_address(&user))
        .unwrap()
        .to_string();
    let holders = engine.get(&format!("/api/v1/users?ip={address}"));
    let rows = array(&holders);
    assert_eq!(rows.len(), 1, "{}", holders.text);
    assert_eq!(rows[0]["router_id"], 2);
    assert_eq!(rows[0]["username"], user.as_str());
    assert_eq!(rows[0]["online"], true);

    let added = engine.post("/api/v1/isolate", &json!({"ip": address, "action": "add"}));
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["router_id"], 2);
    let listed = |k: usize| {
        sim.routers()[k]
            .with_state(|s| s.address_list_entries())
            .contains(&("ISOLATED".to_owned(), address.clone()))
    };
    assert!(listed(1) && !listed(0));
    let found = engine.get(&format!("/api/v1/users/{user}"));
    let row = array(&found)
        .iter()
        .find(|r| r["router_id"] == 2)
        .cloned()
        .unwrap();
    assert_eq!(
        (row["isolated"].clone(), row["status"].clone()),
        (json!(true), json!("isolated"))
    );
    // Kicked, the address is still known from the isolation list: restore finds the router.
    let kicked = engine.post("/api/v1/kick", &json!({"router_id": 2, "user": user}));
    assert_eq!(kicked.status, 200);
    let removed = engine.post(
        "/api/v1/isolate",
        &json!({"ip": address, "action": "remove"}),
    );
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["router_id"], 2);
    assert_eq!(removed.body["changed"], true);
    assert!(!listed(1));
    let nowhere = engine.post(
        "/api/v1/isolate",
        &json!({"ip": "10.250.250.250", "action": "add"}),
    );
    assert_eq!(
        (nowhere.status, nowhere.body["code"].clone()),
        (400, json!("router_id_required"))
    );
}

#[test]
fn a_new_session_moves_the_index_at_the_next_poll() {
    let _watchdog = Watchdog::new("go_index_poll", Duration::from_secs(60));
    let (sim, engine) = engine(2, 20);
    let router = &sim.routers()[0];
    let user = router
        .with_state(|s| {
            s.secret_names().into_iter().find(|n| {
                !s.is_online(n) && s.secret_property(n, "disabled") != Some(b"true".to_vec())
            })
        })
        .expect("an offline user");
    let before = engine.get(&format!("/api/v1/users/{user}"));
    let row = array(&before)
        .iter()
        .find(|r| r["router_id"] == 1)
        .cloned()
        .unwrap();
    assert_eq!(row["online"], false);
    assert!(router.with_state_mut(|s| s.connect_user(&user)));
    let address = router
        .with_state(|s| s.session_address(&user))
        .unwrap()
        .to_string();
    eventually(
        "the poll sees the new session",
        Duration::from_secs(10),
        || {
            let now = engine.get(&format!("/api/v1/users?ip={address}"));
            now.body.as_array().is_some_and(|rows| {
                rows.iter()
                    .any(|r| r["username"] == user.as_str() && r["online"] == true)
            })
        },
    );
    // The poll reads the isolation list with one extra print: `?list=ISOLATED`, `.proplist`.
    let reads: Vec<Vec<String>> = router
        .with_state(|s| s.recent_commands())
        .iter()
        .filter(|c| c.first() == b"/ip/firewall/address-list/print")
        .map(|c| {
            c.words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .collect();
    assert!(
        reads.iter().any(|words| {
            words
                .iter()
                .any(|w| w == "?list=ISOLATED" || w == "?=list=ISOLATED")
                && words.iter().any(|w| w.starts_with("=.proplist="))
        }),
        "{reads:?}"
    );
    let after = engine.get(&format!("/api/v1/users/{user}"));
    let row = array(&after)
        .iter()
        .find(|r| r["router_id"] == 1)
        .cloned()
        .unwrap();
    assert_eq!(
        (row["online"].clone(), row["ip"].clone()),
        (json!(true), json!(address))
    );
    assert!(row["uptime"].is_string());
}

/// `rel` → URL of a `Link` header.
fn links(header: &str) -> BTreeMap<String, String> {
    header
        .split(", ")
        .filter_map(|part| {
            let (url, rel) = part.split_once("; rel=")?;
            Some((
                rel.trim_matches('"').to_owned(),
                url.trim_start_matches('<').trim_end_matches('>').to_owned(),
            ))
        })
        .collect()
}

#[test]
fn paging_headers_on_first_middle_and_last_pages() {
    let _watchdog = Watchdog::new("go_paging", Duration::from_secs(60));
    let (_sim, engine) = engine(1, 30);
    let all = engine.get("/api/v1/router/1/users");
    assert_eq!(array(&all).len(), 30, "no paging parameters: every secret");
    assert!(all.link.is_none());

    let page = |n: usize| {
        engine.get(&format!(
            "/api/v1/router/1/users?sort=name&page={n}&per_page=12"
        ))
    };
    let base = "/api/v1/router/1/users?sort=name";
    let url = |n: usize| format!("{base}&page={n}&per_page=12");
    let first = page(1);
    assert_eq!(array(&first).len(), 12);
    assert_eq!(first.total_count.as_deref(), Some("30"));
    let rels = links(first.link.as_deref().expect("Link"));
    assert_eq!(rels.get("next"), Some(&url(2)));
    assert_eq!(rels.get("last"), Some(&url(3)));
    assert_eq!(rels.get("first"), Some(&url(1)));
    assert!(!rels.contains_key("prev"));

    let middle = page(2);
    assert_eq!(array(&middle).len(), 12);
    assert_eq!(middle.total_count.as_deref(), Some("30"));
    let rels = links(middle.link.as_deref().expect("Link"));
    assert_eq!(rels.get("prev"), Some(&url(1)));
    assert_eq!(rels.get("next"), Some(&url(3)));
    assert_eq!(rels.get("last"), Some(&url(3)));

    let last = page(3);
    assert_eq!(array(&last).len(), 6);
    let rels = links(last.link.as_deref().expect("Link"));
    assert_eq!(rels.get("prev"), Some(&url(2)));
    assert!(!rels.contains_key("next"));
    assert_eq!(rels.get("last"), Some(&url(3)));

    // The pages together are the whole list, in order, without repeats.
    let names = |a: &Answer| -> Vec<String> {
        array(a)
            .iter()
            .map(|u| text(u, "username").to_owned())
            .collect()
    };
    let paged: Vec<String> = [&first, &middle, &last]
        .iter()
        .flat_map(|a| names(a))
        .collect();
    let mut everyone = names(&all);
    everyone.sort();
    assert_eq!(paged, everyone);

    // Filters count in the total and stay in the links; per_page defaults to 50.
    let filtered = engine.get("/api/v1/router/1/users?status=connected&page=1");
    let connected = array(&all)
        .iter()
        .filter(|u| u["status"] == "connected")
        .count();
    assert_eq!(filtered.total_count, Some(connected.to_string()));
    let rels = links(filtered.link.as_deref().expect("Link"));
    assert_eq!(
        rels.get("last").map(String::as_str),
        Some("/api/v1/router/1/users?status=connected&page=1&per_page=50")
    );
}
