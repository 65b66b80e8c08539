-- 002: what net-engine adds to the Go-era tables. Every statement is guarded (see
-- src/store/script.rs): it runs only when the database does not have it yet, because MySQL 8
-- has no ADD COLUMN IF NOT EXISTS.

-- Go-era tables may be latin1 (MariaDB's default); RouterOS names and profiles are not.
-- unless-table-charset: routers utf8mb4
ALTER TABLE routers CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
-- unless-table-charset: pppoe_users utf8mb4
ALTER TABLE pppoe_users CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- RouterOS secret names are case-sensitive: `alice` and `Alice` are two customers.
-- unless-collation: pppoe_users.username utf8mb4_bin
ALTER TABLE pppoe_users MODIFY username VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

-- Connect with API-SSL (port 8729) instead of plain API.
-- unless-column: routers.use_tls
ALTER TABLE routers ADD COLUMN use_tls TINYINT(1) NOT NULL DEFAULT 0 AFTER password;
-- 0 = keep the row but do not serve the router (hot reload stops it).
-- unless-column: routers.enabled
ALTER TABLE routers ADD COLUMN enabled TINYINT(1) NOT NULL DEFAULT 1 AFTER use_tls;

-- The secret's remote-address (the customer's fixed IP), NULL when the router assigns one.
-- unless-column: pppoe_users.remote_address
ALTER TABLE pppoe_users ADD COLUMN remote_address VARCHAR(64) NULL DEFAULT NULL AFTER profile;
-- Last sync that found a live session for this user.
-- unless-column: pppoe_users.last_seen_at
ALTER TABLE pppoe_users ADD COLUMN last_seen_at TIMESTAMP NULL DEFAULT NULL AFTER is_enabled;
-- Set when the secret disappeared from the router (is_enabled is set to 0 at the same time, so
-- a reader that only knows the Go-era columns does not treat it as an active account); cleared
-- when the secret comes back. Named like Laravel's SoftDeletes column on purpose.
-- unless-column: pppoe_users.deleted_at
ALTER TABLE pppoe_users ADD COLUMN deleted_at TIMESTAMP NULL DEFAULT NULL AFTER last_seen_at;

-- `seed` looks routers up by host and port.
-- unless-index: routers.idx_routers_host_port
ALTER TABLE routers ADD INDEX idx_routers_host_port (host, port);
