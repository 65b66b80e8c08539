//! Scenario 9, pipelined bulk: 1 000 isolations by user on one router whose link has a
//! 30 ms round trip (`--rtt-ms 30`), as one `POST /api/v1/bulk`, with `BULK_IN_FLIGHT` 32
//! against 1 (one command at a time), in the same run on identical fresh simulators. The
//! simulator's own count of commands in flight is reported beside the wall times.

use super::harness::{
    router_configs, sim_addrs, users_for_sessions, BenchEngine, BenchError, BenchResult, KEY,
};
use net_engine::fleet::FleetSettings;
use net_engine::sim::{SimConfig, Simulator};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const RTT: Duration = Duration::from_millis(30);

/// One bulk call at one `BULK_IN_FLIGHT`.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineRun {
    pub in_flight: usize,
    pub wall_s: f64,
    pub ok: u64,
    pub failed: u64,
    pub not_sent: u64,
    /// Most commands the simulator saw in flight at once on the engine's connection.
    pub max_in_flight_seen: usize,
    /// Entries the simulator holds on the isolation list afterwards.
    pub isolated: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineResult {
    pub items: usize,
    pub rtt_ms: u64,
    pub pipelined: PipelineRun,
    pub serial: PipelineRun,
    /// Serial wall time over pipelined wall time (target ≥ 8).
    pub speedup: f64,
}

impl PipelineResult {
    pub fn rows(&self) -> Vec<[String; 2]> {
        let run = |r: &PipelineRun| {
            format!(
                "{:.2} s ({} ok, {} failed, {} not sent; simulator saw ≤ {} in flight)",
                r.wall_s, r.ok, r.failed, r.not_sent, r.max_in_flight_seen
            )
        };
        vec![
            [
                format!(
                    "{} isolations on one router, rtt {} ms, BULK_IN_FLIGHT {}",
                    self.items, self.rtt_ms, self.pipelined.in_flight
                ),
                run(&self.pipelined),
            ],
            [
                format!("same, BULK_IN_FLIGHT {}", self.serial.in_flight),
                run(&self.serial),
            ],
            [
                "one at a time / pipelined".into(),
                format!("×{:.1}", self.speedup),
            ],
        ]
    }
}

fn run_once(items: usize, in_flight: usize) -> BenchResult<PipelineRun> {
    let sim = Simulator::start(SimConfig {
        routers: 1,
        users: users_for_sessions(items + items / 10 + 20),
        churn: false,
        seed: 7,
        rtt: RTT,
        ..SimConfig::default()
    })
    .map_err(|e| BenchError(format!("pipeline: cannot start the simulator: {e}")))?;
    let engine = BenchEngine::start(
        router_configs(&sim_addrs(&sim)),
        FleetSettings {
            poll_interval: Duration::from_secs(600),
            bulk_in_flight: in_flight,
            ..FleetSettings::default()
        },
        Duration::from_secs(30),
    )?;
    if !engine.warm {
        return Err(BenchError(
            "pipeline: the router did not come online".into(),
        ));
    }
    let router = &sim.routers()[0];
    let users: Vec<String> = router
        .with_state(|s| s.active_names())
        .into_iter()
        .take(items)
        .collect();
    if users.len() < items {
        return Err(BenchError(format!(
            "pipeline: only {} users online, {items} wanted",
            users.len()
        )));
    }
    let operations: Vec<Value> = users
        .iter()
        .map(|u| json!({"op": "isolate", "user": u, "router_id": 1, "comment": "unpaid"}))
        .collect();
    let body = json!({ "operations": operations }).to_string();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(600))
        .build();
    let url = format!("http://{}/api/v1/bulk?timeout_s=600", engine.addr);
    let started = Instant::now();
    let text = agent
        .post(&url)
        .set("X-App-Key", KEY)
        .set("Content-Type", "application/json")
        .send_string(&body)
        .map_err(|e| BenchError(format!("pipeline: bulk call failed: {e}")))?
        .into_string()?;
    let wall_s = started.elapsed().as_secs_f64();
    let answer: Value = serde_json::from_str(&text)
        .map_err(|e| BenchError(format!("pipeline: bulk answer is not JSON: {e}")))?;
    let figure = |name: &str| answer[name].as_u64().unwrap_or(0);
    let isolated = router.with_state(|s| {
        s.address_list_entries()
            .iter()
            .filter(|(list, _)| list == "ISOLATED")
            .count()
    });
    Ok(PipelineRun {
        in_flight,
        wall_s,
        ok: figure("ok"),
        failed: figure("failed"),
        not_sent: figure("not_sent"),
        max_in_flight_seen: router.max_in_flight(),
        isolated,
    })
}

pub fn run(quick: bool) -> BenchResult<PipelineResult> {
    let items = if quick { 100 } else { 1000 };
    let in_flight = FleetSettings::default().bulk_in_flight;
    let pipelined = run_once(items, in_flight)?;
    let serial = run_once(items, 1)?;
    Ok(PipelineResult {
        items,
        rtt_ms: RTT.as_millis() as u64,
        speedup: serial.wall_s / pipelined.wall_s.max(1e-9),
        pipelined,
        serial,
    })
}
