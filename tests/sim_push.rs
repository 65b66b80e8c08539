//! The simulator over loopback, pushes and the link: `listen` rows sent the moment the data
//! changes, kicked customers redialling with a new address, `/cancel` of a listen, the
//! round trip (`rtt`) overlapping pipelined commands, words without a value, command counts.

use std::time::{Duration, Instant};

use net_engine::routeros::{Reply, ReplyKind};
use net_engine::sim::SimConfig;

use crate::support::sim::{column, kinds, rows, start, test_config, RawClient};

/// A push counts as immediate when it arrives within this (the old diff ran once a second).
const PUSH_BOUND: Duration = Duration::from_millis(500);

/// Starts `/ppp/active/listen` (or another menu's) tagged `l`, and waits until it runs.
fn listening(client: &mut RawClient, path: &str) {
    client.send(&[path, ".tag=l"]);
    // Commands run in order: once this answers, the listen has taken its snapshot.
    let replies = client.call(&["/system/identity/print"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
}

/// The next reply, and how long it took to come.
fn timed_recv(client: &mut RawClient) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = client.recv();
    (reply, started.elapsed())
}

/// Reads the listen's rows until one names `user` (a session that came up).
fn row_for(client: &mut RawClient, user: &str) -> Reply {
    loop {
        let reply = client.recv();
        assert_eq!(reply.tag.as_deref(), Some(&b"l"[..]), "{reply:?}");
        if reply.get_text("name").as_deref() == Some(user) {
            return reply;
        }
    }
}

#[test]
fn listen_pushes_a_change_at_once_whoever_makes_it() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut listener = RawClient::logged_in(router.addr());
    let mut other = RawClient::logged_in(router.addr());
    listening(&mut listener, "/ppp/active/listen");

    // The test API.
    let ali = router
        .with_state(|s| s.session_id("ali"))
        .expect("ali online");
    router.with_state_mut(|s| s.disconnect_user("ali"));
    let (dead, took) = timed_recv(&mut listener);
    assert!(took < PUSH_BOUND, "pushed after {took:?}");
    assert_eq!(dead.tag.as_deref(), Some(&b"l"[..]));
    assert_eq!(dead.get_text(".id"), Some(ali));
    assert_eq!(dead.get_text(".dead").as_deref(), Some("yes"));
    assert_eq!(
        dead.attributes.len(),
        2,
        "a removal carries only .id and .dead"
    );

    router.with_state_mut(|s| s.connect_user("ali"));
    let (back, took) = timed_recv(&mut listener);
    assert!(took < PUSH_BOUND, "pushed after {took:?}");
    assert_eq!(back.get_text("name").as_deref(), Some("ali"));
    for property in [".id", "service", "caller-id", "address", "uptime"] {
        assert!(back.get(property).is_some(), "a full row has {property}");
    }

    // A command on another connection.
    let alice = router
        .with_state(|s| s.session_id("alice"))
        .expect("alice online");
    let started = Instant::now();
    let replies = other.call(&["/ppp/active/remove", &format!("=.id={alice}")]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let dead = listener.recv();
    assert!(started.elapsed() < PUSH_BOUND, "{:?}", started.elapsed());
    assert_eq!(dead.get_text(".id"), Some(alice));
    assert_eq!(dead.get_text(".dead").as_deref(), Some("yes"));
}

#[test]
fn address_list_and_secret_listens_push_too() {
    let sim = start(SimConfig {
        version: "7.23".to_owned(),
        ..test_config(10)
    });
    let router = &sim.routers()[0];
    let mut lists = RawClient::logged_in(router.addr());
    let mut secrets = RawClient::logged_in(router.addr());
    let mut other = RawClient::logged_in(router.addr());
    listening(&mut lists, "/ip/firewall/address-list/listen");
    listening(&mut secrets, "/ppp/secret/listen");

    let started = Instant::now();
    let replies = other.call(&[
        "/ip/firewall/address-list/add",
        "=list=ISOLATED",
        "=address=10.9.9.9",
        "=comment=net-engine:user=ali",
    ]);
    let id = replies[0].get_text("ret").expect("add returns the id");
    let added = lists.recv();
    assert!(started.elapsed() < PUSH_BOUND, "{:?}", started.elapsed());
    assert_eq!(added.get_text(".id"), Some(id.clone()));
    assert_eq!(added.get_text("address").as_deref(), Some("10.9.9.9"));
    assert_eq!(added.get_text("list").as_deref(), Some("ISOLATED"));

    other.call(&[
        "/ip/firewall/address-list/set",
        &format!("=.id={id}"),
        "=address=10.9.9.10",
    ]);
    let changed = lists.recv();
    assert_eq!(changed.get_text("address").as_deref(), Some("10.9.9.10"));
    other.call(&["/ip/firewall/address-list/remove", &format!("=.id={id}")]);
    let dead = lists.recv();
    assert_eq!(dead.get_text(".id"), Some(id));
    assert_eq!(
        dead.get_text(".dead").as_deref(),
        Some("true"),
        "7.23 and later say true"
    );

    other.call(&["/ppp/secret/set", "=numbers=ali", "=comment=moved"]);
    let secret = secrets.recv();
    assert_eq!(secret.get_text("name").as_deref(), Some("ali"));
    assert_eq!(secret.get_text("comment").as_deref(), Some("moved"));
}

#[test]
fn a_kicked_customer_redials_with_a_new_address_and_its_queue() {
    let sim = start(SimConfig {
        redial: Duration::from_millis(300),
        ..test_config(10)
    });
    let router = &sim.routers()[0];
    let mut listener = RawClient::logged_in(router.addr());
    let mut other = RawClient::logged_in(router.addr());
    listening(&mut listener, "/ppp/active/listen");
    let (user, old) = router.with_state(|s| {
        let user = s
            .users_with_traffic_source("pppoe_queue")
            .into_iter()
            .find(|u| s.secret_property(u, "remote-address").is_none())
            .expect("a rate-limited user on the pool");
        let address = s.session_address(&user).expect("online");
        (user, address)
    });
    let old_id = router.with_state(|s| s.session_id(&user)).expect("online");

    // Kicked through the API; nothing touches the router afterwards but the clock.
    let kicked = Instant::now();
    other.call(&["/ppp/active/remove", &format!("=.id={old_id}")]);
    let dead = listener.recv();
    assert_eq!(dead.get_text(".id"), Some(old_id.clone()));
    let back = row_for(&mut listener, &user);
    let took = kicked.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(300) + PUSH_BOUND,
        "redialled after {took:?}"
    );
    assert_ne!(back.get_text(".id"), Some(old_id), "a new session");
    let new = back.get_text("address").expect("address");
    assert_ne!(new, old.to_string(), "a pool address, not the old one");

    let queue = other.call(&[
        "/queue/simple/print",
        &format!("?name=<pppoe-{user}>"),
        "=.proplist=target,dynamic",
    ]);
    assert_eq!(
        column(&queue, "dynamic"),
        vec!["true"],
        "the dynamic queue is back"
    );
    let interface = other.call(&["/interface/print", &format!("?name=<pppoe-{user}>")]);
    assert_eq!(rows(&interface).len(), 1, "and so is the interface");

    // The test API kicks the same way; a fixed remote-address comes back unchanged.
    other.call(&[
        "/ppp/secret/set",
        &format!("=numbers={user}"),
        "=remote-address=10.200.0.7",
    ]);
    assert!(router.with_state_mut(|s| s.kick_user(&user)));
    assert!(router.with_state(|s| s.is_redialling(&user)));
    let back = row_for(&mut listener, &user);
    assert_eq!(back.get_text("address").as_deref(), Some("10.200.0.7"));
    assert!(!router.with_state(|s| s.is_redialling(&user)));
    assert_eq!(
        router.with_state(|s| s.session_address(&user)),
        Some("10.200.0.7".parse().expect("address"))
    );
}

