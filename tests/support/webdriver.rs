//! A W3C WebDriver client for Debian's headless chromium, driven through chromedriver over
//! loopback HTTP: open pages, find, click and type, run scripts, read logs and screenshots.
//!
//! Every WebDriver call has a timeout. No browser is downloaded: the client uses
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` from the `chromium` and `chromium-driver`
//! packages (the README's test command installs them).

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::browser::ProcessGroup;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C name of the key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser tests can run here. When they cannot: `Err` with the reason; the caller
/// fails under CI (env `CI` set) and skips otherwise.
pub fn browser_available() -> Result<(), String> {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(binary).exists() {
            return Err(format!(
                "{binary} is missing (apt-get install chromium chromium-driver)"
            ));
        }
    }
    Ok(())
}

/// `Some(())` when the browser test should run; `None` (after saying so) when it is skipped.
/// Panics under CI, where a missing browser is a broken setup, not a reason to skip.
pub fn require_browser_or_skip(test: &str) -> Option<()> {
    match browser_available() {
        Ok(()) => Some(()),
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("{test}: {reason}; CI must have the browser")
        }
        Err(reason) => {
            eprintln!("{test}: skipped: {reason}");
            None
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1 (for programs that need a fixed `--port`).
fn free_loopback_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    Ok(port)
}

/// A WebDriver session on headless chromium. Dropping it ends the session and kills
/// chromedriver's process group (which holds chromium).
pub struct Browser {
    agent: ureq::Agent,
    session_url: String,
    driver: Option<ProcessGroup>,
    _profile: TempDir,
}

/// How the browser was told to fail, from WebDriver's error object.
#[derive(Debug)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "webdriver {} {}: {}",
            self.status, self.error, self.message
        )
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless chromium session.
    pub fn launch() -> Result<Browser, String> {
        let profile = tempfile::Builder::new()
            .prefix("net-engine-chromium-")
            .tempdir()
            .map_err(|e| format!("profile directory: {e}"))?;
        let port = free_loopback_port()?;
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = ProcessGroup::spawn(command, "chromedriver")?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build();
        let driver_url = format!("http://127.0.0.1:{port}");

        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = agent
                .get(&format!("{driver_url}/status"))
                .call()
                .ok()
                .and_then(|response| response.into_string().ok())
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .is_some_and(|status| status["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready within 20 s".into());
            }
            thread::sleep(Duration::from_millis(100));
        }

        let user_data_dir = profile.path().join("profile");
        let arguments = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--disable-default-apps".into(),
            "--force-device-scale-factor=1".into(),
            "--window-size=1440,1000".into(),
            "--lang=en-US".into(),
            // Belt and braces: no host name resolves, so nothing could reach past loopback
            // even if a page tried. Attempts still show in the network log the test reads.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": arguments },
                    "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
                    "timeouts": { "implicit": 0, "pageLoad": 30000, "script": 30000 }
                }
            }
        });
        let mut browser = Browser {
            agent,
            session_url: String::new(),
            driver: Some(driver),
            _profile: profile,
        };
        let created = browser
            .send("POST", &format!("{driver_url}/session"), Some(capabilities))
            .map_err(|e| format!("cannot open a chromium session: {e}"))?;
        let session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {created}"))?;
        browser.session_url = format!("{driver_url}/session/{session}");
        Ok(browser)
    }

    fn send(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let request = self
            .agent
            .request(method, url)
            .set("Content-Type", "application/json");
        let result = match body {
            Some(body) => request.send_string(&body.to_string()),
            None if method == "POST" => request.send_string("{}"),
            None => request.call(),
        };
        let (status, text) = match result {
            Ok(response) => (response.status(), read_body(response)),
            Err(ureq::Error::Status(status, response)) => (status, read_body(response)),
            Err(other) => {
                return Err(WebDriverError {
                    status: 0,
                    error: "transport".into(),
                    message: other.to_string(),
                })
            }
        };
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let value = parsed.get("value").cloned().unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(WebDriverError {
                status,
                error: value["error"].as_str().unwrap_or("unknown").to_string(),
                message: value["message"]
                    .as_str()
                    .unwrap_or(&text)
                    .chars()
                    .take(400)
                    .collect(),
            })
        }
    }

    /// One WebDriver command on this session; `path` starts with `/` (`/url`, `/element`...).
    pub fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        self.send(method, &format!("{}{path}", self.session_url), body)
    }

    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
            .map_err(|e| format!("open {url}: {e}"))
    }

    pub fn current_url(&self) -> Result<String, String> {
        self.command("GET", "/url", None)
            .map(|value| value.as_str().unwrap_or_default().to_string())
            .map_err(|e| e.to_string())
    }

    /// The element matching `css` now, if any.
    pub fn find(&self, css: &str) -> Result<Option<String>, String> {
        let body = json!({ "using": "css selector", "value": css });
        match self.command("POST", "/element", Some(body)) {
            Ok(value) => Ok(value[ELEMENT_KEY].as_str().map(str::to_string)),
            Err(e) if e.error == "no such element" => Ok(None),
            Err(e) => Err(format!("find {css}: {e}")),
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .map_err(|e| format!("script failed: {e}\n{script}"))
    }

    /// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout` naming `what`
    /// and the last value seen.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Browser) -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut last_error = String::new();
        loop {
            match check(self) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(e) => last_error = e,
            }
            if Instant::now() > deadline {
                let detail = if last_error.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {last_error})")
                };
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}{detail}"
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a visible element matches `css`; returns its reference.
    pub fn wait_visible(&self, css: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for(&format!("{css} to be visible"), timeout, |browser| {
            let Some(element) = browser.find(css)? else {
                return Ok(None);
            };
            let shown = browser
                .command("GET", &format!("/element/{element}/displayed"), None)
                .map_err(|e| e.to_string())?;
            Ok((shown == json!(true)).then_some(element))
        })
    }

    pub fn click(&self, css: &str) -> Result<(), String> {
        let element = self.wait_visible(css, Duration::from_secs(10))?;
        // WebDriver scrolls a target only just into view, where the sticky top bar may cover
        // it: centre it first when something else is on top of its middle.
        self.execute(
            "const e = arguments[0]; const r = e.getBoundingClientRect();\
             const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);\
             if (!hit || !(hit === e || e.contains(hit))) e.scrollIntoView({ block: 'center' });",
            vec![json!({ ELEMENT_KEY: element })],
        )?;
        self.command("POST", &format!("/element/{element}/click"), None)
            .map(|_| ())
            .map_err(|e| format!("click {css}: {e}"))
    }

    /// Clears the input matching `css`, then types `text` into it like a user.
    pub fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.wait_visible(css, Duration::from_secs(10))?;
        self.command("POST", &format!("/element/{element}/clear"), None)
            .map_err(|e| format!("clear {css}: {e}"))?;
        if text.is_empty() {
            // Clearing fires no input event; the page listens for one.
            self.execute(
                "arguments[0].dispatchEvent(new Event('input', { bubbles: true }));",
                vec![json!({ ELEMENT_KEY: element })],
            )?;
            return Ok(());
        }
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
        .map_err(|e| format!("type into {css}: {e}"))
    }

    /// The rendered text of the first element matching `css`, `None` when there is none.
    pub fn text(&self, css: &str) -> Result<Option<String>, String> {
        let value = self.execute(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            vec![json!(css)],
        )?;
        Ok(value.as_str().map(|text| text.trim().to_string()))
    }

    /// Attribute `name` of every element matching `css`, in document order.
    pub fn attributes(&self, css: &str, name: &str) -> Result<Vec<String>, String> {
        let value = self.execute(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]) || '');",
            vec![json!(css), json!(name)],
        )?;
        Ok(value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        let encoded = self
            .command("GET", "/screenshot", None)
            .map_err(|e| format!("screenshot: {e}"))?;
        let text = encoded.as_str().unwrap_or_default();
        let png = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("screenshot is not base64: {e}"))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Every URL the browser asked for since the last call (from Chrome's performance log of
    /// DevTools `Network.requestWillBeSent` events, so failed and blocked requests count too).
    pub fn requested_urls(&self) -> Result<Vec<String>, String> {
        let entries = self
            .command("POST", "/se/log", Some(json!({ "type": "performance" })))
            .map_err(|e| format!("performance log: {e}"))?;
        let mut urls = Vec::new();
        for entry in entries.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            if event["message"]["method"] == "Network.requestWillBeSent" {
                if let Some(url) = event["message"]["params"]["request"]["url"].as_str() {
                    urls.push(url.to_string());
                }
            }
        }
        Ok(urls)
    }

    /// Console messages of level SEVERE since the last call (JS exceptions, failed loads).
    pub fn severe_console_messages(&self) -> Result<Vec<String>, String> {
        let entries = self
            .command("POST", "/se/log", Some(json!({ "type": "browser" })))
            .map_err(|e| format!("browser log: {e}"))?;
        Ok(entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .filter_map(|entry| entry["message"].as_str().map(str::to_string))
            .collect())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session_url.is_empty() {
            let _ = self.agent.delete(&self.session_url).call();
        }
        self.driver.take();
    }
}

fn read_body(response: ureq::Response) -> String {
    let mut text = String::new();
    let _ = response
        .into_reader()
        .take(64 * 1024 * 1024)
        .read_to_string(&mut text);
    text
}
