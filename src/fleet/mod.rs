//! The fleet: one thread per router, a registry of their handles, warm-up and fleet-wide reads.
//!
//! Knows nothing of HTTP or MySQL: the registry's contents arrive as `RouterConfig`s and
//! everything the fleet notices leaves through a `FleetObserver`.

mod actor;
pub mod command;
pub mod handle;
pub mod index;
pub mod isolation;
mod readable;
pub mod share;
pub mod snapshot;
pub mod traffic;
pub mod watch;

pub use command::{BatchOutcome, BatchWrite, Command, Job, Unanswered, WriteError};
pub use command::{
    IsolateOutcome, IsolateRequest, RefreshOutcome, TrafficReading, TrafficSource, UpdateOutcome,
};
pub use handle::{RouterHandle, RouterLoad};
pub use index::{FleetIndex, RouterIndex, UserEntry, UserStatus};
pub use snapshot::{RouterSnapshot, RouterState};

use crate::model::{ActiveSession, RouterConfig, RouterId, Secret};
use crate::router::RouterError;
use actor::RouterActor;
use crossbeam_channel::{bounded, Receiver, Sender};
use snapshot::SnapshotCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The firewall address list that holds isolated (cut-off) customers' addresses.
pub const ISOLATION_LIST: &str = "ISOLATED";

/// Timeouts and sizes shared by every router thread.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    pub poll_interval: Duration,
    pub queue_capacity: usize,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub thread_stack_size: usize,
    /// Most callers that may wait on one router at once (its bounded share of the HTTP
    /// threads); `queue_capacity + 1` by default, so in practice only a full queue refuses.
    pub max_waiters_per_router: usize,
    /// Most callers that may wait on routers at once, fleet-wide. The HTTP pool adds this
    /// many threads to its general ones, so waiting callers never take the threads that
    /// serve cached reads, and one slow router holds at most `max_waiters_per_router`.
    pub max_waiters_total: usize,
    /// How long a traffic reading still answers new calls for the same user after the
    /// router gave it (0: only calls that arrived while it ran share it).
    pub traffic_share_window: Duration,
    /// While a router is unreachable (connect refused or timed out), the cheap TCP connect
    /// is retried this often; the growing backoff (`backoff_initial` … `backoff_max`) is
    /// only for routers that accept TCP but refuse or break the login.
    pub unreachable_retry: Duration,
    /// Sessions by `/ppp/active/listen` after each (re)connect (false: the poll diff only).
    pub listen_sessions: bool,
    /// Most live traffic streams per router (0: every traffic call is one command).
    pub traffic_streams_max: usize,
    /// A traffic stream nobody asked about for this long is cancelled.
    pub traffic_stream_idle: Duration,
    /// How much longer than its caller a router thread waits for a change's answer, so a
    /// write whose caller was told 504 still learns its outcome (zero: no longer).
    pub late_answer_grace: Duration,
    /// Most commands one batch (`POST /bulk`'s items for one router) keeps in flight on
    /// the router's connection (`BULK_IN_FLIGHT`; 1: one at a time).
    pub bulk_in_flight: usize,
}

impl FleetSettings {
    /// Waiter limits that follow the queue: one router's share is its queue plus the command
    /// it runs, the fleet-wide budget two such shares. (`http_threads` is kept for callers
    /// of the old sizing; the HTTP pool now grows by `max_waiters_total` instead.)
    pub fn with_http_threads(self, _http_threads: usize) -> FleetSettings {
        let share = self.queue_capacity.max(1) + 1;
        FleetSettings {
            max_waiters_per_router: share,
            max_waiters_total: 2 * share,
            ..self
        }
    }
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            command_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(10),
            queue_capacity: 64,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            thread_stack_size: 256 * 1024,
            max_waiters_per_router: 65,
            max_waiters_total: 130,
            traffic_share_window: Duration::from_millis(250),
            unreachable_retry: Duration::from_secs(1),
            listen_sessions: true,
            traffic_streams_max: 32,
            traffic_stream_idle: Duration::from_secs(30),
            late_answer_grace: Duration::ZERO,
            bulk_in_flight: 32,
        }
    }
}

