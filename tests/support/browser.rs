//! Processes for the browser tests: `net-engine demo` on loopback, child process groups that a
//! watchdog can kill, raw HTTP requests with hostile paths, and where screenshots go.
//!
//! Everything binds 127.0.0.1 only. A [`Watchdog`] kills the browser and the engine and fails
//! the run if a test hangs anyway. The WebDriver client itself is in `webdriver.rs`.

pub use super::wait::Watchdog;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Process groups to kill if the watchdog fires (chromedriver's group holds chromium too).
static PROCESS_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A child process in its own process group, killed with that group on drop.
pub struct ProcessGroup {
    child: Child,
}

impl ProcessGroup {
    pub fn spawn(mut command: Command, name: &str) -> Result<ProcessGroup, String> {
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        if let Ok(mut groups) = PROCESS_GROUPS.lock() {
            groups.push(child.id());
        }
        Ok(ProcessGroup { child })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` when the process has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let pid = self.child.id();
        kill_group(pid);
        let _ = self.child.wait();
        if let Ok(mut groups) = PROCESS_GROUPS.lock() {
            groups.retain(|group| *group != pid);
        }
    }
}

fn kill_group(pid: u32) {
    // std has no killpg; the `kill` utility takes a negative pid for a whole process group.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The shared watchdog, killing every process group started here before it fails the run.
pub fn watchdog(limit: Duration, what: &str) -> Watchdog {
    Watchdog::with_action(what, limit, || {
        if let Ok(groups) = PROCESS_GROUPS.lock() {
            groups.iter().for_each(|pid| kill_group(*pid));
        }
    })
}

/// `net-engine demo` on 127.0.0.1:0, with the URL and key it printed.
pub struct DemoEngine {
    /// Base URL without the trailing slash, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    pub key: String,
    _process: ProcessGroup,
}

impl DemoEngine {
    /// Starts the demo and waits (at most 60 s) for its `dashboard:` and `API key:` lines.
    pub fn start(routers: u32, users: u32) -> Result<DemoEngine, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_net-engine"));
        command
            .args(["demo", "--listen", "127.0.0.1:0"])
            .args([
                "--routers",
                &routers.to_string(),
                "--users",
                &users.to_string(),
            ])
            .env_remove("APP_KEY")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = ProcessGroup::spawn(command, "net-engine demo")?;
        let stdout = process
            .child_mut()
            .stdout
            .take()
            .ok_or("demo has no stdout")?;
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        thread::Builder::new()
            .name("demo-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    println!("demo: {line}");
                    if lines_tx.send(line).is_err() {
                        // Nobody listens any more; keep draining so the demo never blocks.
                        continue;
                    }
                }
            })
            .map_err(|e| format!("spawn reader: {e}"))?;

        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut base_url, mut key) = (None, None);
        while base_url.is_none() || key.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("demo did not print its URL and key within 60 s".into());
            }
            match lines_rx.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) => {
                    if let Some(url) = parse_after(&line, "dashboard:") {
                        base_url = Some(url.trim_end_matches('/').to_string());
                    } else if let Some(found) = parse_after(&line, "API key:") {
                        key = Some(found.to_string());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = process.exited() {
                        return Err(format!("demo exited early: {status}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("demo closed stdout before printing its URL and key".into());
                }
            }
        }
        Ok(DemoEngine {
            base_url: base_url.unwrap_or_default(),
            key: key.unwrap_or_default(),
            _process: process,
        })
    }
}

/// The first whitespace-separated word after `label` in `line`.
fn parse_after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let start = line.find(label)? + label.len();
    line[start..].split_whitespace().next()
}

/// One raw HTTP/1.1 GET, with the path sent exactly as given (no client-side clean-up of `..`
/// or escapes), for testing what the server does with hostile paths.
pub struct RawAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == &name.to_ascii_lowercase())
            .map(|(_, value)| value.as_str())
    }
}

pub fn raw_get(base_url: &str, path: &str) -> Result<RawAnswer, String> {
    use std::io::Write;
    let address = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {base_url}"))?;
    let mut stream =
        std::net::TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
        .map_err(|e| format!("timeouts: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .take(64 * 1024 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(RawAnswer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Where screenshots go: `$CARGO_TARGET_DIR`, else the crate's `target/`.
pub fn artifact_path(file: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_banner_lines_parse() {
        assert_eq!(
            parse_after("  dashboard: http://127.0.0.1:4321/", "dashboard:"),
            Some("http://127.0.0.1:4321/")
        );
        assert_eq!(
            parse_after("  API key:   abc123", "API key:"),
            Some("abc123")
        );
        assert_eq!(parse_after("net-engine demo: 3 routers", "API key:"), None);
    }
}
