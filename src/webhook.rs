//! Webhook delivery: a bounded queue and one thread that POSTs signed JSON events to the
//! app, with retries. The only module importing `ureq`.
//!
//! In scope: the event body and headers (HMAC-SHA256 `Signature` as Laravel's
//! `spatie/laravel-webhook-client` verifies by default), event ids, the delivery thread with
//! timeouts and exponential backoff, drop/give-up accounting and a bounded shutdown.
//! Out of scope: deciding when an event happens (the fleet does) and reading configuration
//! from the environment (`main` does).
//!
//! Invariants: [`WebhookSender::send`] never blocks (a full queue drops the event, counts it
//! and logs at most once per second), so a slow or dead receiver cannot stall a router or HTTP
//! thread; every event handed to `send` ends up counted exactly once as delivered, failed
//! (gave up) or dropped; every request has a connect and an overall timeout; retries of one
//! event carry the same id, body and signature, so the receiver can de-duplicate on
//! `X-NetEngine-Delivery`.
//!
//! Event ids look like `019ad0c3a1f0-5be2c4a9-000001`: the Unix time in milliseconds (12
//! lower-case hex digits, so ids sort by creation time), a random tag drawn once per process
//! (8 hex digits, so two runs never share ids even within one millisecond) and a per-process
//! sequence number (at least 6 hex digits). They are unique across restarts.

use crate::model::{rfc3339, ActiveSession, RouterId};
use crate::rng::Rng;
use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender, TrySendError};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Response bodies are read (so the connection can be reused) up to this many bytes.
const RESPONSE_BODY_LIMIT: u64 = 64 * 1024;
/// At most one "queue full" log line per this interval.
const DROP_LOG_INTERVAL_MS: u64 = 1000;
/// Backoff waits vary by up to this fraction either way, so many engines restarted together
/// do not retry in lock-step.
const BACKOFF_JITTER: f64 = 0.2;
const NEVER: u64 = u64::MAX;

/// Where and how to deliver webhooks. [`WebhookConfig::new`] gives production defaults.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL that receives the POSTs (`WEBHOOK_URL`).
    pub url: String,
    /// HMAC key for the `Signature` header (`WEBHOOK_SECRET`).
    pub secret: String,
    /// Events waiting for delivery before new ones are dropped (at least 1).
    pub queue_capacity: usize,
    /// Attempts per event, the first one included (at least 1).
    pub max_attempts: u32,
    /// Limit for connecting and, separately, for the whole request.
    pub request_timeout: Duration,
    /// Wait before the first retry; doubled for each further retry.
    pub backoff_base: Duration,
    /// Longest wait between two attempts.
    pub backoff_max: Duration,
}

impl WebhookConfig {
    /// Defaults: 1024 queued events, 5 attempts, 5 s timeouts, backoff 1 s doubling up to 30 s.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret: secret.into(),
            queue_capacity: 1024,
            max_attempts: 5,
            request_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<hidden>")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_attempts", &self.max_attempts)
            .field("request_timeout", &self.request_timeout)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

/// Why webhooks could not start.
#[derive(Debug)]
pub enum WebhookError {
    /// The URL is not `http://host...` or `https://host...`.
    BadUrl(String),
    /// The delivery thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::BadUrl(url) => write!(
                f,
                "webhook url must start with http:// or https://: {url:?}"
            ),
            WebhookError::Spawn(_) => f.write_str("cannot start the webhook thread"),
        }
    }
}

impl std::error::Error for WebhookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookError::BadUrl(_) => None,
            WebhookError::Spawn(error) => Some(error),
        }
    }
}

/// What happened; the `event` field of the body and the `X-NetEngine-Event` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A router's API session logged in (first time or after a loss).
    RouterUp,
    /// A router's API session was lost or could not be set up; `data.error` says why.
    RouterDown,
    /// A PPP session appeared between two polls of `/ppp/active`.
    SessionUp,
    /// A PPP session disappeared between two polls of `/ppp/active`.
    SessionDown,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RouterUp => "router.up",
            EventKind::RouterDown => "router.down",
            EventKind::SessionUp => "session.up",
            EventKind::SessionDown => "session.down",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to deliver. Id and timestamp are added by [`WebhookSender::send`].
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub router_id: RouterId,
    /// The router's address as configured.
    pub host: String,
    /// Event details; an object.
    pub data: serde_json::Value,
}

