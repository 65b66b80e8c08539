-- net-engine's complete current schema, for people who prefer `mysql netengine < sql/schema.sql`
-- to `net-engine migrate`. Both give the same tables (a test checks that), and both are safe to
-- run again. `routers` and `pppoe_users` keep the earlier Go version's columns, so an app that
-- reads them keeps working.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version VARCHAR(100) NOT NULL PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The router registry. `serve` runs every row with enabled = 1; passwords are read, never
-- logged, never returned by the API.
CREATE TABLE IF NOT EXISTS routers (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    host VARCHAR(255) NOT NULL,
    port INT DEFAULT 8728,
    username VARCHAR(100) NOT NULL,
    password VARCHAR(255) NOT NULL,
    use_tls TINYINT(1) NOT NULL DEFAULT 0,
    enabled TINYINT(1) NOT NULL DEFAULT 1,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    INDEX idx_routers_host_port (host, port)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per PPP secret per router, written by the user sync. A secret that disappeared from
-- its router keeps its row with deleted_at set and is_enabled = 0.
CREATE TABLE IF NOT EXISTS pppoe_users (
    id INT AUTO_INCREMENT PRIMARY KEY,
    router_id INT NOT NULL,
    username VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    profile VARCHAR(100),
    remote_address VARCHAR(64) NULL DEFAULT NULL,
    is_enabled TINYINT(1) DEFAULT 1,
    last_seen_at TIMESTAMP NULL DEFAULT NULL,
    deleted_at TIMESTAMP NULL DEFAULT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    UNIQUE KEY unique_router_user (router_id, username),
    FOREIGN KEY (router_id) REFERENCES routers(id) ON DELETE CASCADE
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per change; a late router answer completes the row in place. `change_json` is the
-- change in API terms and never holds a password (only "(changed)").
CREATE TABLE IF NOT EXISTS audit_log (
    id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    at_ms BIGINT UNSIGNED NOT NULL,
    request_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
    client VARCHAR(64) NOT NULL DEFAULT '',
    route VARCHAR(100) NOT NULL,
    router_id INT NULL,
    username VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    address VARCHAR(64) NULL,
    action VARCHAR(32) NOT NULL,
    change_json TEXT NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    status SMALLINT UNSIGNED NOT NULL,
    error TEXT NULL,
    INDEX idx_audit_at (at_ms),
    INDEX idx_audit_router_at (router_id, at_ms),
    INDEX idx_audit_user_at (username, at_ms)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The answer of a write that carried an Idempotency-Key.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    fingerprint VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_ms BIGINT UNSIGNED NOT NULL,
    status SMALLINT UNSIGNED NOT NULL,
    body MEDIUMTEXT NOT NULL,
    retry_after INT UNSIGNED NULL,
    INDEX idx_idempotency_created (created_ms)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Tell `net-engine migrate` that this file already did its work.
INSERT IGNORE INTO schema_migrations (version) VALUES ('001_go_tables'), ('002_engine_columns'), ('003_audit');
