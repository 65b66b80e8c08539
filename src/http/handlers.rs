//! One plain function per endpoint: owned request in, response or `ApiError` out.
//!
//! Handlers validate every input before anything reaches a router, read cached data from
//! snapshots, and send changes through `RouterHandle`. They never see a RouterOS word.

use super::audit::{outcome_of, Change, WriteScope};
use super::dto;
use super::error::ApiError;
use super::request::{percent_decode, ApiRequest, JsonBody};
use super::routes::Params;
use super::validate;
use super::{ApiResponse, AppState};
use crate::fleet::{
    Command, IsolateRequest, RouterHandle, RouterIndex, RouterSnapshot, RouterState, TrafficSource,
    UserEntry, ISOLATION_LIST,
};
use crate::model::{parse_duration_secs, rfc3339, RouterId};
use crate::model::{NewSecret, SecretChanges};
use crate::store::audit::Outcome;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

type Reply = Result<ApiResponse, ApiError>;

mod writes;
pub use writes::*;

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

pub(super) fn handle_for(state: &AppState, id: RouterId) -> Result<Arc<RouterHandle>, ApiError> {
    Ok(state.fleet.get(id)?)
}

fn user_param(params: &Params) -> Result<String, ApiError> {
    let user = percent_decode(params.get("user").unwrap_or_default());
    validate::name("user", &user)?;
    Ok(user)
}

/// A JSON answer from a DTO.
pub(super) fn reply<T: Serialize>(status: u16, body: &T) -> Reply {
    serde_json::to_string(body)
        .map(|text| ApiResponse::raw_json(status, text))
        .map_err(|e| ApiError::new(500, "internal", format!("cannot encode the answer: {e}")))
}

fn opt_time(time: Option<SystemTime>) -> Option<String> {
    time.map(rfc3339)
}

/// What a write without `router_id` is about, to find its router from the fleet index.
pub(super) enum Target<'a> {
    /// Nothing to look up (a new secret): only a one-router fleet decides.
    Anything,
    /// A user whose secret must be on the router.
    Secret(&'a str),
    /// A user with a secret or a live session there (kick).
    User(&'a str),
    /// An address live, assigned or isolated there.
    Address(&'a str),
}

/// The router a write goes to: `router_id` when given; else the only router of a
/// one-router fleet; else the one router the cached lists point at. Never a guess.
pub(super) fn resolve_router(
    state: &AppState,
    explicit: Option<u64>,
    target: Target,
) -> Result<RouterId, ApiError> {
    if let Some(id) = explicit {
        return Ok(RouterId(id));
    }
    let ids: Vec<RouterId> = state.fleet.snapshots().iter().map(|s| s.id).collect();
    if let [only] = ids.as_slice() {
        return Ok(*only);
    }
    let pick = |candidates: Vec<RouterId>, what: String| match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::router_id_required(
            &format!("no router holds {what}"),
            &[],
        )),
        several => Err(ApiError::router_id_required(
            &format!("{what} is on {} routers", several.len()),
            several,
        )),
    };
    match target {
        Target::Anything => Err(ApiError::router_id_required(
            &format!("the fleet has {} routers", ids.len()),
            &ids,
        )),
        Target::Secret(user) => pick(
            state.fleet.index().routers_with_secret(user),
            format!("user {user:?}"),
        ),
        Target::User(user) => pick(
            state.fleet.index().routers_with_user(user),
            format!("user {user:?}"),
        ),
        Target::Address(ip) => pick(
            state.fleet.index().routers_with_address(ip),
            format!("address {ip}"),
        ),
    }
}

pub fn health(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    let snapshots = state.fleet.snapshots();
    let online = snapshots
        .iter()
        .filter(|s| s.state == RouterState::Online)
        .count();
    reply(
        200,
        &dto::HealthBody {
            status: "ok",
            muscle: "alive",
            version: env!("CARGO_PKG_VERSION"),
            routers_total: snapshots.len(),
            routers_online: online,
            uptime_s: state.started.elapsed().as_secs(),
        },
    )
}

