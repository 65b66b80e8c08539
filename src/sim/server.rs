//! The network side of one simulated router: its listener (one small accept thread), one
//! thread per connection, login, tags, `/cancel`, subscriptions, latency, round trip and faults.
//!
//! Blocking `std::net` only. A connection thread reads with a timeout no longer than the
//! next subscription tick, the next reply due (`rtt`) or, while it has a `listen`, the next
//! change the data makes by itself (a redial, churn), so it needs no helper thread; `stop()`
//! shuts every socket down, which wakes each reader at once. `listen`/`follow` rows are
//! pushed by whoever changes the data (see `push`). Replies to one command are written
//! with one `write_all`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::fault::Fault;
use super::link::{Control, InFlight};
use super::menu::{self, Context, Execution, Out, Subscription};
use super::push::{encode_out, publish, Outbox, Pusher};
use super::state::SimState;
use super::trap::SimTrap;
use crate::rng::Rng;
use crate::routeros::{login, Decoder, ParsedCommand, Sentence};

/// Stack size of accept and connection threads: 1000 routers must stay cheap.
const THREAD_STACK: usize = 256 * 1024;
/// A peer that does not read its replies for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection thread sleeps in `read` when no subscription is due.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Most silent (held, never read) connections kept per router; older ones are closed.
const MAX_HELD: usize = 1024;
/// With a round trip set, a connection with a `listen` looks at its outbox this often, for
/// rows other threads queued behind the link's delay.
const PUSH_POLL: Duration = Duration::from_millis(5);
/// A connection with a `listen` looks this often for changes the data makes by itself that
/// another thread scheduled while it slept (a kick's redial): no push is later than this.
const EVENT_POLL: Duration = Duration::from_millis(50);

/// Locks a mutex even if a panicking thread poisoned it: the data stays usable for a simulator.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Listening {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Everything the accept thread, the connection threads and the handles share.
pub(crate) struct RouterShared {
    index: usize,
    addr: SocketAddr,
    seed: u64,
    login_name: Vec<u8>,
    login_password: Vec<u8>,
    legacy_login: bool,
    state: Mutex<SimState>,
    control: Mutex<Control>,
    listening: Mutex<Option<Listening>>,
    connections: Mutex<HashMap<u64, TcpStream>>,
    held: Mutex<Vec<TcpStream>>,
    /// Every running `listen`/`follow`, on any connection.
    pushers: Mutex<Vec<Pusher>>,
    next_connection: AtomicU64,
    live_threads: AtomicUsize,
    /// The most commands ever in flight on one connection (see `link`).
    most_in_flight: AtomicUsize,
}

/// Settings for one router, given by the simulator.
pub(crate) struct RouterSetup {
    pub index: usize,
    pub bind: SocketAddr,
    pub seed: u64,
    pub login: (String, String),
    pub legacy_login: bool,
    pub latency: Duration,
    pub rtt: Duration,
    pub fault: Option<Fault>,
    pub state: SimState,
}

/// A handle on one simulated router. Cheap to clone; every clone controls the same router.
#[derive(Clone)]
pub struct SimRouter {
    shared: Arc<RouterShared>,
}

impl std::fmt::Debug for SimRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRouter")
            .field("index", &self.shared.index)
            .field("addr", &self.shared.addr)
            .finish()
    }
}

