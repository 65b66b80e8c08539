//! One plain function per endpoint: owned request in, response or `ApiError` out.
//!
//! Handlers validate every input before anything reaches a router, read cached data from
//! snapshots, and send changes through `RouterHandle`. They never see a RouterOS word.

use super::error::ApiError;
use super::request::{percent_decode, ApiRequest, JsonBody};
use super::routes::Params;
use super::validate;
use super::{ApiResponse, AppState};
use crate::fleet::{IsolateRequest, RouterHandle, RouterSnapshot, RouterState, TrafficSource};
use crate::model::{parse_duration_secs, rfc3339, RouterId};
use crate::model::{NewSecret, SecretChanges};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::SystemTime;

type Reply = Result<ApiResponse, ApiError>;

fn router_id_param(params: &Params) -> Result<RouterId, ApiError> {
    let raw = params.get("id").unwrap_or_default();
    raw.parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
        .map(RouterId)
        .ok_or_else(|| {
            ApiError::field(
                "id",
                format!("router id must be a positive integer, got {raw:?}"),
            )
        })
}

fn handle_for(state: &AppState, id: RouterId) -> Result<Arc<RouterHandle>, ApiError> {
    Ok(state.fleet.get(id)?)
}

fn user_param(params: &Params) -> Result<String, ApiError> {
    let user = percent_decode(params.get("user").unwrap_or_default());
    validate::name("user", &user)?;
    Ok(user)
}

fn opt_time(time: Option<SystemTime>) -> Value {
    time.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

pub fn health(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    let snapshots = state.fleet.snapshots();
    let online = snapshots
        .iter()
        .filter(|s| s.state == RouterState::Online)
        .count();
    Ok(ApiResponse::json(
        200,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "routers_total": snapshots.len(),
            "routers_online": online,
            "uptime_s": state.started.elapsed().as_secs(),
        }),
    ))
}

fn router_json(s: &RouterSnapshot) -> Value {
    json!({
        "id": s.id.0,
        "name": s.name,
        "host": s.host,
        "port": s.port,
        "state": s.state.as_str(),
        "since": rfc3339(s.since),
        "last_error": s.last_error,
        "identity": s.identity,
        "version": s.resource.as_ref().map(|r| r.version.clone()),
        "board": s.resource.as_ref().map(|r| r.board_name.clone()),
        "active_sessions": s.sessions.len(),
        "last_poll_at": opt_time(s.last_poll_at),
        "rtt_ms": s.rtt_ms.map(|ms| (ms * 100.0).round() / 100.0),
    })
}

pub fn routers(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    let routers: Vec<Value> = state
        .fleet
        .snapshots()
        .iter()
        .map(|s| router_json(s))
        .collect();
    Ok(ApiResponse::json(200, &json!({ "routers": routers })))
}

pub fn routers_reload(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    let report = state.hooks.reload().map_err(|e| {
        ApiError::new(
            503,
            "registry_unavailable",
            format!("cannot read the router registry: {e}"),
        )
    })?;
    Ok(ApiResponse::json(
        200,
        &json!({"added": report.added, "removed": report.removed, "restarted": report.restarted}),
    ))
}

pub fn monitoring_targets(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    Ok(ApiResponse::raw_json(
        200,
        state.targets.body(&state.fleet.snapshots()),
    ))
}

pub fn router_health(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let handle = handle_for(state, id)?;
    let live = match request.query("live") {
        None | Some("0") | Some("false") | Some("") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            return Err(ApiError::field(
                "live",
                format!("live must be 1 or 0, got {other:?}"),
            ))
        }
    };
    let (resource, sampled_at) = if live {
        (handle.live_resource()?, SystemTime::now())
    } else {
        let snapshot = handle.snapshot();
        match (&snapshot.resource, snapshot.resource_at) {
            (Some(resource), Some(at)) => (resource.clone(), at),
            _ => {
                let reason = snapshot
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not polled yet".into());
                return Err(crate::fleet::FleetError::Offline(reason).into());
            }
        }
    };
    Ok(ApiResponse::json(
        200,
        &json!({
            "router_id": id.0,
            "cpu_load": resource.cpu_load,
            "memory_used": resource.total_memory.saturating_sub(resource.free_memory),
            "memory_total": resource.total_memory,
            "uptime": resource.uptime,
            "uptime_s": parse_duration_secs(&resource.uptime),
            "board": resource.board_name,
            "version": resource.version,
            "architecture": resource.architecture_name,
            "sampled_at": rfc3339(sampled_at),
            "live": live,
        }),
    ))
}

