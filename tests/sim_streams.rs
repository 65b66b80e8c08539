//! The simulator over loopback, continued: traffic monitoring, streams and cancel, faults and
//! latency, and the `sim` subcommand. Login, framing, menus, changes and queries are in `sim.rs`.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use net_engine::routeros::{Decoder, Reply, ReplyKind, Sentence};
use net_engine::sim::{Fault, SimConfig};

use crate::support::sim::{column, kinds, rows, start, test_config, trap_message, RawClient};

// ---- traffic, streams, cancel ------------------------------------------------------------

#[test]
fn monitor_traffic_once_agrees_with_the_queue() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    router.with_state_mut(|s| s.set_user_traffic("ali", Some((1_203_000, 15_400_000))));
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&[
        "/interface/monitor-traffic",
        "=interface=<pppoe-ali>",
        "=once=",
    ]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
    let row = &replies[0];
    assert_eq!(row.get_text("name").as_deref(), Some("<pppoe-ali>"));
    assert_eq!(
        row.get_text("rx-bits-per-second").as_deref(),
        Some("1203000"),
        "rx is the upload"
    );
    assert_eq!(
        row.get_text("tx-bits-per-second").as_deref(),
        Some("15400000"),
        "tx is the download"
    );
    for name in [
        "rx-packets-per-second",
        "fp-rx-bits-per-second",
        "tx-drops-per-second",
        "tx-queue-drops-per-second",
    ] {
        assert!(row.get(name).is_some(), "{name}");
    }
    let queue = client.call(&[
        "/queue/simple/print",
        "?name=<pppoe-ali>",
        "=.proplist=rate",
    ]);
    assert_eq!(column(&queue, "rate"), vec!["1203000/15400000"]);

    let replies = client.call(&[
        "/interface/monitor-traffic",
        "=interface=<pppoe-nobody>",
        "=once=",
    ]);
    assert_eq!(
        trap_message(&replies),
        "input does not match any value of interface"
    );
    let replies = client.call(&[
        "/interface/monitor-traffic",
        "=interface=ether1,<pppoe-ali>",
        "=once=",
    ]);
    assert_eq!(column(&replies, "name"), vec!["ether1", "<pppoe-ali>"]);

    // A user without a rate-limited profile has no dynamic queue but traffic on the interface.
    let user = router
        .with_state(|s| s.users_with_traffic_source("monitor_traffic"))
        .remove(0);
    let replies = client.call(&[
        "/interface/monitor-traffic",
        &format!("=interface=<pppoe-{user}>"),
        "=once=",
    ]);
    assert_eq!(rows(&replies).len(), 1);
}

