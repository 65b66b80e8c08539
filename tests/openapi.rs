//! The OpenAPI document. First without a server: it parses, every operation is complete,
//! every `$ref` resolves, security is where it belongs, and every example it shows is valid
//! against its own schema (so Swagger UI's "Try it out" starts from a request that can work).
//!
//! Then the document against the engine: the routing table serves exactly the documented
//! routes (plus those the document lists as left out), and real answers of `net-engine demo`,
//! every request example included, match their schemas.

use std::collections::BTreeSet;
use std::time::Duration;

use net_engine::http::routes::{Access, ROUTES};
use serde_json::{json, Value};

use crate::support::browser::{watchdog, DemoEngine};
use crate::support::openapi::{
    check_schema_keywords, document, documented_routes, lookup_ref, request_schema, resolve,
    response_schema, undocumented_routes, validate, validate_response, METHODS,
};

/// Every route of REST API v1 as /work/notes/api-shapes.md lists them, plus /metrics.
const EXPECTED_ROUTES: [(&str, &str); 21] = [
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/routers"),
    ("POST", "/api/v1/routers/reload"),
    ("GET", "/api/v1/monitoring/targets"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{user}"),
    ("GET", "/api/v1/router/{id}/health"),
    ("GET", "/api/v1/router/{id}/users"),
    ("GET", "/api/v1/router/{id}/profiles"),
    ("GET", "/api/v1/router/{id}/traffic"),
    ("POST", "/api/v1/router/{id}/backup"),
    ("POST", "/api/v1/sync/{id}"),
    ("POST", "/api/v1/secret"),
    ("PUT", "/api/v1/secret/{user}"),
    ("DELETE", "/api/v1/secret/{user}"),
    ("POST", "/api/v1/kick"),
    ("POST", "/api/v1/isolate"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/bulk"),
];

const PUBLIC_ROUTES: [(&str, &str); 2] =
    [("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")];

const ERROR_CODES: [&str; 19] = [
    "invalid_field",
    "bad_json",
    "unauthorized",
    "not_found",
    "router_not_found",
    "user_not_found",
    "user_offline",
    "method_not_allowed",
    "secret_exists",
    "payload_too_large",
    "router_error",
    "router_offline",
    "queue_full",
    "router_timeout",
    "internal",
    "router_id_required",
    "no_data_yet",
    "in_progress",
    "idempotency_key_reused",
];

/// (method, path, operation) for every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

#[test]
fn document_is_openapi_3_for_this_version() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(
        doc["servers"][0]["url"], "/",
        "requests go to the serving engine"
    );
}

#[test]
fn document_lists_exactly_the_api_routes() {
    let doc = document();
    let expected: BTreeSet<(String, String)> = EXPECTED_ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented_routes(&doc), expected);
    let left_out = undocumented_routes(&doc);
    assert!(
        left_out.contains(&("GET".into(), "/{rest}".into())),
        "{left_out:?}"
    );
    assert!(
        left_out.contains(&("GET".into(), "/api/v1/swagger/{rest}".into())),
        "{left_out:?}"
    );
    assert!(left_out.is_disjoint(&expected));
}

/// A routing-table pattern written as an OpenAPI path: `:id` → `{id}`, `*rest` → `{rest}`.
fn as_openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix([':', '*']) {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn routing_table_and_document_list_the_same_routes() {
    let doc = document();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_string(), as_openapi_path(route.pattern)))
        .collect();
    let documented = documented_routes(&doc);
    let left_out = undocumented_routes(&doc);
    let missing: Vec<_> = served
        .iter()
        .filter(|route| !documented.contains(*route) && !left_out.contains(*route))
        .collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.json: {missing:?}"
    );
    let stale: Vec<_> = documented
        .union(&left_out)
        .filter(|route| !served.contains(*route))
        .collect();
    assert!(
        stale.is_empty(),
        "in openapi.json but not served: {stale:?}"
    );

    for route in ROUTES {
        let path = as_openapi_path(route.pattern);
        let Some(operation) = doc["paths"][&path].get(route.method.to_lowercase()) else {
            continue;
        };
        let requirements = operation.get("security").unwrap_or(&doc["security"]);
        let public = requirements == &Value::Array(vec![]);
        let expected_public = route.access == Access::Public;
        assert_eq!(public, expected_public, "{} {path}: security", route.method);
    }
}

