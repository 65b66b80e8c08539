//! The fleet-wide user index: who is where, built from each router's cached lists.
//!
//! Pure data: a router's index is built from its snapshot (secrets, live sessions and the
//! isolation address list) and kept until that router publishes new lists (the router
//! thread keeps a list's `Arc` when it did not change, so the check is by pointer). Nothing
//! here talks to a router.

use super::snapshot::RouterSnapshot;
use crate::model::{ActiveSession, AddressListEntry, RouterId, Secret};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

/// A customer's state in the API's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserStatus {
    Connected,
    Isolated,
    Offline,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Connected => "connected",
            UserStatus::Isolated => "isolated",
            UserStatus::Offline => "offline",
        }
    }
}

/// One user on one router: its secret (when it has one) joined with its live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub router_id: RouterId,
    pub username: String,
    /// A secret with this name is on the router (false for e.g. RADIUS sessions).
    pub has_secret: bool,
    pub online: bool,
    /// The live session's address, else the secret's static remote address.
    pub ip: Option<String>,
    pub uptime: Option<String>,
    pub profile: String,
    pub disabled: bool,
    /// Disabled, or its address is on the isolation list.
    pub isolated: bool,
    /// The secret's PPP service (`any` when unset), else the session's.
    pub service: String,
    pub caller_id: Option<String>,
    pub comment: String,
}

impl UserEntry {
    pub fn status(&self) -> UserStatus {
        if self.isolated {
            UserStatus::Isolated
        } else if self.online {
            UserStatus::Connected
        } else {
            UserStatus::Offline
        }
    }
}

fn static_address(secret: &Secret) -> Option<&str> {
    let address = secret.remote_address.as_str();
    address.parse::<Ipv4Addr>().is_ok().then_some(address)
}

/// Every user of one router, with lookups by name and address.
#[derive(Debug)]
pub struct RouterIndex {
    pub router_id: RouterId,
    pub router_name: String,
    /// Secrets in the router's order, then sessions without a secret.
    pub users: Vec<UserEntry>,
    by_name: HashMap<String, usize>,
    /// Addresses of live sessions, to the entry.
    live: HashMap<String, Vec<usize>>,
    /// Static remote addresses of secrets, to the entry.
    assigned: HashMap<String, Vec<usize>>,
    /// Addresses on the isolation list (enabled entries).
    isolated: HashSet<String>,
    sources: Sources,
}

/// The lists an index was built from, compared by pointer.
#[derive(Debug)]
struct Sources {
    secrets: Arc<Vec<Secret>>,
    sessions: Arc<Vec<ActiveSession>>,
    isolation: Arc<Vec<AddressListEntry>>,
    name: String,
}

impl Sources {
    fn same(&self, snapshot: &RouterSnapshot) -> bool {
        Arc::ptr_eq(&self.secrets, &snapshot.secrets)
            && Arc::ptr_eq(&self.sessions, &snapshot.sessions)
            && Arc::ptr_eq(&self.isolation, &snapshot.isolation)
            && self.name == snapshot.name
    }
}

