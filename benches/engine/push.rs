//! Scenario 7, push not poll: how long from a change on the router to the engine's session
//! event (what the webhook thread is handed), with `/ppp/active/listen` against the poll
//! diff alone; and a watched customer's traffic call answered from its stream against one
//! router command per call, with 20 ms per router reply.
//!
//! Events are timed at the fleet observer (the webhook thread's own delivery time is the
//! same on both paths). The poll runs every `POLL` here (shorter than the 10 s default, so
//! the run stays short: with 10 s the poll's figures scale by 10/`POLL`).

use super::harness::{router_configs, sim_addrs, simulator, BenchError, BenchResult, KEY};
use super::stats::{ms, ratio, times, Summary};
use crossbeam_channel::{unbounded, Receiver, Sender};
use net_engine::engine::{Engine, EngineParts, EngineSettings};
use net_engine::fleet::{Fleet, FleetEvent, FleetObserver, FleetSettings, RouterState};
use net_engine::model::RouterId;
use net_engine::sim::Simulator;
use net_engine::store::MemoryRegistry;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_secs(1);
const WAN_RTT: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Serialize)]
pub struct PushResult {
    pub changes: usize,
    pub poll_interval_ms: u64,
    /// Router change → session event, with the listen (poll at 60 s as a safety net).
    pub listen: Summary,
    /// The same with the poll diff only.
    pub poll: Summary,
    pub missed_listen: usize,
    pub missed_poll: usize,
    pub poll_over_listen_p50: f64,
    pub rtt_ms: u64,
    /// Watched customer: calls 2..N answered from the stream.
    pub stream: Summary,
    /// The same calls with one router command each.
    pub command: Summary,
    pub command_over_stream_p50: f64,
    /// Router commands the stream path cost during its calls (0 expected).
    pub stream_commands: u64,
    pub command_commands: u64,
}

impl PushResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        vec![
            [
                format!(
                    "session event after a router change, listen ({} changes)",
                    self.changes
                ),
                format!(
                    "p50 {} · p99 {} ({} missed)",
                    ms(self.listen.p50_ms),
                    ms(self.listen.p99_ms),
                    self.missed_listen
                ),
            ],
            [
                format!(
                    "the same by the poll diff (poll every {} ms)",
                    self.poll_interval_ms
                ),
                format!(
                    "p50 {} · p99 {} ({} missed) = {} the listen's p50",
                    ms(self.poll.p50_ms),
                    ms(self.poll.p99_ms),
                    self.missed_poll,
                    times(self.poll_over_listen_p50)
                ),
            ],
            [
                format!(
                    "watched customer's traffic call, stream ({} ms rtt)",
                    self.rtt_ms
                ),
                format!(
                    "p50 {} · p99 {} ({} router commands)",
                    ms(self.stream.p50_ms),
                    ms(self.stream.p99_ms),
                    self.stream_commands
                ),
            ],
            [
                "the same, one router command per call".into(),
                format!(
                    "p50 {} · p99 {} ({} router commands) = {} the stream's p50",
                    ms(self.command.p50_ms),
                    ms(self.command.p99_ms),
                    self.command_commands,
                    times(self.command_over_stream_p50)
                ),
            ],
        ]
    }
}

/// Session events as they leave the fleet: (user, up?, when).
struct Events(Mutex<Sender<(String, bool, Instant)>>);

impl FleetObserver for Events {
    fn event(&self, event: FleetEvent) {
        let item = match event {
            FleetEvent::SessionUp { session, .. } => (session.name.into(), true, Instant::now()),
            FleetEvent::SessionDown { session, .. } => (session.name.into(), false, Instant::now()),
            _ => return,
        };
        if let Ok(sender) = self.0.lock() {
            let _ = sender.send(item);
        }
    }
}