#[test]
fn cancel_ends_a_listen_with_interrupted_and_both_dones() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    client.send(&["/ppp/active/listen", ".tag=l"]);
    client.send(&["/interface/monitor-traffic", "=interface=ether1", ".tag=m"]);
    assert_eq!(client.recv().tag.as_deref(), Some(&b"m"[..]));
    client.send(&["/cancel", "=tag=l", ".tag=c"]);
    let mut order = Vec::new();
    while order.len() < 3 {
        let reply = client.recv();
        if reply.tag.as_deref() != Some(b"m") {
            order.push((reply.kind, reply.tag));
        }
    }
    assert_eq!(
        order,
        vec![
            (ReplyKind::Trap, Some(b"l".to_vec())),
            (ReplyKind::Done, Some(b"c".to_vec())),
            (ReplyKind::Done, Some(b"l".to_vec())),
        ]
    );
    assert_eq!(router.listen_count(), 0);
    // Nothing more for the cancelled listen, while the monitor goes on.
    router.with_state_mut(|s| s.disconnect_user("ali"));
    for _ in 0..2 {
        let reply = client.recv();
        assert_eq!(reply.tag.as_deref(), Some(&b"m"[..]), "{reply:?}");
    }
    // A listen on a closed connection is forgotten.
    let mut gone = RawClient::logged_in(router.addr());
    listening(&mut gone, "/ppp/active/listen");
    assert_eq!(router.listen_count(), 1);
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(3);
    while router.listen_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(router.listen_count(), 0);
}