impl RouterIndex {
    pub fn build(snapshot: &RouterSnapshot) -> RouterIndex {
        let isolated: HashSet<String> = snapshot
            .isolation
            .iter()
            .filter(|e| !e.disabled)
            .map(|e| super::isolation::bare(&e.address).to_owned())
            .collect();
        let is_isolated = |address: Option<&str>| address.is_some_and(|a| isolated.contains(a));
        // Users the engine isolates by name (the entry follows them, parked while offline).
        let tagged: HashSet<&str> = snapshot
            .isolation
            .iter()
            .filter_map(|e| super::isolation::tagged_user(&e.comment))
            .collect();
        let mut sessions: HashMap<&str, &ActiveSession> = snapshot
            .sessions
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let mut users = Vec::with_capacity(snapshot.secrets.len() + 8);
        for secret in snapshot.secrets.iter() {
            let session = sessions.remove(secret.name.as_str());
            let live = session
                .map(|s| s.address.as_str())
                .filter(|a| !a.is_empty());
            let assigned = static_address(secret);
            users.push(UserEntry {
                router_id: snapshot.id,
                username: secret.name.to_string(),
                has_secret: true,
                online: session.is_some(),
                ip: live.or(assigned).map(str::to_owned),
                uptime: session.map(|s| s.uptime.to_string()),
                profile: secret.profile.to_string(),
                disabled: secret.disabled,
                isolated: secret.disabled
                    || tagged.contains(secret.name.as_str())
                    || is_isolated(live)
                    || is_isolated(assigned),
                service: if secret.service.is_empty() {
                    "any".into()
                } else {
                    secret.service.to_string()
                },
                caller_id: session
                    .map(|s| s.caller_id.to_string())
                    .filter(|c| !c.is_empty()),
                comment: secret.comment.to_string(),
            });
        }
        // Sessions without a local secret (e.g. RADIUS users), in the router's order.
        for session in snapshot.sessions.iter() {
            if !sessions.contains_key(session.name.as_str()) {
                continue;
            }
            sessions.remove(session.name.as_str());
            let live = Some(session.address.as_str()).filter(|a| !a.is_empty());
            users.push(UserEntry {
                router_id: snapshot.id,
                username: session.name.to_string(),
                has_secret: false,
                online: true,
                ip: live.map(str::to_owned),
                uptime: Some(session.uptime.to_string()),
                profile: String::new(),
                disabled: false,
                isolated: is_isolated(live) || tagged.contains(session.name.as_str()),
                service: session.service.to_string(),
                caller_id: Some(session.caller_id.to_string()).filter(|c| !c.is_empty()),
                comment: String::new(),
            });
        }
        let mut by_name = HashMap::with_capacity(users.len());
        let mut live: HashMap<String, Vec<usize>> = HashMap::new();
        let mut assigned: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, user) in users.iter().enumerate() {
            by_name.entry(user.username.clone()).or_insert(at);
        }
        for session in snapshot.sessions.iter().filter(|s| !s.address.is_empty()) {
            if let Some(&at) = by_name.get(session.name.as_str()) {
                live.entry(session.address.to_string())
                    .or_default()
                    .push(at);
            }
        }
        for secret in snapshot.secrets.iter() {
            if let (Some(address), Some(&at)) =
                (static_address(secret), by_name.get(secret.name.as_str()))
            {
                assigned.entry(address.to_owned()).or_default().push(at);
            }
        }
        RouterIndex {
            router_id: snapshot.id,
            router_name: snapshot.name.clone(),
            users,
            by_name,
            live,
            assigned,
            isolated,
            sources: Sources {
                secrets: Arc::clone(&snapshot.secrets),
                sessions: Arc::clone(&snapshot.sessions),
                isolation: Arc::clone(&snapshot.isolation),
                name: snapshot.name.clone(),
            },
        }
    }

    /// The user named exactly `name`.
    pub fn user(&self, name: &str) -> Option<&UserEntry> {
        self.by_name.get(name).map(|&at| &self.users[at])
    }

    /// Whether a secret named `name` is on this router.
    pub fn has_secret(&self, name: &str) -> bool {
        self.user(name).is_some_and(|u| u.has_secret)
    }

    /// Users with a live session at `address`.
    pub fn live_at(&self, address: &str) -> impl Iterator<Item = &UserEntry> {
        self.lookup(&self.live, address)
    }

    /// Users whose secret assigns `address` statically.
    pub fn assigned(&self, address: &str) -> impl Iterator<Item = &UserEntry> {
        self.lookup(&self.assigned, address)
    }

    fn lookup<'a>(
        &'a self,
        map: &'a HashMap<String, Vec<usize>>,
        address: &str,
    ) -> impl Iterator<Item = &'a UserEntry> {
        map.get(address)
            .into_iter()
            .flatten()
            .map(|&at| &self.users[at])
    }

    /// Whether `address` is on the isolation list.
    pub fn lists_isolated(&self, address: &str) -> bool {
        self.isolated.contains(super::isolation::bare(address))
    }

    /// Whether `address` means anything on this router: live, assigned or isolated.
    pub fn knows_address(&self, address: &str) -> bool {
        self.live.contains_key(address)
            || self.assigned.contains_key(address)
            || self.lists_isolated(address)
    }
}