impl Event {
    /// `router.up`; `data` is e.g. `{"name": .., "identity": .., "version": ..}`.
    pub fn router_up(router_id: RouterId, host: &str, data: serde_json::Value) -> Self {
        Event {
            kind: EventKind::RouterUp,
            router_id,
            host: host.to_string(),
            data,
        }
    }

    /// `router.down` with `data = {"error": error}`.
    pub fn router_down(router_id: RouterId, host: &str, error: &str) -> Self {
        Event {
            kind: EventKind::RouterDown,
            router_id,
            host: host.to_string(),
            data: serde_json::json!({ "error": error }),
        }
    }

    /// `session.up` with the session as `data` (see [`session_data`]).
    pub fn session_up(router_id: RouterId, host: &str, session: &ActiveSession) -> Self {
        Event {
            kind: EventKind::SessionUp,
            router_id,
            host: host.to_string(),
            data: session_data(session),
        }
    }

    /// `session.down` with the session as last seen as `data` (see [`session_data`]).
    pub fn session_down(router_id: RouterId, host: &str, session: &ActiveSession) -> Self {
        Event {
            kind: EventKind::SessionDown,
            router_id,
            host: host.to_string(),
            data: session_data(session),
        }
    }
}

/// `{"name", "address", "caller_id", "service", "uptime"}`, the fields of
/// `/api/v1/monitoring/targets`; empty router fields become `null`.
pub fn session_data(session: &ActiveSession) -> serde_json::Value {
    let optional = |text: &str| {
        if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(text.to_string())
        }
    };
    serde_json::json!({
        "name": session.name.as_str(),
        "address": optional(&session.address),
        "caller_id": optional(&session.caller_id),
        "service": optional(&session.service),
        "uptime": optional(&session.uptime),
    })
}

/// Lower-case hex HMAC-SHA256 of `body` keyed with `secret`: the `Signature` header.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts keys of any length");
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    hex
}

/// Delivery counters, readable from any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events the receiver answered with 2xx.
    pub delivered: u64,
    /// Events given up after the last attempt (or at shutdown).
    pub failed: u64,
    /// Events never queued (queue full or closed) or left in the queue at shutdown.
    pub dropped: u64,
    /// Attempts after a failed first one.
    pub retried: u64,
    /// Events waiting now.
    pub queue_depth: usize,
}

/// What [`WebhookSender::send`] did with an event. Nothing for the caller to handle: drops
/// are already counted and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for delivery under this event id.
    Queued(String),
    /// The queue was full; the event was dropped.
    QueueFull,
    /// Webhooks are shutting down; the event was dropped.
    Closed,
}

struct Shared {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    accepting: AtomicBool,
    drops_not_logged: AtomicU64,
    last_drop_log_ms: AtomicU64,
    started: Instant,
    queue_capacity: usize,
    process_tag: u32,
    sequence: AtomicU64,
}

impl Shared {
    fn stats(&self, queue_depth: usize) -> WebhookStats {
        WebhookStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            queue_depth,
        }
    }

    fn next_event_id(&self, now: SystemTime) -> String {
        let millis = now
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_millis())
            .unwrap_or(0);
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{millis:012x}-{:08x}-{sequence:06x}", self.process_tag)
    }

    /// Counts a dropped event and logs the drops at most once per interval.
    fn record_drop(&self, reason: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.drops_not_logged.fetch_add(1, Ordering::Relaxed);
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last = self.last_drop_log_ms.load(Ordering::Relaxed);
        let due = last == NEVER || now_ms >= last.saturating_add(DROP_LOG_INTERVAL_MS);
        if due
            && self
                .last_drop_log_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let count = self.drops_not_logged.swap(0, Ordering::Relaxed);
            log::warn!(
                "webhook {reason}: dropped {count} event(s) since the last report (queue capacity {})",
                self.queue_capacity
            );
        }
    }
}

