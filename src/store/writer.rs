//! The user-sync writer: one background thread that writes routers' secret lists to the user
//! store, keeps only the newest list per router while it waits, and retries with backoff while
//! the database is unavailable. The fleet keeps serving from memory meanwhile.
//!
//! Every write goes through this one thread, so an older list can never overwrite a newer one.
//! [`SyncWriterHandle::submit`] never blocks (fleet observers call it on router threads);
//! [`SyncWriterHandle::sync_now`] waits, bounded, for the `POST /sync/:id` answer.
//!
//! Shape: a public handle (sender + join handle) and a private actor that owns the pending map
//! and loops on `recv_timeout`. Dropping the handle (or `shutdown`) disconnects and joins.

use super::{StoreError, SyncCounts};
use crate::model::{ActiveSession, RouterId, Secret};
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where user syncs are written ([`super::MysqlStore`] in production, fakes in tests).
pub trait UserStore: Send + Sync {
    fn sync_users(
        &self,
        router: RouterId,
        secrets: &[Secret],
        connected: &[String],
    ) -> Result<SyncCounts, StoreError>;
}

impl UserStore for super::MysqlStore {
    fn sync_users(
        &self,
        router: RouterId,
        secrets: &[Secret],
        connected: &[String],
    ) -> Result<SyncCounts, StoreError> {
        super::MysqlStore::sync_users(self, router, secrets, connected)
    }
}

/// One router's secret list and the names with a live session, as of one poll.
#[derive(Debug, Clone)]
pub struct UserSyncJob {
    pub router: RouterId,
    pub secrets: Arc<Vec<Secret>>,
    pub connected: Vec<String>,
}

impl UserSyncJob {
    pub fn new(router: RouterId, secrets: Arc<Vec<Secret>>, sessions: &[ActiveSession]) -> Self {
        let connected = sessions
            .iter()
            .map(|session| session.name.to_string())
            .collect();
        UserSyncJob {
            router,
            secrets,
            connected,
        }
    }
}

/// Retry pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(30),
        }
    }
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Syncs written successfully.
    pub written: u64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Syncs given up on: a non-retryable error, or still pending at shutdown.
    pub dropped: u64,
    /// Routers with a sync waiting to be written.
    pub pending: usize,
    /// The last failure, `None` once a write succeeds again.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct SharedStats {
    written: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl SharedStats {
    fn set_last_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }
}

enum Message {
    Sync(UserSyncJob),
    SyncNow(UserSyncJob, Sender<Result<SyncCounts, StoreError>>),
    Forget(RouterId),
}

/// The public side: cheap to share behind an `Arc`.
pub struct SyncWriterHandle {
    sender: Mutex<Option<Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<SharedStats>,
}

