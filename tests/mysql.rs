//! The MySQL store against a real MariaDB/MySQL server (started by `tests/db.sh`): migrations,
//! the Go-era upgrade, DSNs with awkward passwords, seeding, the batched user sync, the router
//! registry, and a server that stops and comes back. Each test has its own database.

use crate::support::mysql::{
    raw_conn, run_script, test_settings, test_timeouts, PrivateServer, TestDatabase,
};
use ::mysql::prelude::Queryable;
use net_engine::model::{RouterConfig, RouterId, Secret};
use net_engine::store::mysql::{MIGRATIONS, SCHEMA_SQL};
use net_engine::store::{
    parse_dsn, parse_routers_csv, MysqlStore, RouterRegistry, StoreError, SyncCounts,
    SyncWriterHandle, UserSyncJob, WriterSettings,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GO_LEGACY_SCHEMA: &str = include_str!("../sql/go-legacy-schema.sql");
const SEED_DEMO: &str = include_str!("../sql/seed-demo.sql");

/// Everything about the schema that matters: tables, columns, indexes, foreign keys.
fn schema_snapshot(conn: &mut ::mysql::Conn) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let tables: Vec<(String, Option<String>)> = conn
        .query(
            "SELECT table_name, table_collation FROM information_schema.tables \
             WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .unwrap();
    lines.extend(tables.into_iter().map(|row| format!("table {row:?}")));
    type ColumnRow = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let columns: Vec<ColumnRow> = conn
        .query(
            "SELECT table_name, column_name, column_type, is_nullable, column_default, \
             collation_name, extra FROM information_schema.columns \
             WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position",
        )
        .unwrap();
    lines.extend(columns.into_iter().map(|row| format!("column {row:?}")));
    let indexes: Vec<(String, String, i64, i64, String)> = conn
        .query(
            "SELECT table_name, index_name, non_unique, seq_in_index, column_name \
             FROM information_schema.statistics WHERE table_schema = DATABASE() \
             ORDER BY table_name, index_name, seq_in_index",
        )
        .unwrap();
    lines.extend(indexes.into_iter().map(|row| format!("index {row:?}")));
    let keys: Vec<(String, String, String, String)> = conn
        .query(
            "SELECT table_name, constraint_name, column_name, referenced_table_name \
             FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL \
             ORDER BY table_name, constraint_name",
        )
        .unwrap();
    lines.extend(keys.into_iter().map(|row| format!("foreign key {row:?}")));
    lines
}

fn versions() -> Vec<String> {
    MIGRATIONS
        .iter()
        .map(|(version, _)| (*version).to_owned())
        .collect()
}

fn insert_router(
    conn: &mut ::mysql::Conn,
    name: &str,
    host: &str,
    port: i64,
    enabled: bool,
) -> u64 {
    conn.exec_drop(
        "INSERT INTO routers (name, host, port, username, password, enabled) VALUES (?, ?, ?, 'admin', 'r0uter-pw', ?)",
        (name, host, port, enabled),
    )
    .unwrap();
    conn.last_insert_id()
}

#[test]
fn migrate_twice_changes_nothing() {
    let Some(database) = TestDatabase::create("migrate_twice") else {
        return;
    };
    let store = database.store();
    let first = store.migrate().unwrap();
    assert_eq!(first.applied, versions());
    assert!(first.already_applied.is_empty());
    for change in [
        "created table routers",
        "created table pppoe_users",
        "created table schema_migrations",
    ] {
        assert!(
            first.changes.iter().any(|c| c == change),
            "{change} in {:?}",
            first.changes
        );
    }
    // A fresh database is built the way a Go-era one is upgraded: 001, then 002.
    assert!(
        first
            .changes
            .iter()
            .any(|c| c == "added column routers.enabled"),
        "{:?}",
        first.changes
    );
    let mut conn = database.conn();
    let before = schema_snapshot(&mut conn);

    let second = store.migrate().unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.already_applied, versions());
    assert!(second.changes.is_empty(), "{second:?}");
    assert_eq!(schema_snapshot(&mut conn), before);

    // Even with the bookkeeping gone, every statement is guarded: nothing changes.
    conn.query_drop("DELETE FROM schema_migrations").unwrap();
    let third = store.migrate().unwrap();
    assert_eq!(third.applied, versions());
    assert!(third.changes.is_empty(), "{third:?}");
    assert_eq!(schema_snapshot(&mut conn), before);
}

