//! Scenario 2, cached reads: `GET /monitoring/targets` (every live session of the fleet) by
//! concurrent keep-alive clients, and one page of `/router/1/users` (what an app's customer
//! list asks) by one client, each against the same body served as a static file by nginx
//! with the same client in the same run — the floor for moving those bytes here.

use super::harness::{
    nginx_binary, nginx_dir, router_configs, sim_addrs, simulator, users_for_sessions, BenchEngine,
    BenchError, BenchResult, Nginx, KEY,
};
use super::http_client::HttpClient;
use super::stats::{
    cpu_seconds, current_thread_cpu_seconds, ms, process_tree_cpu_seconds, ratio, times, Summary,
};
use net_engine::fleet::FleetSettings;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PATH: &str = "/api/v1/monitoring/targets";
const PAGE: &str = "/api/v1/router/1/users?status=connected&per_page=25&sort=uptime&order=desc";

/// Throughput of one server under the load.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub bytes_per_s: f64,
    pub latency: Summary,
    /// TCP connections the clients opened (= clients when keep-alive held).
    pub connects: u64,
    /// CPU the server used per request (the clients' own CPU left out), in microseconds.
    /// On a small machine the clients are the bottleneck, so this, not requests/s, is the
    /// fair comparison of what serving costs.
    pub server_cpu_us_per_request: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadsResult {
    pub routers: usize,
    pub users_per_router: usize,
    pub sessions: u64,
    pub body_bytes: usize,
    pub clients: usize,
    pub engine: LoadFigures,
    pub nginx: Option<LoadFigures>,
    /// Why there is no nginx figure.
    pub nginx_note: Option<String>,
    pub engine_over_nginx_rps: f64,
    pub engine_over_nginx_cpu: f64,
    /// One page of users, one client, back to back.
    pub page_bytes: usize,
    pub page_engine: Summary,
    pub page_nginx: Option<Summary>,
    pub page_engine_over_nginx_p50: f64,
}

impl ReadsResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        let what = format!(
            "{} routers, {} sessions, {:.1} MB body, {} clients",
            self.routers,
            self.sessions,
            self.body_bytes as f64 / 1e6,
            self.clients
        );
        let line = |f: &LoadFigures| {
            format!(
                "{:.0} req/s · {:.0} MB/s · p50 {} · p99 {} · server CPU {:.0} µs/req",
                f.requests_per_s,
                f.bytes_per_s / 1e6,
                ms(f.latency.p50_ms),
                ms(f.latency.p99_ms),
                f.server_cpu_us_per_request
            )
        };
        let mut rows = vec![[
            format!("/monitoring/targets via engine ({what})"),
            line(&self.engine),
        ]];
        match (&self.nginx, &self.nginx_note) {
            (Some(nginx), _) => {
                rows.push(["same body, static file via nginx".into(), line(nginx)]);
                rows.push([
                    "engine / nginx (requests/s · server CPU per request)".into(),
                    format!(
                        "{} · {}",
                        times(self.engine_over_nginx_rps),
                        times(self.engine_over_nginx_cpu)
                    ),
                ]);
            }
            (None, Some(note)) => rows.push(["same body via nginx".into(), note.clone()]),
            (None, None) => {}
        }
        let page = |s: &Summary| format!("p50 {} · p99 {}", ms(s.p50_ms), ms(s.p99_ms));
        rows.push([
            format!(
                "one page of /router/1/users via engine ({:.1} KB, 1 client)",
                self.page_bytes as f64 / 1e3
            ),
            page(&self.page_engine),
        ]);
        if let Some(nginx) = &self.page_nginx {
            rows.push(["same page, static file via nginx".into(), page(nginx)]);
            rows.push([
                "engine / nginx (page p50)".into(),
                times(self.page_engine_over_nginx_p50),
            ]);
        }
        rows
    }
}

/// Where the server being loaded runs, to measure its CPU.
#[derive(Debug, Clone, Copy)]
pub enum Server {
    /// In this process: its CPU minus the load clients' own.
    InProcess,
    /// A process and its children.
    Process(u32),
}

fn server_cpu(server: Server) -> f64 {
    match server {
        Server::InProcess => cpu_seconds(None),
        Server::Process(pid) => process_tree_cpu_seconds(pid),
    }
}

