//! Latency summaries (nearest-rank percentiles, in milliseconds) and process figures from
//! `/proc` (RSS, threads, CPU time).

use serde::Serialize;
use std::time::Duration;

/// Percentiles of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        let mut sorted: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        Summary {
            count: sorted.len(),
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: sorted[sorted.len() - 1],
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }
}

/// `a / b`, or 0 when `b` is 0 (a missing measurement, not an infinite ratio).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Formats a ratio as `×1.23` (more digits when it is small).
pub fn times(value: f64) -> String {
    if value >= 0.1 || value == 0.0 {
        format!("×{value:.2}")
    } else {
        format!("×{value:.4}")
    }
}

/// Formats milliseconds with sensible precision.
pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 1.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.3} ms")
    }
}

/// Memory and threads of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessFigures {
    pub rss_kib: u64,
    pub threads: u64,
}

/// `pid` None reads this process.
pub fn process_figures(pid: Option<u32>) -> ProcessFigures {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    ProcessFigures {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
    }
}

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of a process (`pid` None: this one) from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    stat_cpu_seconds(&std::fs::read_to_string(path).unwrap_or_default())
}

/// CPU seconds of the calling thread (exact: the scheduler's run time, not ticks).
pub fn current_thread_cpu_seconds() -> f64 {
    schedstat_seconds(&std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default())
}

/// The first field of a task's `schedstat`: nanoseconds on a CPU. A thread's `stat` times
/// are tick samples, and a thread that runs a few microseconds at a time (a router thread
/// of a quiet fleet) is seldom on a CPU at a tick, so they read as zero.
pub fn schedstat_seconds(schedstat: &str) -> f64 {
    schedstat
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

/// CPU seconds of process `pid` and its direct children (nginx: master and workers).
pub fn process_tree_cpu_seconds(pid: u32) -> f64 {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    cpu_seconds(Some(pid))
        + children
            .split_whitespace()
            .filter_map(|child| child.parse().ok())
            .map(|child| cpu_seconds(Some(child)))
            .sum::<f64>()
}

/// This process's threads grouped by name with digits made `N` (`router-N`, `http-N`):
/// per group, seconds on a CPU and how many times its threads were put on one (`schedstat`:
/// run time, wait time, runs), i.e. how often they woke.
pub fn thread_groups() -> std::collections::BTreeMap<String, (f64, u64)> {
    let mut groups = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return groups;
    };
    for task in tasks.flatten() {
        let (Ok(name), Ok(schedstat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        let mut group = String::new();
        let mut in_number = false;
        for c in name.trim().chars() {
            if !c.is_ascii_digit() {
                group.push(c);
            } else if !in_number {
                group.push('N');
            }
            in_number = c.is_ascii_digit();
        }
        let runs = schedstat
            .split_whitespace()
            .nth(2)
            .and_then(|r| r.parse::<u64>().ok())
            .unwrap_or(0);
        let entry = groups.entry(group).or_insert((0.0, 0));
        entry.0 += schedstat_seconds(&schedstat);
        entry.1 += runs;
    }
    groups
}

/// utime + stime (fields 14 and 15; the name in parentheses may hold spaces).
pub fn stat_cpu_seconds(stat: &str) -> f64 {
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3, so utime (14) is index 11 and stime (15) index 12.
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
