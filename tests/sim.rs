//! The simulator over loopback, driven with the raw codec only (routeros-api.md §1-§6, §9-§11).
//! Traffic, streams, faults and the `sim` subcommand are in `sim_streams.rs`.

use net_engine::routeros::{login, CommandBuilder, Reply, ReplyKind, Sentence};
use net_engine::sim::SimConfig;

use crate::support::sim::{column, kinds, rows, start, test_config, trap_message, RawClient};

fn id_number(id: &str) -> u32 {
    u32::from_str_radix(id.trim_start_matches('*'), 16).expect("an id is * and hex")
}

// ---- login -------------------------------------------------------------------------------

#[test]
fn plain_login_and_wrong_password() {
    let sim = start(SimConfig {
        login: ("api".into(), "s3cret".into()),
        ..test_config(5)
    });
    let addr = sim.routers()[0].addr();

    let mut client = RawClient::connect(addr);
    let replies = client.call(&["/login", "=name=api", "=password=wrong"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Trap, ReplyKind::Done]);
    assert_eq!(trap_message(&replies), "invalid user name or password (6)");
    // The connection stays usable for another try.
    let replies = client.call(&["/login", "=name=api", "=password=s3cret"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    assert!(
        replies[0].attributes.is_empty(),
        "plain login answers a bare !done"
    );
    let replies = client.call(&["/system/identity/print"]);
    assert_eq!(column(&replies, "name"), vec!["sim-1"]);

    let mut wrong_user = RawClient::connect(addr);
    let replies = wrong_user.call(&["/login", "=name=admin", "=password=s3cret"]);
    assert_eq!(trap_message(&replies), "invalid user name or password (6)");

    // A bare /login on a modern router still hands out a challenge, and MD5 then fails.
    let mut bare = RawClient::connect(addr);
    let replies = bare.call(&["/login"]);
    let challenge = replies[0].get("ret").expect("=ret=").to_vec();
    assert_eq!(challenge.len(), 32);
    let response =
        login::challenge_response(b"s3cret", &login::decode_challenge(&challenge).unwrap());
    let replies = bare.call(&["/login", "=name=api", &format!("=response={response}")]);
    assert_eq!(trap_message(&replies), "invalid user name or password (6)");
}

#[test]
fn legacy_login_uses_the_md5_challenge() {
    let sim = start(SimConfig {
        legacy_login: true,
        login: ("api".into(), "s3cret".into()),
        ..test_config(5)
    });
    let addr = sim.routers()[0].addr();

    let mut client = RawClient::connect(addr);
    // A pre-6.43 router ignores name and password and answers with a challenge.
    let replies = client.call(&["/login", "=name=api", "=password=s3cret"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let hex = replies[0].get("ret").expect("=ret=").to_vec();
    assert_eq!(hex.len(), 32);
    assert!(hex
        .iter()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let challenge = login::decode_challenge(&hex).unwrap();
    let response = login::challenge_response(b"s3cret", &challenge);
    let replies = client.call(&["/login", "=name=api", &format!("=response={response}")]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let replies = client.call(&["/system/identity/print"]);
    assert_eq!(column(&replies, "name"), vec!["sim-1"]);

    let mut wrong = RawClient::connect(addr);
    let replies = wrong.call(&["/login"]);
    let challenge = login::decode_challenge(replies[0].get("ret").unwrap()).unwrap();
    let response = login::challenge_response(b"wrong", &challenge);
    let replies = wrong.call(&["/login", "=name=api", &format!("=response={response}")]);
    assert_eq!(trap_message(&replies), "cannot log in");
}

#[test]
fn commands_before_login_are_fatal_and_quit_closes() {
    let sim = start(test_config(5));
    let addr = sim.routers()[0].addr();
    let mut client = RawClient::connect(addr);
    client.send(&["/system/resource/print", ".tag=9"]);
    let fatal = client.recv_sentence();
    assert_eq!(
        fatal,
        Sentence::from_strs(&["!fatal", "not logged in"]),
        "untagged, bare reason"
    );
    assert!(client.closed());

    let mut client = RawClient::logged_in(addr);
    client.send(&["/quit", ".tag=3"]);
    assert_eq!(
        client.recv_sentence(),
        Sentence::from_strs(&["!fatal", "session terminated on request"])
    );
    assert!(client.closed());
}

// ---- framing -----------------------------------------------------------------------------

#[test]
fn framing_byte_at_a_time_non_shortest_lengths_and_reserved_bytes() {
    let sim = start(test_config(5));
    let addr = sim.routers()[0].addr();

    let mut client = RawClient::connect(addr);
    // An empty sentence first (ignored), then a login written one byte at a time.
    let mut bytes = vec![0u8];
    bytes
        .extend(Sentence::from_strs(&["/login", "=name=admin", "=password=", ".tag=1"]).to_bytes());
    for byte in bytes {
        client.send_raw(&[byte]);
    }
    assert_eq!(client.recv().kind, ReplyKind::Done);
    // Non-shortest length prefixes: 2-byte and 5-byte forms for short words.
    let mut raw = Vec::new();
    for (word, long) in [(&b"/system/identity/print"[..], false), (b".tag=2", true)] {
        if long {
            raw.extend_from_slice(&[0xF0, 0, 0, 0, word.len() as u8]);
        } else {
            raw.extend_from_slice(&[0x80, word.len() as u8]);
        }
        raw.extend_from_slice(word);
    }
    raw.push(0);
    client.send_raw(&raw);
    let replies = client.replies_until_done("2");
    assert_eq!(column(&replies, "name"), vec!["sim-1"]);
    // A reserved control byte cannot be framed: the router drops the connection.
    client.send_raw(&[0xF8, 1, 2, 3]);
    assert!(client.closed());
}

// ---- tags, !empty, traps -----------------------------------------------------------------

#[test]
fn tags_are_echoed_on_every_reply_in_both_positions() {
    let sim = start(test_config(20));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    let mut first = 0;
    let mut last = 0;
    for _ in 0..10 {
        let tag = client.tag();
        client.send(&["/ppp/secret/print", &format!(".tag={tag}")]);
        loop {
            let sentence = client.recv_sentence();
            let position = sentence
                .words
                .iter()
                .position(|w| w.starts_with(b".tag="))
                .expect("tagged");
            assert_eq!(sentence.words[position], format!(".tag={tag}").into_bytes());
            if sentence.words.len() > 2 {
                if position == 1 {
                    first += 1;
                } else if position == sentence.words.len() - 1 {
                    last += 1;
                }
            }
            if sentence.first() == b"!done" {
                break;
            }
        }
    }
    assert!(
        first > 0 && last > 0,
        "tag positions: {first} first, {last} last"
    );
    // Traps and ret-carrying !done are tagged too (checked inside `call`).
    let replies = client.call(&["/ppp/secret/set", "=.id=*FFFF", "=comment=x"]);
    assert_eq!(trap_message(&replies), "no such item (4)");
    let replies = client.call(&[
        "/ip/firewall/address-list/add",
        "=list=L",
        "=address=10.1.1.1",
    ]);
    assert!(replies[0].get("ret").is_some());
    // An untagged command gets untagged replies.
    client.send(&["/system/identity/print"]);
    assert_eq!(client.recv().tag, None);
    assert_eq!(client.recv().tag, None);
}

#[test]
fn empty_before_done_only_from_7_18_and_only_for_empty_prints() {
    for (version, empty) in [
        ("7.18.2", true),
        ("7.18", true),
        ("7.19.1", true),
        ("7.17.2", false),
        ("6.49.10", false),
    ] {
        let sim = start(SimConfig {
            version: version.into(),
            ..test_config(5)
        });
        let mut client = RawClient::logged_in(sim.routers()[0].addr());
        let replies = client.call(&["/ppp/secret/print", "?name=nobody"]);
        let expected = if empty {
            vec![ReplyKind::Empty, ReplyKind::Done]
        } else {
            vec![ReplyKind::Done]
        };
        assert_eq!(kinds(&replies), expected, "version {version}");
        let replies = client.call(&["/ppp/secret/getall", "?name=nobody"]);
        assert_eq!(kinds(&replies), expected, "getall on {version}");
        // Never on prints with rows, count-only, add, set or remove.
        let replies = client.call(&["/ppp/secret/print", "?name=alice"]);
        assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
        let replies = client.call(&["/ppp/secret/print", "=count-only=", "?name=nobody"]);
        assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
        assert_eq!(replies[0].get("ret"), Some(&b"0"[..]));
        let replies = client.call(&[
            "/ip/firewall/address-list/add",
            "=list=X",
            "=address=10.2.2.2",
        ]);
        assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
        let id = replies[0].get_text("ret").unwrap();
        let replies = client.call(&["/ip/firewall/address-list/remove", &format!("=.id={id}")]);
        assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
        let version_row = client.call(&["/system/resource/print"]);
        assert!(column(&version_row, "version")[0].starts_with(version));
    }
}

#[test]
fn menus_and_commands_that_do_not_exist() {
    let sim = start(test_config(5));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    let table = [
        (&["/ppp/secrets/print"][..], "no such command prefix"),
        (&["/ppp/active/print/count-only"], "no such command prefix"),
        (&["/ppp/secret/frobnicate"], "no such command"),
        (&["/ppp/print"], "no such command"),
        (&["/ppp/profile/add", "=name=x"], "no such command"),
        (
            &["/interface/monitor-traffic", "=ether1="],
            "unknown parameter",
        ),
        (&["/ppp/secret/print", "=bogus=1"], "unknown parameter"),
        (
            &["/ppp/secret/add", "=name=zed", "=bogus=1"],
            "unknown parameter",
        ),
    ];
    for (words, message) in table {
        let replies = client.call(words);
        assert_eq!(trap_message(&replies), message, "{words:?}");
    }
    let replies = client.call(&["/ppp/secret/frobnicate"]);
    assert_eq!(replies[0].get("category"), Some(&b"0"[..]));
}

// ---- every menu --------------------------------------------------------------------------

#[test]
fn every_menu_prints() {
    let sim = start(test_config(30));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());

    let resource = client.call(&["/system/resource/print"]);
    assert_eq!(kinds(&resource), vec![ReplyKind::Re, ReplyKind::Done]);
    let row = &resource[0];
    for name in [
        "uptime",
        "version",
        "build-time",
        "free-memory",
        "total-memory",
        "cpu",
        "cpu-count",
        "cpu-frequency",
        "cpu-load",
        "free-hdd-space",
        "total-hdd-space",
        "architecture-name",
        "board-name",
        "platform",
    ] {
        assert!(row.get(name).is_some(), "resource lacks {name}");
    }
    assert_eq!(row.get_text("version").unwrap(), "7.18.2 (stable)");
    assert!(
        net_engine::model::parse_duration_secs(&row.get_text("uptime").unwrap()).unwrap() > 86_400
    );
    let load: u32 = row.get_text("cpu-load").unwrap().parse().unwrap();
    assert!(load <= 100);
    let free: u64 = row.get_text("free-memory").unwrap().parse().unwrap();
    let total: u64 = row.get_text("total-memory").unwrap().parse().unwrap();
    assert!(free < total);

    let identity = client.call(&["/system/identity/print"]);
    assert_eq!(column(&identity, "name"), vec!["sim-1"]);
    assert!(identity[0].get(".id").is_none());

    let active = client.call(&["/ppp/active/print"]);
    let names = column(&active, "name");
    assert!(names.contains(&"ali".to_owned()) && names.contains(&"alice".to_owned()));
    for row in rows(&active) {
        let id = row.get_text(".id").unwrap();
        assert!(id.starts_with("*8"), "runtime id {id}");
        assert_eq!(row.get_text("service").unwrap(), "pppoe");
        let caller = row.get_text("caller-id").unwrap();
        assert_eq!(caller.len(), 17);
        assert_eq!(caller, caller.to_uppercase());
        assert!(row.get_text("address").unwrap().starts_with("10."));
        assert!(net_engine::model::parse_duration_secs(&row.get_text("uptime").unwrap()).is_some());
        assert!(row.get_text("session-id").unwrap().starts_with("0x8"));
        assert_eq!(row.get_text("radius").unwrap(), "false");
    }
    let mut addresses = column(&active, "address");
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), names.len(), "session addresses are unique");

    let secrets = client.call(&["/ppp/secret/print"]);
    assert_eq!(rows(&secrets).len(), 30);
    let disabled = column(&secrets, "disabled");
    assert!(disabled.iter().all(|d| d == "true" || d == "false"));
    assert!(disabled.iter().any(|d| d == "true"));
    assert!(
        rows(&secrets).iter().any(|r| r.get("comment").is_none()),
        "unset comments are left out"
    );

    let profiles = client.call(&["/ppp/profile/print"]);
    let names = column(&profiles, "name");
    for name in [
        "default",
        "5M",
        "10M",
        "20M",
        "unlimited",
        "default-encryption",
    ] {
        assert!(names.contains(&name.to_owned()), "profile {name}");
    }
    let limits = column(&profiles, "rate-limit");
    assert_eq!(
        limits,
        vec!["5M/10M", "10M/20M", "20M/50M"],
        "profiles without rate-limit leave it out"
    );
    let ids = column(&profiles, ".id");
    assert_eq!(ids.first().map(String::as_str), Some("*0"));
    assert_eq!(ids.last().map(String::as_str), Some("*FFFFFFFE"));

    let queues = client.call(&["/queue/simple/print"]);
    let dynamic: Vec<&Reply> = rows(&queues)
        .into_iter()
        .filter(|r| r.get("dynamic") == Some(b"true"))
        .collect();
    assert!(!dynamic.is_empty());
    for queue in &dynamic {
        let name = queue.get_text("name").unwrap();
        assert!(name.starts_with("<pppoe-") && name.ends_with('>'));
        assert_eq!(queue.get_text("target").unwrap(), name);
    }
    let ali = rows(&queues)
        .into_iter()
        .find(|r| r.get("name") == Some(b"<pppoe-ali>"))
        .expect("<pppoe-ali>");
    assert_eq!(ali.get_text("max-limit").unwrap(), "20000000/50000000");
    let rate = ali.get_text("rate").unwrap();
    let (up, down) = rate.split_once('/').unwrap();
    assert!(up.parse::<u64>().unwrap() <= 20_000_000 && down.parse::<u64>().unwrap() <= 50_000_000);

    let list = client.call(&["/ip/firewall/address-list/print"]);
    assert!(!rows(&list).is_empty());
    assert!(rows(&list)
        .iter()
        .all(|r| r.get("creation-time").is_some() && r.get("dynamic") == Some(b"false")));

    let files = client.call(&["/file/print"]);
    assert!(column(&files, "name").contains(&"skins".to_owned()));

    let interfaces = client.call(&["/interface/print"]);
    let names = column(&interfaces, "name");
    assert!(names.contains(&"ether1".to_owned()) && names.contains(&"<pppoe-ali>".to_owned()));
}

#[test]
fn identity_set_and_backup_save() {
    let sim = start(test_config(5));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&["/system/backup/save"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let files = column(&client.call(&["/file/print", "?type=backup"]), "name");
    assert_eq!(files.len(), 1);
    let name = &files[0];
    // sim-1-YYYYMMDD-HHMM.backup
    let stamp = name
        .strip_prefix("sim-1-")
        .and_then(|s| s.strip_suffix(".backup"))
        .expect(name);
    assert_eq!(stamp.len(), 13);
    assert!(stamp[..8].bytes().all(|b| b.is_ascii_digit()) && &stamp[8..9] == "-");

    client.call(&["/system/identity/set", "=name=core-7"]);
    assert_eq!(
        column(&client.call(&["/system/identity/print"]), "name"),
        vec!["core-7"]
    );
    client.call(&["/system/backup/save", "=name=nightly", "=dont-encrypt=yes"]);
    assert!(router
        .with_state(|s| s.file_names())
        .contains(&"nightly.backup".to_owned()));
    let replies = client.call(&["/system/backup/save", "=encryption=des"]);
    assert_eq!(
        trap_message(&replies),
        "input does not match any value of encryption"
    );
}

// ---- changes -----------------------------------------------------------------------------

#[test]
fn secret_add_set_remove_and_their_traps() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let before = client.call(&["/ppp/secret/print", "=.proplist=.id"]);
    let highest = column(&before, ".id")
        .iter()
        .map(|id| id_number(id))
        .max()
        .unwrap();

    let replies = client.call(&[
        "/ppp/secret/add",
        "=name=zoe",
        "=password=pw",
        "=profile=10M",
        "=service=pppoe",
        "=remote-address=10.99.0.7",
    ]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let id = replies[0].get_text("ret").unwrap();
    assert!(id_number(&id) > highest, "ids only grow: {id}");
    assert!(router.with_state(|s| s.has_secret("zoe")));

    let replies = client.call(&["/ppp/secret/add", "=name=zoe", "=password=pw"]);
    assert_eq!(
        trap_message(&replies),
        "failure: secret with the same name already exists"
    );
    assert_eq!(replies[0].get("category"), None);

    let replies = client.call(&["/ppp/secret/add", "=name=zed", "=profile=gold"]);
    assert_eq!(
        trap_message(&replies),
        "input does not match any value of profile"
    );
    assert_eq!(replies[0].get("category"), Some(&b"1"[..]));

    let replies = client.call(&[
        "/ppp/secret/set",
        "=numbers=zoe",
        "=profile=20M",
        "=disabled=yes",
    ]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let replies = client.call(&["/ppp/secret/print", "?name=zoe"]);
    assert_eq!(column(&replies, "profile"), vec!["20M"]);
    assert_eq!(column(&replies, "disabled"), vec!["true"]);
    client.call(&["/ppp/secret/set", &format!("=.id={id}"), "=comment=moved"]);
    assert_eq!(
        router.with_state(|s| s.secret_comment_bytes("zoe")),
        Some(b"moved".to_vec())
    );
    client.call(&["/ppp/secret/set", "=.id=zoe", "=password=new"]);
    assert_eq!(
        router.with_state(|s| s.secret_property("zoe", "password")),
        Some(b"new".to_vec())
    );

    for (words, message) in [
        (
            &["/ppp/secret/set", "=.id=*FFFF", "=comment=x"][..],
            "no such item (4)",
        ),
        (
            &["/ppp/secret/set", "=numbers=nobody", "=comment=x"],
            "no such item (4)",
        ),
        (&["/ppp/secret/remove", "=.id=*FFFF"], "no such item (4)"),
        (
            &["/ppp/secret/remove", "=.id=*zz"],
            "invalid internal item number",
        ),
        (
            &["/ppp/secret/set", "=.id=*", "=comment=x"],
            "invalid internal item number",
        ),
        (
            &["/ppp/secret/set", "=.id=zoe", "=profile=nope"],
            "input does not match any value of profile",
        ),
        (
            &["/ppp/secret/set", "=.id=zoe", "=flavour=x"],
            "unknown parameter",
        ),
    ] {
        let replies = client.call(words);
        assert_eq!(trap_message(&replies), message, "{words:?}");
    }

    let replies = client.call(&["/ppp/secret/remove", &format!("=.id={id}")]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    assert!(!router.with_state(|s| s.has_secret("zoe")));
    // A new item never reuses an id.
    let replies = client.call(&["/ppp/secret/add", "=name=zoe2"]);
    assert!(id_number(&replies[0].get_text("ret").unwrap()) > id_number(&id));
    let replies = client.call(&["/ppp/secret/print", "?name=zoe2"]);
    assert_eq!(column(&replies, "profile"), vec!["default"]);
    assert_eq!(column(&replies, "service"), vec!["any"]);
}

#[test]
fn kicking_a_session_ends_it_and_its_dynamic_queue() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&["/ppp/active/print", "?name=ali", "=.proplist=.id,name"]);
    let id = column(&replies, ".id").pop().expect("ali is online");
    assert_eq!(router.with_state(|s| s.session_id("ali")), Some(id.clone()));
    let queue = client.call(&["/queue/simple/print", "?name=<pppoe-ali>", "=count-only="]);
    assert_eq!(queue[0].get("ret"), Some(&b"1"[..]));

    let replies = client.call(&["/ppp/active/remove", &format!("=.id={id}")]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    let replies = client.call(&["/ppp/active/print", "?name=ali"]);
    assert!(rows(&replies).is_empty());
    let queue = client.call(&["/queue/simple/print", "?name=<pppoe-ali>", "=count-only="]);
    assert_eq!(queue[0].get("ret"), Some(&b"0"[..]));
    assert_eq!(
        router.with_state(|s| s.secret_property("ali", "last-disconnect-reason")),
        Some(b"nas-request".to_vec())
    );
    let replies = client.call(&["/ppp/active/remove", &format!("=.id={id}")]);
    assert_eq!(trap_message(&replies), "no such item (4)");

    // Back up with a new, larger id and a fresh dynamic queue.
    assert!(router.with_state_mut(|s| s.connect_user("ali")));
    let replies = client.call(&["/ppp/active/print", "?name=ali"]);
    let new_id = column(&replies, ".id").pop().unwrap();
    assert!(id_number(&new_id) > id_number(&id));
    let queue = client.call(&["/queue/simple/print", "?name=<pppoe-ali>", "=count-only="]);
    assert_eq!(queue[0].get("ret"), Some(&b"1"[..]));
    // Sessions can be kicked by name too.
    client.call(&["/ppp/active/remove", "=numbers=ali"]);
    assert!(!router.with_state(|s| s.is_online("ali")));
}

#[test]
fn queue_add_set_remove() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&[
        "/queue/simple/add",
        "=name=cust-x",
        "=target=10.50.0.9/32",
        "=max-limit=2M/10M",
    ]);
    let id = replies[0].get_text("ret").unwrap();
    let row = client.call(&["/queue/simple/print", "?name=cust-x"]);
    assert_eq!(column(&row, "max-limit"), vec!["2000000/10000000"]);
    assert_eq!(column(&row, "dynamic"), vec!["false"]);
    assert_eq!(
        column(&row, "rate"),
        vec!["0/0"],
        "nobody behind the target"
    );
    let replies = client.call(&["/queue/simple/add", "=name=cust-x", "=target=10.50.0.10/32"]);
    assert_eq!(trap_message(&replies), "failure: already have such name");
    client.call(&[
        "/queue/simple/set",
        &format!("=.id={id}"),
        "=max-limit=5M/20M",
    ]);
    assert_eq!(
        router.with_state(|s| s.queue("cust-x")).unwrap().1,
        (5_000_000, 20_000_000)
    );
    let replies = client.call(&[
        "/queue/simple/set",
        &format!("=.id={id}"),
        "=max-limit=fast",
    ]);
    assert_eq!(
        trap_message(&replies),
        "invalid value for argument max-limit"
    );
    client.call(&["/queue/simple/remove", "=numbers=cust-x"]);
    assert!(router.with_state(|s| s.queue("cust-x")).is_none());
    // Dynamic queues belong to their session.
    let replies = client.call(&["/queue/simple/remove", "=numbers=<pppoe-ali>"]);
    assert!(trap_message(&replies).starts_with("failure: "));
}

#[test]
fn address_list_add_duplicate_query_remove() {
    let sim = start(test_config(5));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&[
        "/ip/firewall/address-list/add",
        "=list=ISOLATED",
        "=address=10.10.0.25",
        "=comment=unpaid",
    ]);
    let id = replies[0].get_text("ret").unwrap();
    let replies = client.call(&[
        "/ip/firewall/address-list/add",
        "=list=ISOLATED",
        "=address=10.10.0.25",
    ]);
    assert_eq!(trap_message(&replies), "failure: already have such entry");
    // Another list may hold the same address; host bits are cleared.
    client.call(&[
        "/ip/firewall/address-list/add",
        "=list=OTHER",
        "=address=10.10.0.25",
    ]);
    client.call(&[
        "/ip/firewall/address-list/add",
        "=list=NETS",
        "=address=203.0.113.77/24",
    ]);
    assert!(router
        .with_state(|s| s.address_list_entries())
        .contains(&("NETS".into(), "203.0.113.0/24".into())));

    let found = client.call(&[
        "/ip/firewall/address-list/print",
        "?list=ISOLATED",
        "?address=10.10.0.25",
        "=.proplist=.id",
    ]);
    assert_eq!(column(&found, ".id"), vec![id.clone()]);
    client.call(&["/ip/firewall/address-list/remove", &format!("=.id={id}")]);
    let found = client.call(&["/ip/firewall/address-list/print", "?list=ISOLATED"]);
    assert_eq!(kinds(&found), vec![ReplyKind::Empty, ReplyKind::Done]);
    let replies = client.call(&["/ip/firewall/address-list/add", "=list=ISOLATED"]);
    assert!(trap_message(&replies).contains("address"));
}

// ---- queries, proplist, count-only -------------------------------------------------------

#[test]
fn queries_are_exact_and_use_the_stack() {
    let sim = start(test_config(40));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let all = router.with_state(|s| s.secret_names());
    let names = |client: &mut RawClient, query: &[&str]| -> Vec<String> {
        let mut words = vec!["/ppp/secret/print", "=.proplist=name"];
        words.extend_from_slice(query);
        column(&client.call(&words), "name")
    };
    assert_eq!(names(&mut client, &["?name=ali"]), vec!["ali"]);
    assert_eq!(names(&mut client, &["?=name=ali"]), vec!["ali"]);
    assert_eq!(names(&mut client, &["?=name=alice"]), vec!["alice"]);
    assert_eq!(names(&mut client, &["?name=al"]), Vec::<String>::new());
    let mut either = names(&mut client, &["?name=ali", "?name=alice", "?#|"]);
    either.sort();
    assert_eq!(either, vec!["ali", "alice"]);
    let neither = names(&mut client, &["?name=ali", "?name=alice", "?#|!"]);
    assert_eq!(neither.len(), all.len() - 2);
    assert!(!neither.contains(&"ali".to_owned()) && !neither.contains(&"alice".to_owned()));
    // `!=` as librouteros writes it.
    assert_eq!(
        names(&mut client, &["?=name=ali", "?#!"]).len(),
        all.len() - 1
    );
    // Presence, absence and comparison.
    let with_comment = names(&mut client, &["?comment"]);
    let without_comment = names(&mut client, &["?-comment"]);
    assert_eq!(with_comment.len() + without_comment.len(), all.len());
    assert!(with_comment.contains(&"alice".to_owned()));
    assert_eq!(
        names(&mut client, &["?>comment="]).len(),
        with_comment.len()
    );
    // AND by juxtaposition, booleans in either spelling.
    let disabled_true = names(&mut client, &["?disabled=true"]);
    assert_eq!(names(&mut client, &["?disabled=yes"]), disabled_true);
    assert!(names(&mut client, &["?name=ali", "?disabled=true"]).is_empty());
    let replies = client.call(&["/ppp/secret/print", "?#x"]);
    assert!(trap_message(&replies).starts_with("invalid query"));
}

#[test]
fn proplist_and_count_only() {
    let sim = start(test_config(12));
    let mut client = RawClient::logged_in(sim.routers()[0].addr());
    let replies = client.call(&["/ppp/secret/print", "=.proplist=name,.id,nonexistent"]);
    for row in rows(&replies) {
        let names: Vec<&[u8]> = row.attributes.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, vec![&b"name"[..], b".id"]);
    }
    // A row may come back with no attributes at all.
    let replies = client.call(&["/ppp/secret/print", "?name=ali", "=.proplist=nonexistent"]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Re, ReplyKind::Done]);
    assert!(replies[0].attributes.is_empty());
    let replies = client.call(&["/ppp/secret/print", "=count-only="]);
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    assert_eq!(replies[0].get_text("ret").as_deref(), Some("12"));
    let replies = client.call(&["/ppp/active/print", "=count-only=", "?name=alice"]);
    assert_eq!(replies[0].get_text("ret").as_deref(), Some("1"));
    let replies = client.call(&["/system/resource/print", "=.proplist=cpu-load,uptime"]);
    assert_eq!(replies[0].attributes.len(), 2);
}

