//! The MySQL/MariaDB store: router registry, migrations, seeding and the PPPoE user sync.
//! The only module in the crate that imports the `mysql` crate.
//!
//! Every call takes a pooled connection (small pool, health-checked), so a server that went
//! away and came back is picked up again without restarting anything. Errors are mapped to
//! [`StoreError::Unavailable`] (retry later), [`StoreError::AccessDenied`] or
//! [`StoreError::Query`], and every driver message is redacted against the password first.
//!
//! Writes are batched: a user sync of N secrets is one SELECT plus multi-row statements of at
//! most [`SYNC_CHUNK_ROWS`] rows, inside one transaction; unchanged rows are not written at all.

mod audit;
mod migrate;
mod sync;

use migrate::run_migrations;
use sync::{placeholders, sync_in_transaction, UserRow};

use super::csv::NewRouter;
use super::dsn::DbSettings;
use super::script::{is_idempotent_by_itself, parse_script, Guard};
use super::{redact, RouterRegistry, StoreError, SyncCounts};
use crate::model::{RouterConfig, RouterId, Secret};
use mysql::prelude::{FromRow, Queryable};
use mysql::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, PooledConn, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most rows per multi-row statement (5 placeholders each, far below the 65 535 limit, and
/// small enough that one statement stays well under `max_allowed_packet`).
pub const SYNC_CHUNK_ROWS: usize = 500;

/// The migrations, in order. Each is recorded in `schema_migrations` once applied; each
/// statement in them is idempotent or guarded (see `store::script`).
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "001_go_tables",
        include_str!("../../../sql/migrations/001_go_tables.sql"),
    ),
    (
        "002_engine_columns",
        include_str!("../../../sql/migrations/002_engine_columns.sql"),
    ),
    (
        "003_audit",
        include_str!("../../../sql/migrations/003_audit.sql"),
    ),
];

/// The full current schema (`sql/schema.sql`), for tests and tools that want it.
pub const SCHEMA_SQL: &str = include_str!("../../../sql/schema.sql");

/// Column widths we check before writing, so one odd secret cannot fail a whole batch.
const MAX_USERNAME: usize = 100;
const MAX_PROFILE: usize = 100;
const MAX_REMOTE_ADDRESS: usize = 64;

/// How long to wait for the server. A `timeout`/`readTimeout`/`writeTimeout` in the DSN wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTimeouts {
    /// TCP connect (and the whole attempt to get a pooled connection).
    pub connect: Duration,
    pub read: Duration,
    pub write: Duration,
}

impl Default for StoreTimeouts {
    fn default() -> StoreTimeouts {
        StoreTimeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(30),
            write: Duration::from_secs(30),
        }
    }
}

/// What [`MysqlStore::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this call.
    pub applied: Vec<String>,
    /// Migrations that were already recorded in `schema_migrations`.
    pub already_applied: Vec<String>,
    /// What changed, one line each ("added column routers.use_tls"); empty on a second run.
    pub changes: Vec<String>,
}

/// What [`MysqlStore::seed_routers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub inserted: Vec<NewRouter>,
    /// Rows whose host and port were already registered (or repeated earlier in the input).
    pub skipped_duplicates: Vec<NewRouter>,
}

/// What `net-engine migrate` prints.
impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.applied.is_empty() {
            write!(f, "schema is up to date")?;
        } else {
            write!(f, "applied {}", self.applied.join(", "))?;
        }
        if !self.already_applied.is_empty() {
            write!(f, " (already applied: {})", self.already_applied.join(", "))?;
        }
        for change in &self.changes {
            write!(f, "\n  {change}")?;
        }
        Ok(())
    }
}

/// What `net-engine seed` prints: one line per router, never a password.
impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "inserted {} router(s), skipped {} duplicate(s)",
            self.inserted.len(),
            self.skipped_duplicates.len()
        )?;
        let lines = self
            .inserted
            .iter()
            .map(|router| ("inserted", router))
            .chain(
                self.skipped_duplicates
                    .iter()
                    .map(|router| ("skipped", router)),
            );
        for (what, router) in lines {
            write!(
                f,
                "\n  {what} {} ({}:{}",
                router.name, router.host, router.port
            )?;
            if router.use_tls {
                write!(f, ", tls")?;
            }
            write!(f, ")")?;
            if router.line > 0 {
                write!(f, " line {}", router.line)?;
            }
            if what.starts_with("skipped") {
                write!(f, ": host and port already registered")?;
            }
        }
        Ok(())
    }
}

