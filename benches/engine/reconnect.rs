//! Scenario 5, reconnect: a simulated router dies (listener closed, connections cut), stays
//! down a moment and comes back on the same address: how long until the engine notices,
//! until it is online again and until its cache is fresh. Each kill comes just after a poll
//! (the previous reconnect's), so "noticed" is the worst case: a whole poll interval.

use super::harness::{router_configs, sim_addrs, simulator, BenchEngine, BenchError, BenchResult};
use super::stats::{ms, Summary};
use net_engine::fleet::{FleetSettings, RouterState};
use serde::Serialize;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Serialize)]
pub struct ReconnectResult {
    pub poll_interval_s: f64,
    pub backoff_initial_s: f64,
    pub down_s: f64,
    pub repetitions: usize,
    /// Kill → the engine reports the router offline.
    pub detect: Summary,
    /// Restart → online again.
    pub online_after_restart: Summary,
    /// Restart → a poll completed after the restart (cache fresh).
    pub fresh_after_restart: Summary,
}

impl ReconnectResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        vec![
            [
                format!(
                    "router killed just after a poll (poll every {} s): noticed after",
                    self.poll_interval_s
                ),
                format!(
                    "p50 {} · max {}",
                    ms(self.detect.p50_ms),
                    ms(self.detect.max_ms)
                ),
            ],
            [
                format!(
                    "restarted after {} s down: online / cache fresh after",
                    self.down_s
                ),
                format!(
                    "p50 {} / {} · max {} / {}",
                    ms(self.online_after_restart.p50_ms),
                    ms(self.fresh_after_restart.p50_ms),
                    ms(self.online_after_restart.max_ms),
                    ms(self.fresh_after_restart.max_ms)
                ),
            ],
        ]
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> BenchResult<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(BenchError(format!(
                "reconnect: {what} not within {limit:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn run(quick: bool) -> BenchResult<ReconnectResult> {
    let (repetitions, down, settings) = if quick {
        (
            2,
            Duration::from_millis(500),
            FleetSettings {
                poll_interval: Duration::from_secs(1),
                ..FleetSettings::default()
            },
        )
    } else {
        (5, Duration::from_secs(2), FleetSettings::default())
    };
    let sim = simulator(2, 50, Duration::ZERO)?;
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        settings.clone(),
        Duration::from_secs(20),
    )?;
    if !engine.warm {
        return Err(BenchError(
            "reconnect: the fleet did not come online".into(),
        ));
    }
    let router = &sim.routers()[0];
    let limit = settings.poll_interval + settings.command_timeout + settings.backoff_max * 2;
    let state = || engine.snapshot(1).map(|s| s.state);
    let (mut detect, mut online, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repetitions {
        wait_for("online", limit, || state() == Some(RouterState::Online))?;
        let killed = Instant::now();
        router.stop();
        let noticed = wait_for("offline", limit, || state() != Some(RouterState::Online))?;
        detect.push(noticed - killed);
        std::thread::sleep(down);
        let restarted_wall = SystemTime::now();
        let restarted = Instant::now();
        router.restart()?;
        let back = wait_for("online again", limit, || {
            state() == Some(RouterState::Online)
        })?;
        online.push(back - restarted);
        let polled = wait_for("a fresh poll", limit, || {
            engine
                .snapshot(1)
                .and_then(|s| s.last_poll_at)
                .is_some_and(|at| at >= restarted_wall)
        })?;
        fresh.push(polled - restarted);
    }
    Ok(ReconnectResult {
        poll_interval_s: settings.poll_interval.as_secs_f64(),
        backoff_initial_s: settings.backoff_initial.as_secs_f64(),
        down_s: down.as_secs_f64(),
        repetitions,
        detect: Summary::of(&detect),
        online_after_restart: Summary::of(&online),
        fresh_after_restart: Summary::of(&fresh),
    })
}
