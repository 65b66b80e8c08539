//! systemd readiness notification (`sd_notify`) with std only: one datagram to `NOTIFY_SOCKET`.
//!
//! In scope: sending a state string such as `READY=1` or `STOPPING=1` to a path socket or to
//! an abstract socket (a name starting with `@`). Out of scope: reading the environment (only
//! `main.rs` does that), the watchdog protocol and passing file descriptors.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The state sent once start-up (warm-up) is done and the API serves.
pub const READY: &str = "READY=1";
/// The state sent when shutdown begins.
pub const STOPPING: &str = "STOPPING=1";

/// A notification is tiny and systemd reads it at once; never let a stuck receiver hold up
/// start-up or shutdown for longer than this.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends `state` (e.g. `"READY=1"`, or several `KEY=value` lines joined by `\n`) to the
/// systemd notification socket `socket_path`, the value of `NOTIFY_SOCKET`.
///
/// A path starting with `@` names a Linux abstract socket (systemd's usual choice); any other
/// value is a filesystem path. An empty path is `InvalidInput`.
pub fn notify(socket_path: &str, state: &str) -> io::Result<()> {
    if socket_path.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty notify socket path",
        ));
    }
    let socket = UnixDatagram::unbound()?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    let sent = match socket_path.strip_prefix('@') {
        Some(abstract_name) => {
            let address = SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &address)?
        }
        None => socket.send_to(state.as_bytes(), socket_path)?,
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notify datagram was truncated",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::notify;

    #[test]
    fn empty_path_is_invalid_input() {
        let error = notify("", "READY=1").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn missing_socket_is_an_error_not_a_panic() {
        let path = std::env::temp_dir().join(format!("net-engine-absent-{}", std::process::id()));
        assert!(notify(path.to_str().unwrap(), "READY=1").is_err());
    }
}
