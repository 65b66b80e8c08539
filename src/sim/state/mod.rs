//! One simulated router's data: seeded tables (secrets, profiles, queues, address lists,
//! files, interfaces), live PPP sessions with their dynamic `<pppoe-USER>` queues, and the
//! numbers that move (CPU load, rates, session churn).
//!
//! Nothing ticks: moving values are computed from the clock and the seed when read, and
//! churn is caught up lazily whenever the state is touched, so an idle router costs nothing.
//! Directions follow routeros-api.md §9.6-§9.7: queue pairs are `upload/download`, and on a
//! `<pppoe-U>` interface rx is the customer's upload and tx the download.
//!
//! Files: `schema` (the tables' properties), `generate` (seed data), `sessions` (PPP
//! sessions, churn and traffic), `rows` (what `print` shows), `edits` (add/set/remove from
//! the API), `inspect` (the test and demo API).

mod edits;
mod generate;
mod inspect;
mod rows;
mod schema;
mod sessions;

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::table::Table;
use crate::rng::Rng;
use crate::routeros::Sentence;
use generate::Board;
pub use rows::Row;
pub(crate) use rows::Want;
use sessions::Session;

/// Everything one simulated router knows. Tests read and change it through
/// `SimRouter::with_state` / `with_state_mut`.
pub struct SimState {
    pub(crate) index: usize,
    seed: u64,
    pub(crate) identity: Vec<u8>,
    pub(crate) version: String,
    board: &'static Board,
    clock_origin: Instant,
    /// Router uptime when the simulator started, in seconds.
    boot_uptime: u64,
    /// Extra seconds added by `advance_clock` (tests).
    skew: u64,
    churn: bool,
    rng: Rng,
    base_cpu: u32,
    pub(crate) profiles: Table,
    pub(crate) secrets: Table,
    pub(crate) queues: Table,
    pub(crate) address_list: Table,
    pub(crate) files: Table,
    pub(crate) interfaces: Table,
    pub(crate) sessions: Vec<Session>,
    next_session_id: u32,
    next_interface_id: u32,
    /// Sim second an offline user dials in again (churn), by user name.
    reconnect_at: HashMap<Vec<u8>, u64>,
    /// Users who stay offline for hours rather than minutes.
    long_offline: HashMap<Vec<u8>, bool>,
    /// Each user's pool address, unique on this router.
    slots: HashMap<Vec<u8>, Ipv4Addr>,
    next_slot: u32,
    /// Sim second an address-list entry with a timeout disappears, by id.
    address_expiry: HashMap<u32, u64>,
    traffic_overrides: HashMap<Vec<u8>, (u64, u64)>,
    cpu_override: Option<u32>,
    commands_received: u64,
    recent_commands: VecDeque<Sentence>,
    /// Commands received, by command word (`/queue/simple/print`...), logins included.
    commands_by_path: HashMap<Vec<u8>, u64>,
    /// How long a kicked customer's CPE waits before dialling again.
    redial: Duration,
    /// When each kicked customer dials again (whether churn is on or not), by user name.
    redial_due: HashMap<Vec<u8>, Instant>,
    /// Bumped by every change that a `listen` could report (sessions, tables, expiries).
    generation: u64,
    /// Bumped only when the live sessions change: a session `listen` need not diff
    /// every session after each address-list or secret change (a bulk run's thousand).
    sessions_generation: u64,
}

/// How many received sentences `recent_commands` keeps.
const RECENT_COMMANDS: usize = 256;

/// What the simulator needs to build one router.
pub(crate) struct StateParams {
    pub index: usize,
    pub seed: u64,
    pub users: usize,
    pub version: String,
    pub churn: bool,
    pub redial: Duration,
}

fn name_hash(seed: u64, name: &[u8]) -> u64 {
    // FNV-1a, then SplitMix to spread it.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in name {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(hash).next_u64()
}

fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn exponential(rng: &mut Rng, mean: f64) -> u64 {
    let u = rng.unit();
    (-(1.0 - u).ln() * mean).max(1.0) as u64
}

fn text(value: &str) -> Option<Vec<u8>> {
    Some(value.as_bytes().to_vec())
}

fn mac_for(seed: u64, name: &[u8]) -> Vec<u8> {
    let bytes = name_hash(seed ^ 0x3AC, name).to_be_bytes();
    // A unicast, globally administered address.
    let first = bytes[0] & 0xFC;
    format!(
        "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        first, bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]
    )
    .into_bytes()
}

impl SimState {
    /// Sim seconds: the router's uptime.
    pub(crate) fn now(&self) -> u64 {
        self.boot_uptime + self.skew + self.clock_origin.elapsed().as_secs()
    }

    /// The instant sim second `second` begins (now, for a second already begun).
    pub(crate) fn instant_of(&self, second: u64) -> Instant {
        let origin = self.boot_uptime + self.skew;
        self.clock_origin + Duration::from_secs(second.saturating_sub(origin))
    }

    /// Counts a change a `listen` may have to report.
    pub(crate) fn touch(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Counts a change of the live sessions (which is a change too).
    pub(crate) fn touch_sessions(&mut self) {
        self.touch();
        self.sessions_generation = self.sessions_generation.wrapping_add(1);
    }

    /// Changes so far: equal numbers mean nothing a `listen` reports has changed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Session changes so far (what a `/ppp/active` listen reports).
    pub(crate) fn sessions_generation(&self) -> u64 {
        self.sessions_generation
    }

    pub(crate) fn note_command(&mut self, sentence: &Sentence) {
        self.commands_received += 1;
        *self
            .commands_by_path
            .entry(sentence.first().to_vec())
            .or_insert(0) += 1;
        if self.recent_commands.len() == RECENT_COMMANDS {
            self.recent_commands.pop_front();
        }
        self.recent_commands.push_back(sentence.clone());
    }
}

/// A small router for the unit tests of every file here.
#[cfg(test)]
fn test_state(users: usize, churn: bool) -> SimState {
    SimState::generate(StateParams {
        index: 0,
        seed: 7,
        users,
        version: "7.18.2".into(),
        churn,
        redial: Duration::from_millis(2000),
    })
}