/// An event with its id and creation time, waiting in the queue.
struct Queued {
    id: String,
    event: Event,
    created: SystemTime,
}

/// The cheap, cloneable handle router and HTTP threads use to emit events.
#[derive(Clone)]
pub struct WebhookSender {
    queue: Sender<Queued>,
    shared: Arc<Shared>,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("stats", &self.stats())
            .finish()
    }
}

impl WebhookSender {
    /// Queues `event` without ever blocking. Full queue or shutdown: dropped and counted.
    pub fn send(&self, event: Event) -> SendOutcome {
        if !self.shared.accepting.load(Ordering::Acquire) {
            self.shared.record_drop("shutting down");
            return SendOutcome::Closed;
        }
        let created = SystemTime::now();
        let id = self.shared.next_event_id(created);
        let queued = Queued {
            id: id.clone(),
            event,
            created,
        };
        match self.queue.try_send(queued) {
            Ok(()) => SendOutcome::Queued(id),
            Err(TrySendError::Full(_)) => {
                self.shared.record_drop("queue full");
                SendOutcome::QueueFull
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.record_drop("thread stopped");
                SendOutcome::Closed
            }
        }
    }

    pub fn stats(&self) -> WebhookStats {
        self.shared.stats(self.queue.len())
    }
}

/// Owns the delivery thread. Drop order matters: [`WebhookWorker::shutdown`] (or dropping
/// this) stops accepting events, flushes within a bound and joins the thread.
pub struct WebhookWorker {
    thread: Option<JoinHandle<()>>,
    stop: Sender<Instant>,
    queue: Receiver<Queued>,
    shared: Arc<Shared>,
}

impl fmt::Debug for WebhookWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookWorker")
            .field("stats", &self.stats())
            .finish()
    }
}

impl WebhookWorker {
    pub fn stats(&self) -> WebhookStats {
        self.shared.stats(self.queue.len())
    }

    /// Stops accepting events, keeps delivering what is queued for at most `flush_within`
    /// (no retry is started past that point; what is left is counted as dropped), then joins
    /// the thread. A request already on the wire may add up to one `request_timeout`.
    pub fn shutdown(mut self, flush_within: Duration) -> WebhookStats {
        self.stop_and_join(flush_within);
        self.stats()
    }

    fn stop_and_join(&mut self, flush_within: Duration) {
        self.shared.accepting.store(false, Ordering::Release);
        // The thread may already be gone (every sender dropped); then nobody listens.
        let _ = self.stop.try_send(Instant::now() + flush_within);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("webhook thread panicked");
            }
            let stats = self.stats();
            log::info!(
                "webhooks stopped: {} delivered, {} failed, {} dropped, {} retries",
                stats.delivered,
                stats.failed,
                stats.dropped,
                stats.retried
            );
        }
    }
}

impl Drop for WebhookWorker {
    fn drop(&mut self) {
        self.stop_and_join(Duration::ZERO);
    }
}

/// Starts the delivery thread (`webhook`).
pub fn start(config: WebhookConfig) -> Result<(WebhookSender, WebhookWorker), WebhookError> {
    let lower = config.url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    if !matches!(rest, Some(host) if !host.is_empty() && !host.starts_with('/')) {
        return Err(WebhookError::BadUrl(config.url));
    }
    let queue_capacity = config.queue_capacity.max(1);
    let (queue_sender, queue_receiver) = bounded(queue_capacity);
    let (stop_sender, stop_receiver) = bounded(1);
    let mut rng = Rng::from_entropy();
    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        retried: AtomicU64::new(0),
        accepting: AtomicBool::new(true),
        drops_not_logged: AtomicU64::new(0),
        last_drop_log_ms: AtomicU64::new(NEVER),
        started: Instant::now(),
        queue_capacity,
        process_tag: rng.next_u32(),
        sequence: AtomicU64::new(0),
    });
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(config.request_timeout)
        .timeout(config.request_timeout)
        .redirects(0)
        .user_agent(&format!("net-engine/{}", env!("CARGO_PKG_VERSION")))
        .build();
    let actor = DeliveryActor {
        agent,
        url: config.url,
        secret: config.secret,
        max_attempts: config.max_attempts.max(1),
        backoff_base: config.backoff_base,
        backoff_max: config.backoff_max.max(config.backoff_base),
        queue: queue_receiver.clone(),
        stop: stop_receiver,
        deadline: None,
        shared: shared.clone(),
        rng,
    };
    let thread = std::thread::Builder::new()
        .name("webhook".to_string())
        .stack_size(256 * 1024)
        .spawn(move || actor.run())
        .map_err(WebhookError::Spawn)?;
    let sender = WebhookSender {
        queue: queue_sender,
        shared: shared.clone(),
    };
    let worker = WebhookWorker {
        thread: Some(thread),
        stop: stop_sender,
        queue: queue_receiver,
        shared,
    };
    Ok((sender, worker))
}