#[test]
fn migrate_upgrades_the_go_schema_and_matches_schema_sql() {
    // MariaDB's default charset is latin1: a Go-era database likely is too.
    let Some(legacy) = TestDatabase::create_with("go_upgrade", "CHARACTER SET latin1") else {
        return;
    };
    let mut conn = legacy.conn();
    run_script(&mut conn, GO_LEGACY_SCHEMA);
    conn.query_drop(
        "INSERT INTO routers (name, host, port, username, password) VALUES ('core', '10.0.0.1', 8728, 'api', 'go-pw')",
    )
    .unwrap();
    conn.query_drop(
        "INSERT INTO pppoe_users (router_id, username, profile) VALUES (1, 'alice', 'Café 10M')",
    )
    .unwrap();

    let report = legacy.store().migrate().unwrap();
    assert_eq!(report.applied, versions());
    for change in [
        "converted table routers to utf8mb4",
        "converted table pppoe_users to utf8mb4",
        "set collation of pppoe_users.username to utf8mb4_bin",
        "added column routers.use_tls",
        "added column routers.enabled",
        "added column pppoe_users.remote_address",
        "added column pppoe_users.last_seen_at",
        "added column pppoe_users.deleted_at",
        "added index routers.idx_routers_host_port",
    ] {
        assert!(
            report.changes.iter().any(|c| c == change),
            "{change} missing from {:?}",
            report.changes
        );
    }
    assert!(
        !report.changes.iter().any(|c| c == "created table routers"),
        "{:?}",
        report.changes
    );

    let router: Option<(String, String, i64, String, String, i64, i64)> = conn
        .query_first("SELECT name, host, port, username, password, use_tls, enabled FROM routers")
        .unwrap();
    assert_eq!(
        router,
        Some((
            "core".into(),
            "10.0.0.1".into(),
            8728,
            "api".into(),
            "go-pw".into(),
            0,
            1
        ))
    );
    let user: Option<(String, Option<String>, i64, Option<String>)> = conn
        .query_first("SELECT username, profile, is_enabled, remote_address FROM pppoe_users")
        .unwrap();
    assert_eq!(
        user,
        Some(("alice".into(), Some("Café 10M".into()), 1, None))
    );
    let routers = legacy.store().load_routers().unwrap();
    assert_eq!(routers.len(), 1);
    assert_eq!(
        (routers[0].name.as_str(), routers[0].password.as_str()),
        ("core", "go-pw")
    );

    // The upgraded database, a freshly migrated one and one made from sql/schema.sql agree.
    let upgraded = schema_snapshot(&mut conn);
    let fresh = TestDatabase::create("go_upgrade_fresh").unwrap();
    fresh.store().migrate().unwrap();
    assert_eq!(schema_snapshot(&mut fresh.conn()), upgraded);
    let from_file = TestDatabase::create("go_upgrade_file").unwrap();
    let mut file_conn = from_file.conn();
    run_script(&mut file_conn, SCHEMA_SQL);
    run_script(&mut file_conn, SCHEMA_SQL); // safe to run twice
    assert_eq!(schema_snapshot(&mut file_conn), upgraded);
    let after_file = from_file.store().migrate().unwrap();
    assert!(
        after_file.applied.is_empty() && after_file.changes.is_empty(),
        "{after_file:?}"
    );
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

#[test]
fn dsn_styles_with_awkward_passwords_reach_the_server() {
    let Some(database) = TestDatabase::create("dsn") else {
        return;
    };
    let mut admin = database.conn();
    let host = database.settings.host.clone();
    let port = database.settings.port;
    let passwords = [
        "p@ss:w!rd#1",
        "a/b?c@d&e=f",
        "x@tcp(y",
        ":leading colon",
        "trailing space ",
        "quo'te\"back\\slash",
        "ünïcødé ✓",
        "%41%zz+",
        "",
    ];
    for (index, password) in passwords.iter().enumerate() {
        let user = format!("ne_dsn_{}_{index}", std::process::id());
        let _ = admin.query_drop(format!("DROP USER IF EXISTS '{user}'@'127.0.0.1'"));
        admin
            .query_drop(format!(
                "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY {}",
                sql_literal(password)
            ))
            .unwrap();
        admin
            .query_drop(format!(
                "GRANT ALL ON `{}`.* TO '{user}'@'127.0.0.1'",
                database.name
            ))
            .unwrap();

        let go_style = format!(
            "{user}:{password}@tcp({host}:{port})/{}?parseTime=true",
            database.name
        );
        let url_style = format!(
            "mysql://{user}:{}@{host}:{port}/{}",
            url_encode(password),
            database.name
        );
        for dsn in [&go_style, &url_style] {
            let settings = parse_dsn(dsn).unwrap_or_else(|error| panic!("{password:?}: {error}"));
            assert_eq!(settings.password, *password, "{dsn}");
            let store = MysqlStore::connect(&settings, test_timeouts())
                .unwrap_or_else(|error| panic!("{password:?} via {}: {error}", settings));
            store.ping().unwrap();
        }

        // The wrong password is refused, and neither password shows in the error.
        let mut wrong = parse_dsn(&go_style).unwrap();
        wrong.password = format!("{password}-wrong");
        let error = MysqlStore::connect(&wrong, test_timeouts()).expect_err("wrong password");
        assert!(matches!(error, StoreError::AccessDenied(_)), "{error}");
        assert!(!error.is_retryable());
        if password.len() > 2 {
            assert!(!error.to_string().contains(password), "{error}");
        }
        admin
            .query_drop(format!("DROP USER '{user}'@'127.0.0.1'"))
            .unwrap();
    }

    // A unix socket DSN, when the server is ours (tests/db.sh exports its directory).
    if let Some(dir) = std::env::var_os("NET_ENGINE_TEST_DB_DIR") {
        let socket = std::path::Path::new(&dir).join("mysqld.sock");
        let settings = &database.settings;
        let dsn = format!(
            "{}:{}@unix({})/{}",
            settings.user,
            settings.password,
            socket.display(),
            database.name
        );
        let store = MysqlStore::connect(&parse_dsn(&dsn).unwrap(), test_timeouts()).unwrap();
        store.ping().unwrap();
    }

    // Nothing listening: Unavailable, quickly, and no password in the message.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dsn = format!("u:p@ss:w!rd#1@tcp(127.0.0.1:{closed_port})/db");
    let started = Instant::now();
    let error =
        MysqlStore::connect(&parse_dsn(&dsn).unwrap(), test_timeouts()).expect_err("closed port");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{closed_port}")),
        "{error}"
    );
    assert!(!error.to_string().contains("p@ss:w!rd#1"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn seed_from_csv_skips_duplicates_and_demo_seed_is_idempotent() {
    let Some(database) = TestDatabase::create("seed") else {
        return;
    };
    let store = database.store();
    store.migrate().unwrap();
    let mut conn = database.conn();
    insert_router(&mut conn, "existing", "10.0.0.1", 8728, true);

    let csv = "name,host,port,username,password,use_tls\n\
               dup-of-existing,10.0.0.1,8728,admin,x,false\n\
               \"Tower, north\",10.0.0.2,8728,api,\"p,a\"\"ss\",no\n\
               tls-box,10.0.0.3,,api,s3cret,yes\n\
               dup-in-file,10.0.0.2,8728,api,y,false\n\
               other-port,10.0.0.1,8729,api,z,true\n";
    let rows = parse_routers_csv(csv).unwrap();
    let report = store.seed_routers(&rows).unwrap();
    let names = |routers: &[net_engine::store::NewRouter]| -> Vec<String> {
        routers.iter().map(|router| router.name.clone()).collect()
    };
    assert_eq!(
        names(&report.inserted),
        ["Tower, north", "tls-box", "other-port"]
    );
    assert_eq!(
        names(&report.skipped_duplicates),
        ["dup-of-existing", "dup-in-file"]
    );

    let again = store.seed_routers(&rows).unwrap();
    assert!(again.inserted.is_empty());
    assert_eq!(again.skipped_duplicates.len(), 5);

    let routers = store.load_routers().unwrap();
    let loaded: Vec<(&str, &str, u16, &str, bool)> = routers
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.host.as_str(),
                r.port,
                r.password.as_str(),
                r.use_tls,
            )
        })
        .collect();
    assert_eq!(
        loaded,
        [
            ("existing", "10.0.0.1", 8728, "r0uter-pw", false),
            ("Tower, north", "10.0.0.2", 8728, "p,a\"ss", false),
            ("tls-box", "10.0.0.3", 8729, "s3cret", true),
            ("other-port", "10.0.0.1", 8729, "z", true),
        ]
    );

    // sql/seed-demo.sql: three simulator routers, once, however often it runs.
    run_script(&mut conn, SEED_DEMO);
    run_script(&mut conn, SEED_DEMO);
    let demo: Vec<(String, String, i64, String, String)> = conn
        .query("SELECT name, host, port, username, password FROM routers WHERE name LIKE 'sim-%' ORDER BY port")
        .unwrap();
    assert_eq!(
        demo,
        [18728, 18729, 18730]
            .iter()
            .enumerate()
            .map(|(k, &port)| (
                format!("sim-{}", k + 1),
                "127.0.0.1".to_owned(),
                port,
                "admin".to_owned(),
                String::new()
            ))
            .collect::<Vec<_>>()
    );
}

