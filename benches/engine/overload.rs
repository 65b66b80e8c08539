//! Scenario 4, overload: many concurrent live requests at one slow router. Every caller
//! should get 200, 503 or 504 within the command timeout + 1 s, other routers should not
//! notice, and memory should stay bounded.
//!
//! The callers are plain non-blocking sockets driven by one thread, so this process's thread
//! count and RSS stay the engine's (plus an in-process simulator of three routers).

use super::harness::{
    router_configs, sim_addrs, simulator, BenchEngine, BenchError, BenchResult, KEY,
};
use super::http_client::{read_response, HttpClient};
use super::stats::{ms, process_figures, ratio, Summary};
use net_engine::fleet::FleetSettings;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SLOW: &str = "/api/v1/router/1/traffic?user=alice";
const BYSTANDER: &str = "/api/v1/router/2/traffic?user=alice";

#[derive(Debug, Clone, Default, Serialize)]
pub struct OverloadResult {
    pub callers: usize,
    pub slow_router_latency_ms: u64,
    pub command_timeout_s: f64,
    /// How long callers were waited for before giving up on them.
    pub give_up_s: f64,
    #[serde(flatten)]
    pub answers: Answers,
    pub callers_latency: Summary,
    pub bystander_before: Summary,
    pub bystander_during: Summary,
    pub bystander_errors: u64,
    pub bystander_p99_ratio: f64,
    /// The other router's caller while the same burst goes to a router that answers at
    /// once (nobody waits or is refused): the cost of the arrivals themselves.
    pub fast_burst_bystander: Summary,
    pub fast_burst_status_200: usize,
    /// The sustained phase after the burst (see [`Sustained`]).
    pub sustained: Sustained,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    pub threads_before: u64,
    pub threads_peak: u64,
}

impl OverloadResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        vec![
            [
                format!(
                    "{} concurrent callers → router at {} ms/reply (timeout {} s)",
                    self.callers, self.slow_router_latency_ms, self.command_timeout_s
                ),
                self.answers.summary(),
            ],
            [
                "callers' latency".into(),
                format!(
                    "p50 {} · p99 {} · max {}",
                    ms(self.callers_latency.p50_ms),
                    ms(self.callers_latency.p99_ms),
                    ms(self.callers_latency.max_ms)
                ),
            ],
            [
                "other router during the burst".into(),
                format!(
                    "p99 {} before · {} during ({} samples: the worst of them, ×{:.1}) · {} failed",
                    ms(self.bystander_before.p99_ms),
                    ms(self.bystander_during.p99_ms),
                    self.bystander_during.count,
                    self.bystander_p99_ratio,
                    self.bystander_errors
                ),
            ],
            [
                "other router during the same burst at a fast router".into(),
                format!(
                    "{} during ({} samples: the worst of them, ×{:.1}) · the burst {} × 200",
                    ms(self.fast_burst_bystander.p99_ms),
                    self.fast_burst_bystander.count,
                    ratio(self.fast_burst_bystander.p99_ms, self.bystander_before.p99_ms),
                    self.fast_burst_status_200
                ),
            ],
            [
                format!(
                    "same callers for {:.0} s more, each polling its user every ~1 s",
                    self.sustained.seconds
                ),
                format!(
                    "{} requests · {}",
                    self.sustained.requests,
                    self.sustained.answers.summary()
                ),
            ],
            [
                "other router during the sustained overload".into(),
                format!(
                    "p99 {} idle ({} samples) · {} during ({} samples, ×{:.2}) · max {} idle, {} during · {} failed",
                    ms(self.bystander_before.p99_ms),
                    self.bystander_before.count,
                    ms(self.sustained.bystander.p99_ms),
                    self.sustained.bystander.count,
                    self.sustained.bystander_p99_ratio,
                    ms(self.bystander_before.max_ms),
                    ms(self.sustained.bystander.max_ms),
                    self.sustained.bystander_errors
                ),
            ],
            [
                "engine memory and threads under overload".into(),
                format!(
                    "RSS +{:.1} MiB at peak, +{:.1} MiB after · threads {} → peak {}",
                    self.rss_peak_kib.saturating_sub(self.rss_before_kib) as f64 / 1024.0,
                    self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / 1024.0,
                    self.threads_before,
                    self.threads_peak
                ),
            ],
        ]
    }
}

