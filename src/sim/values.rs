//! Value formats the simulator reads and writes: item ids, rates, IPv4 addresses, booleans,
//! dates and version numbers, in the shapes RouterOS uses on the API.
//!
//! Everything here is pure and works on raw bytes, because RouterOS stores and returns bytes.

use std::net::Ipv4Addr;

/// `*1A`: the API form of an internal item id (upper-case hex, no leading zeros).
pub fn format_id(id: u32) -> Vec<u8> {
    format!("*{id:X}").into_bytes()
}

/// How a `=.id=` or `=numbers=` value names one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRef {
    /// `*HEX`.
    Id(u32),
    /// Anything not starting with `*`: an item name (where the menu has names).
    Name(Vec<u8>),
}

/// Parses a comma-separated list of ids or names; `None` when an id is malformed
/// (RouterOS answers that with `invalid internal item number`).
pub fn parse_item_refs(value: &[u8]) -> Option<Vec<ItemRef>> {
    if value.is_empty() {
        return None;
    }
    value.split(|&b| b == b',').map(parse_item_ref).collect()
}

fn parse_item_ref(part: &[u8]) -> Option<ItemRef> {
    match part.strip_prefix(b"*") {
        Some(hex) => {
            if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let text = std::str::from_utf8(hex).ok()?;
            u32::from_str_radix(text, 16).ok().map(ItemRef::Id)
        }
        None if part.is_empty() => None,
        None => Some(ItemRef::Name(part.to_vec())),
    }
}

/// Parses `*HEX` alone (used when comparing ids in queries).
pub fn parse_id(value: &[u8]) -> Option<u32> {
    match parse_item_ref(value)? {
        ItemRef::Id(id) => Some(id),
        ItemRef::Name(_) => None,
    }
}