#[test]
fn load_routers_returns_enabled_rows_only() {
    let Some(database) = TestDatabase::create("load") else {
        return;
    };
    let store = database.store();
    store.migrate().unwrap();
    let mut conn = database.conn();
    let a = insert_router(&mut conn, "a", "10.0.0.1", 8728, true);
    insert_router(&mut conn, "off", "10.0.0.2", 8728, false);
    let tls = insert_router(&mut conn, "tls", "10.0.0.3", 8729, true);
    conn.exec_drop("UPDATE routers SET use_tls = 1 WHERE id = ?", (tls,))
        .unwrap();
    insert_router(&mut conn, "bad-port", "10.0.0.4", 70000, true);
    insert_router(&mut conn, "no-host", "", 8728, true);

    let expected = vec![
        RouterConfig {
            id: RouterId(a),
            name: "a".into(),
            host: "10.0.0.1".into(),
            port: 8728,
            username: "admin".into(),
            password: "r0uter-pw".into(),
            use_tls: false,
        },
        RouterConfig {
            id: RouterId(tls),
            name: "tls".into(),
            host: "10.0.0.3".into(),
            port: 8729,
            username: "admin".into(),
            password: "r0uter-pw".into(),
            use_tls: true,
        },
    ];
    assert_eq!(store.load_routers().unwrap(), expected);
    // The same through the trait object the engine holds.
    let registry: Arc<dyn RouterRegistry> = Arc::new(store);
    assert_eq!(registry.load_routers().unwrap(), expected);
}

