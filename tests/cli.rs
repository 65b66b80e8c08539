//! The built binary: `sim` and `check` from the command line, `demo` shutting down on
//! SIGTERM while requests are in flight, and configuration errors.

use crate::support::engine::Watchdog;
use crate::support::process::{command, spawn_and_read};
use std::time::Duration;

fn ports(lines: &[String]) -> Vec<u16> {
    lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("router ")
                .and_then(|rest| rest.rsplit(':').next())
                .and_then(|p| p.trim().parse().ok())
        })
        .collect()
}

#[test]
fn sim_from_the_command_line_and_check_against_it() {
    let _watchdog = Watchdog::new("sim_check", Duration::from_secs(60));
    let (_sim, lines) = spawn_and_read(
        command(&[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--routers",
            "2",
            "--users",
            "5",
        ]),
        |l| ports(l).len() == 2,
    );
    let port = ports(&lines)[0].to_string();
    let output = command(&[
        "check",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "admin",
    ])
    .env("ROUTER_PASSWORD", "")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "check failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("identity: sim-1"), "{stdout}");
    assert!(stdout.contains("version:  7.18"), "{stdout}");
    assert!(stdout.contains("rtt:"), "{stdout}");

    // A reader that goes away (`net-engine check ... | head -c 100`) is no reason to panic:
    // the pipe is closed before the binary writes anything.
    for args in [
        vec!["check", "--host", "127.0.0.1", "--port", port.as_str()],
        vec!["--help"],
        vec!["sim", "--help"],
    ] {
        let mut child = command(&args)
            .env("ROUTER_PASSWORD", "")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }

    let (_refusing, lines) = spawn_and_read(
        command(&[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--routers",
            "1",
            "--fault",
            "refuse-login",
        ]),
        |l| ports(l).len() == 1,
    );
    let port = ports(&lines)[0].to_string();
    let output = command(&["check", "--host", "127.0.0.1", "--port", &port])
        .env("ROUTER_PASSWORD", "")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid user name or password"), "{stderr}");

    let usage = command(&["check"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn demo_exits_cleanly_on_sigterm_with_requests_in_flight() {
    let _watchdog = Watchdog::new("demo_sigterm", Duration::from_secs(60));
    let mut demo = command(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--routers",
        "2",
        "--users",
        "50",
    ]);
    demo.env("APP_KEY", "demo-test-key-0123456789");
    let (mut child, lines) = spawn_and_read(demo, |l| l.iter().any(|x| x.contains("API key:")));
    let url = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("dashboard: "))
        .expect("dashboard line")
        .trim_end_matches('/')
        .to_owned();
    let key = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key, "demo-test-key-0123456789");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let text = agent
        .get(&format!("{url}/api/v1/routers"))
        .set("X-App-Key", &key)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let routers: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = routers.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["host"], "127.0.0.1");
    assert!(list[0]["port"].as_u64().unwrap() > 0);
    // Keep requests flowing while the signal arrives.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (agent, url, key, stop) = (agent.clone(), url.clone(), key.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = agent
                        .get(&format!("{url}/api/v1/router/1/health?live=1"))
                        .set("X-App-Key", &key)
                        .call();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let status = child.terminate(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for worker in workers {
        let _ = worker.join();
    }
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn bad_configuration_is_one_line_naming_the_variable_and_exit_2() {
    let output = command(&["serve"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("APP_KEY"));
    let output = command(&["demo"])
        .env("API_PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API_PORT"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let output = command(&["frobnicate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}
