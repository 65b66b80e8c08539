//! Scenario 1, live command latency: `GET /router/1/traffic?user=alice` through the engine
//! against the same RouterOS commands on one persistent direct client (the floor) and on a
//! fresh connect + login per request (a PHP app without a middleware).
//!
//! The four run interleaved, one sample of each per round, so drift hits all alike. The
//! floor does the least work that gives the same answer: one command, the remembered queue
//! read at the address it learned (what the engine does for a user its last poll saw
//! online). Per request does that same command after connect + login; "per request, no
//! cache" is what an app without any memory must send: connect, login, `/ppp/active/print
//! ?name=alice`, then the queue.

use super::harness::{
    router_configs, sim_addrs, simulator, BenchEngine, BenchError, BenchResult, KEY,
};
use super::http_client::HttpClient;
use super::stats::{ms, ratio, times, Summary};
use net_engine::fleet::traffic::{self, TrafficMemory};
use net_engine::fleet::FleetSettings;
use net_engine::router::Client;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const USER: &str = "alice";
const TIMEOUT: Duration = Duration::from_secs(10);

/// One simulator latency setting.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    pub sim_latency_ms: u64,
    pub rounds: usize,
    pub engine: Summary,
    pub direct: Summary,
    pub per_request: Summary,
    /// Connect + login + session lookup + queue read: an app that remembers nothing.
    pub per_request_uncached: Summary,
    pub engine_over_direct_p50: f64,
    pub engine_over_direct_p99: f64,
    pub per_request_over_engine_p50: f64,
    pub per_request_over_engine_p99: f64,
    pub per_request_uncached_over_engine_p50: f64,
    /// A cached read of the same router through the engine (`/router/1/health`, no router
    /// command): the HTTP part of an engine call, in and out.
    pub engine_cached: Summary,
    /// Two threads passing a message there and back over crossbeam channels: what one
    /// hand-off pair costs on this machine. An engine call has two more than the floor's
    /// path (HTTP worker → router thread → worker), plus tiny_http's own (connection
    /// thread → worker).
    pub handoff_round_trip: Summary,
    /// Router commands per engine call (simulator count, polls excluded): 1 expected.
    pub engine_commands_per_call: f64,
    /// Engine answers other than 200 (none expected).
    pub engine_errors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub runs: Vec<LatencyRun>,
}

impl LatencyResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        let mut rows = Vec::new();
        for run in &self.runs {
            let at = format!("sim {} ms/reply", run.sim_latency_ms);
            let pair = |s: &Summary| format!("p50 {} · p99 {}", ms(s.p50_ms), ms(s.p99_ms));
            rows.push([format!("traffic via engine ({at})"), pair(&run.engine)]);
            rows.push([
                format!("direct persistent client ({at})"),
                pair(&run.direct),
            ]);
            rows.push([
                format!("connect+login per request ({at})"),
                pair(&run.per_request),
            ]);
            rows.push([
                format!("engine / direct ({at})"),
                format!(
                    "p50 {} · p99 {}",
                    times(run.engine_over_direct_p50),
                    times(run.engine_over_direct_p99)
                ),
            ]);
            rows.push([
                format!("connect+login+lookup+queue per request ({at})"),
                pair(&run.per_request_uncached),
            ]);
            rows.push([
                format!("per-request / engine ({at})"),
                format!(
                    "p50 {} · p99 {} · without a cache p50 {}",
                    times(run.per_request_over_engine_p50),
                    times(run.per_request_over_engine_p99),
                    times(run.per_request_uncached_over_engine_p50)
                ),
            ]);
            rows.push([
                format!("of it: cached read via engine, thread hand-off pair ({at})"),
                format!(
                    "p50 {} · {} (floor + both = {} vs engine {})",
                    ms(run.engine_cached.p50_ms),
                    ms(run.handoff_round_trip.p50_ms),
                    ms(run.direct.p50_ms
                        + run.engine_cached.p50_ms
                        + run.handoff_round_trip.p50_ms),
                    ms(run.engine.p50_ms)
                ),
            ]);
            rows.push([
                format!("router commands per engine call ({at})"),
                format!("{:.2}", run.engine_commands_per_call),
            ]);
        }
        rows
    }
}

pub fn run(quick: bool) -> BenchResult<LatencyResult> {
    let settings: &[(u64, usize)] = if quick {
        &[(0, 100), (20, 8)]
    } else {
        &[(0, 2000), (20, 150)]
    };
    let mut runs = Vec::new();
    for &(latency_ms, rounds) in settings {
        runs.push(run_one(latency_ms, rounds)?);
    }
    Ok(LatencyResult { runs })
}

