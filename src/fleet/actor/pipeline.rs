//! A batch of changes on the router thread (`Command::Batch`, `POST /bulk`'s items for one
//! router): each change is resolved from the cached lists into the commands it needs, and
//! those are sent in pipelined waves with up to `bulk_in_flight` commands in flight.
//!
//! Changes for one user keep their order: a wave holds at most one step of one user's
//! changes, so a later change for a user already in flight waits for the next wave. What a
//! change did is applied to that user's view, so the next change for the user resolves
//! against it; a user the cache does not know, or whose view a refused command left in
//! doubt, is looked up live first (one more wave). Each change gets its own result: a
//! `!trap` fails only its change; a broken connection fails the changes whose commands were
//! written with the connection's error (outcome unknown) and marks every change not yet
//! written `router_offline` (never sent). Nothing is written after the batch's deadline
//! (those changes are `NotSent`). The cached lists are re-read once at the end.

use super::RouterActor;
use crate::fleet::command::{BatchOutcome, BatchWrite};
use crate::fleet::{isolation, FleetError, ISOLATION_LIST};
use crate::model::{ActiveSession, AddressListEntry, Secret};
use crate::router::{Answer, Client, Request, RequestOutcome, RouterError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// What the batch knows of one user: from the cache, or a live lookup, plus its own changes.
#[derive(Debug, Clone, Default)]
struct UserView {
    sessions: Vec<ActiveSession>,
    secret: Option<Secret>,
    /// Isolation entries naming the user, or (untagged) on one of the user's addresses.
    entries: Vec<AddressListEntry>,
}

impl UserView {
    fn build(
        user: &str,
        sessions: &[ActiveSession],
        secrets: &[Secret],
        entries: &[AddressListEntry],
    ) -> UserView {
        let sessions: Vec<ActiveSession> = sessions
            .iter()
            .filter(|s| s.name == user)
            .cloned()
            .collect();
        let secret = secrets.iter().find(|s| s.name == user).cloned();
        let mut addresses: Vec<&str> = sessions
            .iter()
            .map(|s| s.address.as_str())
            .filter(|a| !a.is_empty())
            .collect();
        if let Some(secret) = secret.as_ref().filter(|s| !s.remote_address.is_empty()) {
            addresses.push(&secret.remote_address);
        }
        let entries = entries
            .iter()
            .filter(|e| match isolation::tagged_user(&e.comment) {
                Some(tagged) => tagged == user,
                None => addresses.contains(&isolation::bare(&e.address)),
            })
            .cloned()
            .collect();
        UserView {
            sessions,
            secret,
            entries,
        }
    }

    /// The live session's address, else the secret's remote-address (as isolation by user
    /// finds it for a single call).
    fn address(&self, user: &str) -> Result<String, FleetError> {
        if let Some(session) = self.sessions.iter().find(|s| !s.address.is_empty()) {
            return Ok(session.address.to_string());
        }
        match &self.secret {
            Some(secret) if !secret.remote_address.is_empty() => {
                Ok(secret.remote_address.to_string())
            }
            Some(_) => Err(FleetError::UserOffline(user.to_owned())),
            None => Err(FleetError::UserNotFound(user.to_owned())),
        }
    }

    /// The view after `request` was done (`id`: an added entry's new `.id`).
    fn apply(&mut self, request: &Request, id: Option<String>) {
        match request {
            Request::AddEntry {
                list,
                address,
                comment,
            } => self.entries.push(AddressListEntry {
                id: id.unwrap_or_default().into(),
                list: list.as_str().into(),
                address: address.as_str().into(),
                comment: comment.as_deref().unwrap_or_default().into(),
                dynamic: false,
                disabled: false,
            }),
            Request::SetEntry {
                id,
                address,
                disabled,
            } => {
                if let Some(entry) = self.entries.iter_mut().find(|e| e.id == *id) {
                    entry.address = address.as_str().into();
                    entry.disabled = *disabled;
                }
            }
            Request::RemoveEntry(id) => self.entries.retain(|e| e.id != *id),
            Request::RemoveActive(id) => self.sessions.retain(|s| s.id != *id),
            Request::SetSecret { changes, .. } => {
                if let Some(secret) = &mut self.secret {
                    if let Some(profile) = &changes.profile {
                        secret.profile = profile.as_str().into();
                    }
                    if let Some(address) = &changes.remote_address {
                        secret.remote_address = address.as_str().into();
                    }
                    if let Some(comment) = &changes.comment {
                        secret.comment = comment.as_str().into();
                    }
                    if let Some(disabled) = changes.disabled {
                        secret.disabled = disabled;
                    }
                }
            }
            Request::RemoveSecret(_) => self.secret = None,
            Request::SessionsOf(_) | Request::SecretNamed(_) | Request::ListEntries(_) => {}
        }
    }
}

/// The commands a change needs, or (`Err`) its result when it needs none.
type Planned = Result<Vec<Request>, Result<(), FleetError>>;

/// The commands one change needs against `view`, or its result when it needs none.
fn plan(write: &BatchWrite, view: &UserView) -> Planned {
    let user = write.user();
    let tagged = || {
        view.entries
            .iter()
            .filter(|e| !e.dynamic && isolation::tagged_user(&e.comment) == Some(user))
    };
    match write {
        BatchWrite::Isolate { comment, .. } => {
            let address = view.address(user).map_err(Err)?;
            if let Some(entry) = tagged().next() {
                if isolation::bare(&entry.address) == address && !entry.disabled {
                    return Err(Ok(()));
                }
                return Ok(vec![Request::SetEntry {
                    id: entry.id.to_string(),
                    address,
                    disabled: false,
                }]);
            }
            Ok(vec![Request::AddEntry {
                list: ISOLATION_LIST.to_owned(),
                address,
                comment: Some(isolation::tagged_comment(user, comment.as_deref())),
            }])
        }
        BatchWrite::Unisolate { .. } => {
            let mut removes: Vec<Request> = tagged()
                .map(|e| Request::RemoveEntry(e.id.to_string()))
                .collect();
            // Entries added by address before (untagged) go too, when the address is known.
            if let Ok(address) = view.address(user) {
                removes.extend(
                    view.entries
                        .iter()
                        .filter(|e| {
                            !e.dynamic
                                && isolation::bare(&e.address) == address
                                && isolation::tagged_user(&e.comment).is_none()
                        })
                        .map(|e| Request::RemoveEntry(e.id.to_string())),
                );
            }
            if removes.is_empty() {
                Err(Ok(()))
            } else {
                Ok(removes)
            }
        }
        BatchWrite::Kick { .. } => {
            let kicks: Vec<Request> = view
                .sessions
                .iter()
                .filter(|s| !s.id.is_empty())
                .map(|s| Request::RemoveActive(s.id.to_string()))
                .collect();
            if kicks.is_empty() {
                Err(Ok(()))
            } else {
                Ok(kicks)
            }
        }
        BatchWrite::UpdateSecret { changes, .. } => match &view.secret {
            Some(secret) => Ok(vec![Request::SetSecret {
                id: secret.id.to_string(),
                changes: changes.clone(),
            }]),
            None => Err(Err(FleetError::UserNotFound(user.to_owned()))),
        },
        BatchWrite::DeleteSecret { .. } => match &view.secret {
            Some(secret) => Ok(vec![Request::RemoveSecret(secret.id.to_string())]),
            None => Err(Err(FleetError::UserNotFound(user.to_owned()))),
        },
    }
}

/// A refusal that means the change is already as asked (isolation and kicks are idempotent).
fn already_done(request: &Request, error: &RouterError) -> bool {
    match request {
        Request::AddEntry { .. } => error.trap_starts_with("failure: already have such entry"),
        Request::RemoveEntry(_) | Request::RemoveActive(_) => {
            error.trap_starts_with("no such item")
        }
        _ => false,
    }
}

/// Where one change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not looked at yet.
    Start,
    /// Its live lookup is in this wave.
    LookingUp,
    /// Looked up: plan it from the fresh view.
    LookedUp,
    /// Its commands are in this wave.
    Writing,
    Finished,
}