/// Parses one rate as typed on RouterOS: `512k`, `10M`, `1.5G`, `20971520` (bits/s).
pub fn parse_rate(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let (number, scale) = match text.as_bytes()[text.len() - 1] {
        b'k' | b'K' => (&text[..text.len() - 1], 1_000.0),
        b'M' => (&text[..text.len() - 1], 1_000_000.0),
        b'G' => (&text[..text.len() - 1], 1_000_000_000.0),
        _ => (text, 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    Some((value * scale).round() as u64)
}

/// Parses `upload/download` (or one value for both), as queues take `max-limit`.
pub fn parse_rate_pair(value: &[u8]) -> Option<(u64, u64)> {
    let mut parts = value.splitn(2, |&b| b == b'/');
    let first = parse_rate(parts.next()?)?;
    let second = match parts.next() {
        Some(part) => parse_rate(part)?,
        None => first,
    };
    Some((first, second))
}

/// Formats a pair the way print shows it: `10000000/20000000`.
pub fn format_pair(pair: (u64, u64)) -> Vec<u8> {
    format!("{}/{}", pair.0, pair.1).into_bytes()
}

/// The `rx/tx` limits of a PPP profile `rate-limit` (`rx[/tx] [bursts...]`): rx is the
/// customer's upload, tx the download; a missing tx takes the rx value.
pub fn parse_rate_limit(value: &[u8]) -> Option<(u64, u64)> {
    let first = value.split(|&b| b == b' ').find(|part| !part.is_empty())?;
    parse_rate_pair(first)
}

/// Parses a dotted IPv4 address.
pub fn parse_ipv4(value: &[u8]) -> Option<Ipv4Addr> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Normalises an address-list `address`: prefixes lose their host bits and `/32` is shown
/// bare; ranges and DNS names are kept as given (RouterOS accepts any text as a DNS name).
pub fn normalize_list_address(value: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(value) else {
        return value.to_vec();
    };
    if let Some((addr, len)) = text.split_once('/') {
        if let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u32>()) {
            if len <= 32 {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let network = Ipv4Addr::from(u32::from(addr) & mask);
                return if len == 32 {
                    network.to_string().into_bytes()
                } else {
                    format!("{network}/{len}").into_bytes()
                };
            }
        }
    }
    value.to_vec()
}

/// Parses an argument boolean: `yes`, `no`, `true`, `false`.
pub fn parse_bool_arg(value: &[u8]) -> Option<bool> {
    match value {
        b"yes" | b"true" => Some(true),
        b"no" | b"false" => Some(false),
        _ => None,
    }
}

/// `true`/`false`, as modern RouterOS prints booleans.
pub fn format_bool(value: bool) -> Vec<u8> {
    if value {
        b"true".to_vec()
    } else {
        b"false".to_vec()
    }
}

/// Seconds since the Unix epoch, as a calendar date and time (UTC).
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl DateTime {
    pub fn from_unix(secs: u64) -> DateTime {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let (year, month, day, hour, minute, second) = crate::model::utc_parts(time);
        DateTime {
            year,
            month,
            day,
            hour: hour as u32,
            minute: minute as u32,
            second: second as u32,
        }
    }

    /// `2026-10-01 13:29:47`, the v7 form.
    pub fn format(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261001-1329`, as in default backup file names.
    pub fn format_compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `(major, minor, patch)` from a version such as `7.18.2` or `7.18.2 (stable)`; missing
/// parts are 0, so `7.18` is `(7, 18, 0)`.
pub fn parse_version(text: &str) -> (u32, u32, u32) {
    let numeric = text.split_whitespace().next().unwrap_or("");
    let mut parts = numeric.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().unwrap_or(0)
    });
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The `version` property: `7.18.2 (stable)`; a version that already names its channel is kept.
pub fn display_version(text: &str) -> String {
    if text.contains('(') {
        text.to_owned()
    } else if parse_version(text).0 < 7 {
        format!("{text} (long-term)")
    } else {
        format!("{text} (stable)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_refs() {
        assert_eq!(format_id(0x1A), b"*1A");
        assert_eq!(format_id(0x8000_2A5B), b"*80002A5B");
        assert_eq!(parse_item_refs(b"*1a"), Some(vec![ItemRef::Id(0x1A)]));
        assert_eq!(
            parse_item_refs(b"*1,alice"),
            Some(vec![ItemRef::Id(1), ItemRef::Name(b"alice".to_vec())])
        );
        for bad in [&b""[..], b"*", b"*zz", b"*123456789", b"*1,", b"*-1"] {
            assert_eq!(
                parse_item_refs(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rates() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"512k", Some(512_000)),
            (b"10M", Some(10_000_000)),
            (b"1.5G", Some(1_500_000_000)),
            (b"20971520", Some(20_971_520)),
            (b"", None),
            (b"M", None),
            (b"10X", None),
        ];
        for &(text, expected) in table {
            assert_eq!(
                parse_rate(text),
                expected,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(parse_rate_pair(b"5M/10M"), Some((5_000_000, 10_000_000)));
        assert_eq!(parse_rate_pair(b"2M"), Some((2_000_000, 2_000_000)));
        assert_eq!(
            parse_rate_limit(b"10M/20M 12M/24M 8M/16M 10/10"),
            Some((10_000_000, 20_000_000))
        );
        assert_eq!(parse_rate_limit(b""), None);
    }

    #[test]
    fn list_addresses() {
        assert_eq!(
            normalize_list_address(b"203.0.113.77/24"),
            b"203.0.113.0/24"
        );
        assert_eq!(normalize_list_address(b"10.0.0.5/32"), b"10.0.0.5");
        assert_eq!(normalize_list_address(b"10.0.0.5"), b"10.0.0.5");
        assert_eq!(normalize_list_address(b"example.com"), b"example.com");
        assert_eq!(
            normalize_list_address(b"10.0.0.1-10.0.0.9"),
            b"10.0.0.1-10.0.0.9"
        );
    }

    #[test]
    fn dates_and_versions() {
        assert_eq!(DateTime::from_unix(0).format(), "1970-01-01 00:00:00");
        assert_eq!(
            DateTime::from_unix(1_740_816_902).format(),
            "2025-03-01 08:15:02"
        );
        assert_eq!(
            DateTime::from_unix(1_951_230_000).format_compact(),
            "20311031-1620"
        );
        assert_eq!(parse_version("7.18.2"), (7, 18, 2));
        assert_eq!(parse_version("7.18"), (7, 18, 0));
        assert_eq!(parse_version("6.49.10 (long-term)"), (6, 49, 10));
        assert_eq!(parse_version("7.19beta2"), (7, 19, 0));
        assert_eq!(display_version("7.18.2"), "7.18.2 (stable)");
        assert_eq!(display_version("6.42"), "6.42 (long-term)");
        assert_eq!(display_version("7.17 (testing)"), "7.17 (testing)");
    }
}
