//! Scenario 8, the front door (issue 12): admission under 64 concurrent keep-alive callers over
//! three ~1 ms routers, and idle sockets held open at the engine alone and at the shipped nginx
//! front (systemd/nginx-net-engine.conf) — engine threads, RSS and a normal client's latency.

use super::harness::{
    nginx_binary, nginx_dir, router_configs, sim_addrs, simulator, BenchEngine, BenchError,
    BenchResult, Nginx, KEY,
};
use super::http_client::HttpClient;
use super::stats::{ms, process_figures, Summary};
use net_engine::fleet::FleetSettings;
use serde::Serialize;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

// The tests' own helper; the test suite compiles this benchmark too (tests/bench_smoke.rs),
// where the file is then loaded twice.
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/nginx_conf.rs"]
mod nginx_conf;
use nginx_conf::on_loopback;

/// One idle-socket measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleFigures {
    pub idle_sockets: usize,
    pub threads_before: u64,
    pub threads_with_idle: u64,
    pub rss_before_kib: u64,
    pub rss_with_idle_kib: u64,
    /// A normal client's requests (fresh connection each) while the idle sockets are open.
    pub client_latency: Summary,
    pub client_failures: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FrontResult {
    pub admission_callers: usize,
    pub admission_calls: usize,
    pub admission_200: usize,
    pub admission_503: usize,
    pub admission_other: usize,
    pub admission_latency: Summary,
    pub engine_alone: IdleFigures,
    /// `None` when nginx is not installed.
    pub with_nginx: Option<IdleFigures>,
}

impl FrontResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        let share = if self.admission_calls > 0 {
            100.0 * self.admission_200 as f64 / self.admission_calls as f64
        } else {
            0.0
        };
        let idle = |f: &IdleFigures| {
            format!(
                "threads {} → {} · RSS +{:.1} MiB · normal client p50 {} p99 {} · {} failed",
                f.threads_before,
                f.threads_with_idle,
                f.rss_with_idle_kib.saturating_sub(f.rss_before_kib) as f64 / 1024.0,
                ms(f.client_latency.p50_ms),
                ms(f.client_latency.p99_ms),
                f.client_failures
            )
        };
        let mut rows = vec![
            [
                format!(
                    "admission: {} keep-alive callers over 3 routers at ~1 ms",
                    self.admission_callers
                ),
                format!(
                    "{}/{} × 200 ({share:.1} %) · 503: {} · other: {} · p50 {} p99 {}",
                    self.admission_200,
                    self.admission_calls,
                    self.admission_503,
                    self.admission_other,
                    ms(self.admission_latency.p50_ms),
                    ms(self.admission_latency.p99_ms)
                ),
            ],
            [
                format!(
                    "{} idle sockets at the engine alone",
                    self.engine_alone.idle_sockets
                ),
                idle(&self.engine_alone),
            ],
        ];
        match &self.with_nginx {
            Some(f) => rows.push([
                format!("{} idle sockets at the nginx front", f.idle_sockets),
                idle(f),
            ]),
            None => rows.push([
                "idle sockets at the nginx front".into(),
                "skipped: nginx not installed".into(),
            ]),
        }
        rows
    }
}

