//! The shipped nginx front (`systemd/nginx-net-engine.conf`) rewritten to run on loopback in
//! front of an engine under test: its upstream, listening ports and certificate paths, and a
//! throwaway self-signed certificate for its TLS listener.
//! Shared by the nginx tests and the benchmark's front scenario (`#[path]` there).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// A self-signed certificate for `localhost`, valid one day, written into `dir` by `openssl`:
/// `(certificate, key)` paths, or why it could not be made.
pub fn self_signed(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    Ok((cert, key))
}
