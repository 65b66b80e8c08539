//! systemd readiness notification (`sd_notify`) with std only: one datagram to `NOTIFY_SOCKET`.
//!
//! In scope: sending a state string such as `READY=1`, `STOPPING=1` or `WATCHDOG=1` to a path
//! socket or to an abstract socket (a name starting with `@`), and reading the watchdog
//! interval from the values of `WATCHDOG_USEC` / `WATCHDOG_PID`. Out of scope: reading the
//! environment (only the binary does that) and passing file descriptors.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The state sent once start-up (warm-up) is done and the API serves.
pub const READY: &str = "READY=1";
/// The state sent when shutdown begins.
pub const STOPPING: &str = "STOPPING=1";

/// The keep-alive ping of systemd's watchdog (`WatchdogSec=` in the unit).
pub const WATCHDOG: &str = "WATCHDOG=1";

/// How often to send `WATCHDOG=1`, from the values of `WATCHDOG_USEC` and `WATCHDOG_PID`
/// that systemd sets: half the watchdog timeout, as sd_watchdog_enabled(3) advises. `None`
/// when there is no watchdog, the value is not a positive number, or `WATCHDOG_PID` names
/// another process.
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&n| n > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

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
    use super::{notify, watchdog_interval};
    use std::time::Duration;

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_this_process_only() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("30000000"), Some("x"), 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(
            watchdog_interval(Some("1"), None, 7),
            Some(Duration::from_millis(1))
        );
    }

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
