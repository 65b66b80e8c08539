//! Scenario 3, fleet scale: the engine (in this process) against a simulator in a separate
//! `net-engine sim` process, at growing fleet sizes: warm-up time, RSS, threads and CPU per
//! minute at the poll interval, so growth is visible.
//!
//! The engine lives in this process, so RSS and threads are this process's, taken just
//! before the engine starts and after it is warm; the simulator's CPU is reported apart.

use super::harness::{
    router_configs, users_for_sessions, BenchEngine, BenchError, BenchResult, SimProcess, KEY,
};
use super::http_client::HttpClient;
use super::stats::{cpu_seconds, ms, open_files_limit, process_figures, thread_groups, Summary};
use net_engine::fleet::FleetSettings;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct ScaleStep {
    pub routers: usize,
    pub users_per_router: usize,
    pub sessions: u64,
    pub online: usize,
    pub sim_startup_s: f64,
    /// From starting the fleet to every router online with a filled cache.
    pub warmup_s: f64,
    pub rss_before_kib: u64,
    pub rss_kib: u64,
    pub rss_delta_kib: u64,
    /// Live heap (counting allocator) the engine added, per router, after warm-up.
    pub heap_per_router_kib: f64,
    /// Of it: the published session and secret lists (strings and rows), per router.
    pub lists_per_router_kib: f64,
    pub threads_before: u64,
    pub threads: u64,
    pub window_s: f64,
    /// CPU seconds the whole engine process used per minute while idle (polling only).
    pub engine_cpu_s_per_min: f64,
    /// Of it, per thread group (`router-N`, `http-N`, `http-edge`, `socket-watcher`): CPU
    /// seconds per minute and times its threads were woken per second.
    pub thread_groups: Vec<ThreadGroup>,
    pub sim_cpu_s_per_min: f64,
    /// Polls the idle window held (routers × window ÷ poll interval; the sessions are static,
    /// so each finds nothing changed).
    pub quiet_polls: f64,
    /// Allocations the whole engine process made per quiet poll (counting allocator).
    pub allocations_per_quiet_poll: f64,
    pub targets_bytes: usize,
    pub targets: Summary,
    pub routers_list: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadGroup {
    pub name: String,
    pub cpu_s_per_min: f64,
    pub wakeups_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    pub poll_interval_s: f64,
    pub open_files_limit: Option<u64>,
    pub steps: Vec<ScaleStep>,
}

impl ScaleResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        self.steps
            .iter()
            .map(|s| {
                [
                    format!(
                        "{} routers × {} sessions (poll {} s)",
                        s.routers,
                        s.sessions / s.routers.max(1) as u64,
                        self.poll_interval_s
                    ),
                    format!(
                        "warm-up {:.2} s · RSS +{:.1} MiB ({:.0} KiB/router; heap {:.0} KiB, of it lists {:.0} KiB) · {} threads · CPU {:.2} s/min (sim {:.2}) · targets p50 {} · routers p50 {}",
                        s.warmup_s,
                        s.rss_delta_kib as f64 / 1024.0,
                        s.rss_delta_kib as f64 / s.routers.max(1) as f64,
                        s.heap_per_router_kib,
                        s.lists_per_router_kib,
                        s.threads - s.threads_before,
                        s.engine_cpu_s_per_min,
                        s.sim_cpu_s_per_min,
                        ms(s.targets.p50_ms),
                        ms(s.routers_list.p50_ms),
                    ),
                ]
            })
            .chain(self.steps.iter().map(|s| {
                let polls_per_s = s.quiet_polls / s.window_s.max(f64::EPSILON);
                let groups: Vec<String> = s
                    .thread_groups
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {:.2} s/min, {:.0} wake-ups/s",
                            g.name, g.cpu_s_per_min, g.wakeups_per_s
                        )
                    })
                    .collect();
                let router_wakeups = s
                    .thread_groups
                    .iter()
                    .find(|g| g.name == "router-N")
                    .map_or(0.0, |g| g.wakeups_per_s);
                [
                    format!("{} routers, idle CPU by thread", s.routers),
                    format!(
                        "{} · {:.1} router-thread wake-ups per poll",
                        groups.join(" · "),
                        router_wakeups / polls_per_s.max(f64::EPSILON)
                    ),
                ]
            }))
            .chain(self.steps.iter().map(|s| {
                [
                    format!("{} routers, a poll that finds nothing changed", s.routers),
                    format!(
                        "{:.0} allocations per poll ({:.0} polls in {:.0} s)",
                        s.allocations_per_quiet_poll, s.quiet_polls, s.window_s
                    ),
                ]
            }))
            .collect()
    }
}