/// `clients` keep-alive clients GET `path` back to back for `duration`.
pub fn load(
    addr: SocketAddr,
    server: Server,
    path: &str,
    clients: usize,
    duration: Duration,
) -> BenchResult<LoadFigures> {
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut threads = Vec::with_capacity(clients);
    for _ in 0..clients {
        let barrier = Arc::clone(&barrier);
        let path = path.to_owned();
        let thread = std::thread::Builder::new().name("bench-client".into());
        threads.push(thread.spawn(move || {
            let mut client = HttpClient::new(addr, Duration::from_secs(30));
            let mut body = Vec::new();
            let mut samples = Vec::with_capacity(4096);
            let (mut bytes, mut errors) = (0u64, 0u64);
            // Connect before the clock starts.
            let _ = client.get("/api/v1/health", KEY, &mut body);
            barrier.wait();
            let cpu_before = current_thread_cpu_seconds();
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let started = Instant::now();
                match client.get(&path, KEY, &mut body) {
                    Ok(answer) if answer.status == 200 => {
                        samples.push(started.elapsed());
                        bytes += answer.body_len as u64;
                    }
                    _ => errors += 1,
                }
            }
            let cpu = current_thread_cpu_seconds() - cpu_before;
            (samples, bytes, errors, client.connects, cpu)
        })?);
    }
    barrier.wait();
    let started = Instant::now();
    let cpu_before = server_cpu(server);
    let mut samples = Vec::new();
    let (mut bytes, mut errors, mut connects, mut client_cpu) = (0u64, 0u64, 0u64, 0.0);
    for thread in threads {
        let (s, b, e, c, cpu) = thread
            .join()
            .map_err(|_| BenchError("a load client panicked".into()))?;
        samples.extend(s);
        bytes += b;
        errors += e;
        connects += c;
        client_cpu += cpu;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut used = server_cpu(server) - cpu_before;
    if let Server::InProcess = server {
        used -= client_cpu;
    }
    Ok(LoadFigures {
        requests: samples.len() as u64,
        errors,
        seconds,
        requests_per_s: samples.len() as f64 / seconds,
        bytes_per_s: bytes as f64 / seconds,
        server_cpu_us_per_request: ratio(used.max(0.0) * 1e6, samples.len() as f64),
        latency: Summary::of(&samples),
        connects,
    })
}

/// `count` sequential GETs of `path` on one keep-alive connection.
fn sequential(addr: SocketAddr, path: &str, count: usize) -> BenchResult<Summary> {
    let mut client = HttpClient::new(addr, Duration::from_secs(30));
    let mut body = Vec::new();
    let mut samples = Vec::with_capacity(count);
    for round in 0..count + count / 10 {
        let took = client
            .timed_ok(path, KEY, &mut body, "reads")
            .map_err(BenchError)?;
        // The first tenth warms up.
        if round >= count / 10 {
            samples.push(took);
        }
    }
    Ok(Summary::of(&samples))
}

fn fetch(addr: SocketAddr, path: &str) -> BenchResult<Vec<u8>> {
    let mut body = Vec::new();
    let answer = HttpClient::new(addr, Duration::from_secs(30))
        .get(path, KEY, &mut body)
        .map_err(|e| BenchError(format!("reads: {path}: {e}")))?;
    if answer.status != 200 {
        return Err(BenchError(format!(
            "reads: {path}: status {}",
            answer.status
        )));
    }
    Ok(body)
}

pub fn run(quick: bool) -> BenchResult<ReadsResult> {
    let (routers, sessions, clients, duration) = if quick {
        (10, 50, 4, Duration::from_secs(1))
    } else {
        (100, 200, 16, Duration::from_secs(10))
    };
    let users = users_for_sessions(sessions);
    let sim = simulator(routers, users, Duration::ZERO)?;
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        FleetSettings::default(),
        Duration::from_secs(60),
    )?;
    if !engine.warm {
        return Err(BenchError("reads: the fleet did not come online".into()));
    }
    let body = fetch(engine.addr, PATH)?;
    let page_body = fetch(engine.addr, PAGE)?;
    let page_count = if quick { 50 } else { 2000 };
    let sessions_seen = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.as_array().map(|rows| rows.len() as u64))
        .unwrap_or(0);
    let engine_figures = load(engine.addr, Server::InProcess, PATH, clients, duration)?;
    let page_engine = sequential(engine.addr, PAGE, page_count)?;
    let (nginx, page_nginx, nginx_note) = match nginx_binary() {
        None => (
            None,
            None,
            Some("nginx not installed (apt-get install nginx-light)".to_owned()),
        ),
        Some(binary) => {
            let files: [(&str, &[u8]); 2] = [("targets.json", &body), ("page.json", &page_body)];
            let server = Nginx::start(&binary, &nginx_dir()?, &files)?;
            let figures = load(
                server.addr,
                Server::Process(server.pid()),
                "/targets.json",
                clients,
                duration,
            )?;
            let page = sequential(server.addr, "/page.json", page_count)?;
            (Some(figures), Some(page), None)
        }
    };
    let engine_over_nginx_rps = nginx
        .as_ref()
        .map(|n| ratio(engine_figures.requests_per_s, n.requests_per_s))
        .unwrap_or(0.0);
    let engine_over_nginx_cpu = nginx
        .as_ref()
        .map(|n| {
            ratio(
                engine_figures.server_cpu_us_per_request,
                n.server_cpu_us_per_request,
            )
        })
        .unwrap_or(0.0);
    Ok(ReadsResult {
        routers,
        users_per_router: users,
        sessions: sessions_seen,
        body_bytes: body.len(),
        clients,
        engine: engine_figures,
        nginx,
        nginx_note,
        engine_over_nginx_rps,
        engine_over_nginx_cpu,
        page_bytes: page_body.len(),
        page_engine_over_nginx_p50: page_nginx
            .as_ref()
            .map(|n| ratio(page_engine.p50_ms, n.p50_ms))
            .unwrap_or(0.0),
        page_engine,
        page_nginx,
    })
}