/// One call to the demo: method, path, JSON body, the statuses it may answer.
type Case = (&'static str, String, Option<Value>, &'static [u16]);

/// Status, content type and JSON body (or the text, as a string) of one call to the demo.
fn call_demo(
    demo: &DemoEngine,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String, Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let request = agent
        .request(method, &format!("{}{path}", demo.base_url))
        .set("X-App-Key", key);
    let result = match body {
        Some(body) => request
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
        None if method == "GET" || method == "DELETE" => request.call(),
        None => request.send_string(""),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {path}: {error}"),
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let text = response.into_string().expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, value)
}

#[test]
fn demo_answers_match_the_document() {
    let _watchdog = watchdog(Duration::from_secs(180), "demo_answers_match_the_document");
    let demo = DemoEngine::start(2, 50).expect("start net-engine demo");
    let doc = document();
    let key = demo.key.clone();
    let users_query =
        "/api/v1/router/2/users?status=connected&q=a&sort=uptime&order=desc&page=2&per_page=5";
    let mut cases: Vec<Case> = vec![
        ("GET", "/api/v1/health".into(), None, &[200]),
        ("GET", "/api/v1/routers".into(), None, &[200]),
        ("POST", "/api/v1/routers/reload".into(), None, &[200]),
        ("GET", "/api/v1/monitoring/targets".into(), None, &[200]),
        ("GET", "/api/v1/router/1/health".into(), None, &[200]),
        ("GET", "/api/v1/router/1/health?live=1".into(), None, &[200]),
        (
            "GET",
            "/api/v1/router/1/users?per_page=1000".into(),
            None,
            &[200],
        ),
        ("GET", users_query.into(), None, &[200]),
        ("GET", "/api/v1/router/1/users".into(), None, &[200]),
        ("GET", "/api/v1/users/alice".into(), None, &[200]),
        ("GET", "/api/v1/users/nobody-here".into(), None, &[404]),
        ("GET", "/api/v1/users?ip=10.1.0.2".into(), None, &[200]),
        ("GET", "/api/v1/users".into(), None, &[400]),
        ("GET", "/api/v1/router/1/profiles".into(), None, &[200]),
        ("GET", "/api/v1/router/99/health".into(), None, &[404]),
        ("GET", "/api/v1/router/abc/users".into(), None, &[400, 404]),
        (
            "GET",
            "/api/v1/router/1/users?per_page=0".into(),
            None,
            &[400],
        ),
        (
            "GET",
            "/api/v1/router/1/traffic?user=nobody-here".into(),
            None,
            &[404],
        ),
        ("POST", "/api/v1/sync/1".into(), None, &[200]),
        ("POST", "/api/v1/router/1/backup".into(), None, &[200]),
        ("DELETE", "/api/v1/routers".into(), None, &[405]),
    ];
    // Every request example of the document, in order: create, change, kick, isolate; then
    // the errors and the clean-up.
    for (method, path) in [
        ("POST", "/api/v1/secret"),
        ("PUT", "/api/v1/secret/{user}"),
        ("POST", "/api/v1/kick"),
        ("POST", "/api/v1/isolate"),
    ] {
        let schema = request_schema(&doc, method, path).expect("request body");
        let schema = resolve(&doc, schema).expect("request schema");
        let concrete = path.replace("{user}", "demo-new-1");
        cases.push((
            method,
            concrete,
            Some(schema["example"].clone()),
            &[200, 201],
        ));
    }
    let duplicate = json!({ "router_id": 1, "user": "demo-new-1", "password": "x" });
    let nameless = json!({ "router_id": 1, "user": "", "password": "x" });
    let release = json!({ "router_id": 1, "action": "remove", "ip": "10.99.0.1" });
    cases.push(("POST", "/api/v1/secret".into(), Some(duplicate), &[409]));
    cases.push(("POST", "/api/v1/secret".into(), Some(nameless), &[400]));
    cases.push(("POST", "/api/v1/isolate".into(), Some(release), &[200]));
    // A Go body (no router_id) for an address no router knows: 400 with the candidates.
    let go_release = json!({ "action": "remove", "ip": "10.99.0.1", "list": "ISOLATED" });
    cases.push(("POST", "/api/v1/isolate".into(), Some(go_release), &[400]));
    let delete = "/api/v1/secret/demo-new-1?router_id=1&kick=1";
    cases.push(("DELETE", delete.into(), None, &[200]));

    let mut mismatches = Vec::new();
    for (method, path, body, statuses) in &cases {
        let (status, content_type, value) = call_demo(&demo, &key, method, path, body.as_ref());
        let verdict = if !statuses.contains(&status) {
            Err(format!(
                "status {status}, expected one of {statuses:?}: {value}"
            ))
        } else if content_type != "application/json" {
            Err(format!("content type {content_type}"))
        } else {
            // A 405 belongs to no operation of its own: check it against the path's GET.
            let documented_method = if status == 405 { "GET" } else { method };
            validate_response(&doc, documented_method, path, status, &value)
        };
        if let Err(why) = verdict {
            mismatches.push(format!("{method} {path}: {why}"));
        }
    }
    let (status, _, value) = call_demo(&demo, "not-the-key", "GET", "/api/v1/routers", None);
    assert_eq!(status, 401);
    validate_response(&doc, "GET", "/api/v1/routers", 401, &value).expect("401 body");

    // Live traffic of a user the cache lists as connected (sessions come and go: retry).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let connected = "/api/v1/router/1/users?status=connected&per_page=5";
    let mut answered = false;
    while !answered && std::time::Instant::now() < deadline {
        let (_, _, users) = call_demo(&demo, &key, "GET", connected, None);
        let names: Vec<String> = users
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|user| user["username"].as_str().map(str::to_string))
            .collect();
        for name in names {
            let path = format!("/api/v1/router/1/traffic?user={name}");
            let (status, _, value) = call_demo(&demo, &key, "GET", &path, None);
            if let Err(why) = validate_response(&doc, "GET", &path, status, &value) {
                mismatches.push(format!("GET {path}: {why}"));
            }
            if status == 200 {
                answered = true;
                break;
            }
        }
        if !answered {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    assert!(answered, "no connected user had live traffic within 60 s");
    assert!(
        mismatches.is_empty(),
        "answers that break openapi.json:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_operation_is_complete() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let route = format!("{method} {path}");
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{route}: operationId");
        assert!(
            ids.insert(id.to_string()),
            "{route}: duplicate operationId {id}"
        );
        for field in ["summary", "description"] {
            assert!(
                operation[field].as_str().is_some_and(|s| !s.is_empty()),
                "{route}: {field}"
            );
        }
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{route}: tags"
        );
        let responses = operation["responses"].as_object().expect("responses");
        let successes: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
        assert_eq!(successes.len(), 1, "{route}: one success status");
        assert!(responses.contains_key("default"), "{route}: default error");
        for (status, response) in responses {
            let response = resolve(&doc, response).expect("response ref");
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{route} {status}: description"
            );
            let content = response["content"].as_object().expect("content");
            assert!(!content.is_empty(), "{route} {status}: content");
            if status != "default" && !status.starts_with('2') {
                let schema = response_schema(&doc, &method, &path, status.parse().unwrap())
                    .expect("error schema");
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{route} {status}"
                );
            }
        }
        if matches!(method.as_str(), "POST" | "PUT") && path != "/api/v1/routers/reload" {
            let takes_body = operation.get("requestBody").is_some();
            let is_path_action = path.contains("{id}");
            assert!(takes_body || is_path_action, "{route}: request body");
        }
        // `/bulk` takes router_id per operation (checked on BulkOperation's schema below).
        let request = if path == "/api/v1/bulk" {
            doc.pointer("/components/schemas/BulkOperation")
        } else {
            request_schema(&doc, &method, &path)
        };
        if let Some(schema) = request {
            let schema = resolve(&doc, schema).expect("request schema");
            // The Go engine's bodies carry no router_id: it is optional in every write.
            assert!(
                schema["properties"].get("router_id").is_some(),
                "{route}: router_id is accepted"
            );
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            assert!(
                !required.contains(&Value::from("router_id")),
                "{route}: router_id must stay optional"
            );
        }
    }
}

