//! The audit trail and the idempotency keys: who changed what on which router, and the answer
//! a write gave, kept so a retry with the same `Idempotency-Key` gets it again.
//!
//! [`AuditTrail`] keeps the newest entries and every key of the last 24 h in memory (loaded
//! from the backend at start) and answers every read from there; what changes goes to the
//! backend through one writer thread (`audit-writer`) that buffers and retries while the
//! backend is down and counts what it had to drop. Recording never blocks a request.
//! Backends: MySQL ([`super::MysqlStore`]), an append-only JSON-lines file
//! ([`FileAuditBackend`]), or none (the demo: memory only).

use super::StoreError;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an idempotency key's answer is kept.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Entries kept in memory (older ones stay in the backend).
pub const MEMORY_ENTRIES: usize = 100_000;
/// Changes the writer holds while the backend is down before it drops the oldest.
pub const BUFFER_LIMIT: usize = 100_000;

/// What became of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The router did it.
    Applied,
    /// The router refused it (a trap, an unknown user, …).
    Rejected,
    /// It never reached the router (offline, queue full, expired in the queue).
    NotSent,
    /// Sent, no answer by the deadline (completed when a late answer arrives).
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Rejected => "rejected",
            Outcome::NotSent => "not_sent",
            Outcome::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [
            Outcome::Applied,
            Outcome::Rejected,
            Outcome::NotSent,
            Outcome::Unknown,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// One recorded change. `change` is a JSON object in API terms; a password is never in it
/// (only `"(changed)"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(default)]
    pub request_id: u64,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub route: String,
    pub router_id: Option<u64>,
    pub user: Option<String>,
    pub address: Option<String>,
    #[serde(default)]
    pub action: String,
    #[serde(default = "empty_object")]
    pub change: Value,
    pub outcome: Outcome,
    pub status: u16,
    pub error: Option<String>,
}

/// The answer a write gave, as kept for its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredAnswer {
    pub key: String,
    /// What identifies the request (method, path, query and body), to refuse a different body.
    pub fingerprint: String,
    pub created_ms: u64,
    pub status: u16,
    pub body: String,
    pub retry_after: Option<u32>,
}

/// A missing `change` reads as `{}`.
fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Where the trail is kept for good.
pub trait AuditBackend: Send + Sync {
    /// Writes entries; an entry whose id is already there replaces it (a completion).
    fn save_entries(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
    /// Writes idempotency answers.
    fn save_answers(&self, answers: &[StoredAnswer]) -> Result<(), StoreError>;
    /// The newest `limit` entries, any order.
    fn load_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Answers created at or after `since_ms`.
    fn load_answers(&self, since_ms: u64) -> Result<Vec<StoredAnswer>, StoreError>;
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    ms_of(SystemTime::now())
}

pub fn ms_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The append-only JSON-lines file (`AUDIT_FILE`); idempotency answers go to a sibling file
/// `<AUDIT_FILE>.keys`. A completed entry is appended again with the same id: the last line
/// of an id is the entry.
pub struct FileAuditBackend {
    path: PathBuf,
    keys_path: PathBuf,
    lock: Mutex<()>,
}

impl FileAuditBackend {
    /// Uses `path` (created, with its folder, on the first write).
    pub fn new(path: impl Into<PathBuf>) -> FileAuditBackend {
        let path = path.into();
        let mut keys = path.clone().into_os_string();
        keys.push(".keys");
        FileAuditBackend {
            path,
            keys_path: PathBuf::from(keys),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one JSON line per item.
    fn append<T: serde::Serialize>(&self, path: &Path, items: &[T]) -> Result<(), StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let mut text = Vec::new();
        for item in items {
            serde_json::to_writer(&mut text, item)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
            text.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(unavailable)?;
        file.write_all(&text).map_err(unavailable)?;
        file.flush().map_err(unavailable)
    }

    /// Every line that reads as a `T`, in order.
    fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
        };
        let mut values = Vec::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<T>(&line) {
                Ok(value) => values.push(value),
                // A torn last line (a crash mid-write) or a foreign one is skipped, not fatal.
                Err(e) => log::warn!("{} line {}: skipped: {e}", path.display(), number + 1),
            }
        }
        Ok(values)
    }
}

impl AuditBackend for FileAuditBackend {
    fn save_entries(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.append(&self.path, entries)
    }

    fn save_answers(&self, answers: &[StoredAnswer]) -> Result<(), StoreError> {
        self.append(&self.keys_path, answers)
    }

