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
        include_str!("../../sql/migrations/001_go_tables.sql"),
    ),
    (
        "002_engine_columns",
        include_str!("../../sql/migrations/002_engine_columns.sql"),
    ),
];

/// The full current schema (`sql/schema.sql`), for tests and tools that want it.
pub const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");

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

/// A `pppoe_users` row as the sync compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserRow {
    profile: Option<String>,
    remote_address: Option<String>,
    enabled: bool,
}

impl UserRow {
    fn from_secret(secret: &Secret) -> UserRow {
        let clip = |text: &str, max: usize| -> Option<String> {
            let text = text.trim();
            (!text.is_empty()).then(|| text.chars().take(max).collect())
        };
        UserRow {
            profile: clip(&secret.profile, MAX_PROFILE),
            remote_address: clip(&secret.remote_address, MAX_REMOTE_ADDRESS),
            enabled: !secret.disabled,
        }
    }
}

fn sync_in_transaction(
    session: &mut Session<'_>,
    router: RouterId,
    wanted: &HashMap<&str, UserRow>,
    connected: &[String],
    counts: &mut SyncCounts,
) -> Result<(), StoreError> {
    type ExistingRow = (String, Option<String>, Option<String>, Option<i64>, i64);
    let rows: Vec<ExistingRow> = session.exec_rows(
        "SELECT username, profile, remote_address, is_enabled, deleted_at IS NULL \
         FROM pppoe_users WHERE router_id = ?",
        vec![Value::from(router.0)],
    )?;
    // name -> (row, still present on the router at the last sync)
    let existing: HashMap<String, (UserRow, bool)> = rows
        .into_iter()
        .map(|(name, profile, remote_address, enabled, present)| {
            let row = UserRow {
                profile,
                remote_address,
                enabled: enabled.unwrap_or(1) != 0,
            };
            (name, (row, present != 0))
        })
        .collect();

    let mut upserts: Vec<(&str, &UserRow)> = Vec::new();
    for (&name, row) in wanted {
        match existing.get(name) {
            None => {
                counts.inserted += 1;
                upserts.push((name, row));
            }
            Some((current, true)) if current == row => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                upserts.push((name, row));
            }
        }
    }
    // Sorted so that concurrent syncs lock rows in the same order.
    upserts.sort_unstable_by_key(|(name, _)| *name);
    for chunk in upserts.chunks(SYNC_CHUNK_ROWS) {
        let sql = format!(
            "INSERT INTO pppoe_users (router_id, username, profile, remote_address, is_enabled, deleted_at) \
             VALUES {} ON DUPLICATE KEY UPDATE profile = VALUES(profile), \
             remote_address = VALUES(remote_address), is_enabled = VALUES(is_enabled), deleted_at = NULL",
            placeholders(chunk.len(), 5, "NULL")
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (name, row) in chunk {
            params.push(Value::from(router.0));
            params.push(Value::from(*name));
            params.push(Value::from(row.profile.as_deref()));
            params.push(Value::from(row.remote_address.as_deref()));
            params.push(Value::from(u8::from(row.enabled)));
        }
        session.exec_drop(&sql, params)?;
    }

    let mut missing: Vec<&str> = existing
        .iter()
        .filter(|(name, (_, present))| *present && !wanted.contains_key(name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    missing.sort_unstable();
    counts.marked_missing = missing.len() as u64;
    for chunk in missing.chunks(SYNC_CHUNK_ROWS) {
        let sql = format!(
            "UPDATE pppoe_users SET is_enabled = 0, deleted_at = NOW() \
             WHERE router_id = ? AND deleted_at IS NULL AND username IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut params = vec![Value::from(router.0)];
        params.extend(chunk.iter().map(|name| Value::from(*name)));
        session.exec_drop(&sql, params)?;
    }

    // A live session whose secret is gone (not kicked yet) still counts as seen.
    let mut seen: Vec<&str> = connected
        .iter()
        .map(String::as_str)
        .filter(|name| wanted.contains_key(name) || existing.contains_key(*name))
        .collect::<HashSet<&str>>()
        .into_iter()
        .collect();
    seen.sort_unstable();
    counts.seen = seen.len() as u64;
    for chunk in seen.chunks(SYNC_CHUNK_ROWS) {
        // `updated_at = updated_at`: being online is not a change to the row.
        let sql = format!(
            "UPDATE pppoe_users SET last_seen_at = NOW(), updated_at = updated_at \
             WHERE router_id = ? AND username IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut params = vec![Value::from(router.0)];
        params.extend(chunk.iter().map(|name| Value::from(*name)));
        session.exec_drop(&sql, params)?;
    }
    Ok(())
}

/// `(?, ?, ?, tail), (?, ?, ?, tail)` for `rows` rows of `columns` placeholders each.
fn placeholders(rows: usize, columns: usize, tail: &str) -> String {
    let mut one = vec!["?"; columns].join(", ");
    if !tail.is_empty() {
        one = format!("{one}, {tail}");
    }
    vec![format!("({one})"); rows].join(", ")
}

fn run_migrations(session: &mut Session<'_>) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport::default();
    let existed = table_exists(session, "schema_migrations")?;
    session.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version VARCHAR(100) NOT NULL PRIMARY KEY, \
         applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\
         ) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
    )?;
    if !existed {
        report
            .changes
            .push("created table schema_migrations".to_owned());
    }
    let done: HashSet<String> = session
        .query_rows::<String>("SELECT version FROM schema_migrations")?
        .into_iter()
        .collect();
    for (version, text) in MIGRATIONS {
        if done.contains(*version) {
            report.already_applied.push((*version).to_owned());
            continue;
        }
        let statements = parse_script(text).map_err(|error| {
            StoreError::Query(format!("migration {version} is unreadable: {error}"))
        })?;
        for statement in statements {
            let guard = statement
                .guard
                .clone()
                .or_else(|| create_table_guard(&statement.sql));
            let change = match &guard {
                Some(guard) if guard_holds(session, guard)? => continue,
                Some(guard) => describe_guard(guard),
                None if is_idempotent_by_itself(&statement.sql) => String::new(),
                None => {
                    return Err(StoreError::Query(format!(
                        "migration {version} line {}: statement is neither guarded nor idempotent",
                        statement.line
                    )))
                }
            };
            session.query_drop(&statement.sql).map_err(|error| {
                StoreError::Query(format!(
                    "migration {version} line {}: {error}",
                    statement.line
                ))
            })?;
            if !change.is_empty() {
                report.changes.push(change);
            }
        }
        session.exec_drop(
            "INSERT IGNORE INTO schema_migrations (version) VALUES (?)",
            vec![Value::from(*version)],
        )?;
        report.applied.push((*version).to_owned());
    }
    Ok(report)
}

/// `CREATE TABLE IF NOT EXISTS name` is guarded by the table's existence, so the report can
/// say whether it created anything.
fn create_table_guard(sql: &str) -> Option<Guard> {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let prefix = ["CREATE", "TABLE", "IF", "NOT", "EXISTS"];
    let matches = words.len() == 6
        && words
            .iter()
            .zip(prefix)
            .all(|(word, want)| word.eq_ignore_ascii_case(want));
    matches.then(|| {
        let name = words[5].trim_matches('`');
        let name = name.split('(').next().unwrap_or(name).trim_matches('`');
        Guard::Table {
            table: name.to_owned(),
        }
    })
}

fn describe_guard(guard: &Guard) -> String {
    match guard {
        Guard::Table { table } => format!("created table {table}"),
        Guard::Column { table, column } => format!("added column {table}.{column}"),
        Guard::Index { table, index } => format!("added index {table}.{index}"),
        Guard::Collation {
            table,
            column,
            collation,
        } => {
            format!("set collation of {table}.{column} to {collation}")
        }
        Guard::TableCharset { table, charset } => format!("converted table {table} to {charset}"),
    }
}

fn table_exists(session: &mut Session<'_>, table: &str) -> Result<bool, StoreError> {
    guard_holds(
        session,
        &Guard::Table {
            table: table.to_owned(),
        },
    )
}

fn guard_holds(session: &mut Session<'_>, guard: &Guard) -> Result<bool, StoreError> {
    let count = |session: &mut Session<'_>, sql: &str, params: Vec<Value>| {
        session
            .exec_rows::<i64>(sql, params)
            .map(|rows| rows.first().copied().unwrap_or(0) > 0)
    };
    match guard {
        Guard::Table { table } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            vec![Value::from(table.as_str())],
        ),
        Guard::Column { table, column } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
            vec![Value::from(table.as_str()), Value::from(column.as_str())],
        ),
        Guard::Index { table, index } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
            vec![Value::from(table.as_str()), Value::from(index.as_str())],
        ),
        Guard::Collation {
            table,
            column,
            collation,
        } => {
            let found: Vec<Option<String>> = session.exec_rows(
                "SELECT collation_name FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
                vec![Value::from(table.as_str()), Value::from(column.as_str())],
            )?;
            Ok(found.first().cloned().flatten().as_deref() == Some(collation.as_str()))
        }
        Guard::TableCharset { table, charset } => {
            let found: Vec<Option<String>> = session.exec_rows(
                "SELECT table_collation FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                vec![Value::from(table.as_str())],
            )?;
            let prefix = format!("{charset}_");
            Ok(found
                .first()
                .cloned()
                .flatten()
                .is_some_and(|found| found.starts_with(&prefix)))
        }
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
    fn placeholders_shape() {
        assert_eq!(
            placeholders(2, 3, "NULL"),
            "(?, ?, ?, NULL), (?, ?, ?, NULL)"
        );
        assert_eq!(placeholders(1, 2, ""), "(?, ?)");
    }

    #[test]
    fn migrations_are_guarded_or_idempotent() {
        for (version, text) in MIGRATIONS {
            for statement in parse_script(text).unwrap() {
                assert!(
                    statement.guard.is_some()
                        || create_table_guard(&statement.sql).is_some()
                        || is_idempotent_by_itself(&statement.sql),
                    "{version} line {}: {}",
                    statement.line,
                    statement.sql
                );
            }
        }
        // schema.sql is run by hand; it must be safe to run twice as well.
        for statement in parse_script(SCHEMA_SQL).unwrap() {
            assert!(is_idempotent_by_itself(&statement.sql), "{}", statement.sql);
        }
    }

    #[test]
    fn create_table_guard_reads_the_name() {
        assert_eq!(
            create_table_guard("CREATE TABLE IF NOT EXISTS `routers` (id INT)"),
            Some(Guard::Table {
                table: "routers".into()
            })
        );
        assert_eq!(
            create_table_guard("create table if not exists pppoe_users(id INT)"),
            Some(Guard::Table {
                table: "pppoe_users".into()
            })
        );
        assert_eq!(create_table_guard("CREATE TABLE routers (id INT)"), None);
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