/// One row of the users table, built from a secret and its live session.
struct UserRow {
    name: String,
    status: &'static str,
    ip: Option<String>,
    uptime: Option<String>,
    uptime_s: Option<u64>,
    profile: String,
    service: String,
    caller_id: Option<String>,
    comment: String,
}

impl UserRow {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name, "status": self.status, "ip": self.ip, "uptime": self.uptime,
            "uptime_s": self.uptime_s, "profile": self.profile, "service": self.service,
            "caller_id": self.caller_id, "comment": self.comment,
        })
    }
}

fn user_rows(snapshot: &RouterSnapshot) -> Vec<UserRow> {
    let mut sessions: std::collections::HashMap<&str, &crate::model::ActiveSession> = snapshot
        .sessions
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut rows = Vec::with_capacity(snapshot.secrets.len());
    for secret in snapshot.secrets.iter() {
        let session = sessions.remove(secret.name.as_str());
        let status = match (session, secret.disabled) {
            (Some(_), _) => "connected",
            (None, true) => "disabled",
            (None, false) => "offline",
        };
        rows.push(UserRow {
            name: secret.name.clone(),
            status,
            ip: session.map(|s| s.address.clone()).filter(|a| !a.is_empty()),
            uptime: session.map(|s| s.uptime.clone()),
            uptime_s: session.and_then(|s| parse_duration_secs(&s.uptime)),
            profile: secret.profile.clone(),
            service: if secret.service.is_empty() {
                "any".into()
            } else {
                secret.service.clone()
            },
            caller_id: session
                .map(|s| s.caller_id.clone())
                .filter(|c| !c.is_empty()),
            comment: secret.comment.clone(),
        });
    }
    // Sessions without a local secret (e.g. RADIUS users) are connected users too.
    for session in sessions.into_values() {
        rows.push(UserRow {
            name: session.name.clone(),
            status: "connected",
            ip: Some(session.address.clone()).filter(|a| !a.is_empty()),
            uptime: Some(session.uptime.clone()),
            uptime_s: parse_duration_secs(&session.uptime),
            profile: String::new(),
            service: session.service.clone(),
            caller_id: Some(session.caller_id.clone()).filter(|c| !c.is_empty()),
            comment: String::new(),
        });
    }
    rows
}

fn positive_query(
    request: &ApiRequest,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match request.query(name) {
        None | Some("") => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|&v| v >= 1 && v <= max)
            .ok_or_else(|| {
                ApiError::field(
                    name,
                    format!("{name} must be a number from 1 to {max}, got {raw:?}"),
                )
            }),
    }
}

fn ip_sort_key(ip: &Option<String>) -> (u8, u32) {
    match ip
        .as_deref()
        .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
    {
        Some(addr) => (0, u32::from(addr)),
        None => (1, 0),
    }
}

