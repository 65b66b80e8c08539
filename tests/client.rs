//! The blocking client against the simulator over loopback: logins, every typed command,
//! `!empty`, traps, stale replies, faults and Latin-1 text.

use crate::support::engine::{simulator, simulator_with, Watchdog};
use net_engine::model::{NewSecret, SecretChanges};
use net_engine::router::{Client, RouterError};
use net_engine::routeros::{text, CommandBuilder};
use net_engine::sim::{Fault, SimConfig, Simulator};
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(3)
}

fn connect(sim: &Simulator) -> Client {
    let addr = sim.routers()[0].addr();
    let mut client = Client::connect(&addr.ip().to_string(), addr.port(), Duration::from_secs(2))
        .expect("connects");
    client.login("admin", "", soon()).expect("logs in");
    client
}

#[test]
fn plain_login_and_every_typed_read() {
    let _watchdog = Watchdog::new("plain_login_and_every_typed_read", Duration::from_secs(30));
    let sim = simulator(1, 40);
    let mut client = connect(&sim);
    assert_eq!(client.identity(soon()).unwrap().name, "sim-1");
    let resource = client.resource(soon()).unwrap();
    assert!(resource.version.starts_with("7.18"), "{resource:?}");
    assert!(!resource.board_name.is_empty() && resource.total_memory > resource.free_memory);
    let secrets = client.secrets(soon()).unwrap();
    assert_eq!(secrets.len(), 40);
    let active = client.active_sessions(soon()).unwrap();
    let expected_active = sim.routers()[0].with_state(|s| s.active_names());
    assert_eq!(active.len(), expected_active.len());
    assert!(active
        .iter()
        .all(|s| s.id.starts_with('*') && !s.address.is_empty()));
    let profiles = client.profiles(soon()).unwrap();
    assert!(
        profiles.iter().any(|p| p.rate_limit.is_some()),
        "{profiles:?}"
    );
    let online = &active[0].name;
    let only_alice = client.active_sessions_of("alice", soon()).unwrap();
    assert!(only_alice.iter().all(|s| s.name == "alice"));
    assert_eq!(client.active_sessions_of(online, soon()).unwrap().len(), 1);
    assert_eq!(
        client
            .secret_named("alice", soon())
            .unwrap()
            .map(|s| s.name.to_string()),
        Some("alice".to_owned())
    );
    assert_eq!(client.secret_named("nobody-here", soon()).unwrap(), None);
    let pppoe_user =
        sim.routers()[0].with_state(|s| s.users_with_traffic_source("pppoe_queue"))[0].clone();
    let queues = client
        .queues_named(&format!("<pppoe-{pppoe_user}>"), soon())
        .unwrap();
    assert_eq!(queues.len(), 1);
    assert!(queues[0].dynamic);
    let address = sim.routers()[0]
        .with_state(|s| s.session_address(&pppoe_user))
        .unwrap();
    let monitor = client
        .monitor_traffic_once(&format!("<pppoe-{pppoe_user}>"), soon())
        .unwrap();
    assert_eq!(monitor.name, format!("<pppoe-{pppoe_user}>"));
    let target_user = sim.routers()[0].with_state(|s| s.users_with_traffic_source("target_queue"));
    if let Some(user) = target_user.first() {
        let addr = sim.routers()[0]
            .with_state(|s| s.session_address(user))
            .unwrap();
        assert_eq!(
            client
                .queues_targeting(&format!("{addr}/32"), soon())
                .unwrap()
                .len(),
            1
        );
    }
    assert!(client
        .queues_targeting(&format!("{address}/31"), soon())
        .unwrap()
        .is_empty());
}

