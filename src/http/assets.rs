//! Static files embedded in the binary: the dashboard, the Swagger UI page and the OpenAPI document.
//!
//! Every file is compiled in (`include_bytes!`, or the `swagger-ui-redist` crate, which ships
//! Swagger UI's JS/CSS inside its crates.io package). Nothing here touches the filesystem at run
//! time, so a request path can only ever select one entry of a fixed table: path traversal is
//! impossible by construction. Paths with `..`, percent escapes, backslashes, NUL or other
//! control characters are still refused explicitly, before any lookup, so that a future change
//! to the lookup cannot quietly reopen the hole.
//!
//! Cache policy: every file is sent with `Cache-Control: no-cache` and a strong `ETag` (a hash
//! of its bytes). The browser keeps its copy but revalidates it on each use, so a newer binary
//! is picked up at once, and an unchanged file costs a `304 Not Modified` with no body. File
//! names carry no version, so a long `max-age` would serve stale code after an upgrade.
//!
//! Out of scope: routing, redirects (`/api/v1/swagger/` → `index.html`) and the 304 decision
//! itself; the HTTP layer does those with [`Asset::etag`] and [`Asset::matches_if_none_match`].

use std::sync::OnceLock;

use swagger_ui_redist::SwaggerUi;

/// The OpenAPI 3 document of REST API v1, served at `/api/v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The prefix under which [`swagger_asset`] files are served.
pub const SWAGGER_PREFIX: &str = "/api/v1/swagger/";

/// The Swagger UI page; `/api/v1/swagger/` and `/api/v1/swagger` redirect here.
pub const SWAGGER_INDEX_PATH: &str = "/api/v1/swagger/index.html";

/// `Cache-Control` for every embedded file: keep it, but revalidate with the ETag on each use.
pub const CACHE_REVALIDATE: &str = "no-cache";

/// `Content-Security-Policy` of the dashboard page: its own scripts, styles and API only, so a
/// router-supplied string (a comment, an identity) could never run as script even if it
/// slipped past the page's escaping. The browser test runs the dashboard under it.
pub const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `Content-Security-Policy` of the Swagger UI page: Swagger UI sets inline styles and uses
/// `data:` SVG icons, and needs nothing else from anywhere but this origin.
pub const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const PNG: &str = "image/png";
const JSON: &str = "application/json";

/// One embedded file, ready to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file's bytes.
    pub body: &'static [u8],
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `Cache-Control` header value.
    pub cache_control: &'static str,
    /// The `ETag` header value, quotes included: a strong hash of `body`.
    pub etag: &'static str,
    /// The `Content-Security-Policy` header value, for HTML pages.
    pub content_security_policy: Option<&'static str>,
}