pub fn run(quick: bool) -> BenchResult<ScaleResult> {
    let (sizes, sessions, window, settings): (&[usize], usize, Duration, FleetSettings) = if quick {
        (
            &[5, 20],
            20,
            Duration::from_secs(2),
            FleetSettings {
                poll_interval: Duration::from_secs(1),
                ..FleetSettings::default()
            },
        )
    } else {
        (
            &[10, 100, 1000],
            100,
            Duration::from_secs(60),
            FleetSettings::default(),
        )
    };
    // SCALE_ROUTERS / SCALE_WINDOW_S pick sizes and the idle window (one step by hand).
    let chosen: Vec<usize> = std::env::var("SCALE_ROUTERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    let sizes: &[usize] = if chosen.is_empty() { sizes } else { &chosen };
    let window = std::env::var("SCALE_WINDOW_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(window);
    let limit = open_files_limit();
    let largest = sizes.iter().copied().max().unwrap_or(0) as u64;
    // The simulator needs a listener and a connection per router; the engine one socket each.
    if let Some(limit) = limit {
        if limit < 2 * largest + 256 {
            return Err(BenchError(format!(
                "scale: open files limit {limit} is too low for {largest} routers; run `ulimit -n {}` first",
                2 * largest + 256
            )));
        }
    }
    let users = users_for_sessions(sessions);
    let mut steps = Vec::new();
    for &routers in sizes {
        steps.push(step(routers, users, window, settings.clone())?);
    }
    Ok(ScaleResult {
        poll_interval_s: settings.poll_interval.as_secs_f64(),
        open_files_limit: limit,
        steps,
    })
}

fn step(
    routers: usize,
    users: usize,
    window: Duration,
    settings: FleetSettings,
) -> BenchResult<ScaleStep> {
    let poll_interval = settings.poll_interval;
    let sim = SimProcess::start(routers, users)?;
    let sim_startup = sim.startup;
    let before = process_figures(None);
    let heap_before = super::alloc::live_bytes();
    let engine = BenchEngine::start(
        router_configs(&sim.addrs),
        settings,
        Duration::from_secs(300),
    )?;
    let online = engine.online_count();
    let after = process_figures(None);
    let heap_after = super::alloc::live_bytes();
    let warmup = engine.warmup;
    let lists: usize = (1..=routers as u64)
        .filter_map(|id| engine.snapshot(id))
        .map(|s| lists_bytes(&s))
        .sum();

    // Idle: only the poll timers run. Measure CPU over whole poll periods.
    let (engine_cpu, groups_before, sim_cpu) = (
        cpu_seconds(None),
        thread_groups(),
        cpu_seconds(Some(sim.pid())),
    );
    let allocations = super::alloc::allocations();
    let started = Instant::now();
    std::thread::sleep(window);
    let elapsed = started.elapsed().as_secs_f64();
    let allocations = super::alloc::allocations() - allocations;
    let quiet_polls = routers as f64 * elapsed / poll_interval.as_secs_f64();
    let per_minute = |cpu: f64| cpu * 60.0 / elapsed;
    let engine_cpu = per_minute(cpu_seconds(None) - engine_cpu);
    let thread_groups: Vec<ThreadGroup> = thread_groups()
        .into_iter()
        .filter(|(name, _)| {
            ["router-N", "http-N", "http-edge", "socket-watcher"].contains(&name.as_str())
        })
        .map(|(name, (cpu, runs))| {
            let (cpu_before, runs_before) = groups_before.get(&name).copied().unwrap_or_default();
            ThreadGroup {
                name,
                cpu_s_per_min: per_minute(cpu - cpu_before),
                wakeups_per_s: runs.saturating_sub(runs_before) as f64 / elapsed,
            }
        })
        .collect();
    let sim_cpu = per_minute(cpu_seconds(Some(sim.pid())) - sim_cpu);

    // A few cached reads at this size.
    let mut client = HttpClient::new(engine.addr, Duration::from_secs(30));
    let mut body = Vec::new();
    let mut targets = Vec::new();
    let mut routers_list = Vec::new();
    let mut sessions = 0;
    let mut targets_bytes = 0;
    for _ in 0..20 {
        let started = Instant::now();
        client
            .get("/api/v1/monitoring/targets", KEY, &mut body)
            .map_err(|e| BenchError(format!("scale: {e}")))?;
        targets.push(started.elapsed());
        targets_bytes = body.len();
        if sessions == 0 {
            sessions = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.as_array().map(|rows| rows.len() as u64))
                .unwrap_or(0);
        }
        let started = Instant::now();
        client
            .get("/api/v1/routers", KEY, &mut body)
            .map_err(|e| BenchError(format!("scale: {e}")))?;
        routers_list.push(started.elapsed());
    }
    drop(engine);
    drop(sim);
    Ok(ScaleStep {
        routers,
        users_per_router: users,
        sessions,
        online,
        sim_startup_s: sim_startup.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        rss_before_kib: before.rss_kib,
        rss_kib: after.rss_kib,
        rss_delta_kib: after.rss_kib.saturating_sub(before.rss_kib),
        heap_per_router_kib: heap_after.saturating_sub(heap_before) as f64
            / 1024.0
            / routers.max(1) as f64,
        lists_per_router_kib: lists as f64 / 1024.0 / routers.max(1) as f64,
        threads_before: before.threads,
        threads: after.threads,
        window_s: elapsed,
        engine_cpu_s_per_min: engine_cpu,
        thread_groups,
        sim_cpu_s_per_min: sim_cpu,
        quiet_polls,
        allocations_per_quiet_poll: allocations as f64 / quiet_polls.max(1.0),
        targets_bytes,
        targets: Summary::of(&targets),
        routers_list: Summary::of(&routers_list),
    })
}

/// Heap bytes of a snapshot's session and secret lists: rows plus the buffers of the strings
/// too long to be stored inline.
fn lists_bytes(snapshot: &net_engine::fleet::RouterSnapshot) -> usize {
    let text = |s: &net_engine::model::CompactString| {
        if s.is_heap_allocated() {
            s.capacity()
        } else {
            0
        }
    };
    let sessions: usize = snapshot
        .sessions
        .iter()
        .map(|s| {
            [
                &s.id,
                &s.name,
                &s.service,
                &s.caller_id,
                &s.address,
                &s.uptime,
                &s.session_id,
            ]
            .iter()
            .map(|t| text(t))
            .sum::<usize>()
        })
        .sum();
    let secrets: usize = snapshot
        .secrets
        .iter()
        .map(|s| {
            [
                &s.id,
                &s.name,
                &s.service,
                &s.profile,
                &s.local_address,
                &s.remote_address,
                &s.comment,
                &s.last_logged_out,
                &s.last_disconnect_reason,
            ]
            .iter()
            .map(|t| text(t))
            .sum::<usize>()
        })
        .sum();
    sessions
        + secrets
        + snapshot.sessions.capacity() * std::mem::size_of::<net_engine::model::ActiveSession>()
        + snapshot.secrets.capacity() * std::mem::size_of::<net_engine::model::Secret>()
}
