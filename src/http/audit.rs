//! Accountable writes: every write that can reach a router is recorded once in the audit
//! trail, a write may carry an `Idempotency-Key` (replayed, never run twice), and a write
//! whose caller was told 504 is completed when the router's late answer arrives.
//!
//! A write endpoint runs inside [`guarded`], which claims the key first and keeps the answer
//! after; the handler sends its change with [`WriteScope::run`], which records the entry and,
//! for an unanswered change, leaves a `late-answer` thread waiting for the router.

use super::dto;
use super::error::ApiError;
use super::request::ApiRequest;
use super::{ApiResponse, AppState};
use crate::fleet::{Command, FleetError, Job, RouterHandle, WriteError};
use crate::model::RouterId;
use crate::store::audit::{now_ms, AuditEntry, AuditFilter, AuditTrail, Begin, Outcome};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

type Reply = Result<ApiResponse, ApiError>;

/// Most `late-answer` threads at once; beyond it an unanswered change stays `unknown`.
const MAX_LATE_WAITERS: usize = 256;
static LATE_WAITERS: AtomicUsize = AtomicUsize::new(0);

/// The audit's view of one change.
#[derive(Debug, Clone)]
pub struct Change {
    pub router: Option<RouterId>,
    pub user: Option<String>,
    pub address: Option<String>,
    pub action: &'static str,
    /// The change in API terms; a password is `"(changed)"`.
    pub change: Value,
}

/// What an error says about whether the router was changed.
pub fn outcome_of(error: &FleetError) -> Outcome {
    match error {
        FleetError::RouterNotFound(_)
        | FleetError::Offline(_)
        | FleetError::QueueFull
        | FleetError::NotSent
        | FleetError::InvalidInput(_) => Outcome::NotSent,
        FleetError::Timeout | FleetError::ConnectionLost(_) | FleetError::Internal(_) => {
            Outcome::Unknown
        }
        FleetError::RouterRejected(_)
        | FleetError::InvalidValue { .. }
        | FleetError::Conflict(_)
        | FleetError::UserNotFound(_)
        | FleetError::UserOffline(_) => Outcome::Rejected,
    }
}

#[derive(Default)]
struct ScopeState {
    /// Changes recorded, and how many of them never reached a router.
    recorded: usize,
    not_sent: usize,
    /// A late answer will finish the key (the first change went unanswered).
    deferred: bool,
}

/// One write request: its route, its idempotency key, what it recorded.
pub struct WriteScope {
    pub route: String,
    key: Option<String>,
    trail: Arc<AuditTrail>,
    request_id: u64,
    client: String,
    state: Mutex<ScopeState>,
}

impl WriteScope {
    fn lock(&self) -> std::sync::MutexGuard<'_, ScopeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a change already done (or refused) with its outcome; returns the entry id.
    pub fn record(
        &self,
        change: &Change,
        outcome: Outcome,
        status: u16,
        error: Option<String>,
    ) -> String {
        let id = self.trail.next_id();
        {
            let mut state = self.lock();
            state.recorded += 1;
            if outcome == Outcome::NotSent {
                state.not_sent += 1;
            }
        }
        self.trail.record(AuditEntry {
            id: id.clone(),
            at_ms: now_ms(),
            request_id: self.request_id,
            client: self.client.clone(),
            route: self.route.clone(),
            router_id: change.router.map(|r| r.0),
            user: change.user.clone(),
            address: change.address.clone(),
            action: change.action.to_owned(),
            change: change.change.clone(),
            outcome,
            status,
            error,
        });
        id
    }