pub fn router_users(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let handle = handle_for(state, id)?;
    let status = match request.query("status") {
        None | Some("") => None,
        Some(s @ ("connected" | "offline" | "disabled")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::field(
                "status",
                format!("status must be connected, offline or disabled, got {other:?}"),
            ))
        }
    };
    let q = request.query("q").unwrap_or_default().to_lowercase();
    let page = positive_query(request, "page", 1, 1_000_000)?;
    let per_page = positive_query(request, "per_page", 50, 1000)?;
    let sort = request
        .query("sort")
        .filter(|s| !s.is_empty())
        .unwrap_or("name");
    if !["name", "status", "ip", "uptime", "profile"].contains(&sort) {
        return Err(ApiError::field(
            "sort",
            "sort must be one of name, status, ip, uptime, profile",
        ));
    }
    let descending = match request.query("order") {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::field(
                "order",
                format!("order must be asc or desc, got {other:?}"),
            ))
        }
    };
    let snapshot = handle.snapshot();
    let mut rows: Vec<UserRow> = user_rows(&snapshot)
        .into_iter()
        .filter(|r| status.as_deref().is_none_or(|s| r.status == s))
        .filter(|r| {
            q.is_empty()
                || r.name.to_lowercase().contains(&q)
                || r.ip.as_deref().is_some_and(|ip| ip.contains(&q))
                || r.comment.to_lowercase().contains(&q)
        })
        .collect();
    match sort {
        "status" => rows.sort_by(|a, b| a.status.cmp(b.status).then_with(|| a.name.cmp(&b.name))),
        "ip" => rows.sort_by(|a, b| {
            ip_sort_key(&a.ip)
                .cmp(&ip_sort_key(&b.ip))
                .then_with(|| a.name.cmp(&b.name))
        }),
        "uptime" => rows.sort_by(|a, b| {
            a.uptime_s
                .cmp(&b.uptime_s)
                .then_with(|| a.name.cmp(&b.name))
        }),
        "profile" => {
            rows.sort_by(|a, b| a.profile.cmp(&b.profile).then_with(|| a.name.cmp(&b.name)))
        }
        _ => rows.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    if descending {
        rows.reverse();
    }
    let total = rows.len();
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = start.saturating_add(per_page).min(total);
    let users: Vec<Value> = rows[start..end].iter().map(UserRow::to_json).collect();
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "total": total, "page": page, "per_page": per_page, "users": users}),
    ))
}

pub fn router_profiles(state: &AppState, _: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let profiles = handle_for(state, id)?.profiles()?;
    let profiles: Vec<Value> = profiles
        .iter()
        .map(|p| json!({"name": p.name, "rate_limit": p.rate_limit}))
        .collect();
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "profiles": profiles}),
    ))
}

fn source_name(source: TrafficSource) -> &'static str {
    match source {
        TrafficSource::Queue => "queue",
        TrafficSource::PppoeQueue => "pppoe_queue",
        TrafficSource::TargetQueue => "target_queue",
        TrafficSource::MonitorTraffic => "monitor_traffic",
    }
}

pub fn router_traffic(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let user = request.query("user").unwrap_or_default().to_owned();
    validate::name("user", &user)?;
    let handle = handle_for(state, id)?;
    let reading = handle.traffic(&user)?;
    Ok(ApiResponse::json(
        200,
        &json!({
            "router_id": id.0,
            "user": reading.user,
            "source": source_name(reading.source),
            "queue": reading.queue,
            "upload_bps": reading.upload_bps,
            "download_bps": reading.download_bps,
            "sampled_at": rfc3339(reading.sampled_at),
        }),
    ))
}

pub fn sync(state: &AppState, _: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let outcome = handle_for(state, id)?.refresh()?;
    let stored = state
        .hooks
        .store_secrets(id, &outcome.secrets, &outcome.sessions)
        .map_err(|e| {
            ApiError::new(
                503,
                "database_unavailable",
                format!("router refreshed, but storing users failed: {e}"),
            )
        })?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "secrets": outcome.secrets.len(), "active": outcome.sessions.len(), "stored": stored}),
    ))
}

fn opt_validated(
    body: &mut JsonBody,
    field: &str,
    check: fn(&str, &str) -> Result<(), ApiError>,
) -> Result<Option<String>, ApiError> {
    let value = body.opt_string(field)?;
    if let Some(value) = &value {
        check(field, value)?;
    }
    Ok(value)
}

pub fn secret_create(state: &AppState, request: &ApiRequest, _: &Params) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let id = RouterId(body.required_id("router_id")?);
    let user = body.required_string("user")?;
    validate::name("user", &user)?;
    let password = body.required_string("password")?;
    validate::password("password", &password)?;
    let secret = NewSecret {
        name: user.clone(),
        password,
        profile: opt_validated(&mut body, "profile", validate::name)?,
        service: opt_validated(&mut body, "service", validate::service)?,
        local_address: opt_validated(&mut body, "local_ip", validate::ipv4)?,
        remote_address: opt_validated(&mut body, "remote_ip", validate::ipv4)?,
        comment: opt_validated(&mut body, "comment", validate::comment)?,
        disabled: body.opt_bool("disabled")?,
    };
    body.finish()?;
    let new_id = handle_for(state, id)?.add_secret(secret)?;
    Ok(ApiResponse::json(
        201,
        &json!({"router_id": id.0, "user": user, "id": new_id}),
    ))
}

