//! Running the built `net-engine` binary in tests: a child that is always killed, free
//! loopback ports, and waiting for an HTTP server to answer.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_net-engine");

/// A child process killed when the test ends, whatever happens.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Sends SIGTERM and waits at most `limit` for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("wait on child") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "process did not exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `net-engine ARGS` with no inherited engine configuration and quiet logs.
pub fn command(args: &[&str]) -> Command {
    command_through(&[], args)
}

/// [`command`], started through `prefix` (e.g. `prlimit --nofile=1024 --`) when not empty.
pub fn command_through(prefix: &[&str], args: &[&str]) -> Command {
    let mut command = match prefix.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(BIN);
            command
        }
        None => Command::new(BIN),
    };
    command
        .args(args)
        .env_remove("APP_KEY")
        .env_remove("API_PORT")
        .env_remove("DB_DSN")
        .env_remove("ROUTERS_FILE")
        .env_remove("AUDIT_FILE")
        .env_remove("WEBHOOK_URL")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "warn");
    command
}

/// The API address from a demo's `dashboard: http://ADDR/` line.
pub fn dashboard_addr(lines: &[String]) -> std::net::SocketAddr {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("dashboard: http://"))
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .expect("dashboard line")
}

/// Starts `command` and collects stdout lines until `done` says enough (10 s limit).
pub fn spawn_and_read(
    mut command: Command,
    done: impl Fn(&[String]) -> bool,
) -> (ChildGuard, Vec<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let guard = ChildGuard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("process did not print what was expected; got {lines:?}"),
        }
    }
    (guard, lines)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Waits until `url` answers 200 (panics after `limit`).
pub fn wait_for_http(url: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(response) = ureq::get(url).timeout(Duration::from_secs(1)).call() {
            if response.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
