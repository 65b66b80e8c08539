//! The dashboard and Swagger UI in a real headless chromium, against `net-engine demo`.
//!
//! The dashboard reads API v1's Go shapes (bare arrays, the users page's totals in the
//! `X-Total-Count` and `Link` headers, health `cpu`/`total_memory`/`free_memory`/`uptime` text,
//! traffic `rx`/`tx`), so every step below also proves those shapes are what the engine answers:
//! a shape it cannot read leaves the page empty or logs a "dashboard bug", and the test fails.
//!
//! Needs Debian's `chromium` and `chromium-driver`: skipped (with a message) when they are
//! missing, a failure when env `CI` is set. Leaves `dashboard.png` and `swagger.png` in the
//! target directory for people to look at.
//!
//! To point the same checks at an engine that is already running (while working on the
//! dashboard), set `NET_ENGINE_BROWSER_TARGET="http://127.0.0.1:PORT KEY"`; the test then adds
//! the user `ui-test-<pid>` to that engine's first router.

use std::time::Duration;

use serde_json::json;

use crate::support::browser::{artifact_path, raw_get, watchdog, DemoEngine};
use crate::support::webdriver::{require_browser_or_skip, Browser};

const ROUTERS: usize = 2;
const USERS: usize = 300;
const SHORT: Duration = Duration::from_secs(10);
const LONG: Duration = Duration::from_secs(30);

struct Target {
    base_url: String,
    key: String,
    demo: Option<DemoEngine>,
}

fn target() -> Target {
    if let Ok(given) = std::env::var("NET_ENGINE_BROWSER_TARGET") {
        let mut words = given.split_whitespace();
        let base_url = words.next().unwrap_or_default().trim_end_matches('/');
        let key = words.next().unwrap_or_default();
        return Target {
            base_url: base_url.to_string(),
            key: key.to_string(),
            demo: None,
        };
    }
    let demo = DemoEngine::start(ROUTERS as u32, USERS as u32).expect("start net-engine demo");
    Target {
        base_url: demo.base_url.clone(),
        key: demo.key.clone(),
        demo: Some(demo),
    }
}

#[test]
fn dashboard_and_swagger_ui_work_in_headless_chromium() {
    let test = "dashboard_and_swagger_ui_work_in_headless_chromium";
    if require_browser_or_skip(test).is_none() {
        return;
    }
    let _watchdog = watchdog(Duration::from_secs(300), test);
    let target = target();
    let browser = Browser::launch().expect("launch chromium");

    if let Err(failure) = check_dashboard(&browser, &target) {
        let _ = browser.screenshot(&artifact_path("dashboard-failure.png"));
        panic!("dashboard: {failure}");
    }
    if let Err(failure) = check_swagger_ui(&browser, &target) {
        let _ = browser.screenshot(&artifact_path("swagger-failure.png"));
        panic!("swagger ui: {failure}");
    }
}

/// Static files over real HTTP (no browser needed): right content types and cache headers,
/// the Swagger redirect, and no way out of the embedded table whatever the path says.
#[test]
fn static_files_are_typed_cached_and_confined() {
    let _watchdog = watchdog(Duration::from_secs(120), "static files");
    let demo = DemoEngine::start(1, 5).expect("start net-engine demo");
    let base = &demo.base_url;
    let files = [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/api/v1/openapi.json", "application/json"),
        ("/api/v1/swagger/index.html", "text/html; charset=utf-8"),
        (
            "/api/v1/swagger/swagger-init.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/api/v1/swagger/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
        ),
        ("/api/v1/swagger/swagger-ui.css", "text/css; charset=utf-8"),
    ];
    for (path, content_type) in files {
        let answer = raw_get(base, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), Some(content_type), "{path}");
        assert_eq!(answer.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(!answer.body.is_empty(), "{path}");
    }
    for path in ["/api/v1/swagger/", "/api/v1/swagger"] {
        let answer = raw_get(base, path).expect("swagger redirect");
        assert_eq!(answer.status, 302, "{path}");
        let location = answer.header("location");
        assert_eq!(location, Some("/api/v1/swagger/index.html"), "{path}");
    }
    let attacks = [
        "/../Cargo.toml",
        "/../../../../etc/passwd",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E%2FCargo.toml",
        "/..%2f..%2fetc%2fpasswd",
        "/app.js/../../Cargo.toml",
        "/%5c..%5cCargo.toml",
        "/app.js%00",
        "//etc/passwd",
        "/api/v1/swagger/../../../Cargo.toml",
        "/api/v1/swagger/%2e%2e/%2e%2e/Cargo.toml",
        "/api/v1/swagger/..%5c..%5cCargo.toml",
        "/src/http/assets.rs",
        "/assets/app.js",
    ];
    for path in attacks {
        let answer = raw_get(base, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            matches!(answer.status, 400 | 404),
            "{path}: status {}",
            answer.status
        );
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{path}: {body}"
        );
    }
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// Rows currently in the sessions table, as `data-user` names.
fn row_names(browser: &Browser) -> Result<Vec<String>, String> {
    browser.attributes("#sessions-body tr[data-user]", "data-user")
}

