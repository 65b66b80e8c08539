//! Input validation before anything reaches a router: names, addresses, lists, services.

use super::error::ApiError;
use crate::fleet::check_router_text;
use std::net::Ipv4Addr;

/// PPP services a secret may be limited to.
pub const SERVICES: &[&str] = &["any", "pppoe", "pptp", "l2tp", "ovpn", "sstp", "async"];

/// Checks text that will be stored on the router: length, no control characters, Windows-1252.
fn router_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let count = value.chars().count();
    if count < min || count > max {
        return Err(if min > 0 && count == 0 {
            ApiError::field(field, format!("{field} must not be empty"))
        } else {
            ApiError::field(
                field,
                format!("{field} must be {min} to {max} characters, got {count}"),
            )
        });
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    check_router_text(value).map_err(|e| ApiError::field(field, format!("{field}: {e}")))?;
    Ok(())
}

/// A user, profile or similar name: 1–64 characters, no control characters.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    router_text(field, value, 1, 64)
}

/// A PPP password: 1–64 characters, no control characters.
pub fn password(field: &str, value: &str) -> Result<(), ApiError> {
    router_text(field, value, 1, 64)
}

/// A comment: up to 255 characters, no control characters.
pub fn comment(field: &str, value: &str) -> Result<(), ApiError> {
    router_text(field, value, 0, 255)
}

/// A firewall address-list name: 1–64 letters, digits, `-`, `_` or `.`.
pub fn list_name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("{field} must be 1 to 64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// A dotted-quad IPv4 address.
pub fn ipv4(field: &str, value: &str) -> Result<(), ApiError> {
    value.parse::<Ipv4Addr>().map(|_| ()).map_err(|_| {
        ApiError::field(
            field,
            format!("{field} must be an IPv4 address like 10.0.0.1, got {value:?}"),
        )
    })
}

/// One of [`SERVICES`].
pub fn service(field: &str, value: &str) -> Result<(), ApiError> {
    if SERVICES.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("{field} must be one of {}", SERVICES.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        assert!(name("user", "alice").is_ok());
        assert!(name("user", "Café").is_ok());
        assert!(name("user", "").is_err());
        assert!(name("user", &"x".repeat(65)).is_err());
        assert!(name("user", "a\nb").is_err());
        assert!(name("user", "日本").is_err());
        assert!(ipv4("ip", "10.0.0.1").is_ok());
        for bad in ["10.0.0", "10.0.0.256", "a.b.c.d", "10.0.0.1/24", ""] {
            assert!(ipv4("ip", bad).is_err(), "{bad}");
        }
        assert!(list_name("list", "ISOLATED").is_ok());
        assert!(list_name("list", "bad list").is_err());
        assert!(service("service", "pppoe").is_ok());
        assert!(service("service", "ppp").is_err());
        assert!(comment("comment", "").is_ok());
        assert_eq!(name("user", "").unwrap_err().field.as_deref(), Some("user"));
    }
}
