//! `POST /api/v1/bulk`: many changes in one call (the month-end run). Each item answers for
//! itself (`ok`, `failed` with the code the single call would give, `not_sent`); routers run
//! side by side; one router's items go to its thread as one batch, pipelined there with up
//! to `BULK_IN_FLIGHT` commands in flight, in order for each user; a total deadline marks
//! the items it did not reach `not_sent`. Every item is recorded in the audit trail.

use super::audit::{outcome_of, Change, WriteScope};
use super::dto;
use super::error::ApiError;
use super::handlers::{reply, resolve_router, update_change, Target};
use super::request::ApiRequest;
use super::validate;
use super::{ApiResponse, AppState};
use crate::fleet::{BatchWrite, FleetError, ISOLATION_LIST};
use crate::model::{RouterId, SecretChanges};
use crate::store::audit::Outcome;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most operations per call.
pub const MAX_OPERATIONS: usize = 1000;
/// Most routers worked on at once (each holds one waiter slot of the fleet's budget).
const PARALLEL_ROUTERS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Isolate,
    Unisolate,
    Kick,
    SetProfile,
    Disable,
    Enable,
    Delete,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "isolate" => Op::Isolate,
            "unisolate" => Op::Unisolate,
            "kick" => Op::Kick,
            "set_profile" => Op::SetProfile,
            "disable" => Op::Disable,
            "enable" => Op::Enable,
            "delete" => Op::Delete,
            _ => return None,
        })
    }
}

/// A checked item, ready to send.
struct Item {
    index: usize,
    op: Op,
    op_name: String,
    user: String,
    router: RouterId,
    profile: Option<String>,
    comment: Option<String>,
}

fn failed(
    index: usize,
    op: String,
    user: Option<String>,
    router: Option<u64>,
    error: &ApiError,
) -> Box<dto::BulkResult> {
    Box::new(dto::BulkResult {
        index,
        op,
        user,
        router_id: router,
        status: "failed",
        code: Some(error.code),
        error: Some(error.message.clone()),
        audit_id: None,
    })
}

/// Checks one operation; `Err` is the item's `failed` result.
fn check(state: &AppState, index: usize, value: &Value) -> Result<Item, Box<dto::BulkResult>> {
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    let op_name = text("op").unwrap_or_default();
    let user = text("user");
    let router_id = match value.get("router_id") {
        None | Some(Value::Null) => None,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(id) if id > 0 => Some(id),
            _ => {
                let e = ApiError::field("router_id", "router_id must be a positive integer");
                return Err(failed(index, op_name, user, None, &e));
            }
        },
    };
    let fail = |e: ApiError| failed(index, op_name.clone(), user.clone(), router_id, &e);
    if !value.is_object() {
        return Err(fail(ApiError::field(
            "operations",
            "each operation must be an object",
        )));
    }
    let Some(op) = Op::parse(&op_name) else {
        return Err(fail(ApiError::field(
            "op",
            format!("op must be isolate, unisolate, kick, set_profile, disable, enable or delete, got {op_name:?}"),
        )));
    };
    let Some(name) = user.clone() else {
        return Err(fail(ApiError::field("user", "user is required")));
    };
    validate::name("user", &name).map_err(&fail)?;
    let profile = text("profile");
    match (&profile, op) {
        (None, Op::SetProfile) => {
            return Err(fail(ApiError::field("profile", "profile is required")))
        }
        (Some(p), _) => validate::name("profile", p).map_err(&fail)?,
        _ => {}
    }
    let comment = text("comment");
    if let Some(c) = &comment {
        validate::comment("comment", c).map_err(&fail)?;
    }
    let target = match op {
        Op::Isolate | Op::Unisolate | Op::Kick => Target::User(&name),
        _ => Target::Secret(&name),
    };
    let router = resolve_router(state, router_id, target).map_err(&fail)?;
    if state.fleet.get(router).is_err() {
        return Err(fail(ApiError::from(FleetError::RouterNotFound(router))));
    }
    Ok(Item {
        index,
        op,
        op_name,
        user: name,
        router,
        profile,
        comment,
    })
}

fn change_of(item: &Item) -> Change {
    let secret = |changes: SecretChanges, action| {
        update_change(item.router, &item.user, &changes, false, action)
    };
    match item.op {
        Op::Isolate | Op::Unisolate => Change {
            router: Some(item.router),
            user: Some(item.user.clone()),
            address: None,
            action: if item.op == Op::Isolate {
                "isolate"
            } else {
                "unisolate"
            },
            change: json!({"list": ISOLATION_LIST, "comment": item.comment, "bulk": true}),
        },
        Op::Kick => Change {
            router: Some(item.router),
            user: Some(item.user.clone()),
            address: None,
            action: "kick",
            change: json!({"bulk": true}),
        },
        Op::Delete => Change {
            router: Some(item.router),
            user: Some(item.user.clone()),
            address: None,
            action: "delete_secret",
            change: json!({"bulk": true}),
        },
        Op::SetProfile => secret(
            SecretChanges {
                profile: item.profile.clone(),
                ..SecretChanges::default()
            },
            "set_profile",
        ),
        Op::Disable | Op::Enable => secret(
            SecretChanges {
                disabled: Some(item.op == Op::Disable),
                ..SecretChanges::default()
            },
            if item.op == Op::Disable {
                "disable"
            } else {
                "enable"
            },
        ),
    }
}

