//! The shipped nginx front (systemd/nginx-net-engine.conf) in front of the built engine:
//! what tiny_http cannot withstand alone, nginx absorbs (issue 12, Build 5).

use crate::support::engine::Watchdog;
use crate::support::nginx_conf::{on_loopback, self_signed};
use crate::support::process::{free_port, spawn_and_read, ChildGuard, BIN};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";

fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "nginx missing under CI (tests/run-all.sh installs nginx-light)"
    );
    eprintln!("skipping: {NGINX} missing (tests/run-all.sh installs nginx-light)");
    false
}

fn status_field(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("status field")
}

/// nginx in a temp prefix running the shipped server block with its ports rewritten to
/// loopback, a self-signed certificate, and a plain listener for the test's clients.
struct Front {
    _nginx: ChildGuard,
    plain: SocketAddr,
    dir: PathBuf,
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_front(engine: SocketAddr) -> Front {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("net-engine-nginx-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let (cert, key) = self_signed(&dir).expect("a certificate for the front");
    let (tls_port, plain_port) = (free_port(), free_port());
    let server = on_loopback(engine, tls_port, plain_port, &cert, &key);
    assert!(
        server.contains(&format!("server {engine};")),
        "upstream rewritten"
    );
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let d = dir.display();
    let conf = format!(
        "{user}master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
         worker_rlimit_nofile 16384;\nevents {{ worker_connections 8192; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{server}\n}}\n",
        user = if root { "user root;\n" } else { "" },
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let check = Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-t")
        .output()
        .unwrap();
    assert!(check.status.success(), "nginx -t: {check:?}");
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .spawn()
        .expect("nginx starts");
    let guard = ChildGuard(child);
    let plain: SocketAddr = format!("127.0.0.1:{plain_port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(plain, "/api/v1/health") != Some(200) {
        assert!(
            Instant::now() < deadline,
            "nginx did not answer through the front"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Front {
        _nginx: guard,
        plain,
        dir,
    }
}

fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// One whole response (head and `Content-Length` body) from a kept-alive connection.
fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => data.push(byte[0]),
            _ => return String::from_utf8_lossy(&data).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = stream.read_exact(&mut body);
    head
}

fn engine() -> (ChildGuard, SocketAddr) {
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--routers",
            "2",
        ])
        .env_remove("API_PORT")
        .env_remove("DB_DSN")
        .env_remove("WEBHOOK_URL")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "warn");
    let (child, _) = spawn_and_read(command, |l| l.iter().any(|x| x.contains("API key:")));
    (child, format!("127.0.0.1:{port}").parse().unwrap())
}

#[test]
fn nginx_front_refuses_huge_headers_and_shields_the_engine_from_idle_and_slow_clients() {
    if !nginx_available() {
        return;
    }
    let _watchdog = Watchdog::new("nginx_front", Duration::from_secs(180));
    rlimit::increase_nofile_limit(16384).expect("raise the test's own limit");
    let (engine_child, engine_addr) = engine();
    let pid = engine_child.0.id();
    let front = start_front(engine_addr);

    // 1. A 300 MiB header line: nginx refuses it; the engine never sees it.
    let rss_before = status_field(pid, "VmRSS:");
    let mut big = TcpStream::connect(front.plain).unwrap();
    big.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    big.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..300 {
        if big.write_all(&chunk).is_err() {
            break;
        }
        sent += 1;
    }
    let mut answer = Vec::new();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        sent < 300 || answer.starts_with("HTTP/1.1 4"),
        "nginx took {sent} MiB of header: {answer:.80}"
    );
    let growth = status_field(pid, "VmRSS:").saturating_sub(rss_before);
    eprintln!(
        "300 MiB header: {sent} MiB written, nginx answered {:?}; engine RSS +{growth} KiB",
        answer.lines().next()
    );
    assert!(growth < 32 * 1024, "engine RSS grew {growth} KiB");

    // 2. 2000 idle sockets and 300 slowloris connections to nginx.
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(front.plain).expect("idle connect"));
    }
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(front.plain).expect("slowloris connect");
        let _ = s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n");
        slow.push(s);
    }
    for s in &mut slow {
        let _ = s.write_all(b"X-Slow: 1\r\n");
    }
    let started = Instant::now();
    assert_eq!(get(front.plain, "/api/v1/health"), Some(200));
    let took = started.elapsed();
    let threads = status_field(pid, "Threads:");
    eprintln!("2000 idle + 300 slowloris: normal answer in {took:?}, engine threads {threads}");
    assert!(
        took < Duration::from_millis(500),
        "normal client waited {took:?}"
    );
    assert!(threads < 300, "engine threads {threads}");
    drop(idle);
    drop(slow);
}

/// Bursts of 32 new keep-alive connections through the front, each asking twice, all
/// answered within 2 s. Five bursts: with upstream keep-alive, tiny_http's connection pool
/// left a connection without a thread in about every second burst (until nginx closed
/// another upstream connection), which is why the shipped file has none.
#[test]
fn nginx_front_answers_a_burst_of_new_keep_alive_connections() {
    if !nginx_available() {
        return;
    }
    let _watchdog = Watchdog::new("nginx_burst", Duration::from_secs(90));
    let (_engine_child, engine_addr) = engine();
    let front = start_front(engine_addr);
    for round in 1..=5 {
        let started = Instant::now();
        let burst: Vec<_> = (0..32)
            .map(|_| {
                let addr = front.plain;
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut ok = 0;
                    for _ in 0..2 {
                        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                            .unwrap();
                        if read_response(&mut s).starts_with("HTTP/1.1 200") {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: usize = burst.into_iter().map(|t| t.join().unwrap()).sum();
        let took = started.elapsed();
        eprintln!("burst {round} of 32 keep-alive connections: {ok}/64 answers 200 in {took:?}");
        assert_eq!(ok, 64, "burst {round}");
        assert!(took < Duration::from_secs(2), "burst {round} took {took:?}");
    }
}
