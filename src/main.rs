//! The `net-engine` binary: wiring only. Reads `.env` and the environment, builds the
//! store, fleet, webhooks and HTTP pool from the library, and waits for a signal.

use net_engine::config::Config;
use net_engine::events::{
    EngineObserver, EngineServices, RegistryReader, SecretsUpdate, UserWriter,
};
use net_engine::fleet::{Fleet, FleetSettings};
use net_engine::http::{AppState, EngineHooks, HttpServer};
use net_engine::metrics::Metrics;
use net_engine::model::{RouterConfig, RouterId};
use net_engine::router::Client;
use net_engine::sim::{SimConfig, Simulator};
use net_engine::store::{
    parse_dsn, parse_routers_csv, DbSettings, MysqlStore, StoreTimeouts, SyncWriterHandle,
    UserSyncJob, WriterSettings,
};
use net_engine::webhook::{WebhookConfig, WebhookWorker};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str =
    "net-engine: persistent RouterOS API sessions for a MikroTik fleet, behind a REST API

usage:
  net-engine [serve]               production: routers from MySQL (DB_DSN), warm up, serve the API
  net-engine demo [--routers N] [--users N] [--listen ADDR]
                                   simulated fleet on loopback + the same engine and API
  net-engine sim --listen ADDR [--routers N] [--users N] [--legacy-login] [--version X.Y]
                 [--latency-ms N] [--seed S] [--fault KIND] [--login USER:PASSWORD]
                                   stand-alone RouterOS API simulator (router k on port+k)
  net-engine migrate               create or upgrade the MySQL schema (idempotent)
  net-engine seed --file routers.csv
                                   insert routers (name,host,port,username,password[,use_tls])
  net-engine check --host H [--port P] [--user U]
                                   log in to one router and print identity, version, latency
                                   (password from ROUTER_PASSWORD or a prompt)

Every command takes --help. Configuration comes from .env and the environment (see README).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args));
}

fn run(args: &[String]) -> i32 {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("net-engine: cannot read .env: {e}");
            return 2;
        }
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("serve", &[][..]),
    };
    match command {
        "serve" => serve(rest),
        "demo" => demo(rest),
        "sim" => net_engine::sim::cli::run_cli(rest),
        "check" => check(rest),
        "migrate" => migrate(rest),
        "seed" => seed(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" => {
            println!("net-engine {}", env!("CARGO_PKG_VERSION"));
            0
        }
        other => {
            eprintln!("net-engine: unknown command {other:?}\n\n{USAGE}");
            2
        }
    }
}

/// Parses `--flag value` pairs; `flags` are the ones that take no value.
fn parse_flags(
    args: &[String],
    with_value: &[&str],
    flags: &[&str],
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if with_value.contains(&name) {
            let value = match inline {
                Some(v) => v,
                None => iter
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))?,
            };
            out.push((name.to_owned(), value));
        } else if flags.contains(&name) {
            out.push((name.to_owned(), String::new()));
        } else {
            return Err(format!("unknown argument {arg:?}"));
        }
    }
    Ok(out)
}

fn flag_value<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn load_config() -> Result<Config, i32> {
    Config::from_lookup(|name| std::env::var(name).ok()).map_err(|e| {
        eprintln!("net-engine: {e}");
        2
    })
}

fn random_key() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        let mut rng = net_engine::rng::Rng::from_entropy();
        bytes.iter_mut().for_each(|b| *b = rng.next_u32() as u8);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fleet_settings(config: &Config) -> FleetSettings {
    FleetSettings {
        command_timeout: config.command_timeout,
        connect_timeout: config.connect_timeout,
        poll_interval: config.poll_interval,
        ..FleetSettings::default()
    }
    .with_http_threads(config.http_threads)
}

/// SIGTERM/SIGINT set this flag; the main thread polls it.
fn shutdown_flag() -> Result<Arc<AtomicBool>, i32> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&flag)) {
            eprintln!("net-engine: cannot install signal handler: {e}");
            return Err(1);
        }
    }
    Ok(flag)
}

