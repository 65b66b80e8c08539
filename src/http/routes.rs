//! The routing table, in one place, and path matching with `:param` and `*rest` segments.

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    OpenApi,
    Swagger,
    Routers,
    RoutersReload,
    MonitoringTargets,
    UsersByAddress,
    UserLookup,
    RouterHealth,
    RouterUsers,
    RouterProfiles,
    RouterTraffic,
    Sync,
    SecretCreate,
    SecretUpdate,
    SecretDelete,
    Kick,
    Isolate,
    Backup,
    Metrics,
    Audit,
    Bulk,
    Dashboard,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    AppKey,
    /// `/metrics`: the key unless `METRICS_PUBLIC=1`.
    Metrics,
}

/// One row of the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub endpoint: Endpoint,
    pub access: Access,
}

const fn route(
    method: &'static str,
    pattern: &'static str,
    endpoint: Endpoint,
    access: Access,
) -> Route {
    Route {
        method,
        pattern,
        endpoint,
        access,
    }
}

/// Every route the engine serves.
pub const ROUTES: &[Route] = &[
    route("GET", "/api/v1/health", Endpoint::Health, Access::Public),
    route(
        "GET",
        "/api/v1/openapi.json",
        Endpoint::OpenApi,
        Access::Public,
    ),
    route(
        "GET",
        "/api/v1/swagger/*rest",
        Endpoint::Swagger,
        Access::Public,
    ),
    route("GET", "/api/v1/routers", Endpoint::Routers, Access::AppKey),
    route(
        "POST",
        "/api/v1/routers/reload",
        Endpoint::RoutersReload,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/monitoring/targets",
        Endpoint::MonitoringTargets,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/users",
        Endpoint::UsersByAddress,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/users/:user",
        Endpoint::UserLookup,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/router/:id/health",
        Endpoint::RouterHealth,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/router/:id/users",
        Endpoint::RouterUsers,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/router/:id/profiles",
        Endpoint::RouterProfiles,
        Access::AppKey,
    ),
    route(
        "GET",
        "/api/v1/router/:id/traffic",
        Endpoint::RouterTraffic,
        Access::AppKey,
    ),
    route(
        "POST",
        "/api/v1/router/:id/backup",
        Endpoint::Backup,
        Access::AppKey,
    ),
    route("POST", "/api/v1/sync/:id", Endpoint::Sync, Access::AppKey),
    route(
        "POST",
        "/api/v1/secret",
        Endpoint::SecretCreate,
        Access::AppKey,
    ),
    route(
        "PUT",
        "/api/v1/secret/:user",
        Endpoint::SecretUpdate,
        Access::AppKey,
    ),
    route(
        "DELETE",
        "/api/v1/secret/:user",
        Endpoint::SecretDelete,
        Access::AppKey,
    ),
    route("POST", "/api/v1/kick", Endpoint::Kick, Access::AppKey),
    route("POST", "/api/v1/isolate", Endpoint::Isolate, Access::AppKey),
    route("GET", "/api/v1/audit", Endpoint::Audit, Access::AppKey),
    route("POST", "/api/v1/bulk", Endpoint::Bulk, Access::AppKey),
    route("GET", "/metrics", Endpoint::Metrics, Access::Metrics),
    route("GET", "/*rest", Endpoint::Dashboard, Access::Public),
];

/// Path parameters captured by a match (raw, still percent-encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub values: Vec<(&'static str, String)>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of routing a method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Found(&'static Route, Params),
    /// The path exists with other methods.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

/// Matches `path` against `pattern`; `None` when it does not fit.
fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    // The dashboard catch-all never swallows the API or metrics namespace.
    if pattern == "/*rest" && (path.starts_with("/api/") || path == "/api" || path == "/metrics") {
        return None;
    }
    let mut params = Params::default();
    let mut pattern_parts = pattern.trim_start_matches('/').split('/');
    let mut path_parts = path.trim_start_matches('/').split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (Some(p), Some(segment)) if p.starts_with('*') => {
                let mut rest = segment.to_owned();
                for more in path_parts.by_ref() {
                    rest.push('/');
                    rest.push_str(more);
                }
                params.values.push((&p[1..], rest));
                return Some(params);
            }
            (Some(p), None) if p.starts_with('*') => {
                params.values.push((&p[1..], String::new()));
                return Some(params);
            }
            (Some(p), Some(segment)) if p.starts_with(':') => {
                if segment.is_empty() {
                    return None;
                }
                params.values.push((&p[1..], segment.to_owned()));
            }
            (Some(p), Some(segment)) if p == segment => {}
            (None, None) => return Some(params),
            _ => return None,
        }
    }
}

/// Finds the route for `method` and `path`.
pub fn find(method: &str, path: &str) -> RouteMatch {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_pattern(route.pattern, path) {
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return RouteMatch::Found(route, params);
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        RouteMatch::WrongMethod(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(method: &str, path: &str) -> Option<Endpoint> {
        match find(method, path) {
            RouteMatch::Found(route, _) => Some(route.endpoint),
            _ => None,
        }
    }

    #[test]
    fn routing_table() {
        let table = [
            ("GET", "/api/v1/health", Some(Endpoint::Health)),
            ("GET", "/api/v1/router/7/users", Some(Endpoint::RouterUsers)),
            ("GET", "/api/v1/users", Some(Endpoint::UsersByAddress)),
            ("GET", "/api/v1/users/alice", Some(Endpoint::UserLookup)),
            ("POST", "/api/v1/router/7/backup", Some(Endpoint::Backup)),
            ("PUT", "/api/v1/secret/alice", Some(Endpoint::SecretUpdate)),
            (
                "DELETE",
                "/api/v1/secret/alice",
                Some(Endpoint::SecretDelete),
            ),
            ("GET", "/api/v1/swagger/", Some(Endpoint::Swagger)),
            ("GET", "/api/v1/swagger/index.html", Some(Endpoint::Swagger)),
            ("GET", "/", Some(Endpoint::Dashboard)),
            ("GET", "/app.js", Some(Endpoint::Dashboard)),
            ("GET", "/metrics", Some(Endpoint::Metrics)),
            ("GET", "/api/v1/nope", None),
            ("GET", "/api/v1/router//users", None),
            ("GET", "/api/v1/router/1/users/extra", None),
        ];
        for (method, path, expected) in table {
            assert_eq!(endpoint(method, path), expected, "{method} {path}");
        }
        match find("GET", "/api/v1/secret/alice") {
            RouteMatch::WrongMethod(methods) => assert_eq!(methods, vec!["PUT", "DELETE"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(find("POST", "/api/v1/nope"), RouteMatch::NotFound);
        match find("GET", "/api/v1/router/12/traffic") {
            RouteMatch::Found(_, params) => assert_eq!(params.get("id"), Some("12")),
            other => panic!("{other:?}"),
        }
        match find("GET", "/api/v1/swagger/a/b.css") {
            RouteMatch::Found(_, params) => assert_eq!(params.get("rest"), Some("a/b.css")),
            other => panic!("{other:?}"),
        }
    }
}