/// The fleet's change for one item.
fn write_of(item: &Item) -> BatchWrite {
    let user = item.user.clone();
    match item.op {
        Op::Isolate => BatchWrite::Isolate {
            user,
            comment: item.comment.clone(),
        },
        Op::Unisolate => BatchWrite::Unisolate { user },
        Op::Kick => BatchWrite::Kick { user },
        Op::Delete => BatchWrite::DeleteSecret { user },
        Op::SetProfile | Op::Disable | Op::Enable => BatchWrite::UpdateSecret {
            user,
            changes: SecretChanges {
                profile: item.profile.clone().filter(|_| item.op == Op::SetProfile),
                disabled: match item.op {
                    Op::Disable => Some(true),
                    Op::Enable => Some(false),
                    _ => None,
                },
                ..SecretChanges::default()
            },
        },
    }
}

const DEADLINE_PASSED: &str = "the bulk call's deadline passed before this item was sent";

/// Records one item's outcome and builds its result.
fn finish(scope: &WriteScope, item: &Item, outcome: Result<(), FleetError>) -> dto::BulkResult {
    let change = change_of(item);
    let id = match &outcome {
        Ok(()) => scope.record(&change, Outcome::Applied, 200, None),
        Err(FleetError::NotSent) => {
            scope.record(&change, Outcome::NotSent, 504, Some(DEADLINE_PASSED.into()))
        }
        Err(e) => {
            let status = ApiError::from(e.clone()).status;
            scope.record(&change, outcome_of(e), status, Some(e.to_string()))
        }
    };
    result_of(item, outcome, id)
}

/// One router's items, as one batch (pipelined on the router thread, in order per user).
fn run_router(
    state: &AppState,
    scope: &WriteScope,
    items: &[Item],
    deadline: Instant,
) -> Vec<dto::BulkResult> {
    let Some(router) = items.first().map(|i| i.router) else {
        return Vec::new();
    };
    let outcomes: Vec<Result<(), FleetError>> = match state.fleet.get(router) {
        Err(e) => vec![Err(e); items.len()],
        Ok(_) if Instant::now() >= deadline => vec![Err(FleetError::NotSent); items.len()],
        Ok(handle) => match handle.batch(items.iter().map(write_of).collect(), deadline) {
            Ok(outcomes) if outcomes.len() == items.len() => outcomes,
            Ok(_) => vec![
                Err(FleetError::Internal(
                    "the router thread answered a batch with the wrong number of results".into()
                ));
                items.len()
            ],
            Err(e) => vec![Err(e); items.len()],
        },
    };
    items
        .iter()
        .zip(outcomes)
        .map(|(item, outcome)| finish(scope, item, outcome))
        .collect()
}

fn result_of(item: &Item, outcome: Result<(), FleetError>, audit_id: String) -> dto::BulkResult {
    let base = dto::BulkResult {
        index: item.index,
        op: item.op_name.clone(),
        user: Some(item.user.clone()),
        router_id: Some(item.router.0),
        status: "ok",
        code: None,
        error: None,
        audit_id: Some(audit_id),
    };
    match outcome {
        Ok(()) => base,
        Err(e) => {
            let not_sent = outcome_of(&e) == Outcome::NotSent;
            let api = ApiError::from(e);
            dto::BulkResult {
                status: if not_sent { "not_sent" } else { "failed" },
                code: Some(api.code),
                error: Some(api.message),
                ..base
            }
        }
    }
}

pub fn run(
    state: &AppState,
    request: &ApiRequest,
    scope: &WriteScope,
) -> Result<ApiResponse, ApiError> {
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::new(400, "bad_json", format!("the body is not valid JSON: {e}")))?;
    let Some(operations) = body.get("operations").and_then(Value::as_array) else {
        return Err(ApiError::new(
            400,
            "bad_json",
            "the body must be an object with an operations array",
        ));
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ApiError::field(
            "operations",
            format!(
                "at most {MAX_OPERATIONS} operations per call, got {}",
                operations.len()
            ),
        ));
    }
    let timeout = match request.query("timeout_s") {
        None | Some("") => Duration::from_secs(60),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|&s| (1..=600).contains(&s))
            .map(Duration::from_secs)
            .ok_or_else(|| {
                ApiError::field(
                    "timeout_s",
                    format!("timeout_s must be 1 to 600, got {raw:?}"),
                )
            })?,
    };
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<dto::BulkResult>> = (0..operations.len()).map(|_| None).collect();
    let mut by_router: BTreeMap<RouterId, Vec<Item>> = BTreeMap::new();
    for (index, value) in operations.iter().enumerate() {
        match check(state, index, value) {
            Ok(item) => by_router.entry(item.router).or_default().push(item),
            Err(result) => {
                let change = Change {
                    router: result.router_id.map(RouterId),
                    user: result.user.clone(),
                    address: None,
                    action: "bulk_item",
                    change: value.clone(),
                };
                let id = scope.record(&change, Outcome::NotSent, 400, result.error.clone());
                results[index] = Some(dto::BulkResult {
                    audit_id: Some(id),
                    ..*result
                });
            }
        }
    }
    let queue = Mutex::new(by_router.into_values().collect::<Vec<_>>());
    let done = Mutex::new(Vec::new());
    let workers = queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
        .min(PARALLEL_ROUTERS);
    std::thread::scope(|threads| {
        for _ in 0..workers {
            threads.spawn(|| loop {
                let Some(items) = queue.lock().unwrap_or_else(PoisonError::into_inner).pop() else {
                    return;
                };
                let local = run_router(state, scope, &items, deadline);
                done.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(local);
            });
        }
    });
    for result in done.into_inner().unwrap_or_else(PoisonError::into_inner) {
        let index = result.index;
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(result);
        }
    }
    let results: Vec<dto::BulkResult> = results.into_iter().flatten().collect();
    let count = |status: &str| results.iter().filter(|r| r.status == status).count();
    let body = dto::BulkBody {
        ok: count("ok"),
        failed: count("failed"),
        not_sent: count("not_sent"),
        results,
    };
    reply(200, &body)
}
