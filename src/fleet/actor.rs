//! The router thread: owns one connection and the router's cache, runs commands and polls.
//!
//! Loop: connect + login. An unreachable router (connect refused or timed out) is tried
//! again every `unreachable_retry` (1 s), so it is online within about a second of coming
//! back; a router that accepts TCP but refuses or breaks the login waits a growing backoff
//! (1, 2, 4 … `backoff_max` ±20 %, reset after a good login). While connected, one `select!`
//! over stop, commands and the poll timer; when streams run on the connection (the session
//! `listen`, watched customers' traffic) the `select!` also waits for the shared socket
//! watcher (`readable.rs`) to say bytes arrived (at most `WATCHED_STREAM_WAIT`, or
//! `STREAM_WAIT` without a watcher), then the socket is looked at without waiting; while
//! stream rows keep coming it is looked at again at once. No busy loop. While disconnected,
//! every command is answered at once with `router_offline`. A command whose deadline passed
//! is never sent (its caller was already told 504). A command that times out on the wire
//! recycles the connection, since the stream can no longer be trusted to be in step.

mod commands;
mod lists;
mod pipeline;

use super::command::{Command, IsolateOutcome, IsolateRequest, RefreshOutcome, UpdateOutcome};
use super::handle::RouterLoad;
use super::snapshot::{RouterState, SnapshotCell};
use super::traffic::{self, TrafficMemory};
use super::watch::LiveTraffic;
use super::{isolation, FleetError, FleetEvent, FleetObserver, FleetSettings, ISOLATION_LIST};
use super::{TrafficReading, TrafficSource};
use crate::model::{utc_parts, ActiveSession, CompactString, RouterConfig, Secret};
use crate::rng::Rng;
use crate::router::ops::{interface_traffic, session_change, Listing, PollReading, SessionChange};
use crate::router::{Client, RouterError, StreamEvent};
use crossbeam_channel::{after, never, select, tick, Receiver};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// While streams run, the thread blocks on its queue at most this long (a command wakes it
/// at once), then looks at the socket without waiting: a stream row waits at most about this
/// long, a command never waits on the socket, and a quiet router costs ~50 wake-ups a second.
const STREAM_WAIT: Duration = Duration::from_millis(20);
/// With the socket watcher waking the thread when bytes arrive, the timed look is only a
/// safety net.
const WATCHED_STREAM_WAIT: Duration = Duration::from_secs(5);

/// What woke the connected loop. (Lives on the stack for one turn of the loop: boxing the
/// command would allocate for every command.)
#[allow(clippy::large_enum_variant)]
enum Wake {
    Stop,
    Command(Command),
    Tick,
    /// Nothing queued: wait on the socket for stream sentences.
    Idle,
}

/// A watched customer's live traffic stream (its readings go to [`LiveTraffic`]).
struct Watched {
    tag: String,
    interface: String,
}

/// Why a connected session ended.
enum SessionEnd {
    Stop,
    Lost(Arc<RouterError>),
}

pub(crate) struct RouterActor {
    pub config: RouterConfig,
    pub settings: FleetSettings,
    pub commands: Receiver<Command>,
    pub stop: Receiver<()>,
    pub cell: Arc<SnapshotCell>,
    pub observer: Arc<dyn FleetObserver>,
    /// Command times and the running command's start, for the callers' admission.
    load: Arc<RouterLoad>,
    traffic: TrafficMemory,
    /// Watched customers' latest readings, shared with the handle's callers.
    pub(crate) live_traffic: Arc<LiveTraffic>,
    rng: Rng,
    /// Sessions of the previous poll by `.id`; `None` right after a (re)connect, so the
    /// first poll is a baseline and does not fire a storm of session events.
    previous_sessions: Option<Arc<Vec<ActiveSession>>>,
    secrets_fingerprint: Option<u64>,
    /// The fingerprint of the session print that built this list, and when it was built.
    listed_sessions: Option<(u64, Arc<Vec<ActiveSession>>, Instant)>,
    /// The fingerprint of the secret print that built this list.
    listed_secrets: Option<(u64, Arc<Vec<Secret>>)>,
    /// Whether router.down was already announced since the router was last up.
    down_announced: bool,
    was_online: bool,
    /// The running `/ppp/active/listen` on this connection.
    listen_tag: Option<String>,
    /// `listen` failed once on this router: sessions come from the poll only (logged once).
    listen_failed: bool,
    /// Live traffic streams by user (restarted on every reconnect).
    watched: HashMap<String, Watched>,
    /// Users whose traffic stream the router refused (no such interface) on this connection.
    unstreamable: HashSet<String>,
    last_expiry_check: Instant,
}