impl SyncWriterHandle {
    /// Starts the writer thread (`user-sync`).
    pub fn spawn(store: Arc<dyn UserStore>, settings: WriterSettings) -> std::io::Result<Self> {
        let (sender, receiver) = unbounded();
        let stats = Arc::new(SharedStats::default());
        let actor = WriterActor {
            store,
            settings,
            receiver,
            pending: BTreeMap::new(),
            retry_at: None,
            backoff: settings.first_retry,
            last_error: None,
            stats: Arc::clone(&stats),
        };
        let thread = std::thread::Builder::new()
            .name("user-sync".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || actor.run())?;
        Ok(SyncWriterHandle {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// Queues a sync; replaces a queued one for the same router. Never blocks.
    pub fn submit(&self, job: UserSyncJob) {
        self.send(Message::Sync(job));
    }

    /// Writes a sync now (after anything already being written) and returns its counts.
    /// While the database is unavailable it answers at once with the last error and keeps the
    /// job queued for retry. Waits at most `timeout`.
    pub fn sync_now(&self, job: UserSyncJob, timeout: Duration) -> Result<SyncCounts, StoreError> {
        let (reply, answer) = bounded(1);
        if !self.send(Message::SyncNow(job, reply)) {
            return Err(StoreError::Unavailable(
                "user sync writer has stopped".to_owned(),
            ));
        }
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(
                "database did not answer in time; the sync stays queued".to_owned(),
            )),
        }
    }

    /// Drops any queued sync for a router that left the fleet.
    pub fn forget(&self, router: RouterId) {
        self.send(Message::Forget(router));
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            written: self.stats.written.load(Ordering::Relaxed),
            failed_attempts: self.stats.failed_attempts.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            pending: self.stats.pending.load(Ordering::Relaxed),
            last_error: self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Disconnects and joins. The writer makes one last attempt at what is queued unless the
    /// database is known to be down (then it drops it, with a log line).
    pub fn shutdown(&self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn send(&self, message: Message) -> bool {
        match &*self.sender.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(sender) => sender.send(message).is_ok(),
            None => false,
        }
    }
}

impl Drop for SyncWriterHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct WriterActor {
    store: Arc<dyn UserStore>,
    settings: WriterSettings,
    receiver: Receiver<Message>,
    /// Newest job per router, waiting to be written.
    pending: BTreeMap<RouterId, UserSyncJob>,
    /// Set while the database is failing: no attempt before this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
    last_error: Option<StoreError>,
    stats: Arc<SharedStats>,
}

impl WriterActor {
    fn run(mut self) {
        loop {
            let message = if self.pending.is_empty() {
                match self.receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => break,
                }
            } else {
                let wait = self.retry_at.map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(Instant::now())
                });
                match self.receiver.recv_timeout(wait) {
                    Ok(message) => Some(message),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            if let Some(message) = message {
                self.handle(message);
                // Take everything already queued first, so bursts coalesce.
                while let Ok(message) = self.receiver.try_recv() {
                    self.handle(message);
                }
            }
            if !self.in_backoff() {
                if let Some((&router, _)) = self.pending.iter().next() {
                    if let Some(job) = self.pending.remove(&router) {
                        let _ = self.write(job);
                    }
                }
            }
            self.stats
                .pending
                .store(self.pending.len(), Ordering::Relaxed);
        }
        self.finish();
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Sync(job) => {
                self.pending.insert(job.router, job);
            }
            Message::Forget(router) => {
                self.pending.remove(&router);
            }
            Message::SyncNow(job, reply) => {
                // This list is newer than anything queued for the router.
                self.pending.remove(&job.router);
                let result = match (&self.last_error, self.in_backoff()) {
                    (Some(error), true) => {
                        self.pending.insert(job.router, job);
                        Err(error.clone())
                    }
                    _ => self.write(job),
                };
                let _ = reply.send(result);
            }
        }
    }

    fn in_backoff(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn write(&mut self, job: UserSyncJob) -> Result<SyncCounts, StoreError> {
        let result = self
            .store
            .sync_users(job.router, &job.secrets, &job.connected);
        match &result {
            Ok(counts) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                if let Some(error) = self.last_error.take() {
                    log::info!("user sync: database is back (after: {error}); writes resumed");
                    self.stats.set_last_error(None);
                }
                self.retry_at = None;
                self.backoff = self.settings.first_retry;
                log::debug!(
                    "user sync: router {} stored {} (inserted {}, updated {}, gone {}) in {} statements",
                    job.router,
                    counts.stored(),
                    counts.inserted,
                    counts.updated,
                    counts.marked_missing,
                    counts.statements
                );
            }
            Err(error)
                if matches!(
                    error,
                    StoreError::Unavailable(_) | StoreError::AccessDenied(_)
                ) =>
            {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if self.last_error.is_none() {
                    log::warn!(
                        "user sync: {error}; serving from memory, retrying writes with backoff"
                    );
                }
                self.stats.set_last_error(Some(error.to_string()));
                self.last_error = Some(error.clone());
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(self.settings.max_retry);
                // Keep it unless a newer list for the router arrived meanwhile.
                self.pending.entry(job.router).or_insert(job);
            }
            Err(error) => {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.stats.set_last_error(Some(error.to_string()));
                log::error!(
                    "user sync: router {}: {error}; this sync is dropped",
                    job.router
                );
            }
        }
        result
    }