fn secret(index: usize) -> Secret {
    Secret {
        id: format!("*{index:X}").into(),
        name: match index {
            0 => "Alice".into(),
            1 => "alice".into(), // a different customer: names are case-sensitive
            2 => "josé.ñandú".into(),
            _ => format!("user{index:04}").into(),
        },
        service: "pppoe".into(),
        profile: format!("{}M", [10, 20, 50][index % 3]).into(),
        remote_address: if index.is_multiple_of(4) {
            format!("10.10.{}.{}", index / 250, index % 250 + 1).into()
        } else {
            Default::default()
        },
        disabled: index % 10 == 7,
        ..Secret::default()
    }
}

type UserRowCheck = (String, Option<String>, Option<String>, i64, bool, bool);

fn user_rows(conn: &mut ::mysql::Conn, router: u64) -> Vec<UserRowCheck> {
    conn.exec_map(
        "SELECT username, profile, remote_address, is_enabled, last_seen_at IS NOT NULL, deleted_at IS NOT NULL \
         FROM pppoe_users WHERE router_id = ? ORDER BY username",
        (router,),
        |(name, profile, remote, enabled, seen, deleted): (String, Option<String>, Option<String>, i64, i64, i64)| {
            (name, profile, remote, enabled, seen != 0, deleted != 0)
        },
    )
    .unwrap()
}