impl Drop for RouterActor {
    /// Commands still queued when the thread stops are answered, not dropped (a dropped
    /// one would look like a crashed router thread to its caller).
    fn drop(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            command.fail(FleetError::Offline("router is being stopped".into()));
        }
    }
}

impl RouterActor {
    pub fn new(
        config: RouterConfig,
        settings: FleetSettings,
        commands: Receiver<Command>,
        stop: Receiver<()>,
        cell: Arc<SnapshotCell>,
        observer: Arc<dyn FleetObserver>,
        load: Arc<RouterLoad>,
    ) -> Self {
        RouterActor {
            config,
            settings,
            commands,
            stop,
            cell,
            observer,
            load,
            traffic: TrafficMemory::default(),
            live_traffic: Arc::new(LiveTraffic::default()),
            rng: Rng::from_entropy(),
            previous_sessions: None,
            secrets_fingerprint: None,
            listed_sessions: None,
            listed_secrets: None,
            down_announced: false,
            was_online: false,
            listen_tag: None,
            listen_failed: false,
            watched: HashMap::new(),
            unstreamable: HashSet::new(),
            last_expiry_check: Instant::now(),
        }
    }

    /// Runs until stopped. Returns normally only on stop.
    pub fn run(&mut self) {
        let mut login_backoff = self.settings.backoff_initial;
        let mut retry_at_once = false;
        loop {
            if self.stop_requested() {
                return;
            }
            if !retry_at_once {
                self.cell.update(|s| {
                    if s.state != RouterState::Connecting {
                        s.state = RouterState::Connecting;
                        s.since = SystemTime::now();
                    }
                });
            }
            let error = match self.connect() {
                Ok(client) => {
                    login_backoff = self.settings.backoff_initial;
                    match self.serve(client) {
                        SessionEnd::Stop => return,
                        SessionEnd::Lost(error) => {
                            self.went_offline(&error);
                            // A session that was working gets one immediate retry.
                            retry_at_once = true;
                            continue;
                        }
                    }
                }
                Err(error) => error,
            };
            retry_at_once = false;
            self.went_offline(&error);
            let wait = match error {
                // Unreachable: the TCP connect is cheap and leaves nothing in the router's log.
                RouterError::Connect(_) => jittered(self.settings.unreachable_retry, &mut self.rng),
                // It answers but refuses or breaks the login: back off, so a wrong password
                // never floods the router's log.
                _ => {
                    let wait = jittered(login_backoff, &mut self.rng);
                    login_backoff = (login_backoff * 2).min(self.settings.backoff_max);
                    wait
                }
            };
            if !self.wait_offline(wait) {
                return;
            }
        }
    }

