//! A generic RouterOS menu table: items with an id and the properties of a fixed schema,
//! plus the argument checks `add` and `set` share (types, enums, references, read-only).
//!
//! Values are stored as bytes exactly as given (after the same normalisation RouterOS does
//! for typed values: booleans become `true`/`false`, rate pairs become bits per second).

use super::trap::SimTrap;
use super::values::{
    format_bool, format_pair, normalize_list_address, parse_bool_arg, parse_ipv4, parse_rate_pair,
};

/// What a property may hold, and whether the API may write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any bytes.
    Text,
    /// Any bytes but empty (names).
    Name,
    /// `yes`/`no`/`true`/`false`, stored as `true`/`false`.
    Bool,
    /// A decimal integer.
    Int,
    /// A dotted IPv4 address.
    Ipv4,
    /// One of a fixed set of values; unique prefixes are accepted, as on RouterOS.
    Enum(&'static [&'static str]),
    /// The name of a PPP profile (checked by the caller, who knows the profiles).
    ProfileRef,
    /// `upload/download` rates, stored as bits per second.
    RatePair,
    /// An address-list address: host bits cleared, `/32` dropped, DNS names kept.
    ListAddress,
    /// A duration such as `1d` or `00:10:00`.
    Duration,
    /// Shown by print but never written through the API.
    ReadOnly,
    /// Computed when printed (rates, counters); never stored or written.
    Computed,
    /// Simulator bookkeeping: stored, never printed or written.
    Hidden,
}

/// One property of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub kind: Kind,
    /// Value given to new items; `None` leaves the property unset (and left out of print).
    pub default: Option<&'static str>,
}

pub const fn prop(name: &'static str, kind: Kind, default: Option<&'static str>) -> Prop {
    Prop {
        name,
        kind,
        default,
    }
}

/// One item: its id and one optional value per schema property.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: u32,
    pub values: Vec<Option<Vec<u8>>>,
}

/// A menu's items, in print order, with the id counter that only grows.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: &'static [Prop],
    pub items: Vec<Item>,
    next_id: u32,
}

impl Table {
    pub fn new(schema: &'static [Prop], first_id: u32) -> Table {
        Table {
            schema,
            items: Vec::new(),
            next_id: first_id,
        }
    }

    pub fn prop_index(&self, name: &str) -> Option<usize> {
        self.schema.iter().position(|p| p.name == name)
    }

    fn prop_index_bytes(&self, name: &[u8]) -> Option<usize> {
        self.schema.iter().position(|p| p.name.as_bytes() == name)
    }

    /// A new item with every default filled in, not yet inserted.
    pub fn blank(&self) -> Vec<Option<Vec<u8>>> {
        self.schema
            .iter()
            .map(|p| p.default.map(|d| d.as_bytes().to_vec()))
            .collect()
    }