fn router_row(s: &RouterSnapshot) -> dto::RouterRow<'_> {
    dto::RouterRow {
        id: s.id.0,
        name: &s.name,
        host: &s.host,
        port: s.port,
        username: &s.username,
        state: s.state.as_str(),
        since: rfc3339(s.since),
        last_error: s.last_error.as_deref(),
        identity: s.identity.as_deref(),
        version: s.resource.as_ref().map(|r| r.version.as_str()),
        board: s.resource.as_ref().map(|r| r.board_name.as_str()),
        active_sessions: s.sessions.len(),
        last_poll_at: opt_time(s.last_poll_at),
        rtt_ms: s.rtt_ms.map(|ms| (ms * 100.0).round() / 100.0),
    }
}

/// A bare array of routers, as the Go engine answered.
pub fn routers(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    let snapshots = state.fleet.snapshots();
    let body = state
        .targets
        .routers_body(&snapshots, || {
            let rows: Vec<dto::RouterRow> = snapshots.iter().map(|s| router_row(s)).collect();
            serde_json::to_vec(&rows)
        })
        .map_err(|e| ApiError::new(500, "internal", format!("cannot encode the answer: {e}")))?;
    Ok(shared_json(body))
}

/// A JSON answer from bytes shared with a cache.
fn shared_json(body: Arc<[u8]>) -> ApiResponse {
    ApiResponse {
        status: 200,
        content_type: "application/json",
        body: body.into(),
        headers: Vec::new(),
    }
}

pub fn routers_reload(state: &AppState, _: &ApiRequest, _: &Params, scope: &WriteScope) -> Reply {
    let change = |report: Value| Change {
        router: None,
        user: None,
        address: None,
        action: "reload",
        change: report,
    };
    let report = match state.hooks.reload() {
        Ok(report) => report,
        Err(e) => {
            let error = ApiError::new(
                503,
                "registry_unavailable",
                format!("cannot read the router registry: {e}"),
            );
            scope.record(
                &change(json!({})),
                Outcome::NotSent,
                503,
                Some(error.message.clone()),
            );
            return Err(error);
        }
    };
    scope.record(
        &change(json!({"added": report.added, "removed": report.removed, "restarted": report.restarted})),
        Outcome::Applied,
        200,
        None,
    );
    reply(
        200,
        &dto::ReloadBody {
            added: report.added,
            removed: report.removed,
            restarted: report.restarted,
        },
    )
}

pub fn monitoring_targets(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    Ok(shared_json(state.targets.body(&state.fleet.snapshots())))
}

/// `10s`, `1s`, `500ms`: the poll interval as Go's `next_retry` wrote it.
fn duration_text(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// 503 before the first poll, with Go's `status` and `next_retry` beside `error` and `code`.
fn no_data_yet(state: &AppState, id: RouterId, snapshot: &RouterSnapshot) -> ApiError {
    let interval = state.fleet.settings().poll_interval;
    let reason = snapshot
        .last_error
        .clone()
        .unwrap_or_else(|| "not polled yet".into());
    ApiError {
        retry_after: Some(interval.as_secs().clamp(1, u64::from(u32::MAX)) as u32),
        extra: vec![
            ("status", "No data yet".into()),
            ("next_retry", duration_text(interval).into()),
        ],
        ..ApiError::new(
            503,
            "no_data_yet",
            format!("no data yet from router {id}: {reason}"),
        )
    }
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
            _ => return Err(no_data_yet(state, id, &snapshot)),
        }
    };
    reply(
        200,
        &dto::RouterHealthBody {
            uptime: &resource.uptime,
            cpu: resource.cpu_load.to_string(),
            total_memory: resource.total_memory,
            free_memory: resource.free_memory,
            board_name: &resource.board_name,
            version: &resource.version,
            router_id: id.0,
            cpu_load: resource.cpu_load,
            memory_used: resource.total_memory.saturating_sub(resource.free_memory),
            memory_total: resource.total_memory,
            uptime_s: parse_duration_secs(&resource.uptime),
            board: &resource.board_name,
            architecture: &resource.architecture_name,
            sampled_at: rfc3339(sampled_at),
            live,
        },
    )
}