fn expected_row(secret: &Secret, seen: bool, deleted: bool) -> UserRowCheck {
    (
        secret.name.to_string(),
        Some(secret.profile.to_string()),
        (!secret.remote_address.is_empty()).then(|| secret.remote_address.to_string()),
        if deleted || secret.disabled { 0 } else { 1 },
        seen,
        deleted,
    )
}

#[test]
fn sync_of_1000_secrets_is_batched_and_writes_the_right_rows() {
    let Some(database) = TestDatabase::create("sync") else {
        return;
    };
    let store = database.store();
    store.migrate().unwrap();
    let mut conn = database.conn();
    let router = insert_router(&mut conn, "r", "10.0.0.1", 8728, true);
    let other = insert_router(&mut conn, "other", "10.0.0.2", 8728, true);

    let secrets: Vec<Secret> = (0..1000).map(secret).collect();
    let connected: Vec<String> = secrets
        .iter()
        .step_by(3)
        .map(|s| s.name.to_string())
        .chain(["radius-only".to_owned()])
        .collect();
    let before = store.statements_issued();
    let counts = store
        .sync_users(RouterId(router), &secrets, &connected)
        .unwrap();
    assert_eq!(
        counts,
        SyncCounts {
            inserted: 1000,
            seen: 334,
            statements: counts.statements,
            ..SyncCounts::default()
        }
    );
    assert_eq!(store.statements_issued() - before, counts.statements);
    // START, SELECT, 2 upserts of 500, 1 last_seen update, COMMIT.
    assert!(counts.statements <= 6, "{counts:?}");
    assert_eq!(counts.stored(), 1000);
    let mut expected: Vec<UserRowCheck> = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| expected_row(s, i.is_multiple_of(3), false))
        .collect();
    expected.sort();
    assert_eq!(user_rows(&mut conn, router), expected);

    // Another router's users are not touched by this router's sync.
    store
        .sync_users(RouterId(other), &secrets[..5], &[])
        .unwrap();

    // Second sync: 10 profile changes, 50 secrets gone, 5 new, nobody online.
    let mut next: Vec<Secret> = secrets[50..].to_vec();
    for secret in next.iter_mut().take(10) {
        secret.profile = "100M".into();
    }
    next.extend((1000..1005).map(secret));
    let counts = store.sync_users(RouterId(router), &next, &[]).unwrap();
    assert_eq!(
        (
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.marked_missing,
            counts.seen
        ),
        (5, 10, 940, 50, 0)
    );
    // START, SELECT, 1 upsert (15 rows), 1 mark-missing update, COMMIT.
    assert!(counts.statements <= 5, "{counts:?}");
    let rows = user_rows(&mut conn, router);
    assert_eq!(rows.len(), 1005);
    let gone: Vec<&UserRowCheck> = rows.iter().filter(|row| row.5).collect();
    assert_eq!(gone.len(), 50);
    assert!(gone.iter().all(|row| row.3 == 0), "gone rows are disabled");
    let changed = rows.iter().find(|row| row.0 == next[0].name).unwrap();
    assert_eq!(changed.1.as_deref(), Some("100M"));
    assert_eq!(user_rows(&mut conn, other).len(), 5);

    // Same input again: nothing to write but the transaction and the read.
    let counts = store.sync_users(RouterId(router), &next, &[]).unwrap();
    assert_eq!(
        (
            counts.unchanged,
            counts.inserted + counts.updated + counts.marked_missing
        ),
        (955, 0)
    );
    assert_eq!(counts.statements, 3, "{counts:?}");

    // A secret that comes back is live again.
    next.push(secrets[7].clone());
    let counts = store
        .sync_users(RouterId(router), &next, &[secrets[7].name.to_string()])
        .unwrap();
    assert_eq!((counts.updated, counts.seen), (1, 1));
    let back = user_rows(&mut conn, router)
        .into_iter()
        .find(|row| row.0 == secrets[7].name)
        .unwrap();
    assert_eq!(back, expected_row(&secrets[7], true, false));
}

