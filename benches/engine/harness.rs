//! Starting what the scenarios measure: the engine in-process (the library's `Engine`, as
//! `serve` and `demo` start it), the simulator in-process or as a separate `net-engine sim` process,
//! and nginx as a static-file floor.

use net_engine::engine::{Engine, EngineParts, EngineSettings};
use net_engine::fleet::{Fleet, FleetSettings, RouterSnapshot, RouterState};
use net_engine::model::{RouterConfig, RouterId};
use net_engine::sim::{SimConfig, Simulator};
use net_engine::store::MemoryRegistry;
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API key of every benchmark engine.
pub const KEY: &str = "bench-key-0123456789abcdef";

/// Why a scenario could not run.
#[derive(Debug)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

impl From<io::Error> for BenchError {
    fn from(error: io::Error) -> Self {
        BenchError(error.to_string())
    }
}

pub type BenchResult<T> = Result<T, BenchError>;

/// Router configs (ids 1..) for routers listening at `addrs`.
pub fn router_configs(addrs: &[SocketAddr]) -> Vec<RouterConfig> {
    addrs
        .iter()
        .enumerate()
        .map(|(k, addr)| RouterConfig {
            id: RouterId(k as u64 + 1),
            name: format!("sim-{}", k + 1),
            host: addr.ip().to_string(),
            port: addr.port(),
            username: "admin".into(),
            password: String::new(),
            use_tls: false,
        })
        .collect()
}

/// An in-process simulator without churn (figures must not depend on who dropped when).
pub fn simulator(routers: usize, users: usize, latency: Duration) -> BenchResult<Simulator> {
    Simulator::start(SimConfig {
        routers,
        users,
        latency,
        churn: false,
        seed: 7,
        ..SimConfig::default()
    })
    .map_err(|e| BenchError(format!("cannot start the simulator: {e}")))
}

pub fn sim_addrs(sim: &Simulator) -> Vec<SocketAddr> {
    sim.routers().iter().map(|r| r.addr()).collect()
}

/// The simulator user count that yields about `sessions` live sessions per router
/// (the simulator keeps about 88 % of its users connected).
pub fn users_for_sessions(sessions: usize) -> usize {
    (sessions * 8).div_ceil(7)
}

/// The engine as `net-engine serve` runs it (metrics on, no webhooks, no MySQL), on
/// 127.0.0.1:0.
pub struct BenchEngine {
    pub fleet: Arc<Fleet>,
    pub addr: SocketAddr,
    /// From `Fleet::apply` to every router warm.
    pub warmup: Duration,
    pub warm: bool,
    engine: Option<Engine>,
}

/// The HTTP pool size `net-engine` uses by default (`HTTP_THREADS`).
pub const HTTP_THREADS: usize = 8;

impl BenchEngine {
    pub fn start(
        routers: Vec<RouterConfig>,
        settings: FleetSettings,
        warmup_limit: Duration,
    ) -> BenchResult<BenchEngine> {
        let mut engine_settings = EngineSettings::loopback(KEY, settings, HTTP_THREADS);
        engine_settings.warmup_timeout = warmup_limit;
        engine_settings.version = "bench".into();
        let started = Instant::now();
        let engine = Engine::start(EngineParts::new(
            engine_settings,
            Arc::new(MemoryRegistry::new(routers)),
        ))
        .map_err(|e| BenchError(e.to_string()))?;
        let fleet = Arc::clone(engine.fleet());
        let warm = wait_online(&fleet, warmup_limit.saturating_sub(started.elapsed()));
        let warmup = started.elapsed();
        Ok(BenchEngine {
            fleet,
            addr: engine.local_addr(),
            warmup,
            warm,
            engine: Some(engine),
        })
    }

    pub fn snapshot(&self, id: u64) -> Option<Arc<RouterSnapshot>> {
        self.fleet.get(RouterId(id)).ok().map(|h| h.snapshot())
    }

    pub fn online_count(&self) -> usize {
        online_count(&self.fleet)
    }
}

fn online_count(fleet: &Fleet) -> usize {
    fleet
        .snapshots()
        .iter()
        .filter(|s| s.state == RouterState::Online)
        .count()
}

