//! Plain data shared by every layer: router identity and configuration, and the typed rows
//! read from a router. No I/O, no threads. Text fields are already decoded (see `routeros::text`).

/// Short text stored inline (up to 24 bytes) instead of on the heap: the text fields of the
/// rows a fleet keeps per router (sessions, secrets, address lists).
pub use compact_str::CompactString;
use std::fmt;

/// A router's id in the registry (the `routers.id` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(pub u64);

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where and how to reach one router. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RouterConfig {
    pub id: RouterId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub use_tls: bool,
}

impl fmt::Debug for RouterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("use_tls", &self.use_tls)
            .finish()
    }
}

/// `/system/resource/print`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    pub uptime: String,
    pub version: String,
    pub board_name: String,
    pub architecture_name: String,
    pub cpu_load: u32,
    pub cpu_count: u32,
    pub free_memory: u64,
    pub total_memory: u64,
}

/// `/system/identity/print`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub name: String,
}

/// One row of `/ppp/active`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActiveSession {
    pub id: CompactString,
    pub name: CompactString,
    pub service: CompactString,
    pub caller_id: CompactString,
    pub address: CompactString,
    pub uptime: CompactString,
    pub session_id: CompactString,
}

/// One row of `/ppp/secret`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Secret {
    pub id: CompactString,
    pub name: CompactString,
    pub service: CompactString,
    pub profile: CompactString,
    pub local_address: CompactString,
    pub remote_address: CompactString,
    pub disabled: bool,
    pub comment: CompactString,
    pub last_logged_out: CompactString,
    pub last_disconnect_reason: CompactString,
}

/// One row of `/ppp/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub id: String,
    pub name: String,
    /// `rx/tx` as typed on the router (rx = customer upload); `None` when unset.
    pub rate_limit: Option<String>,
}

/// One row of `/queue/simple`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleQueue {
    pub id: String,
    pub name: String,
    pub target: String,
    pub max_limit: String,
    /// First half of `rate`: the target's upload, bits/s.
    pub upload_bps: u64,
    /// Second half of `rate`: the target's download, bits/s.
    pub download_bps: u64,
    pub dynamic: bool,
    pub disabled: bool,
}

/// One `/interface/monitor-traffic ... =once=` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceTraffic {
    pub name: String,
    /// What the router receives on the interface (a PPPoE customer's upload).
    pub rx_bps: u64,
    /// What the router sends on the interface (a PPPoE customer's download).
    pub tx_bps: u64,
}

/// One `/ip/firewall/address-list` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressListEntry {
    pub id: CompactString,
    pub list: CompactString,
    pub address: CompactString,
    pub comment: CompactString,
    pub dynamic: bool,
    pub disabled: bool,
}

/// Parses a RouterOS duration (`1w2d3h4m5s`, `14ms612us`, old `2d09:29:51`) into seconds.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains(':') {
        // Old form: optional `Nw`/`Nd` prefixes, then HH:MM:SS.
        let (prefix, clock) = match text.rfind(|c: char| c.is_ascii_alphabetic()) {
            Some(at) => (&text[..=at], &text[at + 1..]),
            None => ("", text),
        };
        let mut total = if prefix.is_empty() {
            0
        } else {
            parse_duration_secs(prefix)?
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if parts.len() != 3 {
            return None;
        }
        for (part, scale) in parts.iter().zip([3600u64, 60, 1]) {
            total += part.parse::<u64>().ok()? * scale;
        }
        return Some(total);
    }
    let mut total_us: u64 = 0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' || c == 'u' || c == 'n' {
            if let Some(&'s') = chars.peek() {
                unit.push('s');
                chars.next();
            }
        }
        let value: u64 = number.parse().ok()?;
        number.clear();
        let scale_us: u64 = match unit.as_str() {
            "w" => 604_800_000_000,
            "d" => 86_400_000_000,
            "h" => 3_600_000_000,
            "m" => 60_000_000,
            "s" => 1_000_000,
            "ms" => 1_000,
            "us" => 1,
            "ns" => 0,
            _ => return None,
        };
        total_us = total_us.checked_add(value.checked_mul(scale_us)?)?;
    }
    if !number.is_empty() {
        return None;
    }
    Some(total_us / 1_000_000)
}

