//! Scenario 6, shared answers: 10 viewers poll one customer's traffic every 100 ms; the
//! simulator counts the router commands that cost, against one command per share window
//! (the least the router can be asked while every answer stays within the window).
//!
//! Viewers call `RouterHandle::traffic` (what `GET /router/:id/traffic` calls) so each
//! answer's exact `sampled_at` is seen: its age when the viewer gets it is the freshness
//! figure. Polls are off (600 s), so every command the simulator counts is a traffic read.

use super::harness::{router_configs, sim_addrs, simulator, BenchEngine, BenchError, BenchResult};
use super::stats::{ms, Summary};
use net_engine::fleet::FleetSettings;
use net_engine::model::RouterId;
use serde::Serialize;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

const VIEWERS: usize = 10;
const EVERY: Duration = Duration::from_millis(100);
const SIM_LATENCY: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Serialize)]
pub struct ShareResult {
    pub viewers: usize,
    pub every_ms: u64,
    pub seconds: f64,
    pub window_ms: u64,
    pub sim_latency_ms: u64,
    pub calls: u64,
    pub errors: u64,
    /// Commands the simulator received during the run.
    pub router_commands: u64,
    /// The run's length over the window: the floor's command count.
    pub windows: f64,
    pub commands_per_window: f64,
    /// Age of each answer (now − sampled_at) when its viewer got it.
    pub age: Summary,
    pub max_age_ms: f64,
}

impl ShareResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        vec![
            [
                format!(
                    "{} viewers × one user every {} ms for {:.0} s (window {} ms)",
                    self.viewers, self.every_ms, self.seconds, self.window_ms
                ),
                format!(
                    "{} calls, {} router commands = {:.2} per window ({} errors)",
                    self.calls, self.router_commands, self.commands_per_window, self.errors
                ),
            ],
            [
                "answer age when received".into(),
                format!(
                    "p50 {} · p99 {} · max {}",
                    ms(self.age.p50_ms),
                    ms(self.age.p99_ms),
                    ms(self.max_age_ms)
                ),
            ],
        ]
    }
}

pub fn run(quick: bool) -> BenchResult<ShareResult> {
    let seconds = if quick { 2.0 } else { 10.0 };
    let window = FleetSettings::default().traffic_share_window;
    let sim = simulator(1, 200, SIM_LATENCY)?;
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        FleetSettings {
            poll_interval: Duration::from_secs(600),
            // The share window over commands (scenario 7 measures watched customers' streams).
            traffic_streams_max: 0,
            ..FleetSettings::default()
        },
        Duration::from_secs(20),
    )?;
    if !engine.warm {
        return Err(BenchError("share: the router did not come online".into()));
    }
    let router = &sim.routers()[0];
    let user = router
        .with_state(|s| s.active_names())
        .into_iter()
        .next()
        .ok_or_else(|| BenchError("share: nobody online".into()))?;
    let handle = engine
        .fleet
        .get(RouterId(1))
        .map_err(|e| BenchError(format!("share: {e}")))?;
    // The source is detected once, then the window runs out.
    handle
        .traffic(&user)
        .map_err(|e| BenchError(format!("share: first read: {e}")))?;
    std::thread::sleep(window + Duration::from_millis(50));

    let before = router.with_state(|s| s.commands_received());
    let barrier = Arc::new(Barrier::new(VIEWERS));
    let run_for = Duration::from_secs_f64(seconds);
    let viewers: Vec<_> = (0..VIEWERS)
        .map(|k| {
            let (handle, barrier, user) = (Arc::clone(&handle), Arc::clone(&barrier), user.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Viewers start spread over one period, as independent dashboards would.
                std::thread::sleep(EVERY.mul_f64(k as f64 / VIEWERS as f64));
                let started = Instant::now();
                let (mut ages, mut errors) = (Vec::new(), 0u64);
                let mut next = started;
                while started.elapsed() < run_for {
                    match handle.traffic(&user) {
                        Ok(reading) => ages.push(
                            SystemTime::now()
                                .duration_since(reading.sampled_at)
                                .unwrap_or_default(),
                        ),
                        Err(_) => errors += 1,
                    }
                    next += EVERY;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                (ages, errors)
            })
        })
        .collect();
    let (mut ages, mut errors) = (Vec::new(), 0);
    for viewer in viewers {
        let (a, e) = viewer
            .join()
            .map_err(|_| BenchError("share: a viewer panicked".into()))?;
        ages.extend(a);
        errors += e;
    }
    let router_commands = router.with_state(|s| s.commands_received()) - before;
    let windows = seconds / window.as_secs_f64().max(1e-9);
    let max_age_ms = ages
        .iter()
        .map(|a| a.as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    Ok(ShareResult {
        viewers: VIEWERS,
        every_ms: EVERY.as_millis() as u64,
        seconds,
        window_ms: window.as_millis() as u64,
        sim_latency_ms: SIM_LATENCY.as_millis() as u64,
        calls: ages.len() as u64 + errors,
        errors,
        router_commands,
        windows,
        commands_per_window: router_commands as f64 / windows,
        age: Summary::of(&ages),
        max_age_ms,
    })
}
