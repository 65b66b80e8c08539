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
    let mut demo = command(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--routers",
        "1",
        "--users",
        "10",
    ]);
    demo.env("NOTIFY_SOCKET", &path);
    let (mut child, _lines) = spawn_and_read(demo, |l| l.iter().any(|x| x.contains("API key:")));
    assert_eq!(receive(&socket), "READY=1");
    let status = child.terminate(Duration::from_secs(5));
    assert_eq!(receive(&socket), "STOPPING=1");
    assert!(status.success(), "{status:?}");
    directory.close().unwrap();
}
