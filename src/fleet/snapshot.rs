//! Immutable per-router snapshots, published by the router thread and read by anyone.
//!
//! HTTP threads never wait on a router thread for cached data: they clone an `Arc` under a
//! read lock held for a few nanoseconds.

use crate::model::{ActiveSession, AddressListEntry, Resource, RouterId, Secret};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// Connection state as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterState {
    Connecting,
    Online,
    Offline,
}

impl RouterState {
    pub fn as_str(self) -> &'static str {
        match self {
            RouterState::Connecting => "connecting",
            RouterState::Online => "online",
            RouterState::Offline => "offline",
        }
    }
}

/// Everything known about one router at one instant.
#[derive(Debug, Clone)]
pub struct RouterSnapshot {
    pub id: RouterId,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The login the engine uses on this router (never its password).
    pub username: String,
    pub state: RouterState,
    pub since: SystemTime,
    pub last_error: Option<String>,
    /// True after a failed connect or a lost session, until the next good login:
    /// commands are then answered at once with `router_offline`.
    pub unavailable: bool,
    /// True once the router has either filled its cache or failed once (warm-up is over for it).
    pub warm: bool,
    pub identity: Option<String>,
    pub resource: Option<Resource>,
    pub resource_at: Option<SystemTime>,
    pub sessions: Arc<Vec<ActiveSession>>,
    pub secrets: Arc<Vec<Secret>>,
    /// The entries of the isolation address list (`ISOLATED`), read with every poll.
    pub isolation: Arc<Vec<AddressListEntry>>,
    pub last_poll_at: Option<SystemTime>,
    pub rtt_ms: Option<f64>,
    pub reconnects: u64,
}

impl RouterSnapshot {
    pub fn new(id: RouterId, name: &str, host: &str, port: u16) -> Self {
        RouterSnapshot {
            id,
            name: name.to_owned(),
            host: host.to_owned(),
            port,
            username: String::new(),
            state: RouterState::Connecting,
            since: SystemTime::now(),
            last_error: None,
            unavailable: false,
            warm: false,
            identity: None,
            resource: None,
            resource_at: None,
            sessions: Arc::new(Vec::new()),
            secrets: Arc::new(Vec::new()),
            isolation: Arc::new(Vec::new()),
            last_poll_at: None,
            rtt_ms: None,
            reconnects: 0,
        }
    }
}

/// The published snapshot of one router.
pub struct SnapshotCell {
    current: RwLock<Arc<RouterSnapshot>>,
}

impl SnapshotCell {
    pub fn new(snapshot: RouterSnapshot) -> Self {
        SnapshotCell {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The latest snapshot.
    pub fn load(&self) -> Arc<RouterSnapshot> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Publishes a new snapshot built from the current one.
    pub fn update(&self, change: impl FnOnce(&mut RouterSnapshot)) -> Arc<RouterSnapshot> {
        let mut next = (*self.load()).clone();
        change(&mut next);
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::clone(&next),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&next),
        }
        next
    }
}