#[test]
fn every_ref_resolves() {
    fn walk(doc: &Value, value: &Value, at: &str, count: &mut usize) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref") {
                    let reference = reference.as_str().expect("$ref is a string");
                    lookup_ref(doc, reference).unwrap_or_else(|e| panic!("{at}: {e}"));
                    *count += 1;
                }
                for (key, item) in map {
                    walk(doc, item, &format!("{at}/{key}"), count);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(doc, item, &format!("{at}/{index}"), count);
                }
            }
            _ => {}
        }
    }
    let doc = document();
    let mut count = 0;
    walk(&doc, &doc, "#", &mut count);
    assert!(
        count > 50,
        "only {count} refs: the document is suspiciously small"
    );
}

#[test]
fn secured_routes_require_the_app_key_and_public_ones_do_not() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"]["AppKey"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "X-App-Key");
    let global = &doc["security"];
    for (method, path, operation) in operations(&doc) {
        let route = format!("{method} {path}");
        let effective = operation.get("security").unwrap_or(global);
        let requirements = effective.as_array().expect("security is a list");
        let public = PUBLIC_ROUTES.contains(&(method.as_str(), path.as_str()));
        if public {
            assert!(requirements.is_empty(), "{route} must be public");
            assert!(
                operation["responses"].get("401").is_none(),
                "{route}: public, so no 401"
            );
        } else {
            assert!(
                !requirements.is_empty()
                    && requirements
                        .iter()
                        .all(|requirement| requirement.get("AppKey").is_some()),
                "{route} must require X-App-Key: {effective}"
            );
            assert!(operation["responses"].get("401").is_some(), "{route}: 401");
        }
    }
}

