//! The API's wire shapes: the only types in the crate that derive `Serialize` or
//! `Deserialize`. Handlers fill them from fleet snapshots and model values; nothing below
//! the HTTP layer knows these shapes.
//!
//! `/api/v1` answers the Go engine's shapes (../shared/docs/go-compat.md) as a superset:
//! every Go field keeps its name and type, net-engine's own fields sit beside them.

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

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct HealthBody {
    pub status: &'static str,
    pub muscle: &'static str,
    pub version: &'static str,
    pub routers_total: usize,
    pub routers_online: usize,
    pub uptime_s: u64,
}

/// One router in `GET /routers` (never its password).
#[derive(Debug, Serialize)]
pub struct RouterRow<'a> {
    pub id: u64,
    pub name: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub username: &'a str,
    pub state: &'static str,
    pub since: String,
    pub last_error: Option<&'a str>,
    pub identity: Option<&'a str>,
    pub version: Option<&'a str>,
    pub board: Option<&'a str>,
    pub active_sessions: usize,
    pub last_poll_at: Option<String>,
    pub rtt_ms: Option<f64>,
}

/// `GET /router/:id/health`: Go's fields (`cpu` as a string), then net-engine's.
#[derive(Debug, Serialize)]
pub struct RouterHealthBody<'a> {
    pub uptime: &'a str,
    pub cpu: String,
    pub total_memory: u64,
    pub free_memory: u64,
    pub board_name: &'a str,
    pub version: &'a str,
    pub router_id: u64,
    pub cpu_load: u32,
    pub memory_used: u64,
    pub memory_total: u64,
    pub uptime_s: Option<u64>,
    pub board: &'a str,
    pub architecture: &'a str,
    pub sampled_at: String,
    pub live: bool,
}

/// One row of `GET /router/:id/users`: Go's `username`, `status`, `ip?`, `uptime?`,
/// `profile?` (omitted when empty, as Go did), then net-engine's fields.
#[derive(Debug, Serialize)]
pub struct UserRow<'a> {
    pub username: &'a str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'a str>,
    /// The same as `username`, kept for clients of earlier net-engine versions.
    pub name: &'a str,
    pub online: bool,
    pub disabled: bool,
    pub isolated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    pub service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<&'a str>,
    pub comment: &'a str,
}

/// One row of the fleet index (`GET /users/:name`, `GET /users?ip=`).
#[derive(Debug, Serialize)]
pub struct IndexRow<'a> {
    pub router_id: u64,
    pub router_name: &'a str,
    pub username: &'a str,
    pub online: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
    pub profile: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<&'a str>,
    pub disabled: bool,
    pub isolated: bool,
    pub status: &'static str,
}

/// One PPP profile.
#[derive(Debug, Serialize)]
pub struct ProfileRow<'a> {
    pub name: &'a str,
    pub rate_limit: Option<&'a str>,
}

/// `GET /router/:id/profiles`.
#[derive(Debug, Serialize)]
pub struct ProfileList<'a> {
    pub router_id: u64,
    pub profiles: Vec<ProfileRow<'a>>,
}

/// `GET /router/:id/traffic`: Go's `name`, `rx` (download) and `tx` (upload), then
/// net-engine's fields.
#[derive(Debug, Serialize)]
pub struct TrafficBody<'a> {
    pub name: &'a str,
    pub rx: u64,
    pub tx: u64,
    pub router_id: u64,
    pub user: &'a str,
    pub source: &'static str,
    pub queue: Option<&'a str>,
    pub upload_bps: u64,
    pub download_bps: u64,
    pub sampled_at: String,
}

/// `POST /routers/reload`.
#[derive(Debug, Serialize)]
pub struct ReloadBody {
    pub added: usize,
    pub removed: usize,
    pub restarted: usize,
}

/// `POST /sync/:id`.
#[derive(Debug, Serialize)]
pub struct SyncBody {
    pub status: &'static str,
    pub router_id: u64,
    pub secrets: usize,
    pub active: usize,
    pub stored: Option<usize>,
}

/// `POST /secret` (201).
#[derive(Debug, Serialize)]
pub struct SecretCreatedBody<'a> {
    pub status: &'static str,
    pub user: &'a str,
    pub router_id: u64,
    pub id: &'a str,
}

/// `PUT /secret/:user`.
#[derive(Debug, Serialize)]
pub struct SecretUpdatedBody<'a> {
    pub status: &'static str,
    pub user: &'a str,
    pub profile: Option<&'a str>,
    pub router_id: u64,
    pub updated: &'a [&'static str],
    pub kicked: usize,
}

/// `DELETE /secret/:user`.
#[derive(Debug, Serialize)]
pub struct SecretDeletedBody<'a> {
    pub router_id: u64,
    pub user: &'a str,
    pub deleted: bool,
    pub kicked: usize,
}

/// `POST /kick`.
#[derive(Debug, Serialize)]
pub struct KickBody<'a> {
    pub router_id: u64,
    pub user: &'a str,
    pub kicked: usize,
}

/// `POST /isolate`.
#[derive(Debug, Serialize)]
pub struct IsolateBody<'a> {
    pub status: &'static str,
    pub ip: &'a str,
    pub action: &'a str,
    pub router_id: u64,
    pub list: &'a str,
    pub address: &'a str,
    pub changed: bool,
}

/// `POST /router/:id/backup`.
#[derive(Debug, Serialize)]
pub struct BackupBody<'a> {
    pub status: &'static str,
    pub file: &'a str,
    pub router_id: u64,
}

/// One entry of `GET /audit`.
#[derive(Debug, Serialize)]
pub struct AuditRow<'a> {
    pub id: &'a str,
    pub at: String,
    pub request_id: String,
    pub client: &'a str,
    pub route: &'a str,
    pub router_id: Option<u64>,
    pub user: Option<&'a str>,
    pub address: Option<&'a str>,
    pub action: &'a str,
    pub change: &'a serde_json::Value,
    pub outcome: &'static str,
    pub status: u16,
    pub error: Option<&'a str>,
}

/// One item's result in `POST /bulk`.
#[derive(Debug, Serialize)]
pub struct BulkResult {
    pub index: usize,
    pub op: String,
    pub user: Option<String>,
    pub router_id: Option<u64>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
}

/// `POST /bulk`.
#[derive(Debug, Serialize)]
pub struct BulkBody {
    pub results: Vec<BulkResult>,
    pub ok: usize,
    pub failed: usize,
    pub not_sent: usize,
}
