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

-- Tell `net-engine migrate` that this file already did its work.
INSERT IGNORE INTO schema_migrations (version) VALUES ('001_go_tables'), ('002_engine_columns');