    fn stop_requested(&self) -> bool {
        matches!(
            self.stop.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected) | Ok(())
        )
    }

    fn connect(&mut self) -> Result<Client, RouterError> {
        let deadline = Instant::now() + self.settings.connect_timeout;
        let mut client = Client::connect(
            &self.config.host,
            self.config.port,
            self.settings.connect_timeout,
        )?;
        client.login(&self.config.username, &self.config.password, deadline)?;
        Ok(client)
    }

    fn went_offline(&mut self, error: &RouterError) {
        let message = error.to_string();
        let repeated = {
            let s = self.cell.load();
            s.state == RouterState::Offline && s.last_error.as_deref() == Some(message.as_str())
        };
        // Retried every second while unreachable: the same error is logged once.
        if repeated {
            log::debug!("router {} still offline: {message}", self.config.id);
        } else {
            log::warn!(
                "router {} ({}:{}) offline: {message}",
                self.config.id,
                self.config.host,
                self.config.port
            );
        }
        self.cell.update(|s| {
            if s.state != RouterState::Offline {
                s.since = SystemTime::now();
            }
            s.state = RouterState::Offline;
            s.unavailable = true;
            s.warm = true;
            s.last_error = Some(message.clone());
        });
        if !self.down_announced {
            self.down_announced = true;
            self.observer.event(FleetEvent::RouterDown {
                router: self.config.id,
                host: self.config.host.clone(),
                error: message,
            });
        }
        self.previous_sessions = None;
        // Readings of a dead connection answer nobody; the streams restart on reconnect.
        for user in self.watched.keys() {
            self.live_traffic.publish(user, None);
        }
    }

    /// Answers commands with `router_offline` for `wait`; false when stopped.
    fn wait_offline(&mut self, wait: Duration) -> bool {
        let wake = after(wait);
        loop {
            select! {
                recv(self.stop) -> _ => return false,
                recv(self.commands) -> command => match command {
                    Ok(command) => command.fail(self.offline_error()),
                    Err(_) => return false,
                },
                recv(wake) -> _ => return true,
            }
        }
    }

    fn offline_error(&self) -> FleetError {
        FleetError::Offline(
            self.cell
                .load()
                .last_error
                .clone()
                .unwrap_or_else(|| "not connected".into()),
        )
    }

    fn serve(&mut self, mut client: Client) -> SessionEnd {
        self.load.reset();
        let deadline = Instant::now() + self.settings.command_timeout;
        let identity = match client.identity(deadline) {
            Ok(identity) => identity.name,
            Err(e) if e.is_connectivity_error() => return SessionEnd::Lost(Arc::new(e)),
            Err(e) => {
                log::warn!("router {}: cannot read identity: {e}", self.config.id);
                String::new()
            }
        };
        self.previous_sessions = None;
        // The listen starts before the full print: a change between the two is queued and
        // applied after it, so nothing falls in the gap.
        if let Err(e) = self.start_streams(&mut client) {
            return SessionEnd::Lost(Arc::new(e));
        }
        if let Err(e) = self.poll(&mut client) {
            return SessionEnd::Lost(Arc::new(e));
        }
        let snapshot = self.cell.update(|s| {
            s.state = RouterState::Online;
            s.since = SystemTime::now();
            s.unavailable = false;
            s.warm = true;
            s.last_error = None;
            s.identity = Some(identity.clone());
            if self.was_online {
                s.reconnects += 1;
            }
        });
        self.was_online = true;
        self.down_announced = false;
        let version = snapshot
            .resource
            .as_ref()
            .map(|r| r.version.clone())
            .unwrap_or_default();
        log::info!(
            "router {} ({}:{}) online: identity {identity:?}, version {version:?}",
            self.config.id,
            self.config.host,
            self.config.port
        );
        self.observer.event(FleetEvent::RouterUp {
            router: self.config.id,
            host: self.config.host.clone(),
            identity,
            version,
        });
        let ticker = if self.settings.poll_interval.is_zero() {
            never()
        } else {
            tick(self.settings.poll_interval)
        };
        // The socket had stream rows last time: look again before blocking on the queue.
        let mut socket_busy = true;
        // Bytes arriving wake this thread through the shared watcher; without one, the
        // socket is looked at every `STREAM_WAIT`. Declared after `client`: deregistered
        // before the socket closes.
        let watched = super::readable::watcher().and_then(|w| match w.watch(client.raw_fd()) {
            Ok(watched) => Some(watched),
            Err(e) => {
                log::warn!(
                    "router {}: socket not watched ({e}): looking every 20 ms",
                    self.config.id
                );
                None
            }
        });
        let (socket_wake, mut stream_wait) = match &watched {
            Some(w) => (w.wake.clone(), WATCHED_STREAM_WAIT),
            None => (never(), STREAM_WAIT),
        };
        loop {
            if let Err(error) = self.handle_stream_events(&mut client) {
                client.shutdown();
                return SessionEnd::Lost(Arc::new(error));
            }
            let wake = if client.stream_count() > 0 && socket_busy {
                select! {
                    recv(self.stop) -> _ => Wake::Stop,
                    recv(self.commands) -> command => command.map_or(Wake::Stop, Wake::Command),
                    recv(ticker) -> _ => Wake::Tick,
                    default => Wake::Idle,
                }
            } else if client.stream_count() > 0 {
                select! {
                    recv(self.stop) -> _ => Wake::Stop,
                    recv(self.commands) -> command => command.map_or(Wake::Stop, Wake::Command),
                    recv(ticker) -> _ => Wake::Tick,
                    recv(socket_wake) -> _ => Wake::Idle,
                    default(stream_wait) => Wake::Idle,
                }
            } else {
                select! {
                    recv(self.stop) -> _ => Wake::Stop,
                    recv(self.commands) -> command => command.map_or(Wake::Stop, Wake::Command),
                    recv(ticker) -> _ => Wake::Tick,
                }
            };
            match wake {
                Wake::Stop => {
                    client.quit(Instant::now() + Duration::from_millis(500));
                    return SessionEnd::Stop;
                }
                Wake::Command(command) => {
                    self.load.begin();
                    let sent_before = client.commands_sent();
                    let result = unwatched(&watched, &mut stream_wait, self.config.id, || {
                        self.execute(&mut client, command)
                    });
                    // A call answered without a router command (a watched customer's
                    // stream reading, a refusal) says nothing of how fast the router is:
                    // counted, such calls would pull the estimate down and let too many in.
                    let measured = client.commands_sent() > sent_before;
                    self.load.end(result.is_ok() && measured);
                    // Its reads may have left stream sentences in the decoder (no new edge).
                    // The wake its own replies caused is spent: the look that follows covers
                    // them (a later arrival makes a new edge and a new wake).
                    while socket_wake.try_recv().is_ok() {}
                    socket_busy = true;
                    if let Err(error) = result {
                        client.shutdown();
                        return SessionEnd::Lost(error);
                    }
                }
                Wake::Tick => {
                    self.load.begin_poll();
                    let result = unwatched(&watched, &mut stream_wait, self.config.id, || {
                        self.poll(&mut client)
                    });
                    self.load.end(result.is_ok());
                    while socket_wake.try_recv().is_ok() {}
                    socket_busy = true;
                    if let Err(error) = result {
                        client.shutdown();
                        return SessionEnd::Lost(Arc::new(error));
                    }
                }
                Wake::Idle => match client.look_stream() {
                    Ok(rows) => socket_busy = rows,
                    Err(error) => {
                        client.shutdown();
                        return SessionEnd::Lost(Arc::new(error));
                    }
                },
            }
            if let Err(error) = self.expire_watched(&mut client) {
                client.shutdown();
                return SessionEnd::Lost(Arc::new(error));
            }
        }
    }

    /// On a fresh connection: the session listen and every watched customer's stream.
    fn start_streams(&mut self, client: &mut Client) -> Result<(), RouterError> {
        self.listen_tag = None;
        self.unstreamable.clear();
        if self.settings.listen_sessions && !self.listen_failed {
            match client.listen_active() {
                Ok(tag) => self.listen_tag = Some(tag),
                Err(e) if e.is_connectivity_error() => return Err(e),
                Err(e) => self.listen_refused(&e.to_string()),
            }
        }
        let users: Vec<String> = self.watched.keys().cloned().collect();
        for user in users {
            let interface = traffic::pppoe_name(&user);
            let tag = client.monitor_traffic_stream(&interface)?;
            if let Some(w) = self.watched.get_mut(&user) {
                w.tag = tag;
            }
            self.live_traffic.publish(&user, None);
        }
        Ok(())
    }

    fn listen_refused(&mut self, why: &str) {
        self.listen_tag = None;
        if !self.listen_failed {
            self.listen_failed = true;
            log::warn!(
                "router {}: /ppp/active/listen failed ({why}); sessions come from the poll only",
                self.config.id
            );
        }
    }

    /// Applies what the streams sent: session changes (events at once, cache, isolation
    /// that follows the user) and traffic readings.
    fn handle_stream_events(&mut self, client: &mut Client) -> Result<(), RouterError> {
        let events = client.take_stream_events();
        if events.is_empty() {
            return Ok(());
        }
        let mut changes = Vec::new();
        for event in events {
            if self.listen_tag.as_deref() == Some(event.tag()) {
                match event {
                    StreamEvent::Row { record, .. } => changes.push(session_change(&record)),
                    StreamEvent::Ended {
                        traps, cancelled, ..
                    } => {
                        self.listen_tag = None;
                        if !cancelled {
                            let why = traps
                                .first()
                                .map(|t| t.to_string())
                                .unwrap_or_else(|| "ended by the router".into());
                            self.listen_refused(&why);
                        }
                    }
                }
                continue;
            }
            let Some(user) = self
                .watched
                .iter()
                .find(|(_, w)| w.tag == event.tag())
                .map(|(u, _)| u.clone())
            else {
                continue;
            };
            match event {
                StreamEvent::Row { record, .. } => {
                    if let Some(w) = self.watched.get(&user) {
                        let reading = interface_traffic(&record, &w.interface);
                        // On a PPPoE server interface rx is what the customer sends: upload.
                        let reading = TrafficReading {
                            user: user.clone(),
                            source: TrafficSource::MonitorTraffic,
                            queue: None,
                            upload_bps: reading.rx_bps,
                            download_bps: reading.tx_bps,
                            sampled_at: SystemTime::now(),
                        };
                        self.live_traffic.publish(&user, Some(reading));
                    }
                }
                StreamEvent::Ended { traps, .. } => {
                    self.watched.remove(&user);
                    self.live_traffic.forget(&user);
                    if !traps.is_empty() {
                        self.unstreamable.insert(user);
                    }
                }
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let ended = self.apply_session_changes(changes);
        for user in ended {
            self.live_traffic.forget(&user);
            if let Some(w) = self.watched.remove(&user) {
                client.cancel_stream(&w.tag, Instant::now() + self.settings.command_timeout)?;
            }
        }
        self.reconcile_isolation(client, Instant::now() + self.settings.command_timeout)
    }

    /// Applies listen rows to the cached sessions and fires their events: only a new `.id`
    /// is `session.up`, a removal is `session.down` of the cached session. The poll diff's
    /// baseline is moved along, so the safety-net poll never repeats an event. Returns the
    /// users that have no session left.
    fn apply_session_changes(&mut self, changes: Vec<SessionChange>) -> Vec<String> {
        let published = self.cell.load();
        let mut sessions: Vec<ActiveSession> = (*published.sessions).clone();
        drop(published);
        let mut events = Vec::new();
        let mut ended = Vec::new();
        let mut changed = false;
        for change in changes {
            match change {
                SessionChange::Upsert(session) => {
                    match sessions.iter_mut().find(|s| s.id == session.id) {
                        Some(existing) if *existing == session => {}
                        Some(existing) => {
                            // A row that carries only what changed keeps the rest.
                            let merged = merge_session(existing, session);
                            if *existing != merged {
                                *existing = merged;
                                changed = true;
                            }
                        }
                        None => {
                            events.push(FleetEvent::SessionUp {
                                router: self.config.id,
                                host: self.config.host.clone(),
                                session: session.clone(),
                            });
                            sessions.push(session);
                            changed = true;
                        }
                    }
                }
                SessionChange::Removed(id) => {
                    if let Some(pos) = sessions.iter().position(|s| s.id == id) {
                        let session = sessions.remove(pos);
                        if !sessions.iter().any(|s| s.name == session.name) {
                            ended.push(session.name.to_string());
                        }
                        events.push(FleetEvent::SessionDown {
                            router: self.config.id,
                            host: self.config.host.clone(),
                            session,
                        });
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let sessions = Arc::new(sessions);
            self.cell.update(|s| s.sessions = Arc::clone(&sessions));
            if self.previous_sessions.is_some() {
                self.previous_sessions = Some(sessions);
            }
        }
        for event in events {
            self.observer.event(event);
        }
        ended
    }

    /// Cancels traffic streams nobody asked about for `traffic_stream_idle`.
    fn expire_watched(&mut self, client: &mut Client) -> Result<(), RouterError> {
        if self.watched.is_empty() || self.last_expiry_check.elapsed() < Duration::from_millis(200)
        {
            return Ok(());
        }
        self.last_expiry_check = Instant::now();
        let idle = self.settings.traffic_stream_idle;
        let expired: Vec<String> = self
            .watched
            .keys()
            .filter(|u| {
                self.live_traffic
                    .last_asked(u)
                    .is_none_or(|asked| asked.elapsed() >= idle)
            })
            .cloned()
            .collect();
        for user in expired {
            self.live_traffic.forget(&user);
            if let Some(w) = self.watched.remove(&user) {
                log::debug!(
                    "router {}: traffic stream of {user:?} idle, cancelled",
                    self.config.id
                );
                client.cancel_stream(&w.tag, Instant::now() + self.settings.command_timeout)?;
            }
        }
        Ok(())
    }

    /// Starts a live traffic stream for `user` when there is room and nobody is waiting:
    /// starting one is a command the router runs before the next caller's (a slow router
    /// runs them one after another), unseen by admission, which would then under-estimate
    /// every wait behind it.
    fn watch(&mut self, client: &mut Client, user: &str) -> Result<(), RouterError> {
        if !self.commands.is_empty()
            || self.settings.traffic_streams_max == 0
            || self.watched.len() >= self.settings.traffic_streams_max
            || self.watched.contains_key(user)
            || self.unstreamable.contains(user)
        {
            return Ok(());
        }
        let interface = traffic::pppoe_name(user);
        match client.monitor_traffic_stream(&interface) {
            Ok(tag) => {
                self.watched
                    .insert(user.to_owned(), Watched { tag, interface });
                self.live_traffic.watch(user);
                Ok(())
            }
            Err(e) if e.is_connectivity_error() => Err(e),
            Err(_) => {
                self.unstreamable.insert(user.to_owned());
                Ok(())
            }
        }
    }
}

/// Runs `f` (which reads the socket itself) with the watcher's wakes paused: its own
/// replies need none. If they cannot be resumed, the socket is looked at every
/// `STREAM_WAIT` from then on.
fn unwatched<T>(
    watched: &Option<super::readable::Watched>,
    stream_wait: &mut Duration,
    router: crate::model::RouterId,
    f: impl FnOnce() -> T,
) -> T {
    let Some(watched) = watched else {
        return f();
    };
    watched.pause();
    let result = f();
    if let Err(e) = watched.resume() {
        if *stream_wait != STREAM_WAIT {
            log::warn!("router {router}: socket no longer watched ({e}): looking every 20 ms");
        }
        *stream_wait = STREAM_WAIT;
    }
    result
}

/// `update` over `old`, field by field: what the row left empty stays as it was.
fn merge_session(old: &ActiveSession, update: ActiveSession) -> ActiveSession {
    let pick = |new: CompactString, old: &CompactString| {
        if new.is_empty() {
            old.clone()
        } else {
            new
        }
    };
    ActiveSession {
        name: pick(update.name, &old.name),
        service: pick(update.service, &old.service),
        caller_id: pick(update.caller_id, &old.caller_id),
        address: pick(update.address, &old.address),
        uptime: pick(update.uptime, &old.uptime),
        session_id: pick(update.session_id, &old.session_id),
        id: update.id,
    }
}

/// `identity-YYYYMMDD-HHMMSS`, limited to characters safe in a file name.
pub fn backup_name(identity: &str, now: SystemTime) -> String {
    let base: String = identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.is_empty() {
        "router".to_owned()
    } else {
        base
    };
    let (y, mo, d, h, mi, s) = utc_parts(now);
    format!("{base}-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// `base` ±20 %.
fn jittered(base: Duration, rng: &mut Rng) -> Duration {
    base.mul_f64(0.8 + 0.4 * rng.unit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(10), &mut rng);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_partial_listen_row_keeps_the_rest_of_the_session() {
        let old = ActiveSession {
            id: "*1".into(),
            name: "alice".into(),
            address: "10.0.0.5".into(),
            uptime: "1m".into(),
            ..ActiveSession::default()
        };
        let update = ActiveSession {
            id: "*1".into(),
            uptime: "2m".into(),
            ..ActiveSession::default()
        };
        let merged = merge_session(&old, update);
        assert_eq!(merged.name, "alice");
        assert_eq!(merged.address, "10.0.0.5");
        assert_eq!(merged.uptime, "2m");
    }

    #[test]
    fn backup_names_are_safe() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        assert_eq!(backup_name("core/gw 1", t), "core_gw_1-20261130-005320");
        assert_eq!(backup_name("", t), "router-20261130-005320");
    }
}