pub fn secret_update(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let user = user_param(params)?;
    let mut body = JsonBody::parse(&request.body)?;
    let id = RouterId(body.required_id("router_id")?);
    let changes = SecretChanges {
        password: opt_validated(&mut body, "password", validate::password)?,
        profile: opt_validated(&mut body, "profile", validate::name)?,
        remote_address: opt_validated(&mut body, "remote_ip", validate::ipv4)?,
        comment: opt_validated(&mut body, "comment", validate::comment)?,
        disabled: body.opt_bool("disabled")?,
    };
    let kick = body.opt_bool("kick")?.unwrap_or(false);
    body.finish()?;
    if changes.changed_fields().is_empty() && !kick {
        return Err(ApiError::new(
            400,
            "invalid_field",
            "nothing to change: give profile, password, disabled, comment, remote_ip or kick",
        ));
    }
    let outcome = handle_for(state, id)?.update_secret(&user, changes, kick)?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "user": user, "updated": outcome.updated, "kicked": outcome.kicked}),
    ))
}

fn query_router_id(request: &ApiRequest) -> Result<RouterId, ApiError> {
    let raw = request
        .query("router_id")
        .ok_or_else(|| ApiError::field("router_id", "router_id is required"))?;
    raw.parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .map(RouterId)
        .ok_or_else(|| {
            ApiError::field(
                "router_id",
                format!("router_id must be a positive integer, got {raw:?}"),
            )
        })
}

pub fn secret_delete(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let user = user_param(params)?;
    let id = query_router_id(request)?;
    let kick = match request.query("kick") {
        None | Some("") | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            return Err(ApiError::field(
                "kick",
                format!("kick must be 1 or 0, got {other:?}"),
            ))
        }
    };
    let kicked = handle_for(state, id)?.delete_secret(&user, kick)?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "user": user, "deleted": true, "kicked": kicked}),
    ))
}

pub fn kick(state: &AppState, request: &ApiRequest, _: &Params) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let id = RouterId(body.required_id("router_id")?);
    let user = body.required_string("user")?;
    validate::name("user", &user)?;
    body.finish()?;
    let kicked = handle_for(state, id)?.kick(&user)?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "user": user, "kicked": kicked}),
    ))
}

pub fn isolate(state: &AppState, request: &ApiRequest, _: &Params) -> Reply {
    let mut body = JsonBody::parse(&request.body)?;
    let id = RouterId(body.required_id("router_id")?);
    let action = body.required_string("action")?;
    let add = match action.as_str() {
        "add" => true,
        "remove" => false,
        other => {
            return Err(ApiError::field(
                "action",
                format!("action must be add or remove, got {other:?}"),
            ))
        }
    };
    let ip = opt_validated(&mut body, "ip", validate::ipv4)?;
    let user = opt_validated(&mut body, "user", validate::name)?;
    let list = opt_validated(&mut body, "list", validate::list_name)?
        .unwrap_or_else(|| "ISOLATED".to_owned());
    let comment = opt_validated(&mut body, "comment", validate::comment)?;
    body.finish()?;
    if ip.is_none() && user.is_none() {
        return Err(ApiError::field("ip", "give ip or user"));
    }
    let outcome = handle_for(state, id)?.isolate(IsolateRequest {
        add,
        list: list.clone(),
        ip,
        user,
        comment,
    })?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "action": action, "list": list, "address": outcome.address, "changed": outcome.changed}),
    ))
}

pub fn backup(state: &AppState, _: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let file = handle_for(state, id)?.backup()?;
    Ok(ApiResponse::json(
        200,
        &json!({"router_id": id.0, "file": file}),
    ))
}

pub fn metrics(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    match state.hooks.metrics_text() {
        Some(text) => Ok(ApiResponse {
            status: 200,
            content_type: crate::metrics::CONTENT_TYPE,
            body: text.into_bytes(),
            headers: Vec::new(),
        }),
        None => Err(ApiError::not_found()),
    }
}
