//! Reads the embedded OpenAPI document and checks JSON values against its schemas with the
//! `jsonschema` crate, so tests can validate real responses of the engine against what the
//! document promises.
//!
//! OpenAPI 3.0 schemas are JSON Schema (draft 4 semantics, "Wright draft 00") plus `nullable`:
//! the document is turned into plain draft 4 first (`nullable: true` adds `"null"` to the
//! `type`, and to the `enum` when there is one), then registered whole under
//! [`DOCUMENT_URI`], so every `#/components/...` `$ref` resolves offline. Formats
//! (`date-time`, `ipv4`) are asserted. [`check_schema_keywords`] keeps the document to keywords
//! that this validation enforces, so it cannot quietly rely on a rule no test checks.

// Each test module uses its own share of these helpers (the API tests validate real answers).
#![allow(dead_code)]

use std::collections::BTreeSet;

use jsonschema::{Draft, Registry};
use serde_json::Value;

/// The HTTP methods an OpenAPI path item may hold.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Where the document sits in the validator's registry (a schema's `#/components/...` refs are
/// pointed at it). A URN, so nothing could ever be fetched for it.
pub const DOCUMENT_URI: &str = "urn:net-engine:openapi.json";

/// Words that only describe a schema and constrain nothing.
const ANNOTATIONS: [&str; 9] = [
    "description",
    "example",
    "examples",
    "default",
    "title",
    "readOnly",
    "writeOnly",
    "deprecated",
    "externalDocs",
];

/// OpenAPI 3.0 schema keywords that the draft 4 validator enforces (`nullable` through the
/// translation). OpenAPI-only ones it would ignore (`discriminator`, `xml`) are left out.
const ENFORCED: [&str; 26] = [
    "$ref",
    "type",
    "nullable",
    "format",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// The document embedded in the binary, parsed.
pub fn document() -> Value {
    serde_json::from_str(net_engine::http::assets::OPENAPI_JSON).expect("openapi.json is JSON")
}
/// Follows local `$ref`s (`#/components/...`) until a value without one.
pub fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        value = lookup_ref(doc, reference)?;
    }
    Err("$ref chain longer than 32".into())
}

/// The value a local JSON pointer reference (`#/a/b`) names.
pub fn lookup_ref<'a>(doc: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("only local $ref is supported: {reference}"))?;
    doc.pointer(pointer)
        .ok_or_else(|| format!("$ref {reference} resolves to nothing"))
}