/// Why a fleet operation failed; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetError {
    RouterNotFound(RouterId),
    /// Not connected; the last connection error.
    Offline(String),
    /// The router's command queue is full.
    QueueFull,
    /// No answer before the deadline; a mutation's outcome is unknown.
    Timeout,
    /// The deadline passed while the command waited in the queue: it never reached the
    /// router (what a write's caller learns late, through [`command::Unanswered`]).
    NotSent,
    /// The connection dropped or broke mid-command.
    ConnectionLost(RouterCause),
    /// The router answered with an error.
    RouterRejected(RouterCause),
    /// Input the router cannot take (e.g. text outside Windows-1252).
    InvalidInput(String),
    /// The router refused the value of one field (e.g. an unknown profile); `field` is the
    /// API's name for it (`remote_ip`, not RouterOS's `remote-address`).
    InvalidValue {
        field: String,
        message: String,
    },
    /// The thing to create already exists.
    Conflict(String),
    UserNotFound(String),
    UserOffline(String),
    Internal(String),
}

impl FleetError {
    pub(crate) fn from_router(error: Arc<RouterError>) -> FleetError {
        match &*error {
            RouterError::Timeout => FleetError::Timeout,
            RouterError::Trap(_) => match error.trap_message().and_then(refused_attribute) {
                Some(attribute) => FleetError::InvalidValue {
                    field: api_field(attribute).to_owned(),
                    message: format!(
                        "the router refused the value: {}",
                        error.trap_message().unwrap_or_default()
                    ),
                },
                None => FleetError::RouterRejected(RouterCause(error)),
            },
            RouterError::UnexpectedReply(_) => FleetError::RouterRejected(RouterCause(error)),
            RouterError::InvalidInput(m) => FleetError::InvalidInput(m.clone()),
            _ => FleetError::ConnectionLost(RouterCause(error)),
        }
    }
}

/// The router's error behind a [`FleetError`], shared so the error stays cheap to clone and
/// `source()` can reach it.
#[derive(Debug, Clone)]
pub struct RouterCause(pub Arc<RouterError>);

impl From<RouterError> for RouterCause {
    fn from(error: RouterError) -> Self {
        RouterCause(Arc::new(error))
    }
}