fn user_row(user: &UserEntry) -> dto::UserRow<'_> {
    dto::UserRow {
        username: &user.username,
        status: user.status().as_str(),
        ip: user.ip.as_deref(),
        uptime: user.uptime.as_deref(),
        profile: Some(user.profile.as_str()).filter(|p| !p.is_empty()),
        name: &user.username,
        online: user.online,
        disabled: user.disabled,
        isolated: user.isolated,
        uptime_s: user.uptime.as_deref().and_then(parse_duration_secs),
        service: &user.service,
        caller_id: user.caller_id.as_deref(),
        comment: &user.comment,
    }
}

fn index_row<'a>(router: &'a RouterIndex, user: &'a UserEntry) -> dto::IndexRow<'a> {
    dto::IndexRow {
        router_id: router.router_id.0,
        router_name: &router.router_name,
        username: &user.username,
        online: user.online,
        ip: user.ip.as_deref(),
        profile: &user.profile,
        uptime: user.uptime.as_deref(),
        disabled: user.disabled,
        isolated: user.isolated,
        status: user.status().as_str(),
    }
}

/// `GET /users/:user`: every router holding that user, from the cached lists.
pub fn user_lookup(state: &AppState, _: &ApiRequest, params: &Params) -> Reply {
    let user = user_param(params)?;
    let index = state.fleet.index();
    let holders = index.holders(&user);
    if holders.is_empty() {
        return Err(ApiError::new(
            404,
            "user_not_found",
            format!("no router holds user {user:?}"),
        ));
    }
    let rows: Vec<dto::IndexRow> = holders.into_iter().map(|(r, u)| index_row(r, u)).collect();
    reply(200, &rows)
}

/// `GET /users?ip=A`: who holds address A now (live session, else static address).
pub fn users_by_address(state: &AppState, request: &ApiRequest, _: &Params) -> Reply {
    let ip = match request.query("ip") {
        None | Some("") => return Err(ApiError::field("ip", "Query param 'ip' required")),
        Some(ip) => ip.to_owned(),
    };
    validate::ipv4("ip", &ip)?;
    let index = state.fleet.index();
    let rows: Vec<dto::IndexRow> = index
        .at_address(&ip)
        .into_iter()
        .map(|(r, u)| index_row(r, u))
        .collect();
    reply(200, &rows)
}

pub(super) fn positive_query(
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

fn ip_sort_key(ip: Option<&str>) -> (u8, u32) {
    match ip.and_then(|a| a.parse::<std::net::Ipv4Addr>().ok()) {
        Some(addr) => (0, u32::from(addr)),
        None => (1, 0),
    }
}

/// The `Link` header of a page: `first`, `prev`, `next`, `last`, each the request's own
/// path and query with `page` and the page-size parameter (`size_name`: `per_page`, or
/// `limit` for the audit trail) replaced.
pub(super) fn link_header(
    request: &ApiRequest,
    size_name: &str,
    page: usize,
    per_page: usize,
    total: usize,
) -> String {
    let last = total.div_ceil(per_page).max(1);
    let url = |n: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &request.query {
            if key != "page" && key != size_name {
                query.append_pair(key, value);
            }
        }
        query.append_pair("page", &n.to_string());
        query.append_pair(size_name, &per_page.to_string());
        format!("<{}?{}>", request.path, query.finish())
    };
    let mut links = vec![format!("{}; rel=\"first\"", url(1))];
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("{}; rel=\"last\"", url(last)));
    links.join(", ")
}

