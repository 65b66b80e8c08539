//! The owned request value handlers see, query-string parsing and JSON body field access.

use super::error::ApiError;
use serde_json::{Map, Value};

/// An HTTP request, read whole and detached from the connection.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    /// Path without the query string, still percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub app_key: Option<String>,
    /// The token of an `Authorization: Bearer` header (accepted on `/metrics`, which
    /// Prometheus before 2.55 can only authenticate this way).
    pub bearer: Option<String>,
    /// `If-None-Match`, for static files.
    pub if_none_match: Option<String>,
    pub body: Vec<u8>,
    pub request_id: u64,
    /// The client's address as the access log shows it (the proxy's `X-Forwarded-For` only
    /// when the peer is loopback).
    pub client: String,
    /// `Idempotency-Key`, as sent.
    pub idempotency_key: Option<String>,
}

impl ApiRequest {
    /// Splits `target` (`/path?query`) into path and decoded query pairs.
    pub fn new(
        method: &str,
        target: &str,
        app_key: Option<String>,
        body: Vec<u8>,
        request_id: u64,
    ) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, parse_query(query)),
            None => (target, Vec::new()),
        };
        ApiRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query,
            app_key,
            bearer: None,
            if_none_match: None,
            body,
            request_id,
            client: String::new(),
            idempotency_key: None,
        }
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `a=1&b=x%20y` (with `+` as space) into pairs, as `application/x-www-form-urlencoded`.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Decodes `%XX` escapes (no `+` as space, for path segments); invalid escapes are kept as
/// they are. Invalid UTF-8 is replaced.
pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A JSON object body whose fields are taken one by one with typed, named errors.
pub struct JsonBody {
    fields: Map<String, Value>,
}

impl JsonBody {
    pub fn parse(body: &[u8]) -> Result<JsonBody, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                400,
                "bad_json",
                "a JSON object body is required",
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => Ok(JsonBody { fields }),
            Ok(_) => Err(ApiError::new(
                400,
                "bad_json",
                "the body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                400,
                "bad_json",
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.fields.remove(name).filter(|v| !v.is_null())
    }

    /// A string field, `None` when absent or null.
    pub fn opt_string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::field(name, format!("{name} must be a string"))),
        }
    }

    pub fn required_string(&mut self, name: &str) -> Result<String, ApiError> {
        self.opt_string(name)?
            .ok_or_else(|| ApiError::field(name, format!("{name} is required")))
    }

    /// A boolean field; also accepts 0/1 and "true"/"false" as form-minded clients send them.
    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
            Some(Value::String(s)) if s == "true" || s == "1" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" || s == "0" => Ok(Some(false)),
            Some(_) => Err(ApiError::field(
                name,
                format!("{name} must be true or false"),
            )),
        }
    }

    /// A positive integer id; accepts `7` and `"7"`.
    pub fn required_id(&mut self, name: &str) -> Result<u64, ApiError> {
        self.opt_id(name)?
            .ok_or_else(|| ApiError::field(name, format!("{name} is required")))
    }

    /// A positive integer id, `None` when absent or null; accepts `7` and `"7"`.
    pub fn opt_id(&mut self, name: &str) -> Result<Option<u64>, ApiError> {
        let invalid = || ApiError::field(name, format!("{name} must be a positive integer"));
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().filter(|&v| v > 0).map(Some).ok_or_else(invalid),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&v| v > 0)
                .map(Some)
                .ok_or_else(invalid),
            Some(_) => Err(invalid()),
        }
    }

    /// Fails on the first field nobody took (a typo must not be silently ignored).
    pub fn finish(self) -> Result<(), ApiError> {
        match self.fields.keys().next() {
            Some(name) => Err(ApiError::field(name, format!("unknown field {name:?}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_percent_decoding() {
        let request = ApiRequest::new(
            "get",
            "/api/v1/router/1/traffic?user=a%40b+c&x=&y",
            None,
            vec![],
            1,
        );
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/api/v1/router/1/traffic");
        assert_eq!(request.query("user"), Some("a@b c"));
        assert_eq!(request.query("x"), Some(""));
        assert_eq!(request.query("y"), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("a+b%2"), "a+b%2");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(
            parse_query("a=1&&b=x%20y+z&c=%zz&d=1=2"),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y z".to_owned()),
                ("c".to_owned(), "%zz".to_owned()),
                ("d".to_owned(), "1=2".to_owned()),
            ]
        );
    }

    #[test]
    fn body_fields_are_typed_and_named() {
        let mut body =
            JsonBody::parse(br#"{"router_id":"3","user":"bob","kick":1,"extra":true}"#).unwrap();
        assert_eq!(body.required_id("router_id").unwrap(), 3);
        assert_eq!(body.required_string("user").unwrap(), "bob");
        assert_eq!(body.opt_bool("kick").unwrap(), Some(true));
        let error = body.finish().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("extra"));

        let mut body = JsonBody::parse(br#"{"router_id":0,"user":5}"#).unwrap();
        assert_eq!(
            body.required_id("router_id").unwrap_err().field.as_deref(),
            Some("router_id")
        );
        assert_eq!(
            body.required_string("user").unwrap_err().field.as_deref(),
            Some("user")
        );
        assert_eq!(
            JsonBody::parse(b"[1]").err().map(|e| e.code),
            Some("bad_json")
        );
        assert_eq!(
            JsonBody::parse(b"{").err().map(|e| e.code),
            Some("bad_json")
        );
        assert_eq!(JsonBody::parse(b"").err().map(|e| e.code), Some("bad_json"));
    }
}
