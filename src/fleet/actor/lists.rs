//! What a router thread reads on each poll and after a change: resource, sessions, secrets
//! and the isolation list in one round trip, published with their events; and the
//! isolation entries moved after their users.

use super::*;

impl RouterActor {
    /// Moves every engine-made isolation entry to its user's live address, and disables
    /// it while the user is offline (the old address is never listed for someone else).
    pub(super) fn reconcile_isolation(
        &mut self,
        client: &mut Client,
        deadline: Instant,
    ) -> Result<(), RouterError> {
        let snapshot = self.cell.load();
        let fixes = isolation::plan(&snapshot.isolation, &snapshot.sessions);
        if fixes.is_empty() {
            return Ok(());
        }
        let mut entries = (*snapshot.isolation).clone();
        drop(snapshot);
        for fix in fixes {
            match client.address_list_set(&fix.id, &fix.address, fix.disabled, deadline) {
                Ok(()) => {
                    log::info!(
                        "router {}: isolation of {:?} {} {}",
                        self.config.id,
                        fix.user,
                        if fix.disabled { "parked at" } else { "now on" },
                        fix.address
                    );
                    if let Some(entry) = entries.iter_mut().find(|e| e.id == fix.id) {
                        entry.address = fix.address.into();
                        entry.disabled = fix.disabled;
                    }
                }
                Err(e) if e.is_connectivity_error() => return Err(e),
                Err(e) => log::warn!(
                    "router {}: cannot move the isolation of {:?}: {e}",
                    self.config.id,
                    fix.user
                ),
            }
        }
        let entries = Arc::new(entries);
        self.cell.update(|s| s.isolation = Arc::clone(&entries));
        Ok(())
    }

    /// Refreshes resource, sessions and secrets; publishes the snapshot and events.
    pub(super) fn poll(&mut self, client: &mut Client) -> Result<(), RouterError> {
        let deadline = Instant::now() + self.settings.command_timeout;
        self.read_lists(client, deadline, true)?;
        self.reconcile_isolation(client, deadline)
    }

    /// Re-reads the lists after `what` (a change, a batch) so its caller's next read sees
    /// it; a failure that is not the connection's is logged and the lists stay as they were.
    /// Returns the connection's error, which ends the session.
    pub(super) fn refresh_after(
        &mut self,
        client: &mut Client,
        deadline: Instant,
        what: &str,
    ) -> Option<Arc<RouterError>> {
        let error = self.read_lists(client, deadline, false).err()?;
        log::warn!(
            "router {}: cannot re-read lists after {what}: {error}",
            self.config.id
        );
        error.is_connectivity_error().then(|| Arc::new(error))
    }

    /// Reads the lists (and the resource when `with_resource`) in one round trip and
    /// publishes them with their events.
    fn read_lists(
        &mut self,
        client: &mut Client,
        deadline: Instant,
        with_resource: bool,
    ) -> Result<(), RouterError> {
        // Compare before building: a print whose words hash as the one that built the
        // published list is not parsed, and the list keeps its `Arc` (so readers that cache
        // what they built from it, like the HTTP layer's targets body, see nothing changed).
        let published = self.cell.load();
        let session_print = self.listed_sessions.as_ref().and_then(|(fp, list, at)| {
            (Arc::ptr_eq(list, &published.sessions) && at.elapsed() < UPTIME_REFRESH).then_some(*fp)
        });
        let secret_print = self
            .listed_secrets
            .as_ref()
            .and_then(|(fp, list)| Arc::ptr_eq(list, &published.secrets).then_some(*fp));
        let reading = client.poll_reading(
            with_resource,
            session_print,
            secret_print,
            ISOLATION_LIST,
            deadline,
        )?;
        self.report_times(&reading);
        if let Some((resource, rtt)) = reading.resource {
            let resource = resource?;
            let now = SystemTime::now();
            self.cell.update(|s| {
                s.resource = Some(resource);
                s.resource_at = Some(now);
                s.rtt_ms = rtt.map(|rtt| rtt.as_secs_f64() * 1000.0);
            });
        }
        let sessions = reading.sessions.0?;
        let secrets = reading.secrets.0?;
        let isolation = match reading.isolation.0 {
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
        let (sessions, session_print) = adopt(sessions, &published.sessions);
        if let Some(fingerprint) = session_print {
            self.listed_sessions = Some((fingerprint, Arc::clone(&sessions), Instant::now()));
        }
        let (secrets, secret_print) = adopt(secrets, &published.secrets);
        if let Some(fingerprint) = secret_print {
            self.listed_secrets = Some((fingerprint, Arc::clone(&secrets)));
        }
        let isolation = match isolation {
            Some(entries) if *published.isolation != entries => Arc::new(entries),
            _ => Arc::clone(&published.isolation),
        };
        // Only this function publishes secrets: the same `Arc` is the same list.
        let secrets_new = !Arc::ptr_eq(&secrets, &published.secrets);
        drop(published);
        self.cell.update(|s| {
            s.sessions = Arc::clone(&sessions);
            s.secrets = Arc::clone(&secrets);
            s.isolation = Arc::clone(&isolation);
            s.last_poll_at = Some(now);
        });
        self.session_events(&sessions);
        if !secrets_new && self.secrets_fingerprint.is_some() {
            return Ok(());
        }
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

    /// Each print's share of the round trip as a command time: the router answers them in
    /// order, so a print took from the previous one's answer to its own.
    fn report_times(&self, reading: &PollReading) {
        let mut answered: Vec<Duration> = [
            reading.resource.as_ref().and_then(|r| r.1),
            reading.sessions.1,
            reading.secrets.1,
            reading.isolation.1,
        ]
        .into_iter()
        .flatten()
        .collect();
        answered.sort();
        let mut previous = Duration::ZERO;
        for at in answered {
            self.observer
                .command_finished(self.config.id, at.saturating_sub(previous));
            previous = at;
        }
    }

    /// Session up/down events against the previous poll. Diffs by `.id` over borrowed ids
    /// and keeps the previous list by `Arc` (the snapshot's own), so no session is cloned
    /// unless an event needs it.
    fn session_events(&mut self, sessions: &Arc<Vec<ActiveSession>>) {
        if let Some(previous) = &self.previous_sessions {
            if Arc::ptr_eq(previous, sessions) {
                return;
            }
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
}

/// How long a session list whose print did not change (but for uptimes) is kept before it is
/// rebuilt anyway, so published uptimes are at most this stale.
const UPTIME_REFRESH: Duration = Duration::from_secs(60);

fn fingerprint_secrets(secrets: &[Secret]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for s in secrets {
        (&s.name, &s.profile, &s.remote_address, s.disabled).hash(&mut hasher);
    }
    hasher.finish()
}

/// The list to publish from a listing: the published one (same `Arc`) when the print was
/// the same or parsed into equal rows, else the new rows; with the new print's fingerprint.
fn adopt<T: PartialEq>(listing: Listing<T>, published: &Arc<Vec<T>>) -> (Arc<Vec<T>>, Option<u64>) {
    match listing {
        Listing::Same => (Arc::clone(published), None),
        Listing::Changed { rows, fingerprint } => {
            let list = if **published == rows {
                Arc::clone(published)
            } else {
                Arc::new(rows)
            };
            (list, Some(fingerprint))
        }
    }
}
