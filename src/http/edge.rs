//! The HTTP edge around tiny_http: the listening socket, an accept loop that heals itself,
//! the worker pool, and a shutdown that answers every request it took.
//!
//! tiny_http's accept thread exits on the first `accept` error (e.g. `EMFILE` under a
//! connection spike), or panics without a word (cloning an accepted stream fails), and never
//! comes back. The edge keeps a duplicate of the listening socket; when a worker sees that
//! error, a panic hook sees tiny_http panic, or connections stay in the accept queue
//! (`BacklogWatch`, a slow safety net), the edge logs it once
//! and builds a new
//! `tiny_http::Server` on the same socket as soon as a descriptor is free again (checked
//! every 100 ms). Servers of earlier generations are kept and drained, because their
//! kept-alive connections still deliver requests into their queues.

use super::backlog::BacklogWatch;
use super::{serve_one, write_response, ApiResponse, AppState};
use crate::http::error::ApiError;
use socket2::{SockRef, TcpKeepalive};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Idle time before the first keepalive probe on an accepted connection.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// Time between keepalive probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the kernel drops the connection (≈ 60 + 5 × 10 s in all).
pub const KEEPALIVE_PROBES: u32 = 5;
/// How long a worker waits on the current server before looking at older generations.
const POLL: Duration = Duration::from_millis(50);
/// How long an idle worker waits on the current server when no older one is draining. Long,
/// so a quiet engine's workers do not wake 20 times a second each; a rebuild and shutdown
/// wake them at once (`tiny_http::Server::unblock`).
const IDLE_POLL: Duration = Duration::from_secs(10);
/// Earlier servers kept for draining; beyond this the oldest is let go.
const MAX_OLD_GENERATIONS: usize = 16;
/// How long a rebuilt server must keep accepting before the edge counts as accepting again
/// (a server rebuilt into a descriptor spike dies within milliseconds, over and over, its
/// accept thread's panic reported at once).
const SETTLE: Duration = Duration::from_millis(1200);
/// How often the supervisor looks at the accept queue. A safety net only: a look reads the
/// kernel's whole TCP table (measured: ~30 ms for 3 000 sockets, 15 % of a quiet 1 000-router
/// engine's CPU at one look per 5 s), and the known silent death, a panic, is reported at
/// once by the panic hook (`watch_tiny_http_panics`).
const BACKLOG_LOOK: Duration = Duration::from_secs(30);
/// Looks in a row finding connections waiting before the accept loop counts as dead.
const BACKLOG_STUCK_LOOKS: u32 = 2;
/// First wait between rebuilds whose servers died before settling; doubled up to
/// `MAX_REBUILD_GAP`.
const REBUILD_GAP: Duration = Duration::from_millis(100);
const MAX_REBUILD_GAP: Duration = Duration::from_millis(800);
/// The `Retry-After` of requests answered 503 because the engine is stopping.
const STOPPING_RETRY_AFTER: u32 = 2;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns `(before, after)` soft limits.
/// No system call when they are already equal (e.g. `LimitNOFILE=` in the unit).
pub fn raise_nofile_limit() -> std::io::Result<(u64, u64)> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= hard {
        return Ok((soft, soft));
    }
    rlimit::Resource::NOFILE.set(hard, hard)?;
    let (now, _) = rlimit::Resource::NOFILE.get()?;
    Ok((soft, now))
}

/// Binds `listen` with `TCP_NODELAY` and TCP keepalive set on the listening socket; Linux
/// copies both to every accepted connection. Nodelay: tiny_http writes a response's head
/// and body separately, and without it a kept-alive client waits 40 ms for the delayed ACK
/// of the first part. Keepalive: a peer that vanished (a laptop put to sleep) is reaped
/// after about two minutes instead of holding its connection thread for ever.
pub fn listener(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(listen)?;
    let socket = SockRef::from(&listener);
    socket.set_nodelay(true)?;
    socket.set_tcp_keepalive(
        &TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_PROBES),
    )?;
    Ok(listener)
}