    /// Inserts an item, giving it the next id.
    pub fn insert(&mut self, values: Vec<Option<Vec<u8>>>) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.items.push(Item { id, values });
        id
    }

    /// Inserts an item with a fixed id (built-in items such as the `default` profile).
    pub fn insert_with_id(&mut self, id: u32, values: Vec<Option<Vec<u8>>>) {
        self.items.push(Item { id, values });
    }

    pub fn position(&self, id: u32) -> Option<usize> {
        self.items.iter().position(|item| item.id == id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Item> {
        let at = self.position(id)?;
        Some(self.items.remove(at))
    }

    pub fn get(&self, item: &Item, name: &str) -> Option<Vec<u8>> {
        self.prop_index(name).and_then(|at| item.values[at].clone())
    }

    /// The value of `name` on the item with `id`.
    pub fn value(&self, id: u32, name: &str) -> Option<&[u8]> {
        let at = self.prop_index(name)?;
        let item = self.items.iter().find(|item| item.id == id)?;
        item.values[at].as_deref()
    }

    pub fn set_value(&mut self, id: u32, name: &str, value: Option<Vec<u8>>) {
        if let (Some(at), Some(row)) = (self.prop_index(name), self.position(id)) {
            self.items[row].values[at] = value;
        }
    }

    /// The item whose `name` property is exactly `name`.
    pub fn find_by_name(&self, name: &[u8]) -> Option<u32> {
        let at = self.prop_index("name")?;
        self.items
            .iter()
            .find(|item| item.values[at].as_deref() == Some(name))
            .map(|item| item.id)
    }

    /// Checks `=name=value` arguments against the schema and returns the normalised values
    /// to store, by schema index. `skip` lists arguments the caller handles itself.
    pub fn check_args(
        &self,
        args: &[(Vec<u8>, Vec<u8>)],
        skip: &[&str],
        profiles: &[Vec<u8>],
    ) -> Result<Vec<(usize, Vec<u8>)>, SimTrap> {
        let mut out = Vec::new();
        for (name, value) in args {
            if skip.iter().any(|s| s.as_bytes() == name.as_slice()) {
                continue;
            }
            let at = self
                .prop_index_bytes(name)
                .ok_or_else(SimTrap::unknown_parameter)?;
            let prop = self.schema[at];
            let stored = normalize(prop, value, profiles)?;
            out.push((at, stored));
        }
        Ok(out)
    }
}

/// Checks one argument value and returns what RouterOS would store.
fn normalize(prop: Prop, value: &[u8], profiles: &[Vec<u8>]) -> Result<Vec<u8>, SimTrap> {
    let name = prop.name;
    match prop.kind {
        Kind::Text => Ok(value.to_vec()),
        Kind::Name => {
            if value.is_empty() {
                Err(SimTrap::invalid_value(name))
            } else {
                Ok(value.to_vec())
            }
        }
        Kind::Bool => parse_bool_arg(value)
            .map(format_bool)
            .ok_or_else(|| SimTrap::invalid_value(name)),
        Kind::Int => {
            if !value.is_empty() && value.iter().all(u8::is_ascii_digit) && value.len() <= 19 {
                Ok(value.to_vec())
            } else {
                Err(SimTrap::invalid_value(name))
            }
        }
        Kind::Ipv4 => parse_ipv4(value)
            .map(|ip| ip.to_string().into_bytes())
            .ok_or_else(|| SimTrap::invalid_value(name)),
        Kind::Enum(choices) => {
            let choices: Vec<Vec<u8>> = choices.iter().map(|c| c.as_bytes().to_vec()).collect();
            pick_choice(name, value, &choices)
        }
        Kind::ProfileRef => pick_choice(name, value, profiles),
        Kind::RatePair => parse_rate_pair(value)
            .map(format_pair)
            .ok_or_else(|| SimTrap::invalid_value(name)),
        Kind::ListAddress => {
            if value.is_empty() {
                Err(SimTrap::invalid_value(name))
            } else {
                Ok(normalize_list_address(value))
            }
        }
        Kind::Duration => {
            let text = std::str::from_utf8(value).map_err(|_| SimTrap::invalid_value(name))?;
            crate::model::parse_duration_secs(text)
                .map(|secs| crate::model::format_duration(secs).into_bytes())
                .ok_or_else(|| SimTrap::invalid_value(name))
        }
        Kind::ReadOnly | Kind::Computed | Kind::Hidden => Err(SimTrap::unknown_parameter()),
    }
}

/// An exact match wins; otherwise a unique prefix, as RouterOS accepts abbreviations.
pub fn pick_choice(name: &str, value: &[u8], choices: &[Vec<u8>]) -> Result<Vec<u8>, SimTrap> {
    if let Some(exact) = choices.iter().find(|c| c.as_slice() == value) {
        return Ok(exact.clone());
    }
    let mut matching = choices
        .iter()
        .filter(|c| !value.is_empty() && c.starts_with(value));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one.clone()),
        (Some(_), Some(_)) => Err(SimTrap::ambiguous(name)),
        _ => Err(SimTrap::no_match(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[Prop] = &[
        prop("name", Kind::Name, None),
        prop(
            "service",
            Kind::Enum(&["any", "pppoe", "pptp"]),
            Some("any"),
        ),
        prop("profile", Kind::ProfileRef, Some("default")),
        prop("disabled", Kind::Bool, Some("false")),
        prop("max-limit", Kind::RatePair, Some("0/0")),
        prop("uptime", Kind::Computed, None),
    ];

    fn args(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn argument_checks() {
        let table = Table::new(SCHEMA, 1);
        let profiles = vec![
            b"default".to_vec(),
            b"10M".to_vec(),
            b"10M-pro".to_vec(),
            b"20M".to_vec(),
        ];
        let ok = table
            .check_args(
                &args(&[
                    ("name", "a"),
                    ("service", "pppo"),
                    ("profile", "2"),
                    ("disabled", "yes"),
                    ("max-limit", "5M/10M"),
                ]),
                &[],
                &profiles,
            )
            .unwrap();
        let values: Vec<&[u8]> = ok.iter().map(|(_, v)| v.as_slice()).collect();
        assert_eq!(
            values,
            vec![&b"a"[..], b"pppoe", b"20M", b"true", b"5000000/10000000"]
        );
        let exact = table
            .check_args(&args(&[("profile", "10M")]), &[], &profiles)
            .unwrap();
        assert_eq!(exact[0].1, b"10M");

        let trap = |pairs: &[(&str, &str)]| {
            table
                .check_args(&args(pairs), &[".id"], &profiles)
                .unwrap_err()
                .message
        };
        assert_eq!(
            trap(&[("profile", "1")]),
            b"ambiguous value of profile, more than one possible value matches input"
        );
        assert_eq!(
            trap(&[("profile", "gold")]),
            b"input does not match any value of profile"
        );
        assert_eq!(
            trap(&[("service", "")]),
            b"input does not match any value of service"
        );
        assert_eq!(
            trap(&[("disabled", "maybe")]),
            b"invalid value for argument disabled"
        );
        assert_eq!(trap(&[("bogus", "1")]), b"unknown parameter");
        assert_eq!(trap(&[("uptime", "1s")]), b"unknown parameter");
        assert!(table
            .check_args(&args(&[(".id", "*1")]), &[".id"], &profiles)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn ids_only_grow() {
        let mut table = Table::new(SCHEMA, 1);
        let a = table.insert(table.blank());
        let b = table.insert(table.blank());
        table.remove(b);
        let c = table.insert(table.blank());
        assert_eq!((a, b, c), (1, 2, 3));
    }
}