/// A running engine: fleet, webhooks, HTTP pool.
struct Engine {
    fleet: Arc<Fleet>,
    hooks: Arc<EngineServices>,
    webhook_worker: Option<WebhookWorker>,
    server: HttpServer,
}

/// Starts webhooks, the fleet (with `routers`), waits for warm-up and starts serving.
fn start_engine(
    config: &Config,
    listen: SocketAddr,
    app_key: String,
    routers: Vec<RouterConfig>,
    registry: RegistryReader,
    users: Option<UserWriter>,
    secrets_updates: Option<crossbeam_channel::Sender<SecretsUpdate>>,
) -> Result<Engine, String> {
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let (webhooks, webhook_worker) = match (&config.webhook_url, &config.webhook_secret) {
        (Some(url), Some(secret)) => {
            let (sender, worker) =
                net_engine::webhook::start(WebhookConfig::new(url.clone(), secret.clone()))
                    .map_err(|e| format!("WEBHOOK_URL: {e}"))?;
            log::info!("webhooks on: events go to {url}");
            (Some(sender), Some(worker))
        }
        _ => (None, None),
    };
    let observer = Arc::new(EngineObserver {
        metrics: Arc::clone(&metrics),
        webhooks: webhooks.clone(),
        secrets: secrets_updates,
    });
    let fleet = Arc::new(Fleet::new(fleet_settings(config), observer));
    fleet.apply(routers);
    let started = Instant::now();
    let warm = fleet.wait_warm(config.warmup_timeout);
    let online = fleet
        .snapshots()
        .iter()
        .filter(|s| s.state == net_engine::fleet::RouterState::Online)
        .count();
    log::info!(
        "warm-up {} in {:.1} s: {online} of {} routers online",
        if warm { "complete" } else { "timed out" },
        started.elapsed().as_secs_f64(),
        fleet.len()
    );
    let hooks = Arc::new(EngineServices {
        fleet: Arc::clone(&fleet),
        metrics: Some(metrics),
        webhooks,
        registry,
        users,
    });
    let state = Arc::new(AppState {
        fleet: Arc::clone(&fleet),
        app_key,
        hooks: hooks.clone(),
        started: Instant::now(),
        cors_origin: config.cors_origin.clone(),
        metrics_public: config.metrics_public,
    });
    let server = match HttpServer::start(listen, config.http_threads, state) {
        Ok(server) => server,
        Err(e) => {
            fleet.shutdown(Duration::from_secs(2));
            return Err(e);
        }
    };
    Ok(Engine {
        fleet,
        hooks,
        webhook_worker,
        server,
    })
}

/// Tells systemd (when it started us with `Type=notify`) how we are doing.
fn notify_systemd(state: &str) {
    if let Ok(socket) = std::env::var("NOTIFY_SOCKET") {
        if let Err(e) = net_engine::notify::notify(&socket, state) {
            log::warn!("cannot notify systemd ({state}): {e}");
        }
    }
}

/// Serves until SIGTERM/SIGINT; then stops in order: HTTP (in-flight requests finish),
/// routers (`/quit`), webhooks (flush).
fn serve_until_signal(engine: Engine, shutdown: &AtomicBool) {
    notify_systemd(net_engine::notify::READY);
    while !shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    log::info!("signal received: shutting down");
    notify_systemd(net_engine::notify::STOPPING);
    engine.server.shutdown(Duration::from_secs(3));
    engine.fleet.shutdown(Duration::from_secs(2));
    if let Some(worker) = engine.webhook_worker {
        worker.shutdown(Duration::from_secs(1));
    }
    log::info!("stopped");
}

/// The reload thread: re-reads the registry every `every` until `shutdown`.
fn spawn_reloader(hooks: Arc<EngineServices>, every: Duration, shutdown: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let mut next = Instant::now() + every;
            while !shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() >= next {
                    if let Err(e) = hooks.reload() {
                        log::warn!("registry reload failed (keeping the routers we have): {e}");
                    }
                    next = Instant::now() + every;
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the reload thread: {e}; routers are re-read only on POST /api/v1/routers/reload");
    }
}