impl Asset {
    /// Whether an `If-None-Match` request header names this file's current version, so the
    /// answer can be `304 Not Modified` with no body. Accepts `*`, lists and weak tags (`W/"…"`),
    /// which RFC 9110 says compare weakly for this header.
    pub fn matches_if_none_match(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

/// A file before its ETag is known (hashing the Swagger bundle is done once, on first use).
struct Entry {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    csp: Option<&'static str>,
}

const DASHBOARD_INDEX: &[u8] = include_bytes!("assets/index.html");

/// The dashboard, served at the site root.
const DASHBOARD_FILES: &[Entry] = &[
    Entry {
        path: "/",
        body: DASHBOARD_INDEX,
        content_type: HTML,
        csp: Some(DASHBOARD_CSP),
    },
    Entry {
        path: "/index.html",
        body: DASHBOARD_INDEX,
        content_type: HTML,
        csp: Some(DASHBOARD_CSP),
    },
    Entry {
        path: "/app.js",
        body: include_bytes!("assets/app.js"),
        content_type: JAVASCRIPT,
        csp: None,
    },
    Entry {
        path: "/app.css",
        body: include_bytes!("assets/app.css"),
        content_type: CSS,
        csp: None,
    },
    Entry {
        path: "/favicon.svg",
        body: include_bytes!("assets/favicon.svg"),
        content_type: SVG,
        csp: None,
    },
];

/// Our own files under [`SWAGGER_PREFIX`]; the Swagger UI bundle itself comes from the crate.
const SWAGGER_OWN_FILES: &[Entry] = &[
    Entry {
        path: "index.html",
        body: include_bytes!("assets/swagger/index.html"),
        content_type: HTML,
        csp: Some(SWAGGER_CSP),
    },
    Entry {
        path: "swagger-init.js",
        body: include_bytes!("assets/swagger/swagger-init.js"),
        content_type: JAVASCRIPT,
        csp: None,
    },
];

/// Every servable file with its ETag, built once.
struct Table {
    dashboard: Vec<(&'static str, Asset)>,
    swagger: Vec<(&'static str, Asset)>,
    openapi: Asset,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn build_table() -> Table {
    let dashboard = DASHBOARD_FILES.iter().map(finish).collect();
    let mut swagger: Vec<(&'static str, Asset)> = SWAGGER_OWN_FILES.iter().map(finish).collect();
    for (file, body) in SwaggerUi::static_files() {
        let path = file.file_name();
        // Our page replaces the crate's index; never let a crate file shadow one of ours.
        if swagger.iter().any(|(own, _)| *own == path) {
            continue;
        }
        if let Some(content_type) = content_type_for(path) {
            swagger.push(finish(&Entry {
                path,
                body,
                content_type,
                csp: None,
            }));
        }
    }
    let openapi = finish(&Entry {
        path: OPENAPI_PATH,
        body: OPENAPI_JSON.as_bytes(),
        content_type: JSON,
        csp: None,
    })
    .1;
    Table {
        dashboard,
        swagger,
        openapi,
    }
}

fn finish(entry: &Entry) -> (&'static str, Asset) {
    // The table lives for the whole process, so each ETag string is made once and kept.
    let etag: &'static str = Box::leak(format!("\"{:016x}\"", fnv1a(entry.body)).into_boxed_str());
    let asset = Asset {
        body: entry.body,
        content_type: entry.content_type,
        cache_control: CACHE_REVALIDATE,
        etag,
        content_security_policy: entry.csp,
    };
    (entry.path, asset)
}

/// FNV-1a, 64 bit: a version tag for a file, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn content_type_for(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    match extension {
        "html" => Some(HTML),
        "js" => Some(JAVASCRIPT),
        "css" => Some(CSS),
        "png" => Some(PNG),
        "svg" => Some(SVG),
        "json" => Some(JSON),
        _ => None,
    }
}

/// Drops a query string or fragment, then refuses anything that is not a plain path.
fn clean_path(raw: &str) -> Option<&str> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let suspicious = path.contains("..")
        || path.contains("//")
        || path.contains('\\')
        // No embedded file name needs an escape, so any `%` is an attempt to smuggle
        // `%2e%2e`, `%2f`, `%5c` or `%00` past the checks above.
        || path.contains('%')
        || path.chars().any(char::is_control);
    if suspicious {
        None
    } else {
        Some(path)
    }
}

/// The dashboard file for a request path such as `/`, `/app.js` or `/app.css`; `None` for
/// anything else (the caller answers 404). A query string (`/?k=v`) is ignored.
pub fn dashboard_asset(path: &str) -> Option<Asset> {
    let path = clean_path(path)?;
    lookup(&table().dashboard, path)
}

/// A file under [`SWAGGER_PREFIX`], named by the rest of the path after that prefix
/// (`index.html`, `swagger-ui-bundle.js`, `swagger-ui.css`, ...). `index.html` is our page,
/// which loads the bundle from the same origin and points it at [`OPENAPI_PATH`]. An empty rest
/// is `None`: the caller redirects `/api/v1/swagger/` to [`SWAGGER_INDEX_PATH`].
pub fn swagger_asset(rest: &str) -> Option<Asset> {
    let rest = clean_path(rest)?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    lookup(&table().swagger, rest)
}

/// The OpenAPI document as a servable file (`application/json`, with an ETag).
pub fn openapi() -> Asset {
    table().openapi
}

fn lookup(files: &[(&'static str, Asset)], path: &str) -> Option<Asset> {
    files
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, asset)| *asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_files_are_found_with_their_content_types() {
        let cases = [
            ("/", HTML),
            ("/index.html", HTML),
            ("/?from=bookmark", HTML),
            ("/app.js", JAVASCRIPT),
            ("/app.css", CSS),
            ("/favicon.svg", SVG),
        ];
        for (path, content_type) in cases {
            let asset = dashboard_asset(path).unwrap_or_else(|| panic!("{path} missing"));
            assert_eq!(asset.content_type, content_type, "{path}");
            assert_eq!(asset.cache_control, "no-cache", "{path}");
            assert!(!asset.body.is_empty(), "{path}");
        }
        assert_eq!(dashboard_asset("/").map(|a| a.body), Some(DASHBOARD_INDEX));
        let page = dashboard_asset("/").and_then(|a| a.content_security_policy);
        assert_eq!(page, Some(DASHBOARD_CSP));
        let script = dashboard_asset("/app.js").and_then(|a| a.content_security_policy);
        assert_eq!(script, None);
        let swagger = swagger_asset("index.html").and_then(|a| a.content_security_policy);
        assert_eq!(swagger, Some(SWAGGER_CSP));
        assert!(!DASHBOARD_CSP.contains("unsafe"), "{DASHBOARD_CSP}");
    }

    #[test]
    fn unknown_dashboard_paths_are_not_found() {
        for path in [
            "",
            "app.js",
            "/app.js/",
            "/APP.JS",
            "/assets/app.js",
            "/api/v1/routers",
        ] {
            assert_eq!(dashboard_asset(path), None, "{path:?}");
        }
    }

    #[test]
    fn traversal_and_smuggling_attempts_are_refused() {
        let attacks = [
            "/../Cargo.toml",
            "/..",
            "/app.js/../index.html",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E%2FCargo.toml",
            "/app%2ejs",
            "/..%2fsrc",
            "/%5c..%5cCargo.toml",
            "/\\..\\Cargo.toml",
            "/app.js\0",
            "/app.js%00",
            "/app.js\n",
            "//etc/passwd",
        ];
        for path in attacks {
            assert_eq!(dashboard_asset(path), None, "dashboard {path:?}");
            assert_eq!(swagger_asset(path), None, "swagger {path:?}");
        }
        for rest in ["../assets.rs", "..", "%2e%2e/x", "a/b.js", "index.html\0"] {
            assert_eq!(swagger_asset(rest), None, "swagger {rest:?}");
        }
    }

    #[test]
    fn swagger_files_are_ours_and_the_crates() {
        let index = swagger_asset("index.html").expect("index");
        assert_eq!(index.content_type, HTML);
        let page = std::str::from_utf8(index.body).expect("utf-8");
        assert!(page.contains("swagger-ui-bundle.js"), "{page}");
        assert!(page.contains("swagger-init.js"), "{page}");
        assert_eq!(swagger_asset("/index.html"), Some(index));

        let init = swagger_asset("swagger-init.js").expect("init script");
        let init = std::str::from_utf8(init.body).expect("utf-8");
        assert!(init.contains(OPENAPI_PATH), "{init}");
        assert!(init.contains("X-App-Key"), "{init}");

        let bundle = swagger_asset("swagger-ui-bundle.js").expect("bundle");
        assert_eq!(bundle.content_type, JAVASCRIPT);
        assert!(bundle.body.len() > 100_000, "the real bundle, not a stub");
        assert_eq!(
            swagger_asset("swagger-ui.css").map(|a| a.content_type),
            Some(CSS)
        );
        assert_eq!(
            swagger_asset("favicon-32x32.png").map(|a| a.content_type),
            Some(PNG)
        );
        assert_eq!(swagger_asset(""), None);
        assert_eq!(swagger_asset("/"), None);
        assert_eq!(swagger_asset("missing.js"), None);
    }

    #[test]
    fn pages_load_nothing_from_other_origins() {
        let pages = [
            dashboard_asset("/"),
            dashboard_asset("/app.js"),
            dashboard_asset("/app.css"),
            swagger_asset("index.html"),
            swagger_asset("swagger-init.js"),
        ];
        for asset in pages {
            let text = std::str::from_utf8(asset.expect("present").body).expect("utf-8");
            for needle in ["http://", "https://", "//cdn", "unpkg", "jsdelivr"] {
                // The SVG namespace URI in an inline icon is an identifier, not a request.
                let hits = text.matches(needle).count();
                let namespace_hits = text.matches("http://www.w3.org/2000/svg").count();
                let allowed = if needle == "http://" {
                    namespace_hits
                } else {
                    0
                };
                assert!(
                    hits <= allowed,
                    "{needle} in {}",
                    &text[..text.len().min(80)]
                );
            }
        }
    }

    #[test]
    fn etags_are_stable_distinct_and_match_if_none_match() {
        let js = dashboard_asset("/app.js").expect("app.js");
        let css = dashboard_asset("/app.css").expect("app.css");
        assert_eq!(dashboard_asset("/app.js").map(|a| a.etag), Some(js.etag));
        assert_ne!(js.etag, css.etag);
        assert!(
            js.etag.starts_with('"') && js.etag.ends_with('"'),
            "{}",
            js.etag
        );
        assert_eq!(
            dashboard_asset("/").map(|a| a.etag),
            dashboard_asset("/index.html").map(|a| a.etag)
        );

        assert!(js.matches_if_none_match(js.etag));
        assert!(js.matches_if_none_match(&format!("W/{}", js.etag)));
        assert!(js.matches_if_none_match(&format!("\"x\", {}", js.etag)));
        assert!(js.matches_if_none_match("*"));
        assert!(!js.matches_if_none_match(css.etag));
        assert!(!js.matches_if_none_match(""));
    }

    #[test]
    fn openapi_document_is_embedded_as_json() {
        let asset = openapi();
        assert_eq!(asset.content_type, JSON);
        assert_eq!(asset.body, OPENAPI_JSON.as_bytes());
        let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert!(document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")));
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
