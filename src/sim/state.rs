//! One simulated router's data: seeded tables (secrets, profiles, queues, address lists,
//! files, interfaces), live PPP sessions with their dynamic `<pppoe-USER>` queues, and the
//! numbers that move (CPU load, rates, session churn).
//!
//! Nothing ticks: moving values are computed from the clock and the seed when read, and
//! churn is caught up lazily whenever the state is touched, so an idle router costs nothing.
//! Directions follow routeros-api.md §9.6-§9.7: queue pairs are `upload/download`, and on a
//! `<pppoe-U>` interface rx is the customer's upload and tx the download.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::table::{prop, Item, Kind, Prop, Table};
use super::trap::SimTrap;
use super::values::{
    format_bool, format_id, format_pair, parse_ipv4, parse_rate_limit, parse_rate_pair, unix_now,
    DateTime, ItemRef,
};
use crate::model::format_duration;
use crate::rng::Rng;
use crate::routeros::Sentence;

/// One printed row: property names and raw values, in print order.
pub type Row = Vec<(&'static str, Vec<u8>)>;

/// Which properties a print needs (its `.proplist` plus the names its query reads);
/// `all()` when there is no `.proplist`. Leaving the rest out saves most of the work.
pub(crate) struct Want<'a>(Option<Vec<&'a [u8]>>);

impl<'a> Want<'a> {
    pub fn all() -> Want<'a> {
        Want(None)
    }

    pub fn only(names: Vec<&'a [u8]>) -> Want<'a> {
        Want(Some(names))
    }

    pub fn has(&self, name: &str) -> bool {
        match &self.0 {
            None => true,
            Some(names) => name == ".id" || names.contains(&name.as_bytes()),
        }
    }
}

const SERVICES: &[&str] = &["any", "async", "l2tp", "ovpn", "pppoe", "pptp", "sstp"];

pub(crate) const SECRET_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("service", Kind::Enum(SERVICES), Some("any")),
    prop("caller-id", Kind::Text, Some("")),
    prop("password", Kind::Text, Some("")),
    prop("profile", Kind::ProfileRef, Some("default")),
    prop("local-address", Kind::Ipv4, None),
    prop("remote-address", Kind::Ipv4, None),
    prop("routes", Kind::Text, Some("")),
    prop("ipv6-routes", Kind::Text, Some("")),
    prop("remote-ipv6-prefix", Kind::Text, None),
    prop("limit-bytes-in", Kind::Int, Some("0")),
    prop("limit-bytes-out", Kind::Int, Some("0")),
    prop("last-logged-out", Kind::ReadOnly, None),
    prop("last-caller-id", Kind::ReadOnly, None),
    prop("last-disconnect-reason", Kind::ReadOnly, None),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const PROFILE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("local-address", Kind::Text, None),
    prop("remote-address", Kind::Text, None),
    prop("rate-limit", Kind::Text, None),
    prop("only-one", Kind::Text, Some("default")),
    prop("change-tcp-mss", Kind::Text, Some("default")),
    prop("use-compression", Kind::Text, Some("default")),
    prop("use-encryption", Kind::Text, Some("default")),
    prop("use-mpls", Kind::Text, Some("default")),
    prop("use-upnp", Kind::Text, Some("default")),
    prop("address-list", Kind::Text, Some("")),
    prop("on-up", Kind::Text, Some("")),
    prop("on-down", Kind::Text, Some("")),
    prop("default", Kind::ReadOnly, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const QUEUE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("target", Kind::Text, Some("")),
    prop("parent", Kind::Text, Some("none")),
    prop("packet-marks", Kind::Text, Some("")),
    prop("priority", Kind::Text, Some("8/8")),
    prop("queue", Kind::Text, Some("default-small/default-small")),
    prop("limit-at", Kind::RatePair, Some("0/0")),
    prop("max-limit", Kind::RatePair, Some("0/0")),
    prop("burst-limit", Kind::RatePair, Some("0/0")),
    prop("burst-threshold", Kind::RatePair, Some("0/0")),
    prop("burst-time", Kind::Text, Some("0s/0s")),
    prop("bucket-size", Kind::Text, Some("0.1/0.1")),
    prop("bytes", Kind::Computed, None),
    prop("total-bytes", Kind::Computed, None),
    prop("packets", Kind::Computed, None),
    prop("total-packets", Kind::Computed, None),
    prop("dropped", Kind::Computed, None),
    prop("total-dropped", Kind::Computed, None),
    prop("rate", Kind::Computed, None),
    prop("total-rate", Kind::Computed, None),
    prop("packet-rate", Kind::Computed, None),
    prop("total-packet-rate", Kind::Computed, None),
    prop("queued-packets", Kind::Computed, None),
    prop("total-queued-packets", Kind::Computed, None),
    prop("queued-bytes", Kind::Computed, None),
    prop("total-queued-bytes", Kind::Computed, None),
    prop("invalid", Kind::ReadOnly, Some("false")),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
    // Sim-only bookkeeping: the sim second the queue was created.
    prop("created", Kind::Hidden, None),
];

