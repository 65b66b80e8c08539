-- Three routers that point at the simulator's defaults, so you can try `serve` without hardware:
--
--   net-engine sim --listen 127.0.0.1:18728 --routers 3     # routers on ports 18728..18730
--   mysql netengine < sql/seed-demo.sql                      # after `net-engine migrate`
--   DB_DSN=... APP_KEY=... net-engine serve
--
-- Safe to run twice: a router already registered at the same host and port is not added again.

INSERT INTO routers (name, host, port, username, password, use_tls, enabled)
SELECT candidate.name, candidate.host, candidate.port, 'admin', '', 0, 1
FROM (
    SELECT 'sim-1' AS name, '127.0.0.1' AS host, 18728 AS port
    UNION ALL SELECT 'sim-2', '127.0.0.1', 18729
    UNION ALL SELECT 'sim-3', '127.0.0.1', 18730
) AS candidate
WHERE NOT EXISTS (
    SELECT 1 FROM routers AS existing
    WHERE existing.host = candidate.host AND existing.port = candidate.port
);