/// What a change that was not written at all answers: the deadline passed, or the
/// connection failed before it was its turn.
fn never_sent(send_until: Instant, error: &RouterError) -> FleetError {
    match error {
        RouterError::InvalidInput(m) => FleetError::InvalidInput(m.clone()),
        _ if Instant::now() >= send_until => FleetError::NotSent,
        other => FleetError::Offline(other.to_string()),
    }
}

impl RouterActor {
    /// Runs a batch; returns each change's result and the error that ends the connection,
    /// when one did.
    pub(super) fn run_batch(
        &mut self,
        client: &mut Client,
        writes: &[BatchWrite],
        send_until: Instant,
    ) -> (BatchOutcome, Option<Arc<RouterError>>) {
        let snapshot = self.cell.load();
        let timeout = self.settings.command_timeout + self.settings.late_answer_grace;
        let window = self.settings.bulk_in_flight.max(1);
        let mut views: HashMap<&str, UserView> = HashMap::new();
        // Users whose view a refused command left in doubt: looked up live next time.
        let mut doubtful: HashSet<&str> = HashSet::new();
        // Kicks whose cached session was gone: tried once more after a live lookup (the
        // customer may have redialled), as the single call does.
        let mut kicks_retried: HashSet<usize> = HashSet::new();
        let mut stages = vec![Stage::Start; writes.len()];
        let mut results: Vec<Option<Result<(), FleetError>>> = vec![None; writes.len()];
        let mut applied = false;
        let mut lost: Option<Arc<RouterError>> = None;
        while lost.is_none() && stages.iter().any(|s| *s != Stage::Finished) {
            let mut wave: Vec<Request> = Vec::new();
            // (change, range of its requests in the wave)
            let mut owners: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
            let mut busy: HashSet<&str> = HashSet::new();
            for (k, write) in writes.iter().enumerate() {
                let user = write.user();
                if stages[k] == Stage::Finished || !busy.insert(user) {
                    continue;
                }
                if stages[k] == Stage::Start {
                    let online = snapshot.sessions.iter().any(|s| s.name == user);
                    let known = online || snapshot.secrets.iter().any(|s| s.name == user);
                    // A kick of a user the cache shows offline asks the router: a session
                    // that began after the last look must not be missed.
                    let kick_unseen = matches!(write, BatchWrite::Kick { .. }) && !online;
                    if doubtful.contains(user)
                        || (!views.contains_key(user) && (!known || kick_unseen))
                    {
                        let from = wave.len();
                        wave.push(Request::SessionsOf(user.to_owned()));
                        wave.push(Request::SecretNamed(user.to_owned()));
                        wave.push(Request::ListEntries(ISOLATION_LIST.to_owned()));
                        owners.push((k, from..wave.len()));
                        stages[k] = Stage::LookingUp;
                        continue;
                    }
                }
                let view = views.entry(user).or_insert_with(|| {
                    UserView::build(
                        user,
                        &snapshot.sessions,
                        &snapshot.secrets,
                        &snapshot.isolation,
                    )
                });
                match plan(write, view) {
                    Ok(requests) => {
                        let from = wave.len();
                        wave.extend(requests);
                        owners.push((k, from..wave.len()));
                        stages[k] = Stage::Writing;
                    }
                    Err(result) => {
                        // Done without a command: the user's next change may go now.
                        results[k] = Some(result);
                        stages[k] = Stage::Finished;
                        busy.remove(user);
                    }
                }
            }
            if wave.is_empty() {
                continue;
            }
            // Each wave counts as one command for the callers' admission estimate.
            self.load.begin();
            let outcomes = client.run_requests(&wave, window, send_until, timeout);
            if client.is_broken() && lost.is_none() {
                // It broke while writing, with nothing in flight to carry the error.
                lost = Some(Arc::new(RouterError::Closed));
            }
            for (k, range) in owners {
                let user = writes[k].user();
                let mine = &outcomes[range.clone()];
                let requests = &wave[range];
                if stages[k] == Stage::LookingUp {
                    match lookup_view(user, mine) {
                        Ok(view) => {
                            views.insert(user, view);
                            doubtful.remove(user);
                            stages[k] = Stage::LookedUp;
                        }
                        Err(outcome) => {
                            let error = self.failed(outcome, send_until, &mut lost);
                            results[k] = Some(Err(error));
                            stages[k] = Stage::Finished;
                        }
                    }
                    continue;
                }
                stages[k] = Stage::Finished;
                let mut result = Ok(());
                let mut wrote = false;
                let mut session_gone = false;
                for (request, outcome) in requests.iter().zip(mine) {
                    match &outcome.result {
                        Ok(answer) => {
                            wrote = true;
                            let id = match answer {
                                Answer::Done(id) => id.clone(),
                                _ => None,
                            };
                            if let Some(view) = views.get_mut(user) {
                                view.apply(request, id);
                            }
                        }
                        Err(e) if already_done(request, e) => {
                            wrote = true;
                            session_gone |= matches!(request, Request::RemoveActive(_));
                            // The router's state is as asked, but not the way the view
                            // thinks (e.g. an entry it did not list): look it up next time.
                            doubtful.insert(user);
                        }
                        Err(e) if result.is_ok() => {
                            wrote |= outcome.written;
                            result = Err(if outcome.written {
                                let cause = Arc::new(e.copied());
                                if cause.is_connectivity_error() {
                                    lost.get_or_insert_with(|| Arc::clone(&cause));
                                } else {
                                    doubtful.insert(user);
                                }
                                FleetError::from_router(cause)
                            } else if wrote {
                                // Part of the change was done before the connection failed.
                                FleetError::ConnectionLost(e.copied().into())
                            } else {
                                never_sent(send_until, e)
                            });
                        }
                        Err(_) => {}
                    }
                }
                applied |= wrote && result.is_ok();
                if session_gone && result.is_ok() && kicks_retried.insert(k) {
                    // Look the user up again and kick what is live now.
                    stages[k] = Stage::Start;
                    continue;
                }
                results[k] = Some(result);
            }
            if Instant::now() >= send_until && lost.is_none() {
                // Nothing more may be written: what is left was never sent.
                break;
            }
        }
        // Changes not finished: never written (a lookup alone changes nothing).
        let leftover = match &lost {
            Some(cause) if Instant::now() < send_until => FleetError::Offline(cause.to_string()),
            _ => FleetError::NotSent,
        };
        let outcome: BatchOutcome = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(leftover.clone())))
            .collect();
        if applied && lost.is_none() {
            let deadline = Instant::now() + self.settings.command_timeout;
            lost = self.refresh_after(client, deadline, "a batch");
        }
        (outcome, lost)
    }

    /// The result of a change whose lookup failed; notes a lost connection.
    fn failed(
        &self,
        outcome: &RequestOutcome,
        send_until: Instant,
        lost: &mut Option<Arc<RouterError>>,
    ) -> FleetError {
        let Err(e) = &outcome.result else {
            return FleetError::Internal("lookup answered the wrong shape".into());
        };
        if !outcome.written {
            return never_sent(send_until, e);
        }
        let cause = Arc::new(e.copied());
        if cause.is_connectivity_error() {
            lost.get_or_insert_with(|| Arc::clone(&cause));
        }
        match FleetError::from_router(cause) {
            // A read that failed changed nothing.
            FleetError::Timeout | FleetError::ConnectionLost(_) => {
                FleetError::Offline(e.to_string())
            }
            other => other,
        }
    }
}