/// Waits until every router is online with a filled cache (stricter than `wait_warm`, which
/// also counts a failed first attempt as warm). True when the whole fleet made it.
fn wait_online(fleet: &Fleet, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let total = fleet.len();
    loop {
        if online_count(fleet) == total {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for BenchEngine {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}

/// `net-engine sim` as a child process; killed on drop.
pub struct SimProcess {
    child: Child,
    pub addrs: Vec<SocketAddr>,
    /// From spawn to every router listening.
    pub startup: Duration,
}

/// The `net-engine` binary cargo built next to this benchmark (or test).
pub fn engine_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_net-engine"))
}

impl SimProcess {
    pub fn start(routers: usize, users: usize) -> BenchResult<SimProcess> {
        let started = Instant::now();
        let mut child = Command::new(engine_binary())
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--no-churn",
                "--seed",
                "7",
            ])
            .args([
                "--routers",
                &routers.to_string(),
                "--users",
                &users.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError(format!("cannot run {}: {e}", engine_binary().display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(BenchError("simulator stdout not captured".into()));
        };
        let mut process = SimProcess {
            child,
            addrs: Vec::with_capacity(routers),
            startup: Duration::ZERO,
        };
        // `router K: ADDR`, one line per router, then it serves.
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let addr = line
                .split_once(": ")
                .and_then(|(_, addr)| addr.trim().parse().ok())
                .ok_or_else(|| BenchError(format!("unexpected simulator line {line:?}")))?;
            process.addrs.push(addr);
            if process.addrs.len() == routers {
                break;
            }
        }
        if process.addrs.len() != routers {
            return Err(BenchError(format!(
                "simulator announced {} of {routers} routers",
                process.addrs.len()
            )));
        }
        process.startup = started.elapsed();
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound then released: another process could take it in between,
/// which is harmless on a benchmark machine).
pub fn free_port() -> BenchResult<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// nginx serving one file from a private prefix directory; stopped on drop.
pub struct Nginx {
    child: Child,
    binary: PathBuf,
    dir: PathBuf,
    pub addr: SocketAddr,
}

/// Where nginx is, if installed (Debian: `apt-get install nginx-light`).
pub fn nginx_binary() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

impl Nginx {
    /// The master's pid (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Serves each `(name, body)` at `/<name>` from `dir` (readable by nginx workers).
    pub fn start(binary: &Path, dir: &Path, files: &[(&str, &[u8])]) -> BenchResult<Nginx> {
        let www = dir.join("www");
        std::fs::create_dir_all(&www)?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        for (name, body) in files {
            std::fs::write(www.join(name), body)?;
        }
        allow_workers(dir)?;
        let port = free_port()?;
        let d = dir.display();
        let config = format!(
            "worker_processes auto;\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
               access_log off;\n\
               sendfile on; tcp_nopush on; tcp_nodelay on;\n\
               keepalive_requests 1000000; keepalive_timeout 120s;\n\
               default_type application/json;\n\
               client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;\n\
               fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi;\n\
               scgi_temp_path {d}/tmp/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {d}/www; }}\n\
             }}\n"
        );
        Nginx::run(
            binary,
            dir,
            &config,
            SocketAddr::from(([127, 0, 0, 1], port)),
        )
    }

    /// Runs nginx with `config` (written to `dir/nginx.conf`) and waits until `addr` accepts.
    pub fn run(binary: &Path, dir: &Path, config: &str, addr: SocketAddr) -> BenchResult<Nginx> {
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError(format!("cannot run nginx: {e}")))?;
        let mut nginx = Nginx {
            child,
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(BenchError(format!(
                    "nginx exited ({status}): {}",
                    log.trim()
                )));
            }
            if Instant::now() >= deadline {
                return Err(BenchError("nginx did not start listening in 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// nginx workers run as `nobody`: the prefix (under /tmp) must be readable by them.
fn allow_workers(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for path in [dir.to_owned(), dir.join("www")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A fresh private directory for nginx under the system temp dir.
pub fn nginx_dir() -> BenchResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("net-engine-bench-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` signals the master through its pid file; it then stops its workers.
        let _ = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
