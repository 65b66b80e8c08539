//! The REST layer on tiny_http: auth, routing, JSON errors, access logs; `edge` runs the pool.
//!
//! Each request is read whole (bodies over 1 MiB are refused with 413), turned into an owned
//! `ApiRequest` and handed to a plain handler inside `catch_unwind`, so a bug answers 500
//! instead of killing a pool thread. HTTP never opens a socket to a router: it reads
//! snapshots and sends commands through `RouterHandle`s.

pub mod assets;
pub mod audit;
mod backlog;
pub mod body;
pub mod bulk;
pub mod dto;
pub mod edge;
pub mod error;
pub mod handlers;
mod large;
pub mod request;
pub mod routes;
pub mod targets;
pub mod validate;

use crate::fleet::{Fleet, ReloadReport};
use crate::model::{ActiveSession, RouterId, Secret};
use crate::store::StoreError;
pub use edge::HttpServer;
use error::ApiError;
use request::ApiRequest;
use routes::{Access, Endpoint, Params, RouteMatch};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the HTTP layer needs from the rest of the program (registry, store, metrics).
pub trait EngineHooks: Send + Sync {
    /// Re-reads the router registry and applies it to the fleet.
    fn reload(&self) -> Result<ReloadReport, StoreError>;
    /// Writes a router's secrets to the user store; `Ok(None)` when there is no store.
    fn store_secrets(
        &self,
        router: RouterId,
        secrets: &[Secret],
        sessions: &[ActiveSession],
    ) -> Result<Option<usize>, StoreError>;
    /// The Prometheus exposition, `None` when metrics are off.
    fn metrics_text(&self) -> Option<String> {
        None
    }
    /// Called once per request (route pattern, status, duration).
    fn http_request(&self, _route: &'static str, _status: u16, _elapsed: Duration) {}
}

/// Shared state of every HTTP thread.
pub struct AppState {
    pub fleet: Arc<Fleet>,
    pub app_key: String,
    pub hooks: Arc<dyn EngineHooks>,
    pub started: Instant,
    pub cors_origin: Option<String>,
    pub metrics_public: bool,
    /// `/monitoring/targets` and `/routers` bodies, rebuilt only for a new poll generation.
    pub targets: targets::TargetsCache,
    /// The audit trail and the idempotency keys.
    pub audit: Arc<crate::store::AuditTrail>,
}

/// A response before it is written to the connection.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: body::Body,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        ApiResponse::raw_json(status, value.to_string())
    }

    pub fn raw_json(status: u16, body: String) -> Self {
        ApiResponse {
            status,
            content_type: "application/json",
            body: body.into_bytes().into(),
            headers: Vec::new(),
        }
    }

    pub fn from_error(error: &ApiError) -> Self {
        let mut response = ApiResponse::json(error.status, &error.body());
        if let Some(seconds) = error.retry_after {
            response.headers.push(("Retry-After", seconds.to_string()));
        }
        response
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

fn authorized(state: &AppState, request: &ApiRequest, bearer_allowed: bool) -> bool {
    let presented = match (&request.app_key, &request.bearer) {
        (Some(key), _) => key,
        (None, Some(token)) if bearer_allowed => token,
        _ => return false,
    };
    constant_time_eq(presented.as_bytes(), state.app_key.as_bytes())
}

/// Routes and runs one request. Pure apart from what handlers do through the fleet.
pub fn dispatch(state: &AppState, request: &ApiRequest) -> (ApiResponse, &'static str) {
    if request.method == "OPTIONS" && state.cors_origin.is_some() {
        let mut response = ApiResponse {
            status: 204,
            content_type: "text/plain",
            body: body::Body::default(),
            headers: Vec::new(),
        };
        response.headers.push((
            "Access-Control-Allow-Methods",
            "GET, POST, PUT, DELETE, OPTIONS".into(),
        ));
        response.headers.push((
            "Access-Control-Allow-Headers",
            "X-App-Key, Content-Type, Idempotency-Key".into(),
        ));
        response
            .headers
            .push(("Access-Control-Max-Age", "600".into()));
        return (response, "OPTIONS");
    }
    let (route, params) = match routes::find(&request.method, &request.path) {
        RouteMatch::Found(route, params) => (route, params),
        RouteMatch::WrongMethod(allowed) => {
            let error = ApiError::new(
                405,
                "method_not_allowed",
                format!(
                    "{} is not allowed here; use {}",
                    request.method,
                    allowed.join(", ")
                ),
            );
            let mut response = ApiResponse::from_error(&error);
            response.headers.push(("Allow", allowed.join(", ")));
            return (response, "unmatched");
        }
        RouteMatch::NotFound => {
            return (ApiResponse::from_error(&ApiError::not_found()), "unmatched")
        }
    };
    let needs_key = match route.access {
        Access::Public => false,
        Access::AppKey => true,
        Access::Metrics => !state.metrics_public,
    };
    if needs_key && !authorized(state, request, route.access == Access::Metrics) {
        return (
            ApiResponse::from_error(&ApiError::unauthorized()),
            route.pattern,
        );
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        run_endpoint(state, route.pattern, route.endpoint, request, &params)
    }));
    let response = match result {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => ApiResponse::from_error(&error),
        Err(_) => {
            log::error!("request {}: handler panicked", request.request_id);
            ApiResponse::from_error(&ApiError::new(500, "internal", "internal error"))
        }
    };
    (response, route.pattern)
}

