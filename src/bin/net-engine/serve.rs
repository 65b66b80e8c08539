//! `net-engine serve` (routers from MySQL or a CSV file) and `net-engine demo` (a simulated
//! fleet on loopback): pick the registry, start the library's `Engine`, wait for a signal.

use crate::args::{env_var, load_config, say, CommandResult, Flags, Outcome};
use net_engine::config::{parse_listen, Config};
use net_engine::engine::{Engine, EngineParts, EngineSettings};
use net_engine::model::{RouterConfig, RouterId};
use net_engine::sim::{SimConfig, Simulator};
use net_engine::store::{
    parse_dsn, AuditBackend, AuditTrail, DbSettings, FileAuditBackend, FileRegistry,
    MemoryRegistry, MysqlStore, RouterRegistry, StoreTimeouts, SyncWriterHandle, WriterSettings,
};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const SERVE_USAGE: &str = "usage: net-engine [serve]\n\n\
    Reads the enabled routers from MySQL (DB_DSN) or from a CSV file (ROUTERS_FILE, the columns\n\
    of `net-engine seed`; re-read when it changes), logs in to each, waits for the fleet\n\
    (at most WARMUP_TIMEOUT_S) and serves the API on API_PORT until SIGTERM or SIGINT.\n\
    With MySQL, run `net-engine migrate` once first. See README for every variable.";

const DEMO_USAGE: &str = "usage: net-engine demo [--routers N] [--users N] [--listen ADDR]";

const DEMO_HELP: &str = "usage: net-engine demo [--routers N] [--users N] [--listen ADDR]\n\n\
    Starts N simulated routers (default 3) with N users each (default 200) on loopback,\n\
    then the same engine and API as `serve`. Reads the same configuration (APP_KEY,\n\
    POLL_INTERVAL_S, timeouts, ...) except DB_DSN. The API key is random unless APP_KEY is set.\n\
    --listen defaults to API_PORT when set, else 127.0.0.1:8080.";

/// SIGTERM and SIGINT, caught from the start so a signal during start-up is not lost.
fn signals() -> Result<Signals, Outcome> {
    Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Outcome::Failed(format!("net-engine: cannot install signal handler: {e}")))
}

/// Lets a connection spike take every descriptor the system allows us before tiny_http's
/// accept loop runs out (the edge heals either way, but later).
fn raise_file_limit() {
    match net_engine::http::edge::raise_nofile_limit() {
        Ok((before, after)) if before != after => {
            log::info!("open file limit raised from {before} to {after}")
        }
        Ok((_, after)) => log::info!("open file limit is {after}"),
        Err(e) => log::warn!("cannot raise the open file limit: {e}"),
    }
}

/// Tells systemd (when it started us with `Type=notify`) how we are doing.
fn notify_systemd(state: &str) {
    if let Some(socket) = env_var("NOTIFY_SOCKET") {
        if let Err(e) = net_engine::notify::notify(&socket, state) {
            log::warn!("cannot notify systemd ({state}): {e}");
        }
    }
}

/// Serves until SIGTERM/SIGINT, then shuts the engine down in its documented order.
fn serve_until_signal(engine: Engine, signals: &mut Signals) {
    notify_systemd(net_engine::notify::READY);
    let watchdog = crate::watchdog::Watchdog::start(&engine);
    let signal = signals.forever().next();
    log::info!(
        "signal {} received: shutting down",
        signal.unwrap_or(SIGTERM)
    );
    drop(watchdog);
    notify_systemd(net_engine::notify::STOPPING);
    engine.shutdown();
    log::info!("stopped");
}

