//! Seed data: the board a router claims, and the profiles, interfaces, files, PPP users
//! (names, comments, plans, queues) and address-list entries it starts with.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::schema::{
    ADDRESS_LIST_SCHEMA, FILE_SCHEMA, INTERFACE_SCHEMA, PROFILE_SCHEMA, QUEUE_SCHEMA, SECRET_SCHEMA,
};
use super::sessions::{DISCONNECT_REASONS, UNLIMITED_CAPS};
use super::{mac_for, text, SimState, StateParams};
use crate::rng::Rng;
use crate::sim::table::Table;
use crate::sim::values::{format_bool, format_pair, unix_now, DateTime};

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
            commands_by_path: HashMap::new(),
            redial: params.redial,
            redial_due: HashMap::new(),
            generation: 0,
            sessions_generation: 0,
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

    pub(super) fn insert_static_queue(
        &mut self,
        name: &[u8],
        target: &[u8],
        caps: (u64, u64),
    ) -> u32 {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_state as state;

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
    fn same_seed_same_data() {
        assert_eq!(
            state(40, true).secret_names(),
            state(40, true).secret_names()
        );
    }
}