    fn load_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for entry in Self::read::<AuditEntry>(&self.path)? {
            match by_id.get(&entry.id) {
                Some(&at) => entries[at] = entry,
                None => {
                    by_id.insert(entry.id.clone(), entries.len());
                    entries.push(entry);
                }
            }
        }
        let skip = entries.len().saturating_sub(limit);
        Ok(entries.into_iter().skip(skip).collect())
    }

    fn load_answers(&self, since_ms: u64) -> Result<Vec<StoredAnswer>, StoreError> {
        Ok(Self::read::<StoredAnswer>(&self.keys_path)?
            .into_iter()
            .filter(|a| a.created_ms >= since_ms)
            .collect())
    }
}

/// Which entries a read wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub router_id: Option<u64>,
    pub user: Option<String>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl AuditFilter {
    fn matches(&self, entry: &AuditEntry) -> bool {
        self.router_id.is_none_or(|id| entry.router_id == Some(id))
            && self
                .user
                .as_deref()
                .is_none_or(|u| entry.user.as_deref() == Some(u))
            && self.since_ms.is_none_or(|t| entry.at_ms >= t)
            && self.until_ms.is_none_or(|t| entry.at_ms <= t)
    }
}

/// What a request with an idempotency key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is new (or its first try never reached a router): run it, then `finish`.
    Run,
    /// Answer this again.
    Replay(StoredAnswer),
    /// The key was used with another request.
    Mismatch,
    /// The first request is still running (or waiting for a late answer).
    InProgress,
}

enum KeyState {
    Running { fingerprint: String, since_ms: u64 },
    Done(StoredAnswer),
}

/// Writer counters, for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditStats {
    pub written: u64,
    pub failed_attempts: u64,
    pub dropped: u64,
    pub pending: usize,
}

#[derive(Default)]
struct SharedStats {
    written: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicUsize,
}

enum Change {
    Entry(AuditEntry),
    Answer(StoredAnswer),
}

/// The trail: memory for reads, a writer thread for the backend.
pub struct AuditTrail {
    entries: Mutex<VecDeque<AuditEntry>>,
    keys: Mutex<HashMap<String, KeyState>>,
    sender: Mutex<Option<Sender<Change>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<SharedStats>,
    next: AtomicU64,
    prefix: String,
    durable: bool,
}

impl AuditTrail {
    /// Loads what the backend holds (a backend that cannot be read is logged and starts
    /// empty) and starts the writer. `None`: memory only.
    pub fn start(
        backend: Option<Arc<dyn AuditBackend>>,
        retry: (Duration, Duration),
    ) -> std::io::Result<AuditTrail> {
        let mut entries = VecDeque::new();
        let mut keys = HashMap::new();
        if let Some(backend) = &backend {
            match backend.load_entries(MEMORY_ENTRIES) {
                Ok(mut loaded) => {
                    loaded.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
                    entries.extend(loaded);
                }
                Err(e) => log::warn!("audit: cannot read earlier entries: {e}"),
            }
            match backend.load_answers(now_ms().saturating_sub(KEY_LIFETIME.as_millis() as u64)) {
                Ok(answers) => {
                    for answer in answers {
                        keys.insert(answer.key.clone(), KeyState::Done(answer));
                    }
                }
                Err(e) => log::warn!("audit: cannot read idempotency keys: {e}"),
            }
        }
        let stats = Arc::new(SharedStats::default());
        let (sender, thread) = match backend {
            Some(backend) => {
                let (sender, receiver) = unbounded();
                let writer = Writer {
                    backend,
                    receiver,
                    buffer: VecDeque::new(),
                    stats: Arc::clone(&stats),
                    retry,
                };
                let thread = std::thread::Builder::new()
                    .name("audit-writer".into())
                    .stack_size(256 * 1024)
                    .spawn(move || writer.run())?;
                (Some(sender), Some(thread))
            }
            None => (None, None),
        };
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        Ok(AuditTrail {
            durable: sender.is_some(),
            entries: Mutex::new(entries),
            keys: Mutex::new(keys),
            sender: Mutex::new(sender),
            thread: Mutex::new(thread),
            stats,
            next: AtomicU64::new(1),
            prefix: format!("{:08x}", u32::from_le_bytes(seed)),
        })
    }

    /// A memory-only trail (the demo, tests).
    pub fn in_memory() -> AuditTrail {
        match AuditTrail::start(None, (Duration::from_secs(1), Duration::from_secs(30))) {
            Ok(trail) => trail,
            // No thread is started without a backend, so this cannot fail; keep it total.
            Err(_) => AuditTrail {
                entries: Mutex::default(),
                keys: Mutex::default(),
                sender: Mutex::new(None),
                thread: Mutex::new(None),
                stats: Arc::default(),
                next: AtomicU64::new(1),
                prefix: "00000000".into(),
                durable: false,
            },
        }
    }

