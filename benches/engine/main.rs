//! The benchmark program: `cargo bench --bench engine` (full run) or `-- --quick` (seconds).
//!
//! Starts the simulator and the engine, runs nine scenarios (live latency, fleet reads,
//! fleet scale, overload, reconnect, shared answers, push not poll, front door, pipelined
//! bulk), prints one table and writes each scenario's figures
//! as JSON to `target/bench/<scenario>.json` (`target/bench/quick/` for quick runs).
//! Every comparison is measured in the same run and reported as a ratio. The test suite
//! runs the quick mode through `run` (tests/bench_smoke.rs), so this cannot rot.

mod alloc;
mod front;
mod harness;
pub mod http_client;
mod latency;
mod overload;
mod pipeline;
mod push;
mod reads;
mod reconnect;
mod scale;
mod share;
pub mod stats;

pub use front::FrontResult;
pub use harness::{BenchError, BenchResult};
pub use latency::LatencyResult;
pub use overload::OverloadResult;
pub use pipeline::PipelineResult;
pub use push::PushResult;
pub use reads::ReadsResult;
pub use reconnect::ReconnectResult;
pub use scale::ScaleResult;
pub use share::ShareResult;

use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The scenarios, numbered as in the table (scale runs first, see `run_selected`).
pub const SCENARIOS: [&str; 9] = [
    "latency",
    "reads",
    "scale",
    "overload",
    "reconnect",
    "share",
    "push",
    "front",
    "pipeline",
];

/// What this machine is, for the record.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
    pub optimized: bool,
    /// 1-minute load average when the run started: other work on the machine skews figures.
    pub load_average: f64,
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            optimized: !cfg!(debug_assertions),
            load_average: load_average(),
        }
    }
}

/// The 1-minute load average from `/proc/loadavg`.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Every figure of one run; a scenario not selected stays `None`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub quick: bool,
    pub machine: Machine,
    pub latency: Option<LatencyResult>,
    pub reads: Option<ReadsResult>,
    pub scale: Option<ScaleResult>,
    pub overload: Option<OverloadResult>,
    pub reconnect: Option<ReconnectResult>,
    pub share: Option<ShareResult>,
    pub push: Option<PushResult>,
    pub front: Option<FrontResult>,
    pub pipeline: Option<PipelineResult>,
    /// Where the JSON files went.
    pub output_dir: PathBuf,
    pub seconds: f64,
    /// The 1-minute load average when the run ended.
    pub load_average_after: f64,
}

impl Report {
    /// The table rows: scenario, measure, figure.
    pub fn rows(&self) -> Vec<[String; 3]> {
        let mut rows = Vec::new();
        let mut add = |scenario: &str, list: Vec<[String; 2]>| {
            for [what, figure] in list {
                rows.push([scenario.to_owned(), what, figure]);
            }
        };
        if let Some(r) = &self.latency {
            add("1 latency", r.rows());
        }
        if let Some(r) = &self.reads {
            add("2 reads", r.rows());
        }
        if let Some(r) = &self.scale {
            add("3 scale", r.rows());
        }
        if let Some(r) = &self.overload {
            add("4 overload", r.rows());
        }
        if let Some(r) = &self.reconnect {
            add("5 reconnect", r.rows());
        }
        if let Some(r) = &self.share {
            add("6 share", r.rows());
        }
        if let Some(r) = &self.push {
            add("7 push", r.rows());
        }
        if let Some(r) = &self.front {
            add("8 front", r.rows());
        }
        if let Some(r) = &self.pipeline {
            add("9 pipeline", r.rows());
        }
        rows
    }

    /// The table as Markdown.
    pub fn table(&self) -> String {
        let mut out = String::from("| scenario | measure | figure |\n|---|---|---|\n");
        for [scenario, what, figure] in self.rows() {
            out.push_str(&format!("| {scenario} | {what} | {figure} |\n"));
        }
        out
    }
}

/// `target/bench` (or `target/bench/quick`), found from this executable's place in
/// `target/<profile>/deps/`.
pub fn output_dir(quick: bool) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_owned())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("bench");
    if quick {
        dir.join("quick")
    } else {
        dir
    }
}

fn write_json<T: Serialize>(dir: &std::path::Path, name: &str, value: &T) -> BenchResult<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| BenchError(format!("cannot encode {name}: {e}")))?;
    std::fs::write(dir.join(format!("{name}.json")), text + "\n")?;
    Ok(())
}