/// `GET /router/:id/users`: a bare array of every user, as Go answered; with `page` or
/// `per_page`, that page, and the totals in `X-Total-Count` and `Link`.
pub fn router_users(state: &AppState, request: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let index = state.fleet.router_index(id)?;
    let status = match request.query("status") {
        None | Some("") => None,
        Some(s @ ("connected" | "isolated" | "offline" | "disabled")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::field(
                "status",
                format!("status must be connected, isolated, offline or disabled, got {other:?}"),
            ))
        }
    };
    let q = request.query("q").unwrap_or_default().to_lowercase();
    let paged = request.query("page").is_some() || request.query("per_page").is_some();
    let page = positive_query(request, "page", 1, 1_000_000)?;
    let per_page = positive_query(request, "per_page", 50, 1000)?;
    let sort = request
        .query("sort")
        .filter(|s| !s.is_empty())
        .unwrap_or("name");
    if !["name", "username", "status", "ip", "uptime", "profile"].contains(&sort) {
        return Err(ApiError::field(
            "sort",
            "sort must be one of name, username, status, ip, uptime, profile",
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
    let mut rows: Vec<&UserEntry> = index
        .users
        .iter()
        .filter(|u| match status.as_deref() {
            None => true,
            Some("disabled") => u.disabled,
            Some(s) => u.status().as_str() == s,
        })
        .filter(|u| {
            q.is_empty()
                || u.username.to_lowercase().contains(&q)
                || u.ip.as_deref().is_some_and(|ip| ip.contains(&q))
                || u.comment.to_lowercase().contains(&q)
        })
        .collect();
    let by_name = |a: &&UserEntry, b: &&UserEntry| a.username.cmp(&b.username);
    match sort {
        "status" => rows.sort_by(|a, b| {
            a.status()
                .as_str()
                .cmp(b.status().as_str())
                .then_with(|| by_name(a, b))
        }),
        "ip" => rows.sort_by(|a, b| {
            ip_sort_key(a.ip.as_deref())
                .cmp(&ip_sort_key(b.ip.as_deref()))
                .then_with(|| by_name(a, b))
        }),
        "uptime" => rows.sort_by_cached_key(|u| {
            (
                u.uptime.as_deref().and_then(parse_duration_secs),
                u.username.clone(),
            )
        }),
        "profile" => rows.sort_by(|a, b| a.profile.cmp(&b.profile).then_with(|| by_name(a, b))),
        _ => rows.sort_by(by_name),
    }
    if descending {
        rows.reverse();
    }
    let total = rows.len();
    let (start, end) = if paged {
        let start = (page - 1).saturating_mul(per_page).min(total);
        (start, start.saturating_add(per_page).min(total))
    } else {
        (0, total)
    };
    let body: Vec<dto::UserRow> = rows[start..end].iter().map(|u| user_row(u)).collect();
    let mut response = reply(200, &body)?;
    response.headers.push(("X-Total-Count", total.to_string()));
    if paged {
        response.headers.push((
            "Link",
            link_header(request, "per_page", page, per_page, total),
        ));
    }
    Ok(response)
}

pub fn router_profiles(state: &AppState, _: &ApiRequest, params: &Params) -> Reply {
    let id = router_id_param(params)?;
    let profiles = handle_for(state, id)?.profiles()?;
    reply(
        200,
        &dto::ProfileList {
            router_id: id.0,
            profiles: profiles
                .iter()
                .map(|p| dto::ProfileRow {
                    name: &p.name,
                    rate_limit: p.rate_limit.as_deref(),
                })
                .collect(),
        },
    )
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
    let user = match request.query("user") {
        None | Some("") => return Err(ApiError::field("user", "Query param 'user' required")),
        Some(user) => user.to_owned(),
    };
    validate::name("user", &user)?;
    let handle = handle_for(state, id)?;
    let reading = handle.traffic(&user)?;
    reply(
        200,
        &dto::TrafficBody {
            name: &reading.user,
            rx: reading.download_bps,
            tx: reading.upload_bps,
            router_id: id.0,
            user: &reading.user,
            source: source_name(reading.source),
            queue: reading.queue.as_deref(),
            upload_bps: reading.upload_bps,
            download_bps: reading.download_bps,
            sampled_at: rfc3339(reading.sampled_at),
        },
    )
}

pub fn metrics(state: &AppState, _: &ApiRequest, _: &Params) -> Reply {
    match state.hooks.metrics_text() {
        Some(text) => Ok(ApiResponse {
            status: 200,
            content_type: crate::metrics::CONTENT_TYPE,
            body: text.into_bytes().into(),
            headers: Vec::new(),
        }),
        None => Err(ApiError::not_found()),
    }
}
