-- 003: the audit trail (every write that can reach a router, and what became of it) and the
-- idempotency keys (the answer a write gave, kept 24 h so a retry gets it again).

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