#[test]
fn typed_writes_change_the_router() {
    let _watchdog = Watchdog::new("typed_writes_change_the_router", Duration::from_secs(30));
    let sim = simulator(1, 10);
    let router = &sim.routers()[0];
    let mut client = connect(&sim);
    let new = NewSecret {
        name: "newcomer".into(),
        password: "pw".into(),
        profile: Some("default".into()),
        service: Some("pppoe".into()),
        remote_address: Some("10.99.0.7".into()),
        ..NewSecret::default()
    };
    let id = client.add_secret(&new, soon()).unwrap();
    assert!(id.starts_with('*'));
    assert_eq!(
        router.with_state(|s| s.secret_id("newcomer")),
        Some(id.clone())
    );
    let changes = SecretChanges {
        disabled: Some(true),
        comment: Some("moved".into()),
        ..SecretChanges::default()
    };
    client.set_secret(&id, &changes, soon()).unwrap();
    assert_eq!(
        router.with_state(|s| s.secret_property("newcomer", "disabled")),
        Some(b"true".to_vec())
    );
    client.remove_secret(&id, soon()).unwrap();
    assert!(!router.with_state(|s| s.has_secret("newcomer")));

    let entry = client
        .address_list_add("ISOLATED", "10.1.2.3", Some("unpaid"), soon())
        .unwrap();
    assert_eq!(
        client
            .address_list_find("ISOLATED", "10.1.2.3", soon())
            .unwrap()
            .len(),
        1
    );
    client.address_list_remove(&entry, soon()).unwrap();
    assert!(client
        .address_list_find("ISOLATED", "10.1.2.3", soon())
        .unwrap()
        .is_empty());

    let file = client.backup_save("nightly", soon()).unwrap();
    assert_eq!(file, "nightly.backup");
    assert!(router.with_state(|s| s.file_names()).contains(&file));

    let online = router.with_state(|s| s.active_names())[0].clone();
    let session = client
        .active_sessions_of(&online, soon())
        .unwrap()
        .remove(0);
    client.remove_active(&session.id, soon()).unwrap();
    assert!(!router.with_state(|s| s.is_online(&online)));
}