/// A random API key for the demo: 16 bytes from the operating system, as hex.
fn random_key() -> Result<String, Outcome> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Outcome::Failed(format!("net-engine: no randomness for an API key: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn db_settings(config: &Config) -> Result<DbSettings, Outcome> {
    let Some(dsn) = &config.db_dsn else {
        return Err(Outcome::Usage("net-engine: DB_DSN: required (e.g. netengine:secret@tcp(127.0.0.1:3306)/netengine?parseTime=true), or set ROUTERS_FILE to serve routers from a CSV file".into()));
    };
    parse_dsn(dsn).map_err(|e| Outcome::Usage(format!("net-engine: DB_DSN: {e}")))
}

pub fn serve(args: &[String]) -> CommandResult {
    let flags = Flags::parse(args, &[], "net-engine serve", SERVE_USAGE)?;
    if flags.help {
        say(SERVE_USAGE);
        return Ok(());
    }
    let config = load_config()?;
    let Some(app_key) = config.app_key.clone() else {
        return Err(Outcome::Usage(
            "net-engine: APP_KEY: required for serve (set a long random key in .env)".into(),
        ));
    };
    for warning in config.app_key_warnings() {
        log::warn!("{warning}");
    }
    // Without ROUTERS_FILE, MySQL is the registry; with it, MySQL (when set) only stores users.
    let db = match (&config.db_dsn, &config.routers_file) {
        (None, Some(_)) => None,
        _ => Some(db_settings(&config)?),
    };
    let signals = RefCell::new(signals()?);
    raise_file_limit();
    let stopped = Cell::new(false);
    let stop_requested = || {
        if signals.borrow_mut().pending().next().is_some() {
            stopped.set(true);
        }
        stopped.get()
    };
    let store = match &db {
        None => None,
        Some(settings) => {
            log::info!("connecting to MySQL at {settings}");
            match MysqlStore::connect_with_retry(
                settings,
                StoreTimeouts::default(),
                &stop_requested,
            ) {
                Ok(Some(store)) => Some(Arc::new(store)),
                Ok(None) => return Ok(()),
                Err(e) => return Err(Outcome::Failed(format!("net-engine serve: {e}"))),
            }
        }
    };
    let registry: Arc<dyn RouterRegistry> = match (&config.routers_file, &store) {
        (Some(path), _) => {
            log::info!("routers come from {}", path.display());
            Arc::new(FileRegistry::new(path.clone()))
        }
        (None, Some(store)) => store.clone(),
        (None, None) => {
            return Err(Outcome::Usage(
                "net-engine: DB_DSN or ROUTERS_FILE: one is required".into(),
            ))
        }
    };
    let Some(routers) = first_router_list(registry.as_ref(), &config, &stop_requested)? else {
        return Ok(());
    };
    if routers.is_empty() {
        log::warn!("no enabled routers in the registry yet: add some (net-engine seed, or a line in ROUTERS_FILE) and POST /api/v1/routers/reload");
    }
    let users = match &store {
        Some(store) => Some(Arc::new(
            SyncWriterHandle::spawn(store.clone(), WriterSettings::default()).map_err(|e| {
                Outcome::Failed(format!(
                    "net-engine serve: cannot start the user-sync thread: {e}"
                ))
            })?,
        )),
        None => None,
    };
    let audit_backend: Arc<dyn AuditBackend> = match &store {
        Some(store) => {
            log::info!("the audit trail is kept in MySQL (audit_log)");
            store.clone()
        }
        None => {
            let path = config
                .audit_file
                .clone()
                .unwrap_or_else(|| "net-engine-audit.jsonl".into());
            log::info!("the audit trail is kept in {}", path.display());
            Arc::new(FileAuditBackend::new(path))
        }
    };
    let audit = AuditTrail::start(
        Some(audit_backend),
        (Duration::from_secs(1), Duration::from_secs(30)),
    )
    .map_err(|e| {
        Outcome::Failed(format!(
            "net-engine serve: cannot start the audit writer thread: {e}"
        ))
    })?;
    let parts = EngineParts {
        routers: Some(routers),
        users,
        audit: Some(Arc::new(audit)),
        ..EngineParts::new(
            EngineSettings::from_config(&config, config.listen, app_key),
            registry,
        )
    };
    let engine =
        Engine::start(parts).map_err(|e| Outcome::Failed(format!("net-engine serve: {e}")))?;
    if stopped.get() {
        log::info!("signal received during start-up: shutting down");
        engine.shutdown();
        return Ok(());
    }
    log::info!(
        "serving on http://{} ({} routers)",
        engine.local_addr(),
        engine.fleet().len()
    );
    serve_until_signal(engine, &mut signals.borrow_mut());
    Ok(())
}

/// The registry must be readable once before serving; later failures keep the routers we
/// have. MySQL being unreachable is retried; anything else fails start-up. `None`: a signal
/// came first.
fn first_router_list(
    registry: &dyn RouterRegistry,
    config: &Config,
    stop_requested: &dyn Fn() -> bool,
) -> Result<Option<Vec<RouterConfig>>, Outcome> {
    loop {
        match registry.load_routers() {
            Ok(routers) => return Ok(Some(routers)),
            Err(_) if stop_requested() => return Ok(None),
            Err(e) if e.is_retryable() && config.routers_file.is_none() => {
                log::warn!("cannot read the router registry yet: {e}; retrying in 2 s");
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) if config.routers_file.is_some() => {
                return Err(Outcome::Usage(format!("net-engine: ROUTERS_FILE: {e}")))
            }
            Err(e) => {
                return Err(Outcome::Failed(format!("net-engine serve: cannot read the router registry: {e} (did you run `net-engine migrate`?)")))
            }
        }
    }
}

pub fn demo(args: &[String]) -> CommandResult {
    let flags = Flags::parse(
        args,
        &["routers", "users", "listen"],
        "net-engine demo",
        DEMO_USAGE,
    )?;
    if flags.help {
        say(DEMO_HELP);
        return Ok(());
    }
    let config = load_config()?;
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Outcome> {
        match flags.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Outcome::Usage(format!(
                        "net-engine demo: --{name} must be a number from 1 to {max}, got {raw:?}"
                    ))
                }),
        }
    };
    let routers = number("routers", 3, 2000)?;
    let users = number("users", 200, 100_000)?;
    let listen: SocketAddr = match flags.get("listen") {
        Some(raw) => parse_listen(raw)
            .map_err(|e| Outcome::Usage(format!("net-engine demo: --listen: {e}")))?,
        None if env_var("API_PORT").is_some() => config.listen,
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let mut signals = signals()?;
    raise_file_limit();
    let simulator = Simulator::start(SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        routers,
        users,
        ..SimConfig::default()
    })
    .map_err(|e| {
        Outcome::Failed(format!(
            "net-engine demo: cannot start the simulated routers: {e}"
        ))
    })?;
    let router_configs: Vec<RouterConfig> = simulator
        .routers()
        .iter()
        .enumerate()
        .map(|(k, router)| RouterConfig {
            id: RouterId(k as u64 + 1),
            name: format!("sim-{}", k + 1),
            host: router.addr().ip().to_string(),
            port: router.addr().port(),
            username: "admin".into(),
            password: String::new(),
            use_tls: false,
        })
        .collect();
    let app_key = match config.app_key.clone() {
        Some(key) => key,
        None => random_key()?,
    };
    for warning in config.app_key_warnings() {
        log::warn!("{warning}");
    }
    let parts = EngineParts::new(
        EngineSettings::from_config(&config, listen, app_key.clone()),
        Arc::new(MemoryRegistry::new(router_configs)),
    );
    let engine = match Engine::start(parts) {
        Ok(engine) => engine,
        Err(e) => {
            simulator.shutdown();
            return Err(Outcome::Failed(format!("net-engine demo: {e}")));
        }
    };
    let base = format!("http://{}", engine.local_addr());
    say(&format!(
        "net-engine demo: {routers} simulated routers, {users} users each"
    ));
    say(&format!("  dashboard: {base}/"));
    say(&format!("  API key:   {app_key}"));
    say(&format!(
        "  try: curl -H 'X-App-Key: {app_key}' {base}/api/v1/routers"
    ));
    serve_until_signal(engine, &mut signals);
    simulator.shutdown();
    Ok(())
}