fn wait_page_info(browser: &Browser, expected: &str) -> Result<(), String> {
    browser.wait_for(&format!("page info {expected:?}"), SHORT, |browser| {
        let shown = browser.text("#page-info")?.unwrap_or_default();
        Ok((shown == expected).then_some(()))
    })
}

fn wait_row_count(browser: &Browser, count: usize) -> Result<(), String> {
    browser.wait_for(&format!("{count} table rows"), SHORT, |browser| {
        Ok((row_names(browser)?.len() == count).then_some(()))
    })
}

/// Fails on JavaScript exceptions and on anything the Content-Security-Policy blocked.
/// (Failed loads such as the wrong-key 401 are expected and ignored.)
fn check_console(browser: &Browser) -> Result<(), String> {
    let severe = browser.severe_console_messages()?;
    let broken: Vec<&String> = severe
        .iter()
        .filter(|message| {
            message.contains("Uncaught")
                || message.contains("dashboard bug")
                || message.contains("Content Security Policy")
                || message.contains("Refused to")
        })
        .collect();
    ensure(broken.is_empty(), || format!("console errors: {broken:?}"))
}

/// Opens the traffic graph of a user the (connected-filtered) table lists, trying the next one
/// when the engine answers that the user is offline: sessions come and go in the demo, and
/// the table is a cached view. Returns that user and the point count.
fn traffic_of_a_connected_user(browser: &Browser) -> Result<(String, usize), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut offline = Vec::new();
    while std::time::Instant::now() < deadline {
        for user in row_names(browser)?.into_iter().take(8) {
            browser.click(&format!("#sessions-body tr[data-user='{user}'] td.name"))?;
            browser.wait_visible("#traffic-panel", SHORT)?;
            let outcome =
                browser.wait_for(&format!("traffic points of {user}"), LONG, |browser| {
                    let points: usize = browser
                        .attributes("#traffic-canvas", "data-points")?
                        .first()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    if points >= 4 {
                        return Ok(Some(Some(points)));
                    }
                    let note = browser.text("#traffic-note")?.unwrap_or_default();
                    Ok(note.contains("is offline").then_some(None))
                })?;
            match outcome {
                Some(points) => return Ok((user, points)),
                None => offline.push(user),
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Err(format!(
        "every user tried was offline for the engine: {offline:?}"
    ))
}

/// Waits for a success toast containing `text`; an error toast fails at once.
fn wait_toast(browser: &Browser, text: &str) -> Result<(), String> {
    wait_toast_any(browser, &[text])
}

/// Waits for a success toast containing one of `texts`; an error toast fails at once.
fn wait_toast_any(browser: &Browser, texts: &[&str]) -> Result<(), String> {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        if let Some(error) = browser.text("#toasts .toast.error")? {
            return Err(format!(
                "waiting for a toast saying {texts:?}: error toast: {error}"
            ));
        }
        let shown = browser.text("#toasts")?.unwrap_or_default();
        if texts.iter().any(|text| shown.contains(text)) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "timed out after {LONG:?} waiting for a toast saying {texts:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the row `css` has `data-status` and `data-isolated` that `accept` takes.
fn wait_row(
    browser: &Browser,
    css: &str,
    what: &str,
    accept: impl Fn(&str, &str) -> bool,
) -> Result<(), String> {
    browser.wait_for(&format!("{css}: {what}"), LONG, |browser| {
        let status = browser.attributes(css, "data-status")?;
        let isolated = browser.attributes(css, "data-isolated")?;
        Ok(match (status.first(), isolated.first()) {
            (Some(status), Some(isolated)) => accept(status, isolated).then_some(()),
            _ => None,
        })
    })
}

/// Waits until the table holds only rows of `status` (or, when `may_be_empty`, no rows).
fn wait_all_rows_status(browser: &Browser, status: &str, may_be_empty: bool) -> Result<(), String> {
    browser.wait_for(&format!("only {status} rows"), SHORT, |browser| {
        let pressed = browser.attributes(
            &format!("#status-filter button[data-status='{status}']"),
            "aria-pressed",
        )?;
        let statuses = browser.attributes("#sessions-body tr[data-user]", "data-status")?;
        let empty_shown = browser.find("#sessions-body tr.empty")?.is_some();
        let loading = browser.text("#page-info")?.unwrap_or_default() == "Loading…";
        let settled = pressed.first().map(String::as_str) == Some("true") && !loading;
        let only = !statuses.is_empty() && statuses.iter().all(|s| s == status);
        Ok((settled && (only || (may_be_empty && empty_shown))).then_some(()))
    })
}

/// Whether `text` reads like the page's own duration format: `9d 3h 4m`, `4m 5s`, `12s`.
fn is_formatted_duration(text: &str) -> bool {
    !text.is_empty()
        && text.split(' ').all(|part| {
            let (number, unit) = part.split_at(part.len().saturating_sub(1));
            !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
                && ["d", "h", "m", "s"].contains(&unit)
        })
}

/// The `n` in "Showing a–b of n".
fn total_shown(browser: &Browser) -> Result<usize, String> {
    let info = browser.text("#page-info")?.unwrap_or_default();
    info.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no total in page info {info:?}"))
}

fn check_dashboard(browser: &Browser, target: &Target) -> Result<(), String> {
    let base = &target.base_url;
    browser.goto(&format!("{base}/"))?;

    // The key prompt comes first; a wrong key is refused with a message.
    browser.wait_visible("#key-form", SHORT)?;
    browser.type_into("#key-input", "certainly-not-the-key")?;
    browser.click("#key-submit")?;
    let refusal = browser.wait_for("the wrong key to be refused", SHORT, |browser| {
        Ok(browser.text("#key-error")?.filter(|text| !text.is_empty()))
    })?;
    ensure(refusal.contains("not accepted"), || {
        format!("wrong key message: {refusal}")
    })?;

    browser.type_into("#key-input", &target.key)?;
    browser.click("#key-submit")?;

    // Routers with their state badges.
    let states = browser.wait_for("the router list", LONG, |browser| {
        let states = browser.attributes("#router-list [data-router-id]", "data-state")?;
        Ok((!states.is_empty()).then_some(states))
    })?;
    if target.demo.is_some() {
        ensure(states.len() == ROUTERS, || {
            format!("{} routers listed, expected {ROUTERS}", states.len())
        })?;
    }
    for state in &states {
        ensure(
            ["online", "connecting", "offline"].contains(&state.as_str()),
            || format!("router state {state:?}"),
        )?;
    }
    let key_stored =
        browser.execute("return sessionStorage.getItem('netengine.apiKey');", vec![])?;
    ensure(key_stored == json!(target.key), || {
        format!("key in sessionStorage: {key_stored}")
    })?;

    // A reload keeps the key (sessionStorage) and the selected router.
    browser.wait_for("the first page of sessions", LONG, |browser| {
        Ok((!row_names(browser)?.is_empty()).then_some(()))
    })?;
    browser.execute("location.reload();", vec![])?;
    browser.wait_for("the sessions table after a reload", LONG, |browser| {
        let view = browser.execute("return document.body.dataset.view || '';", vec![])?;
        Ok((view == json!("app") && !row_names(browser)?.is_empty()).then_some(()))
    })?;

    // Health figures of the selected router (the demo's routers come online quickly).
    let cpu = browser.wait_for("health figures", LONG, |browser| {
        Ok(browser
            .text("#health-cpu [data-value]")?
            .filter(|text| text.ends_with('%') && text.len() > 1))
    })?;
    let memory = browser
        .text("#health-memory [data-value]")?
        .unwrap_or_default();
    let uptime = browser
        .text("#health-uptime [data-value]")?
        .unwrap_or_default();
    let version = browser
        .text("#health-version [data-value]")?
        .unwrap_or_default();
    let board = browser
        .text("#health-board [data-value]")?
        .unwrap_or_default();
    ensure(memory.contains(" / ") && memory.contains("B"), || {
        format!("memory {memory:?}")
    })?;
    for (name, value) in [
        ("uptime", &uptime),
        ("version", &version),
        ("board", &board),
    ] {
        ensure(!value.is_empty() && value != "—", || {
            format!("{name} shows {value:?}")
        })?;
    }
    // `uptime` comes as RouterOS text ("1w2d3h4m5s"); the page shows it parsed ("9d 3h 4m").
    ensure(is_formatted_duration(&uptime), || {
        format!("uptime {uptime:?} is not a parsed duration")
    })?;
    println!(
        "health: cpu {cpu}, memory {memory}, uptime {uptime}, version {version}, board {board}"
    );

    // The sessions table: first page of 25, server-side paging.
    wait_row_count(browser, 25)?;
    let total = total_shown(browser)?;
    if target.demo.is_some() {
        ensure(total == USERS, || {
            format!("{total} users shown, expected {USERS}")
        })?;
    }
    wait_page_info(browser, &format!("Showing 1–25 of {total}"))?;
    let first_page = row_names(browser)?;
    let statuses = browser.attributes("#sessions-body tr[data-user]", "data-status")?;
    ensure(
        statuses
            .iter()
            .all(|s| ["connected", "isolated", "offline"].contains(&s.as_str())),
        || format!("statuses outside Go's values: {statuses:?}"),
    )?;
    browser.requested_urls()?;

    browser.click("#page-next")?;
    wait_page_info(browser, &format!("Showing 26–50 of {total}"))?;
    let second_page = row_names(browser)?;
    ensure(
        second_page.len() == 25 && second_page.iter().all(|name| !first_page.contains(name)),
        || format!("page 2 {second_page:?} overlaps page 1 {first_page:?}"),
    )?;
    let urls = browser.requested_urls()?;
    ensure(
        urls.iter()
            .any(|url| url.contains("/users?page=2&per_page=25&")),
        || format!("no request for page 2 with page/per_page: {urls:?}"),
    )?;

    // The last page (from the `Link` header's rel="last"), where there is no next page.
    if total > 25 {
        browser.click("#page-last")?;
        let last_start = (total - 1) / 25 * 25 + 1;
        wait_page_info(browser, &format!("Showing {last_start}–{total} of {total}"))?;
        let next_disabled = browser.execute(
            "return document.getElementById('page-next').disabled;",
            vec![],
        )?;
        ensure(next_disabled == json!(true), || {
            "page-next is enabled on the last page".to_string()
        })?;
        browser.click("#page-first")?;
        wait_page_info(browser, &format!("Showing 1–25 of {total}"))?;
    }

    browser.click("#page-size option[value='10']")?;
    wait_page_info(browser, &format!("Showing 1–10 of {total}"))?;
    wait_row_count(browser, 10)?;
    browser.click("#page-size option[value='100']")?;
    wait_page_info(browser, &format!("Showing 1–{} of {total}", total.min(100)))?;
    wait_row_count(browser, total.min(100))?;
    browser.click("#page-size option[value='25']")?;
    wait_row_count(browser, 25)?;

    // Sorting by name, descending: the server answers in that order.
    browser.click("#sessions-table th[data-sort='name'] button")?;
    browser.wait_for("descending sort", SHORT, |browser| {
        let names = row_names(browser)?;
        let sorted_desc = names
            .windows(2)
            .all(|pair| pair[0].to_lowercase() >= pair[1].to_lowercase());
        Ok((names.len() == 25 && names != first_page && sorted_desc).then_some(()))
    })?;
    browser.click("#sessions-table th[data-sort='name'] button")?;
    browser.wait_for("ascending sort again", SHORT, |browser| {
        Ok((row_names(browser)? == first_page).then_some(()))
    })?;

    // Search: one user's full name narrows the table to matching rows.
    let needle = first_page[3].clone();
    browser.type_into("#search", &needle)?;
    browser.wait_for(&format!("search results for {needle}"), SHORT, |browser| {
        let names = row_names(browser)?;
        let shown = total_shown(browser).unwrap_or(usize::MAX);
        Ok((names.contains(&needle) && shown < total).then_some(()))
    })?;
    browser.type_into("#search", "")?;
    wait_page_info(browser, &format!("Showing 1–25 of {total}"))?;

    // Go's status filter values: offline rows only (the demo may have none).
    browser.click("#status-filter button[data-status='offline']")?;
    wait_all_rows_status(browser, "offline", true)?;

    // Live traffic of a connected user: the canvas receives points every second.
    browser.click("#status-filter button[data-status='connected']")?;
    browser.wait_for("connected users", SHORT, |browser| {
        let statuses = browser.attributes("#sessions-body tr[data-user]", "data-status")?;
        let all_connected = !statuses.is_empty() && statuses.iter().all(|s| s == "connected");
        Ok(all_connected.then_some(()))
    })?;
    let (user, points) = traffic_of_a_connected_user(browser)?;
    let user = &user;
    let download = browser.text("#traffic-down")?.unwrap_or_default();
    ensure(
        ["b/s", "kb/s", "Mb/s", "Gb/s"]
            .iter()
            .any(|unit| download.ends_with(unit)),
        || format!("download figure {download:?}"),
    )?;
    let painted = browser.execute(
        "const c = document.getElementById('traffic-canvas');\
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;\
         let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;",
        vec![],
    )?;
    ensure(painted.as_u64().unwrap_or(0) > 1000, || {
        format!("the traffic canvas is blank ({painted} painted pixels)")
    })?;
    println!("traffic of {user}: {points} points, download {download}");
    let screenshot = artifact_path("dashboard.png");
    browser.screenshot(&screenshot)?;
    println!("screenshot: {}", screenshot.display());
    browser.click("#traffic-close")?;

    // Actions on a user answer with a confirmation, and the row follows. The table shows all
    // statuses, narrowed to this user, so the row stays in view while it changes.
    browser.click("#status-filter button[data-status='']")?;
    browser.type_into("#search", user)?;
    let row = format!("#sessions-body tr[data-user='{user}']");
    browser.wait_for(&format!("{user} alone in view"), SHORT, |browser| {
        let shown = total_shown(browser).unwrap_or(usize::MAX);
        Ok((shown < total && row_names(browser)?.contains(user)).then_some(()))
    })?;
    browser.click(&format!("{row} [data-menu]"))?;
    browser.click("#row-menu [data-action='isolate']")?;
    wait_toast(browser, "isolated")?;
    wait_row(browser, &row, "status isolated", |status, isolated| {
        status == "isolated" && isolated == "true"
    })?;
    browser.click("#status-filter button[data-status='isolated']")?;
    wait_all_rows_status(browser, "isolated", false)?;
    ensure(row_names(browser)?.contains(user), || {
        format!("{user} missing under the isolated filter")
    })?;
    browser.click(&format!("{row} [data-menu]"))?;
    browser.click("#row-menu [data-action='unisolate']")?;
    wait_toast(browser, "restored")?;
    browser.wait_for(
        &format!("{user} to leave the isolated filter"),
        LONG,
        |browser| Ok((!row_names(browser)?.contains(user)).then_some(())),
    )?;
    browser.click("#status-filter button[data-status='']")?;
    wait_row(browser, &row, "status not isolated", |status, isolated| {
        status != "isolated" && isolated == "false"
    })?;
    // Both changes are in the router's recent changes (the audit trail), as applied.
    for action in ["isolate", "unisolate"] {
        let entry = format!(
            "#changes-list li[data-user='{user}'][data-action='{action}'][data-outcome='applied']"
        );
        browser.wait_for(
            &format!("{action} of {user} in recent changes"),
            SHORT,
            |browser| Ok((!browser.attributes(&entry, "data-outcome")?.is_empty()).then_some(())),
        )?;
    }

    // Kick: only offered while the user has a live session (the demo's sessions come and go).
    let online = browser.attributes(&row, "data-online")?;
    if online.first().map(String::as_str) == Some("true") {
        browser.click(&format!("{row} [data-menu]"))?;
        browser.click("#row-menu [data-action='kick']")?;
        browser.wait_visible("#confirm-dialog", SHORT)?;
        browser.click("#confirm-ok")?;
        wait_toast_any(
            browser,
            &[
                &format!("{user} disconnected"),
                &format!("{user} had no live session"),
            ],
        )?;
    } else {
        println!("{user} went offline before the kick; kick not exercised");
    }
    browser.type_into("#search", "")?;
    wait_page_info(browser, &format!("Showing 1–25 of {total}"))?;

    // Actions on the router.
    browser.click("#action-sync")?;
    wait_toast(browser, "Synced")?;
    browser.click("#action-backup")?;
    wait_toast(browser, "Backup saved")?;
    browser.click("#status-filter button[data-status='']")?;

    // Add a user: the API's validation message shows under its field, then success.
    let new_user = format!("ui-test-{}", std::process::id());
    browser.click("#add-user-btn")?;
    browser.wait_visible("#add-user-form", SHORT)?;
    browser.type_into("#new-user-name", &new_user)?;
    browser.type_into("#new-user-password", "pw-123456")?;
    browser.type_into("#new-user-remote-ip", "10.300.0.1")?;
    browser.click("#add-user-submit")?;
    let field_error = browser.wait_for("the API's remote_ip message", SHORT, |browser| {
        Ok(browser
            .text("[data-error-for='remote_ip']")?
            .filter(|text| !text.is_empty()))
    })?;
    println!("validation message from the API: {field_error}");
    browser.type_into("#new-user-remote-ip", "")?;
    browser.type_into("#new-user-comment", "added by the browser test")?;
    browser.click("#add-user-submit")?;
    browser.wait_for(&format!("{new_user} in the table"), LONG, |browser| {
        Ok(row_names(browser)?.contains(&new_user).then_some(()))
    })?;

    check_console(browser)?;
    Ok(())
}

fn check_swagger_ui(browser: &Browser, target: &Target) -> Result<(), String> {
    let base = &target.base_url;
    // Forget what the dashboard loaded; only the Swagger UI page's requests matter here.
    browser.requested_urls()?;

    browser.goto(&format!("{base}/api/v1/swagger/"))?;
    let landed = browser.current_url()?;
    ensure(landed.ends_with("/api/v1/swagger/index.html"), || {
        format!("/api/v1/swagger/ led to {landed}")
    })?;
    let title = browser.wait_for("the Swagger UI title", LONG, |browser| {
        Ok(browser
            .text(".swagger-ui .info .title")?
            .filter(|title| title.contains("net-engine")))
    })?;
    let operations = browser.wait_for("operations", SHORT, |browser| {
        let count = browser.attributes(".swagger-ui .opblock", "id")?.len();
        Ok((count >= 15).then_some(count))
    })?;
    println!("swagger ui: {title:?} with {operations} operations");

    // "Try it out" on GET /api/v1/routers, authorized with the key the dashboard kept.
    let operation = "#operations-routers-listRouters";
    browser.click(&format!("{operation} .opblock-summary-control"))?;
    browser.click(&format!("{operation} .try-out__btn"))?;
    browser.click(&format!("{operation} .execute"))?;
    let status = browser.wait_for("the live response", LONG, |browser| {
        Ok(browser
            .text(&format!(
                "{operation} .live-responses-table .response .response-col_status"
            ))?
            .filter(|status| !status.is_empty()))
    })?;
    ensure(status.starts_with("200"), || {
        format!("Try it out answered {status}")
    })?;
    let screenshot = artifact_path("swagger.png");
    browser.screenshot(&screenshot)?;
    println!("screenshot: {}", screenshot.display());

    let urls = browser.requested_urls()?;
    ensure(!urls.is_empty(), || "no requests were logged".to_string())?;
    let origin = format!("{base}/");
    let outside: Vec<&String> = urls
        .iter()
        .filter(|url| !url.starts_with(&origin) && !url.starts_with("data:"))
        .collect();
    ensure(outside.is_empty(), || {
        format!("requests leaving loopback: {outside:?}")
    })?;
    ensure(
        urls.iter()
            .any(|url| url.ends_with("/swagger-ui-bundle.js")),
        || format!("the bundle was not loaded from this origin: {urls:?}"),
    )?;
    let resource_origins = browser.execute(
        "return performance.getEntriesByType('resource').map(e => e.name);",
        vec![],
    )?;
    for url in resource_origins.as_array().into_iter().flatten() {
        let url = url.as_str().unwrap_or_default();
        ensure(url.starts_with(&origin) || url.starts_with("data:"), || {
            format!("resource from elsewhere: {url}")
        })?;
    }
    check_console(browser)?;
    println!("swagger ui: {} requests, all to {origin}", urls.len());
    Ok(())
}