#[test]
fn legacy_login_and_refusals() {
    let _watchdog = Watchdog::new("legacy_login_and_refusals", Duration::from_secs(30));
    let legacy = simulator_with(SimConfig {
        legacy_login: true,
        version: "6.40.9".into(),
        login: ("api".into(), "s3cret".into()),
        churn: false,
        ..SimConfig::default()
    });
    let addr = legacy.routers()[0].addr();
    let mut client = Client::connect("127.0.0.1", addr.port(), Duration::from_secs(2)).unwrap();
    client
        .login("api", "s3cret", soon())
        .expect("MD5 challenge login");
    assert!(client.identity(soon()).is_ok());
    let mut client = Client::connect("127.0.0.1", addr.port(), Duration::from_secs(2)).unwrap();
    match client.login("api", "wrong", soon()) {
        Err(RouterError::LoginRefused(message)) => assert_eq!(message, "cannot log in"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    let modern = simulator(1, 5);
    let addr = modern.routers()[0].addr();
    let mut client = Client::connect("127.0.0.1", addr.port(), Duration::from_secs(2)).unwrap();
    match client.login("admin", "wrong", soon()) {
        Err(e @ RouterError::LoginRefused(_)) => {
            assert!(
                e.to_string().contains("invalid user name or password"),
                "{e}"
            );
            assert!(e.is_connectivity_error());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn empty_replies_before_and_after_7_18_keep_the_stream_in_step() {
    let _watchdog = Watchdog::new("empty_replies", Duration::from_secs(30));
    for version in ["7.18.2", "7.17"] {
        let sim = simulator_with(SimConfig {
            version: version.into(),
            users: 5,
            churn: false,
            ..SimConfig::default()
        });
        let mut client = connect(&sim);
        for _ in 0..3 {
            assert!(
                client
                    .active_sessions_of("nobody", soon())
                    .unwrap()
                    .is_empty(),
                "{version}"
            );
            assert_eq!(client.identity(soon()).unwrap().name, "sim-1", "{version}");
        }
    }
}

#[test]
fn traps_are_reported_and_the_session_survives() {
    let _watchdog = Watchdog::new("traps", Duration::from_secs(30));
    let sim = simulator(1, 5);
    let mut client = connect(&sim);
    let duplicate = NewSecret {
        name: "alice".into(),
        password: "x".into(),
        ..NewSecret::default()
    };
    let error = client.add_secret(&duplicate, soon()).unwrap_err();
    assert!(
        error.trap_starts_with("failure: secret with the same name already exists"),
        "{error}"
    );
    let error = client.remove_secret("*FFFF", soon()).unwrap_err();
    assert!(error.trap_starts_with("no such item"), "{error}");
    let error = client
        .run(CommandBuilder::new("/ppp/secret/frobnicate"), soon())
        .unwrap_err();
    assert!(error.trap_starts_with("no such command"), "{error}");
    let error = client
        .run(CommandBuilder::new("/nowhere/print"), soon())
        .unwrap_err();
    assert!(error.trap_starts_with("no such command prefix"), "{error}");
    assert!(!error.is_connectivity_error());
    assert!(!client.is_broken());
    assert_eq!(client.identity(soon()).unwrap().name, "sim-1");
}

#[test]
fn a_stale_reply_is_discarded_not_handed_to_the_next_command() {
    let _watchdog = Watchdog::new("stale_reply", Duration::from_secs(30));
    let sim = simulator(1, 30);
    let router = &sim.routers()[0];
    let mut client = connect(&sim);
    router.set_latency(Duration::from_millis(400));
    let error = client
        .secrets(Instant::now() + Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(error, RouterError::Timeout), "{error}");
    assert_eq!(client.abandoned_count(), 1);
    router.set_latency(Duration::ZERO);
    // The secret rows arrive first; the identity command must still get its own reply.
    assert_eq!(client.identity(soon()).unwrap().name, "sim-1");
    assert_eq!(client.abandoned_count(), 0);
    assert_eq!(client.secrets(soon()).unwrap().len(), 30);
}

#[test]
fn silent_and_hanging_routers_time_out_within_the_deadline() {
    let _watchdog = Watchdog::new("silent_hang", Duration::from_secs(30));
    let sim = simulator_with(SimConfig {
        routers: 2,
        users: 5,
        churn: false,
        faults: vec![(Some(0), Fault::Silent), (Some(1), Fault::HangAfter(2))],
        ..SimConfig::default()
    });
    let silent = sim.routers()[0].addr();
    let mut client = Client::connect("127.0.0.1", silent.port(), Duration::from_secs(2)).unwrap();
    let started = Instant::now();
    let error = client
        .login("admin", "", Instant::now() + Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(error, RouterError::Timeout), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(1300),
        "{:?}",
        started.elapsed()
    );

    let hanging = sim.routers()[1].addr();
    let mut client = Client::connect("127.0.0.1", hanging.port(), Duration::from_secs(2)).unwrap();
    client.login("admin", "", soon()).unwrap();
    client.identity(soon()).unwrap();
    let started = Instant::now();
    let error = client
        .identity(Instant::now() + Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(error, RouterError::Timeout), "{error}");
    assert!(started.elapsed() < Duration::from_millis(1300));
}

#[test]
fn dropped_and_garbage_connections_end_in_errors() {
    let _watchdog = Watchdog::new("drop_garbage", Duration::from_secs(30));
    let sim = simulator_with(SimConfig {
        routers: 2,
        users: 5,
        churn: false,
        faults: vec![(Some(0), Fault::DropAfter(2)), (Some(1), Fault::Garbage)],
        ..SimConfig::default()
    });
    let dropping = sim.routers()[0].addr();
    let mut client = Client::connect("127.0.0.1", dropping.port(), Duration::from_secs(2)).unwrap();
    client.login("admin", "", soon()).unwrap();
    client.identity(soon()).unwrap();
    let error = client.identity(soon()).unwrap_err();
    assert!(
        error.is_connectivity_error() && !matches!(error, RouterError::Timeout),
        "{error}"
    );
    assert!(client.is_broken());

    let garbage = sim.routers()[1].addr();
    let mut client = Client::connect("127.0.0.1", garbage.port(), Duration::from_secs(2)).unwrap();
    let error = client.login("admin", "", soon()).unwrap_err();
    assert!(matches!(error, RouterError::Protocol(_)), "{error}");
}

#[test]
fn latin1_comments_read_as_unicode_and_write_back_byte_exact() {
    let _watchdog = Watchdog::new("latin1", Duration::from_secs(30));
    let sim = simulator(1, 10);
    let router = &sim.routers()[0];
    let original = router
        .with_state(|s| s.secret_comment_bytes("alice"))
        .unwrap();
    assert!(
        std::str::from_utf8(&original).is_err(),
        "alice's comment is stored as Latin-1 bytes"
    );
    let mut client = connect(&sim);
    let alice = client.secret_named("alice", soon()).unwrap().unwrap();
    assert_eq!(alice.comment, "Café Ñandú");
    // Writing back the text we read stores exactly the bytes the router had.
    let changes = SecretChanges {
        comment: Some(alice.comment.to_string()),
        ..SecretChanges::default()
    };
    client.set_secret(&alice.id, &changes, soon()).unwrap();
    assert_eq!(
        router.with_state(|s| s.secret_comment_bytes("alice")),
        Some(original)
    );
    // New non-ASCII text goes out as Windows-1252.
    let changes = SecretChanges {
        comment: Some("Pago € São".into()),
        ..SecretChanges::default()
    };
    client.set_secret(&alice.id, &changes, soon()).unwrap();
    let stored = router
        .with_state(|s| s.secret_comment_bytes("alice"))
        .unwrap();
    assert_eq!(stored, text::encode("Pago € São").unwrap());
    assert_eq!(stored, b"Pago \x80 S\xe3o".to_vec());
}
