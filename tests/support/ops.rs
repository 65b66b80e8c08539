//! Helpers for the ops tests: a webhook receiver on 127.0.0.1:0 that answers by plan, a TCP
//! listener that accepts and never answers, polling with a deadline, and a watchdog.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A tiny_http server that records every request and answers with `status_for(n)` for the
/// n-th request (0-based).
pub struct WebhookReceiver {
    pub url: String,
    requests: crossbeam_channel::Receiver<ReceivedRequest>,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    pub fn start(status_for: impl Fn(usize) -> u16 + Send + 'static) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let (sender, requests) = crossbeam_channel::unbounded();
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_answered = answered.clone();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("test-webhook-receiver".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    let mut request = match server.recv_timeout(Duration::from_millis(20)) {
                        Ok(Some(request)) => request,
                        Ok(None) => continue,
                        Err(_) => break,
                    };
                    let mut body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut body);
                    let received = ReceivedRequest {
                        method: request.method().to_string(),
                        path: request.url().to_string(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        body,
                    };
                    let index = thread_answered.fetch_add(1, Ordering::SeqCst);
                    let _ = sender.send(received);
                    let response =
                        tiny_http::Response::from_string("ok").with_status_code(status_for(index));
                    let _ = request.respond(response);
                }
            })
            .expect("spawn receiver");
        WebhookReceiver {
            url: format!("http://127.0.0.1:{port}/webhooks/net-engine"),
            requests,
            answered,
            stop,
            thread: Some(thread),
        }
    }

    /// The next request, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<ReceivedRequest> {
        self.requests.recv_timeout(timeout).ok()
    }

    /// Requests received so far (answered or being answered).
    pub fn count(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts TCP connections on 127.0.0.1:0 and never reads or answers: a hung receiver.
pub struct SilentListener {
    pub url: String,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentListener {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_accepted = accepted.clone();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("test-silent-listener".into())
            .spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                while !thread_stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            thread_accepted.fetch_add(1, Ordering::SeqCst);
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .expect("spawn silent listener");
        SilentListener {
            url: format!("http://127.0.0.1:{port}/hook"),
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub use super::wait::wait_until;

/// Runs `test` on its own thread and fails if it has not finished within `limit`, so a hung
/// test fails instead of hanging the run. Panics inside `test` are re-raised.
pub fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    test: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_sender, done) = crossbeam_channel::bounded(1);
    let thread = std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
        let _ = done_sender.send(());
        result
    });
    if done.recv_timeout(limit).is_err() {
        panic!("test still running after {limit:?}: watchdog fired");
    }
    match thread.join().expect("watchdog thread") {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Webhook settings for tests: a short request timeout and retry base, so deliveries and
/// retries happen within a test's time.
pub fn webhook_config(url: &str) -> net_engine::webhook::WebhookConfig {
    net_engine::webhook::WebhookConfig {
        request_timeout: std::time::Duration::from_millis(500),
        backoff_base: std::time::Duration::from_millis(50),
        ..net_engine::webhook::WebhookConfig::new(url, "hook-secret")
    }
}