    /// Sends a change to `handle`, answers with `render` and records it. A change still
    /// unanswered at the deadline is answered 504 and recorded `unknown`; the router's late
    /// answer completes the entry (and, with a key, becomes the key's answer).
    pub fn run<T: Send + 'static>(
        &self,
        handle: &RouterHandle,
        change: Change,
        make: impl FnOnce(Job<T>) -> Command,
        render: impl Fn(Result<T, FleetError>) -> Reply + Send + 'static,
    ) -> Reply {
        match handle.send_write(make) {
            Ok(value) => {
                let reply = render(Ok(value));
                let status = reply.as_ref().map_or_else(|e| e.status, |r| r.status);
                self.record(&change, Outcome::Applied, status, None);
                reply
            }
            Err(WriteError::Failed(error)) => {
                let outcome = outcome_of(&error);
                let message = error.to_string();
                let reply = render(Err(error));
                let status = reply.as_ref().map_or_else(|e| e.status, |r| r.status);
                self.record(&change, outcome, status, Some(message));
                reply
            }
            Err(WriteError::Unanswered(unanswered)) => {
                let timeout = ApiError::from(FleetError::Timeout);
                let id = self.record(
                    &change,
                    Outcome::Unknown,
                    timeout.status,
                    Some(timeout.message.clone()),
                );
                let trail = Arc::clone(&self.trail);
                let key = self.key.clone();
                let first_try = {
                    let mut state = self.lock();
                    let first = state.recorded == 1 && key.is_some();
                    if first {
                        state.deferred = true;
                    }
                    first
                };
                if LATE_WAITERS.fetch_add(1, Ordering::SeqCst) >= MAX_LATE_WAITERS {
                    LATE_WAITERS.fetch_sub(1, Ordering::SeqCst);
                    if first_try {
                        if let Some(key) = &key {
                            let response = ApiResponse::from_error(&timeout);
                            trail.finish(key, response.status, body_text(&response), None);
                        }
                    }
                    return Err(timeout);
                }
                let original = ApiResponse::from_error(&timeout);
                let spawned = std::thread::Builder::new()
                    .name("late-answer".into())
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        let late = unanswered.wait();
                        LATE_WAITERS.fetch_sub(1, Ordering::SeqCst);
                        let (outcome, error, answer) = match late {
                            None => (Outcome::Unknown, None, None),
                            Some(Ok(value)) => (Outcome::Applied, None, Some(render(Ok(value)))),
                            Some(Err(e)) => {
                                let outcome = outcome_of(&e);
                                let message = e.to_string();
                                let outcome = if matches!(e, FleetError::Timeout) {
                                    Outcome::Unknown
                                } else {
                                    outcome
                                };
                                (outcome, Some(message), Some(render(Err(e))))
                            }
                        };
                        if late_changes_entry(outcome) {
                            trail.complete(&id, outcome, error);
                        }
                        let (true, Some(key)) = (first_try, key) else {
                            return;
                        };
                        match (outcome, answer) {
                            (Outcome::NotSent, _) => trail.release(&key),
                            (_, Some(answer)) => {
                                let response =
                                    answer.unwrap_or_else(|e| ApiResponse::from_error(&e));
                                let retry = retry_after(&response);
                                trail.finish(&key, response.status, body_text(&response), retry);
                            }
                            (_, None) => {
                                trail.finish(&key, original.status, body_text(&original), None)
                            }
                        }
                    });
                if spawned.is_err() {
                    LATE_WAITERS.fetch_sub(1, Ordering::SeqCst);
                    log::warn!("cannot start a late-answer thread; the change stays unknown");
                    if first_try {
                        if let Some(key) = &self.key {
                            let response = ApiResponse::from_error(&timeout);
                            self.trail
                                .finish(key, response.status, body_text(&response), None);
                        }
                    }
                }
                Err(timeout)
            }
        }
    }
}

fn late_changes_entry(outcome: Outcome) -> bool {
    outcome != Outcome::Unknown
}