fn start(
    sim: &Simulator,
    settings: FleetSettings,
    observer: Option<Arc<dyn FleetObserver>>,
) -> BenchResult<(Engine, Arc<Fleet>)> {
    let settings = EngineSettings::loopback(KEY, settings, 4);
    let engine = Engine::start(EngineParts {
        extra_observer: observer,
        ..EngineParts::new(
            settings,
            Arc::new(MemoryRegistry::new(router_configs(&sim_addrs(sim)))),
        )
    })
    .map_err(|e| BenchError(e.to_string()))?;
    let fleet = Arc::clone(engine.fleet());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if fleet
            .get(RouterId(1))
            .is_ok_and(|h| h.snapshot().state == RouterState::Online)
        {
            return Ok((engine, fleet));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(BenchError("push: the router did not come online".into()))
}

/// Toggles `changes` users on the simulator one at a time and times each one's event.
fn event_latency(listen: bool, changes: usize) -> BenchResult<(Summary, usize)> {
    let sim = simulator(1, 60, Duration::ZERO)?;
    let (tx, rx): (Sender<_>, Receiver<_>) = unbounded();
    let settings = FleetSettings {
        poll_interval: if listen {
            Duration::from_secs(60)
        } else {
            POLL
        },
        listen_sessions: listen,
        ..FleetSettings::default()
    };
    let (engine, _fleet) = start(&sim, settings, Some(Arc::new(Events(Mutex::new(tx)))))?;
    let router = &sim.routers()[0];
    let names = router.with_state(|s| s.secret_names());
    let (mut samples, mut missed) = (Vec::new(), 0);
    let mut rng = net_engine::rng::Rng::new(7);
    for k in 0..changes {
        let name = &names[k % names.len()];
        while rx.try_recv().is_ok() {}
        let up = router.with_state_mut(|s| {
            if s.disconnect_user(name) {
                false
            } else {
                s.connect_user(name)
            }
        });
        let changed = Instant::now();
        let limit = changed + POLL * 3;
        let mut seen = false;
        while let Ok((user, is_up, at)) =
            rx.recv_timeout(limit.saturating_duration_since(Instant::now()))
        {
            if user == *name && is_up == up {
                samples.push(at.saturating_duration_since(changed));
                seen = true;
                break;
            }
        }
        if !seen {
            missed += 1;
        }
        // The next change at a random moment against the poll's phase.
        std::thread::sleep(POLL.mul_f64(rng.unit()));
    }
    engine.shutdown();
    Ok((Summary::of(&samples), missed))
}

/// One watched user's calls 2..=`calls`, every 100 ms; (latencies, router commands).
fn traffic_latency(streams: usize, calls: usize) -> BenchResult<(Summary, u64)> {
    let sim = simulator(1, 60, Duration::ZERO)?;
    let router = &sim.routers()[0];
    router.set_rtt(WAN_RTT);
    let settings = FleetSettings {
        poll_interval: Duration::from_secs(600),
        traffic_share_window: Duration::ZERO,
        traffic_streams_max: streams,
        ..FleetSettings::default()
    };
    let (engine, fleet) = start(&sim, settings, None)?;
    let handle = fleet
        .get(RouterId(1))
        .map_err(|e| BenchError(format!("push: {e}")))?;
    let user = router
        .with_state(|s| s.active_names())
        .into_iter()
        .next()
        .ok_or_else(|| BenchError("push: nobody online".into()))?;
    handle
        .traffic(&user)
        .map_err(|e| BenchError(format!("push: first traffic call: {e}")))?;
    // The stream's first reading (or nothing, for the command path).
    std::thread::sleep(Duration::from_millis(300));
    let before = router.with_state(|s| s.commands_received());
    let mut samples = Vec::new();
    for _ in 1..calls {
        let started = Instant::now();
        handle
            .traffic(&user)
            .map_err(|e| BenchError(format!("push: traffic call: {e}")))?;
        samples.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let commands = router.with_state(|s| s.commands_received()) - before;
    engine.shutdown();
    Ok((Summary::of(&samples), commands))
}

pub fn run(quick: bool) -> BenchResult<PushResult> {
    let changes = if quick { 6 } else { 40 };
    let calls = if quick { 10 } else { 50 };
    let (listen, missed_listen) = event_latency(true, changes)?;
    let (poll, missed_poll) = event_latency(false, changes)?;
    let (stream, stream_commands) = traffic_latency(32, calls)?;
    let (command, command_commands) = traffic_latency(0, calls)?;
    Ok(PushResult {
        changes,
        poll_interval_ms: POLL.as_millis() as u64,
        poll_over_listen_p50: ratio(poll.p50_ms, listen.p50_ms),
        listen,
        poll,
        missed_listen,
        missed_poll,
        rtt_ms: WAN_RTT.as_millis() as u64,
        command_over_stream_p50: ratio(command.p50_ms, stream.p50_ms),
        stream,
        command,
        stream_commands,
        command_commands,
    })
}