/// Runs the `only` scenarios (all when empty); prints each one's rows as it finishes.
pub fn run_selected(quick: bool, only: &[String]) -> BenchResult<Report> {
    let started = Instant::now();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let dir = output_dir(quick);
    let mut report = Report {
        quick,
        machine: Machine::describe(),
        latency: None,
        reads: None,
        scale: None,
        overload: None,
        reconnect: None,
        share: None,
        push: None,
        front: None,
        pipeline: None,
        output_dir: dir.clone(),
        seconds: 0.0,
        load_average_after: 0.0,
    };
    // eprintln!, so the test harness captures it when the smoke test runs this.
    let progress = |name: &str, rows: Vec<[String; 2]>, at: Instant| {
        eprintln!("== {name} ({:.1} s)", at.elapsed().as_secs_f64());
        for [what, figure] in rows {
            eprintln!("   {what}: {figure}");
        }
    };
    macro_rules! scenario {
        ($name:literal, $module:ident, $field:ident) => {
            if wanted($name) {
                let at = Instant::now();
                eprintln!("-- {} ...", $name);
                let result = $module::run(quick)?;
                write_json(&dir, $name, &result)?;
                progress($name, result.rows(), at);
                report.$field = Some(result);
            }
        };
    }
    // Scale first: its RSS figures are cleanest in a process that has not yet grown its heap.
    scenario!("scale", scale, scale);
    scenario!("latency", latency, latency);
    scenario!("reads", reads, reads);
    scenario!("overload", overload, overload);
    scenario!("reconnect", reconnect, reconnect);
    scenario!("share", share, share);
    scenario!("push", push, push);
    scenario!("front", front, front);
    scenario!("pipeline", pipeline, pipeline);
    report.seconds = started.elapsed().as_secs_f64();
    report.load_average_after = load_average();
    write_json(&dir, "report", &report)?;
    Ok(report)
}

/// Every scenario; the entry point the smoke test calls.
pub fn run(quick: bool) -> BenchResult<Report> {
    run_selected(quick, &[])
}

const USAGE: &str = "usage: cargo bench --bench engine -- [--quick] [--only SCENARIO[,SCENARIO...]]

  --quick        small sizes, seconds per scenario (what the test suite runs)
  --full         the full run when the binary is started by hand (cargo bench implies it)
  --only LIST    some of: latency, reads, scale, overload, reconnect, share, push, front,
                 pipeline

cargo builds the net-engine binary the scale scenario runs as the simulator.
Scale sizes and idle window: SCALE_ROUTERS=10,100,1000 SCALE_WINDOW_S=60 (full-run defaults).
Needs `ulimit -n` of at least 2300 for the 1000-router step; nginx for the reads floor
(Debian: apt-get install nginx-light).";

/// Engine logs at the production default (`info`, or RUST_LOG) go to a file, not the table.
fn init_logging(dir: &std::path::Path) {
    let _ = std::fs::create_dir_all(dir);
    if let Ok(file) = std::fs::File::create(dir.join("engine.log")) {
        let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
            .target(env_logger::Target::Pipe(Box::new(file)))
            .try_init();
    }
}

#[allow(dead_code)] // the smoke test includes this file as a module and calls `run`
fn main() {
    let mut quick = false;
    let mut full = false;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            // cargo bench passes --bench to harness = false targets; cargo test does not.
            "--bench" | "--full" => full = true,
            "--only" => match args.next() {
                Some(list) => only.extend(list.split(',').map(str::to_owned)),
                None => {
                    eprintln!("--only needs a list\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if !quick && !full {
        // `cargo test --all-targets` runs this binary too: the suite already runs the quick
        // mode through tests/bench_smoke.rs, so do nothing here.
        println!(
            "net-engine benchmark: run `cargo bench --bench engine` (full) or add `-- --quick`"
        );
        return;
    }
    if let Some(bad) = only.iter().find(|o| !SCENARIOS.contains(&o.as_str())) {
        eprintln!("unknown scenario {bad:?}\n{USAGE}");
        std::process::exit(2);
    }
    init_logging(&output_dir(quick));
    match run_selected(quick, &only) {
        Ok(report) => {
            let m = &report.machine;
            println!(
                "\nnet-engine benchmark ({}, {} cores, {}, {}, {:.0} s, load average {:.1} → {:.1})\n",
                if report.quick { "quick" } else { "full" },
                m.cores,
                m.cpu,
                if m.optimized { "release" } else { "debug build" },
                report.seconds,
                m.load_average,
                report.load_average_after
            );
            println!("{}", report.table());
            println!("figures: {}", report.output_dir.display());
        }
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            std::process::exit(1);
        }
    }
}
