//! The OpenAPI document, checked without a server: it parses, every operation is complete,
//! every `$ref` resolves, security is where it belongs, and every example it shows is valid
//! against its own schema (so Swagger UI's "Try it out" starts from a request that can work).
//!
//! Checking the document against the routing table, and real answers of the demo against
//! the document, needs the HTTP layer: those tests call `support::openapi::validate_response`
//! and `documented_routes`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::openapi::{
    check_schema_keywords, document, documented_routes, lookup_ref, request_schema, resolve,
    response_schema, undocumented_routes, validate, METHODS,
};

/// Every route of REST API v1 as /work/notes/api-shapes.md lists them, plus /metrics.
const EXPECTED_ROUTES: [(&str, &str); 17] = [
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/routers"),
    ("POST", "/api/v1/routers/reload"),
    ("GET", "/api/v1/monitoring/targets"),
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
];

const PUBLIC_ROUTES: [(&str, &str); 2] =
    [("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")];

const ERROR_CODES: [&str; 15] = [
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
        left_out.contains(&("GET".into(), "/".into())),
        "{left_out:?}"
    );
    assert!(
        left_out.contains(&("GET".into(), "/api/v1/swagger/{file}".into())),
        "{left_out:?}"
    );
    assert!(left_out.is_disjoint(&expected));
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
        if let Some(schema) = request_schema(&doc, &method, &path) {
            let schema = resolve(&doc, schema).expect("request schema");
            let required = schema["required"].as_array().expect("required");
            assert!(
                required.contains(&Value::from("router_id")),
                "{route}: router_id is required in every mutation"
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
