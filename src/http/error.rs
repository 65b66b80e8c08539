//! API errors and the one place that maps every failure to an HTTP status and code.

use crate::fleet::FleetError;
use crate::model::RouterId;
use serde_json::{json, Value};

/// An error answer: status, machine code, human message, optional field and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u32>,
    /// More body fields, beside `error` and `code` (e.g. `candidates`, Go's `next_retry`).
    pub extra: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            extra: Vec::new(),
        }
    }

    /// 400 for one named input field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(400, "invalid_field", message)
        }
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "not_found", "no such route")
    }

    /// 400 `router_id_required`: the router could not be told from what the fleet knows.
    pub fn router_id_required(why: &str, candidates: &[RouterId]) -> Self {
        let listed: Vec<String> = candidates.iter().map(|id| id.0.to_string()).collect();
        let message = if listed.is_empty() {
            format!("router_id is required: {why}")
        } else {
            format!(
                "router_id is required: {why}; candidates {}",
                listed.join(", ")
            )
        };
        ApiError {
            field: Some("router_id".into()),
            extra: vec![(
                "candidates",
                Value::from(candidates.iter().map(|id| id.0).collect::<Vec<u64>>()),
            )],
            ..ApiError::new(400, "router_id_required", message)
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "unauthorized", "missing or wrong X-App-Key header")
    }

    /// The JSON body `{"error", "code"[, "field"]}` and any extra fields.
    pub fn body(&self) -> Value {
        let mut body = json!({"error": self.message, "code": self.code});
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        for (name, value) in &self.extra {
            body[*name] = value.clone();
        }
        body
    }
}

impl From<FleetError> for ApiError {
    fn from(error: FleetError) -> Self {
        let message = error.to_string();
        match error {
            FleetError::RouterNotFound(_) => ApiError::new(404, "router_not_found", message),
            FleetError::Offline(_) => ApiError {
                retry_after: Some(5),
                ..ApiError::new(503, "router_offline", message)
            },
            FleetError::QueueFull => ApiError {
                retry_after: Some(1),
                ..ApiError::new(503, "queue_full", message)
            },
            FleetError::Timeout | FleetError::NotSent => {
                ApiError::new(504, "router_timeout", message)
            }
            FleetError::ConnectionLost(_) => ApiError::new(502, "router_connection_lost", message),
            FleetError::RouterRejected(_) => ApiError::new(502, "router_error", message),
            FleetError::InvalidValue { field, .. } => ApiError::field(&field, message),
            FleetError::InvalidInput(_) => ApiError::new(400, "invalid_field", message),
            FleetError::Conflict(_) => ApiError::new(409, "secret_exists", message),
            FleetError::UserNotFound(_) => ApiError::new(404, "user_not_found", message),
            FleetError::UserOffline(_) => ApiError::new(404, "user_offline", message),
            FleetError::Internal(_) => ApiError::new(500, "internal", message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RouterId;
    use crate::router::RouterError;

    #[test]
    fn every_fleet_error_has_its_status() {
        let table = [
            (
                FleetError::RouterNotFound(RouterId(9)),
                404,
                "router_not_found",
            ),
            (FleetError::Offline("refused".into()), 503, "router_offline"),
            (FleetError::QueueFull, 503, "queue_full"),
            (FleetError::Timeout, 504, "router_timeout"),
            (
                FleetError::ConnectionLost(RouterError::Closed.into()),
                502,
                "router_connection_lost",
            ),
            (
                FleetError::RouterRejected(
                    RouterError::UnexpectedReply("no such item".into()).into(),
                ),
                502,
                "router_error",
            ),
            (
                FleetError::InvalidValue {
                    field: "profile".into(),
                    message: "x".into(),
                },
                400,
                "invalid_field",
            ),
            (FleetError::Conflict("dup".into()), 409, "secret_exists"),
            (FleetError::UserNotFound("u".into()), 404, "user_not_found"),
            (FleetError::UserOffline("u".into()), 404, "user_offline"),
            (FleetError::Internal("x".into()), 500, "internal"),
        ];
        for (error, status, code) in table {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code));
        }
        let queue = ApiError::from(FleetError::QueueFull);
        assert_eq!(queue.retry_after, Some(1));
        let timeout = ApiError::from(FleetError::Timeout);
        assert!(timeout.message.contains("outcome is unknown"));
    }
}