fn admission(
    engine: &BenchEngine,
    callers: usize,
    calls: usize,
) -> BenchResult<(usize, usize, usize, Vec<Duration>)> {
    let addr = engine.addr;
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..callers)
            .map(|k| {
                scope.spawn(move || {
                    let path = format!("/api/v1/router/{}/traffic?user=alice", k % 3 + 1);
                    let mut client = HttpClient::new(addr, Duration::from_secs(15));
                    let mut body = Vec::new();
                    let mut out = Vec::with_capacity(calls);
                    for _ in 0..calls {
                        let at = Instant::now();
                        let status = client.get(&path, KEY, &mut body).map_or(0, |a| a.status);
                        out.push((status, at.elapsed()));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect::<Vec<_>>()
    });
    let (mut ok, mut busy, mut other, mut latencies) = (0, 0, 0, Vec::new());
    for (status, elapsed) in results.into_iter().flatten() {
        match status {
            200 => ok += 1,
            503 => busy += 1,
            _ => other += 1,
        }
        latencies.push(elapsed);
    }
    Ok((ok, busy, other, latencies))
}

/// Holds `count` idle sockets at `target` and measures the engine (this process) and a
/// normal client of `target` meanwhile.
fn idle_sockets(target: SocketAddr, count: usize, samples: usize) -> BenchResult<IdleFigures> {
    let before = process_figures(None);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(TcpStream::connect_timeout(&target, Duration::from_secs(2))?);
    }
    // Let the engine take them up (a thread each when they reach tiny_http).
    std::thread::sleep(Duration::from_millis(500));
    let with_idle = process_figures(None);
    let mut latencies = Vec::with_capacity(samples);
    let mut failures = 0;
    let mut body = Vec::new();
    for _ in 0..samples {
        let mut client = HttpClient::new(target, Duration::from_secs(5));
        let at = Instant::now();
        match client.get("/api/v1/health", KEY, &mut body) {
            Ok(answer) if answer.status == 200 => latencies.push(at.elapsed()),
            _ => failures += 1,
        }
    }
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    Ok(IdleFigures {
        idle_sockets: count,
        threads_before: before.threads,
        threads_with_idle: with_idle.threads,
        rss_before_kib: before.rss_kib,
        rss_with_idle_kib: with_idle.rss_kib,
        client_latency: Summary::of(&latencies),
        client_failures: failures,
    })
}

/// nginx running the shipped server block (ports rewritten to loopback, a self-signed
/// certificate, a plain listener for the benchmark's clients); stopped on drop.
fn start_front(binary: &Path, engine: SocketAddr) -> BenchResult<Nginx> {
    let dir = nginx_dir()?;
    let (cert, key) = nginx_conf::self_signed(&dir).map_err(BenchError)?;
    let (tls_port, plain_port) = (super::harness::free_port()?, super::harness::free_port()?);
    let server = on_loopback(engine, tls_port, plain_port, &cert, &key)
        // One client address here: lift the per-client limit for the idle-socket count.
        .replace("limit_conn net_engine_per_client 64;", "");
    let d = dir.display();
    // nginx workers of a root master run as `nobody` and could not read the temp prefix.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let config = format!(
        "{user}master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         worker_rlimit_nofile 16384;\nevents {{ worker_connections 8192; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{server}\n}}\n",
        user = if root { "user root;\n" } else { "" },
    );
    Nginx::run(
        binary,
        &dir,
        &config,
        SocketAddr::from(([127, 0, 0, 1], plain_port)),
    )
}

pub fn run(quick: bool) -> BenchResult<FrontResult> {
    let (callers, calls, idle, samples) = if quick {
        (16, 5, 200, 20)
    } else {
        (64, 20, 2000, 200)
    };
    rlimit::increase_nofile_limit(16384)
        .map_err(|e| BenchError(format!("cannot raise the open file limit: {e}")))?;
    let sim = simulator(3, 50, Duration::from_millis(1))?;
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        FleetSettings::default(),
        Duration::from_secs(20),
    )?;
    if !engine.warm {
        return Err(BenchError("front: the fleet did not come online".into()));
    }
    let (ok, busy, other, latencies) = admission(&engine, callers, calls)?;
    let mut result = FrontResult {
        admission_callers: callers,
        admission_calls: ok + busy + other,
        admission_200: ok,
        admission_503: busy,
        admission_other: other,
        admission_latency: Summary::of(&latencies),
        ..FrontResult::default()
    };
    // tiny_http's pool lets a connection thread go 5 s after its connection closed: wait for
    // that before each baseline.
    let settle = Duration::from_secs(if quick { 1 } else { 6 });
    std::thread::sleep(settle);
    result.engine_alone = idle_sockets(engine.addr, idle, samples)?;
    if let Some(binary) = nginx_binary() {
        std::thread::sleep(settle);
        let front = start_front(&binary, engine.addr)?;
        result.with_nginx = Some(idle_sockets(front.addr, idle, samples)?);
        drop(front);
    }
    drop(engine);
    drop(sim);
    Ok(result)
}
