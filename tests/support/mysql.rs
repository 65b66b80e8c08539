//! MySQL test support: the server that `tests/db.sh` started (its DSN in `NET_ENGINE_TEST_DSN`),
//! one fresh database per test so tests run in parallel, and private servers that a test may
//! stop and start again.
//!
//! MySQL tests never pass silently without a server: without `NET_ENGINE_TEST_DSN` they print
//! why they skipped, and when `CI` is set they fail instead.

use net_engine::store::mysql::opts_from_settings;
use net_engine::store::{parse_dsn, DbSettings, MysqlStore, StoreTimeouts};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

use ::mysql::prelude::Queryable;

pub const DSN_VAR: &str = "NET_ENGINE_TEST_DSN";

/// Short timeouts: a test that waits on a dead server must fail fast, not hang.
pub fn test_timeouts() -> StoreTimeouts {
    StoreTimeouts {
        connect: std::time::Duration::from_secs(3),
        read: std::time::Duration::from_secs(10),
        write: std::time::Duration::from_secs(10),
    }
}

/// The shared test server's settings, or `None` (after saying why) when MySQL tests should be
/// skipped. Panics when `CI` is set and there is no server: CI must not pass without MySQL.
pub fn test_settings() -> Option<DbSettings> {
    match std::env::var(DSN_VAR) {
        Ok(dsn) if !dsn.trim().is_empty() => {
            Some(parse_dsn(&dsn).unwrap_or_else(|error| panic!("{DSN_VAR}: {error}")))
        }
        _ if std::env::var_os("CI").is_some() => panic!(
            "{DSN_VAR} is not set but CI is: MySQL tests must run in CI (run them through tests/db.sh run)"
        ),
        _ => {
            eprintln!("skipped: {DSN_VAR} not set (run tests/db.sh)");
            None
        }
    }
}

/// A raw connection for setting up and checking rows, outside the code under test.
pub fn raw_conn(settings: &DbSettings) -> ::mysql::Conn {
    ::mysql::Conn::new(opts_from_settings(settings, &test_timeouts()))
        .unwrap_or_else(|error| panic!("connect to {settings}: {error}"))
}

/// Runs a `.sql` script (our own files) statement by statement.
pub fn run_script(conn: &mut ::mysql::Conn, text: &str) {
    for statement in net_engine::store::script::parse_script(text).expect("script parses") {
        conn.query_drop(&statement.sql)
            .unwrap_or_else(|error| panic!("line {}: {error}\n{}", statement.line, statement.sql));
    }
}

/// A database of its own for one test, dropped at the end.
pub struct TestDatabase {
    pub settings: DbSettings,
    pub name: String,
    server: DbSettings,
}

impl TestDatabase {
    /// Creates `ne_<label>_<pid>` (dropping a leftover of the same name first).
    pub fn create(label: &str) -> Option<TestDatabase> {
        TestDatabase::create_with(label, "CHARACTER SET utf8mb4")
    }

    /// Same, with explicit `CREATE DATABASE` options (e.g. `CHARACTER SET latin1` to imitate a
    /// Go-era MariaDB database).
    pub fn create_with(label: &str, options: &str) -> Option<TestDatabase> {
        let server = test_settings()?;
        Some(TestDatabase::create_on(&server, label, options))
    }

    pub fn create_on(server: &DbSettings, label: &str, options: &str) -> TestDatabase {
        let name = format!("ne_{label}_{}", std::process::id());
        let mut conn = raw_conn(server);
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .expect("drop old database");
        conn.query_drop(format!("CREATE DATABASE `{name}` {options}"))
            .expect("create database");
        TestDatabase {
            settings: server.with_database(&name),
            name,
            server: server.clone(),
        }
    }

    pub fn store(&self) -> MysqlStore {
        MysqlStore::connect(&self.settings, test_timeouts())
            .unwrap_or_else(|error| panic!("connect to {}: {error}", self.settings))
    }

    pub fn conn(&self) -> ::mysql::Conn {
        raw_conn(&self.settings)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort: the server may be down on purpose.
        if let Ok(mut conn) = ::mysql::Conn::new(opts_from_settings(&self.server, &test_timeouts()))
        {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

/// A MariaDB server of its own (via `tests/db.sh start`), for tests that stop the server.
pub struct PrivateServer {
    /// Removed (after the server is stopped) when the value is dropped.
    dir: TempDir,
    /// The server's own `netengine_test` database.
    pub settings: DbSettings,
}

impl PrivateServer {
    /// `None` (after saying why) under the same rule as [`test_settings`]; panics in CI when
    /// the server cannot be started.
    pub fn start() -> Option<PrivateServer> {
        test_settings()?;
        // Short: the server's unix socket lives in it (db.sh wants the path under 90 bytes).
        let dir = tempfile::Builder::new()
            .prefix("ne-db-")
            .tempdir()
            .expect("create a temp dir for the server");
        let output = Command::new("bash")
            .arg(db_script())
            .arg("start")
            .arg(dir.path())
            .output();
        let output = match output {
            Ok(output) if output.status.success() => output,
            failed => {
                let why = match failed {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(error) => error.to_string(),
                };
                drop(dir);
                if std::env::var_os("CI").is_some() {
                    panic!("tests/db.sh start failed: {why}");
                }
                eprintln!("skipped: cannot start a private MariaDB ({})", why.trim());
                return None;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let dsn = stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("export {DSN_VAR}='")))
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("tests/db.sh start printed no DSN: {stdout}"));
        let settings = parse_dsn(dsn).expect("db.sh prints a valid DSN");
        Some(PrivateServer { dir, settings })
    }

    /// Stops the server, keeping its data and port.
    pub fn down(&self) {
        self.script("down");
    }

    /// Starts it again on the same port with the same data.
    pub fn up(&self) {
        self.script("up");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn script(&self, command: &str) {
        let status = Command::new("bash")
            .arg(db_script())
            .arg(command)
            .arg(self.dir.path())
            .status()
            .expect("run tests/db.sh");
        assert!(status.success(), "tests/db.sh {command} failed");
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(db_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
        // The directory itself goes when `dir` is dropped, right after this.
    }
}

fn db_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("db.sh")
}
