//! The properties of each seeded menu table, in print order, with their kinds and defaults.

use crate::sim::table::{prop, Kind, Prop};

const SERVICES: &[&str] = &["any", "async", "l2tp", "ovpn", "pppoe", "pptp", "sstp"];

pub(crate) const SECRET_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("service", Kind::Enum(SERVICES), Some("any")),
    prop("caller-id", Kind::Text, Some("")),
    prop("password", Kind::Text, Some("")),
    prop("profile", Kind::ProfileRef, Some("default")),
    prop("local-address", Kind::Ipv4, None),
    prop("remote-address", Kind::Ipv4, None),
    prop("routes", Kind::Text, Some("")),
    prop("ipv6-routes", Kind::Text, Some("")),
    prop("remote-ipv6-prefix", Kind::Text, None),
    prop("limit-bytes-in", Kind::Int, Some("0")),
    prop("limit-bytes-out", Kind::Int, Some("0")),
    prop("last-logged-out", Kind::ReadOnly, None),
    prop("last-caller-id", Kind::ReadOnly, None),
    prop("last-disconnect-reason", Kind::ReadOnly, None),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const PROFILE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("local-address", Kind::Text, None),
    prop("remote-address", Kind::Text, None),
    prop("rate-limit", Kind::Text, None),
    prop("only-one", Kind::Text, Some("default")),
    prop("change-tcp-mss", Kind::Text, Some("default")),
    prop("use-compression", Kind::Text, Some("default")),
    prop("use-encryption", Kind::Text, Some("default")),
    prop("use-mpls", Kind::Text, Some("default")),
    prop("use-upnp", Kind::Text, Some("default")),
    prop("address-list", Kind::Text, Some("")),
    prop("on-up", Kind::Text, Some("")),
    prop("on-down", Kind::Text, Some("")),
    prop("default", Kind::ReadOnly, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const QUEUE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("target", Kind::Text, Some("")),
    prop("parent", Kind::Text, Some("none")),
    prop("packet-marks", Kind::Text, Some("")),
    prop("priority", Kind::Text, Some("8/8")),
    prop("queue", Kind::Text, Some("default-small/default-small")),
    prop("limit-at", Kind::RatePair, Some("0/0")),
    prop("max-limit", Kind::RatePair, Some("0/0")),
    prop("burst-limit", Kind::RatePair, Some("0/0")),
    prop("burst-threshold", Kind::RatePair, Some("0/0")),
    prop("burst-time", Kind::Text, Some("0s/0s")),
    prop("bucket-size", Kind::Text, Some("0.1/0.1")),
    prop("bytes", Kind::Computed, None),
    prop("total-bytes", Kind::Computed, None),
    prop("packets", Kind::Computed, None),
    prop("total-packets", Kind::Computed, None),
    prop("dropped", Kind::Computed, None),
    prop("total-dropped", Kind::Computed, None),
    prop("rate", Kind::Computed, None),
    prop("total-rate", Kind::Computed, None),
    prop("packet-rate", Kind::Computed, None),
    prop("total-packet-rate", Kind::Computed, None),
    prop("queued-packets", Kind::Computed, None),
    prop("total-queued-packets", Kind::Computed, None),
    prop("queued-bytes", Kind::Computed, None),
    prop("total-queued-bytes", Kind::Computed, None),
    prop("invalid", Kind::ReadOnly, Some("false")),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
    // Sim-only bookkeeping: the sim second the queue was created.
    prop("created", Kind::Hidden, None),
];

pub(crate) const ADDRESS_LIST_SCHEMA: &[Prop] = &[
    prop("list", Kind::Name, None),
    prop("address", Kind::ListAddress, None),
    prop("timeout", Kind::Duration, None),
    prop("creation-time", Kind::ReadOnly, None),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("comment", Kind::Text, None),
];

pub(crate) const FILE_SCHEMA: &[Prop] = &[
    prop("name", Kind::ReadOnly, None),
    prop("type", Kind::ReadOnly, None),
    prop("size", Kind::ReadOnly, None),
    prop("creation-time", Kind::ReadOnly, None),
    prop("last-modified", Kind::ReadOnly, None),
];

pub(crate) const INTERFACE_SCHEMA: &[Prop] = &[
    prop("name", Kind::Name, None),
    prop("default-name", Kind::ReadOnly, None),
    prop("type", Kind::ReadOnly, None),
    prop("mtu", Kind::Text, Some("1500")),
    prop("actual-mtu", Kind::ReadOnly, Some("1500")),
    prop("mac-address", Kind::ReadOnly, None),
    prop("running", Kind::ReadOnly, Some("true")),
    prop("disabled", Kind::Bool, Some("false")),
    prop("dynamic", Kind::ReadOnly, Some("false")),
    prop("comment", Kind::Text, None),
];
