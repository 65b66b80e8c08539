//! `net-engine serve` end to end: routers from a real MariaDB pointing at simulator routers,
//! hot reload after INSERT / UPDATE / disable / DELETE, user sync, a database outage while
//! serving, and a database that is not there at start.

use crate::support::engine::{eventually, simulator, Watchdog};
use crate::support::mysql::{test_settings, PrivateServer};
use crate::support::process::{command, free_port, wait_for_http, ChildGuard};
use mysql::prelude::Queryable;
use net_engine::store::{DbSettings, MysqlStore};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

const KEY: &str = "serve-test-key-0123456789";

fn go_dsn(settings: &DbSettings) -> String {
    format!(
        "{}:{}@tcp({}:{})/{}?parseTime=true",
        settings.user, settings.password, settings.host, settings.port, settings.database
    )
}

fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let request = ureq::request(method, url)
        .set("X-App-Key", KEY)
        .timeout(Duration::from_secs(10));
    let result = match body {
        Some(body) => request.send_string(&body.to_string()),
        None => request.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    (
        status,
        serde_json::from_str(&response.into_string().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

fn insert_router(conn: &mut mysql::Conn, name: &str, port: u16) -> u64 {
    conn.exec_drop(
        "INSERT INTO routers (name, host, port, username, password, enabled) VALUES (?, '127.0.0.1', ?, 'admin', '', 1)",
        (name, port),
    )
    .unwrap();
    conn.last_insert_id()
}

fn count_users(conn: &mut mysql::Conn, router: u64) -> u64 {
    conn.exec_first(
        "SELECT COUNT(*) FROM pppoe_users WHERE router_id = ? AND deleted_at IS NULL",
        (router,),
    )
    .unwrap()
    .unwrap_or(0)
}

#[test]
fn serve_from_mysql_with_reload_sync_and_a_database_outage() {
    let _watchdog = Watchdog::new("serve_mysql", Duration::from_secs(180));
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let store = MysqlStore::connect(&server.settings, Default::default()).expect("connect");
    store.migrate().expect("migrate");
    let mut conn = mysql::Conn::new(net_engine::store::mysql::opts_from_settings(
        &server.settings,
        &Default::default(),
    ))
    .unwrap();
    let sim = simulator(4, 20);
    let ports: Vec<u16> = sim.routers().iter().map(|r| r.addr().port()).collect();
    let first = insert_router(&mut conn, "core-1", ports[0]);
    let second = insert_router(&mut conn, "core-2", ports[1]);

    let api_port = free_port();
    let base = format!("http://127.0.0.1:{api_port}");
    let mut serve = command(&["serve"]);
    serve
        .env("DB_DSN", go_dsn(&server.settings))
        .env("APP_KEY", KEY)
        .env("API_PORT", format!("127.0.0.1:{api_port}"))
        .env("POLL_INTERVAL_S", "1")
        .env("COMMAND_TIMEOUT_S", "3")
        .env("RELOAD_INTERVAL_S", "0")
        .stdout(Stdio::null());
    let mut child = ChildGuard(serve.spawn().expect("serve starts"));
    wait_for_http(&format!("{base}/api/v1/health"), Duration::from_secs(20));

    let (status, routers) = call("GET", &format!("{base}/api/v1/routers"), None);
    assert_eq!(status, 200);
    let list = routers.as_array().unwrap();
    assert_eq!(
        list.iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![first, second]
    );
    assert!(list.iter().all(|r| r["state"] == "online"), "{routers}");
    assert!(!routers.to_string().contains("r0uter"));
    // The first poll after warm-up writes every secret to pppoe_users.
    eventually(
        "users synced after warm-up",
        Duration::from_secs(15),
        || count_users(&mut conn, first) == 20 && count_users(&mut conn, second) == 20,
    );

    // INSERT -> added.
    let third = insert_router(&mut conn, "core-3", ports[2]);
    let (_, report) = call(
        "POST",
        &format!("{base}/api/v1/routers/reload"),
        Some(&json!({})),
    );
    assert_eq!(report, json!({"added": 1, "removed": 0, "restarted": 0}));
    // UPDATE of a port -> restarted, and it now talks to the other simulator router.
    conn.exec_drop(
        "UPDATE routers SET port = ? WHERE id = ?",
        (ports[3], second),
    )
    .unwrap();
    let (_, report) = call(
        "POST",
        &format!("{base}/api/v1/routers/reload"),
        Some(&json!({})),
    );
    assert_eq!(report, json!({"added": 0, "removed": 0, "restarted": 1}));
    // enabled = 0 and DELETE -> removed.
    conn.exec_drop("UPDATE routers SET enabled = 0 WHERE id = ?", (third,))
        .unwrap();
    conn.exec_drop("DELETE FROM routers WHERE id = ?", (first,))
        .unwrap();
    let (_, report) = call(
        "POST",
        &format!("{base}/api/v1/routers/reload"),
        Some(&json!({})),
    );
    assert_eq!(report, json!({"added": 0, "removed": 2, "restarted": 0}));
    let (_, routers) = call("GET", &format!("{base}/api/v1/routers"), None);
    let list = routers.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], second);
    assert_eq!(list[0]["port"], ports[3]);
    eventually("restarted router online", Duration::from_secs(10), || {
        call("GET", &format!("{base}/api/v1/routers"), None).1[0]["state"] == "online"
    });

    // The database goes away: the API keeps answering from memory.
    server.down();
    let (status, users) = call("GET", &format!("{base}/api/v1/router/{second}/users"), None);
    assert_eq!(status, 200);
    assert_eq!(users.as_array().map(Vec::len), Some(20));
    let (status, _) = call(
        "GET",
        &format!("{base}/api/v1/router/{second}/health?live=1"),
        None,
    );
    assert_eq!(status, 200);
    let (status, body) = call(
        "POST",
        &format!("{base}/api/v1/routers/reload"),
        Some(&json!({})),
    );
    assert_eq!(status, 503, "{body}");
    // A change made meanwhile is written once the database is back.
    let (status, body) = call(
        "POST",
        &format!("{base}/api/v1/secret"),
        Some(&json!({"router_id": second, "user": "during-outage", "password": "pw"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{base}/api/v1/sync/{second}"),
        Some(&json!({})),
    );
    assert_eq!(
        status, 503,
        "storing fails while the database is down: {body}"
    );
    std::thread::sleep(Duration::from_secs(2));
    server.up();
    let mut conn = mysql::Conn::new(net_engine::store::mysql::opts_from_settings(
        &server.settings,
        &Default::default(),
    ))
    .unwrap();
    eventually("the queued write lands", Duration::from_secs(40), || {
        let found: Option<u64> = conn
            .exec_first("SELECT COUNT(*) FROM pppoe_users WHERE router_id = ? AND username = 'during-outage'", (second,))
            .unwrap();
        found == Some(1)
    });
    let (status, body) = call(
        "POST",
        &format!("{base}/api/v1/sync/{second}"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secrets"], 21);
    assert!(body["stored"].is_number());
    assert!(child.terminate(Duration::from_secs(5)).success());
}

#[test]
fn serve_waits_for_an_unreachable_database_and_still_stops_on_sigterm() {
    let _watchdog = Watchdog::new("serve_no_db", Duration::from_secs(60));
    if test_settings().is_none() {
        return;
    }
    let closed = free_port();
    let mut serve = command(&["serve"]);
    serve
        .env(
            "DB_DSN",
            format!("netengine:pw@tcp(127.0.0.1:{closed})/netengine"),
        )
        .env("APP_KEY", KEY)
        .env("API_PORT", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(serve.spawn().expect("serve starts"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "serve must keep retrying, not exit"
    );
    let status = child.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(
        !stderr.contains(":pw@"),
        "the password never appears in logs"
    );
}

#[test]
fn migrate_and_seed_commands() {
    let _watchdog = Watchdog::new("migrate_seed", Duration::from_secs(60));
    let Some(database) = crate::support::mysql::TestDatabase::create("cli") else {
        return;
    };
    let dsn = go_dsn(&database.settings);
    for expected in ["applied", "schema is up to date"] {
        let output = command(&["migrate"]).env("DB_DSN", &dsn).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.starts_with(expected), "{stdout}");
    }
    let csv = tempfile::Builder::new()
        .prefix("routers-")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    std::fs::write(csv.path(), "name,host,port,username,password\nedge-1,127.0.0.1,18728,admin,\"p,w\"\nedge-1b,127.0.0.1,18728,admin,x\n").unwrap();
    let output = command(&["seed", "--file", csv.path().to_str().unwrap()])
        .env("DB_DSN", &dsn)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("inserted 1 router(s), skipped 1 duplicate(s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("p,w"));
    drop(csv);
    let output = command(&["migrate"])
        .env("DB_DSN", "not a dsn")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DB_DSN"));
}