    /// Whether entries outlive the process.
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// A new entry id: time-ordered, unique across restarts and engines.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:012x}{}{:06x}", now_ms(), self.prefix, n & 0xff_ffff)
    }

    fn send(&self, change: Change) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref() {
            self.stats.pending.fetch_add(1, Ordering::Relaxed);
            if sender.send(change).is_err() {
                self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records an entry (memory now, the backend soon). Never blocks on the backend.
    pub fn record(&self, entry: AuditEntry) {
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.push_back(entry.clone());
            while entries.len() > MEMORY_ENTRIES {
                entries.pop_front();
            }
        }
        self.send(Change::Entry(entry));
    }

    /// Completes an entry with what the router finally said.
    pub fn complete(&self, id: &str, outcome: Outcome, error: Option<String>) {
        let updated = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.iter_mut().rev().find(|e| e.id == id).map(|entry| {
                entry.outcome = outcome;
                entry.error = error;
                entry.clone()
            })
        };
        if let Some(entry) = updated {
            self.send(Change::Entry(entry));
        }
    }

    /// One entry by id.
    pub fn get(&self, id: &str) -> Option<AuditEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().rev().find(|e| e.id == id).cloned()
    }

    /// Matching entries, newest first: `(page, total matching)`.
    pub fn query(
        &self,
        filter: &AuditFilter,
        offset: usize,
        limit: usize,
    ) -> (Vec<AuditEntry>, usize) {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut matching: Vec<&AuditEntry> = entries.iter().filter(|e| filter.matches(e)).collect();
        matching.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
        let total = matching.len();
        let page = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        (page, total)
    }

    /// Claims `key` for a request identified by `fingerprint`.
    pub fn begin(&self, key: &str, fingerprint: &str) -> Begin {
        let now = now_ms();
        let lifetime = KEY_LIFETIME.as_millis() as u64;
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() > 1000 && now.is_multiple_of(64) {
            keys.retain(|_, state| match state {
                KeyState::Running { .. } => true,
                KeyState::Done(answer) => answer.created_ms + lifetime > now,
            });
        }
        match keys.get(key) {
            Some(KeyState::Running { fingerprint: f, .. }) if f == fingerprint => Begin::InProgress,
            Some(KeyState::Running { .. }) => Begin::Mismatch,
            Some(KeyState::Done(answer)) if answer.created_ms + lifetime <= now => {
                keys.insert(
                    key.to_owned(),
                    KeyState::Running {
                        fingerprint: fingerprint.to_owned(),
                        since_ms: now,
                    },
                );
                Begin::Run
            }
            Some(KeyState::Done(answer)) if answer.fingerprint == fingerprint => {
                Begin::Replay(answer.clone())
            }
            Some(KeyState::Done(_)) => Begin::Mismatch,
            None => {
                keys.insert(
                    key.to_owned(),
                    KeyState::Running {
                        fingerprint: fingerprint.to_owned(),
                        since_ms: now,
                    },
                );
                Begin::Run
            }
        }
    }

    /// Keeps the answer of a request that claimed its key (24 h).
    pub fn finish(&self, key: &str, status: u16, body: String, retry_after: Option<u32>) {
        let answer = {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let (fingerprint, created_ms) = match keys.get(key) {
                Some(KeyState::Running {
                    fingerprint,
                    since_ms,
                }) => (fingerprint.clone(), *since_ms),
                _ => return,
            };
            let answer = StoredAnswer {
                key: key.to_owned(),
                fingerprint,
                created_ms,
                status,
                body,
                retry_after,
            };
            keys.insert(key.to_owned(), KeyState::Done(answer.clone()));
            answer
        };
        self.send(Change::Answer(answer));
    }

    /// Frees a key whose request never reached a router: a retry runs it.
    pub fn release(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(keys.get(key), Some(KeyState::Running { .. })) {
            keys.remove(key);
        }
    }

    pub fn stats(&self) -> AuditStats {
        AuditStats {
            written: self.stats.written.load(Ordering::Relaxed),
            failed_attempts: self.stats.failed_attempts.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            pending: self.stats.pending.load(Ordering::Relaxed),
        }
    }

    /// Stops the writer after one last attempt at what it holds.
    pub fn shutdown(&self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            if thread.join().is_err() {
                log::error!("the audit writer panicked");
            }
        }
    }
}