/// Why one delivery attempt failed.
#[derive(Debug)]
enum AttemptError {
    /// The receiver answered, but not with 2xx.
    Status(u16),
    /// No answer: DNS, connect, TLS, timeout or a broken connection.
    Transport(String),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Status(status) => write!(f, "http status {status}"),
            AttemptError::Transport(reason) => write!(f, "transport: {reason}"),
        }
    }
}

impl std::error::Error for AttemptError {}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'static str,
    router_id: u64,
    host: &'a str,
    data: &'a serde_json::Value,
    timestamp: String,
}

/// The delivery thread's state; events are delivered one at a time, in queue order.
struct DeliveryActor {
    agent: ureq::Agent,
    url: String,
    secret: String,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    queue: Receiver<Queued>,
    stop: Receiver<Instant>,
    /// Set once shutdown was asked for: deliver until then, start nothing after.
    deadline: Option<Instant>,
    shared: Arc<Shared>,
    rng: Rng,
}

impl DeliveryActor {
    fn run(mut self) {
        loop {
            if let Some(deadline) = self.deadline {
                self.flush(deadline);
                return;
            }
            select! {
                recv(self.queue) -> message => match message {
                    Ok(queued) => self.deliver(queued),
                    // Every sender is gone and the queue is empty.
                    Err(_) => return,
                },
                recv(self.stop) -> message => {
                    self.deadline = Some(message.unwrap_or_else(|_| Instant::now()));
                },
            }
        }
    }

    /// Delivers what is queued until `deadline`, then counts the rest as dropped.
    fn flush(&mut self, deadline: Instant) {
        while let Ok(queued) = self.queue.try_recv() {
            if Instant::now() >= deadline {
                let left = 1 + self.drain_queue();
                self.shared.dropped.fetch_add(left, Ordering::Relaxed);
                log::warn!("webhook shutdown: dropped {left} undelivered event(s)");
                return;
            }
            self.deliver(queued);
        }
    }

    fn drain_queue(&self) -> u64 {
        let mut count = 0;
        while self.queue.try_recv().is_ok() {
            count += 1;
        }
        count
    }