fn run_endpoint(
    state: &AppState,
    route: &'static str,
    endpoint: Endpoint,
    request: &ApiRequest,
    params: &Params,
) -> Result<ApiResponse, ApiError> {
    match endpoint {
        Endpoint::Health => handlers::health(state, request, params),
        Endpoint::OpenApi => Ok(static_response(assets::openapi(), request)),
        Endpoint::Swagger => swagger(params, request),
        Endpoint::Routers => handlers::routers(state, request, params),
        Endpoint::RoutersReload => audit::guarded(state, request, route, |scope| {
            handlers::routers_reload(state, request, params, scope)
        }),
        Endpoint::MonitoringTargets => handlers::monitoring_targets(state, request, params),
        Endpoint::UsersByAddress => handlers::users_by_address(state, request, params),
        Endpoint::UserLookup => handlers::user_lookup(state, request, params),
        Endpoint::RouterHealth => handlers::router_health(state, request, params),
        Endpoint::RouterUsers => handlers::router_users(state, request, params),
        Endpoint::RouterProfiles => handlers::router_profiles(state, request, params),
        Endpoint::RouterTraffic => handlers::router_traffic(state, request, params),
        Endpoint::Sync => audit::guarded(state, request, route, |scope| {
            handlers::sync(state, request, params, scope)
        }),
        Endpoint::SecretCreate => audit::guarded(state, request, route, |scope| {
            handlers::secret_create(state, request, params, scope)
        }),
        Endpoint::SecretUpdate => audit::guarded(state, request, route, |scope| {
            handlers::secret_update(state, request, params, scope)
        }),
        Endpoint::SecretDelete => audit::guarded(state, request, route, |scope| {
            handlers::secret_delete(state, request, params, scope)
        }),
        Endpoint::Kick => audit::guarded(state, request, route, |scope| {
            handlers::kick(state, request, params, scope)
        }),
        Endpoint::Isolate => audit::guarded(state, request, route, |scope| {
            handlers::isolate(state, request, params, scope)
        }),
        Endpoint::Backup => audit::guarded(state, request, route, |scope| {
            handlers::backup(state, request, params, scope)
        }),
        Endpoint::Metrics => handlers::metrics(state, request, params),
        Endpoint::Audit => audit::list(state, request),
        Endpoint::Bulk => audit::guarded(state, request, route, |scope| {
            bulk::run(state, request, scope)
        }),
        Endpoint::Dashboard => {
            let path = request.path.as_str();
            assets::dashboard_asset(path)
                .map(|asset| static_response(asset, request))
                .ok_or_else(ApiError::not_found)
        }
    }
}

fn swagger(params: &Params, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let rest = params.get("rest").unwrap_or_default();
    if rest.is_empty() {
        return Ok(ApiResponse {
            status: 302,
            content_type: "text/plain",
            body: body::Body::Static(b"see /api/v1/swagger/index.html"),
            headers: vec![("Location", "/api/v1/swagger/index.html".into())],
        });
    }
    assets::swagger_asset(rest)
        .map(|asset| static_response(asset, request))
        .ok_or_else(ApiError::not_found)
}

/// A static file, or 304 when the client's `If-None-Match` already names its ETag.
fn static_response(asset: assets::Asset, request: &ApiRequest) -> ApiResponse {
    let mut headers = vec![
        ("Cache-Control", asset.cache_control.into()),
        ("X-Content-Type-Options", "nosniff".into()),
        ("ETag", asset.etag.into()),
    ];
    if let Some(policy) = asset.content_security_policy {
        headers.push(("Content-Security-Policy", policy.into()));
    }
    let unchanged = request
        .if_none_match
        .as_deref()
        .is_some_and(|tags| asset.matches_if_none_match(tags));
    ApiResponse {
        status: if unchanged { 304 } else { 200 },
        content_type: asset.content_type,
        body: if unchanged {
            body::Body::default()
        } else {
            body::Body::Static(asset.body)
        },
        headers,
    }
}