#[test]
fn monitor_traffic_streams_until_cancel_in_the_right_order() {
    let sim = start(test_config(10));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    client.send(&[
        "/interface/monitor-traffic",
        "=interface=<pppoe-ali>",
        ".tag=m",
    ]);
    let started = Instant::now();
    let first = client.recv();
    assert_eq!(
        (first.kind.clone(), first.tag.as_deref()),
        (ReplyKind::Re, Some(&b"m"[..]))
    );
    // Other commands run while the stream does.
    client.send(&["/system/identity/print", ".tag=p"]);
    let mut stream_rows = 1;
    let mut identity_done = false;
    while stream_rows < 2 || !identity_done {
        let reply = client.recv();
        match reply.tag.as_deref() {
            Some(b"m") => {
                assert_eq!(reply.kind, ReplyKind::Re);
                stream_rows += 1;
            }
            Some(b"p") => identity_done |= reply.kind == ReplyKind::Done,
            other => panic!("unexpected tag {other:?}"),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a row every second"
    );
    client.send(&["/cancel", "=tag=m", ".tag=c"]);
    // Rows already in flight may arrive first.
    let mut reply = client.recv();
    while reply.kind == ReplyKind::Re {
        reply = client.recv();
    }
    assert_eq!(
        (reply.kind.clone(), reply.tag.as_deref()),
        (ReplyKind::Trap, Some(&b"m"[..]))
    );
    assert_eq!(reply.get_text("message").as_deref(), Some("interrupted"));
    assert_eq!(reply.get_text("category").as_deref(), Some("2"));
    let reply = client.recv();
    assert_eq!(
        (reply.kind.clone(), reply.tag.as_deref()),
        (ReplyKind::Done, Some(&b"c"[..]))
    );
    let reply = client.recv();
    assert_eq!(
        (reply.kind.clone(), reply.tag.as_deref()),
        (ReplyKind::Done, Some(&b"m"[..]))
    );
    // Nothing more from the cancelled stream.
    client.set_read_timeout(Duration::from_millis(1300));
    assert!(
        client.try_recv_sentence().is_err(),
        "stream still running after cancel"
    );
}

#[test]
fn cancel_without_tag_stops_every_stream() {
    let sim = start(test_config(10));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    client.send(&["/interface/monitor-traffic", "=interface=ether1", ".tag=a"]);
    client.send(&["/interface/monitor-traffic", "=interface=ether2", ".tag=b"]);
    assert_eq!(client.recv().kind, ReplyKind::Re);
    assert_eq!(client.recv().kind, ReplyKind::Re);
    client.send(&["/cancel"]);
    let mut replies: Vec<Reply> = Vec::new();
    while replies.iter().filter(|r| r.kind == ReplyKind::Done).count() < 3 {
        let reply = client.recv();
        if reply.kind != ReplyKind::Re {
            replies.push(reply);
        }
    }
    let summary: Vec<(ReplyKind, Option<Vec<u8>>)> = replies
        .iter()
        .map(|r| (r.kind.clone(), r.tag.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (ReplyKind::Trap, Some(b"a".to_vec())),
            (ReplyKind::Trap, Some(b"b".to_vec())),
            (ReplyKind::Done, None),
            (ReplyKind::Done, Some(b"a".to_vec())),
            (ReplyKind::Done, Some(b"b".to_vec())),
        ]
    );
    // Monitoring with a duration ends by itself.
    let replies = client.call(&[
        "/interface/monitor-traffic",
        "=interface=ether1",
        "=duration=1s",
    ]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
}

#[test]
fn listen_reports_sessions_that_come_and_go() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let ali_id = router.with_state(|s| s.session_id("ali")).unwrap();
    client.send(&["/ppp/active/listen", ".tag=l"]);
    // Commands run in order: once this answers, the listen has taken its first snapshot.
    client.call(&["/system/identity/print"]);
    router.with_state_mut(|s| s.disconnect_user("ali"));
    let dead = client.recv();
    assert_eq!(dead.tag.as_deref(), Some(&b"l"[..]));
    assert_eq!(dead.get_text(".id"), Some(ali_id));
    assert_eq!(dead.get_text(".dead").as_deref(), Some("yes"));
    router.with_state_mut(|s| s.connect_user("ali"));
    let back = client.recv();
    assert_eq!(back.get_text("name").as_deref(), Some("ali"));
    client.send(&["/cancel", "=tag=l", ".tag=c"]);
    let order: Vec<(ReplyKind, Option<Vec<u8>>)> = (0..3)
        .map(|_| {
            let reply = client.recv();
            (reply.kind, reply.tag)
        })
        .collect();
    assert_eq!(
        order,
        vec![
            (ReplyKind::Trap, Some(b"l".to_vec())),
            (ReplyKind::Done, Some(b"c".to_vec())),
            (ReplyKind::Done, Some(b"l".to_vec())),
        ]
    );
}

// ---- faults and latency ------------------------------------------------------------------

fn login_sentence() -> Sentence {
    Sentence::from_strs(&["/login", "=name=admin", "=password=", ".tag=1"])
}

#[test]
fn silent_router_accepts_and_never_answers() {
    let sim = start(SimConfig {
        faults: vec![(None, Fault::Silent)],
        ..test_config(5)
    });
    let router = &sim.routers()[0];
    let mut client = RawClient::connect(router.addr());
    client.set_read_timeout(Duration::from_millis(400));
    client.send_sentence(&login_sentence());
    assert!(
        client.try_recv_sentence().is_err(),
        "silent router answered"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while router.connection_count() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(router.connection_count(), 1, "the connection is held open");
    // Cleared at run time: new connections work again.
    router.set_fault(None);
    RawClient::logged_in(router.addr());
}

#[test]
fn hang_after_counts_the_login() {
    let sim = start(SimConfig {
        faults: vec![(None, Fault::HangAfter(2))],
        ..test_config(5)
    });
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    let replies = client.call(&["/system/identity/print"]);
    assert_eq!(column(&replies, "name"), vec!["sim-1"]);
    client.set_read_timeout(Duration::from_millis(400));
    client.send(&["/system/identity/print", ".tag=x"]);
    assert!(
        client.try_recv_sentence().is_err(),
        "third command was answered"
    );
}

#[test]
fn drop_after_closes_on_the_next_command() {
    let sim = start(SimConfig {
        faults: vec![(Some(1), Fault::DropAfter(1))],
        routers: 2,
        ..test_config(5)
    });
    let mut healthy = RawClient::logged_in(sim.routers()[0].addr());
    let mut client = RawClient::logged_in(sim.routers()[1].addr());
    client.send(&["/system/identity/print", ".tag=x"]);
    assert!(client.closed());
    assert_eq!(
        column(&healthy.call(&["/system/identity/print"]), "name"),
        vec!["sim-1"]
    );
}

#[test]
fn garbage_cannot_be_decoded() {
    let sim = start(SimConfig {
        faults: vec![(None, Fault::Garbage)],
        ..test_config(5)
    });
    let router = &sim.routers()[0];
    let mut client = RawClient::connect(router.addr());
    client.send_sentence(&login_sentence());
    let error = client
        .try_recv_sentence()
        .expect_err("garbage decoded as a sentence");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    // Switched on mid-session, it spoils the next reply.
    router.set_fault(None);
    let mut client = RawClient::logged_in(router.addr());
    router.set_fault(Some(Fault::Garbage));
    client.send(&["/system/identity/print", ".tag=g"]);
    assert!(client.try_recv_sentence().is_err());
}

#[test]
fn refuse_login_traps_every_login() {
    let sim = start(SimConfig {
        faults: vec![(None, Fault::RefuseLogin)],
        ..test_config(5)
    });
    let router = &sim.routers()[0];
    let mut client = RawClient::connect(router.addr());
    let replies = client.call(&["/login", "=name=admin", "=password="]);
    assert_eq!(trap_message(&replies), "invalid user name or password (6)");
    router.set_fault(None);
    let replies = client.call(&["/login", "=name=admin", "=password="]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
}

#[test]
fn latency_delays_each_reply() {
    let sim = start(SimConfig {
        latency: Duration::from_millis(150),
        ..test_config(5)
    });
    let router = &sim.routers()[0];
    let started = Instant::now();
    let mut client = RawClient::logged_in(router.addr());
    client.call(&["/system/identity/print"]);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "two replies, 150 ms each"
    );
    router.set_latency(Duration::ZERO);
    let started = Instant::now();
    client.call(&["/system/identity/print"]);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn stop_cuts_connections_and_restart_listens_on_the_same_port() {
    let sim = start(SimConfig {
        routers: 2,
        ..test_config(5)
    });
    let router = sim.routers()[1].clone();
    let addr = router.addr();
    assert_ne!(addr.port(), sim.routers()[0].addr().port());
    let mut client = RawClient::logged_in(addr);
    router.stop();
    assert!(!router.is_running());
    assert!(client.closed());
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "stopped router still accepts"
    );
    router.restart().expect("restart on the same port");
    assert_eq!(router.addr(), addr);
    let mut client = RawClient::logged_in(addr);
    assert_eq!(
        column(&client.call(&["/system/identity/print"]), "name"),
        vec!["sim-2"]
    );
    // Counting: two logins and one print so far on this router, plus the first login.
    assert_eq!(router.with_state(|s| s.commands_received()), 3);
    let last = router.with_state(|s| s.recent_commands()).pop().unwrap();
    assert_eq!(last.first(), b"/system/identity/print");
}

#[test]
fn every_router_has_its_own_data_and_identity() {
    let sim = start(SimConfig {
        routers: 3,
        seed: 42,
        ..test_config(8)
    });
    let names: Vec<String> = sim
        .routers()
        .iter()
        .map(|r| r.with_state(|s| s.identity()))
        .collect();
    assert_eq!(names, vec!["sim-1", "sim-2", "sim-3"]);
    for router in sim.routers() {
        assert!(router.with_state(|s| s.has_secret("ali") && s.has_secret("alice")));
    }
    let a = sim.routers()[1].with_state(|s| s.secret_names());
    let b = sim.routers()[2].with_state(|s| s.secret_names());
    assert_ne!(a, b);
    // Deterministic from the seed.
    let again = start(SimConfig {
        routers: 3,
        seed: 42,
        ..test_config(8)
    });
    assert_eq!(again.routers()[2].with_state(|s| s.secret_names()), b);
}

// ---- the command-line entry point ----------------------------------------------------------

#[test]
fn sim_subcommand_prints_routers_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let binary = env!("CARGO_BIN_EXE_net-engine");
    let status = Command::new(binary)
        .args(["sim", "--routers", "zero"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));

    let mut child = Command::new(binary)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--routers",
            "2",
            "--users",
            "5",
            "--version",
            "7.17",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut addrs = Vec::new();
    for k in 1..=2 {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("router line");
        let addr = line.strip_prefix(&format!("router {k}: ")).expect(&line);
        addrs.push(addr.parse::<std::net::SocketAddr>().unwrap());
    }
    let mut client = RawClient::logged_in(addrs[1]);
    let replies = client.call(&["/ppp/secret/print", "?name=nobody"]);
    assert_eq!(
        kinds(&replies),
        vec![ReplyKind::Done],
        "7.17 sends no !empty"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("net-engine sim did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn raw_decoder_sees_no_trailing_bytes_after_done() {
    // One command's replies are whole sentences: nothing dangling after the last !done.
    let sim = start(test_config(15));
    let mut stream = TcpStream::connect(sim.routers()[0].addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    use std::io::Write;
    let mut bytes = login_sentence().to_bytes();
    bytes.extend(Sentence::from_strs(&["/ppp/secret/print", ".tag=2"]).to_bytes());
    stream.write_all(&bytes).unwrap();
    let mut decoder = Decoder::new();
    let mut buffer = [0u8; 65536];
    let mut sentences = Vec::new();
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        decoder.feed(&buffer[..n]);
        while let Some(sentence) = decoder.next_sentence().unwrap() {
            sentences.push(sentence);
        }
    }
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(sentences.len(), 1 + 15 + 1);
    assert_eq!(sentences.last().unwrap().first(), b"!done");
}