/// One tiny_http server built on the shared listening socket.
struct Generation {
    number: u64,
    server: Arc<tiny_http::Server>,
}

/// The listening socket and the servers built on it.
struct Edge {
    /// The duplicate the next server is built from; `None` once stopping.
    listener: Mutex<Option<TcpListener>>,
    current: RwLock<Arc<Generation>>,
    old: RwLock<Vec<Arc<tiny_http::Server>>>,
    /// The generation whose accept loop died, and why.
    failed: Mutex<Option<(u64, String)>>,
    /// Set from the moment a failure is taken up until the server is rebuilt.
    healing: AtomicBool,
    /// When the current server was rebuilt (`None`: the first one, never failed).
    rebuilt_at: Mutex<Option<Instant>>,
    wake: Condvar,
    stopping: AtomicBool,
    /// Set when shutdown has drained: workers exit.
    done: AtomicBool,
    heals: AtomicU64,
    /// Worker threads, each woken by one `unblock` when a server is retired or at shutdown.
    workers: AtomicUsize,
}

impl Edge {
    fn current(&self) -> Arc<Generation> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn old(&self) -> Vec<Arc<tiny_http::Server>> {
        self.old.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Not stopping, no accept failure reported, no rebuild under way, and a rebuilt server
    /// has kept accepting for `SETTLE`.
    fn accepting(&self) -> bool {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        let settled = self
            .rebuilt_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| at.elapsed() >= SETTLE);
        !self.stopping.load(Ordering::SeqCst)
            && failed.is_none()
            && !self.healing.load(Ordering::SeqCst)
            && settled
    }

    fn report_failure(&self, number: u64, cause: String) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.is_none() && self.current().number == number {
            *failed = Some((number, cause));
            self.wake.notify_all();
        }
    }

    /// A new server on a fresh duplicate of the socket; `Err` while descriptors are short.
    fn rebuild(&self) -> Result<(), String> {
        let listener = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        let Some(listener) = listener.as_ref() else {
            return Err("stopping".into());
        };
        let copy = listener.try_clone().map_err(|e| e.to_string())?;
        let server = tiny_http::Server::from_listener(copy, None).map_err(|e| e.to_string())?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let retired = Arc::clone(&current.server);
        *current = Arc::new(Generation {
            number: current.number + 1,
            server: Arc::new(server),
        });
        drop(current);
        // Workers waiting on the retired server look at the new one now.
        for _ in 0..self.workers.load(Ordering::SeqCst) {
            retired.unblock();
        }
        let evicted = {
            let mut old = self.old.write().unwrap_or_else(|p| p.into_inner());
            old.push(retired);
            (old.len() > MAX_OLD_GENERATIONS).then(|| old.remove(0))
        };
        if let Some(server) = evicted {
            retire(server);
        }
        *self.rebuilt_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.heals.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Sleeps `wait` unless shutdown begins first; true when stopping.
    fn pause(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }

    /// Reports the current server's accept loop as dead when connections have waited in the
    /// accept queue for `BACKLOG_STUCK_LOOKS` looks in a row: tiny_http's accept thread can
    /// die by a panic, which reaches no worker as an error.
    fn look_at_backlog(&self, watch: &mut BacklogWatch, stuck_looks: &mut u32) {
        let generation = self.current().number;
        match watch.waiting() {
            Some(waiting) if waiting > 0 => *stuck_looks += 1,
            _ => *stuck_looks = 0,
        }
        if *stuck_looks >= BACKLOG_STUCK_LOOKS {
            *stuck_looks = 0;
            self.report_failure(
                generation,
                "connections wait in the accept queue and nothing takes them".into(),
            );
        }
    }

    /// The `http-edge` thread: rebuilds the server after its accept loop died.
    fn supervise(&self, mut backlog: Option<BacklogWatch>) {
        let mut stuck_looks = 0;
        let mut looked_at = Instant::now();
        let mut logged = false;
        let mut healed_at: Option<Instant> = None;
        // Grows while rebuilt servers die before settling, so a sustained spike costs a
        // few rebuilds a second (each takes a descriptor and a thread), not dozens.
        let mut gap = Duration::ZERO;
        loop {
            let failure = {
                let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                let (mut failed, _) = self
                    .wake
                    .wait_timeout(failed, Duration::from_millis(200))
                    .unwrap_or_else(|p| p.into_inner());
                let failure = failed.take();
                if failure.is_some() {
                    // Under the lock, so `accepting` never sees the gap.
                    self.healing.store(true, Ordering::SeqCst);
                }
                failure
            };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match failure {
                None => {
                    if let Some(watch) = backlog.as_mut() {
                        if looked_at.elapsed() >= BACKLOG_LOOK {
                            looked_at = Instant::now();
                            self.look_at_backlog(watch, &mut stuck_looks);
                        }
                    }
                    if let Some(at) = healed_at {
                        if at.elapsed() >= Duration::from_secs(1) {
                            log::warn!("http: accepting connections again");
                            healed_at = None;
                            logged = false;
                        }
                    }
                }
                Some((_, cause)) => {
                    let died_young = healed_at.is_some_and(|at| at.elapsed() < SETTLE);
                    gap = if died_young {
                        (gap * 2).clamp(REBUILD_GAP, MAX_REBUILD_GAP)
                    } else {
                        Duration::ZERO
                    };
                    if !logged {
                        log::error!(
                            "http: the accept loop stopped ({cause}); serving again as soon as a descriptor is free"
                        );
                        logged = true;
                    } else {
                        log::debug!("http: the accept loop stopped again ({cause})");
                    }
                    if self.pause(gap) {
                        return;
                    }
                    loop {
                        if self.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        match self.rebuild() {
                            Ok(()) => {
                                self.healing.store(false, Ordering::SeqCst);
                                break;
                            }
                            Err(e) => {
                                log::debug!("http: cannot rebuild the server yet: {e}");
                                if self.pause(REBUILD_GAP) {
                                    return;
                                }
                            }
                        }
                    }
                    healed_at = Some(Instant::now());
                    stuck_looks = 0;
                }
            }
        }
    }
}