fn demo(args: &[String]) -> i32 {
    let flags = match parse_flags(
        args,
        &["--routers", "--users", "--listen"],
        &["--help", "-h"],
    ) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("net-engine demo: {e}\nusage: net-engine demo [--routers N] [--users N] [--listen ADDR]");
            return 2;
        }
    };
    if flag_value(&flags, "--help").is_some() || flag_value(&flags, "-h").is_some() {
        println!(
            "usage: net-engine demo [--routers N] [--users N] [--listen ADDR]\n\n\
             Starts N simulated routers (default 3) with N users each (default 200) on loopback,\n\
             then the same engine and API as `serve`. Reads the same configuration (APP_KEY,\n\
             POLL_INTERVAL_S, timeouts, ...) except DB_DSN. The API key is random unless APP_KEY is set.\n\
             --listen defaults to API_PORT when set, else 127.0.0.1:8080."
        );
        return 0;
    }
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let number = |name: &str, default: usize, max: usize| -> Result<usize, i32> {
        match flag_value(&flags, name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    eprintln!(
                        "net-engine demo: {name} must be a number from 1 to {max}, got {raw:?}"
                    );
                    2
                }),
        }
    };
    let (routers, users) = match (
        number("--routers", 3, 2000),
        number("--users", 200, 100_000),
    ) {
        (Ok(r), Ok(u)) => (r, u),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let listen: SocketAddr = match flag_value(&flags, "--listen") {
        Some(raw) => match net_engine::config::parse_listen(raw) {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("net-engine demo: --listen: {e}");
                return 2;
            }
        },
        None if std::env::var("API_PORT").is_ok() => config.listen,
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let shutdown = match shutdown_flag() {
        Ok(flag) => flag,
        Err(code) => return code,
    };
    let sim_config = SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        routers,
        users,
        ..SimConfig::default()
    };
    let simulator = match Simulator::start(sim_config) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("net-engine demo: cannot start the simulated routers: {e}");
            return 1;
        }
    };
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
    let app_key = config.app_key.clone().unwrap_or_else(random_key);
    for warning in config.app_key_warnings() {
        log::warn!("{warning}");
    }
    let listed = router_configs.clone();
    let registry: RegistryReader = Box::new(move || Ok(listed.clone()));
    let engine = match start_engine(
        &config,
        listen,
        app_key.clone(),
        router_configs,
        registry,
        None,
        None,
    ) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("net-engine demo: {e}");
            simulator.shutdown();
            return 1;
        }
    };
    let base = format!("http://{}", engine.server.local_addr());
    println!("net-engine demo: {routers} simulated routers, {users} users each");
    println!("  dashboard: {base}/");
    println!("  API key:   {app_key}");
    println!("  try: curl -H 'X-App-Key: {app_key}' {base}/api/v1/routers");
    let _ = std::io::stdout().flush();
    serve_until_signal(engine, &shutdown);
    simulator.shutdown();
    0
}