#[test]
fn path_parameters_are_declared_and_named_id_or_user() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        let route = format!("{method} {path}");
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        for name in &in_template {
            assert!(name == "id" || name == "user", "{route}: parameter {name}");
        }
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| resolve(&doc, parameter).expect("parameter ref"))
            .filter(|parameter| parameter["in"] == "path")
            .map(|parameter| {
                assert_eq!(
                    parameter["required"], true,
                    "{route}: path parameters are required"
                );
                parameter["name"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(declared, in_template, "{route}");
    }
}

#[test]
fn error_schema_lists_every_error_code() {
    let doc = document();
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(codes, ERROR_CODES.into_iter().collect());
}

/// Every `example` and `examples` in the document, with the schema it illustrates.
fn examples(doc: &Value) -> Vec<(String, Value, Value)> {
    fn walk(value: &Value, at: &str, found: &mut Vec<(String, Value, Value)>) {
        let Some(map) = value.as_object() else {
            if let Some(items) = value.as_array() {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{index}"), found);
                }
            }
            return;
        };
        // A schema's own example, a parameter's example, or a media type's example(s).
        let schema = if map.contains_key("schema") {
            map.get("schema").cloned()
        } else if map.contains_key("type") || map.contains_key("properties") {
            let mut own = map.clone();
            own.remove("example");
            Some(Value::Object(own))
        } else {
            None
        };
        if let Some(schema) = schema {
            if let Some(example) = map.get("example") {
                found.push((format!("{at}/example"), example.clone(), schema.clone()));
            }
            if let Some(named) = map.get("examples").and_then(Value::as_object) {
                for (name, example) in named {
                    found.push((
                        format!("{at}/examples/{name}"),
                        example["value"].clone(),
                        schema.clone(),
                    ));
                }
            }
        }
        for (key, item) in map {
            if key != "example" && key != "examples" {
                walk(item, &format!("{at}/{key}"), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(doc, "#", &mut found);
    found
}

#[test]
fn every_example_matches_its_schema() {
    let doc = document();
    let found = examples(&doc);
    assert!(found.len() > 40, "only {} examples", found.len());
    for (at, example, schema) in &found {
        validate(example, schema, &doc).unwrap_or_else(|e| panic!("{at}: {e}"));
    }
}

#[test]
fn every_schema_uses_only_keywords_the_validator_checks() {
    let doc = document();
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        check_schema_keywords(schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        checked += 1;
    }
    for (method, path, operation) in operations(&doc) {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let parameter = resolve(&doc, parameter).expect("parameter ref");
            check_schema_keywords(&parameter["schema"])
                .unwrap_or_else(|e| panic!("{method} {path} parameter: {e}"));
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} schemas checked");
}