impl Drop for AuditTrail {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Writer {
    backend: Arc<dyn AuditBackend>,
    receiver: Receiver<Change>,
    buffer: VecDeque<Change>,
    stats: Arc<SharedStats>,
    retry: (Duration, Duration),
}

impl Writer {
    fn run(mut self) {
        let mut backoff = self.retry.0;
        let mut retry_at: Option<std::time::Instant> = None;
        loop {
            let wait = match retry_at {
                Some(at) => at.saturating_duration_since(std::time::Instant::now()),
                None => Duration::from_secs(3600),
            };
            let closed = match self.receiver.recv_timeout(wait) {
                Ok(change) => {
                    self.take(change);
                    while let Ok(change) = self.receiver.try_recv() {
                        self.take(change);
                    }
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            if retry_at.is_some_and(|at| std::time::Instant::now() < at) && !closed {
                continue;
            }
            match self.flush() {
                Ok(()) => {
                    backoff = self.retry.0;
                    retry_at = None;
                }
                Err(e) if e.is_retryable() && !closed => {
                    log::warn!(
                        "audit: {e}; {} changes wait, retrying in {:.0} s",
                        self.buffer.len(),
                        backoff.as_secs_f64()
                    );
                    retry_at = Some(std::time::Instant::now() + backoff);
                    backoff = (backoff * 2).min(self.retry.1);
                }
                Err(e) => {
                    log::error!("audit: {e}; dropping {} changes", self.buffer.len());
                    self.drop_all();
                    retry_at = None;
                }
            }
            if closed {
                if !self.buffer.is_empty() {
                    self.drop_all();
                }
                return;
            }
        }
    }

    fn take(&mut self, change: Change) {
        self.buffer.push_back(change);
        if self.buffer.len() > BUFFER_LIMIT {
            self.buffer.pop_front();
            self.stats.pending.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn drop_all(&mut self) {
        let n = self.buffer.len();
        self.buffer.clear();
        self.stats.pending.fetch_sub(n, Ordering::Relaxed);
        self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Writes the buffer in order, in runs of one kind; what was written leaves the buffer.
    fn flush(&mut self) -> Result<(), StoreError> {
        while !self.buffer.is_empty() {
            let entries: Vec<AuditEntry> = self
                .buffer
                .iter()
                .take(500)
                .map_while(|c| match c {
                    Change::Entry(e) => Some(e.clone()),
                    Change::Answer(_) => None,
                })
                .collect();
            let n = if entries.is_empty() {
                let answers: Vec<StoredAnswer> = self
                    .buffer
                    .iter()
                    .take(500)
                    .map_while(|c| match c {
                        Change::Answer(a) => Some(a.clone()),
                        Change::Entry(_) => None,
                    })
                    .collect();
                self.attempt(|b| b.save_answers(&answers))?;
                answers.len()
            } else {
                self.attempt(|b| b.save_entries(&entries))?;
                entries.len()
            };
            self.buffer.drain(..n);
            self.stats.pending.fetch_sub(n, Ordering::Relaxed);
            self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn attempt(
        &self,
        write: impl FnOnce(&dyn AuditBackend) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let result = write(&*self.backend);
        if result.is_err() {
            self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(trail: &AuditTrail, user: &str, at_ms: u64) -> AuditEntry {
        AuditEntry {
            id: trail.next_id(),
            at_ms,
            request_id: 1,
            client: "127.0.0.1".into(),
            route: "POST /api/v1/kick".into(),
            router_id: Some(1),
            user: Some(user.into()),
            address: None,
            action: "kick".into(),
            change: json!({}),
            outcome: Outcome::Applied,
            status: 200,
            error: None,
        }
    }

    #[test]
    fn file_backend_keeps_the_last_line_of_an_id_and_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("audit-test-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_dir_all(&dir);
        let backend: Arc<dyn AuditBackend> = Arc::new(FileAuditBackend::new(&path));
        let trail = AuditTrail::start(
            Some(Arc::clone(&backend)),
            (Duration::from_millis(10), Duration::from_millis(50)),
        )
        .unwrap();
        let first = entry(&trail, "alice", 1000);
        let id = first.id.clone();
        trail.record(first);
        trail.record(entry(&trail, "bob", 2000));
        trail.complete(&id, Outcome::Rejected, Some("no".into()));
        assert_eq!(trail.begin("k1", "f1"), Begin::Run);
        assert_eq!(trail.begin("k1", "f1"), Begin::InProgress);
        assert_eq!(trail.begin("k1", "f2"), Begin::Mismatch);
        trail.finish("k1", 200, "{}".into(), None);
        trail.shutdown();
        assert_eq!(trail.stats().written, 4);
        let again = AuditTrail::start(
            Some(backend),
            (Duration::from_millis(10), Duration::from_millis(50)),
        )
        .unwrap();
        let (page, total) = again.query(&AuditFilter::default(), 0, 10);
        assert_eq!(total, 2);
        assert_eq!(page[0].user.as_deref(), Some("bob"), "newest first");
        assert_eq!(page[1].outcome, Outcome::Rejected);
        assert!(matches!(again.begin("k1", "f1"), Begin::Replay(a) if a.status == 200));
        let (page, _) = again.query(
            &AuditFilter {
                user: Some("alice".into()),
                ..AuditFilter::default()
            },
            0,
            10,
        );
        assert_eq!(page.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn released_keys_run_again() {
        let trail = AuditTrail::in_memory();
        assert_eq!(trail.begin("k", "f"), Begin::Run);
        trail.release("k");
        assert_eq!(trail.begin("k", "f"), Begin::Run);
    }
}