/// Every router's index, by router id.
#[derive(Debug, Clone, Default)]
pub struct FleetIndex {
    pub routers: Vec<Arc<RouterIndex>>,
}

impl FleetIndex {
    /// Every router's entry for the user `name` (secret or live session).
    pub fn holders(&self, name: &str) -> Vec<(&RouterIndex, &UserEntry)> {
        self.routers
            .iter()
            .filter_map(|r| r.user(name).map(|u| (&**r, u)))
            .collect()
    }

    /// Who holds `address` now: users with a live session there; when none, users whose
    /// secret assigns it.
    pub fn at_address(&self, address: &str) -> Vec<(&RouterIndex, &UserEntry)> {
        let live: Vec<_> = self
            .routers
            .iter()
            .flat_map(|r| r.live_at(address).map(move |u| (&**r, u)))
            .collect();
        if !live.is_empty() {
            return live;
        }
        self.routers
            .iter()
            .flat_map(|r| r.assigned(address).map(move |u| (&**r, u)))
            .collect()
    }

    /// Routers whose cached secrets hold `name`.
    pub fn routers_with_secret(&self, name: &str) -> Vec<RouterId> {
        self.routers
            .iter()
            .filter(|r| r.has_secret(name))
            .map(|r| r.router_id)
            .collect()
    }

    /// Routers holding `name` as a secret or a live session.
    pub fn routers_with_user(&self, name: &str) -> Vec<RouterId> {
        self.routers
            .iter()
            .filter(|r| r.user(name).is_some())
            .map(|r| r.router_id)
            .collect()
    }

    /// Routers where `address` is live, statically assigned, or on the isolation list.
    pub fn routers_with_address(&self, address: &str) -> Vec<RouterId> {
        self.routers
            .iter()
            .filter(|r| r.knows_address(address))
            .map(|r| r.router_id)
            .collect()
    }
}

/// Per-router indexes kept between reads.
#[derive(Default)]
pub(crate) struct IndexCache {
    routers: Mutex<HashMap<RouterId, Arc<RouterIndex>>>,
}