/// A connection pool to one MySQL/MariaDB database.
pub struct MysqlStore {
    pool: Pool,
    /// `user@tcp(host:port)/db`, for messages.
    target: String,
    /// Kept only to redact driver messages.
    password: String,
    get_conn_timeout: Duration,
    statements: AtomicU64,
}

impl fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Driver options built field by field (never through a URL), so any password works.
pub fn opts_from_settings(settings: &DbSettings, timeouts: &StoreTimeouts) -> Opts {
    let constraints = PoolConstraints::new(1, 4).unwrap_or_default();
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        // Keep prepared statements across uses; we end every transaction ourselves.
        .with_reset_connection(false)
        .with_check_health(true);
    let mut builder = OptsBuilder::new()
        .user(Some(settings.user.clone()))
        .pass(Some(settings.password.clone()))
        .db_name(Some(settings.database.clone()))
        .ip_or_hostname(Some(settings.host.clone()))
        .tcp_port(settings.port)
        // Predictable: talk over the address we were given, do not switch to a local socket.
        .prefer_socket(false)
        .tcp_connect_timeout(Some(settings.connect_timeout.unwrap_or(timeouts.connect)))
        .read_timeout(Some(settings.read_timeout.unwrap_or(timeouts.read)))
        .write_timeout(Some(settings.write_timeout.unwrap_or(timeouts.write)))
        .stmt_cache_size(Some(32))
        .init(vec!["SET NAMES utf8mb4"])
        .pool_opts(pool_opts);
    if let Some(socket) = &settings.socket {
        builder = builder.socket(Some(socket.clone()));
    }
    Opts::from(builder)
}

impl MysqlStore {
    /// Opens the pool and checks that the server answers (one connection is made now).
    pub fn connect(
        settings: &DbSettings,
        timeouts: StoreTimeouts,
    ) -> Result<MysqlStore, StoreError> {
        let target = settings.to_string();
        let pool = Pool::new(opts_from_settings(settings, &timeouts)).map_err(|error| {
            match classify(&error, &settings.password) {
                StoreError::Unavailable(message) => {
                    StoreError::Unavailable(format!("cannot reach {target}: {message}"))
                }
                other => other,
            }
        })?;
        Ok(MysqlStore {
            pool,
            target,
            password: settings.password.clone(),
            get_conn_timeout: settings.connect_timeout.unwrap_or(timeouts.connect) + timeouts.read,
            statements: AtomicU64::new(0),
        })
    }

    /// [`MysqlStore::connect`] until the server answers: logs one clear line per failed attempt,
    /// backs off 1, 2, 4 … 30 s, and checks `should_stop` every 100 ms (so SIGTERM still works).
    /// `Ok(None)` when stopped; `Err` only for errors that retrying cannot fix (access denied).
    pub fn connect_with_retry(
        settings: &DbSettings,
        timeouts: StoreTimeouts,
        should_stop: &dyn Fn() -> bool,
    ) -> Result<Option<MysqlStore>, StoreError> {
        let mut delay = Duration::from_secs(1);
        let mut attempt = 1u32;
        loop {
            if should_stop() {
                return Ok(None);
            }
            match MysqlStore::connect(settings, timeouts) {
                Ok(store) => {
                    if attempt > 1 {
                        log::info!("mysql: connected to {settings} after {attempt} attempts");
                    }
                    return Ok(Some(store));
                }
                Err(error) if error.is_retryable() => {
                    log::warn!(
                        "mysql: {error}; retrying in {}s (attempt {attempt})",
                        delay.as_secs()
                    );
                }
                Err(error) => return Err(error),
            }
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if should_stop() {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
            }
            delay = (delay * 2).min(Duration::from_secs(30));
            attempt += 1;
        }
    }