/// The view a live lookup (sessions, secret, isolation list) gives, or the first failure.
fn lookup_view<'a>(
    user: &str,
    outcomes: &'a [RequestOutcome],
) -> Result<UserView, &'a RequestOutcome> {
    let mut sessions = Vec::new();
    let mut secret = None;
    let mut entries = Vec::new();
    for outcome in outcomes {
        match &outcome.result {
            Ok(Answer::Sessions(rows)) => sessions = rows.clone(),
            Ok(Answer::Secret(found)) => secret = found.clone(),
            Ok(Answer::Entries(rows)) => entries = rows.clone(),
            Ok(Answer::Done(_)) => {}
            Err(_) => return Err(outcome),
        }
    }
    let secrets: Vec<Secret> = secret.into_iter().collect();
    Ok(UserView::build(user, &sessions, &secrets, &entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretChanges;

    fn view() -> UserView {
        let sessions = [ActiveSession {
            id: "*S1".into(),
            name: "alice".into(),
            address: "10.0.0.5".into(),
            ..ActiveSession::default()
        }];
        let secrets = [
            Secret {
                id: "*A".into(),
                name: "alice".into(),
                ..Secret::default()
            },
            Secret {
                id: "*B".into(),
                name: "bob".into(),
                ..Secret::default()
            },
        ];
        let entry = |id: &str, address: &str, comment: &str| AddressListEntry {
            id: id.into(),
            list: ISOLATION_LIST.into(),
            address: address.into(),
            comment: comment.into(),
            dynamic: false,
            disabled: false,
        };
        let entries = [
            // Routers may show an address entry with its /32: the same address.
            entry("*1", "10.0.0.5/32", "by hand"),
            entry("*2", "10.0.0.9", "net-engine:user=bob"),
            entry("*3", "10.0.0.7", "someone else"),
        ];
        UserView::build("alice", &sessions, &secrets, &entries)
    }

    #[test]
    fn changes_resolve_from_the_view() {
        let alice = || "alice".to_owned();
        let mut v = view();
        assert_eq!(v.entries.len(), 1, "only alice's address or tag: {v:?}");
        let cases: Vec<(BatchWrite, Planned)> = vec![
            (
                BatchWrite::Isolate {
                    user: alice(),
                    comment: Some("unpaid".into()),
                },
                Ok(vec![Request::AddEntry {
                    list: ISOLATION_LIST.into(),
                    address: "10.0.0.5".into(),
                    comment: Some("net-engine:user=alice; unpaid".into()),
                }]),
            ),
            (
                BatchWrite::Unisolate { user: alice() },
                Ok(vec![Request::RemoveEntry("*1".into())]),
            ),
            (
                BatchWrite::Kick { user: alice() },
                Ok(vec![Request::RemoveActive("*S1".into())]),
            ),
            (
                BatchWrite::DeleteSecret { user: alice() },
                Ok(vec![Request::RemoveSecret("*A".into())]),
            ),
        ];
        for (write, expected) in cases {
            assert_eq!(plan(&write, &v), expected, "{write:?}");
        }
        // After the add, isolating again needs nothing; the entry moves with the user.
        let add = Request::AddEntry {
            list: ISOLATION_LIST.into(),
            address: "10.0.0.5".into(),
            comment: Some("net-engine:user=alice".into()),
        };
        v.apply(&add, Some("*9".into()));
        let isolate = BatchWrite::Isolate {
            user: alice(),
            comment: None,
        };
        assert_eq!(plan(&isolate, &v), Err(Ok(())));
        v.sessions[0].address = "10.0.0.6".into();
        assert_eq!(
            plan(&isolate, &v),
            Ok(vec![Request::SetEntry {
                id: "*9".into(),
                address: "10.0.0.6".into(),
                disabled: false
            }])
        );
        // Without a secret the secret changes are user_not_found, and an offline user
        // without an address cannot be isolated.
        v.apply(&Request::RemoveSecret("*A".into()), None);
        let update = BatchWrite::UpdateSecret {
            user: alice(),
            changes: SecretChanges::default(),
        };
        assert_eq!(
            plan(&update, &v),
            Err(Err(FleetError::UserNotFound("alice".into())))
        );
        v.apply(&Request::RemoveActive("*S1".into()), None);
        assert_eq!(
            plan(&isolate, &v),
            Err(Err(FleetError::UserNotFound("alice".into())))
        );
    }
}