fn serve(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: net-engine [serve]\n\n\
             Reads the enabled routers from MySQL (DB_DSN), logs in to each, waits for the fleet\n\
             (at most WARMUP_TIMEOUT_S) and serves the API on API_PORT until SIGTERM or SIGINT.\n\
             Run `net-engine migrate` once first. See README for every variable."
        );
        return 0;
    }
    if let Some(arg) = args.first() {
        eprintln!("net-engine serve: unknown argument {arg:?}");
        return 2;
    }
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let Some(app_key) = config.app_key.clone() else {
        eprintln!("net-engine: APP_KEY: required for serve (set a long random key in .env)");
        return 2;
    };
    for warning in config.app_key_warnings() {
        log::warn!("{warning}");
    }
    let settings = match db_settings(&config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let shutdown = match shutdown_flag() {
        Ok(flag) => flag,
        Err(code) => return code,
    };
    log::info!("connecting to MySQL at {settings}");
    let stop = Arc::clone(&shutdown);
    let store = match MysqlStore::connect_with_retry(&settings, StoreTimeouts::default(), &|| {
        stop.load(Ordering::SeqCst)
    }) {
        Ok(Some(store)) => Arc::new(store),
        Ok(None) => return 0,
        Err(e) => {
            eprintln!("net-engine serve: {e}");
            return 1;
        }
    };
    // The registry must be readable once before serving; later failures keep the routers we have.
    let routers = loop {
        match store.load_routers() {
            Ok(routers) => break routers,
            Err(e) if e.is_retryable() && !shutdown.load(Ordering::SeqCst) => {
                log::warn!("cannot read the router registry yet: {e}; retrying in 2 s");
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(_) if shutdown.load(Ordering::SeqCst) => return 0,
            Err(e) => {
                eprintln!("net-engine serve: cannot read the router registry: {e} (did you run `net-engine migrate`?)");
                return 1;
            }
        }
    };
    if routers.is_empty() {
        log::warn!("no enabled routers in the registry yet: add some (net-engine seed) and POST /api/v1/routers/reload");
    }
    let writer = match SyncWriterHandle::spawn(store.clone(), WriterSettings::default()) {
        Ok(writer) => Arc::new(writer),
        Err(e) => {
            eprintln!("net-engine serve: cannot start the user-sync thread: {e}");
            return 1;
        }
    };
    // Secret lists noticed by router threads go to the writer through this bounded queue.
    let (updates, updates_rx) = crossbeam_channel::bounded::<SecretsUpdate>(1024);
    let forward_to = Arc::clone(&writer);
    let forwarder = std::thread::Builder::new()
        .name("user-sync-feed".into())
        .spawn(move || {
            for update in updates_rx {
                forward_to.submit(UserSyncJob::new(
                    update.router,
                    update.secrets,
                    &update.sessions,
                ));
            }
        });
    if let Err(e) = forwarder {
        eprintln!("net-engine serve: cannot start the user-sync feed: {e}");
        return 1;
    }
    let registry_store = Arc::clone(&store);
    let registry: RegistryReader =
        Box::new(move || registry_store.load_routers().map_err(|e| e.to_string()));
    let sync_writer = Arc::clone(&writer);
    let timeout = config.command_timeout;
    let users: UserWriter = Box::new(move |router, secrets, sessions| {
        let job = UserSyncJob::new(router, Arc::new(secrets.to_vec()), sessions);
        sync_writer
            .sync_now(job, timeout)
            .map(|counts| counts.stored() as usize)
            .map_err(|e| e.to_string())
    });
    let engine = match start_engine(
        &config,
        config.listen,
        app_key,
        routers,
        registry,
        Some(users),
        Some(updates),
    ) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("net-engine serve: {e}");
            return 1;
        }
    };
    log::info!(
        "serving on http://{} ({} routers)",
        engine.server.local_addr(),
        engine.fleet.len()
    );
    if let Some(every) = config.reload_interval {
        spawn_reloader(Arc::clone(&engine.hooks), every, Arc::clone(&shutdown));
    }
    serve_until_signal(engine, &shutdown);
    writer.shutdown();
    0
}

fn db_settings(config: &Config) -> Result<DbSettings, i32> {
    let Some(dsn) = &config.db_dsn else {
        eprintln!("net-engine: DB_DSN: required (e.g. netengine:secret@tcp(127.0.0.1:3306)/netengine?parseTime=true)");
        return Err(2);
    };
    parse_dsn(dsn).map_err(|e| {
        eprintln!("net-engine: DB_DSN: {e}");
        2
    })
}

fn migrate(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: net-engine migrate\n\nCreates or upgrades the MySQL schema at DB_DSN. Safe to run again: a second run changes nothing.");
        return 0;
    }
    if let Some(arg) = args.first() {
        eprintln!("net-engine migrate: unknown argument {arg:?}");
        return 2;
    }
    let settings = match load_config().and_then(|c| db_settings(&c)) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let result =
        MysqlStore::connect(&settings, StoreTimeouts::default()).and_then(|store| store.migrate());
    match result {
        Ok(report) => {
            println!("{report}");
            0
        }
        Err(e) => {
            eprintln!("net-engine migrate: {e}");
            1
        }
    }
}

