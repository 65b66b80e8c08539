//! `net-engine serve` without MySQL: routers from a CSV file (`ROUTERS_FILE`) pointing at
//! simulator routers, re-read when the file changes and on `POST /routers/reload`, with a
//! malformed line reported by its number and skipped.

use crate::support::engine::{eventually, simulator, Watchdog};
use crate::support::process::{command, free_port, wait_for_http, ChildGuard};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const KEY: &str = "serve-file-key-0123456789";

fn call(method: &str, url: &str) -> (u16, Value) {
    let request = ureq::request(method, url)
        .set("X-App-Key", KEY)
        .timeout(Duration::from_secs(10));
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Writes the file through a rename, as editors and config tools do, so the engine never
/// reads half a file.
fn write_routers(path: &Path, lines: &[String]) {
    let staging = path.with_extension("new");
    let mut text = String::from("name,host,port,username,password\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&staging, text).expect("write routers file");
    std::fs::rename(&staging, path).expect("rename routers file");
}

fn router_line(name: &str, port: u16) -> String {
    format!("{name},127.0.0.1,{port},admin,")
}

/// `(routers_total, routers_online)` from the public health answer.
fn fleet_size(base: &str) -> (u64, u64) {
    let (_, health) = call("GET", &format!("{base}/api/v1/health"));
    (
        health["routers_total"].as_u64().unwrap_or(0),
        health["routers_online"].as_u64().unwrap_or(0),
    )
}

#[test]
fn serve_from_a_routers_file_reloads_on_change_and_skips_a_bad_line() {
    let _watchdog = Watchdog::new("serve_routers_file", Duration::from_secs(90));
    let sim = simulator(3, 10);
    let ports: Vec<u16> = sim.routers().iter().map(|r| r.addr().port()).collect();
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("routers.csv");
    write_routers(
        &path,
        &[
            router_line("core-1", ports[0]),
            "broken,127.0.0.1,not-a-port,admin,".to_owned(),
            router_line("core-2", ports[1]),
        ],
    );
    let api_port = free_port();
    let base = format!("http://127.0.0.1:{api_port}");
    let mut serve = command(&["serve"]);
    serve
        .env("ROUTERS_FILE", &path)
        .env("AUDIT_FILE", directory.path().join("audit.jsonl"))
        .env("APP_KEY", KEY)
        .env("API_PORT", format!("127.0.0.1:{api_port}"))
        .env("POLL_INTERVAL_S", "1")
        .env("RELOAD_INTERVAL_S", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(serve.spawn().expect("serve starts without MySQL"));
    wait_for_http(&format!("{base}/api/v1/health"), Duration::from_secs(20));
    eventually("both good routers online", Duration::from_secs(10), || {
        fleet_size(&base) == (2, 2)
    });

    // Appending a router: picked up from the file change alone.
    write_routers(
        &path,
        &[
            router_line("core-1", ports[0]),
            "broken,127.0.0.1,not-a-port,admin,".to_owned(),
            router_line("core-2", ports[1]),
            router_line("core-3", ports[2]),
        ],
    );
    eventually(
        "the appended router is served",
        Duration::from_secs(10),
        || fleet_size(&base) == (3, 3),
    );
    // Removing the last one, then asking for a reload at once: the router is gone whichever
    // of the watcher and the request reads the file first.
    write_routers(
        &path,
        &[
            router_line("core-1", ports[0]),
            "broken,127.0.0.1,not-a-port,admin,".to_owned(),
            router_line("core-2", ports[1]),
        ],
    );
    let (status, report) = call("POST", &format!("{base}/api/v1/routers/reload"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["added"], 0, "{report}");
    eventually(
        "the removed router is stopped",
        Duration::from_secs(10),
        || fleet_size(&base) == (2, 2),
    );
    let (_, report) = call("POST", &format!("{base}/api/v1/routers/reload"));
    assert_eq!(
        report,
        serde_json::json!({"added": 0, "removed": 0, "restarted": 0}),
        "an unchanged file changes nothing"
    );

    // A file that no longer parses keeps the routers we have.
    std::fs::write(&path, "this is not,a routers file\n").expect("write");
    let (status, answer) = call("POST", &format!("{base}/api/v1/routers/reload"));
    assert_eq!(status, 503, "{answer}");
    assert_eq!(fleet_size(&base), (2, 2));

    assert!(child.terminate(Duration::from_secs(10)).success());
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("read stderr");
    }
    assert!(
        stderr.contains("routers.csv line 3: port must be a number from 1 to 65535"),
        "the bad line is reported with its number: {stderr}"
    );
    assert!(stderr.contains("record skipped"), "{stderr}");
}

#[test]
fn serve_refuses_a_routers_file_it_cannot_read() {
    let _watchdog = Watchdog::new("serve_routers_file_missing", Duration::from_secs(30));
    let output = command(&["serve"])
        .env("ROUTERS_FILE", "/nonexistent/net-engine/routers.csv")
        .env("APP_KEY", KEY)
        .env("API_PORT", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("serve runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ROUTERS_FILE"), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/net-engine/routers.csv"),
        "{stderr}"
    );
}