    fn finish(mut self) {
        if self.in_backoff() || self.last_error.is_some() {
            if !self.pending.is_empty() {
                log::warn!(
                    "user sync: database unavailable at shutdown; {} router sync(s) not written",
                    self.pending.len()
                );
                self.stats
                    .dropped
                    .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
            }
        } else {
            while let Some((_, job)) = self.pending.pop_first() {
                if self.write(job).is_err() && self.last_error.is_some() {
                    self.stats
                        .dropped
                        .fetch_add(self.pending.len() as u64 + 1, Ordering::Relaxed);
                    break;
                }
            }
        }
        self.pending.clear();
        self.stats.pending.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every write; fails while `down` is set.
    #[derive(Default)]
    struct FakeStore {
        writes: Mutex<Vec<(RouterId, usize)>>,
        down: std::sync::atomic::AtomicBool,
        broken: std::sync::atomic::AtomicBool,
    }

    impl UserStore for FakeStore {
        fn sync_users(
            &self,
            router: RouterId,
            secrets: &[Secret],
            _connected: &[String],
        ) -> Result<SyncCounts, StoreError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(StoreError::Unavailable("connection refused".into()));
            }
            if self.broken.load(Ordering::Relaxed) {
                return Err(StoreError::Query("syntax".into()));
            }
            self.writes.lock().unwrap().push((router, secrets.len()));
            Ok(SyncCounts {
                inserted: secrets.len() as u64,
                ..SyncCounts::default()
            })
        }
    }

    fn job(router: u64, secrets: usize) -> UserSyncJob {
        UserSyncJob {
            router: RouterId(router),
            secrets: Arc::new(vec![Secret::default(); secrets]),
            connected: Vec::new(),
        }
    }

    fn fast() -> WriterSettings {
        WriterSettings {
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_millis(200),
        }
    }

    fn wait_for(condition: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < until, "condition not met within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn writes_and_answers_sync_now() {
        let store = Arc::new(FakeStore::default());
        let writer = SyncWriterHandle::spawn(store.clone(), fast()).unwrap();
        writer.submit(job(1, 3));
        let counts = writer.sync_now(job(2, 4), Duration::from_secs(5)).unwrap();
        assert_eq!(counts.inserted, 4);
        wait_for(|| writer.stats().written == 2);
        writer.shutdown();
        let mut writes = store.writes.lock().unwrap().clone();
        writes.sort();
        assert_eq!(writes, [(RouterId(1), 3), (RouterId(2), 4)]);
    }

    #[test]
    fn retries_while_down_and_keeps_only_the_newest_list() {
        let store = Arc::new(FakeStore::default());
        store.down.store(true, Ordering::Relaxed);
        let writer = SyncWriterHandle::spawn(store.clone(), fast()).unwrap();
        writer.submit(job(1, 1));
        wait_for(|| writer.stats().failed_attempts >= 1);
        // While down: sync_now answers at once with the error, and supersedes router 1's list.
        let started = Instant::now();
        let error = writer
            .sync_now(job(1, 2), Duration::from_secs(5))
            .unwrap_err();
        assert!(error.is_retryable());
        assert!(started.elapsed() < Duration::from_secs(1));
        writer.submit(job(1, 5));
        writer.submit(job(3, 1));
        writer.forget(RouterId(3));
        wait_for(|| writer.stats().failed_attempts >= 3 && writer.stats().pending == 1);
        assert!(writer.stats().last_error.is_some());
        store.down.store(false, Ordering::Relaxed);
        wait_for(|| writer.stats().written == 1);
        assert_eq!(*store.writes.lock().unwrap(), [(RouterId(1), 5)]);
        let stats = writer.stats();
        assert_eq!((stats.pending, stats.last_error), (0, None));
    }

    #[test]
    fn query_errors_are_dropped_not_retried() {
        let store = Arc::new(FakeStore::default());
        store.broken.store(true, Ordering::Relaxed);
        let writer = SyncWriterHandle::spawn(store.clone(), fast()).unwrap();
        let error = writer
            .sync_now(job(1, 1), Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(error, StoreError::Query(_)));
        let stats = writer.stats();
        assert_eq!(
            (stats.dropped, stats.pending, stats.failed_attempts),
            (1, 0, 1)
        );
    }

    #[test]
    fn shutdown_flushes_when_the_database_is_up() {
        let store = Arc::new(FakeStore::default());
        let writer = SyncWriterHandle::spawn(store.clone(), fast()).unwrap();
        for router in 0..20 {
            writer.submit(job(router, 1));
        }
        writer.shutdown();
        assert_eq!(store.writes.lock().unwrap().len(), 20);
        assert!(writer.sync_now(job(1, 1), Duration::from_secs(1)).is_err());
    }
}
