//! The test and demo API: reading a router's data by name and steering it (sessions,
//! traffic, churn, CPU load, clock) without going through the RouterOS protocol.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::exponential;
use super::sessions::MEAN_ONLINE_SECS;
use super::SimState;
use crate::routeros::Sentence;
use crate::sim::values::parse_rate_pair;

impl SimState {
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
                self.end_session(at, "peer-request");
                true
            }
            None => false,
        }
    }

    /// Kicks a user as `/ppp/active/remove` does: the session and its dynamic queue go, and
    /// the CPE dials again after the redial delay (`SimConfig::redial`, churn or not), with
    /// a new pool address unless the secret fixes `remote-address`. False when offline.
    pub fn kick_user(&mut self, name: &str) -> bool {
        match self.sessions.iter().position(|s| s.name == name.as_bytes()) {
            Some(at) => {
                self.kick_session(at);
                true
            }
            None => false,
        }
    }

    /// True while a kicked user waits to dial again.
    pub fn is_redialling(&self, name: &str) -> bool {
        self.redial_due.contains_key(name.as_bytes())
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

    /// Commands received with this command word, e.g. `/queue/simple/print` or
    /// `/interface/monitor-traffic` (every connection, logins and `/cancel` included).
    pub fn command_count(&self, path: &str) -> u64 {
        self.commands_by_path
            .get(path.as_bytes())
            .copied()
            .unwrap_or(0)
    }

    /// Every command word received so far with its count, sorted by command word.
    pub fn command_counts(&self) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = self
            .commands_by_path
            .iter()
            .map(|(path, &n)| (crate::routeros::text::decode(path), n))
            .collect();
        counts.sort();
        counts
    }

    /// The last 256 sentences received, oldest first.
    pub fn recent_commands(&self) -> Vec<Sentence> {
        self.recent_commands.iter().cloned().collect()
    }
}