impl SimRouter {
    /// Binds the listener and starts accepting.
    pub(crate) fn start(setup: RouterSetup) -> io::Result<SimRouter> {
        let listener = TcpListener::bind(setup.bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(RouterShared {
            index: setup.index,
            addr,
            seed: setup.seed,
            login_name: setup.login.0.into_bytes(),
            login_password: setup.login.1.into_bytes(),
            legacy_login: setup.legacy_login,
            state: Mutex::new(setup.state),
            control: Mutex::new(Control {
                fault: setup.fault,
                latency: setup.latency,
                rtt: setup.rtt,
            }),
            listening: Mutex::new(None),
            connections: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
            pushers: Mutex::new(Vec::new()),
            next_connection: AtomicU64::new(0),
            live_threads: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let router = SimRouter { shared };
        router.spawn_accept(listener)?;
        Ok(router)
    }

    /// Where this router listens (the same address across `stop`/`restart`).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// This router's 0-based index in the simulator.
    pub fn index(&self) -> usize {
        self.shared.index
    }

    /// Sets or clears the fault; it applies from the next command (see `Fault`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        lock(&self.shared.control).fault = fault;
    }

    pub fn fault(&self) -> Option<Fault> {
        lock(&self.shared.control).fault
    }

    /// Delay before each reply (login included; not between subscription rows).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.control).latency = latency;
    }

    /// The link's round trip: every reply leaves this long after its command was processed,
    /// replies to pipelined commands overlapping (pushes take half of it). Applies from the
    /// next command.
    pub fn set_rtt(&self, rtt: Duration) {
        lock(&self.shared.control).rtt = rtt;
    }

    /// The most commands one connection ever had in flight at once (received, reply not
    /// yet sent): 1 for a client that waits for each answer, more for one that pipelines.
    pub fn max_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// Running `listen`/`print =follow=` streams, on every connection.
    pub fn listen_count(&self) -> usize {
        lock(&self.shared.pushers).len()
    }

    /// True while the listener accepts connections.
    pub fn is_running(&self) -> bool {
        lock(&self.shared.listening).is_some()
    }

    /// Open connections (served and silently held).
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.connections).len() + lock(&self.shared.held).len()
    }

    /// The router dies: the listener closes and every connection is cut. Idempotent.
    pub fn stop(&self) {
        let listening = lock(&self.shared.listening).take();
        if let Some(listening) = listening {
            listening.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept with a connection of our own.
            let _ =
                TcpStream::connect_timeout(&wake_address(self.shared.addr), Duration::from_secs(1));
            let _ = listening.thread.join();
        }
        let connections: Vec<TcpStream> = lock(&self.shared.connections)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for stream in connections {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let held: Vec<TcpStream> = lock(&self.shared.held).drain(..).collect();
        for stream in held {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The router comes back on the same address. Its data is kept.
    pub fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.shared.addr)?;
        self.spawn_accept(listener)
    }

    /// Reads the router's data (after catching up with churn and timeouts).
    pub fn with_state<R>(&self, f: impl FnOnce(&SimState) -> R) -> R {
        let mut state = lock(&self.shared.state);
        state.advance();
        let result = f(&state);
        self.shared.publish(&mut state);
        result
    }

    /// Changes the router's data; every `listen` hears of the change before this returns.
    pub fn with_state_mut<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut state = lock(&self.shared.state);
        state.advance();
        let result = f(&mut state);
        state.touch_sessions();
        self.shared.publish(&mut state);
        result
    }

    /// Waits up to `timeout` for this router's connection threads to finish (after `stop`).
    pub(crate) fn wait_for_threads(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.shared.live_threads.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn spawn_accept(&self, listener: TcpListener) -> io::Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let stop_flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("sim-{}-accept", self.shared.index + 1))
            .stack_size(THREAD_STACK)
            .spawn(move || accept_loop(shared, listener, stop_flag))?;
        *lock(&self.shared.listening) = Some(Listening { stop, thread });
        Ok(())
    }
}

impl RouterShared {
    /// Pushes the changes to every `listen` (call with the state locked).
    fn publish(&self, state: &mut SimState) {
        let control = *lock(&self.control);
        publish(
            state,
            &self.pushers,
            control.rtt / 2,
            control.mutes_pushes(),
        );
    }

    /// Forgets a connection's pushers (it closed, hung or went silent).
    fn drop_pushers(&self, connection: u64) {
        lock(&self.pushers).retain(|p| p.connection != connection);
    }
}

