//! systemd notification over real Unix datagram sockets: a path socket and an abstract one.

use net_engine::notify::{notify, READY, STOPPING};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A name no other test run uses (for an abstract socket, which has no directory).
fn unique_name(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("net-engine-test-{what}-{}-{nanos}", std::process::id())
}

fn receive(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 512];
    let length = socket.recv(&mut buffer).expect("notification arrives");
    String::from_utf8(buffer[..length].to_vec()).unwrap()
}

#[test]
fn ready_and_stopping_reach_a_path_socket() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let path_text = path.to_str().unwrap();

    notify(path_text, READY).unwrap();
    assert_eq!(receive(&socket), "READY=1");
    notify(path_text, STOPPING).unwrap();
    assert_eq!(receive(&socket), "STOPPING=1");
    notify(path_text, "STATUS=serving 3 routers\nREADY=1").unwrap();
    assert_eq!(receive(&socket), "STATUS=serving 3 routers\nREADY=1");

    drop(socket);
    directory.close().unwrap();
    // The socket is gone: an error, not a hang or a panic.
    assert!(notify(path_text, READY).is_err());
}

#[test]
fn ready_reaches_an_abstract_socket_named_with_at() {
    let name = unique_name("abstract");
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&address).unwrap();
    notify(&format!("@{name}"), READY).unwrap();
    assert_eq!(receive(&socket), "READY=1");
    drop(socket);
    assert!(notify(&format!("@{name}"), READY).is_err());
}

#[test]
fn the_binary_sends_ready_after_warm_up_and_stopping_on_sigterm() {
    use crate::support::process::{command, spawn_and_read};
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut demo = command(&SMALL_DEMO);
    demo.env("NOTIFY_SOCKET", &path);
    let (mut child, _lines) = spawn_and_read(demo, |l| l.iter().any(|x| x.contains("API key:")));
    assert_eq!(receive(&socket), "READY=1");
    let status = child.terminate(Duration::from_secs(5));
    assert_eq!(receive(&socket), "STOPPING=1");
    assert!(status.success(), "{status:?}");
    directory.close().unwrap();
}

/// A one-router demo on a free loopback port.
const SMALL_DEMO: [&str; 7] = [
    "demo",
    "--listen",
    "127.0.0.1:0",
    "--routers",
    "1",
    "--users",
    "10",
];

/// Waits up to `limit` for the next datagram; `None` when none came.
fn receive_within(socket: &UnixDatagram, limit: Duration) -> Option<String> {
    socket.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 512];
    let length = socket.recv(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..length]).into_owned())
}

/// How many `WATCHDOG=1` datagrams arrive within `window`.
fn watchdog_pings(socket: &UnixDatagram, window: Duration) -> usize {
    let started = std::time::Instant::now();
    let mut pings = 0;
    while let Some(left) = window.checked_sub(started.elapsed()) {
        match receive_within(socket, left.max(Duration::from_millis(1))) {
            Some(state) if state == "WATCHDOG=1" => pings += 1,
            Some(other) => panic!("unexpected notification {other:?}"),
            None => break,
        }
    }
    pings
}

/// `net-engine demo` (through `prefix`, e.g. prlimit) with a notify socket and a 200 ms
/// watchdog; returns the child, the socket and the API address once READY=1 came.
fn demo_with_watchdog(
    prefix: &[&str],
    directory: &std::path::Path,
    watchdog_pid: Option<&str>,
) -> (
    crate::support::process::ChildGuard,
    UnixDatagram,
    std::net::SocketAddr,
) {
    use crate::support::process::{command_through, dashboard_addr, spawn_and_read};
    let path = directory.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut demo = command_through(prefix, &SMALL_DEMO);
    demo.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000");
    match watchdog_pid {
        Some(pid) => demo.env("WATCHDOG_PID", pid),
        None => demo.env_remove("WATCHDOG_PID"),
    };
    let (child, lines) = spawn_and_read(demo, |l| l.iter().any(|x| x.contains("API key:")));
    assert_eq!(receive(&socket), "READY=1");
    (child, socket, dashboard_addr(&lines))
}

#[test]
fn the_binary_pings_the_watchdog_every_half_period_and_stops_before_stopping() {
    let directory = tempfile::tempdir().unwrap();
    let (mut child, socket, _) = demo_with_watchdog(&[], directory.path(), None);
    // WATCHDOG_USEC 200 ms: a ping every 100 ms.
    let pings = watchdog_pings(&socket, Duration::from_secs(1));
    assert!((6..=12).contains(&pings), "{pings} pings in 1 s");
    let status = child.terminate(Duration::from_secs(5));
    let mut last = String::new();
    while let Some(state) = receive_within(&socket, Duration::from_millis(500)) {
        last = state;
    }
    assert_eq!(last, "STOPPING=1", "nothing after STOPPING=1");
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_watchdog_is_not_pinged_for_another_process() {
    let directory = tempfile::tempdir().unwrap();
    let (mut child, socket, _) = demo_with_watchdog(&[], directory.path(), Some("1"));
    assert_eq!(watchdog_pings(&socket, Duration::from_millis(600)), 0);
    child.terminate(Duration::from_secs(5));
}

#[test]
fn the_watchdog_is_withheld_while_the_api_is_deaf_and_resumes_after() {
    use std::net::TcpStream;
    let _guard = crate::support::engine::Watchdog::new("watchdog_deaf", Duration::from_secs(90));
    rlimit::increase_nofile_limit(8192).expect("raise the test's own limit");
    let directory = tempfile::tempdir().unwrap();
    let (_child, socket, addr) =
        demo_with_watchdog(&["prlimit", "--nofile=1024:1024"], directory.path(), None);
    assert!(watchdog_pings(&socket, Duration::from_millis(500)) >= 3);
    // Fill the engine's descriptor table until tiny_http's accept loop dies (three connects
    // in a row time out: the backlog is full and nothing accepts).
    let mut sockets = Vec::new();
    let mut failures = 0;
    for _ in 0..3000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => {
                sockets.push(stream);
                failures = 0;
            }
            Err(_) => {
                failures += 1;
                if failures == 3 {
                    break;
                }
            }
        }
    }
    // Pings already queued, then none while the edge cannot accept.
    watchdog_pings(&socket, Duration::from_millis(300));
    let deaf = watchdog_pings(&socket, Duration::from_secs(1));
    assert!(
        deaf <= 1,
        "{deaf} pings in 1 s with the API deaf ({} sockets open)",
        sockets.len()
    );
    drop(sockets);
    // Healing retires old servers off the supervisor thread; dropped on it, one stuck in
    // tiny_http's wake-up connect for ~2 min and the edge stayed deaf (no ping) that long.
    let back = watchdog_pings(&socket, Duration::from_secs(3));
    assert!(
        back >= 5,
        "only {back} pings in the 3 s after the sockets closed"
    );
}