    /// `user@tcp(host:port)/db`: where this store points, safe to log.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// SQL statements sent since this store was created (pings and connection set-up excluded).
    pub fn statements_issued(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// One cheap round trip: is the server there?
    pub fn ping(&self) -> Result<(), StoreError> {
        self.session()?.query_drop("SELECT 1")
    }

    /// Creates or upgrades the schema. Idempotent: a second run changes nothing. Serialised
    /// with `GET_LOCK` so two engines starting together do not race.
    pub fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let mut session = self.session()?;
        let locked: Vec<Option<i64>> =
            session.query_rows("SELECT GET_LOCK('net_engine_migrate', 30)")?;
        if locked.first().copied().flatten() != Some(1) {
            return Err(StoreError::Unavailable(
                "another migrate held the lock for 30 s".to_owned(),
            ));
        }
        let result = run_migrations(&mut session);
        // A broken connection releases the lock by itself, so this may fail harmlessly.
        let _ = session.query_drop("DO RELEASE_LOCK('net_engine_migrate')");
        result
    }

    /// Enabled routers, ordered by id. A row we cannot use (bad port, empty host) is skipped
    /// with a warning rather than failing the whole fleet.
    pub fn load_routers(&self) -> Result<Vec<RouterConfig>, StoreError> {
        type RouterRow = (
            u64,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<RouterRow> = self.session()?.query_rows(
            "SELECT id, name, host, port, username, password, use_tls \
             FROM routers WHERE enabled = 1 ORDER BY id",
        )?;
        let mut routers = Vec::with_capacity(rows.len());
        for (id, name, host, port, username, password, use_tls) in rows {
            let host = host.unwrap_or_default().trim().to_owned();
            let Some(port) = port
                .and_then(|port| u16::try_from(port).ok())
                .filter(|&p| p > 0)
            else {
                log::warn!("mysql: routers.id={id}: port is not 1-65535, router skipped");
                continue;
            };
            if host.is_empty() {
                log::warn!("mysql: routers.id={id}: host is empty, router skipped");
                continue;
            }
            routers.push(RouterConfig {
                id: RouterId(id),
                name: name
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| host.clone()),
                host,
                port,
                username: username.unwrap_or_default(),
                password: password.unwrap_or_default(),
                use_tls: use_tls.unwrap_or(0) != 0,
            });
        }
        Ok(routers)
    }

    /// Mirrors a router's PPP secrets into `pppoe_users`: inserts new ones, updates changed ones
    /// (profile, remote_address, is_enabled), marks the ones that disappeared
    /// (`deleted_at = NOW()`, `is_enabled = 0`), and sets `last_seen_at = NOW()` for the names in
    /// `connected`. One transaction; statements are batched (see [`SYNC_CHUNK_ROWS`]).
    pub fn sync_users(
        &self,
        router: RouterId,
        secrets: &[Secret],
        connected: &[String],
    ) -> Result<SyncCounts, StoreError> {
        let before = self.statements_issued();
        let mut counts = SyncCounts::default();
        let mut wanted: HashMap<&str, UserRow> = HashMap::with_capacity(secrets.len());
        for secret in secrets {
            let name = secret.name.as_str();
            if name.is_empty() || name.chars().count() > MAX_USERNAME {
                counts.skipped += 1;
                continue;
            }
            // Duplicate names cannot happen on a router; if they do, the last one wins.
            wanted.insert(name, UserRow::from_secret(secret));
        }
        let mut session = self.session()?;
        session.query_drop("START TRANSACTION")?;
        let result = sync_in_transaction(&mut session, router, &wanted, connected, &mut counts);
        match result {
            Ok(()) => session.query_drop("COMMIT")?,
            Err(error) => {
                let _ = session.query_drop("ROLLBACK");
                return Err(error);
            }
        }
        counts.statements = self.statements_issued() - before;
        Ok(counts)
    }

