//! Live PPP sessions: bringing one up with its dynamic queue, ending it, churn (sessions
//! dropping and dialling in again, caught up lazily) and each session's traffic.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::schema::QUEUE_SCHEMA;
use super::{exponential, mac_for, mix, name_hash, unit, SimState};
use crate::sim::values::{format_pair, parse_ipv4, parse_rate_limit, unix_now, DateTime};

/// Rates a session gets when its profile has no `rate-limit` (upload, download).
pub(super) const UNLIMITED_CAPS: (u64, u64) = (30_000_000, 100_000_000);

/// Mean seconds a churning session stays up, and a short and a long offline spell.
pub(super) const MEAN_ONLINE_SECS: f64 = 1800.0;
const MEAN_OFFLINE_SECS: f64 = 90.0;
const MEAN_LONG_OFFLINE_SECS: f64 = 4.0 * 3600.0;
/// A new customer's CPE dials in this many seconds (min, spread) after its secret appears.
pub(super) const REDIAL_SECS: (u64, u64) = (5, 30);

pub(super) const DISCONNECT_REASONS: &[&str] = &[
    "peer-request",
    "hung-up",
    "idle-timeout",
    "port-error",
    "nas-error",
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

impl SimState {
    pub(super) fn slot_for(&mut self, name: &[u8]) -> Ipv4Addr {
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

    /// Gives a user a new pool address, one no live session holds and not the one they had
    /// (a CPE that dials again after a kick gets whatever the pool hands out next).
    pub(super) fn reslot(&mut self, name: &[u8]) {
        let old = self.slots.get(name).copied();
        let second = (self.index % 250) as u8 + 1;
        // 250 × 256 addresses per router; look at most once round the pool.
        for _ in 0..250 * 256 {
            let k = self.next_slot % (250 * 256);
            self.next_slot = self.next_slot.wrapping_add(1);
            let slot = Ipv4Addr::new(10, second, (k / 250) as u8, (k % 250) as u8 + 2);
            if Some(slot) != old && !self.sessions.iter().any(|s| s.address == slot) {
                self.slots.insert(name.to_vec(), slot);
                return;
            }
        }
    }

    pub(super) fn offline_spell(&mut self, name: &[u8]) -> u64 {
        let long = self.long_offline.get(name).copied().unwrap_or(false);
        let mean = if long {
            MEAN_LONG_OFFLINE_SECS
        } else {
            MEAN_OFFLINE_SECS
        };
        exponential(&mut self.rng, mean)
    }

    pub(super) fn profile_caps(&self, profile: &[u8]) -> Option<(u64, u64)> {
        let id = self.profiles.find_by_name(profile)?;
        parse_rate_limit(self.profiles.value(id, "rate-limit")?)
    }

    /// Brings a user's session up at sim second `at`, with its dynamic queue when the
    /// profile has a rate limit. False if the user has no secret or is already online.
    pub(super) fn connect_at(&mut self, name: &[u8], at: u64) -> bool {
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
        self.redial_due.remove(name);
        self.touch_sessions();
        true
    }

    /// Kicks the session at index `at` (`/ppp/active/remove`, or `kick_user`): the CPE dials
    /// again after the router's redial delay, churn or not, with a new pool address unless
    /// its secret fixes one.
    pub(super) fn kick_session(&mut self, at: usize) {
        let name = self.sessions[at].name.clone();
        self.end_session(at, "nas-request");
        let due = std::time::Instant::now() + self.redial;
        self.redial_due.insert(name, due);
    }

    /// When something next changes by itself (a redial, churn, an address-list timeout),
    /// so a `listen` can be told at once; `None` when nothing is scheduled.
    pub(crate) fn next_event(&self) -> Option<Instant> {
        let mut next = self.redial_due.values().min().copied();
        let mut consider = |at: Instant| {
            next = Some(next.map_or(at, |n: Instant| n.min(at)));
        };
        if let Some(&second) = self.address_expiry.values().min() {
            consider(self.instant_of(second));
        }
        if self.churn {
            if let Some(second) = self.sessions.iter().map(|s| s.ends_at).min() {
                consider(self.instant_of(second));
            }
            if let Some(&second) = self.reconnect_at.values().min() {
                consider(self.instant_of(second));
            }
        }
        next
    }

    /// Ends the session at index `at`, removing its dynamic queue and recording the logout.
    pub(super) fn end_session(&mut self, at: usize, reason: &str) {
        let session = self.sessions.remove(at);
        self.touch_sessions();
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
        let when = self.now() + self.offline_spell(&session.name);
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
                self.touch();
            }
        }
        if !self.redial_due.is_empty() {
            let instant = Instant::now();
            let mut due: Vec<(Instant, Vec<u8>)> = self
                .redial_due
                .iter()
                .filter(|(_, &at)| at <= instant)
                .map(|(name, &at)| (at, name.clone()))
                .collect();
            due.sort();
            for (_, name) in due {
                self.redial_due.remove(&name);
                let Some(secret) = self.secrets.find_by_name(&name) else {
                    continue;
                };
                if self.secrets.value(secret, "disabled") == Some(b"true") {
                    // A disabled customer's CPE is refused; churn (if on) tries again later.
                    continue;
                }
                if self
                    .secrets
                    .value(secret, "remote-address")
                    .and_then(parse_ipv4)
                    .is_none()
                {
                    self.reslot(&name);
                }
                self.connect_at(&name, now);
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
                self.end_session(k, reason);
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
    pub(super) fn session_traffic(&self, session: &Session, second: u64) -> (u64, u64) {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_state as state;

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
    fn a_kick_redials_without_churn_on_a_new_address_with_its_queue() {
        let mut s = state(10, false);
        s.redial = Duration::ZERO;
        let user = s
            .users_with_traffic_source("pppoe_queue")
            .into_iter()
            .find(|u| s.secret_property(u, "remote-address").is_none())
            .unwrap();
        let old = s.session_address(&user).unwrap();
        let generation = s.generation();
        assert!(s.kick_user(&user));
        assert!(s.generation() != generation, "a kick is a change");
        assert!(s.next_event().is_some());
        s.advance();
        assert!(s.is_online(&user) && !s.is_redialling(&user));
        assert_ne!(s.session_address(&user), Some(old));
        assert!(s.queue(&format!("<pppoe-{user}>")).is_some());
        assert_eq!(
            s.next_event(),
            None,
            "nothing else is scheduled without churn"
        );
        // A disabled customer's CPE is refused.
        s.secret_set(
            &[s.secrets.find_by_name(user.as_bytes()).unwrap()],
            &[(b"disabled".to_vec(), b"true".to_vec())],
        )
        .unwrap();
        assert!(s.kick_user(&user));
        s.advance();
        assert!(!s.is_online(&user) && !s.is_redialling(&user));
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
}