#[test]
fn rtt_overlaps_pipelined_commands() {
    let rtt = Duration::from_millis(300);
    let sim = start(SimConfig {
        rtt,
        ..test_config(10)
    });
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let started = Instant::now();
    for k in 0..10 {
        client.send(&["/system/identity/print", &format!(".tag=p{k}")]);
    }
    let mut done = 0;
    while done < 10 {
        if client.recv().kind == ReplyKind::Done {
            done += 1;
        }
    }
    let took = started.elapsed();
    assert!(took >= rtt - Duration::from_millis(20), "{took:?}");
    // Ten round trips one after another would take 3 s.
    assert!(took < rtt * 3, "pipelined commands took {took:?}");

    // One at a time, each waits its own round trip.
    let started = Instant::now();
    client.call(&["/system/identity/print"]);
    client.call(&["/system/identity/print"]);
    assert!(started.elapsed() >= rtt * 2 - Duration::from_millis(20));

    // Latency stays processing time, one command after another.
    router.set_rtt(Duration::ZERO);
    router.set_latency(Duration::from_millis(100));
    let started = Instant::now();
    for k in 0..3 {
        client.send(&["/system/identity/print", &format!(".tag=q{k}")]);
    }
    let mut done = 0;
    while done < 3 {
        if client.recv().kind == ReplyKind::Done {
            done += 1;
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(290));
}

#[test]
fn words_without_a_value_are_empty_attributes() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::connect(router.addr());
    // The `routeros-api` Python library's login with an empty password.
    let replies = client.call(&["/login", "=name=admin", "=password"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done], "{replies:?}");
    let replies = client.call(&["/interface/monitor-traffic", "=interface=ether1", "=once"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
    let replies = client.call(&["/ppp/secret/print", "=count-only"]);
    assert_eq!(replies[0].get_text("ret").as_deref(), Some("10"));
    // A bare word that is not an attribute is still refused.
    let replies = client.call(&["/ppp/secret/print", "stray"]);
    assert_eq!(replies[0].kind, ReplyKind::Trap);
}

#[test]
fn streaming_monitor_sends_a_reading_a_second_that_moves() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    client.send(&[
        "/interface/monitor-traffic",
        "=interface=<pppoe-ali>",
        ".tag=m",
    ]);
    let started = Instant::now();
    let mut readings = Vec::new();
    while readings.len() < 4 {
        let reply = client.recv();
        assert_eq!(reply.kind, ReplyKind::Re);
        readings.push(reply.get_text("tx-bits-per-second").expect("tx"));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_secs(5),
        "{took:?}"
    );
    readings.dedup();
    assert!(
        readings.len() > 1,
        "values move from one second to the next"
    );
    assert_eq!(
        router.with_state(|s| s.command_count("/interface/monitor-traffic")),
        1
    );
}

#[test]
fn counts_commands_by_path() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    client.call(&["/queue/simple/print"]);
    client.call(&["/queue/simple/print", "=.proplist=name"]);
    client.call(&["/interface/monitor-traffic", "=interface=ether1", "=once="]);
    router.with_state(|s| {
        assert_eq!(s.command_count("/queue/simple/print"), 2);
        assert_eq!(s.command_count("/interface/monitor-traffic"), 1);
        assert_eq!(s.command_count("/login"), 1);
        assert_eq!(s.command_count("/ppp/active/print"), 0);
        let counts = s.command_counts();
        assert!(counts.contains(&("/queue/simple/print".to_owned(), 2)));
    });
}
