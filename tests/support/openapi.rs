//! Reads the embedded OpenAPI document and checks JSON values against its schemas, so tests
//! can validate real responses of the engine against what the document promises.
//!
//! The validator covers the OpenAPI 3.0 schema subset the document uses: `$ref` (local),
//! `type` (one or a list), `nullable`, `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `items`, `oneOf`/`anyOf`/`allOf`, `minimum`/`maximum`,
//! `minLength`/`maxLength`, `minItems`/`maxItems` and the formats `date-time` and `ipv4`.
//! A keyword it does not know is an error, so the document cannot quietly rely on a rule
//! that no test checks.

// Each test module uses its own share of these helpers (the API tests validate real answers).
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

/// The HTTP methods an OpenAPI path item may hold.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

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

/// Checks `value` against `schema`, resolving `$ref`s in `doc`. The error names the JSON path
/// of the first mismatch, e.g. `$.routers[0].state: "up" is not one of [...]`.
pub fn validate(value: &Value, schema: &Value, doc: &Value) -> Result<(), String> {
    validate_at(value, schema, doc, "$", 0)
}

fn validate_at(
    value: &Value,
    schema: &Value,
    doc: &Value,
    path: &str,
    depth: usize,
) -> Result<(), String> {
    if depth > 64 {
        return Err(format!("{path}: schema nesting deeper than 64"));
    }
    let schema = resolve(doc, schema).map_err(|e| format!("{path}: {e}"))?;
    let Some(rules) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok(()),
            Value::Bool(false) => Err(format!("{path}: no value is allowed here")),
            _ => Err(format!("{path}: schema is not an object: {schema}")),
        };
    };
    let nullable = rules.get("nullable") == Some(&Value::Bool(true));
    if value.is_null() && nullable {
        return Ok(());
    }

    for (keyword, rule) in rules {
        match keyword.as_str() {
            "type" => check_type(value, rule, nullable, path)?,
            "nullable" | "format" => {}
            "enum" => {
                let allowed = rule
                    .as_array()
                    .ok_or(format!("{path}: enum is not a list"))?;
                if !allowed.contains(value) {
                    return Err(format!("{path}: {value} is not one of {rule}"));
                }
            }
            "const" => {
                if value != rule {
                    return Err(format!("{path}: {value} is not {rule}"));
                }
            }
            "properties" | "required" | "additionalProperties" => {}
            "items" => {
                if let Some(items) = value.as_array() {
                    for (index, item) in items.iter().enumerate() {
                        validate_at(item, rule, doc, &format!("{path}[{index}]"), depth + 1)?;
                    }
                }
            }
            "oneOf" | "anyOf" | "allOf" => {
                let options = rule
                    .as_array()
                    .ok_or(format!("{path}: {keyword} is not a list"))?;
                let results: Vec<Result<(), String>> = options
                    .iter()
                    .map(|option| validate_at(value, option, doc, path, depth + 1))
                    .collect();
                let passed = results.iter().filter(|result| result.is_ok()).count();
                let ok = match keyword.as_str() {
                    "oneOf" => passed == 1,
                    "anyOf" => passed >= 1,
                    _ => passed == options.len(),
                };
                if !ok {
                    let reasons: Vec<String> =
                        results.into_iter().filter_map(Result::err).collect();
                    return Err(format!(
                        "{path}: {passed} of {} {keyword} alternatives match ({})",
                        options.len(),
                        reasons.join("; ")
                    ));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(number), Some(bound)) = (value.as_f64(), rule.as_f64()) {
                    let ok = if keyword == "minimum" {
                        number >= bound
                    } else {
                        number <= bound
                    };
                    if !ok {
                        return Err(format!("{path}: {value} breaks {keyword} {rule}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(text), Some(bound)) = (value.as_str(), rule.as_u64()) {
                    let length = text.chars().count() as u64;
                    let ok = if keyword == "minLength" {
                        length >= bound
                    } else {
                        length <= bound
                    };
                    if !ok {
                        return Err(format!("{path}: {value} breaks {keyword} {rule}"));
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let (Some(items), Some(bound)) = (value.as_array(), rule.as_u64()) {
                    let length = items.len() as u64;
                    let ok = if keyword == "minItems" {
                        length >= bound
                    } else {
                        length <= bound
                    };
                    if !ok {
                        return Err(format!("{path}: {} items break {keyword} {rule}", length));
                    }
                }
            }
            other if ANNOTATIONS.contains(&other) || other.starts_with("x-") => {}
            other => return Err(format!("{path}: schema keyword {other:?} is not supported")),
        }
    }

    if let Some(format) = rules.get("format").and_then(Value::as_str) {
        if let Some(text) = value.as_str() {
            check_format(text, format).map_err(|e| format!("{path}: {e}"))?;
        }
    }
    if let Some(object) = value.as_object() {
        let properties = rules.get("properties").and_then(Value::as_object);
        for name in rules
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{path}: missing required property {name:?}"));
            }
        }
        for (name, item) in object {
            let item_path = format!("{path}.{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => validate_at(item, property, doc, &item_path, depth + 1)?,
                None => match rules.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{path}: property {name:?} is not in the schema"))
                    }
                    Some(extra @ Value::Object(_)) => {
                        validate_at(item, extra, doc, &item_path, depth + 1)?
                    }
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

/// Every keyword in `schema` and the schemas nested in it is one `validate` checks or an
/// annotation; `$ref`s are not followed (each component is checked on its own).
pub fn check_schema_keywords(schema: &Value) -> Result<(), String> {
    const CHECKED: [&str; 20] = [
        "$ref",
        "type",
        "nullable",
        "format",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "oneOf",
        "anyOf",
        "allOf",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "description",
    ];
    let Some(rules) = schema.as_object() else {
        return if schema.is_boolean() {
            Ok(())
        } else {
            Err(format!("schema is not an object: {schema}"))
        };
    };
    for (keyword, rule) in rules {
        let known = CHECKED.contains(&keyword.as_str())
            || ANNOTATIONS.contains(&keyword.as_str())
            || keyword.starts_with("x-");
        if !known {
            return Err(format!("keyword {keyword:?} is not checked by validate()"));
        }
        match keyword.as_str() {
            "properties" => {
                for (name, property) in rule.as_object().into_iter().flatten() {
                    check_schema_keywords(property).map_err(|e| format!("{name}: {e}"))?;
                }
            }
            "items" | "additionalProperties" => check_schema_keywords(rule)?,
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

fn check_type(value: &Value, rule: &Value, nullable: bool, path: &str) -> Result<(), String> {
    let names: Vec<&str> = match rule {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("{path}: type is neither a name nor a list: {rule}")),
    };
    let matches = |name: &str| match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        _ => false,
    };
    if names.iter().any(|name| matches(name)) || (nullable && value.is_null()) {
        Ok(())
    } else {
        Err(format!("{path}: {value} is not of type {rule}"))
    }
}

fn check_format(text: &str, format: &str) -> Result<(), String> {
    match format {
        "date-time" => {
            if is_rfc3339(text) {
                Ok(())
            } else {
                Err(format!("{text:?} is not an RFC 3339 date-time"))
            }
        }
        "ipv4" => text
            .parse::<std::net::Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("{text:?} is not an IPv4 address")),
        // int64, password and the like only describe the value.
        _ => Ok(()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`.
fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    if bytes.len() < 20
        || !digits(0..4)
        || bytes[4] != b'-'
        || !digits(5..7)
        || bytes[7] != b'-'
        || !digits(8..10)
        || !matches!(bytes[10], b'T' | b't')
        || !digits(11..13)
        || bytes[13] != b':'
        || !digits(14..16)
        || bytes[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return false;
        }
        rest = &fraction[length..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|byte| byte.is_ascii_digit())
        }
        _ => false,
    }
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
                    "either": { "oneOf": [{ "type": "integer" }, { "type": "null" }] },
                    "many": { "type": ["string", "null"] }
                }
            },
            "List": { "type": "object", "properties": { "things": { "type": "array", "items": { "$ref": "#/components/schemas/Thing" } } } }
        }));
        let thing = json!({ "$ref": "#/components/schemas/Thing" });
        let list = json!({ "$ref": "#/components/schemas/List" });
        let good = [
            json!({ "id": 1, "state": "on" }),
            json!({ "id": 2, "state": "off", "note": null, "tags": ["a"], "either": null, "many": null }),
            json!({ "id": 3, "state": "on", "note": "abc", "either": 4, "many": "x" }),
            json!({ "id": 4, "state": "on", "at": "2026-11-29T17:20:00Z", "ip": "10.0.0.1" }),
            json!({ "id": 5, "state": "on", "at": "2026-11-29T17:20:00.123+01:00" }),
            json!({ "id": 6.0, "state": "on" }),
        ];
        for value in &good {
            assert_eq!(validate(value, &thing, &doc), Ok(()), "{value}");
        }
        let bad = [
            (json!({ "state": "on" }), "missing required property \"id\""),
            (json!({ "id": 0, "state": "on" }), "minimum"),
            (json!({ "id": 1.5, "state": "on" }), "not of type"),
            (json!({ "id": "1", "state": "on" }), "not of type"),
            (json!({ "id": 1, "state": "maybe" }), "not one of"),
            (
                json!({ "id": 1, "state": "on", "extra": 1 }),
                "not in the schema",
            ),
            (
                json!({ "id": 1, "state": "on", "note": "abcd" }),
                "maxLength",
            ),
            (
                json!({ "id": 1, "state": "on", "at": "yesterday" }),
                "RFC 3339",
            ),
            (
                json!({ "id": 1, "state": "on", "at": "2026-11-29 17:20:00" }),
                "RFC 3339",
            ),
            (
                json!({ "id": 1, "state": "on", "ip": "10.0.0.256" }),
                "IPv4",
            ),
            (json!({ "id": 1, "state": "on", "tags": [1] }), "$.tags[0]"),
            (json!({ "id": 1, "state": "on", "either": "x" }), "oneOf"),
            (json!({ "id": 1, "state": "on", "many": 3 }), "not of type"),
            (json!({ "id": 1, "state": null }), "$.state: null"),
            (json!([1]), "not of type"),
        ];
        for (value, reason) in &bad {
            let error = validate(value, &thing, &doc).expect_err(&value.to_string());
            assert!(error.contains(reason), "{value}: {error}");
        }
        let nested = validate(
            &json!({ "things": [{ "id": 1, "state": "on" }, { "id": 1, "state": "up" }] }),
            &list,
            &doc,
        )
        .expect_err("nested mismatch");
        assert!(nested.starts_with("$.things[1].state"), "{nested}");
    }

    #[test]
    fn validator_refuses_unknown_keywords_and_bad_refs() {
        let doc = doc_with(json!({}));
        let error = validate(
            &json!("x"),
            &json!({ "type": "string", "pattern": "^x$" }),
            &doc,
        )
        .expect_err("pattern is not supported");
        assert!(error.contains("pattern"), "{error}");
        let error = validate(
            &json!(1),
            &json!({ "$ref": "#/components/schemas/Nope" }),
            &doc,
        )
        .expect_err("dangling ref");
        assert!(error.contains("resolves to nothing"), "{error}");
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

    #[test]
    fn rfc3339_checker() {
        for good in [
            "2026-11-29T17:20:00Z",
            "2026-11-29T17:20:00.5Z",
            "2026-11-29t17:20:00-05:30",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "2026-11-29T17:20:00",
            "2026-11-29T17:20Z",
            "2026-11-29T17:20:00.Z",
            "x",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