    /// Inserts routers (enabled), skipping any whose host and port are already registered or
    /// repeated earlier in `routers`. Host comparison ignores case.
    pub fn seed_routers(&self, routers: &[NewRouter]) -> Result<SeedReport, StoreError> {
        let mut session = self.session()?;
        let existing: Vec<(Option<String>, Option<i64>)> =
            session.query_rows("SELECT host, port FROM routers")?;
        let mut taken: HashSet<(String, i64)> = existing
            .into_iter()
            .map(|(host, port)| {
                (
                    host.unwrap_or_default().trim().to_lowercase(),
                    port.unwrap_or(8728),
                )
            })
            .collect();
        let mut report = SeedReport::default();
        for router in routers {
            if taken.insert((router.host.trim().to_lowercase(), i64::from(router.port))) {
                report.inserted.push(router.clone());
            } else {
                report.skipped_duplicates.push(router.clone());
            }
        }
        if report.inserted.is_empty() {
            return Ok(report);
        }
        session.query_drop("START TRANSACTION")?;
        let mut result = Ok(());
        for chunk in report.inserted.chunks(SYNC_CHUNK_ROWS) {
            let sql = format!(
                "INSERT INTO routers (name, host, port, username, password, use_tls, enabled) VALUES {}",
                placeholders(chunk.len(), 6, "1")
            );
            let mut params = Vec::with_capacity(chunk.len() * 6);
            for router in chunk {
                params.push(Value::from(router.name.as_str()));
                params.push(Value::from(router.host.as_str()));
                params.push(Value::from(router.port));
                params.push(Value::from(router.username.as_str()));
                params.push(Value::from(router.password.as_str()));
                params.push(Value::from(u8::from(router.use_tls)));
            }
            result = session.exec_drop(&sql, params).map(drop);
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => session.query_drop("COMMIT")?,
            Err(error) => {
                let _ = session.query_drop("ROLLBACK");
                return Err(error);
            }
        }
        Ok(report)
    }

    fn session(&self) -> Result<Session<'_>, StoreError> {
        let conn = self
            .pool
            .try_get_conn(self.get_conn_timeout)
            .map_err(|error| classify(&error, &self.password))?;
        Ok(Session {
            conn,
            statements: &self.statements,
            password: &self.password,
        })
    }
}

impl RouterRegistry for MysqlStore {
    fn load_routers(&self) -> Result<Vec<RouterConfig>, StoreError> {
        MysqlStore::load_routers(self)
    }
}

/// One pooled connection plus the statement counter; every statement goes through here.
struct Session<'a> {
    conn: PooledConn,
    statements: &'a AtomicU64,
    password: &'a str,
}