fn header_value(request: &tiny_http::Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

fn serve_one(mut request: tiny_http::Request, state: &AppState, next_id: &AtomicU64) {
    let started = Instant::now();
    let request_id = next_id.fetch_add(1, Ordering::Relaxed);
    let method = request.method().as_str().to_owned();
    let target = request.url().to_owned();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let client = client_address(
        request.remote_addr().copied(),
        header_value(&request, "X-Forwarded-For").as_deref(),
    );
    let (response, route) = match read_body(&mut request) {
        Ok(body) => {
            let mut api_request = ApiRequest::new(
                &method,
                &target,
                header_value(&request, "X-App-Key"),
                body,
                request_id,
            );
            api_request.if_none_match = header_value(&request, "If-None-Match");
            api_request.client = client.clone();
            api_request.idempotency_key = header_value(&request, "Idempotency-Key");
            api_request.bearer = header_value(&request, "Authorization")
                .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_owned()));
            dispatch(state, &api_request)
        }
        Err(error) => (ApiResponse::from_error(&error), "unmatched"),
    };
    let status = response.status;
    // Counted before the answer leaves, so a client that reads /metrics next sees it.
    let elapsed = started.elapsed();
    state.hooks.http_request(route, status, elapsed);
    write_response(request, response, request_id, state.cors_origin.as_deref());
    log::info!(
        "req={request_id} client={client} {method} {path} {status} {:.1}ms",
        elapsed.as_secs_f64() * 1000.0
    );
}

/// The client address for the access log: the peer, or the last `X-Forwarded-For` entry
/// when the peer is loopback (the nginx front of the README); a remote peer cannot make
/// the log name someone else.
fn client_address(peer: Option<SocketAddr>, forwarded_for: Option<&str>) -> String {
    let Some(peer) = peer else {
        return "-".into();
    };
    if peer.ip().is_loopback() {
        let forwarded = forwarded_for
            .and_then(|list| list.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        if let Some(address) = forwarded {
            return address.to_string();
        }
    }
    peer.ip().to_string()
}

fn read_body(request: &mut tiny_http::Request) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "payload_too_large",
            format!("request body over {MAX_BODY_BYTES} bytes"),
        )
    };
    if request.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            ApiError::new(
                400,
                "bad_request",
                format!("cannot read the request body: {e}"),
            )
        })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(body)
}

fn write_response(
    request: tiny_http::Request,
    response: ApiResponse,
    request_id: u64,
    cors_origin: Option<&str>,
) {
    if response.body.len() >= large::LARGE_BODY {
        return write_large(request, response, request_id, cors_origin);
    }
    let id = request_id.to_string();
    let headers: Vec<tiny_http::Header> = common_headers(&response, &id, cors_origin)
        .into_iter()
        .filter_map(|(name, value)| {
            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
        })
        .collect();
    // A shared body is written from the cache's bytes, not copied into the response.
    let length = response.body.len();
    let out = tiny_http::Response::new(
        response.status.into(),
        headers,
        std::io::Cursor::new(response.body),
        Some(length),
        None,
    );
    if let Err(e) = request.respond(out) {
        log::debug!("req={request_id}: client went away before the answer: {e}");
    }
}

/// The headers every answer carries besides its own.
fn common_headers<'a>(
    response: &'a ApiResponse,
    request_id: &'a str,
    cors_origin: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("Content-Type", response.content_type),
        ("X-Request-Id", request_id),
    ];
    if let Some(origin) = cors_origin {
        headers.push(("Access-Control-Allow-Origin", origin));
        headers.push((
            "Access-Control-Expose-Headers",
            "X-Total-Count, Link, Idempotent-Replayed, X-Request-Id",
        ));
        headers.push(("Vary", "Origin"));
    }
    headers.extend(response.headers.iter().map(|(n, v)| (*n, v.as_str())));
    headers
}

/// A large body in one write to the socket (see `large`), not in tiny_http's 8 KiB pieces.
fn write_large(
    request: tiny_http::Request,
    response: ApiResponse,
    request_id: u64,
    cors_origin: Option<&str>,
) {
    let id = request_id.to_string();
    let head = large::head(
        response.status,
        &common_headers(&response, &id, cors_origin),
        response.body.len(),
    );
    let body = (*request.method() != tiny_http::Method::Head).then_some(&response.body[..]);
    if let Err(e) = large::write_all(request.into_writer(), &head, body) {
        log::debug!("req={request_id}: client went away before the answer: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::{client_address, constant_time_eq};

    #[test]
    fn forwarded_for_counts_only_from_loopback() {
        let local = Some("127.0.0.1:50000".parse().unwrap());
        let remote = Some("192.0.2.7:50000".parse().unwrap());
        assert_eq!(client_address(local, Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(
            client_address(local, Some("10.0.0.1, 203.0.113.9")),
            "203.0.113.9"
        );
        assert_eq!(client_address(local, Some("garbage")), "127.0.0.1");
        assert_eq!(client_address(local, None), "127.0.0.1");
        assert_eq!(client_address(remote, Some("203.0.113.9")), "192.0.2.7");
        assert_eq!(client_address(None, Some("203.0.113.9")), "-");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret-key", b"secret-key"));
        assert!(!constant_time_eq(b"secret-key", b"secret-kez"));
        assert!(!constant_time_eq(b"secret", b"secret-key"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
