-- The two tables as the earlier Go version created them (reconstructed: we have no copy of its
-- file). Kept for the upgrade test and for anyone who wants to check what `net-engine migrate`
-- starts from. Do not use this for a new install: use `net-engine migrate` or sql/schema.sql.

CREATE TABLE IF NOT EXISTS routers (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    host VARCHAR(255) NOT NULL,
    port INT DEFAULT 8728,
    username VARCHAR(100) NOT NULL,
    password VARCHAR(255) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS pppoe_users (
    id INT AUTO_INCREMENT PRIMARY KEY,
    router_id INT NOT NULL,
    username VARCHAR(100) NOT NULL,
    profile VARCHAR(100),
    is_enabled TINYINT(1) DEFAULT 1,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    UNIQUE KEY unique_router_user (router_id, username),
    FOREIGN KEY (router_id) REFERENCES routers(id) ON DELETE CASCADE
);