/// After the burst, the same callers keep calling for `seconds`, each an online user of
/// the slow router (spread over all of them, so admitted calls really queue there), one
/// request at a time on a new connection as PHP workers do, each a second (±50 %) after
/// its last answer — the `Retry-After` of a 503 — like 500 dashboards polling: ~500 calls
/// a second at a router that answers 5. The other router's p99 then
/// rests on thousands of samples; the burst's own window is ~0.4 s, so its "p99" is the
/// worst of ~70, which this machine's idle spikes alone can set (the idle run's max shows
/// them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sustained {
    pub seconds: f64,
    pub requests: usize,
    #[serde(flatten)]
    pub answers: Answers,
    pub callers_latency: Summary,
    pub bystander: Summary,
    pub bystander_errors: u64,
    pub bystander_p99_ratio: f64,
}

/// How a set of calls was answered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    pub status_200: usize,
    pub status_503: usize,
    pub status_504: usize,
    pub status_other: usize,
    /// Connection closed or no answer before giving up.
    pub no_answer: usize,
    /// Answered (any status) within the command timeout + 1 s.
    pub answered_in_bound: usize,
}

impl Answers {
    /// Counts one call (`status` 0: no answer); an answered call's latency goes to `latencies`.
    fn count(
        &mut self,
        status: u16,
        elapsed: Duration,
        bound: Duration,
        latencies: &mut Vec<Duration>,
    ) {
        match status {
            0 => {
                self.no_answer += 1;
                return;
            }
            200 => self.status_200 += 1,
            503 => self.status_503 += 1,
            504 => self.status_504 += 1,
            _ => self.status_other += 1,
        }
        latencies.push(elapsed);
        if elapsed <= bound {
            self.answered_in_bound += 1;
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} within timeout+1 s · 200: {} · 503: {} · 504: {} · other: {} · none: {}",
            self.answered_in_bound,
            self.status_200,
            self.status_503,
            self.status_504,
            self.status_other,
            self.no_answer
        )
    }
}

/// One caller's socket and what it has read. Like a PHP request, a caller closes its
/// connection once answered.
struct Caller {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Status (0: closed without an answer) and latency, once finished.
    outcome: Option<(u16, Duration)>,
}

impl Caller {
    /// Reads what is available; true when something changed.
    fn poll(&mut self, sent: Instant, line: &mut String, body: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 4096];
        let mut progressed = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.outcome = Some((0, sent.elapsed()));
                    return true;
                }
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.outcome = Some((0, sent.elapsed()));
                    return true;
                }
            }
        }
        if progressed {
            // Complete once the parser no longer runs out of bytes.
            if let Ok((status, _)) = read_response(&mut &self.buffer[..], line, body) {
                self.outcome = Some((status.status, sent.elapsed()));
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        progressed
    }
}

