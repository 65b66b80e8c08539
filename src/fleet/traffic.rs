//! Smart traffic detection for one customer: exact queue, `<pppoe-U>`, target `/32`, then
//! monitor-traffic; exact matches only (`ali` never matches `alice`), source remembered, so a
//! user the last poll saw online costs one router command (`read_remembered`).

use super::command::{TrafficReading, TrafficSource};
use crate::model::SimpleQueue;
use crate::router::{Connection, RouterError, Stream};
use std::collections::HashMap;
use std::time::{Instant, SystemTime};

/// Above this many remembered users the memory is cleared (it is only a shortcut).
const MAX_REMEMBERED: usize = 100_000;

/// What worked last for one user: the source, the queue it read (queue sources) and the
/// address the session had then (what a target queue was found by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub source: TrafficSource,
    pub queue: Option<String>,
    pub address: String,
}

/// Which source worked last for each user.
#[derive(Default)]
pub struct TrafficMemory {
    sources: HashMap<String, Remembered>,
}

impl TrafficMemory {
    pub fn get(&self, user: &str) -> Option<&Remembered> {
        self.sources.get(user)
    }

    pub fn remember(&mut self, user: &str, reading: &TrafficReading, address: &str) {
        if self.sources.len() >= MAX_REMEMBERED {
            self.sources.clear();
        }
        let remembered = Remembered {
            source: reading.source,
            queue: reading.queue.clone(),
            address: address.to_owned(),
        };
        if self.sources.get(user) != Some(&remembered) {
            self.sources.insert(user.to_owned(), remembered);
        }
    }

    pub fn forget(&mut self, user: &str) {
        self.sources.remove(user);
    }
}

/// The dynamic interface (and queue) name RouterOS gives a PPPoE session.
pub fn pppoe_name(user: &str) -> String {
    format!("<pppoe-{user}>")
}

fn from_queue(user: &str, source: TrafficSource, queue: SimpleQueue) -> TrafficReading {
    TrafficReading {
        user: user.to_owned(),
        source,
        queue: Some(queue.name),
        upload_bps: queue.upload_bps,
        download_bps: queue.download_bps,
        sampled_at: SystemTime::now(),
    }
}

/// Reads one source; `Ok(None)` when that source does not exist for this user.
pub fn read_source<S: Stream>(
    conn: &mut Connection<S>,
    user: &str,
    address: &str,
    source: TrafficSource,
    deadline: Instant,
) -> Result<Option<TrafficReading>, RouterError> {
    match source {
        TrafficSource::Queue => Ok(conn
            .queues_named(user, deadline)?
            .into_iter()
            .find(|q| q.name == user)
            .map(|q| from_queue(user, source, q))),
        TrafficSource::PppoeQueue => {
            let name = pppoe_name(user);
            Ok(conn
                .queues_named(&name, deadline)?
                .into_iter()
                .find(|q| q.name == name)
                .map(|q| from_queue(user, source, q)))
        }
        TrafficSource::TargetQueue => {
            if address.is_empty() {
                return Ok(None);
            }
            let target = format!("{address}/32");
            Ok(conn
                .queues_targeting(&target, deadline)?
                .into_iter()
                .find(|q| q.target.split(',').any(|t| t == target))
                .map(|q| from_queue(user, source, q)))
        }
        TrafficSource::MonitorTraffic => {
            let interface = pppoe_name(user);
            match conn.monitor_traffic_once(&interface, deadline) {
                // On a PPPoE server interface rx is what the customer sends: their upload.
                Ok(reading) => Ok(Some(TrafficReading {
                    user: user.to_owned(),
                    source,
                    queue: None,
                    upload_bps: reading.rx_bps,
                    download_bps: reading.tx_bps,
                    sampled_at: SystemTime::now(),
                })),
                Err(RouterError::Trap(_)) => Ok(None),
                Err(other) => Err(other),
            }
        }
    }
}

/// One command: the remembered source of `user`, read with `address` — the address the
/// last poll saw (no live `/ppp/active` lookup). `Ok(None)` when that is not safe to trust:
/// nothing remembered, the address changed since the source was found, the source answers
/// nothing (the session moved or ended), or a target queue answers under another name (the
/// address now belongs to someone else's queue). The caller then looks the user up live.
pub fn read_remembered<S: Stream>(
    conn: &mut Connection<S>,
    memory: &TrafficMemory,
    user: &str,
    address: &str,
    deadline: Instant,
) -> Result<Option<TrafficReading>, RouterError> {
    let Some(remembered) = memory.get(user) else {
        return Ok(None);
    };
    if remembered.address != address {
        return Ok(None);
    }
    let source = remembered.source;
    let queue = remembered.queue.clone();
    Ok(read_source(conn, user, address, source, deadline)?
        .filter(|reading| source != TrafficSource::TargetQueue || reading.queue == queue))
}

/// Detects (or reuses) the traffic source of an online user at `address` (a live address).
pub fn detect<S: Stream>(
    conn: &mut Connection<S>,
    memory: &mut TrafficMemory,
    user: &str,
    address: &str,
    deadline: Instant,
) -> Result<Option<TrafficReading>, RouterError> {
    if let Some(source) = memory.get(user).map(|r| r.source) {
        if let Some(reading) = read_source(conn, user, address, source, deadline)? {
            memory.remember(user, &reading, address);
            return Ok(Some(reading));
        }
        memory.forget(user);
    }
    for source in TrafficSource::DETECTION_ORDER {
        if let Some(reading) = read_source(conn, user, address, source, deadline)? {
            memory.remember(user, &reading, address);
            return Ok(Some(reading));
        }
    }
    Ok(None)
}