fn seed(args: &[String]) -> i32 {
    const SEED_USAGE: &str = "usage: net-engine seed --file routers.csv\n\n\
        Inserts routers from a CSV file with the header name,host,port,username,password[,use_tls],\n\
        skipping rows whose host and port are already registered.";
    let flags = match parse_flags(args, &["--file"], &["--help", "-h"]) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("net-engine seed: {e}\n{SEED_USAGE}");
            return 2;
        }
    };
    if flag_value(&flags, "--help").is_some() || flag_value(&flags, "-h").is_some() {
        println!("{SEED_USAGE}");
        return 0;
    }
    let Some(path) = flag_value(&flags, "--file") else {
        eprintln!("net-engine seed: --file is required\n{SEED_USAGE}");
        return 2;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("net-engine seed: cannot read {path}: {e}");
            return 2;
        }
    };
    let routers = match parse_routers_csv(&text) {
        Ok(routers) => routers,
        Err(e) => {
            eprintln!("net-engine seed: {path}: {e}");
            return 2;
        }
    };
    let settings = match load_config().and_then(|c| db_settings(&c)) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let result = MysqlStore::connect(&settings, StoreTimeouts::default())
        .and_then(|store| store.seed_routers(&routers));
    match result {
        Ok(report) => {
            println!("{report}");
            0
        }
        Err(e) => {
            eprintln!("net-engine seed: {e}");
            1
        }
    }
}

fn check(args: &[String]) -> i32 {
    const CHECK_USAGE: &str = "usage: net-engine check --host H [--port P] [--user U]\n\n\
        Connects, logs in, prints identity, version, board and round-trip time.\n\
        The password comes from ROUTER_PASSWORD, else a prompt. Exit 1 on failure.";
    let flags = match parse_flags(args, &["--host", "--port", "--user"], &["--help", "-h"]) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("net-engine check: {e}\n{CHECK_USAGE}");
            return 2;
        }
    };
    if flag_value(&flags, "--help").is_some() || flag_value(&flags, "-h").is_some() {
        println!("{CHECK_USAGE}");
        return 0;
    }
    let Some(host) = flag_value(&flags, "--host") else {
        eprintln!("net-engine check: --host is required\n{CHECK_USAGE}");
        return 2;
    };
    let port = match flag_value(&flags, "--port").map(str::parse::<u16>) {
        None => 8728,
        Some(Ok(port)) if port > 0 => port,
        Some(_) => {
            eprintln!("net-engine check: --port must be 1-65535");
            return 2;
        }
    };
    let user = flag_value(&flags, "--user").unwrap_or("admin");
    let password = match std::env::var("ROUTER_PASSWORD") {
        Ok(password) => password,
        Err(_) => match rpassword::prompt_password(format!("password for {user}@{host}: ")) {
            Ok(password) => password,
            Err(e) => {
                eprintln!("net-engine check: no ROUTER_PASSWORD and cannot prompt: {e}");
                return 2;
            }
        },
    };
    let timeout = Duration::from_secs(5);
    let started = Instant::now();
    let result = (|| {
        let mut client = Client::connect(host, port, timeout)?;
        client.login(user, &password, Instant::now() + timeout)?;
        let login_time = started.elapsed();
        let identity = client.identity(Instant::now() + timeout)?;
        let probe = Instant::now();
        let resource = client.resource(Instant::now() + timeout)?;
        let rtt = probe.elapsed();
        client.quit(Instant::now() + Duration::from_millis(500));
        Ok::<_, net_engine::router::RouterError>((identity, resource, login_time, rtt))
    })();
    match result {
        Ok((identity, resource, login_time, rtt)) => {
            println!("router:   {host}:{port}");
            println!("identity: {}", identity.name);
            println!("version:  {}", resource.version);
            println!("board:    {}", resource.board_name);
            println!("login:    {:.1} ms", login_time.as_secs_f64() * 1000.0);
            println!("rtt:      {:.2} ms", rtt.as_secs_f64() * 1000.0);
            0
        }
        Err(e) => {
            eprintln!("net-engine check: {host}:{port}: {e}");
            1
        }
    }
}
