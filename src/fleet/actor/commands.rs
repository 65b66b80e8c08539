//! What the router thread does with a caller's command: runs it on the connection (changes,
//! live reads, isolation, kicks) and answers it; `Err` only when the connection must go.

use super::*;

impl RouterActor {
    /// Runs one command. `Err` only when the connection must be recycled.
    pub(super) fn execute(
        &mut self,
        client: &mut Client,
        command: Command,
    ) -> Result<(), Arc<RouterError>> {
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
        // A read that queued so long it cannot be answered before its caller stops waiting
        // is refused now, as admission would have refused it had it known: sending it would
        // only time out, and that timeout would recycle the connection of a router that is
        // slow but alive, failing everyone queued behind it.
        let left = deadline.saturating_duration_since(Instant::now());
        if !command.is_mutation() && left < self.load.per_command() {
            log::debug!(
                "router {}: refusing a read with {} ms left, under one command's time",
                self.config.id,
                left.as_millis()
            );
            command.fail(FleetError::QueueFull);
            return Ok(());
        }
        // The router gets a whole command timeout for what is sent, whatever its caller has
        // left (the caller is answered 504 at its own deadline either way): only a router
        // that does not answer for that long is taken for lost. A change that reached the
        // router is waited on a little longer still, so a caller told 504 can learn what the
        // router finally said.
        let deadline = if command.is_mutation() {
            deadline + self.settings.late_answer_grace
        } else {
            deadline
        }
        .max(Instant::now() + self.settings.command_timeout);
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
                    connectivity = self.refresh_after(client, deadline, "a change");
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
                            self.kick_cached(client, &user, deadline)?
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
                            self.kick_cached(client, &user, deadline)
                        } else {
                            Ok(0)
                        }
                    });
                answer!(job, result)
            }
            Command::Kick(job, user) => answer!(job, self.kick_cached(client, &user, deadline)),
            Command::Isolate(job, request) => {
                answer!(job, self.isolate(client, &request, deadline))
            }
            Command::Batch(job, writes) => {
                let (results, lost) = self.run_batch(client, &writes, job.deadline);
                connectivity = lost;
                job.finish(Ok(results));
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
        // A watched customer whose reading arrived while this call queued.
        if self.watched.contains_key(user) {
            if let Some(reading) = self.live_traffic.latest(user) {
                return Ok(reading);
            }
            self.live_traffic.asked(user);
        }
        let reading = self.read_traffic_once(client, user, deadline)?;
        self.watch(client, user).map_err(Failure::Router)?;
        Ok(reading)
    }

    /// One traffic reading by command(s).
    fn read_traffic_once(
        &mut self,
        client: &mut Client,
        user: &str,
        deadline: Instant,
    ) -> Result<super::TrafficReading, Failure> {
        // One round trip: the remembered source at the address the last poll saw.
        let cached = self
            .cell
            .load()
            .sessions
            .iter()
            .find(|s| s.name == user && !s.address.is_empty())
            .map(|s| s.address.clone());
        if let Some(address) = cached {
            let reading = traffic::read_remembered(client, &self.traffic, user, &address, deadline)
                .map_err(Failure::Router)?;
            if let Some(reading) = reading {
                return Ok(reading);
            }
        }
        // Nothing remembered, or the cache was wrong: look the user up live and re-detect.
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

    /// Kicks `user` by the session `.id`s the last poll saw (one command per session, no
    /// live lookup); when one of them is gone (`no such item`: the session ended or moved)
    /// or none was seen, the live sessions are looked up and kicked as usual.
    fn kick_cached(
        &self,
        client: &mut Client,
        user: &str,
        deadline: Instant,
    ) -> Result<usize, Failure> {
        let ids: Vec<String> = self
            .cell
            .load()
            .sessions
            .iter()
            .filter(|s| s.name == user && !s.id.is_empty())
            .map(|s| s.id.to_string())
            .collect();
        if ids.is_empty() {
            return kick_user(client, user, deadline);
        }
        let mut kicked = 0;
        for id in &ids {
            match client.remove_active(id, deadline) {
                Ok(()) => kicked += 1,
                Err(e) if e.trap_starts_with("no such item") => {
                    return Ok(kicked + kick_user(client, user, deadline)?);
                }
                Err(e) => return Err(Failure::Router(e)),
            }
        }
        Ok(kicked)
    }

    fn isolate(
        &self,
        client: &mut Client,
        request: &IsolateRequest,
        deadline: Instant,
    ) -> Result<IsolateOutcome, Failure> {
        if let Some(user) = &request.user {
            return self.isolate_user(client, request, user, deadline);
        }
        let Some(address) = request.ip.clone() else {
            return Err(Failure::Fleet(FleetError::Internal(
                "isolate needs an ip or a user".into(),
            )));
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
            add_entry(
                client,
                &request.list,
                &address,
                request.comment.as_deref(),
                deadline,
            )
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

    /// Isolation by user: one entry whose comment names the user, on the user's address
    /// (it follows the user from then on); removal takes every entry naming the user.
    fn isolate_user(
        &self,
        client: &mut Client,
        request: &IsolateRequest,
        user: &str,
        deadline: Instant,
    ) -> Result<IsolateOutcome, Failure> {
        if let Some(outcome) = self.isolate_user_cached(client, request, user, deadline)? {
            return Ok(outcome);
        }
        let entries = client
            .address_list_entries(&request.list, deadline)
            .map_err(Failure::Router)?;
        let tagged: Vec<_> = entries
            .iter()
            .filter(|e| !e.dynamic && isolation::tagged_user(&e.comment) == Some(user))
            .collect();
        if !request.add {
            for entry in &tagged {
                client
                    .address_list_remove(&entry.id, deadline)
                    .map_err(Failure::Router)?;
            }
            // Entries added by address before (untagged) go too, when the address is known.
            let mut address = tagged.first().map(|e| e.address.to_string());
            let mut changed = !tagged.is_empty();
            if let Some(ip) = request
                .ip
                .clone()
                .or_else(|| user_address(client, user, deadline).ok())
            {
                for entry in entries.iter().filter(|e| e.address == ip && !e.dynamic) {
                    if isolation::tagged_user(&entry.comment).is_none() {
                        client
                            .address_list_remove(&entry.id, deadline)
                            .map_err(Failure::Router)?;
                        changed = true;
                    }
                }
                address.get_or_insert(ip);
            }
            return Ok(IsolateOutcome {
                address: address.unwrap_or_default(),
                changed,
            });
        }
        let address = match &request.ip {
            Some(ip) => ip.clone(),
            None => user_address(client, user, deadline)?,
        };
        if let Some(entry) = tagged.first() {
            let current = isolation::bare(&entry.address);
            if current == address && !entry.disabled {
                return Ok(IsolateOutcome {
                    address,
                    changed: false,
                });
            }
            client
                .address_list_set(&entry.id, &address, false, deadline)
                .map_err(Failure::Router)?;
            return Ok(IsolateOutcome {
                address,
                changed: true,
            });
        }
        let comment = isolation::tagged_comment(user, request.comment.as_deref());
        add_entry(client, &request.list, &address, Some(&comment), deadline)
    }
}

impl RouterActor {
    /// Isolation by user in one command, from the cached address and isolation list: only
    /// while the session listen runs (so the cached address is the user's now, not a poll
    /// ago) and for the list the poll reads. `Ok(None)`: do it live — also when the router
    /// answers that the entry is gone or already there (the cache was behind).
    fn isolate_user_cached(
        &self,
        client: &mut Client,
        request: &IsolateRequest,
        user: &str,
        deadline: Instant,
    ) -> Result<Option<IsolateOutcome>, Failure> {
        if request.ip.is_some() || request.list != ISOLATION_LIST || self.listen_tag.is_none() {
            return Ok(None);
        }
        let snapshot = self.cell.load();
        let Some(step) =
            isolation::cached_step(user, request.add, &snapshot.isolation, &snapshot.sessions)
        else {
            return Ok(None);
        };
        drop(snapshot);
        let stale = |e: &RouterError| {
            e.trap_starts_with("no such item") || e.trap_starts_with("failure: already have")
        };
        type EntryChange = Box<dyn FnOnce(&mut Vec<crate::model::AddressListEntry>)>;
        let (outcome, entry_change): (IsolateOutcome, EntryChange) = match step {
            isolation::CachedStep::Add { address } => {
                let comment = isolation::tagged_comment(user, request.comment.as_deref());
                let id = match client.address_list_add(
                    &request.list,
                    &address,
                    Some(&comment),
                    deadline,
                ) {
                    Ok(id) => id,
                    Err(e) if stale(&e) => return Ok(None),
                    Err(e) => return Err(Failure::Router(e)),
                };
                let entry = crate::model::AddressListEntry {
                    id: id.into(),
                    list: request.list.as_str().into(),
                    address: address.as_str().into(),
                    comment: comment.into(),
                    dynamic: false,
                    disabled: false,
                };
                (
                    IsolateOutcome {
                        address,
                        changed: true,
                    },
                    Box::new(move |entries| entries.push(entry)),
                )
            }
            isolation::CachedStep::Set {
                id,
                address,
                changed,
            } => {
                match client.address_list_set(&id, &address, false, deadline) {
                    Ok(_) => {}
                    Err(e) if stale(&e) => return Ok(None),
                    Err(e) => return Err(Failure::Router(e)),
                }
                let at = address.clone();
                (
                    IsolateOutcome { address, changed },
                    Box::new(move |entries| {
                        for e in entries.iter_mut().filter(|e| e.id == id) {
                            e.address = at.as_str().into();
                            e.disabled = false;
                        }
                    }),
                )
            }
            isolation::CachedStep::Remove { id, address } => {
                match client.address_list_remove(&id, deadline) {
                    Ok(()) => {}
                    Err(e) if stale(&e) => return Ok(None),
                    Err(e) => return Err(Failure::Router(e)),
                }
                (
                    IsolateOutcome {
                        address,
                        changed: true,
                    },
                    Box::new(move |entries| entries.retain(|e| e.id != id)),
                )
            }
        };
        // The next poll reads the list again; until then the cache says what we just did.
        self.cell.update(|s| {
            let mut entries = (*s.isolation).clone();
            entry_change(&mut entries);
            s.isolation = Arc::new(entries);
        });
        Ok(Some(outcome))
    }
}

fn add_entry(
    client: &mut Client,
    list: &str,
    address: &str,
    comment: Option<&str>,
    deadline: Instant,
) -> Result<IsolateOutcome, Failure> {
    match client.address_list_add(list, address, comment, deadline) {
        Ok(_) => Ok(IsolateOutcome {
            address: address.to_owned(),
            changed: true,
        }),
        Err(e) if e.trap_starts_with("failure: already have such entry") => Ok(IsolateOutcome {
            address: address.to_owned(),
            changed: false,
        }),
        Err(e) => Err(Failure::Router(e)),
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
        return Ok(session.address.into());
    }
    let secret = client
        .secret_named(user, deadline)
        .map_err(Failure::Router)?;
    match secret.filter(|s| s.name == user) {
        Some(secret) if !secret.remote_address.is_empty() => Ok(secret.remote_address.into()),
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