/// Formats seconds the way modern RouterOS does: `1w2d3h4m5s`, `0s` for zero.
pub fn format_duration(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Parses a RouterOS boolean (`true`/`false`, old `yes`/`no`).
pub fn parse_bool(text: &str) -> bool {
    matches!(text, "true" | "yes")
}

/// Fields of a new PPP secret, already validated by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSecret {
    pub name: String,
    pub password: String,
    pub profile: Option<String>,
    pub service: Option<String>,
    pub local_address: Option<String>,
    pub remote_address: Option<String>,
    pub comment: Option<String>,
    pub disabled: Option<bool>,
}

/// Changes to an existing PPP secret; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretChanges {
    pub password: Option<String>,
    pub profile: Option<String>,
    pub remote_address: Option<String>,
    pub comment: Option<String>,
    pub disabled: Option<bool>,
}

impl SecretChanges {
    /// API names of the fields that are set, in a fixed order.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.password.is_some() {
            fields.push("password");
        }
        if self.profile.is_some() {
            fields.push("profile");
        }
        if self.remote_address.is_some() {
            fields.push("remote_ip");
        }
        if self.comment.is_some() {
            fields.push("comment");
        }
        if self.disabled.is_some() {
            fields.push("disabled");
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn changed_fields_in_order() {
        let changes = SecretChanges {
            profile: Some("20M".into()),
            disabled: Some(true),
            ..Default::default()
        };
        assert_eq!(changes.changed_fields(), vec!["profile", "disabled"]);
    }

    use super::*;

    #[test]
    fn durations_both_forms() {
        let table = [
            ("0s", Some(0)),
            (
                "1w2d3h4m5s",
                Some(604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5),
            ),
            ("8h21m43s", Some(8 * 3600 + 21 * 60 + 43)),
            ("14ms612us", Some(0)),
            ("01:22:53", Some(3600 + 22 * 60 + 53)),
            ("2d09:29:51", Some(2 * 86_400 + 9 * 3600 + 29 * 60 + 51)),
            (
                "1w2d03:04:05",
                Some(604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
            ),
            ("", None),
            ("12", None),
            ("5x", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_duration_secs(text), expected, "{text}");
        }
        for secs in [0, 1, 59, 60, 3661, 694_245, 10_000_000] {
            assert_eq!(parse_duration_secs(&format_duration(secs)), Some(secs));
        }
        assert_eq!(format_duration(694_245), "1w1d50m45s");
    }

    #[test]
    fn config_debug_hides_password() {
        let config = RouterConfig {
            id: RouterId(1),
            name: "r1".into(),
            host: "127.0.0.1".into(),
            port: 8728,
            username: "admin".into(),
            password: "hunter2".into(),
            use_tls: false,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

/// Formats a time as RFC 3339 UTC with second precision, e.g. `2026-11-29T17:20:00Z`
/// (fractions of a second are dropped).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    format!("{:.0}", timestamp(time))
}

/// Date parts of a time in UTC: (year, month, day, hour, minute, second).
pub fn utc_parts(time: std::time::SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let dt = jiff::tz::Offset::UTC.to_datetime(timestamp(time));
    (
        i64::from(dt.year()),
        u32::from(dt.month().unsigned_abs()),
        u32::from(dt.day().unsigned_abs()),
        u64::from(dt.hour().unsigned_abs()),
        u64::from(dt.minute().unsigned_abs()),
        u64::from(dt.second().unsigned_abs()),
    )
}

/// `time` as a jiff timestamp; a time beyond jiff's range (years -9999..=9999) gives its
/// first or last instant.
fn timestamp(time: std::time::SystemTime) -> jiff::Timestamp {
    jiff::Timestamp::try_from(time).unwrap_or(if time < std::time::UNIX_EPOCH {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_000_000)),
            "2026-11-30T00:53:20Z"
        );
        // Sub-second parts are dropped, not rounded.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_796_000_000_999)),
            "2026-11-30T00:53:20Z"
        );
        assert_eq!(
            utc_parts(UNIX_EPOCH + Duration::from_secs(1_796_000_000)),
            (2026, 11, 30, 0, 53, 20)
        );
    }
}