impl PartialEq for RouterCause {
    /// Two causes are equal when they say the same thing (`io::Error` has no equality).
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for RouterCause {}

impl fmt::Display for RouterCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The API's name for a RouterOS attribute a trap names.
fn api_field(attribute: &str) -> &str {
    match attribute {
        "remote-address" => "remote_ip",
        "local-address" => "local_ip",
        "name" => "user",
        other => other,
    }
}

/// Checks that `value` can be sent to a router as text (RouterOS speaks Windows-1252).
pub fn check_router_text(value: &str) -> Result<(), String> {
    crate::routeros::text::encode(value)
        .map(drop)
        .map_err(|e| e.to_string())
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::RouterNotFound(id) => write!(f, "router {id} not found"),
            FleetError::Offline(e) => write!(f, "router is offline: {e}"),
            FleetError::QueueFull => f.write_str("router is busy: too many commands waiting"),
            FleetError::Timeout => f.write_str(
                "router did not answer in time; if this was a change, its outcome is unknown",
            ),
            FleetError::NotSent => f.write_str(
                "the deadline passed before the command was sent; the router was not changed",
            ),
            FleetError::ConnectionLost(e) => {
                write!(f, "connection to the router failed during the command: {e}")
            }
            FleetError::RouterRejected(e) => write!(f, "{e}"),
            FleetError::InvalidInput(e) => f.write_str(e),
            FleetError::InvalidValue { message, .. } => f.write_str(message),
            FleetError::Conflict(e) => f.write_str(e),
            FleetError::UserNotFound(u) => write!(f, "user {u:?} not found on this router"),
            FleetError::UserOffline(u) => write!(f, "user {u:?} is not connected"),
            FleetError::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for FleetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FleetError::ConnectionLost(cause) | FleetError::RouterRejected(cause) => {
                Some(&*cause.0)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_router_body_is_restarted_and_shown_offline() {
        let cell = SnapshotCell::new(RouterSnapshot::new(RouterId(4), "r4", "127.0.0.1", 1));
        let mut runs = 0;
        let mut seen_after_panic = None;
        supervise(RouterId(4), &cell, Duration::ZERO, || {
            runs += 1;
            if runs == 1 {
                panic!("bad reply shape");
            }
            seen_after_panic = Some(cell.load());
        });
        assert_eq!(runs, 2);
        let snapshot = seen_after_panic.unwrap();
        assert_eq!(snapshot.state, RouterState::Offline);
        assert_eq!(
            snapshot.last_error.as_deref(),
            Some("internal error: bad reply shape")
        );
    }

    #[test]
    fn argument_traps_name_their_attribute() {
        assert_eq!(
            refused_attribute("input does not match any value of profile"),
            Some("profile")
        );
        assert_eq!(
            refused_attribute("invalid value for argument remote-address"),
            Some("remote-address")
        );
        assert_eq!(
            refused_attribute(
                "ambiguous value of profile, more than one possible value matches input"
            ),
            Some("profile")
        );
        assert_eq!(refused_attribute("no such item (4)"), None);
    }
}

/// The attribute named by an argument trap (`input does not match any value of profile`,
/// `invalid value for argument remote-address`).
fn refused_attribute(message: &str) -> Option<&str> {
    [
        "input does not match any value of ",
        "invalid value for argument ",
        "ambiguous value of ",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .and_then(|rest| rest.split([',', ' ']).next())
    .filter(|attribute| !attribute.is_empty())
}

/// Something the fleet noticed, for webhooks, metrics and the user store.
#[derive(Debug, Clone)]
pub enum FleetEvent {
    RouterUp {
        router: RouterId,
        host: String,
        identity: String,
        version: String,
    },
    RouterDown {
        router: RouterId,
        host: String,
        error: String,
    },
    SessionUp {
        router: RouterId,
        host: String,
        session: ActiveSession,
    },
    SessionDown {
        router: RouterId,
        host: String,
        session: ActiveSession,
    },
    /// The secret list differs from the previous poll (or is the first one read).
    SecretsChanged {
        router: RouterId,
        secrets: Arc<Vec<Secret>>,
        sessions: Arc<Vec<ActiveSession>>,
    },
}

/// Receives fleet events and timings. Called on router threads: must not block.
pub trait FleetObserver: Send + Sync {
    fn event(&self, _event: FleetEvent) {}
    fn command_finished(&self, _router: RouterId, _elapsed: Duration) {}
}

/// An observer that ignores everything.
pub struct NoObserver;

impl FleetObserver for NoObserver {}

/// What a registry reload changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: usize,
    pub removed: usize,
    pub restarted: usize,
}

struct RouterEntry {
    handle: Arc<RouterHandle>,
    config: RouterConfig,
    /// Dropping it tells the router thread to stop.
    stop: Sender<()>,
    /// `None` when the thread could not be started (the router is shown offline).
    join: Option<JoinHandle<()>>,
}

/// Every running router thread, by id.
pub struct Fleet {
    settings: FleetSettings,
    /// Callers waiting on any router right now.
    waiters_total: Arc<AtomicUsize>,
    /// Dropped by `release_waiters`: every handle's wait ends at once.
    release: Mutex<Option<Sender<()>>>,
    released: Receiver<()>,
    observer: Arc<dyn FleetObserver>,
    routers: RwLock<BTreeMap<RouterId, RouterEntry>>,
    /// Per-router user indexes, rebuilt when a router publishes new lists.
    index: index::IndexCache,
}

impl Fleet {
    pub fn new(settings: FleetSettings, observer: Arc<dyn FleetObserver>) -> Fleet {
        let (release, released) = bounded(0);
        Fleet {
            settings,
            waiters_total: Arc::new(AtomicUsize::new(0)),
            release: Mutex::new(Some(release)),
            released,
            observer,
            routers: RwLock::new(BTreeMap::new()),
            index: index::IndexCache::default(),
        }
    }

    pub fn settings(&self) -> &FleetSettings {
        &self.settings
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<RouterId, RouterEntry>> {
        self.routers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<RouterId, RouterEntry>> {
        self.routers.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle of router `id`.
    pub fn get(&self, id: RouterId) -> Result<Arc<RouterHandle>, FleetError> {
        self.read()
            .get(&id)
            .map(|e| Arc::clone(&e.handle))
            .ok_or(FleetError::RouterNotFound(id))
    }

    /// Every handle, by id.
    pub fn handles(&self) -> Vec<Arc<RouterHandle>> {
        self.read()
            .values()
            .map(|e| Arc::clone(&e.handle))
            .collect()
    }

    /// Every router's latest snapshot, by id.
    pub fn snapshots(&self) -> Vec<Arc<RouterSnapshot>> {
        self.read().values().map(|e| e.handle.snapshot()).collect()
    }

    /// The fleet-wide user index, from every router's cached lists (no router round trip).
    pub fn index(&self) -> FleetIndex {
        self.index.fleet(&self.snapshots())
    }

    /// The user index of router `id`, from its cached lists.
    pub fn router_index(&self, id: RouterId) -> Result<Arc<RouterIndex>, FleetError> {
        Ok(self.index.router(&self.get(id)?.snapshot()))
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Starts a router thread (replacing a running one with the same id).
    pub fn add(&self, config: RouterConfig) {
        let entry = self.spawn(config);
        let old = self.write().insert(entry.handle.id, entry);
        if let Some(old) = old {
            stop_entries(vec![old], Duration::from_secs(2));
        }
    }

    /// Stops router `id`; false when it was not running.
    pub fn remove(&self, id: RouterId) -> bool {
        let removed = self.write().remove(&id);
        match removed {
            Some(entry) => {
                stop_entries(vec![entry], Duration::from_secs(2));
                true
            }
            None => false,
        }
    }

    /// Makes the running set equal to `configs`: starts new routers, stops missing ones,
    /// restarts those whose host, port, credentials or name changed; others are untouched.
    pub fn apply(&self, configs: Vec<RouterConfig>) -> ReloadReport {
        let mut report = ReloadReport::default();
        let wanted: BTreeMap<RouterId, RouterConfig> =
            configs.into_iter().map(|c| (c.id, c)).collect();
        let mut stopped = Vec::new();
        let mut to_start = Vec::new();
        {
            let mut routers = self.write();
            let gone: Vec<RouterId> = routers
                .keys()
                .filter(|id| !wanted.contains_key(id))
                .copied()
                .collect();
            for id in gone {
                if let Some(entry) = routers.remove(&id) {
                    log::info!("router {id} removed from the registry: stopping it");
                    stopped.push(entry);
                    report.removed += 1;
                }
            }
            for (id, config) in wanted {
                match routers.get(&id) {
                    Some(entry) if entry.config == config => {}
                    Some(_) => {
                        log::info!("router {id} changed in the registry: restarting it");
                        if let Some(entry) = routers.remove(&id) {
                            stopped.push(entry);
                        }
                        to_start.push(config);
                        report.restarted += 1;
                    }
                    None => {
                        log::info!("router {id} added to the registry: starting it");
                        to_start.push(config);
                        report.added += 1;
                    }
                }
            }
        }
        stop_entries(stopped, Duration::from_secs(2));
        for config in to_start {
            let entry = self.spawn(config);
            self.write().insert(entry.handle.id, entry);
        }
        report
    }

    /// Waits until every router has filled its cache or failed once, at most `timeout`.
    /// Returns true when the whole fleet is warm.
    pub fn wait_warm(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.snapshots().iter().all(|s| s.warm) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends every caller's wait at once with `router_offline` ("the engine is stopping"),
    /// and refuses new calls the same way (shutdown: answer everyone, wait for nobody).
    pub fn release_waiters(&self) {
        let mut release = self.release.lock().unwrap_or_else(|p| p.into_inner());
        release.take();
    }

    /// Stops every router thread (sending `/quit`), waiting at most `bound` in total.
    /// Routers stop in parallel; callers still waiting are released first.
    pub fn shutdown(&self, bound: Duration) {
        self.release_waiters();
        let entries: Vec<RouterEntry> = std::mem::take(&mut *self.write()).into_values().collect();
        stop_entries(entries, bound);
    }

    fn spawn(&self, config: RouterConfig) -> RouterEntry {
        let (commands_tx, commands_rx) = bounded(self.settings.queue_capacity);
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let mut first = RouterSnapshot::new(config.id, &config.name, &config.host, config.port);
        first.username = config.username.clone();
        let cell = Arc::new(SnapshotCell::new(first));
        let load = Arc::new(handle::RouterLoad::default());
        let live_traffic = Arc::new(watch::LiveTraffic::default());
        let handle = Arc::new(RouterHandle {
            id: config.id,
            commands: commands_tx,
            cell: Arc::clone(&cell),
            command_timeout: self.settings.command_timeout,
            load: Arc::clone(&load),
            released: self.released.clone(),
            waiters: AtomicUsize::new(0),
            admitted: AtomicUsize::new(0),
            max_waiters: self.settings.max_waiters_per_router,
            waiters_total: Arc::clone(&self.waiters_total),
            max_waiters_total: self.settings.max_waiters_total,
            traffic_share: share::Shared::new(self.settings.traffic_share_window),
            live_traffic: Arc::clone(&live_traffic),
            late_answer_grace: self.settings.late_answer_grace,
        });
        let mut actor = RouterActor::new(
            config.clone(),
            self.settings.clone(),
            commands_rx,
            stop_rx,
            cell,
            Arc::clone(&self.observer),
            load,
        );
        actor.live_traffic = live_traffic;
        let id = config.id;
        let thread = std::thread::Builder::new()
            .name(format!("router-{id}"))
            .stack_size(self.settings.thread_stack_size)
            .spawn(move || run_supervised(&mut actor));
        let join = match thread {
            Ok(join) => Some(join),
            Err(e) => {
                // Out of threads: the router stays offline rather than taking the service down
                // (and no second spawn is tried: it would fail, or panic, the same way).
                log::error!("router {id}: cannot start its thread: {e}");
                handle.cell.update(|s| {
                    s.state = RouterState::Offline;
                    s.unavailable = true;
                    s.warm = true;
                    s.last_error = Some(format!("cannot start the router thread: {e}"));
                });
                None
            }
        };
        RouterEntry {
            handle,
            config,
            stop: stop_tx,
            join,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(2));
    }
}

/// Runs the actor, restarting it after a panic; a panic never leaves this thread.
fn run_supervised(actor: &mut RouterActor) {
    let id = actor.config.id;
    let cell = Arc::clone(&actor.cell);
    supervise(id, &cell, Duration::from_millis(500), || actor.run());
}

/// Calls `body` until it returns normally. After a panic the router is shown offline with
/// the panic message, and `body` runs again after `pause`.
fn supervise(id: RouterId, cell: &SnapshotCell, pause: Duration, mut body: impl FnMut()) {
    loop {
        match catch_unwind(AssertUnwindSafe(&mut body)) {
            Ok(()) => return,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                log::error!("router {id}: thread panicked ({message}); restarting it");
                cell.update(|s| {
                    s.state = RouterState::Offline;
                    s.unavailable = true;
                    s.warm = true;
                    s.last_error = Some(format!("internal error: {message}"));
                });
                std::thread::sleep(pause);
            }
        }
    }
}

fn stop_entries(entries: Vec<RouterEntry>, bound: Duration) {
    let deadline = Instant::now() + bound;
    let mut joins = Vec::with_capacity(entries.len());
    for entry in entries {
        drop(entry.stop);
        joins.push((entry.handle.id, entry.join));
    }
    for (id, join) in joins {
        let Some(join) = join else { continue };
        while !join.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if join.is_finished() {
            let _ = join.join();
        } else {
            log::warn!("router {id}: thread did not stop in time; leaving it behind");
        }
    }
}