/// Edges to tell when a thread of tiny_http panics.
static PANIC_WATCH: OnceLock<Mutex<Vec<Weak<Edge>>>> = OnceLock::new();

/// Installs (once per process) a panic hook that reports a panic in tiny_http's code — its
/// accept thread unwraps `try_clone` of every accepted stream, so `EMFILE` there kills it
/// without an error reaching any worker — as a failure of every live edge's current server.
/// The hook first runs the previous one, so the panic is still printed. Rebuilding an edge
/// whose accept thread was not the one that died costs a server and is harmless.
fn watch_tiny_http_panics(edge: &Arc<Edge>) {
    let edges = PANIC_WATCH.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            let in_tiny_http = info
                .location()
                .is_some_and(|at| at.file().contains("tiny_http"));
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let thread_spawn = message.contains("failed to spawn thread");
            if !(in_tiny_http || thread_spawn) {
                return;
            }
            let Some(edges) = PANIC_WATCH.get() else {
                return;
            };
            let edges = edges.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for edge in edges.iter().filter_map(Weak::upgrade) {
                let number = edge.current().number;
                edge.report_failure(number, format!("a tiny_http thread panicked: {message}"));
            }
        }));
        Mutex::new(Vec::new())
    });
    let mut edges = edges.lock().unwrap_or_else(|p| p.into_inner());
    edges.retain(|e| e.strong_count() > 0);
    edges.push(Arc::downgrade(edge));
}

/// Lets an evicted server go on a thread of its own. tiny_http's `Drop` wakes its accept
/// thread by connecting to the listening socket, a blocking connect: while the backlog is full
/// and nothing accepts (exactly when the edge heals) that connect waits for the kernel's SYN
/// retries, about two minutes. Dropped on the supervisor, it held up every later rebuild and
/// left the API deaf that long (found by the watchdog test).
fn retire(server: Arc<tiny_http::Server>) {
    let spawned = std::thread::Builder::new()
        .name("http-retire".into())
        .spawn(move || drop(server));
    if let Err(e) = spawned {
        log::debug!("http: cannot start a thread to retire an old server: {e}");
    }
}