// ---- text --------------------------------------------------------------------------------

#[test]
fn latin1_comments_come_back_byte_exact() {
    let sim = start(test_config(10));
    let router = &sim.routers()[0];
    let mut client = RawClient::logged_in(router.addr());
    let replies = client.call(&["/ppp/secret/print", "?name=alice", "=.proplist=comment"]);
    assert_eq!(replies[0].get("comment"), Some(&b"Caf\xe9 \xd1and\xfa"[..]));

    let latin1 = b"M\xfcller Stra\xdfe 5".to_vec();
    let add = CommandBuilder::new("/ppp/secret/add")
        .attr("name", "muller")
        .attr("comment", &latin1)
        .build_tagged("a1");
    client.send_sentence(&add);
    let replies = client.replies_until_done("a1");
    assert_eq!(kinds(&replies), vec![ReplyKind::Done]);
    assert_eq!(
        router.with_state(|s| s.secret_comment_bytes("muller")),
        Some(latin1.clone())
    );
    // Queried by its raw bytes, printed back unchanged.
    let query = CommandBuilder::new("/ppp/secret/print")
        .query_eq("comment", &latin1)
        .build_tagged("q1");
    client.send_sentence(&query);
    let replies = client.replies_until_done("q1");
    assert_eq!(column(&replies, "name"), vec!["muller"]);
    assert_eq!(rows(&replies)[0].get("comment"), Some(latin1.as_slice()));
}