fn wake_address(addr: SocketAddr) -> SocketAddr {
    let mut wake = addr;
    if addr.ip().is_unspecified() {
        wake.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    wake
}

fn accept_loop(shared: Arc<RouterShared>, listener: TcpListener, stop: Arc<AtomicBool>) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _peer)) => accept_one(&shared, stream),
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                log::warn!("sim-{}: accept failed: {error}", shared.index + 1);
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn accept_one(shared: &Arc<RouterShared>, stream: TcpStream) {
    if lock(&shared.control).fault == Some(Fault::Silent) {
        hold(shared, stream);
        return;
    }
    let number = shared.next_connection.fetch_add(1, Ordering::SeqCst);
    let (Ok(registered), Ok(writer)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    lock(&shared.connections).insert(number, registered);
    shared.live_threads.fetch_add(1, Ordering::SeqCst);
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("sim-{}-conn-{number}", shared.index + 1))
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let connection = Connection::new(Arc::clone(&thread_shared), stream, writer, number);
            connection.run();
            thread_shared.drop_pushers(number);
            lock(&thread_shared.connections).remove(&number);
            thread_shared.live_threads.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(error) = spawned {
        log::warn!(
            "sim-{}: cannot start a connection thread: {error}",
            shared.index + 1
        );
        lock(&shared.connections).remove(&number);
        shared.live_threads.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps a socket open without ever reading it (the `silent` fault).
fn hold(shared: &RouterShared, stream: TcpStream) {
    let mut held = lock(&shared.held);
    if held.len() >= MAX_HELD {
        let oldest = held.remove(0);
        let _ = oldest.shutdown(Shutdown::Both);
    }
    held.push(stream);
}

/// What the connection does after a sentence.
enum Flow {
    Continue,
    /// Close the socket.
    Close,
    /// Keep the socket open but never touch it again (`silent`).
    Hold,
}

struct Running {
    tag: Option<Vec<u8>>,
    started: u64,
    subscription: Subscription,
    next_due: Instant,
}

struct Connection {
    shared: Arc<RouterShared>,
    stream: TcpStream,
    decoder: Decoder,
    logged_in: bool,
    challenge: Option<Vec<u8>>,
    /// Sentences received on this connection (the fault counter).
    received: u32,
    /// A `hang-after` connection never answers again.
    hung: bool,
    subscriptions: Vec<Running>,
    rng: Rng,
    out: Vec<u8>,
    number: u64,
    /// Streams started on this connection (orders `/cancel`'s traps).
    streams_started: u64,
    /// When the replies being written leave (the command's processing end plus `rtt`).
    reply_due: Instant,
    outbox: Arc<Mutex<Outbox>>,
    in_flight: InFlight,
}

impl Connection {
    fn new(
        shared: Arc<RouterShared>,
        stream: TcpStream,
        writer: TcpStream,
        number: u64,
    ) -> Connection {
        let rng = Rng::new(
            shared.seed ^ (number + 1).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ shared.index as u64,
        );
        Connection {
            shared,
            stream,
            decoder: Decoder::new(),
            logged_in: false,
            challenge: None,
            received: 0,
            hung: false,
            subscriptions: Vec::new(),
            rng,
            out: Vec::new(),
            number,
            streams_started: 0,
            reply_due: Instant::now(),
            outbox: Arc::new(Mutex::new(Outbox::new(writer))),
            in_flight: InFlight::default(),
        }
    }

    fn run(mut self) {
        let _ = self.stream.set_nodelay(true);
        if self.stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
            return;
        }
        let mut buffer = [0u8; 4096];
        loop {
            let timeout = self.read_timeout();
            if self.stream.set_read_timeout(Some(timeout)).is_err() {
                return;
            }
            match self.stream.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    self.decoder.feed(&buffer[..n]);
                    loop {
                        match self.decoder.next_sentence() {
                            Ok(Some(sentence)) => match self.handle(sentence) {
                                Flow::Continue => {}
                                Flow::Close => return self.close(),
                                Flow::Hold => return self.hold(),
                            },
                            Ok(None) => break,
                            Err(error) => {
                                // A real router drops a connection it cannot frame.
                                log::debug!(
                                    "sim-{}: closing on codec error: {error}",
                                    self.shared.index + 1
                                );
                                return self.close();
                            }
                        }
                    }
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
            match self.run_due_subscriptions() {
                Flow::Continue => {}
                Flow::Close => return self.close(),
                Flow::Hold => return self.hold(),
            }
            self.catch_up_pushes();
            let mut outbox = lock(&self.outbox);
            outbox.flush_due(Instant::now());
            if outbox.broken {
                drop(outbox);
                return self.close();
            }
        }
    }

    fn close(self) {
        self.shared.drop_pushers(self.number);
        lock(&self.outbox).drain();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn hold(self) {
        self.shared.drop_pushers(self.number);
        lock(&self.outbox).discard();
        hold(&self.shared, self.stream);
    }

    fn has_pushers(&self) -> bool {
        lock(&self.shared.pushers)
            .iter()
            .any(|p| p.connection == self.number)
    }

    /// While this connection listens, changes the data makes by itself (a redial, churn,
    /// an address-list timeout) are pushed when they fall due, not at the next command.
    fn catch_up_pushes(&self) {
        if self.hung || !self.has_pushers() {
            return;
        }
        let mut state = lock(&self.shared.state);
        if state.next_event().is_some_and(|at| at <= Instant::now()) {
            state.advance();
        }
        self.shared.publish(&mut state);
    }

    fn read_timeout(&self) -> Duration {
        let now = Instant::now();
        let mut wake: Vec<Instant> = self.subscriptions.iter().map(|r| r.next_due).collect();
        wake.extend(lock(&self.outbox).next_due());
        if !self.hung && self.has_pushers() {
            wake.extend(lock(&self.shared.state).next_event());
            wake.push(now + EVENT_POLL);
            if !self.control().rtt.is_zero() {
                wake.push(now + PUSH_POLL);
            }
        }
        wake.into_iter()
            .map(|at| at.saturating_duration_since(now))
            .min()
            .unwrap_or(IDLE_READ_TIMEOUT)
            .clamp(Duration::from_millis(1), IDLE_READ_TIMEOUT)
    }

    fn control(&self) -> Control {
        *lock(&self.shared.control)
    }

    fn handle(&mut self, sentence: Sentence) -> Flow {
        self.received = self.received.saturating_add(1);
        lock(&self.shared.state).note_command(&sentence);
        let control = self.control();
        match control.fault {
            Some(Fault::Silent) => return Flow::Hold,
            Some(Fault::HangAfter(n)) if self.received > n => {
                self.hung = true;
                self.shared.drop_pushers(self.number);
            }
            Some(Fault::DropAfter(n)) if self.received > n => return Flow::Close,
            _ => {}
        }
        if self.hung {
            return Flow::Continue;
        }
        if !control.latency.is_zero() {
            thread::sleep(control.latency);
        }
        let now = Instant::now();
        self.reply_due = now + control.rtt;
        self.in_flight
            .arrived(self.reply_due, now, &self.shared.most_in_flight);
        if control.fault == Some(Fault::Garbage) {
            self.write_garbage();
            return self.flush();
        }
        let command = menu::with_empty_values(ParsedCommand::parse(&sentence));
        let tag = command.tag.clone().filter(|t| !t.is_empty());
        match command.path.as_slice() {
            b"/quit" => {
                self.write_fatal(b"session terminated on request");
                let _ = self.flush();
                Flow::Close
            }
            b"/login" => {
                let refuse = control.fault == Some(Fault::RefuseLogin);
                self.login(&command, tag.as_deref(), refuse);
                self.flush()
            }
            _ if !self.logged_in => {
                self.write_fatal(b"not logged in");
                let _ = self.flush();
                Flow::Close
            }
            b"/cancel" => {
                self.cancel(&command, tag.as_deref());
                self.flush()
            }
            _ => {
                // The data stays locked until the replies are queued and every `listen` has
                // heard of the change, so rows reach each stream in the order things happened.
                let shared = Arc::clone(&self.shared);
                let mut state = lock(&shared.state);
                let context = Context::for_version(&state.version);
                let execution = menu::execute(&mut state, &command, &context);
                let (outs, subscription) = match execution {
                    Execution::Replies(outs) => (outs, None),
                    Execution::Subscription(outs, subscription) => (outs, Some(subscription)),
                };
                for out in &outs {
                    self.write_out(out, tag.as_deref());
                }
                let flow = self.flush();
                if let Some(subscription) = subscription {
                    self.start_stream(&mut state, tag, subscription);
                }
                shared.publish(&mut state);
                flow
            }
        }
    }

    /// Keeps a stream running: a `listen`/`follow` joins the router's pushers, a monitor
    /// or `print =interval=` ticks on this connection's timer.
    fn start_stream(&mut self, state: &mut SimState, tag: Option<Vec<u8>>, sub: Subscription) {
        self.streams_started += 1;
        let started = self.streams_started;
        if sub.pushes_changes() {
            lock(&self.shared.pushers).push(Pusher {
                connection: self.number,
                tag,
                started,
                subscription: sub,
                seen: state.generation(),
                outbox: Arc::clone(&self.outbox),
                rng: Rng::new(self.rng.next_u64()),
            });
        } else {
            let next_due = Instant::now() + sub.interval;
            self.subscriptions.push(Running {
                tag,
                started,
                subscription: sub,
                next_due,
            });
        }
    }

    fn login(&mut self, command: &ParsedCommand, tag: Option<&[u8]>, refuse: bool) {
        let name = command.get("name");
        let legacy = self.shared.legacy_login;
        let failed = SimTrap {
            message: if legacy {
                b"cannot log in".to_vec()
            } else {
                b"invalid user name or password (6)".to_vec()
            },
            category: None,
        };
        let right_name = name == Some(self.shared.login_name.as_slice());
        if let Some(response) = command.get("response") {
            // The pre-6.43 MD5 answer. Modern routers (6.45.1+) no longer accept it.
            let challenge = self.challenge.take();
            let expected =
                challenge.map(|c| login::challenge_response(&self.shared.login_password, &c));
            let good = legacy
                && !refuse
                && right_name
                && expected.as_deref().map(str::as_bytes) == Some(response);
            self.finish_login(good, failed, tag);
            return;
        }
        let password = command.get("password");
        if legacy || password.is_none() {
            // Pre-6.43 routers ignore name and password and hand out a challenge; so does a
            // bare `/login` on later versions (routeros-api.md §4.1).
            let challenge: Vec<u8> = (0..16).map(|_| self.rng.next_u32() as u8).collect();
            let hex: String = challenge.iter().map(|b| format!("{b:02x}")).collect();
            self.challenge = Some(challenge);
            self.write_out(&Out::Done(Some(hex.into_bytes())), tag);
            return;
        }
        let good = !refuse && right_name && password == Some(self.shared.login_password.as_slice());
        self.finish_login(good, failed, tag);
    }

    fn finish_login(&mut self, good: bool, failed: SimTrap, tag: Option<&[u8]>) {
        if good {
            self.logged_in = true;
        } else {
            self.write_out(&Out::Trap(failed), tag);
        }
        self.write_out(&Out::Done(None), tag);
    }

    /// `/cancel [=tag=X]`: the target's `!trap interrupted`, then cancel's `!done`, then the
    /// target's `!done` (routeros-api.md §5). Without `=tag=` every running command stops.
    fn cancel(&mut self, command: &ParsedCommand, tag: Option<&[u8]>) {
        let target = command.get("tag").map(<[u8]>::to_vec);
        let hit = |stream_tag: &Option<Vec<u8>>| match &target {
            Some(target) => stream_tag.as_deref() == Some(target.as_slice()),
            None => true,
        };
        let (cancelled, kept): (Vec<Running>, Vec<Running>) =
            std::mem::take(&mut self.subscriptions)
                .into_iter()
                .partition(|running| hit(&running.tag));
        self.subscriptions = kept;
        let mut stopped: Vec<(u64, Option<Vec<u8>>)> = cancelled
            .into_iter()
            .map(|running| (running.started, running.tag))
            .collect();
        {
            // Once out of the registry, a pusher sends nothing more: the trap comes last.
            let mut pushers = lock(&self.shared.pushers);
            let number = self.number;
            pushers.retain(|p| {
                let stop = p.connection == number && hit(&p.tag);
                if stop {
                    stopped.push((p.started, p.tag.clone()));
                }
                !stop
            });
        }
        stopped.sort();
        for (_, stream_tag) in &stopped {
            self.write_out(&Out::Trap(SimTrap::interrupted()), stream_tag.as_deref());
        }
        self.write_out(&Out::Done(None), tag);
        for (_, stream_tag) in &stopped {
            self.write_out(&Out::Done(None), stream_tag.as_deref());
        }
    }

    fn run_due_subscriptions(&mut self) -> Flow {
        if self.hung || self.subscriptions.is_empty() {
            return Flow::Continue;
        }
        let now = Instant::now();
        if !self.subscriptions.iter().any(|r| r.next_due <= now) {
            return Flow::Continue;
        }
        let control = self.control();
        match control.fault {
            Some(Fault::Silent) => return Flow::Hold,
            Some(Fault::Garbage) => {
                for running in &mut self.subscriptions {
                    running.next_due = now + running.subscription.interval;
                }
                self.write_garbage();
                return self.flush();
            }
            _ => {}
        }
        let mut writes: Vec<(Option<Vec<u8>>, Vec<Out>)> = Vec::new();
        // A monitor's reading travels one way.
        self.reply_due = now + control.rtt / 2;
        {
            let shared = Arc::clone(&self.shared);
            let mut state = lock(&shared.state);
            let mut k = 0;
            while k < self.subscriptions.len() {
                let running = &mut self.subscriptions[k];
                if running.next_due > now {
                    k += 1;
                    continue;
                }
                let (mut outs, finished) = menu::tick(&mut state, &mut running.subscription);
                // Keep a steady cadence, but never try to catch up on missed ticks.
                running.next_due += running.subscription.interval;
                if running.next_due <= now {
                    running.next_due = now + running.subscription.interval;
                }
                if finished {
                    outs.push(Out::Done(None));
                    let running = self.subscriptions.remove(k);
                    writes.push((running.tag, outs));
                } else {
                    writes.push((running.tag.clone(), outs));
                    k += 1;
                }
            }
            // Ticking caught up with the clock: a `listen` may have news too.
            shared.publish(&mut state);
        }
        for (tag, outs) in writes {
            for out in &outs {
                self.write_out(out, tag.as_deref());
            }
        }
        self.flush()
    }

    /// Encodes one reply straight into the output buffer.
    fn write_out(&mut self, out: &Out, tag: Option<&[u8]>) {
        encode_out(out, tag, &mut self.rng, &mut self.out);
    }

    fn write_fatal(&mut self, reason: &[u8]) {
        Sentence::new(vec![b"!fatal".to_vec(), reason.to_vec()]).encode_into(&mut self.out);
    }

    fn write_garbage(&mut self) {
        // A first byte of 0xF8 or above is a reserved length prefix: no reader can go on.
        self.out.push(0xF8 | (self.rng.next_u32() as u8 & 0x07));
        let len = 15 + self.rng.below(49) as usize;
        for _ in 0..len {
            self.out.push(self.rng.next_u32() as u8);
        }
    }

    /// Queues the buffered replies for `reply_due` (written at once without a round trip).
    fn flush(&mut self) -> Flow {
        if self.out.is_empty() {
            return Flow::Continue;
        }
        let bytes = std::mem::take(&mut self.out);
        let mut outbox = lock(&self.outbox);
        outbox.send(bytes, self.reply_due);
        if outbox.broken {
            Flow::Close
        } else {
            Flow::Continue
        }
    }
}