/// Sequential requests to another router until `stop`, on one kept-alive connection made
/// before any burst (a connection made during one could wait for the accept queue, which
/// is not what this measures); returns latencies and failures.
fn bystander(
    client: &mut HttpClient,
    stop: &AtomicBool,
    limit: Option<Duration>,
    failures: &AtomicU64,
) -> Vec<Duration> {
    let mut body = Vec::new();
    let mut samples = Vec::new();
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && limit.is_none_or(|l| started.elapsed() < l) {
        let at = Instant::now();
        match client.get(BYSTANDER, KEY, &mut body) {
            Ok(answer) if answer.status == 200 => samples.push(at.elapsed()),
            _ => {
                failures.fetch_add(1, Ordering::SeqCst);
                samples.push(at.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    samples
}

pub fn run(quick: bool) -> BenchResult<OverloadResult> {
    let (callers, command_timeout) = if quick {
        (60, Duration::from_secs(2))
    } else {
        (500, Duration::from_secs(10))
    };
    let latency = Duration::from_millis(200);
    let bound = command_timeout + Duration::from_secs(1);
    let give_up = command_timeout + Duration::from_secs(5);
    let sim = simulator(3, 50, Duration::ZERO)?;
    let settings = FleetSettings {
        command_timeout,
        ..FleetSettings::default()
    };
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        settings,
        Duration::from_secs(20),
    )?;
    if !engine.warm {
        return Err(BenchError("overload: the fleet did not come online".into()));
    }
    let failures = AtomicU64::new(0);
    let never = AtomicBool::new(false);
    // Long enough that the idle p99 is not itself one of this machine's rare spikes.
    let baseline_time = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(10)
    };
    let mut watching = HttpClient::new(engine.addr, give_up);
    let before = bystander(&mut watching, &never, Some(baseline_time), &failures);
    failures.store(0, Ordering::SeqCst);
    let figures_before = process_figures(None);
    // The same burst at a router that answers at once first: what 500 requests landing
    // together cost the other router's caller by themselves, with nobody refused.
    let fast_burst = fast_burst(engine.addr, &mut watching, callers, give_up, &failures)?;
    failures.store(0, Ordering::SeqCst);
    sim.routers()[0].set_latency(latency);

    let request = format!("GET {SLOW} HTTP/1.1\r\nHost: bench\r\nX-App-Key: {KEY}\r\n\r\n");
    // Woken by readiness, not by looking at 500 sockets every millisecond (which would
    // load the 2 cores the bystander shares).
    let mut ready = Readiness::new()?;
    let mut sockets = connect_callers(engine.addr, callers, &ready)?;

    let stop = Arc::new(AtomicBool::new(false));
    let peak = std::thread::scope(|scope| -> BenchResult<(u64, u64, Vec<Duration>)> {
        let monitor = scope.spawn(|| {
            let (mut rss, mut threads) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                let now = process_figures(None);
                rss = rss.max(now.rss_kib);
                threads = threads.max(now.threads);
                std::thread::sleep(Duration::from_millis(50));
            }
            (rss, threads)
        });
        let during = scope.spawn(|| bystander(&mut watching, &stop, None, &failures));
        burst(&mut sockets, &request, &mut ready, give_up)?;
        stop.store(true, Ordering::SeqCst);
        let (rss, threads) = monitor
            .join()
            .map_err(|_| BenchError("monitor panicked".into()))?;
        let during = during
            .join()
            .map_err(|_| BenchError("bystander panicked".into()))?;
        Ok((rss, threads, during))
    })?;
    let (rss_peak, threads_peak, during) = peak;
    let figures_after = process_figures(None);

    let mut result = OverloadResult {
        callers,
        slow_router_latency_ms: latency.as_millis() as u64,
        command_timeout_s: command_timeout.as_secs_f64(),
        give_up_s: give_up.as_secs_f64(),
        ..OverloadResult::default()
    };
    let mut latencies = Vec::new();
    for caller in &sockets {
        let (status, elapsed) = caller.outcome.unwrap_or((0, give_up));
        result.answers.count(status, elapsed, bound, &mut latencies);
    }
    drop(sockets);
    let sustain = if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let users = sim.routers()[0].with_state(|s| s.active_names());
    result.sustained = sustained(
        engine.addr,
        &mut watching,
        callers,
        &users,
        sustain,
        bound,
        give_up,
    )?;
    result.sustained.bystander_p99_ratio = ratio(
        result.sustained.bystander.p99_ms,
        Summary::of(&before).p99_ms,
    );
    result.fast_burst_bystander = fast_burst.0;
    result.fast_burst_status_200 = fast_burst.1;
    result.callers_latency = Summary::of(&latencies);
    result.bystander_before = Summary::of(&before);
    result.bystander_during = Summary::of(&during);
    result.bystander_errors = failures.load(Ordering::SeqCst);
    result.bystander_p99_ratio = ratio(
        result.bystander_during.p99_ms,
        result.bystander_before.p99_ms,
    );
    result.rss_before_kib = figures_before.rss_kib;
    result.rss_peak_kib = rss_peak.max(figures_after.rss_kib);
    result.rss_after_kib = figures_after.rss_kib;
    result.threads_before = figures_before.threads;
    result.threads_peak = threads_peak;
    drop(engine);
    drop(sim);
    Ok(result)
}

/// One caller of the sustained phase: its user, and its request in flight or when it sends
/// the next.
struct Looper {
    path: String,
    caller: Option<Caller>,
    sent: Instant,
    next_send: Instant,
}

/// The sustained phase (see [`Sustained`]).
fn sustained(
    addr: SocketAddr,
    watching: &mut HttpClient,
    callers: usize,
    users: &[String],
    sustain: Duration,
    bound: Duration,
    give_up: Duration,
) -> BenchResult<Sustained> {
    if users.is_empty() {
        return Err(BenchError(
            "overload: the slow router has no online user".into(),
        ));
    }
    let started = Instant::now();
    let mut loopers: Vec<Looper> = (0..callers)
        .map(|k| Looper {
            path: format!("/api/v1/router/1/traffic?user={}", users[k % users.len()]),
            caller: None,
            sent: started,
            next_send: started,
        })
        .collect();
    let failures = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut figures = Sustained {
        seconds: sustain.as_secs_f64(),
        ..Sustained::default()
    };
    let mut latencies = Vec::new();
    let mut rng = net_engine::rng::Rng::new(7);
    let bystander_samples = std::thread::scope(|scope| -> BenchResult<Vec<Duration>> {
        let watcher = scope.spawn(|| bystander(watching, &stop, None, &failures));
        let (mut line, mut body) = (String::new(), Vec::new());
        let mut ready = Readiness::new()?;
        // Sends stop at `sustain`; what is in flight then is still waited for.
        while loopers.iter().any(|l| l.caller.is_some()) || started.elapsed() < sustain {
            if started.elapsed() > sustain + give_up {
                break;
            }
            // Once sends stop, only answers are waited for (no idle caller is due).
            let sending = started.elapsed() < sustain;
            let next_send = loopers
                .iter()
                .filter(|l| sending && l.caller.is_none())
                .map(|l| l.next_send)
                .min();
            let wait = next_send
                .map_or(Duration::from_millis(10), |at| {
                    at.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(10));
            let woken: std::collections::HashSet<usize> = ready.wait(wait)?.into_iter().collect();
            let now = Instant::now();
            for (k, looper) in loopers.iter_mut().enumerate() {
                match &mut looper.caller {
                    None if now >= looper.next_send && started.elapsed() < sustain => {
                        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                        stream.set_nodelay(true)?;
                        let request = format!(
                            "GET {} HTTP/1.1\r\nHost: bench\r\nX-App-Key: {KEY}\r\n\r\n",
                            looper.path
                        );
                        ready.register(&stream, k)?;
                        stream.write_all(request.as_bytes())?;
                        stream.set_nonblocking(true)?;
                        looper.caller = Some(Caller {
                            stream,
                            buffer: Vec::new(),
                            outcome: None,
                        });
                        looper.sent = Instant::now();
                        figures.requests += 1;
                    }
                    None => {}
                    Some(caller) => {
                        if woken.contains(&k) {
                            caller.poll(looper.sent, &mut line, &mut body);
                        }
                        let outcome = caller.outcome.or_else(|| {
                            (looper.sent.elapsed() > give_up).then_some((0, looper.sent.elapsed()))
                        });
                        if let Some((status, elapsed)) = outcome {
                            figures
                                .answers
                                .count(status, elapsed, bound, &mut latencies);
                            // A dashboard asks again a second later; the engine's 503
                            // says Retry-After: 1. Callers spread both ±50 %.
                            let spread = 0.5 + rng.unit();
                            looper.next_send =
                                Instant::now() + Duration::from_secs(1).mul_f64(spread);
                            looper.caller = None;
                        }
                    }
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        watcher
            .join()
            .map_err(|_| BenchError("bystander panicked".into()))
    })?;
    figures.callers_latency = Summary::of(&latencies);
    figures.bystander = Summary::of(&bystander_samples);
    figures.bystander_errors = failures.load(Ordering::SeqCst);
    Ok(figures)
}

/// Which callers' sockets have bytes (epoll through `mio`, edge-triggered: a woken caller
/// reads until its socket would block).
struct Readiness {
    poll: mio::Poll,
    events: mio::Events,
}

impl Readiness {
    fn new() -> BenchResult<Readiness> {
        Ok(Readiness {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(1024),
        })
    }

    /// Registers `stream` as caller `k` (before its request is written: no edge is missed).
    fn register(&self, stream: &TcpStream, k: usize) -> BenchResult<()> {
        use std::os::fd::AsRawFd;
        self.poll.registry().register(
            &mut mio::unix::SourceFd(&stream.as_raw_fd()),
            mio::Token(k),
            mio::Interest::READABLE,
        )?;
        Ok(())
    }

    /// The callers woken within `timeout`.
    fn wait(&mut self, timeout: Duration) -> BenchResult<Vec<usize>> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self.events.iter().map(|e| e.token().0).collect())
    }
}

/// `callers` requests at once at router 3 (no added latency), one connection each, while
/// the bystander calls router 2; returns the bystander's samples and how many got 200.
fn fast_burst(
    addr: SocketAddr,
    watching: &mut HttpClient,
    callers: usize,
    give_up: Duration,
    failures: &AtomicU64,
) -> BenchResult<(Summary, usize)> {
    let request = format!(
        "GET /api/v1/router/3/traffic?user=alice HTTP/1.1\r\nHost: bench\r\nX-App-Key: {KEY}\r\n\r\n"
    );
    let mut ready = Readiness::new()?;
    let mut sockets = connect_callers(addr, callers, &ready)?;
    let stop = AtomicBool::new(false);
    let during = std::thread::scope(|scope| -> BenchResult<Vec<Duration>> {
        let watcher = scope.spawn(|| bystander(watching, &stop, None, failures));
        let sent = burst(&mut sockets, &request, &mut ready, give_up)?;
        // The slow burst's window lasts ~0.4 s; keep the bystander as long here.
        while sent.elapsed() < Duration::from_millis(400) {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        watcher
            .join()
            .map_err(|_| BenchError("bystander panicked".into()))
    })?;
    let ok = sockets
        .iter()
        .filter(|c| matches!(c.outcome, Some((200, _))))
        .count();
    Ok((Summary::of(&during), ok))
}

/// `callers` connections to `addr`, each registered with `ready` under its index (before any
/// request is written, so no answer's edge is missed).
fn connect_callers(
    addr: SocketAddr,
    callers: usize,
    ready: &Readiness,
) -> BenchResult<Vec<Caller>> {
    let mut sockets = Vec::with_capacity(callers);
    for k in 0..callers {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        ready.register(&stream, k)?;
        sockets.push(Caller {
            stream,
            buffer: Vec::new(),
            outcome: None,
        });
    }
    Ok(sockets)
}

/// Writes `request` on every socket at once, then reads answers as they come until all are
/// in or `give_up` passes; returns when the writing began.
fn burst(
    sockets: &mut [Caller],
    request: &str,
    ready: &mut Readiness,
    give_up: Duration,
) -> BenchResult<Instant> {
    let sent = Instant::now();
    for caller in sockets.iter_mut() {
        caller.stream.write_all(request.as_bytes())?;
        caller.stream.set_nonblocking(true)?;
    }
    let (mut line, mut body) = (String::new(), Vec::new());
    while sent.elapsed() < give_up && sockets.iter().any(|c| c.outcome.is_none()) {
        for k in ready.wait(Duration::from_millis(50))? {
            if let Some(caller) = sockets.get_mut(k).filter(|c| c.outcome.is_none()) {
                caller.poll(sent, &mut line, &mut body);
            }
        }
    }
    Ok(sent)
}