/// Asks whether the HTTP edge accepts connections, from any thread, for as long as it is
/// kept (after shutdown it answers false).
#[derive(Clone)]
pub struct EdgeProbe(Arc<Edge>);

impl EdgeProbe {
    /// As `HttpServer::accepting`.
    pub fn accepting(&self) -> bool {
        self.0.accepting()
    }

    /// As `HttpServer::heals`.
    pub fn heals(&self) -> u64 {
        self.0.heals.load(Ordering::SeqCst)
    }
}

/// The running HTTP pool.
pub struct HttpServer {
    edge: Arc<Edge>,
    state: Arc<AppState>,
    threads: Vec<JoinHandle<()>>,
    supervisor: Option<JoinHandle<()>>,
    in_flight: Arc<AtomicUsize>,
    local_addr: SocketAddr,
}

impl HttpServer {
    /// Binds `listen` and starts the workers: `threads` general ones plus one for each
    /// caller the fleet lets wait on routers (`FleetSettings::max_waiters_total`), so
    /// waiting callers never take the threads that serve everything else.
    pub fn start(
        listen: SocketAddr,
        threads: usize,
        state: Arc<AppState>,
    ) -> std::io::Result<HttpServer> {
        let cannot_listen = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"))
        };
        let socket = listener(listen).map_err(cannot_listen)?;
        let local_addr = socket.local_addr().unwrap_or(listen);
        let first = socket.try_clone().map_err(cannot_listen)?;
        let backlog = BacklogWatch::open(&socket);
        if backlog.is_none() {
            log::debug!("http: cannot read the accept queue from /proc; a silent accept-thread death goes unnoticed");
        }
        let server = tiny_http::Server::from_listener(first, None)
            .map_err(|e| std::io::Error::other(format!("cannot listen on {listen}: {e}")))?;
        let edge = Arc::new(Edge {
            listener: Mutex::new(Some(socket)),
            current: RwLock::new(Arc::new(Generation {
                number: 0,
                server: Arc::new(server),
            })),
            old: RwLock::new(Vec::new()),
            failed: Mutex::new(None),
            healing: AtomicBool::new(false),
            rebuilt_at: Mutex::new(None),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            done: AtomicBool::new(false),
            heals: AtomicU64::new(0),
            workers: AtomicUsize::new(0),
        });
        watch_tiny_http_panics(&edge);
        let cannot_start = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot start HTTP thread: {e}"))
        };
        let supervisor = {
            let edge = Arc::clone(&edge);
            std::thread::Builder::new()
                .name("http-edge".into())
                .spawn(move || edge.supervise(backlog))
                .map_err(cannot_start)?
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let next_id = Arc::new(AtomicU64::new(1));
        let total = threads.max(1) + state.fleet.settings().max_waiters_total;
        edge.workers.store(total, Ordering::SeqCst);
        let mut handles = Vec::with_capacity(total);
        for n in 0..total {
            let edge = Arc::clone(&edge);
            let state = Arc::clone(&state);
            let in_flight = Arc::clone(&in_flight);
            let next_id = Arc::clone(&next_id);
            let handle = std::thread::Builder::new()
                .name(format!("http-{n}"))
                .spawn(move || worker(&edge, &state, &in_flight, &next_id))
                .map_err(cannot_start)?;
            handles.push(handle);
        }
        Ok(HttpServer {
            edge,
            state,
            threads: handles,
            supervisor: Some(supervisor),
            in_flight,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// A handle another thread can keep to ask `accepting` (e.g. a systemd watchdog).
    pub fn probe(&self) -> EdgeProbe {
        EdgeProbe(Arc::clone(&self.edge))
    }

    /// Stops accepting at once (the listening socket is shut, new connections are refused),
    /// lets in-flight requests finish for half of `bound`, then ends the waits on routers
    /// (`Fleet::release_waiters`: those callers get 503) and answers every request still
    /// queued with 503 + `Retry-After`. Returns within `bound` plus a few milliseconds.
    pub fn shutdown(mut self, bound: Duration) {
        let started = Instant::now();
        self.edge.stopping.store(true, Ordering::SeqCst);
        self.edge.wake.notify_all();
        if let Some(socket) = self
            .edge
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            // Wakes every accept thread (EINVAL) and closes the backlog; all servers share
            // this one socket.
            let _ = SockRef::from(&socket).shutdown(Shutdown::Both);
        }
        let wait_in_flight = |until: Instant| {
            while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_in_flight(started + bound / 2);
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            log::info!(
                "http: {} request(s) still waiting on routers at shutdown: answering them 503",
                self.in_flight.load(Ordering::SeqCst)
            );
        }
        self.state.fleet.release_waiters();
        wait_in_flight(started + bound);
        // Workers answer 503 to whatever is still queued; give late arrivals from kept-alive
        // connections a moment, then let the workers go.
        std::thread::sleep(POLL * 2);
        self.edge.done.store(true, Ordering::SeqCst);
        let current = self.edge.current();
        for _ in 0..self.threads.len() {
            current.server.unblock();
        }
        let deadline = (started + bound).max(Instant::now() + POLL * 2);
        for thread in self.threads.drain(..) {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
        let left = self.in_flight.load(Ordering::SeqCst);
        if left > 0 {
            log::warn!("{left} request(s) still running at shutdown");
        }
    }
}

fn worker(edge: &Edge, state: &AppState, in_flight: &AtomicUsize, next_id: &AtomicU64) {
    let handle = |request: tiny_http::Request| {
        in_flight.fetch_add(1, Ordering::SeqCst);
        if edge.stopping.load(Ordering::SeqCst) {
            refuse_stopping(request, next_id);
        } else {
            serve_one(request, state, next_id);
        }
        in_flight.fetch_sub(1, Ordering::SeqCst);
    };
    loop {
        let old = edge.old();
        for server in &old {
            while let Ok(Some(request)) = server.try_recv() {
                handle(request);
            }
        }
        let wait = if old.is_empty() { IDLE_POLL } else { POLL };
        let generation = edge.current();
        match generation.server.recv_timeout(wait) {
            Ok(Some(request)) => handle(request),
            Ok(None) => {}
            Err(e) => {
                if !edge.stopping.load(Ordering::SeqCst) {
                    edge.report_failure(generation.number, e.to_string());
                }
            }
        }
        if edge.done.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Answers a request taken during shutdown: 503 with `Retry-After`, never tiny_http's
/// bare 500 for a dropped request.
fn refuse_stopping(request: tiny_http::Request, next_id: &AtomicU64) {
    let request_id = next_id.fetch_add(1, Ordering::Relaxed);
    let mut error = ApiError::new(
        503,
        "shutting_down",
        "the engine is stopping; retry in a moment",
    );
    error.retry_after = Some(STOPPING_RETRY_AFTER);
    let method = request.method().as_str().to_owned();
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    write_response(request, ApiResponse::from_error(&error), request_id, None);
    log::info!("req={request_id} {method} {path} 503 (stopping)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_keepalive_and_nodelay() {
        let socket = listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = std::net::TcpStream::connect(socket.local_addr().unwrap()).unwrap();
        let (accepted, _) = socket.accept().unwrap();
        let accepted = SockRef::from(&accepted);
        assert!(accepted.keepalive().unwrap());
        assert_eq!(accepted.keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(accepted.keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(accepted.keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        assert!(accepted.nodelay().unwrap());
        drop(client);
    }

    #[test]
    fn raising_the_file_limit_never_lowers_it() {
        let (before, after) = raise_nofile_limit().unwrap();
        assert!(after >= before);
        assert_eq!(raise_nofile_limit().unwrap(), (after, after));
    }
}