    fn deliver(&mut self, queued: Queued) {
        let body = Body {
            id: &queued.id,
            event: queued.event.kind.as_str(),
            router_id: queued.event.router_id.0,
            host: &queued.event.host,
            data: &queued.event.data,
            timestamp: rfc3339(queued.created),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(error) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "webhook {} {}: cannot encode: {error}",
                    queued.id,
                    queued.event.kind
                );
                return;
            }
        };
        let signature = sign(self.secret.as_bytes(), &body);
        let mut attempts = 0;
        let last_error = loop {
            attempts += 1;
            let error = match self.attempt(&queued, &body, &signature) {
                Ok(()) => {
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                    log::debug!("webhook {} {} delivered", queued.id, queued.event.kind);
                    return;
                }
                Err(error) => error,
            };
            if attempts >= self.max_attempts || !self.wait_before_retry(attempts) {
                break error;
            }
            self.shared.retried.fetch_add(1, Ordering::Relaxed);
        };
        self.shared.failed.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "webhook gave up: id={} event={} attempts={attempts} last error: {last_error}",
            queued.id,
            queued.event.kind
        );
    }

    fn attempt(&self, queued: &Queued, body: &[u8], signature: &str) -> Result<(), AttemptError> {
        let result = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("Signature", signature)
            .set("X-NetEngine-Event", queued.event.kind.as_str())
            .set("X-NetEngine-Delivery", &queued.id)
            .send_bytes(body);
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                drain_body(response);
                return Err(AttemptError::Status(status));
            }
            Err(ureq::Error::Transport(transport)) => {
                return Err(AttemptError::Transport(transport.to_string()));
            }
        };
        let status = response.status();
        drain_body(response);
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(AttemptError::Status(status))
        }
    }

    /// Sleeps the backoff after attempt number `attempts`; false when shutdown's deadline
    /// leaves no time for it (then the event is given up at once).
    fn wait_before_retry(&mut self, attempts: u32) -> bool {
        let doubling = 2u32.saturating_pow(attempts.saturating_sub(1));
        let backoff = self
            .backoff_base
            .saturating_mul(doubling)
            .min(self.backoff_max);
        let factor = 1.0 + BACKOFF_JITTER * (2.0 * self.rng.unit() - 1.0);
        let wake_at = Instant::now() + backoff.mul_f64(factor);
        loop {
            if matches!(self.deadline, Some(deadline) if wake_at > deadline) {
                return false;
            }
            let now = Instant::now();
            if now >= wake_at {
                return true;
            }
            // Sleeping on the stop channel lets shutdown cut a long backoff short.
            match self.stop.recv_timeout(wake_at - now) {
                Ok(deadline) => self.deadline = Some(deadline),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => {
                    self.deadline = Some(Instant::now());
                }
            }
        }
    }
}

/// Reads (a bounded part of) the response body so ureq can reuse the connection.
fn drain_body(response: ureq::Response) {
    let mut sink = Vec::new();
    let _ = response
        .into_reader()
        .take(RESPONSE_BODY_LIMIT)
        .read_to_end(&mut sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_rfc_4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sign(b"", b"").len(), 64);
    }

    #[test]
    fn event_kinds_have_their_wire_names() {
        let names: Vec<&str> = [
            EventKind::RouterUp,
            EventKind::RouterDown,
            EventKind::SessionUp,
            EventKind::SessionDown,
        ]
        .iter()
        .map(|kind| kind.as_str())
        .collect();
        assert_eq!(
            names,
            ["router.up", "router.down", "session.up", "session.down"]
        );
    }

    #[test]
    fn start_refuses_urls_that_are_not_http() {
        for url in [
            "",
            "ftp://x",
            "http://",
            "https:///path",
            "localhost:8000/hook",
        ] {
            let result = start(WebhookConfig::new(url, "s"));
            assert!(matches!(result, Err(WebhookError::BadUrl(_))), "{url}");
        }
    }

    #[test]
    fn event_ids_are_unique_sortable_and_documented_shape() {
        let (sender, worker) = start(WebhookConfig::new("http://127.0.0.1:9/hook", "s")).unwrap();
        let now = SystemTime::now();
        let first = sender.shared.next_event_id(now);
        let second = sender.shared.next_event_id(now + Duration::from_millis(1));
        let parts: Vec<&str> = first.split('-').collect();
        assert_eq!(parts.len(), 3, "{first}");
        assert_eq!((parts[0].len(), parts[1].len(), parts[2].len()), (12, 8, 6));
        assert!(first
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(first < second);
        drop(worker);
    }

    #[test]
    fn session_data_has_the_monitoring_target_fields() {
        let session = ActiveSession {
            name: "alice".into(),
            address: "10.10.0.25".into(),
            service: "pppoe".into(),
            uptime: "1h".into(),
            ..ActiveSession::default()
        };
        let event = Event::session_up(RouterId(3), "10.0.0.1", &session);
        assert_eq!(
            event.data,
            serde_json::json!({"name": "alice", "address": "10.10.0.25", "caller_id": null,
                               "service": "pppoe", "uptime": "1h"})
        );
        let down = Event::router_down(RouterId(3), "10.0.0.1", "connection refused");
        assert_eq!(
            down.data,
            serde_json::json!({"error": "connection refused"})
        );
        assert_eq!(down.kind.to_string(), "router.down");
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let text = format!("{:?}", WebhookConfig::new("http://x", "hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
    }
}