impl IndexCache {
    /// The index of one router: the kept one when its lists are the same `Arc`s.
    pub(crate) fn router(&self, snapshot: &RouterSnapshot) -> Arc<RouterIndex> {
        let kept = self
            .routers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&snapshot.id)
            .filter(|index| index.sources.same(snapshot))
            .cloned();
        if let Some(index) = kept {
            return index;
        }
        // Built outside the lock: readers of other routers do not wait for it.
        let index = Arc::new(RouterIndex::build(snapshot));
        self.routers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(snapshot.id, Arc::clone(&index));
        index
    }

    /// Every router's index; routers that left the fleet are dropped.
    pub(crate) fn fleet(&self, snapshots: &[Arc<RouterSnapshot>]) -> FleetIndex {
        let routers: Vec<Arc<RouterIndex>> = snapshots.iter().map(|s| self.router(s)).collect();
        self.routers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| snapshots.iter().any(|s| s.id == *id));
        FleetIndex { routers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, remote: &str, disabled: bool) -> Secret {
        Secret {
            name: name.into(),
            profile: "10M".into(),
            remote_address: remote.into(),
            disabled,
            ..Secret::default()
        }
    }

    fn session(name: &str, address: &str) -> ActiveSession {
        ActiveSession {
            name: name.into(),
            address: address.into(),
            uptime: "1h".into(),
            ..ActiveSession::default()
        }
    }

    fn snapshot(
        id: u64,
        secrets: Vec<Secret>,
        sessions: Vec<ActiveSession>,
        isolated: &[&str],
    ) -> Arc<RouterSnapshot> {
        let mut s = RouterSnapshot::new(RouterId(id), &format!("r{id}"), "127.0.0.1", 1);
        s.secrets = Arc::new(secrets);
        s.sessions = Arc::new(sessions);
        s.isolation = Arc::new(
            isolated
                .iter()
                .map(|a| AddressListEntry {
                    list: "ISOLATED".into(),
                    address: (*a).into(),
                    ..AddressListEntry::default()
                })
                .collect(),
        );
        Arc::new(s)
    }

    #[test]
    fn entries_join_secrets_sessions_and_the_isolation_list() {
        let one = snapshot(
            1,
            vec![
                secret("alice", "", false),
                secret("bob", "10.0.0.7", false),
                secret("carol", "", true),
                secret("dave", "10.0.0.9", false),
            ],
            vec![
                session("alice", "10.0.0.2"),
                session("radius-x", "10.0.0.3"),
            ],
            &["10.0.0.7/32"],
        );
        let index = RouterIndex::build(&one);
        let status = |n: &str| index.user(n).map(|u| u.status());
        assert_eq!(status("alice"), Some(UserStatus::Connected));
        assert_eq!(status("bob"), Some(UserStatus::Isolated));
        assert_eq!(status("carol"), Some(UserStatus::Isolated));
        assert_eq!(status("dave"), Some(UserStatus::Offline));
        assert_eq!(status("radius-x"), Some(UserStatus::Connected));
        let bob = index.user("bob").unwrap();
        assert!(!bob.online && !bob.disabled && bob.isolated);
        assert_eq!(bob.ip.as_deref(), Some("10.0.0.7"));
        assert!(!index.has_secret("radius-x") && index.has_secret("dave"));
        assert_eq!(index.users.len(), 5);
        assert!(index.knows_address("10.0.0.2") && index.knows_address("10.0.0.7"));
        assert!(!index.knows_address("10.0.0.200"));
    }

    #[test]
    fn fleet_lookups_name_every_candidate_and_the_cache_follows_new_lists() {
        let cache = IndexCache::default();
        let one = snapshot(
            1,
            vec![secret("alice", "", false), secret("bob", "10.1.0.5", false)],
            vec![session("alice", "10.1.0.2")],
            &["10.9.9.9"],
        );
        let two = snapshot(
            2,
            vec![secret("alice", "", false)],
            vec![session("alice", "10.2.0.2")],
            &[],
        );
        let fleet = cache.fleet(&[Arc::clone(&one), Arc::clone(&two)]);
        assert_eq!(
            fleet.routers_with_secret("alice"),
            [RouterId(1), RouterId(2)]
        );
        assert_eq!(fleet.routers_with_secret("bob"), [RouterId(1)]);
        assert!(fleet.routers_with_secret("nobody").is_empty());
        assert_eq!(fleet.routers_with_address("10.2.0.2"), [RouterId(2)]);
        assert_eq!(fleet.routers_with_address("10.1.0.5"), [RouterId(1)]);
        assert_eq!(fleet.routers_with_address("10.9.9.9"), [RouterId(1)]);
        assert_eq!(fleet.at_address("10.1.0.2")[0].1.username, "alice");
        assert_eq!(fleet.at_address("10.1.0.5")[0].1.username, "bob");
        assert_eq!(fleet.holders("alice").len(), 2);

        let kept = cache.router(&one);
        assert!(Arc::ptr_eq(&kept, &cache.router(&one)), "same lists: kept");
        let mut moved = (*two).clone();
        moved.sessions = Arc::new(vec![session("alice", "10.1.0.2")]);
        let rebuilt = cache.router(&moved);
        assert!(rebuilt.live_at("10.1.0.2").next().is_some());
        cache.fleet(&[Arc::clone(&one)]);
        assert_eq!(cache.routers.lock().unwrap().len(), 1);
    }
}
