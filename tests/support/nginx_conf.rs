//! The shipped nginx front (`systemd/nginx-net-engine.conf`) rewritten to run on loopback in
//! front of an engine under test: its upstream, listening ports and certificate paths.
//! Shared by the nginx tests and the benchmark's front scenario (`#[path]` there).

use std::net::SocketAddr;
use std::path::Path;

/// The shipped server block.
pub const SHIPPED: &str = include_str!("../../systemd/nginx-net-engine.conf");

/// `SHIPPED` proxying to `engine`, TLS on `tls_port` and plain HTTP on `plain_port` of
/// 127.0.0.1, with the certificate and key at the paths given.
pub fn on_loopback(
    engine: SocketAddr,
    tls_port: u16,
    plain_port: u16,
    cert: &Path,
    key: &Path,
) -> String {
    SHIPPED
        .replace("server 127.0.0.1:8080;", &format!("server {engine};"))
        .replace(
            "listen 443 ssl;",
            &format!("listen 127.0.0.1:{tls_port} ssl;\n    listen 127.0.0.1:{plain_port};"),
        )
        .replace("listen [::]:443 ssl;", "")
        .replace(
            "/etc/ssl/net-engine/fullchain.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/ssl/net-engine/privkey.pem",
            &key.display().to_string(),
        )
}
