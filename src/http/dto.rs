//! The API's wire shapes: the only types in the crate that derive `Serialize` or
//! `Deserialize`. Handlers fill them from fleet snapshots and model values; nothing below
//! the HTTP layer knows these shapes.

use serde::Serialize;

/// One live session in `/monitoring/targets`.
#[derive(Debug, Serialize)]
pub struct TargetRow<'a> {
    pub router_id: u64,
    pub name: &'a str,
    pub address: &'a str,
    pub caller_id: &'a str,
    pub uptime: &'a str,
    pub service: &'a str,
}