#[test]
fn sync_skips_unstorable_names() {
    let Some(database) = TestDatabase::create("sync_skip") else {
        return;
    };
    let store = database.store();
    store.migrate().unwrap();
    let router = insert_router(&mut database.conn(), "r", "10.0.0.1", 8728, true);
    let mut secrets = vec![secret(10), secret(11)];
    secrets[0].name = "x".repeat(101).into();
    secrets.push(Secret {
        name: Default::default(),
        ..secret(12)
    });
    let mut long_profile = secret(13);
    long_profile.profile = "p".repeat(300).into();
    secrets.push(long_profile);
    let counts = store.sync_users(RouterId(router), &secrets, &[]).unwrap();
    assert_eq!((counts.inserted, counts.skipped), (2, 2));
    let rows = user_rows(&mut database.conn(), router);
    assert_eq!(rows[1].1.as_deref().map(str::len), Some(100));
}

#[test]
fn stopped_server_is_unavailable_then_work_resumes() {
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let store = Arc::new(MysqlStore::connect(&server.settings, test_timeouts()).unwrap());
    store.migrate().unwrap();
    let fast_retries = WriterSettings {
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(400),
    };
    let writer = SyncWriterHandle::spawn(store.clone(), fast_retries).unwrap();
    let router = insert_router(&mut raw_conn(&server.settings), "r", "10.0.0.1", 8728, true);
    assert_eq!(store.load_routers().unwrap().len(), 1);
    let secrets: Vec<Secret> = (0..20).map(secret).collect();
    store.sync_users(RouterId(router), &secrets, &[]).unwrap();

    server.down();
    let started = Instant::now();
    let error = store.load_routers().expect_err("server is down");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert!(
        !error.to_string().contains(&server.settings.password),
        "{error}"
    );
    let error = store
        .sync_users(RouterId(router), &secrets[..10], &[])
        .expect_err("server is down");
    assert!(error.is_retryable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failing took {:?}",
        started.elapsed()
    );
    let error = MysqlStore::connect(&server.settings, test_timeouts()).expect_err("server is down");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");

    // The writer keeps the newest list per router and retries it.
    let job = |count: usize| UserSyncJob {
        router: RouterId(router),
        secrets: Arc::new(secrets[..count].to_vec()),
        connected: vec![secrets[0].name.to_string()],
    };
    let error = writer
        .sync_now(job(5), Duration::from_secs(10))
        .expect_err("server is down");
    assert!(error.is_retryable(), "{error}");
    writer.submit(job(15));
    let until = Instant::now() + Duration::from_secs(10);
    while writer.stats().failed_attempts < 2 {
        assert!(
            Instant::now() < until,
            "writer did not retry: {:?}",
            writer.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(writer.stats().pending, 1);

    // connect_with_retry gives up when asked to stop…
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let stopped = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            MysqlStore::connect_with_retry(&server.settings, test_timeouts(), &|| {
                stop.load(Ordering::Relaxed)
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        waiter.join().unwrap()
    });
    assert!(matches!(stopped, Ok(None)), "{stopped:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // …and connects once the server is back.
    let never = || false;
    let retried = std::thread::scope(|scope| {
        let waiter = scope
            .spawn(|| MysqlStore::connect_with_retry(&server.settings, test_timeouts(), &never));
        std::thread::sleep(Duration::from_millis(500));
        server.up();
        waiter.join().unwrap()
    });
    assert!(matches!(retried, Ok(Some(_))), "{retried:?}");

    // The first store's pool reconnects by itself: the queued write goes through…
    let until = Instant::now() + Duration::from_secs(10);
    while writer.stats().written < 1 {
        assert!(
            Instant::now() < until,
            "writer did not resume: {:?}",
            writer.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = writer.stats();
    assert_eq!((stats.pending, stats.last_error), (0, None));
    let rows = user_rows(&mut raw_conn(&server.settings), router);
    assert_eq!(rows.iter().filter(|row| !row.5).count(), 15);
    assert_eq!(
        rows.iter()
            .filter(|row| row.4)
            .map(|row| &row.0)
            .collect::<Vec<_>>(),
        [&secrets[0].name]
    );
    // …and so does a direct call.
    let counts = store
        .sync_users(RouterId(router), &secrets[..10], &[])
        .unwrap();
    assert_eq!((counts.unchanged, counts.marked_missing), (10, 5));
    writer.shutdown();
    assert_eq!(store.load_routers().unwrap().len(), 1);
    assert!(test_settings().is_some());
}