/// `value` (a schema, or any part of the document) with OpenAPI 3.0's `nullable` turned into
/// draft 4: `nullable: true` adds `"null"` to `type` (and to `enum`), as OpenAPI 3.0.3 defines
/// it (only where `type` is given). Examples are data, not schemas, and stay as they are.
pub fn to_json_schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                let keep = matches!(key.as_str(), "example" | "examples" | "default");
                out.insert(
                    key.clone(),
                    if keep {
                        item.clone()
                    } else {
                        to_json_schema(item)
                    },
                );
            }
            if let Some(nullable) = out.remove("nullable") {
                let has_type = out.contains_key("type");
                if nullable == Value::Bool(true) && has_type {
                    if let Some(Value::String(name)) = out.get("type") {
                        let names = Value::from(vec![name.clone(), "null".to_string()]);
                        out.insert("type".into(), names);
                    }
                    if let Some(Value::Array(allowed)) = out.get_mut("enum") {
                        if !allowed.contains(&Value::Null) {
                            allowed.push(Value::Null);
                        }
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// Checks `value` against `schema` (part of `doc`, or a `$ref` into it) with `jsonschema`,
/// `$ref`s resolved in `doc`. The error lists every mismatch with the JSON pointer of the
/// value, e.g. `/routers/0/state: "up" is not one of ["online","offline"]`.
pub fn validate(value: &Value, schema: &Value, doc: &Value) -> Result<(), String> {
    let registry = Registry::new()
        .draft(Draft::Draft4)
        .add(DOCUMENT_URI, to_json_schema(doc))
        .and_then(|builder| builder.prepare())
        .map_err(|e| format!("openapi document as a schema registry: {e}"))?;
    // The schema is a root of its own: its `#/...` refs must point into the document.
    let mut root = to_json_schema(schema);
    refs_into_document(&mut root);
    let validator = jsonschema::options()
        .with_draft(Draft::Draft4)
        .with_registry(&registry)
        .should_validate_formats(true)
        .offline()
        .build(&root)
        .map_err(|e| format!("bad schema {schema}: {e}"))?;
    let mismatches: Vec<String> = validator
        .iter_errors(value)
        .map(|error| {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {error}")
        })
        .collect();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches.join("; "))
    }
}

/// Rewrites local `$ref`s (`#/components/...`) to name the registered document.
fn refs_into_document(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(reference) if key == "$ref" && reference.starts_with('#') => {
                        *reference = format!("{DOCUMENT_URI}{reference}");
                    }
                    _ if matches!(key.as_str(), "example" | "examples" | "default") => {}
                    _ => refs_into_document(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(refs_into_document),
        _ => {}
    }
}

/// Every keyword in `schema` and the schemas nested in it is one [`validate`] enforces or an
/// annotation, and `type` names one type (OpenAPI 3.0 has no type lists); `$ref`s are not
/// followed (each component is checked on its own).
pub fn check_schema_keywords(schema: &Value) -> Result<(), String> {
    let Some(rules) = schema.as_object() else {
        return if schema.is_boolean() {
            Ok(())
        } else {
            Err(format!("schema is not an object: {schema}"))
        };
    };
    for (keyword, rule) in rules {
        let known = ENFORCED.contains(&keyword.as_str())
            || ANNOTATIONS.contains(&keyword.as_str())
            || keyword.starts_with("x-");
        if !known {
            return Err(format!("keyword {keyword:?} is not enforced by validate()"));
        }
        match keyword.as_str() {
            "type" if !rule.is_string() => {
                return Err(format!("type {rule} is not one type name"));
            }
            "properties" => {
                for (name, property) in rule.as_object().into_iter().flatten() {
                    check_schema_keywords(property).map_err(|e| format!("{name}: {e}"))?;
                }
            }
            "items" | "additionalProperties" | "not" => check_schema_keywords(rule)?,
            "oneOf" | "anyOf" | "allOf" => {
                for option in rule.as_array().into_iter().flatten() {
                    check_schema_keywords(option)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every documented operation as (`GET`, `/api/v1/router/{id}/users`).
pub fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Routes the engine serves but the document leaves out on purpose (the dashboard and the
/// Swagger UI files), from the document's `x-undocumented-routes`, as (`GET`, `/app.js`).
pub fn undocumented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    doc["x-undocumented-routes"]["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|route| route.split_once(' '))
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect()
}

/// The documented path template a concrete request path falls under:
/// `/api/v1/router/7/users?page=2` → `/api/v1/router/{id}/users`. Literal templates win over
/// ones with parameters, as in OpenAPI.
pub fn match_template(doc: &Value, concrete: &str) -> Option<String> {
    let concrete = concrete.split(['?', '#']).next().unwrap_or_default();
    let wanted: Vec<&str> = concrete.split('/').collect();
    let mut best: Option<(usize, &String)> = None;
    for template in doc["paths"].as_object()?.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&wanted).all(|(part, actual)| {
            if part.starts_with('{') && part.ends_with('}') {
                !actual.is_empty()
            } else {
                literal += 1;
                part == actual
            }
        });
        if fits && best.is_none_or(|(score, _)| literal > score) {
            best = Some((literal, template));
        }
    }
    best.map(|(_, template)| template.clone())
}

/// The operation object for `method` (any case) on `template`.
pub fn operation<'a>(doc: &'a Value, method: &str, template: &str) -> Option<&'a Value> {
    doc["paths"].get(template)?.get(method.to_lowercase())
}

/// The JSON schema of the answer with `status` to `method template`, from its exact status
/// entry or else `default`.
pub fn response_schema<'a>(
    doc: &'a Value,
    method: &str,
    template: &str,
    status: u16,
) -> Result<&'a Value, String> {
    let operation = operation(doc, method, template)
        .ok_or_else(|| format!("{method} {template} is not documented"))?;
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{method} {template}: status {status} is not documented"))?;
    let response = resolve(doc, response)?;
    response["content"]["application/json"]
        .get("schema")
        .ok_or_else(|| format!("{method} {template} {status}: no application/json schema"))
}

/// The JSON schema of the request body of `method template`, if it takes one.
pub fn request_schema<'a>(doc: &'a Value, method: &str, template: &str) -> Option<&'a Value> {
    operation(doc, method, template)?
        .get("requestBody")?
        .get("content")?
        .get("application/json")?
        .get("schema")
}