pub(crate) const ADDRESS_LIST_SCHEMA: &[Prop] = &[
    prop("list", Kind::Name, None),
    prop("address", Kind::ListAddress, None),
    prop("timeout", Kind::Duration, None),
    prop("creation-time", Kind::ReadOnly, None),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const FILE_SCHEMA: &[Prop] = &[
    prop("name", Kind::ReadOnly, None),
    prop("type", Kind::ReadOnly, None),
    prop("size", Kind::ReadOnly, None),
    prop("creation-time", Kind::ReadOnly, None),
    prop("last-modified", Kind::ReadOnly, None),
];

pub(crate) const INTERFACE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("default-name", Kind::ReadOnly, None),
    prop("type", Kind::ReadOnly, None),
    prop("mtu", Kind::Text, Some("1500")),
    prop("actual-mtu", Kind::ReadOnly, Some("1500")),
    prop("mac-address", Kind::ReadOnly, None),
    prop("running", Kind::ReadOnly, Some("true")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("comment", Kind::Text, None),
];

/// Hardware a simulated router claims to be.
#[derive(Debug)]
pub struct Board {
    pub name: &'static str,
    pub architecture: &'static str,
    pub cpu: &'static str,
    pub cpu_count: u32,
    pub cpu_frequency: u32,
    pub total_memory: u64,
    pub total_hdd: u64,
}

const BOARDS: &[Board] = &[
    Board {
        name: "RB5009UG+S+",
        architecture: "arm64",
        cpu: "ARM64",
        cpu_count: 4,
        cpu_frequency: 1400,
        total_memory: 1 << 30,
        total_hdd: 1 << 30,
    },
    Board {
        name: "CCR2004-16G-2S+",
        architecture: "arm64",
        cpu: "ARM64",
        cpu_count: 4,
        cpu_frequency: 1700,
        total_memory: 4 << 30,
        total_hdd: 128 << 20,
    },
    Board {
        name: "CCR1036-8G-2S+",
        architecture: "tile",
        cpu: "tilegx",
        cpu_count: 36,
        cpu_frequency: 1200,
        total_memory: 4 << 30,
        total_hdd: 1 << 30,
    },
    Board {
        name: "CHR",
        architecture: "x86_64",
        cpu: "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
        cpu_count: 2,
        cpu_frequency: 2400,
        total_memory: 2 << 30,
        total_hdd: 1 << 30,
    },
    Board {
        name: "RB4011iGS+",
        architecture: "arm",
        cpu: "ARMv7",
        cpu_count: 4,
        cpu_frequency: 1400,
        total_memory: 1 << 30,
        total_hdd: 512 << 20,
    },
];

/// Rates a session gets when its profile has no `rate-limit` (upload, download).
const UNLIMITED_CAPS: (u64, u64) = (30_000_000, 100_000_000);

/// Mean seconds a churning session stays up, and a short and a long offline spell.
const MEAN_ONLINE_SECS: f64 = 1800.0;
const MEAN_OFFLINE_SECS: f64 = 90.0;
const MEAN_LONG_OFFLINE_SECS: f64 = 4.0 * 3600.0;
/// A kicked customer's CPE dials again within seconds.
const REDIAL_SECS: (u64, u64) = (5, 30);

const DISCONNECT_REASONS: &[&str] = &[
    "peer-request",
    "hung-up",
    "idle-timeout",
    "port-error",
    "nas-error",
];

const LATIN1_COMMENTS: &[&[u8]] = &[
    b"Caf\xe9 \xd1and\xfa",
    b"M\xfcller Stra\xdfe 5",
    b"S\xe3o Jos\xe9 - Bloco B",
    b"Fran\xe7ois Cr\xe8me",
];
const UTF8_COMMENTS: &[&str] = &["Zürich Bahnhofstraße 1", "Łódź, ul. Piotrkowska 7"];
const STREETS: &[&str] = &[
    "Jl. Mawar",
    "Jl. Melati",
    "Main St",
    "Oak Ave",
    "Calle Sol",
    "Rua Azul",
    "Hill Rd",
];

const FIRST_NAMES: &[&str] = &[
    "budi", "siti", "agus", "dewi", "rina", "joko", "maria", "john", "ahmad", "nur", "putri",
    "andi", "wati", "eko", "sri", "yusuf", "fatima", "carlos", "ana", "jose", "luis", "sofia",
    "david", "emma", "lucas", "mia", "noah", "olga", "ivan", "chen", "wei", "kim", "omar", "layla",
    "hassan", "zainab", "pedro", "lucia", "marco", "giulia", "hans", "petra", "jan", "eva", "tom",
    "sara", "alicia", "alina", "alif", "alim",
];
const LAST_NAMES: &[&str] = &[
    "santoso", "wijaya", "pratama", "garcia", "silva", "smith", "nguyen", "kumar", "rahman",
    "putra", "lestari", "hidayat", "muller", "rossi", "kowalski", "sato", "tan", "lim", "haddad",
    "costa",
];

/// A live PPP session (a row of `/ppp/active`).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: u32,
    pub name: Vec<u8>,
    pub service: &'static str,
    pub caller_id: Vec<u8>,
    pub address: Ipv4Addr,
    /// Sim second the session came up.
    pub since: u64,
    pub session_id: u32,
    pub interface_id: u32,
    pub queue_id: Option<u32>,
    /// Upload and download caps from the profile's rate-limit when the session came up.
    pub caps: (u64, u64),
    /// Sim second churn ends it (only used while churn is on).
    pub ends_at: u64,
}

/// Numbers a queue's computed properties are printed from.
#[derive(Debug, Clone, Copy)]
struct QueueStats {
    rate: (u64, u64),
    bytes: (u64, u64),
}

