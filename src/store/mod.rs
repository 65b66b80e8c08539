//! The router registry and the PPPoE user store: which routers the engine serves, and where it
//! records what it saw on them.
//!
//! Three registries implement [`RouterRegistry`]: [`mysql::MysqlStore`] (production, the only
//! module that imports the `mysql` crate), [`file::FileRegistry`] (`ROUTERS_FILE`, serve without
//! MySQL) and [`MemoryRegistry`] (the demo and tests). Everything else
//! here is plain data and pure functions: DSN parsing ([`dsn`]), the routers CSV ([`csv`]), the
//! SQL script splitter ([`script`]).
//! [`writer`] is the one thread that writes user syncs, coalescing and retrying while the
//! database is down.
//!
//! Invariant: a database password or a router password never appears in a `Display` or `Debug`
//! output of any type in this module.

pub mod audit;
pub mod csv;
pub mod dsn;
pub mod file;
pub mod mysql;
pub mod script;
pub mod writer;

use crate::model::{RouterConfig, RouterId};
use std::fmt;
use std::sync::{Mutex, PoisonError};

pub use self::audit::{AuditBackend, AuditTrail, FileAuditBackend};
pub use self::csv::{parse_routers_csv, CsvError, NewRouter};
pub use self::dsn::{parse_dsn, DbSettings, DsnError};
pub use self::file::FileRegistry;
pub use self::mysql::{MigrationReport, MysqlStore, SeedReport, StoreTimeouts};
pub use self::writer::{SyncWriterHandle, UserStore, UserSyncJob, WriterSettings, WriterStats};

/// What went wrong talking to the store. Messages never contain the database password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The server could not be reached, went away, or is shutting down: retry later.
    Unavailable(String),
    /// The server refused our credentials or the database does not exist: retrying will not
    /// help until someone fixes the configuration.
    AccessDenied(String),
    /// The server answered a statement with an error.
    Query(String),
    /// A row holds something we cannot use (the message names the row, never a password).
    BadData(String),
}

impl StoreError {
    /// True when the same call may succeed later without anyone changing the configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(message) => write!(f, "database unavailable: {message}"),
            StoreError::AccessDenied(message) => write!(f, "database access denied: {message}"),
            StoreError::Query(message) => write!(f, "database query failed: {message}"),
            StoreError::BadData(message) => write!(f, "bad data in database: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Where the engine learns which routers to serve.
pub trait RouterRegistry: Send + Sync {
    /// The enabled routers, ordered by id.
    fn load_routers(&self) -> Result<Vec<RouterConfig>, StoreError>;

    /// Something that changes when the registry's source changes (a file's modification
    /// time), for registries worth watching; `None` (the default) means "only reload on a timer
    /// or on request".
    fn fingerprint(&self) -> Option<String> {
        None
    }
}

/// What one [`mysql::MysqlStore::sync_users`] call did to `pppoe_users`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Secrets that had no row yet.
    pub inserted: u64,
    /// Secrets whose row changed (profile, remote address, enabled, or it had been marked gone).
    pub updated: u64,
    /// Secrets whose row already said exactly this.
    pub unchanged: u64,
    /// Rows whose secret is no longer on the router, now marked `deleted_at = NOW()`, `is_enabled = 0`.
    pub marked_missing: u64,
    /// Rows whose user has a live session, now `last_seen_at = NOW()`.
    pub seen: u64,
    /// Secrets not stored because their name is empty or longer than the column.
    pub skipped: u64,
    /// SQL statements this call sent (the batching bound the tests check).
    pub statements: u64,
}

impl SyncCounts {
    /// Rows that now mirror a secret on the router (the API's `stored`).
    pub fn stored(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }
}

/// An in-memory registry for the demo and tests. Every router in it is enabled.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    routers: Mutex<Vec<RouterConfig>>,
}

impl MemoryRegistry {
    pub fn new(routers: Vec<RouterConfig>) -> MemoryRegistry {
        MemoryRegistry {
            routers: Mutex::new(routers),
        }
    }

    /// Replaces the whole list.
    pub fn set(&self, routers: Vec<RouterConfig>) {
        *self.lock() = routers;
    }

    /// Adds a router, or replaces the one with the same id.
    pub fn add(&self, router: RouterConfig) {
        let mut routers = self.lock();
        routers.retain(|existing| existing.id != router.id);
        routers.push(router);
    }

    /// Removes a router; false when there was none with that id.
    pub fn remove(&self, id: RouterId) -> bool {
        let mut routers = self.lock();
        let before = routers.len();
        routers.retain(|existing| existing.id != id);
        routers.len() != before
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RouterConfig>> {
        // The list is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.routers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RouterRegistry for MemoryRegistry {
    fn load_routers(&self) -> Result<Vec<RouterConfig>, StoreError> {
        let mut routers = self.lock().clone();
        routers.sort_by_key(|router| router.id);
        Ok(routers)
    }
}

/// Replaces every occurrence of `secret` in `text` (no-op for an empty secret). Used on every
/// message that comes back from the database driver, in case one ever echoes a password.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<password>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(id: u64, name: &str, port: u16) -> RouterConfig {
        RouterConfig {
            id: RouterId(id),
            name: name.into(),
            host: "127.0.0.1".into(),
            port,
            username: "admin".into(),
            password: String::new(),
            use_tls: false,
        }
    }

    #[test]
    fn memory_registry_set_add_remove() {
        let registry = MemoryRegistry::new(vec![router(2, "b", 2)]);
        registry.add(router(1, "a", 1));
        registry.add(router(2, "b2", 2));
        let ids: Vec<u64> = registry
            .load_routers()
            .unwrap()
            .iter()
            .map(|r| r.id.0)
            .collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(registry.load_routers().unwrap()[1].name, "b2");
        assert!(registry.remove(RouterId(1)));
        assert!(!registry.remove(RouterId(1)));
        registry.set(vec![]);
        assert!(registry.load_routers().unwrap().is_empty());
    }

    #[test]
    fn redact_hides_the_secret() {
        assert_eq!(redact("bad p@ss here", "p@ss"), "bad <password> here");
        assert_eq!(redact("nothing", ""), "nothing");
    }
}
