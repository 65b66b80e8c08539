//! The router thread: owns one connection and the router's cache, runs commands and polls.
//!
//! Loop: connect + login (backoff 1, 2, 4 … 30 s ±20 %, reset after a good login); while
//! connected, one `select!` over stop, commands and the poll timer; while disconnected,
//! every command is answered at once with `router_offline`. A command whose deadline passed
//! is never sent (its caller was already told 504). A command that times out on the wire
//! recycles the connection, since the stream can no longer be trusted to be in step.

use super::command::{Command, IsolateOutcome, IsolateRequest, RefreshOutcome, UpdateOutcome};
use super::handle::RouterLoad;
use super::snapshot::{RouterState, SnapshotCell};
use super::traffic::{self, TrafficMemory};
use super::{FleetError, FleetEvent, FleetObserver, FleetSettings, ISOLATION_LIST};
use crate::model::{utc_parts, ActiveSession, RouterConfig, Secret};
use crate::rng::Rng;
use crate::router::{Client, RouterError};
use crossbeam_channel::{after, never, select, tick, Receiver};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    rng: Rng,
    /// Sessions of the previous poll by `.id`; `None` right after a (re)connect, so the
    /// first poll is a baseline and does not fire a storm of session events.
    previous_sessions: Option<Arc<Vec<ActiveSession>>>,
    secrets_fingerprint: Option<u64>,
    /// Whether router.down was already announced since the router was last up.
    down_announced: bool,
    was_online: bool,
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
            rng: Rng::from_entropy(),
            previous_sessions: None,
            secrets_fingerprint: None,
            down_announced: false,
            was_online: false,
        }
    }

    /// Runs until stopped. Returns normally only on stop.
    pub fn run(&mut self) {
        let mut backoff = self.settings.backoff_initial;
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
                    backoff = self.settings.backoff_initial;
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
            let wait = jittered(backoff, &mut self.rng);
            backoff = (backoff * 2).min(self.settings.backoff_max);
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
        log::warn!(
            "router {} ({}:{}) offline: {message}",
            self.config.id,
            self.config.host,
            self.config.port
        );
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
        loop {
            select! {
                recv(self.stop) -> _ => {
                    client.quit(Instant::now() + Duration::from_millis(500));
                    return SessionEnd::Stop;
                }
                recv(self.commands) -> command => {
                    let Ok(command) = command else {
                        client.quit(Instant::now() + Duration::from_millis(500));
                        return SessionEnd::Stop;
                    };
                    self.load.begin();
                    let result = self.execute(&mut client, command);
                    self.load.end(result.is_ok());
                    if let Err(error) = result {
                        client.shutdown();
                        return SessionEnd::Lost(error);
                    }
                }
                recv(ticker) -> _ => {
                    self.load.begin();
                    let result = self.poll(&mut client);
                    self.load.end(result.is_ok());
                    if let Err(error) = result {
                        client.shutdown();
                        return SessionEnd::Lost(Arc::new(error));
                    }
                }
            }
        }
    }

    /// Refreshes resource, sessions and secrets; publishes the snapshot and events.
    fn poll(&mut self, client: &mut Client) -> Result<(), RouterError> {
        let started = Instant::now();
        let deadline = started + self.settings.command_timeout;
        let resource = client.resource(deadline)?;
        let rtt = started.elapsed();
        self.observer.command_finished(self.config.id, rtt);
        let now = SystemTime::now();
        self.cell.update(|s| {
            s.resource = Some(resource);
            s.resource_at = Some(now);
            s.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        });
        self.refresh_lists(client, deadline)
    }

    /// Re-reads sessions, secrets and the isolation list; publishes them with their events.
    fn refresh_lists(&mut self, client: &mut Client, deadline: Instant) -> Result<(), RouterError> {
        let sessions = self.timed(|| client.active_sessions(deadline))?;
        let secrets = self.timed(|| client.secrets(deadline))?;
        let isolation = match self.timed(|| client.address_list_entries(ISOLATION_LIST, deadline)) {
            Ok(entries) => Some(entries),
            Err(e) if e.is_connectivity_error() => return Err(e),
            Err(e) => {
                // The lists still publish; `isolated` then rests on the last good read.
                log::warn!(
                    "router {}: cannot read the {ISOLATION_LIST} address list: {e}",
                    self.config.id
                );
                None
            }
        };
        let now = SystemTime::now();
        // An unchanged list keeps its `Arc`, so readers that cache what they built from it
        // (the HTTP layer's targets rows) can tell by pointer that nothing changed.
        let published = self.cell.load();
        let sessions = if *published.sessions == sessions {
            Arc::clone(&published.sessions)
        } else {
            Arc::new(sessions)
        };
        let secrets = if *published.secrets == secrets {
            Arc::clone(&published.secrets)
        } else {
            Arc::new(secrets)
        };
        let isolation = match isolation {
            Some(entries) if *published.isolation != entries => Arc::new(entries),
            _ => Arc::clone(&published.isolation),
        };
        drop(published);
        self.cell.update(|s| {
            s.sessions = Arc::clone(&sessions);
            s.secrets = Arc::clone(&secrets);
            s.isolation = Arc::clone(&isolation);
            s.last_poll_at = Some(now);
        });
        self.session_events(&sessions);
        let fingerprint = fingerprint_secrets(&secrets);
        if self.secrets_fingerprint != Some(fingerprint) {
            self.secrets_fingerprint = Some(fingerprint);
            self.observer.event(FleetEvent::SecretsChanged {
                router: self.config.id,
                secrets: Arc::clone(&secrets),
                sessions: Arc::clone(&sessions),
            });
        }
        Ok(())
    }

    fn timed<T>(&self, f: impl FnOnce() -> Result<T, RouterError>) -> Result<T, RouterError> {
        let started = Instant::now();
        let result = f();
        self.observer
            .command_finished(self.config.id, started.elapsed());
        result
    }

    /// Session up/down events against the previous poll. Diffs by `.id` over borrowed ids
    /// and keeps the previous list by `Arc` (the snapshot's own), so no session is cloned
    /// unless an event needs it.
    fn session_events(&mut self, sessions: &Arc<Vec<ActiveSession>>) {
        if let Some(previous) = &self.previous_sessions {
            let before: HashSet<&str> = previous.iter().map(|s| s.id.as_str()).collect();
            let now: HashSet<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
            for session in sessions.iter().filter(|s| !before.contains(s.id.as_str())) {
                self.observer.event(FleetEvent::SessionUp {
                    router: self.config.id,
                    host: self.config.host.clone(),
                    session: session.clone(),
                });
            }
            for session in previous.iter().filter(|s| !now.contains(s.id.as_str())) {
                self.observer.event(FleetEvent::SessionDown {
                    router: self.config.id,
                    host: self.config.host.clone(),
                    session: session.clone(),
                });
            }
        }
        self.previous_sessions = Some(Arc::clone(sessions));
    }

    /// Runs one command. `Err` only when the connection must be recycled.
    fn execute(&mut self, client: &mut Client, command: Command) -> Result<(), Arc<RouterError>> {
        let deadline = command.deadline();
        if Instant::now() >= deadline {
            // The caller already answered 504: a stale mutation must never reach the router.
            log::info!(
                "router {}: dropping a {} whose caller timed out before it was sent",
                self.config.id,
                if command.is_mutation() {
                    "mutation"
                } else {
                    "read"
                }
            );
            let error = if command.is_mutation() {
                FleetError::NotSent
            } else {
                FleetError::Timeout
            };
            command.fail(error);
            return Ok(());
        }
        // A change that reached the router is waited on a little longer than its caller
        // waits, so a caller told 504 can still learn what the router finally said.
        let deadline = if command.is_mutation() {
            deadline + self.settings.late_answer_grace
        } else {
            deadline
        };
        let started = Instant::now();
        let mut connectivity: Option<Arc<RouterError>> = None;
        let changes_lists = command.changes_secrets_or_sessions();
        // Each arm answers its caller and keeps connectivity errors for the recycle decision.
        // After a change, the cached lists are re-read before the answer, so a caller that
        // reads them next sees its own change.
        macro_rules! answer {
            ($job:expr, $result:expr) => {{
                let result = $result;
                let mapped = match result {
                    Ok(value) => Ok(value),
                    Err(Failure::Router(e)) => {
                        let cause = Arc::new(e);
                        if cause.is_connectivity_error() {
                            connectivity = Some(Arc::clone(&cause));
                        }
                        Err(FleetError::from_router(cause))
                    }
                    Err(Failure::Fleet(e)) => Err(e),
                };
                if changes_lists && mapped.is_ok() && connectivity.is_none() {
                    if let Err(e) = self.refresh_lists(client, deadline) {
                        log::warn!(
                            "router {}: cannot re-read lists after a change: {e}",
                            self.config.id
                        );
                        if e.is_connectivity_error() {
                            connectivity = Some(Arc::new(e));
                        }
                    }
                }
                $job.finish(mapped);
            }};
        }
        match command {
            Command::LiveResource(job) => {
                answer!(
                    job,
                    client
                        .resource(deadline)
                        .map_err(Failure::Router)
                        .inspect(|r| {
                            let r = r.clone();
                            self.cell.update(|s| {
                                s.resource = Some(r);
                                s.resource_at = Some(SystemTime::now());
                            });
                        })
                )
            }
            Command::Traffic(job, user) => answer!(job, self.read_traffic(client, &user, deadline)),
            Command::Refresh(job) => {
                let result = self.poll(client).map_err(Failure::Router).map(|()| {
                    let s = self.cell.load();
                    RefreshOutcome {
                        secrets: Arc::clone(&s.secrets),
                        sessions: Arc::clone(&s.sessions),
                    }
                });
                answer!(job, result)
            }
            Command::Profiles(job) => {
                answer!(job, client.profiles(deadline).map_err(Failure::Router))
            }
            Command::AddSecret(job, secret) => {
                let result = match client.add_secret(&secret, deadline) {
                    Err(e)
                        if e.trap_starts_with(
                            "failure: secret with the same name already exists",
                        ) =>
                    {
                        Err(Failure::Fleet(FleetError::Conflict(format!(
                            "a secret named {:?} already exists",
                            secret.name
                        ))))
                    }
                    other => other.map_err(Failure::Router),
                };
                answer!(job, result)
            }
            Command::UpdateSecret(job, user, changes, kick) => {
                let result = self
                    .find_secret(client, &user, deadline)
                    .and_then(|secret| {
                        client
                            .set_secret(&secret.id, &changes, deadline)
                            .map_err(Failure::Router)?;
                        let kicked = if kick {
                            kick_user(client, &user, deadline)?
                        } else {
                            0
                        };
                        Ok(UpdateOutcome {
                            updated: changes.changed_fields(),
                            kicked,
                        })
                    });
                answer!(job, result)
            }
            Command::DeleteSecret(job, user, kick) => {
                let result = self
                    .find_secret(client, &user, deadline)
                    .and_then(|secret| {
                        client
                            .remove_secret(&secret.id, deadline)
                            .map_err(Failure::Router)?;
                        if kick {
                            kick_user(client, &user, deadline)
                        } else {
                            Ok(0)
                        }
                    });
                answer!(job, result)
            }
            Command::Kick(job, user) => answer!(job, kick_user(client, &user, deadline)),
            Command::Isolate(job, request) => {
                answer!(job, self.isolate(client, &request, deadline))
            }
            Command::Backup(job) => {
                let identity = self.cell.load().identity.clone().unwrap_or_default();
                let name = backup_name(&identity, SystemTime::now());
                answer!(
                    job,
                    client.backup_save(&name, deadline).map_err(Failure::Router)
                )
            }
        }
        self.observer
            .command_finished(self.config.id, started.elapsed());
        match connectivity {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn find_secret(
        &self,
        client: &mut Client,
        user: &str,
        deadline: Instant,
    ) -> Result<Secret, Failure> {
        client
            .secret_named(user, deadline)
            .map_err(Failure::Router)?
            .filter(|s| s.name == user)
            .ok_or_else(|| Failure::Fleet(FleetError::UserNotFound(user.to_owned())))
    }

    fn read_traffic(
        &mut self,
        client: &mut Client,
        user: &str,
        deadline: Instant,
    ) -> Result<super::TrafficReading, Failure> {
        let sessions = client
            .active_sessions_of(user, deadline)
            .map_err(Failure::Router)?;
        let Some(session) = sessions.into_iter().find(|s| s.name == user) else {
            let known = self.cell.load().secrets.iter().any(|s| s.name == user);
            return Err(Failure::Fleet(if known {
                FleetError::UserOffline(user.to_owned())
            } else {
                FleetError::UserNotFound(user.to_owned())
            }));
        };
        traffic::detect(client, &mut self.traffic, user, &session.address, deadline)
            .map_err(Failure::Router)?
            .ok_or_else(|| Failure::Fleet(FleetError::UserOffline(user.to_owned())))
    }

    fn isolate(
        &self,
        client: &mut Client,
        request: &IsolateRequest,
        deadline: Instant,
    ) -> Result<IsolateOutcome, Failure> {
        let address = match (&request.ip, &request.user) {
            (Some(ip), _) => ip.clone(),
            (None, Some(user)) => user_address(client, user, deadline)?,
            (None, None) => {
                return Err(Failure::Fleet(FleetError::Internal(
                    "isolate needs an ip or a user".into(),
                )))
            }
        };
        let existing = client
            .address_list_find(&request.list, &address, deadline)
            .map_err(Failure::Router)?;
        if request.add {
            if !existing.is_empty() {
                return Ok(IsolateOutcome {
                    address,
                    changed: false,
                });
            }
            match client.address_list_add(
                &request.list,
                &address,
                request.comment.as_deref(),
                deadline,
            ) {
                Ok(_) => Ok(IsolateOutcome {
                    address,
                    changed: true,
                }),
                Err(e) if e.trap_starts_with("failure: already have such entry") => {
                    Ok(IsolateOutcome {
                        address,
                        changed: false,
                    })
                }
                Err(e) => Err(Failure::Router(e)),
            }
        } else {
            for entry in &existing {
                client
                    .address_list_remove(&entry.id, deadline)
                    .map_err(Failure::Router)?;
            }
            Ok(IsolateOutcome {
                address,
                changed: !existing.is_empty(),
            })
        }
    }
}

/// An operation failure: from the router (may need a recycle) or already a fleet answer.
enum Failure {
    Router(RouterError),
    Fleet(FleetError),
}

/// The live session's address, else the secret's remote-address.
fn user_address(client: &mut Client, user: &str, deadline: Instant) -> Result<String, Failure> {
    let sessions = client
        .active_sessions_of(user, deadline)
        .map_err(Failure::Router)?;
    if let Some(session) = sessions
        .into_iter()
        .find(|s| s.name == user && !s.address.is_empty())
    {
        return Ok(session.address);
    }
    let secret = client
        .secret_named(user, deadline)
        .map_err(Failure::Router)?;
    match secret.filter(|s| s.name == user) {
        Some(secret) if !secret.remote_address.is_empty() => Ok(secret.remote_address),
        Some(_) => Err(Failure::Fleet(FleetError::UserOffline(user.to_owned()))),
        None => Err(Failure::Fleet(FleetError::UserNotFound(user.to_owned()))),
    }
}

/// Removes every live session of `user`; returns how many.
fn kick_user(client: &mut Client, user: &str, deadline: Instant) -> Result<usize, Failure> {
    let sessions = client
        .active_sessions_of(user, deadline)
        .map_err(Failure::Router)?;
    let mut kicked = 0;
    for session in sessions.iter().filter(|s| s.name == user) {
        match client.remove_active(&session.id, deadline) {
            Ok(()) => kicked += 1,
            // Gone between print and remove: it is kicked either way.
            Err(e) if e.trap_starts_with("no such item") => {}
            Err(e) => return Err(Failure::Router(e)),
        }
    }
    Ok(kicked)
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

fn fingerprint_secrets(secrets: &[Secret]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for s in secrets {
        (&s.name, &s.profile, &s.remote_address, s.disabled).hash(&mut hasher);
    }
    hasher.finish()
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
    fn backup_names_are_safe() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        assert_eq!(backup_name("core/gw 1", t), "core_gw_1-20261130-005320");
        assert_eq!(backup_name("", t), "router-20261130-005320");
    }
}