/// An app without a cache: look the session up, then detect (or reuse) the source.
/// Returns the session's address.
fn read_traffic(client: &mut Client, memory: &mut TrafficMemory) -> BenchResult<String> {
    let deadline = Instant::now() + TIMEOUT;
    let fail = |e: net_engine::router::RouterError| BenchError(format!("direct client: {e}"));
    let sessions = client.active_sessions_of(USER, deadline).map_err(fail)?;
    let session = sessions
        .into_iter()
        .find(|s| s.name == USER)
        .ok_or_else(|| BenchError(format!("{USER} has no live session")))?;
    traffic::detect(client, memory, USER, &session.address, deadline)
        .map_err(fail)?
        .ok_or_else(|| BenchError(format!("no traffic source for {USER}")))?;
    Ok(session.address.into())
}

/// The floor's work: one command, the remembered source at the known address.
fn read_known(client: &mut Client, memory: &TrafficMemory, address: &str) -> BenchResult<()> {
    let deadline = Instant::now() + TIMEOUT;
    traffic::read_remembered(client, memory, USER, address, deadline)
        .map_err(|e| BenchError(format!("direct client: {e}")))?
        .ok_or_else(|| BenchError(format!("the remembered source of {USER} answered nothing")))?;
    Ok(())
}

fn logged_in(addr: SocketAddr) -> BenchResult<Client> {
    let mut client = Client::connect(&addr.ip().to_string(), addr.port(), TIMEOUT)
        .map_err(|e| BenchError(format!("direct connect: {e}")))?;
    client
        .login("admin", "", Instant::now() + TIMEOUT)
        .map_err(|e| BenchError(format!("direct login: {e}")))?;
    Ok(client)
}