/// What a seeded user was made for, so tests can pick users for each traffic path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Normal,
    StaticNamedQueue,
    TargetQueue,
    NoQueue,
    Disabled,
    Offline,
}

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
    pub(crate) fn generate(params: StateParams) -> SimState {
        let seed = params.seed ^ (params.index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
        let mut rng = Rng::new(seed);
        let board = &BOARDS[rng.below(BOARDS.len() as u64) as usize];
        let boot_uptime = 3 * 86_400 + rng.below(40 * 86_400);
        let mut state = SimState {
            index: params.index,
            seed,
            identity: format!("sim-{}", params.index + 1).into_bytes(),
            version: params.version,
            board,
            clock_origin: Instant::now(),
            boot_uptime,
            skew: 0,
            churn: params.churn,
            base_cpu: 2 + rng.below(20) as u32,
            profiles: Table::new(PROFILE_SCHEMA, 1),
            secrets: Table::new(SECRET_SCHEMA, 1),
            queues: Table::new(QUEUE_SCHEMA, 1),
            address_list: Table::new(ADDRESS_LIST_SCHEMA, 1),
            files: Table::new(FILE_SCHEMA, 1),
            interfaces: Table::new(INTERFACE_SCHEMA, 1),
            sessions: Vec::new(),
            next_session_id: 0x8000_0000 + rng.below(0x4000) as u32,
            next_interface_id: 0x100,
            reconnect_at: HashMap::new(),
            long_offline: HashMap::new(),
            slots: HashMap::new(),
            next_slot: 0,
            address_expiry: HashMap::new(),
            traffic_overrides: HashMap::new(),
            cpu_override: None,
            commands_received: 0,
            recent_commands: VecDeque::new(),
            rng,
        };
        state.seed_profiles();
        state.seed_interfaces();
        state.seed_files();
        state.seed_users(params.users);
        state.seed_address_list();
        state
    }

    fn seed_profiles(&mut self) {
        let add =
            |table: &mut Table, id: Option<u32>, name: &str, rate: Option<&str>, default: bool| {
                let mut values = table.blank();
                let set =
                    |values: &mut Vec<Option<Vec<u8>>>, prop: &str, value: Option<Vec<u8>>| {
                        if let Some(at) = table.prop_index(prop) {
                            values[at] = value;
                        }
                    };
                set(&mut values, "name", text(name));
                set(&mut values, "rate-limit", rate.and_then(text));
                set(&mut values, "default", Some(format_bool(default)));
                if !default {
                    set(&mut values, "local-address", text("10.255.255.1"));
                    set(&mut values, "remote-address", text("pool-pppoe"));
                    set(&mut values, "only-one", text("yes"));
                    set(&mut values, "change-tcp-mss", text("yes"));
                }
                match id {
                    Some(id) => table.insert_with_id(id, values),
                    None => {
                        table.insert(values);
                    }
                }
            };
        let table = &mut self.profiles;
        add(table, Some(0), "default", None, true);
        add(table, None, "5M", Some("5M/10M"), false);
        add(table, None, "10M", Some("10M/20M"), false);
        add(table, None, "20M", Some("20M/50M"), false);
        add(table, None, "unlimited", None, false);
        add(table, Some(0xFFFF_FFFE), "default-encryption", None, true);
        if let Some(at) = table.prop_index("use-encryption") {
            if let Some(item) = table.items.last_mut() {
                item.values[at] = text("yes");
            }
        }
    }

    fn seed_interfaces(&mut self) {
        for k in 1..=5u8 {
            let name = format!("ether{k}");
            let mut values = self.interfaces.blank();
            let mut set = |prop: &str, value: Option<Vec<u8>>| {
                if let Some(at) = INTERFACE_SCHEMA.iter().position(|p| p.name == prop) {
                    values[at] = value;
                }
            };
            set("name", text(&name));
            set("default-name", text(&name));
            set("type", text("ether"));
            set("mac-address", Some(mac_for(self.seed, name.as_bytes())));
            set("running", Some(format_bool(k <= 2)));
            if k == 1 {
                set("comment", text("WAN"));
            } else if k == 2 {
                set("comment", text("PPPoE customers"));
            }
            self.interfaces.insert(values);
        }
    }

    fn seed_files(&mut self) {
        let created = DateTime::from_unix(unix_now().saturating_sub(self.boot_uptime)).format();
        for name in ["skins", "pub"] {
            let mut values = self.files.blank();
            values[0] = text(name);
            values[1] = text("directory");
            values[3] = text(&created);
            values[4] = text(&created);
            self.files.insert(values);
        }
    }

    fn unique_name(&mut self, taken: &mut std::collections::HashSet<Vec<u8>>) -> Vec<u8> {
        loop {
            let first = FIRST_NAMES[self.rng.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[self.rng.below(LAST_NAMES.len() as u64) as usize];
            let candidate = match self.rng.below(5) {
                0 => format!("{first}.{last}"),
                1 => format!("{first}{}", 1 + self.rng.below(99)),
                2 => format!("{first}_{last}"),
                3 => format!("{first}.{last}@net"),
                _ => format!("{first}{}", last.chars().next().unwrap_or('x')),
            };
            let bytes = candidate.into_bytes();
            if taken.insert(bytes.clone()) {
                return bytes;
            }
        }
    }

    fn seed_users(&mut self, users: usize) {
        let mut taken = std::collections::HashSet::new();
        let now = self.now();
        let wall = unix_now();
        for k in 0..users {
            let name = match k {
                0 => b"alice".to_vec(),
                1 => b"ali".to_vec(),
                _ => self.unique_name(&mut taken),
            };
            taken.insert(name.clone());
            let plan = match k {
                0 | 1 => Plan::Normal,
                2 => Plan::StaticNamedQueue,
                3 => Plan::TargetQueue,
                4 => Plan::NoQueue,
                5 => Plan::Disabled,
                6 => Plan::Offline,
                _ => {
                    let r = self.rng.unit();
                    if r < 0.04 {
                        Plan::Disabled
                    } else if r < 0.12 {
                        Plan::Offline
                    } else if r < 0.16 {
                        Plan::StaticNamedQueue
                    } else if r < 0.20 {
                        Plan::TargetQueue
                    } else if r < 0.26 {
                        Plan::NoQueue
                    } else {
                        Plan::Normal
                    }
                }
            };
            let profile = match (k, plan) {
                (0, _) => "10M",
                (1, _) => "20M",
                (_, Plan::TargetQueue | Plan::NoQueue) => "unlimited",
                _ => ["5M", "10M", "10M", "20M"][self.rng.below(4) as usize],
            };
            let comment: Option<Vec<u8>> = if k == 0 {
                Some(LATIN1_COMMENTS[0].to_vec())
            } else if k == 1 {
                text("Jl. Mawar 3")
            } else {
                let r = self.rng.unit();
                if r < 0.06 {
                    Some(
                        LATIN1_COMMENTS[self.rng.below(LATIN1_COMMENTS.len() as u64) as usize]
                            .to_vec(),
                    )
                } else if r < 0.09 {
                    text(UTF8_COMMENTS[self.rng.below(UTF8_COMMENTS.len() as u64) as usize])
                } else if r < 0.40 {
                    let street = STREETS[self.rng.below(STREETS.len() as u64) as usize];
                    text(&format!("{street} {}", 1 + self.rng.below(120)))
                } else {
                    None
                }
            };
            let slot = self.slot_for(&name);
            let static_ip = self.rng.chance(0.5);
            let password: String = (0..10)
                .map(|_| {
                    char::from(b"abcdefghjkmnpqrstuvwxyz23456789"[self.rng.below(31) as usize])
                })
                .collect();
            let mut values = self.secrets.blank();
            let mut set = |prop: &str, value: Option<Vec<u8>>| {
                if let Some(at) = SECRET_SCHEMA.iter().position(|p| p.name == prop) {
                    values[at] = value;
                }
            };
            set("name", Some(name.clone()));
            set("service", text("pppoe"));
            set("password", text(&password));
            set("profile", text(profile));
            if static_ip {
                set("remote-address", text(&slot.to_string()));
            }
            set("disabled", Some(format_bool(plan == Plan::Disabled)));
            set("comment", comment);
            let logged_out = wall.saturating_sub(3600 + self.rng.below(30 * 86_400));
            set(
                "last-logged-out",
                text(&DateTime::from_unix(logged_out).format()),
            );
            set("last-caller-id", Some(mac_for(self.seed, &name)));
            let reason =
                DISCONNECT_REASONS[self.rng.below(DISCONNECT_REASONS.len() as u64) as usize];
            set("last-disconnect-reason", text(reason));
            self.secrets.insert(values);
            self.long_offline.insert(name.clone(), self.rng.chance(0.1));

            match plan {
                Plan::Disabled => {}
                Plan::Offline => {
                    let at = now + self.offline_spell(&name);
                    self.reconnect_at.insert(name.clone(), at);
                }
                _ => {
                    let uptime = 60 + self.rng.below(10 * 86_400).min(self.boot_uptime - 60);
                    self.connect_at(&name, now - uptime);
                }
            }
            let caps = self
                .profile_caps(profile.as_bytes())
                .unwrap_or(UNLIMITED_CAPS);
            match plan {
                Plan::StaticNamedQueue => {
                    self.insert_static_queue(&name, format!("{slot}/32").as_bytes(), caps);
                }
                Plan::TargetQueue => {
                    let queue_name = format!("cust-{}", k + 1);
                    self.insert_static_queue(
                        queue_name.as_bytes(),
                        format!("{slot}/32").as_bytes(),
                        caps,
                    );
                }
                _ if k == 0 => {
                    // alice also has a queue named exactly `alice`, so a substring scan for
                    // `ali` finds the wrong customer.
                    self.insert_static_queue(&name, format!("{slot}/32").as_bytes(), caps);
                }
                _ => {}
            }
        }
    }

    fn seed_address_list(&mut self) {
        let created = DateTime::from_unix(unix_now().saturating_sub(86_400)).format();
        let mut add = |list: &str, address: &str, comment: Option<&str>| {
            let mut values = self.address_list.blank();
            values[0] = text(list);
            values[1] = text(address);
            values[3] = text(&created);
            values[6] = comment.and_then(text);
            self.address_list.insert(values);
        };
        add("allowed-mgmt", "192.168.88.0/24", Some("office"));
        add("allowed-mgmt", "10.0.0.1", None);
    }

    /// Sim seconds: the router's uptime.
    pub(crate) fn now(&self) -> u64 {
        self.boot_uptime + self.skew + self.clock_origin.elapsed().as_secs()
    }

    fn slot_for(&mut self, name: &[u8]) -> Ipv4Addr {
        if let Some(&slot) = self.slots.get(name) {
            return slot;
        }
        let k = self.next_slot;
        self.next_slot += 1;
        let second = (self.index % 250) as u8 + 1;
        let slot = Ipv4Addr::new(10, second, (k / 250) as u8, (k % 250) as u8 + 2);
        self.slots.insert(name.to_vec(), slot);
        slot
    }

    fn offline_spell(&mut self, name: &[u8]) -> u64 {
        let long = self.long_offline.get(name).copied().unwrap_or(false);
        let mean = if long {
            MEAN_LONG_OFFLINE_SECS
        } else {
            MEAN_OFFLINE_SECS
        };
        exponential(&mut self.rng, mean)
    }

    fn profile_caps(&self, profile: &[u8]) -> Option<(u64, u64)> {
        let id = self.profiles.find_by_name(profile)?;
        parse_rate_limit(self.profiles.value(id, "rate-limit")?)
    }

    pub(crate) fn profile_names(&self) -> Vec<Vec<u8>> {
        let at = self.profiles.prop_index("name").unwrap_or(0);
        self.profiles
            .items
            .iter()
            .filter_map(|item| item.values[at].clone())
            .collect()
    }

    fn insert_static_queue(&mut self, name: &[u8], target: &[u8], caps: (u64, u64)) -> u32 {
        let mut values = self.queues.blank();
        let now = self.now();
        let mut set = |prop: &str, value: Vec<u8>| {
            if let Some(at) = QUEUE_SCHEMA.iter().position(|p| p.name == prop) {
                values[at] = Some(value);
            }
        };
        set("name", name.to_vec());
        set("target", target.to_vec());
        set("max-limit", format_pair(caps));
        set("created", now.to_string().into_bytes());
        self.queues.insert(values)
    }

    /// Brings a user's session up at sim second `at`, with its dynamic queue when the
    /// profile has a rate limit. False if the user has no secret or is already online.
    fn connect_at(&mut self, name: &[u8], at: u64) -> bool {
        if self.sessions.iter().any(|s| s.name == name) {
            return false;
        }
        let Some(secret) = self.secrets.find_by_name(name) else {
            return false;
        };
        let address = match self
            .secrets
            .value(secret, "remote-address")
            .and_then(parse_ipv4)
        {
            Some(address) => address,
            None => self.slot_for(name),
        };
        let profile = self
            .secrets
            .value(secret, "profile")
            .unwrap_or(b"default")
            .to_vec();
        let limits = self.profile_caps(&profile);
        let interface = {
            let mut n = b"<pppoe-".to_vec();
            n.extend_from_slice(name);
            n.push(b'>');
            n
        };
        let queue_id = limits.map(|caps| {
            let mut values = self.queues.blank();
            let mut set = |prop: &str, value: Vec<u8>| {
                if let Some(p) = QUEUE_SCHEMA.iter().position(|p| p.name == prop) {
                    values[p] = Some(value);
                }
            };
            set("name", interface.clone());
            set("target", interface.clone());
            set("limit-at", format_pair(caps));
            set("max-limit", format_pair(caps));
            set("dynamic", b"true".to_vec());
            set("created", at.to_string().into_bytes());
            self.queues.insert(values)
        });
        let id = self.next_session_id;
        self.next_session_id = self.next_session_id.wrapping_add(1);
        let interface_id = self.next_interface_id;
        self.next_interface_id += 1;
        // Sessions last a memoryless while from now on, however long they have been up.
        let ends_at = at.max(self.now()) + exponential(&mut self.rng, MEAN_ONLINE_SECS);
        self.sessions.push(Session {
            id,
            name: name.to_vec(),
            service: "pppoe",
            caller_id: mac_for(self.seed, name),
            address,
            since: at,
            session_id: 0x8100_0000 | (id & 0x00FF_FFFF),
            interface_id,
            queue_id,
            caps: limits.unwrap_or(UNLIMITED_CAPS),
            ends_at,
        });
        self.reconnect_at.remove(name);
        true
    }

    /// Ends the session at index `at`, removing its dynamic queue and recording the logout.
    fn end_session(&mut self, at: usize, reason: &str, redial_in: Option<u64>) {
        let session = self.sessions.remove(at);
        if let Some(queue) = session.queue_id {
            self.queues.remove(queue);
        }
        if let Some(secret) = self.secrets.find_by_name(&session.name) {
            let stamp = DateTime::from_unix(unix_now()).format().into_bytes();
            self.secrets
                .set_value(secret, "last-logged-out", Some(stamp));
            self.secrets
                .set_value(secret, "last-caller-id", Some(session.caller_id.clone()));
            self.secrets.set_value(
                secret,
                "last-disconnect-reason",
                Some(reason.as_bytes().to_vec()),
            );
        }
        let when = match redial_in {
            Some(delay) => self.now() + delay,
            None => self.now() + self.offline_spell(&session.name),
        };
        self.reconnect_at.insert(session.name, when);
    }

    /// Catches up with time: churn (when on) and address-list timeouts.
    pub(crate) fn advance(&mut self) {
        let now = self.now();
        if !self.address_expiry.is_empty() {
            let expired: Vec<u32> = self
                .address_expiry
                .iter()
                .filter(|(_, &until)| until <= now)
                .map(|(&id, _)| id)
                .collect();
            for id in expired {
                self.address_expiry.remove(&id);
                self.address_list.remove(id);
            }
        }
        if !self.churn {
            return;
        }
        let mut k = 0;
        while k < self.sessions.len() {
            if self.sessions[k].ends_at <= now {
                let reason =
                    DISCONNECT_REASONS[self.rng.below(DISCONNECT_REASONS.len() as u64) as usize];
                self.end_session(k, reason, None);
            } else {
                k += 1;
            }
        }
        let mut due: Vec<(u64, Vec<u8>)> = self
            .reconnect_at
            .iter()
            .filter(|(_, &at)| at <= now)
            .map(|(name, &at)| (at, name.clone()))
            .collect();
        // A fixed order keeps the random draws, and so the data, reproducible.
        due.sort();
        for (_, name) in due {
            let enabled = self
                .secrets
                .find_by_name(&name)
                .is_some_and(|id| self.secrets.value(id, "disabled") != Some(b"true"));
            if enabled {
                let at = self.reconnect_at.get(&name).copied().unwrap_or(now);
                self.connect_at(&name, at.min(now));
            } else {
                // Disabled or deleted users stop dialling; look again later.
                let later = now + self.offline_spell(&name);
                self.reconnect_at.insert(name, later);
            }
        }
    }

    /// Current (upload, download) bits/s of a live session.
    fn session_traffic(&self, session: &Session, second: u64) -> (u64, u64) {
        if let Some(&rates) = self.traffic_overrides.get(&session.name) {
            return rates;
        }
        let key = name_hash(self.seed, &session.name);
        let activity = 0.15 + 0.85 * unit(mix(key, 0x5EED));
        let down = 0.25 + 0.75 * unit(mix(key, second));
        let up = 0.25 + 0.75 * unit(mix(key ^ 0xABCD, second));
        (
            (session.caps.0 as f64 * activity * 0.5 * up) as u64,
            (session.caps.1 as f64 * activity * down) as u64,
        )
    }

    // ---- rows -------------------------------------------------------------------------

    fn render(
        table: &Table,
        want: &Want,
        mut computed: impl FnMut(&Item, &'static str) -> Option<Vec<u8>>,
    ) -> Vec<Row> {
        table
            .items
            .iter()
            .map(|item| {
                let mut row: Row = vec![(".id", format_id(item.id))];
                for (at, prop) in table.schema.iter().enumerate() {
                    if prop.kind == Kind::Hidden || !want.has(prop.name) {
                        continue;
                    }
                    let value = if prop.kind == Kind::Computed {
                        computed(item, prop.name)
                    } else {
                        item.values[at].clone()
                    };
                    if let Some(value) = value {
                        row.push((prop.name, value));
                    }
                }
                row
            })
            .collect()
    }

    pub(crate) fn resource_row(&self) -> Row {
        let now = self.now();
        let cpu_load = self.cpu_override.unwrap_or_else(|| {
            let load = self.base_cpu as f64
                + self.sessions.len() as f64 * 0.05
                + 15.0 * unit(mix(self.seed ^ 0xC0, now));
            (load as u32).min(100)
        });
        let board = self.board;
        let used = board.total_memory / 4
            + (board.total_memory / 8) * (mix(self.seed, now / 10) % 100) / 100;
        let free_memory = board.total_memory - used;
        let free_hdd = board.total_hdd - board.total_hdd / 3;
        let write_sect = 400 + now / 600;
        let mut row: Row = vec![
            ("uptime", format_duration(now).into_bytes()),
            (
                "version",
                super::values::display_version(&self.version).into_bytes(),
            ),
            ("build-time", b"2025-03-10 11:24:06".to_vec()),
            ("free-memory", free_memory.to_string().into_bytes()),
            ("total-memory", board.total_memory.to_string().into_bytes()),
            ("cpu", board.cpu.as_bytes().to_vec()),
            ("cpu-count", board.cpu_count.to_string().into_bytes()),
            (
                "cpu-frequency",
                board.cpu_frequency.to_string().into_bytes(),
            ),
            ("cpu-load", cpu_load.to_string().into_bytes()),
            ("free-hdd-space", free_hdd.to_string().into_bytes()),
            ("total-hdd-space", board.total_hdd.to_string().into_bytes()),
            (
                "write-sect-since-reboot",
                write_sect.to_string().into_bytes(),
            ),
            (
                "write-sect-total",
                (250_000 + write_sect).to_string().into_bytes(),
            ),
            ("bad-blocks", b"0".to_vec()),
            ("architecture-name", board.architecture.as_bytes().to_vec()),
            ("board-name", board.name.as_bytes().to_vec()),
            ("platform", b"MikroTik".to_vec()),
        ];
        if super::values::parse_version(&self.version).0 >= 7 {
            row.insert(3, ("factory-software", b"7.5".to_vec()));
        }
        row
    }

    pub(crate) fn identity_row(&self) -> Row {
        vec![("name", self.identity.clone())]
    }

    pub(crate) fn secret_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.secrets, want, |_, _| None)
    }

    pub(crate) fn profile_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.profiles, want, |_, _| None)
    }

    pub(crate) fn address_list_rows(&self, want: &Want) -> Vec<Row> {
        let now = self.now();
        let rows = Self::render(&self.address_list, want, |_, _| None);
        rows.into_iter()
            .map(|mut row| {
                // `timeout` shows the time left.
                let id = row
                    .first()
                    .and_then(|(_, v)| super::values::parse_id(v))
                    .unwrap_or(0);
                if let Some(&until) = self.address_expiry.get(&id) {
                    for (name, value) in row.iter_mut() {
                        if *name == "timeout" {
                            *value = format_duration(until.saturating_sub(now)).into_bytes();
                        }
                    }
                }
                row
            })
            .collect()
    }

    pub(crate) fn file_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.files, want, |_, _| None)
    }

    pub(crate) fn active_rows(&self) -> Vec<Row> {
        let now = self.now();
        self.sessions
            .iter()
            .map(|s| {
                vec![
                    (".id", format_id(s.id)),
                    ("name", s.name.clone()),
                    ("service", s.service.as_bytes().to_vec()),
                    ("caller-id", s.caller_id.clone()),
                    ("address", s.address.to_string().into_bytes()),
                    (
                        "uptime",
                        format_duration(now.saturating_sub(s.since)).into_bytes(),
                    ),
                    ("encoding", Vec::new()),
                    ("session-id", format!("0x{:08X}", s.session_id).into_bytes()),
                    ("limit-bytes-in", b"0".to_vec()),
                    ("limit-bytes-out", b"0".to_vec()),
                    ("radius", b"false".to_vec()),
                ]
            })
            .collect()
    }

    /// The session a queue measures: the `<pppoe-U>` interface it targets, or the address.
    fn target_session(&self, target: &[u8]) -> Option<&Session> {
        let first = target.split(|&b| b == b',').next().unwrap_or(&[]);
        if let Some(user) = first
            .strip_prefix(b"<pppoe-")
            .and_then(|r| r.strip_suffix(b">"))
        {
            return self.sessions.iter().find(|s| s.name == user);
        }
        let address = first.strip_suffix(b"/32").unwrap_or(first);
        let address = parse_ipv4(address)?;
        self.sessions.iter().find(|s| s.address == address)
    }

    pub(crate) fn queue_rows(&self, want: &Want) -> Vec<Row> {
        let now = self.now();
        let target_at = self.queues.prop_index("target");
        let max_at = self.queues.prop_index("max-limit");
        let created_at = self.queues.prop_index("created");
        let value = |item: &Item, at: Option<usize>| at.and_then(|at| item.values[at].clone());
        // Every computed property of one queue comes from the same numbers: work them out
        // once per queue, not once per property.
        let mut cached: Option<(u32, QueueStats)> = None;
        Self::render(&self.queues, want, |item, name| {
            let stats = match &cached {
                Some((id, stats)) if *id == item.id => *stats,
                _ => {
                    let target = value(item, target_at).unwrap_or_default();
                    let max = value(item, max_at)
                        .and_then(|v| parse_rate_pair(&v))
                        .unwrap_or((0, 0));
                    let created = value(item, created_at)
                        .and_then(|v| std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok()))
                        .unwrap_or(now);
                    let stats = self.queue_stats(&target, max, created, now);
                    cached = Some((item.id, stats));
                    stats
                }
            };
            let (up, down) = stats.rate;
            match name {
                "rate" => Some(format_pair(stats.rate)),
                "packet-rate" => Some(format_pair((up / 8 / 600, down / 8 / 1200))),
                "bytes" => Some(format_pair(stats.bytes)),
                "packets" => Some(format_pair((stats.bytes.0 / 600, stats.bytes.1 / 1200))),
                "dropped" | "queued-packets" | "queued-bytes" => Some(b"0/0".to_vec()),
                _ => Some(b"0".to_vec()),
            }
        })
    }

    /// A queue's current rate (clamped to its max-limit) and byte counters.
    fn queue_stats(&self, target: &[u8], max: (u64, u64), created: u64, now: u64) -> QueueStats {
        let clamp = |rate: u64, limit: u64| if limit == 0 { rate } else { rate.min(limit) };
        let rate = match self.target_session(target) {
            Some(session) => {
                let (up, down) = self.session_traffic(session, now);
                (clamp(up, max.0), clamp(down, max.1))
            }
            None => (0, 0),
        };
        let age = now.saturating_sub(created);
        // Counters: as if the queue had carried about half its current rate all along.
        QueueStats {
            rate,
            bytes: (rate.0 / 16 * age, rate.1 / 16 * age),
        }
    }

    pub(crate) fn interface_rows(&self, want: &Want) -> Vec<Row> {
        let mut rows = Self::render(&self.interfaces, want, |_, _| None);
        for s in &self.sessions {
            let mut name = b"<pppoe-".to_vec();
            name.extend_from_slice(&s.name);
            name.push(b'>');
            rows.push(vec![
                (".id", format_id(s.interface_id)),
                ("name", name),
                ("type", b"pppoe-in".to_vec()),
                ("mtu", b"1480".to_vec()),
                ("actual-mtu", b"1480".to_vec()),
                ("running", b"true".to_vec()),
                ("disabled", b"false".to_vec()),
                ("dynamic", b"true".to_vec()),
            ]);
        }
        rows
    }

    /// `(rx, tx)` bits/s on one interface now, `None` for an unknown interface.
    pub(crate) fn interface_traffic(&self, name: &[u8]) -> Option<(u64, u64)> {
        let now = self.now();
        if let Some(user) = name
            .strip_prefix(b"<pppoe-")
            .and_then(|r| r.strip_suffix(b">"))
        {
            let session = self.sessions.iter().find(|s| s.name == user)?;
            // rx = what the router receives from the customer = the upload.
            return Some(self.session_traffic(session, now));
        }
        let (up, down) = self
            .sessions
            .iter()
            .map(|s| self.session_traffic(s, now))
            .fold((0u64, 0u64), |acc, (u, d)| (acc.0 + u, acc.1 + d));
        match name {
            b"aggregate" => Some((up + down, up + down)),
            b"ether1" => Some((down, up)),
            b"ether2" => Some((up, down)),
            _ => self.interfaces.find_by_name(name).map(|_| (0, 0)),
        }
    }

    // ---- changes made through the API -------------------------------------------------

    /// Resolves `=.id=`/`=numbers=` references in a table; names are looked up in `name`.
    pub(crate) fn resolve(table: &Table, refs: &[ItemRef]) -> Result<Vec<u32>, SimTrap> {
        refs.iter()
            .map(|r| match r {
                ItemRef::Id(id) if table.position(*id).is_some() => Ok(*id),
                ItemRef::Id(_) => Err(SimTrap::no_such_item()),
                ItemRef::Name(name) => table.find_by_name(name).ok_or_else(SimTrap::no_such_item),
            })
            .collect()
    }

    pub(crate) fn secret_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let profiles = self.profile_names();
        let changes = self
            .secrets
            .check_args(args, &["copy-from", "place-before"], &profiles)?;
        let mut values = self.secrets.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let Some(name) = values[0].clone() else {
            return Err(SimTrap::missing_value("name"));
        };
        if self.secrets.find_by_name(&name).is_some() {
            return Err(SimTrap::failure("secret with the same name already exists"));
        }
        let disabled_at = self.secrets.prop_index("disabled").unwrap_or(0);
        let disabled = values[disabled_at].as_deref() == Some(b"true");
        let id = self.secrets.insert(values);
        if self.churn && !disabled {
            // A new customer's CPE dials in soon after the secret appears.
            let at = self.now() + REDIAL_SECS.0 + self.rng.below(REDIAL_SECS.1);
            self.reconnect_at.insert(name, at);
        }
        Ok(id)
    }

    pub(crate) fn secret_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let profiles = self.profile_names();
        let changes = self
            .secrets
            .check_args(args, &[".id", "numbers"], &profiles)?;
        for (at, value) in &changes {
            if *at == 0 {
                let clash = self
                    .secrets
                    .find_by_name(value)
                    .is_some_and(|other| !ids.contains(&other));
                if clash || ids.len() > 1 {
                    return Err(SimTrap::failure("secret with the same name already exists"));
                }
            }
        }
        for &id in ids {
            if let Some(row) = self.secrets.position(id) {
                for (at, value) in &changes {
                    self.secrets.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn secret_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            if let Some(item) = self.secrets.remove(id) {
                if let Some(name) = item.values[0].as_ref() {
                    self.reconnect_at.remove(name);
                }
            }
        }
    }

    pub(crate) fn active_resolve(&self, refs: &[ItemRef]) -> Result<Vec<u32>, SimTrap> {
        refs.iter()
            .map(|r| {
                let found = match r {
                    ItemRef::Id(id) => self.sessions.iter().find(|s| s.id == *id),
                    ItemRef::Name(name) => self.sessions.iter().find(|s| &s.name == name),
                };
                found.map(|s| s.id).ok_or_else(SimTrap::no_such_item)
            })
            .collect()
    }

    /// Kicks sessions (`/ppp/active/remove`): each ends with its dynamic queue.
    pub(crate) fn active_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            if let Some(at) = self.sessions.iter().position(|s| s.id == id) {
                let redial = REDIAL_SECS.0 + self.rng.below(REDIAL_SECS.1 - REDIAL_SECS.0);
                self.end_session(at, "nas-request", Some(redial));
            }
        }
    }

    pub(crate) fn queue_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let changes = self
            .queues
            .check_args(args, &["copy-from", "place-before"], &[])?;
        let mut values = self.queues.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let name = match values[0].clone() {
            Some(name) => name,
            None => {
                let mut n = 1;
                while self
                    .queues
                    .find_by_name(format!("queue{n}").as_bytes())
                    .is_some()
                {
                    n += 1;
                }
                format!("queue{n}").into_bytes()
            }
        };
        if self.queues.find_by_name(&name).is_some() {
            return Err(SimTrap::failure("already have such name"));
        }
        values[0] = Some(name);
        let created = self.queues.prop_index("created").unwrap_or(0);
        values[created] = Some(self.now().to_string().into_bytes());
        Ok(self.queues.insert(values))
    }

    fn refuse_dynamic_queues(&self, ids: &[u32], what: &str) -> Result<(), SimTrap> {
        let dynamic = ids
            .iter()
            .any(|&id| self.queues.value(id, "dynamic") == Some(b"true"));
        if dynamic {
            Err(SimTrap::failure(&format!("can not {what} dynamic queue")))
        } else {
            Ok(())
        }
    }

    pub(crate) fn queue_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let changes = self.queues.check_args(args, &[".id", "numbers"], &[])?;
        self.refuse_dynamic_queues(ids, "change")?;
        for (at, value) in &changes {
            if *at == 0 {
                let clash = self
                    .queues
                    .find_by_name(value)
                    .is_some_and(|other| !ids.contains(&other));
                if clash || ids.len() > 1 {
                    return Err(SimTrap::failure("already have such name"));
                }
            }
        }
        for &id in ids {
            if let Some(row) = self.queues.position(id) {
                for (at, value) in &changes {
                    self.queues.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn queue_remove(&mut self, ids: &[u32]) -> Result<(), SimTrap> {
        self.refuse_dynamic_queues(ids, "remove")?;
        for &id in ids {
            self.queues.remove(id);
        }
        Ok(())
    }

    pub(crate) fn address_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let changes = self.address_list.check_args(args, &["place-before"], &[])?;
        let mut values = self.address_list.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let (Some(list), Some(address)) = (values[0].clone(), values[1].clone()) else {
            let missing = if values[0].is_none() {
                "list"
            } else {
                "address"
            };
            return Err(SimTrap::missing_value(missing));
        };
        let duplicate = self.address_list.items.iter().any(|item| {
            item.values[0].as_deref() == Some(list.as_slice())
                && item.values[1].as_deref() == Some(address.as_slice())
        });
        if duplicate {
            return Err(SimTrap::failure("already have such entry"));
        }
        values[3] = Some(DateTime::from_unix(unix_now()).format().into_bytes());
        let timeout = values[2]
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(crate::model::parse_duration_secs);
        if timeout.is_some() {
            values[4] = Some(b"true".to_vec());
        }
        let id = self.address_list.insert(values);
        if let Some(secs) = timeout {
            self.address_expiry.insert(id, self.now() + secs.max(1));
        }
        Ok(id)
    }

    pub(crate) fn address_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let changes = self
            .address_list
            .check_args(args, &[".id", "numbers"], &[])?;
        for &id in ids {
            if let Some(row) = self.address_list.position(id) {
                for (at, value) in &changes {
                    self.address_list.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn address_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            self.address_list.remove(id);
            self.address_expiry.remove(&id);
        }
    }

    /// `/system/backup/save`: adds `<name>.backup` to `/file` and returns the file name.
    pub(crate) fn backup_save(&mut self, name: Option<&[u8]>) -> Vec<u8> {
        let mut file = match name {
            Some(name) if !name.is_empty() => name.to_vec(),
            _ => {
                let mut n = self.identity.clone();
                n.push(b'-');
                n.extend_from_slice(DateTime::from_unix(unix_now()).format_compact().as_bytes());
                n
            }
        };
        if !file.ends_with(b".backup") {
            file.extend_from_slice(b".backup");
        }
        let stamp = DateTime::from_unix(unix_now()).format().into_bytes();
        let size = 20_000 + 120 * self.secrets.items.len() as u64 + self.rng.below(4096);
        if let Some(existing) = self.files.find_by_name(&file) {
            self.files.remove(existing);
        }
        let mut values = self.files.blank();
        values[0] = Some(file.clone());
        values[1] = text("backup");
        values[2] = Some(size.to_string().into_bytes());
        values[3] = Some(stamp.clone());
        values[4] = Some(stamp);
        self.files.insert(values);
        file
    }

    pub(crate) fn note_command(&mut self, sentence: &Sentence) {
        self.commands_received += 1;
        if self.recent_commands.len() == RECENT_COMMANDS {
            self.recent_commands.pop_front();
        }
        self.recent_commands.push_back(sentence.clone());
    }

    // ---- the test and demo API --------------------------------------------------------

    /// The router's identity (`sim-K` unless changed).
    pub fn identity(&self) -> String {
        crate::routeros::text::decode(&self.identity)
    }

    /// The RouterOS version this router claims, as configured (e.g. `7.18.2`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The board this router claims to be.
    pub fn board_name(&self) -> &'static str {
        self.board.name
    }

    /// Every PPP secret name, in print order (decoded for display).
    pub fn secret_names(&self) -> Vec<String> {
        self.secrets
            .items
            .iter()
            .filter_map(|item| item.values[0].as_deref().map(crate::routeros::text::decode))
            .collect()
    }

    pub fn has_secret(&self, name: &str) -> bool {
        self.secrets.find_by_name(name.as_bytes()).is_some()
    }

    fn secret_value(&self, name: &str, prop: &str) -> Option<Vec<u8>> {
        let id = self.secrets.find_by_name(name.as_bytes())?;
        self.secrets.value(id, prop).map(<[u8]>::to_vec)
    }

    /// A secret's comment exactly as stored (Latin-1 bytes stay Latin-1).
    pub fn secret_comment_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.secret_value(name, "comment")
    }

    /// Any stored property of a secret, as raw bytes (`profile`, `password`, `disabled`...).
    pub fn secret_property(&self, name: &str, property: &str) -> Option<Vec<u8>> {
        self.secret_value(name, property)
    }

    /// The `.id` of a secret, e.g. `*1A`.
    pub fn secret_id(&self, name: &str) -> Option<String> {
        let id = self.secrets.find_by_name(name.as_bytes())?;
        Some(format!("*{id:X}"))
    }

    /// Names of the users with a live session.
    pub fn active_names(&self) -> Vec<String> {
        self.sessions
            .iter()
            .map(|s| crate::routeros::text::decode(&s.name))
            .collect()
    }

    pub fn is_online(&self, name: &str) -> bool {
        self.sessions.iter().any(|s| s.name == name.as_bytes())
    }

    /// The address of a user's live session.
    pub fn session_address(&self, name: &str) -> Option<Ipv4Addr> {
        self.sessions
            .iter()
            .find(|s| s.name == name.as_bytes())
            .map(|s| s.address)
    }

    /// The `.id` of a user's live session, e.g. `*80000A1B`.
    pub fn session_id(&self, name: &str) -> Option<String> {
        self.sessions
            .iter()
            .find(|s| s.name == name.as_bytes())
            .map(|s| format!("*{:X}", s.id))
    }

    /// Brings a user's session up now (with its dynamic queue when the profile has a rate
    /// limit). False when the user has no secret or is already online.
    pub fn connect_user(&mut self, name: &str) -> bool {
        let now = self.now();
        self.connect_at(name.as_bytes(), now)
    }

    /// Ends a user's session now (and its dynamic queue). False when the user was offline.
    pub fn disconnect_user(&mut self, name: &str) -> bool {
        match self.sessions.iter().position(|s| s.name == name.as_bytes()) {
            Some(at) => {
                self.end_session(at, "peer-request", None);
                true
            }
            None => false,
        }
    }

    /// Adds a static simple queue; returns its `.id`. A queue that targets a live session's
    /// address (`A.B.C.D/32`) or `<pppoe-U>` interface shows that session's rates.
    pub fn add_static_queue(
        &mut self,
        name: &str,
        target: &str,
        upload_bps: u64,
        download_bps: u64,
    ) -> String {
        let id = self.insert_static_queue(
            name.as_bytes(),
            target.as_bytes(),
            (upload_bps, download_bps),
        );
        format!("*{id:X}")
    }

    /// Names of every simple queue, dynamic ones included, in print order.
    pub fn queue_names(&self) -> Vec<String> {
        self.queues
            .items
            .iter()
            .filter_map(|item| item.values[0].as_deref().map(crate::routeros::text::decode))
            .collect()
    }

    /// A queue's `(target, max-limit, dynamic)`, by exact name.
    pub fn queue(&self, name: &str) -> Option<(String, (u64, u64), bool)> {
        let id = self.queues.find_by_name(name.as_bytes())?;
        let target = crate::routeros::text::decode(self.queues.value(id, "target").unwrap_or(b""));
        let max = self
            .queues
            .value(id, "max-limit")
            .and_then(parse_rate_pair)
            .unwrap_or((0, 0));
        let dynamic = self.queues.value(id, "dynamic") == Some(b"true");
        Some((target, max, dynamic))
    }

    /// Fixes a user's (upload, download) bits/s until cleared with `None`, so a test can
    /// compare what a client reports with a known value.
    pub fn set_user_traffic(&mut self, name: &str, rates: Option<(u64, u64)>) {
        match rates {
            Some(rates) => self
                .traffic_overrides
                .insert(name.as_bytes().to_vec(), rates),
            None => self.traffic_overrides.remove(name.as_bytes()),
        };
    }

    /// A live user's (upload, download) bits/s this second.
    pub fn user_traffic(&self, name: &str) -> Option<(u64, u64)> {
        let session = self.sessions.iter().find(|s| s.name == name.as_bytes())?;
        Some(self.session_traffic(session, self.now()))
    }

    /// Which source a correct client should use for a user's traffic (design.md "Smart
    /// traffic detection"): `queue`, `pppoe_queue`, `target_queue` or `monitor_traffic`;
    /// `None` when the user is offline.
    pub fn expected_traffic_source(&self, name: &str) -> Option<&'static str> {
        let session = self.sessions.iter().find(|s| s.name == name.as_bytes())?;
        if self.queues.find_by_name(name.as_bytes()).is_some() {
            return Some("queue");
        }
        if session.queue_id.is_some() {
            return Some("pppoe_queue");
        }
        let exact = session.address.to_string().into_bytes();
        let with_prefix = format!("{}/32", session.address).into_bytes();
        let targeted = self.queues.items.iter().any(|item| {
            let target = self.queues.get(item, "target");
            target.as_deref() == Some(exact.as_slice())
                || target.as_deref() == Some(with_prefix.as_slice())
        });
        Some(if targeted {
            "target_queue"
        } else {
            "monitor_traffic"
        })
    }

    /// Users whose expected traffic source is `source` (see `expected_traffic_source`).
    pub fn users_with_traffic_source(&self, source: &str) -> Vec<String> {
        self.sessions
            .iter()
            .map(|s| crate::routeros::text::decode(&s.name))
            .filter(|name| self.expected_traffic_source(name) == Some(source))
            .collect()
    }

    /// Every `(list, address)` in `/ip/firewall/address-list`.
    pub fn address_list_entries(&self) -> Vec<(String, String)> {
        self.address_list
            .items
            .iter()
            .map(|item| {
                let decode = |v: &Option<Vec<u8>>| {
                    crate::routeros::text::decode(v.as_deref().unwrap_or(b""))
                };
                (decode(&item.values[0]), decode(&item.values[1]))
            })
            .collect()
    }

    /// Names in `/file`.
    pub fn file_names(&self) -> Vec<String> {
        self.files
            .items
            .iter()
            .filter_map(|item| item.values[0].as_deref().map(crate::routeros::text::decode))
            .collect()
    }

    /// Turns churn (sessions dropping and coming back) on or off.
    pub fn set_churn(&mut self, on: bool) {
        if on && !self.churn {
            // Start afresh from now rather than replaying the time churn was off.
            let now = self.now();
            for k in 0..self.sessions.len() {
                self.sessions[k].ends_at = now + exponential(&mut self.rng, MEAN_ONLINE_SECS);
            }
            let names: Vec<Vec<u8>> = self.reconnect_at.keys().cloned().collect();
            for name in names {
                let at = now + self.offline_spell(&name);
                self.reconnect_at.insert(name, at);
            }
        }
        self.churn = on;
    }

    /// Pins `cpu-load` to a value, or lets it move again with `None`.
    pub fn set_cpu_load(&mut self, load: Option<u32>) {
        self.cpu_override = load.map(|l| l.min(100));
    }

    /// Moves this router's clock forward (uptimes, timeouts, churn).
    pub fn advance_clock(&mut self, by: Duration) {
        self.skew += by.as_secs();
        self.advance();
    }

    /// Sentences received on every connection since start, logins included.
    pub fn commands_received(&self) -> u64 {
        self.commands_received
    }

    /// The last 256 sentences received, oldest first.
    pub fn recent_commands(&self) -> Vec<Sentence> {
        self.recent_commands.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(users: usize, churn: bool) -> SimState {
        SimState::generate(StateParams {
            index: 0,
            seed: 7,
            users,
            version: "7.18.2".into(),
            churn,
        })
    }

    #[test]
    fn seeded_data_has_every_kind_of_user() {
        let s = state(60, false);
        assert_eq!(s.secret_names().len(), 60);
        assert!(s.has_secret("ali") && s.has_secret("alice"));
        let mut unique = s.secret_names();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 60);
        assert_eq!(
            s.secret_comment_bytes("alice"),
            Some(b"Caf\xe9 \xd1and\xfa".to_vec())
        );
        for source in ["queue", "pppoe_queue", "target_queue", "monitor_traffic"] {
            assert!(!s.users_with_traffic_source(source).is_empty(), "{source}");
        }
        assert_eq!(s.expected_traffic_source("alice"), Some("queue"));
        assert_eq!(s.expected_traffic_source("ali"), Some("pppoe_queue"));
        // Addresses are unique among live sessions.
        let mut addresses: Vec<_> = s.sessions.iter().map(|x| x.address).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), s.sessions.len());
        // Each live session on a rate-limited profile has its dynamic queue.
        let (target, max, dynamic) = s.queue("<pppoe-ali>").unwrap();
        assert_eq!(
            (target.as_str(), max, dynamic),
            ("<pppoe-ali>", (20_000_000, 50_000_000), true)
        );
    }

    #[test]
    fn churn_is_slow() {
        let mut s = state(200, true);
        let online = s.sessions.len();
        s.advance_clock(Duration::from_secs(10));
        // About 1 in 180 sessions ends within 10 s; allow a wide margin.
        assert!(
            s.sessions.len() + 10 >= online,
            "{online} -> {}",
            s.sessions.len()
        );
        let mut changes = 0;
        let mut before = s.active_names();
        for _ in 0..30 {
            s.advance_clock(Duration::from_secs(60));
            let now = s.active_names();
            changes += now.iter().filter(|n| !before.contains(n)).count();
            before = now;
        }
        assert!(changes > 0, "sessions come and go over half an hour");
    }

    #[test]
    fn same_seed_same_data() {
        assert_eq!(
            state(40, true).secret_names(),
            state(40, true).secret_names()
        );
    }

    #[test]
    fn interface_traffic_matches_the_dynamic_queue() {
        let mut s = state(10, false);
        s.set_user_traffic("ali", Some((1_203_000, 15_400_000)));
        assert_eq!(
            s.interface_traffic(b"<pppoe-ali>"),
            Some((1_203_000, 15_400_000))
        );
        let row = s
            .queue_rows(&Want::all())
            .into_iter()
            .find(|r| r[1].1 == b"<pppoe-ali>")
            .unwrap();
        let rate = row.iter().find(|(n, _)| *n == "rate").unwrap();
        assert_eq!(rate.1, b"1203000/15400000");
        assert_eq!(s.interface_traffic(b"nonexistent"), None);
    }

    #[test]
    fn disconnect_removes_session_and_queue_and_churn_brings_it_back() {
        let mut s = state(10, false);
        assert!(s.disconnect_user("ali"));
        assert!(!s.is_online("ali"));
        assert!(s.queue("<pppoe-ali>").is_none());
        assert_eq!(
            s.secret_property("ali", "last-disconnect-reason"),
            Some(b"peer-request".to_vec())
        );
        s.set_churn(true);
        s.advance_clock(Duration::from_secs(12 * 3600));
        assert!(!s.active_names().is_empty());
    }

    #[test]
    fn address_list_timeouts_expire() {
        let mut s = state(3, false);
        let args = vec![
            (b"list".to_vec(), b"ISOLATED".to_vec()),
            (b"address".to_vec(), b"10.9.9.9".to_vec()),
            (b"timeout".to_vec(), b"1m".to_vec()),
        ];
        s.address_add(&args).unwrap();
        assert!(s
            .address_list_entries()
            .contains(&("ISOLATED".into(), "10.9.9.9".into())));
        s.advance_clock(Duration::from_secs(61));
        assert!(!s
            .address_list_entries()
            .contains(&("ISOLATED".into(), "10.9.9.9".into())));
    }
}