fn body_text(response: &ApiResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

fn retry_after(response: &ApiResponse) -> Option<u32> {
    response
        .headers
        .iter()
        .find(|(name, _)| *name == "Retry-After")
        .and_then(|(_, v)| v.parse().ok())
}

/// What identifies a request for its key: method, path, query and body.
fn fingerprint(request: &ApiRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.method.as_bytes());
    hasher.update([0]);
    hasher.update(request.path.as_bytes());
    hasher.update([0]);
    let mut query = request.query.clone();
    query.sort();
    for (k, v) in &query {
        hasher.update(k.as_bytes());
        hasher.update([1]);
        hasher.update(v.as_bytes());
        hasher.update([2]);
    }
    hasher.update([0]);
    hasher.update(&request.body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_key(key: &str) -> bool {
    (1..=200).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Runs a write endpoint: claims the request's `Idempotency-Key` (replay, 422, 409), runs
/// `handler` with a scope that records its changes, and keeps the answer for the key.
pub fn guarded(
    state: &AppState,
    request: &ApiRequest,
    route: &'static str,
    handler: impl FnOnce(&WriteScope) -> Reply,
) -> Reply {
    let key = match request.idempotency_key.as_deref() {
        None => None,
        Some(key) if valid_key(key) => Some(key.to_owned()),
        Some(_) => {
            return Err(ApiError::field(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 200 printable ASCII characters",
            ))
        }
    };
    if let Some(key) = &key {
        match state.audit.begin(key, &fingerprint(request)) {
            Begin::Run => {}
            Begin::Replay(answer) => {
                let mut response = ApiResponse::raw_json(answer.status, answer.body);
                response
                    .headers
                    .push(("Idempotent-Replayed", "true".into()));
                if let Some(seconds) = answer.retry_after {
                    response.headers.push(("Retry-After", seconds.to_string()));
                }
                return Ok(response);
            }
            Begin::Mismatch => {
                return Err(ApiError::new(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                ))
            }
            Begin::InProgress => {
                return Err(ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        409,
                        "in_progress",
                        "a request with this Idempotency-Key is still running",
                    )
                })
            }
        }
    }
    let scope = WriteScope {
        route: format!("{} {route}", request.method),
        key: key.clone(),
        trail: Arc::clone(&state.audit),
        request_id: request.request_id,
        client: request.client.clone(),
        state: Mutex::new(ScopeState::default()),
    };
    let reply = handler(&scope);
    if let Some(key) = &key {
        let done = scope.lock();
        if done.deferred {
            // The late-answer thread finishes (or releases) the key.
        } else if done.recorded > 0 && done.not_sent == done.recorded {
            state.audit.release(key);
        } else {
            let response = match &reply {
                Ok(response) => response.clone(),
                Err(error) => ApiResponse::from_error(error),
            };
            state.audit.finish(
                key,
                response.status,
                body_text(&response),
                retry_after(&response),
            );
        }
    }
    reply
}

/// `GET /audit?router_id=&user=&since=&until=&limit=&page=`: newest first, a bare array,
/// `X-Total-Count` and `Link` as `/router/:id/users` answers them.
pub fn list(state: &AppState, request: &ApiRequest) -> Reply {
    let router_id = match request.query("router_id").filter(|r| !r.is_empty()) {
        None => None,
        Some(raw) => Some(raw.parse::<u64>().ok().filter(|&v| v > 0).ok_or_else(|| {
            ApiError::field(
                "router_id",
                format!("router_id must be a positive integer, got {raw:?}"),
            )
        })?),
    };
    let user = request
        .query("user")
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let time = |name: &str| -> Result<Option<u64>, ApiError> {
        match request.query(name).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(raw) => parse_time(raw).map(Some).ok_or_else(|| {
                ApiError::field(
                    name,
                    format!("{name} must be an RFC 3339 time or Unix seconds, got {raw:?}"),
                )
            }),
        }
    };
    let filter = AuditFilter {
        router_id,
        user,
        since_ms: time("since")?,
        until_ms: time("until")?,
    };
    let limit = super::handlers::positive_query(request, "limit", 100, 1000)?;
    let page = super::handlers::positive_query(request, "page", 1, 1_000_000)?;
    let (entries, total) = state.audit.query(&filter, (page - 1) * limit, limit);
    let rows: Vec<dto::AuditRow> = entries.iter().map(audit_row).collect();
    let body = serde_json::to_string(&rows)
        .map_err(|e| ApiError::new(500, "internal", format!("cannot encode the answer: {e}")))?;
    let mut response = ApiResponse::raw_json(200, body);
    response.headers.push(("X-Total-Count", total.to_string()));
    response.headers.push((
        "Link",
        super::handlers::link_header(request, "limit", page, limit, total),
    ));
    Ok(response)
}

fn audit_row(e: &AuditEntry) -> dto::AuditRow<'_> {
    dto::AuditRow {
        id: &e.id,
        at: format_ms(e.at_ms),
        request_id: e.request_id.to_string(),
        client: &e.client,
        route: &e.route,
        router_id: e.router_id,
        user: e.user.as_deref(),
        address: e.address.as_deref(),
        action: &e.action,
        change: &e.change,
        outcome: e.outcome.as_str(),
        status: e.status,
        error: e.error.as_deref(),
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn format_ms(ms: u64) -> String {
    match jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX)) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => String::new(),
    }
}

fn parse_time(raw: &str) -> Option<u64> {
    if let Ok(seconds) = raw.parse::<u64>() {
        return seconds.checked_mul(1000);
    }
    let ts: jiff::Timestamp = raw.parse().ok()?;
    u64::try_from(ts.as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_times() {
        assert!(valid_key("month-end-2026-05/alice"));
        assert!(!valid_key(""));
        assert!(!valid_key(&"x".repeat(201)));
        assert!(!valid_key("tab\there"));
        assert_eq!(parse_time("10"), Some(10_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(format_ms(1500), "1970-01-01T00:00:01.500Z");
        assert_eq!(parse_time("yesterday"), None);
    }
}