fn run_one(latency_ms: u64, rounds: usize) -> BenchResult<LatencyRun> {
    let sim = simulator(1, 200, Duration::from_millis(latency_ms))?;
    let addrs = sim_addrs(&sim);
    // No share window: every call below is the engine's own round trip, not a kept answer.
    let engine = BenchEngine::start(
        router_configs(&addrs),
        FleetSettings {
            traffic_share_window: Duration::ZERO,
            // The command path (scenario 7 measures watched customers' streams).
            traffic_streams_max: 0,
            ..FleetSettings::default()
        },
        Duration::from_secs(20),
    )?;
    if !engine.warm {
        return Err(BenchError("latency: the router did not come online".into()));
    }
    let router = addrs[0];
    let path = format!("/api/v1/router/1/traffic?user={USER}");
    let mut http = HttpClient::new(engine.addr, TIMEOUT);
    let mut body = Vec::new();
    let mut direct = logged_in(router)?;
    let mut direct_memory = TrafficMemory::default();
    let mut fresh_memory = TrafficMemory::default();
    let mut uncached_memory = TrafficMemory::default();
    // The floor and per-request learn the source and address once, as the engine's poll and
    // first call do.
    let address = read_traffic(&mut direct, &mut direct_memory)?;
    read_traffic(&mut direct, &mut fresh_memory)?;

    let mut engine_call = |errors: &mut usize| -> BenchResult<Duration> {
        let started = Instant::now();
        let answer = http
            .get(&path, KEY, &mut body)
            .map_err(|e| BenchError(format!("engine: {e}")))?;
        let elapsed = started.elapsed();
        if answer.status != 200 {
            *errors += 1;
        }
        Ok(elapsed)
    };
    let mut direct_call = || -> BenchResult<Duration> {
        let started = Instant::now();
        read_known(&mut direct, &direct_memory, &address)?;
        Ok(started.elapsed())
    };
    let fresh_call = || -> BenchResult<Duration> {
        let started = Instant::now();
        let mut client = logged_in(router)?;
        read_known(&mut client, &fresh_memory, &address)?;
        drop(client);
        Ok(started.elapsed())
    };
    let mut uncached_call = || -> BenchResult<Duration> {
        let started = Instant::now();
        let mut client = logged_in(router)?;
        read_traffic(&mut client, &mut uncached_memory)?;
        drop(client);
        Ok(started.elapsed())
    };

    let cached_path = "/api/v1/router/1/health";
    let mut cached_http = HttpClient::new(engine.addr, TIMEOUT);
    let mut cached_body = Vec::new();
    let mut cached_call = || -> BenchResult<Duration> {
        cached_http
            .timed_ok(cached_path, KEY, &mut cached_body, "latency: cached read")
            .map_err(BenchError)
    };
    let handoff = Handoff::start()?;

    // Warm-up: the engine and the clients learn the traffic source; caches and TCP settle.
    let mut ignored = 0;
    for _ in 0..(rounds / 10).clamp(3, 50) {
        engine_call(&mut ignored)?;
        direct_call()?;
        fresh_call()?;
        uncached_call()?;
        cached_call()?;
        handoff.round_trip()?;
    }
    // The engine's router commands, counted on the simulator (no poll runs in between:
    // the default poll is 10 s and the count is taken over engine calls only).
    let mut engine_commands = 0u64;
    let mut engine_counted = 0u64;
    let counter = || sim.routers()[0].with_state(|s| s.commands_received());
    let mut engine_samples = Vec::with_capacity(rounds);
    let mut direct_samples = Vec::with_capacity(rounds);
    let mut fresh_samples = Vec::with_capacity(rounds);
    let mut uncached_samples = Vec::with_capacity(rounds);
    let mut cached_samples = Vec::with_capacity(rounds);
    let mut handoff_samples = Vec::with_capacity(rounds);
    let mut engine_errors = 0;
    for round in 0..rounds {
        // Rotate who goes first so none always runs right after a connection close.
        for slot in 0..6 {
            match (round + slot) % 6 {
                4 => cached_samples.push(cached_call()?),
                5 => handoff_samples.push(handoff.round_trip()?),
                0 => {
                    let before = counter();
                    let polled = engine.fleet.snapshots()[0].last_poll_at;
                    engine_samples.push(engine_call(&mut engine_errors)?);
                    // A poll that ran meanwhile would add its commands: skip that sample.
                    if engine.fleet.snapshots()[0].last_poll_at == polled {
                        engine_commands += counter() - before;
                        engine_counted += 1;
                    }
                }
                1 => direct_samples.push(direct_call()?),
                2 => fresh_samples.push(fresh_call()?),
                _ => uncached_samples.push(uncached_call()?),
            }
        }
    }
    let engine_summary = Summary::of(&engine_samples);
    let direct_summary = Summary::of(&direct_samples);
    let fresh_summary = Summary::of(&fresh_samples);
    let uncached_summary = Summary::of(&uncached_samples);
    drop(engine);
    drop(sim);
    Ok(LatencyRun {
        sim_latency_ms: latency_ms,
        rounds,
        engine_over_direct_p50: ratio(engine_summary.p50_ms, direct_summary.p50_ms),
        engine_over_direct_p99: ratio(engine_summary.p99_ms, direct_summary.p99_ms),
        per_request_over_engine_p50: ratio(fresh_summary.p50_ms, engine_summary.p50_ms),
        per_request_over_engine_p99: ratio(fresh_summary.p99_ms, engine_summary.p99_ms),
        per_request_uncached_over_engine_p50: ratio(uncached_summary.p50_ms, engine_summary.p50_ms),
        engine_commands_per_call: if engine_counted == 0 {
            0.0
        } else {
            engine_commands as f64 / engine_counted as f64
        },
        engine: engine_summary,
        engine_cached: Summary::of(&cached_samples),
        handoff_round_trip: Summary::of(&handoff_samples),
        direct: direct_summary,
        per_request: fresh_summary,
        per_request_uncached: uncached_summary,
        engine_errors,
    })
}

/// A thread that sends back what it is sent, over two one-slot crossbeam channels (as a
/// router thread answers an HTTP worker).
struct Handoff {
    to_echo: Option<crossbeam_channel::Sender<Instant>>,
    from_echo: crossbeam_channel::Receiver<Instant>,
    echo: Option<std::thread::JoinHandle<()>>,
}

impl Handoff {
    fn start() -> BenchResult<Handoff> {
        let (to_echo, inbox) = crossbeam_channel::bounded::<Instant>(1);
        let (outbox, from_echo) = crossbeam_channel::bounded::<Instant>(1);
        let echo = std::thread::Builder::new()
            .name("bench-echo".into())
            .spawn(move || {
                while let Ok(at) = inbox.recv() {
                    if outbox.send(at).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Handoff {
            to_echo: Some(to_echo),
            from_echo,
            echo: Some(echo),
        })
    }

    fn round_trip(&self) -> BenchResult<Duration> {
        let started = Instant::now();
        let sent = self.to_echo.as_ref().map(|tx| tx.send(started));
        match (sent, self.from_echo.recv_timeout(TIMEOUT)) {
            (Some(Ok(())), Ok(_)) => Ok(started.elapsed()),
            _ => Err(BenchError("latency: the echo thread stopped".into())),
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Closing its inbox ends the echo thread.
        self.to_echo.take();
        if let Some(echo) = self.echo.take() {
            let _ = echo.join();
        }
    }
}