/// Checks a real answer: `path` is the concrete request path (query allowed).
pub fn validate_response(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let template =
        match_template(doc, path).ok_or_else(|| format!("{path} matches no documented path"))?;
    let schema = response_schema(doc, method, &template, status)?;
    validate(body, schema, doc).map_err(|e| format!("{method} {path} -> {status}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_with(schemas: Value) -> Value {
        json!({ "components": { "schemas": schemas } })
    }

    #[test]
    fn nullable_becomes_a_null_type_only_where_a_type_is_given() {
        let schema = json!({
            "type": "object",
            "nullable": false,
            "example": { "nullable": true },
            "properties": {
                "a": { "type": "string", "nullable": true },
                "b": { "type": "string", "enum": ["x"], "nullable": true },
                "c": { "$ref": "#/components/schemas/C", "nullable": true }
            }
        });
        assert_eq!(
            to_json_schema(&schema),
            json!({
                "type": "object",
                "example": { "nullable": true },
                "properties": {
                    "a": { "type": ["string", "null"] },
                    "b": { "type": ["string", "null"], "enum": ["x", null] },
                    "c": { "$ref": "#/components/schemas/C" }
                }
            })
        );
    }

    #[test]
    fn validator_accepts_and_rejects_as_the_rules_say() {
        let doc = doc_with(json!({
            "Thing": {
                "type": "object",
                "required": ["id", "state"],
                "additionalProperties": false,
                "properties": {
                    "id": { "type": "integer", "minimum": 1 },
                    "state": { "type": "string", "enum": ["on", "off"] },
                    "note": { "type": "string", "nullable": true, "maxLength": 3 },
                    "at": { "type": "string", "format": "date-time" },
                    "ip": { "type": "string", "format": "ipv4" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "either": { "oneOf": [{ "type": "integer" }, { "type": "string" }] }
                }
            },
            "List": { "type": "object", "properties": { "things": { "type": "array", "items": { "$ref": "#/components/schemas/Thing" } } } }
        }));
        let thing = json!({ "$ref": "#/components/schemas/Thing" });
        let list = json!({ "$ref": "#/components/schemas/List" });
        let good = [
            json!({ "id": 1, "state": "on" }),
            json!({ "id": 2, "state": "off", "note": null, "tags": ["a"], "either": "x" }),
            json!({ "id": 3, "state": "on", "note": "abc", "either": 4 }),
            json!({ "id": 4, "state": "on", "at": "2026-11-29T17:20:00Z", "ip": "10.0.0.1" }),
            json!({ "id": 5, "state": "on", "at": "2026-11-29T17:20:00.123+01:00" }),
        ];
        for value in &good {
            assert_eq!(validate(value, &thing, &doc), Ok(()), "{value}");
        }
        let bad = [
            (json!({ "state": "on" }), "/: \"id\" is a required property"),
            (json!({ "id": 0, "state": "on" }), "/id: "),
            (json!({ "id": 1.5, "state": "on" }), "/id: "),
            (json!({ "id": "1", "state": "on" }), "/id: "),
            (json!({ "id": 1, "state": "maybe" }), "/state: "),
            (json!({ "id": 1, "state": "on", "extra": 1 }), "/: "),
            (json!({ "id": 1, "state": "on", "note": "abcd" }), "/note: "),
            (
                json!({ "id": 1, "state": "on", "at": "yesterday" }),
                "/at: ",
            ),
            (
                json!({ "id": 1, "state": "on", "ip": "10.0.0.256" }),
                "/ip: ",
            ),
            (json!({ "id": 1, "state": "on", "tags": [1] }), "/tags/0: "),
            (
                json!({ "id": 1, "state": "on", "either": true }),
                "/either: ",
            ),
            (json!({ "id": 1, "state": null }), "/state: "),
            (json!([1]), "/: "),
        ];
        for (value, reason) in &bad {
            let error = validate(value, &thing, &doc).expect_err(&value.to_string());
            assert!(error.starts_with(reason), "{value}: {error}");
        }
        let nested = validate(
            &json!({ "things": [{ "id": 1, "state": "on" }, { "id": 1, "state": "up" }] }),
            &list,
            &doc,
        )
        .expect_err("nested mismatch");
        assert!(nested.starts_with("/things/1/state: "), "{nested}");
    }

    #[test]
    fn the_real_document_resolves_nested_refs_and_nullable_fields() {
        let doc = document();
        let list = json!({ "$ref": "#/components/schemas/RouterList" });
        let mut router = json!({
            "id": 1, "name": "sim-1", "host": "127.0.0.1", "port": 40001, "username": "admin",
            "state": "online", "since": "2026-11-29T17:20:00Z", "last_error": null,
            "identity": null, "version": null, "board": null, "active_sessions": 0,
            "last_poll_at": null, "rtt_ms": null
        });
        assert_eq!(validate(&json!([router]), &list, &doc), Ok(()));
        router["last_poll_at"] = json!("soon");
        router["state"] = json!("up");
        let error = validate(&json!([router]), &list, &doc).expect_err("bad");
        assert!(error.contains("/0/state: "), "{error}");
        assert!(error.contains("/0/last_poll_at: "), "{error}");
    }

    #[test]
    fn a_dangling_ref_is_an_error_not_a_pass() {
        let doc = doc_with(json!({}));
        let error = validate(
            &json!(1),
            &json!({ "$ref": "#/components/schemas/Nope" }),
            &doc,
        )
        .expect_err("dangling ref");
        assert!(error.contains("Nope"), "{error}");
    }

    #[test]
    fn keyword_check_refuses_what_validation_would_ignore() {
        let enforced = json!({ "type": "string", "pattern": "^x$", "nullable": true });
        assert_eq!(check_schema_keywords(&enforced), Ok(()));
        for (schema, named) in [
            (json!({ "type": "string", "const": "x" }), "const"),
            (json!({ "oneOf": [], "discriminator": {} }), "discriminator"),
            (
                json!({ "properties": { "a": { "maxlength": 3 } } }),
                "maxlength",
            ),
            (json!({ "type": ["string", "null"] }), "type"),
        ] {
            let error = check_schema_keywords(&schema).expect_err(&schema.to_string());
            assert!(error.contains(named), "{schema}: {error}");
        }
    }

    #[test]
    fn concrete_paths_match_their_templates() {
        let doc = json!({ "paths": {
            "/api/v1/routers": {}, "/api/v1/routers/reload": {},
            "/api/v1/router/{id}/users": {}, "/api/v1/secret/{user}": {}, "/api/v1/secret": {}
        }});
        let cases = [
            ("/api/v1/routers", Some("/api/v1/routers")),
            ("/api/v1/routers/reload", Some("/api/v1/routers/reload")),
            (
                "/api/v1/router/12/users?page=2&q=a",
                Some("/api/v1/router/{id}/users"),
            ),
            ("/api/v1/secret/bob", Some("/api/v1/secret/{user}")),
            ("/api/v1/secret", Some("/api/v1/secret")),
            ("/api/v1/secret/", None),
            ("/api/v1/router/1/nothing", None),
        ];
        for (path, expected) in cases {
            assert_eq!(match_template(&doc, path).as_deref(), expected, "{path}");
        }
    }
}
