//! Operations artefacts checked by the tools that consume them: the systemd unit
//! (`systemd-analyze verify` and `security --offline`) and the `/metrics` text (`promtool
//! check metrics`, when promtool is installed; the Rust parser is the required check).

use crate::support::prometheus::parse_exposition;
use net_engine::metrics::{Metrics, RouterGauges, ScrapeSnapshot, WebhookTotals};
use net_engine::model::RouterId;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

const UNIT_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/net-engine.service");
const SYSTEMD_INSTALL: &str = "apt-get install -y --no-install-recommends systemd";

/// `[Section] Key=Value` entries in file order; a key may repeat.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        entries.push((
            section.clone(),
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    entries
}

fn find_tool(name: &str, override_variable: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(override_variable) {
        return Some(PathBuf::from(path));
    }
    let search_path = std::env::var_os("PATH")?;
    std::env::split_paths(&search_path)
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

/// A fresh directory under the system temp dir, removed when the value is dropped.
fn temp_dir(what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("net-engine-{what}-"))
        .tempdir()
        .expect("create a temp dir")
}

/// The unit as shipped, with ExecStart pointing at the binary this test run built (verify
/// checks that the executable exists).
fn unit_copy_with_built_binary(directory: &Path, extra_line: Option<&str>) -> PathBuf {
    let shipped = std::fs::read_to_string(UNIT_FILE).unwrap();
    let binary = env!("CARGO_BIN_EXE_net-engine");
    let mut text = String::new();
    for line in shipped.lines() {
        if line.starts_with("ExecStart=") {
            text.push_str(&format!("ExecStart={binary} serve\n"));
            if let Some(extra) = extra_line {
                text.push_str(extra);
                text.push('\n');
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let path = directory.join("net-engine.service");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `systemd-analyze verify` and returns its complaints about our unit file.
fn verify_complaints(systemd_analyze: &Path, unit: &Path) -> (bool, Vec<String>) {
    let output = Command::new(systemd_analyze)
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("run systemd-analyze");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // On a host where systemd runs, verify may also talk about unrelated installed units.
    let ours = all
        .lines()
        .filter(|line| line.contains("net-engine"))
        .map(str::to_string)
        .collect();
    (output.status.success(), ours)
}

/// `None` when the tool is missing outside CI (the test prints that it skipped); panics in CI.
fn systemd_analyze_or_skip(test: &str) -> Option<PathBuf> {
    let tool = find_tool("systemd-analyze", "SYSTEMD_ANALYZE");
    if tool.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("systemd-analyze is missing in CI; install it with: {SYSTEMD_INSTALL}");
        }
        eprintln!("{test}: skipped, systemd-analyze not installed ({SYSTEMD_INSTALL})");
    }
    tool
}

#[test]
fn unit_file_has_the_required_settings() {
    let entries = unit_entries(&std::fs::read_to_string(UNIT_FILE).unwrap());
    let value_of = |section: &str, key: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    let required: &[(&str, &str, &str)] = &[
        ("Service", "Type", "notify"),
        ("Service", "ExecStart", "/usr/local/bin/net-engine serve"),
        (
            "Service",
            "EnvironmentFile",
            "/etc/net-engine/net-engine.env",
        ),
        ("Service", "User", "net-engine"),
        ("Service", "Group", "net-engine"),
        ("Service", "Restart", "on-failure"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "CapabilityBoundingSet", ""),
        ("Service", "AmbientCapabilities", ""),
        ("Service", "ProtectSystem", "strict"),
        ("Service", "ProtectHome", "yes"),
        ("Service", "PrivateTmp", "yes"),
        ("Service", "PrivateDevices", "yes"),
        ("Service", "ProtectKernelTunables", "yes"),
        ("Service", "ProtectKernelModules", "yes"),
        ("Service", "ProtectKernelLogs", "yes"),
        ("Service", "ProtectControlGroups", "yes"),
        ("Service", "ProtectClock", "yes"),
        ("Service", "ProtectHostname", "yes"),
        (
            "Service",
            "RestrictAddressFamilies",
            "AF_INET AF_INET6 AF_UNIX",
        ),
        ("Service", "RestrictNamespaces", "yes"),
        ("Service", "RestrictRealtime", "yes"),
        ("Service", "LockPersonality", "yes"),
        ("Service", "MemoryDenyWriteExecute", "yes"),
        ("Service", "SystemCallArchitectures", "native"),
        ("Service", "SystemCallFilter", "@system-service"),
        ("Service", "UMask", "0077"),
        ("Install", "WantedBy", "multi-user.target"),
    ];
    for (section, key, value) in required {
        let values = value_of(section, key);
        assert!(
            values.contains(value),
            "[{section}] {key}={value} missing (found {values:?})"
        );
    }
    for (section, key) in [
        ("Service", "RestartSec"),
        ("Service", "WorkingDirectory"),
        ("Service", "TimeoutStopSec"),
        ("Service", "LimitNOFILE"),
        ("Service", "WatchdogSec"),
    ] {
        assert!(
            !value_of(section, key).is_empty(),
            "[{section}] {key} missing"
        );
    }
    // Never root, never a capability: binding :8080 needs none.
    assert!(!entries.iter().any(|(_, k, v)| k == "User" && v == "root"));
    assert!(!entries
        .iter()
        .any(|(_, k, v)| k.contains("Capabilit") && v.contains("CAP_")));
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_and_catches_a_broken_one() {
    let Some(systemd_analyze) = systemd_analyze_or_skip("systemd_analyze_verify") else {
        return;
    };
    let directory = temp_dir("unit");
    let unit = unit_copy_with_built_binary(directory.path(), None);
    let (success, complaints) = verify_complaints(&systemd_analyze, &unit);
    assert!(
        success && complaints.is_empty(),
        "verify failed: {complaints:#?}"
    );

    // The same check must notice a mistake, or it proves nothing.
    let broken_directory = temp_dir("unit-broken");
    let broken = unit_copy_with_built_binary(broken_directory.path(), Some("ProtectSytem=strict"));
    let (_, complaints) = verify_complaints(&systemd_analyze, &broken);
    assert!(
        complaints.iter().any(|line| line.contains("ProtectSytem")),
        "verify did not flag a misspelt key: {complaints:#?}"
    );
    directory.close().expect("remove the unit dir");
    broken_directory
        .close()
        .expect("remove the broken unit dir");
}

#[test]
fn systemd_security_exposure_is_low() {
    let Some(systemd_analyze) = systemd_analyze_or_skip("systemd_security_exposure") else {
        return;
    };
    let directory = temp_dir("unit-security");
    let unit = unit_copy_with_built_binary(directory.path(), None);
    let output = Command::new(&systemd_analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze security");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    directory.close().expect("remove the unit dir");
    if text.contains("unrecognized option") {
        // `--offline` needs systemd 250 or later.
        eprintln!("systemd_security_exposure: skipped, systemd-analyze has no --offline");
        return;
    }
    let exposure: f64 = text
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for net-engine.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    // 0 is fully locked down, 10 is unprotected; what is left is network access itself.
    assert!(exposure <= 2.0, "exposure {exposure}:\n{text}");
}

#[test]
fn promtool_accepts_the_metrics_output_when_installed() {
    let metrics = Metrics::new(env!("CARGO_PKG_VERSION"));
    metrics.command_observed(RouterId(1), 0.003);
    metrics.command_observed(RouterId(2), 12.0);
    metrics.reconnect(RouterId(2));
    metrics.http_request("/api/v1/router/:id/health", 200, 0.002);
    metrics.http_request("/api/v1/routers", 401, 0.0001);
    let router = |id: u64, name: &str, up: bool| RouterGauges {
        router_id: RouterId(id),
        name: name.to_string(),
        up,
        queue_depth: 0,
        active_sessions: 180,
        reconnects: 0,
    };
    let snapshot = ScrapeSnapshot {
        routers: vec![
            router(1, "Tower \"A\" \\ north", true),
            router(2, "core\nline", false),
        ],
        webhook: WebhookTotals {
            delivered: 3,
            failed: 1,
            dropped: 0,
            retried: 2,
        },
    };
    let text = metrics.render(&snapshot);
    parse_exposition(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));

    let Some(promtool) = find_tool("promtool", "PROMTOOL") else {
        eprintln!("promtool_accepts_the_metrics_output: skipped, promtool not installed");
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{report}\n{text}"
    );
}