impl Session<'_> {
    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    fn query_drop(&mut self, sql: &str) -> Result<(), StoreError> {
        self.count();
        self.conn
            .query_drop(sql)
            .map_err(|error| classify(&error, self.password))
    }

    fn query_rows<T: FromRow>(&mut self, sql: &str) -> Result<Vec<T>, StoreError> {
        self.count();
        self.conn
            .query(sql)
            .map_err(|error| classify(&error, self.password))
    }

    fn exec_drop(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, StoreError> {
        self.count();
        self.conn
            .exec_drop(sql, params)
            .map_err(|error| classify(&error, self.password))?;
        Ok(self.conn.affected_rows())
    }

    fn exec_rows<T: FromRow>(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<T>, StoreError> {
        self.count();
        self.conn
            .exec(sql, params)
            .map_err(|error| classify(&error, self.password))
    }
}

/// Server error codes that mean "try again later" rather than "this statement is wrong".
const TRANSIENT_SERVER_CODES: [u16; 8] = [
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout
    1213, // deadlock
    1927, // connection was killed (MariaDB)
    2006, // server has gone away
    2013, // lost connection during query
    3024, // query execution interrupted, maximum statement execution time exceeded
];

/// Server error codes that mean our credentials or database name are wrong.
const ACCESS_SERVER_CODES: [u16; 4] = [
    1044, // access denied to database
    1045, // access denied for user
    1049, // unknown database
    1698, // access denied (auth plugin)
];

/// Maps a driver error to ours, with a short message that never contains the password.
fn classify(error: &mysql::Error, password: &str) -> StoreError {
    use mysql::{DriverError, Error};
    let message = match error {
        Error::MySqlError(server) => format!("{} (mysql error {})", server.message, server.code),
        Error::IoError(io) => io.to_string(),
        Error::DriverError(driver) => driver.to_string(),
        Error::CodecError(codec) => codec.to_string(),
        Error::UrlError(_) => "bad connection options".to_owned(),
        Error::FromValueError(_) | Error::FromRowError(_) => {
            "a column holds a value of an unexpected type".to_owned()
        }
    };
    let message = redact(&message, password);
    match error {
        Error::MySqlError(server) if ACCESS_SERVER_CODES.contains(&server.code) => {
            StoreError::AccessDenied(message)
        }
        Error::MySqlError(server) if TRANSIENT_SERVER_CODES.contains(&server.code) => {
            StoreError::Unavailable(message)
        }
        Error::MySqlError(server) if matches!(server.code, 1054 | 1146) => {
            StoreError::Query(format!("{message}; has `net-engine migrate` been run?"))
        }
        Error::MySqlError(_) => StoreError::Query(message),
        Error::DriverError(
            DriverError::MismatchedStmtParams(..)
            | DriverError::MissingNamedParameter(_)
            | DriverError::NamedParamsForPositionalQuery
            | DriverError::MixedParams
            | DriverError::InvalidPoolConstraints,
        ) => StoreError::Query(message),
        Error::FromValueError(_) | Error::FromRowError(_) => StoreError::BadData(message),
        Error::UrlError(_) => StoreError::Query(message),
        Error::IoError(_) | Error::DriverError(_) | Error::CodecError(_) => {
            StoreError::Unavailable(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_well_and_hide_passwords() {
        let router = |name: &str, port: u16, line: usize| NewRouter {
            name: name.into(),
            host: "10.0.0.1".into(),
            port,
            username: "api".into(),
            password: "s3cr3t".into(),
            use_tls: port == 8729,
            line,
        };
        let seed = SeedReport {
            inserted: vec![router("core", 8728, 2), router("edge", 8729, 3)],
            skipped_duplicates: vec![router("again", 8728, 4)],
        };
        assert_eq!(
            seed.to_string(),
            "inserted 2 router(s), skipped 1 duplicate(s)\n  \
             inserted core (10.0.0.1:8728) line 2\n  \
             inserted edge (10.0.0.1:8729, tls) line 3\n  \
             skipped again (10.0.0.1:8728) line 4: host and port already registered"
        );
        let migration = MigrationReport {
            applied: vec!["002_engine_columns".into()],
            already_applied: vec!["001_go_tables".into()],
            changes: vec!["added column routers.enabled".into()],
        };
        assert_eq!(
            migration.to_string(),
            "applied 002_engine_columns (already applied: 001_go_tables)\n  added column routers.enabled"
        );
        let nothing = MigrationReport {
            already_applied: vec!["001_go_tables".into()],
            ..MigrationReport::default()
        };
        assert_eq!(
            nothing.to_string(),
            "schema is up to date (already applied: 001_go_tables)"
        );
    }

    #[test]
    fn errors_are_classified_and_redacted() {
        let server = |code: u16, text: &str| {
            mysql::Error::MySqlError(mysql::MySqlError {
                state: "HY000".into(),
                message: text.into(),
                code,
            })
        };
        let refused = mysql::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused with p@ss",
        ));
        assert!(
            matches!(classify(&refused, "p@ss"), StoreError::Unavailable(m) if !m.contains("p@ss"))
        );
        assert!(
            matches!(classify(&server(1045, "denied p@ss"), "p@ss"), StoreError::AccessDenied(m) if !m.contains("p@ss"))
        );
        assert!(matches!(
            classify(&server(1053, "shutdown"), ""),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&server(1064, "syntax"), ""),
            StoreError::Query(_)
        ));
        assert!(
            matches!(classify(&server(1146, "no table"), ""), StoreError::Query(m) if m.contains("migrate"))
        );
        let timeout = mysql::Error::DriverError(mysql::DriverError::ConnectTimeout);
        assert!(classify(&timeout, "").is_retryable());
    }
}
