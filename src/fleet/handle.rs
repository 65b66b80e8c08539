//! `RouterHandle`: what the rest of the program holds to talk to one router thread.
//!
//! Admission follows the router: a call is refused (`queue_full`, 503) only when the
//! router's queue is full, when the expected wait — commands ahead of it × the router's
//! recent command time — exceeds the caller's deadline, or when the waiter budget that
//! bounds how many HTTP threads routers may hold is spent. Otherwise the call is
//! `try_send` then a wait of at most the deadline; `Fleet::release_waiters` (shutdown)
//! ends every wait at once with `router_offline`.

use super::command::{
    BatchOutcome, BatchWrite, Command, IsolateOutcome, IsolateRequest, Job, RefreshOutcome,
    TrafficReading, Unanswered, UpdateOutcome, WriteError,
};
use super::share::Shared;
use super::snapshot::{RouterSnapshot, SnapshotCell};
use super::FleetError;
use crate::model::{NewSecret, SecretChanges};
use crate::model::{Profile, Resource, RouterId};
use crossbeam_channel::{bounded, select, Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How fast one router has been lately, written by its thread and read by callers.
#[derive(Debug)]
pub struct RouterLoad {
    epoch: Instant,
    /// Moving average of recent command times, µs (0 = nothing measured yet).
    recent_us: AtomicU64,
    /// When the command running now started, µs since `epoch` + 1 (0 = idle).
    busy_since_us: AtomicU64,
    /// How long the last poll took, µs (0 = none yet). A poll is several commands the
    /// queue does not show; a caller waits behind it as behind the commands ahead.
    poll_us: AtomicU64,
    /// True while what runs now is a poll.
    polling: AtomicBool,
}

impl Default for RouterLoad {
    fn default() -> Self {
        RouterLoad {
            epoch: Instant::now(),
            recent_us: AtomicU64::new(0),
            busy_since_us: AtomicU64::new(0),
            poll_us: AtomicU64::new(0),
            polling: AtomicBool::new(false),
        }
    }
}

impl RouterLoad {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The router thread starts a command.
    pub(crate) fn begin(&self) {
        self.polling.store(false, Ordering::SeqCst);
        self.busy_since_us
            .store(self.now_us().saturating_add(1), Ordering::SeqCst);
    }

    /// The router thread starts a poll.
    pub(crate) fn begin_poll(&self) {
        self.polling.store(true, Ordering::SeqCst);
        self.busy_since_us
            .store(self.now_us().saturating_add(1), Ordering::SeqCst);
    }

    /// The router thread finished what `begin` or `begin_poll` started; `completed` is
    /// false when the connection broke (a timeout that ends the session says nothing of
    /// the next one).
    pub(crate) fn end(&self, completed: bool) {
        let since = self.busy_since_us.swap(0, Ordering::SeqCst);
        let was_poll = self.polling.swap(false, Ordering::SeqCst);
        if since > 0 && completed {
            let took = self.now_us().saturating_sub(since - 1).max(1);
            if was_poll {
                self.poll_us.store(took, Ordering::SeqCst);
            } else {
                self.record(Duration::from_micros(took));
            }
        }
    }

    /// Forgets the measurements (a new session starts).
    pub(crate) fn reset(&self) {
        self.recent_us.store(0, Ordering::SeqCst);
        self.busy_since_us.store(0, Ordering::SeqCst);
        self.poll_us.store(0, Ordering::SeqCst);
        self.polling.store(false, Ordering::SeqCst);
    }

    /// How long running the current poll (if any) has taken so far.
    fn running_for(&self) -> Duration {
        let since = self.busy_since_us.load(Ordering::SeqCst);
        if since == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.now_us().saturating_sub(since - 1))
    }

    /// Adds one measured command time to the moving average (weight 1/4).
    pub fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.recent_us.load(Ordering::SeqCst);
        let new = if old == 0 {
            took
        } else {
            old - old / 4 + took / 4
        };
        self.recent_us.store(new, Ordering::SeqCst);
    }

    /// The time one command is expected to take now: the recent average, or the age of the
    /// command running now when that is longer (a router that hangs looks slower by the
    /// second instead of keeping its last good figure).
    pub fn per_command(&self) -> Duration {
        let recent = Duration::from_micros(self.recent_us.load(Ordering::SeqCst));
        let age = self.running_for();
        if self.polling.load(Ordering::SeqCst) {
            // A poll is expected to take its last time; only beyond that does it count
            // as a router slowing down.
            let poll = Duration::from_micros(self.poll_us.load(Ordering::SeqCst));
            return recent.max(age.saturating_sub(poll));
        }
        recent.max(age)
    }

    /// Whether a command is running now.
    pub fn busy(&self) -> bool {
        self.busy_since_us.load(Ordering::SeqCst) > 0
    }

    /// Expected wait of a new command with `queued` commands ahead of it in the queue:
    /// (queued + the running command + itself) × `per_command`, plus one poll (what is
    /// left of the running one, else a whole one: a wait long enough to matter meets a
    /// poll, which runs between queued commands). Zero for an empty queue: a caller with
    /// nothing queued ahead is never refused on an estimate.
    pub fn expected_wait(&self, queued: usize) -> Duration {
        if queued == 0 {
            return Duration::ZERO;
        }
        let polling = self.polling.load(Ordering::SeqCst);
        let running_command = self.busy() && !polling;
        let commands = queued + usize::from(running_command) + 1;
        let poll = Duration::from_micros(self.poll_us.load(Ordering::SeqCst));
        let poll = if polling {
            poll.saturating_sub(self.running_for())
        } else {
            poll
        };
        self.per_command()
            .saturating_mul(u32::try_from(commands).unwrap_or(u32::MAX))
            .saturating_add(poll)
    }
}

/// Share of the deadline the expected wait may fill before a call is refused.
const ADMISSION_MARGIN: f64 = 0.9;

/// A caller's place in one router's line, held until its wait ends.
struct Place<'a> {
    admitted: &'a AtomicUsize,
    /// Admitted callers ahead of this one.
    ahead: usize,
}

impl<'a> Place<'a> {
    fn take(admitted: &'a AtomicUsize) -> Self {
        let ahead = admitted.fetch_add(1, Ordering::SeqCst);
        Place { admitted, ahead }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A cheap, shareable handle to one router thread.
pub struct RouterHandle {
    pub id: RouterId,
    pub(crate) commands: Sender<Command>,
    pub(crate) cell: Arc<SnapshotCell>,
    pub(crate) command_timeout: Duration,
    pub(crate) load: Arc<RouterLoad>,
    /// Disconnected when the fleet releases every waiter (shutdown).
    pub(crate) released: Receiver<()>,
    pub(crate) waiters: AtomicUsize,
    /// Calls admitted with a command of their own and not yet answered: a caller's place
    /// in line, taken atomically (the queue's length lags behind callers arriving at once).
    pub(crate) admitted: AtomicUsize,
    pub(crate) max_waiters: usize,
    pub(crate) waiters_total: Arc<AtomicUsize>,
    pub(crate) max_waiters_total: usize,
    /// Traffic readings shared by every caller asking for the same user meanwhile.
    pub(crate) traffic_share: Shared<TrafficReading>,
    /// Watched customers' stream readings (answered without the router thread).
    pub(crate) live_traffic: Arc<super::watch::LiveTraffic>,
    /// How much longer the router thread waits for a change's answer than its caller.
    pub(crate) late_answer_grace: Duration,
}

/// One caller counted as waiting on a router (per router and fleet-wide) until dropped.
struct WaiterSlot<'a> {
    router: &'a AtomicUsize,
    total: &'a AtomicUsize,
}

impl<'a> WaiterSlot<'a> {
    fn take(
        router: &'a AtomicUsize,
        router_max: usize,
        total: &'a AtomicUsize,
        total_max: usize,
    ) -> Option<Self> {
        if router.fetch_add(1, Ordering::SeqCst) >= router_max {
            router.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if total.fetch_add(1, Ordering::SeqCst) >= total_max {
            total.fetch_sub(1, Ordering::SeqCst);
            router.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(WaiterSlot { router, total })
    }
}

impl Drop for WaiterSlot<'_> {
    fn drop(&mut self) {
        self.router.fetch_sub(1, Ordering::SeqCst);
        self.total.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RouterHandle {
    /// The latest published snapshot (never waits on the router thread).
    pub fn snapshot(&self) -> Arc<RouterSnapshot> {
        self.cell.load()
    }

    /// Commands waiting in this router's queue.
    pub fn queue_depth(&self) -> usize {
        self.commands.len()
    }

    /// How fast this router has been lately.
    pub fn load(&self) -> &RouterLoad {
        &self.load
    }

    /// A waiter's place in this router's and the fleet's budget; `None` when either is spent.
    fn waiter_slot(&self) -> Option<WaiterSlot<'_>> {
        WaiterSlot::take(
            &self.waiters,
            self.max_waiters,
            &self.waiters_total,
            self.max_waiters_total,
        )
    }

    fn released(&self) -> bool {
        matches!(self.released.try_recv(), Err(TryRecvError::Disconnected))
    }

    fn stopping() -> FleetError {
        FleetError::Offline("the engine is stopping".into())
    }

    fn call<T>(&self, make: impl FnOnce(Job<T>) -> Command) -> Result<T, FleetError> {
        self.submit(make).map_err(|e| match e {
            WriteError::Failed(e) => e,
            WriteError::Unanswered(_) => FleetError::Timeout,
        })
    }

    /// Sends a change and waits for it as every call does, but a caller that must know the
    /// outcome even after its deadline keeps the reply channel ([`Unanswered`]): the router
    /// thread answers it late, or says the command was never sent.
    pub fn send_write<T>(&self, make: impl FnOnce(Job<T>) -> Command) -> Result<T, WriteError<T>> {
        self.submit(make)
    }

    fn submit<T>(&self, make: impl FnOnce(Job<T>) -> Command) -> Result<T, WriteError<T>> {
        let failed = WriteError::Failed;
        let snapshot = self.snapshot();
        if snapshot.unavailable {
            return Err(failed(FleetError::Offline(
                snapshot
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not connected".into()),
            )));
        }
        if self.released() {
            return Err(failed(Self::stopping()));
        }
        let place = Place::take(&self.admitted);
        let expected = self
            .load
            .expected_wait(place.ahead.max(self.commands.len()));
        // A margin for the callers ahead running a little slower than the recent average.
        if expected >= self.command_timeout.mul_f64(ADMISSION_MARGIN) {
            log::debug!(
                "router {}: refusing a call, expected wait {:.0} ms is over the deadline",
                self.id,
                expected.as_secs_f64() * 1000.0
            );
            return Err(failed(FleetError::QueueFull));
        }
        // Every waiter holds an HTTP thread; the limits (one router's share, all routers'
        // budget) are what the HTTP pool is sized from, so other work always has threads.
        let Some(_slot) = self.waiter_slot() else {
            return Err(failed(FleetError::QueueFull));
        };
        let (reply, answer) = bounded(1);
        let deadline = Instant::now() + self.command_timeout;
        match self.commands.try_send(make(Job { deadline, reply })) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(failed(FleetError::QueueFull)),
            Err(TrySendError::Disconnected(_)) => {
                return Err(failed(FleetError::Offline(
                    "router is being stopped".into(),
                )))
            }
        }
        select! {
            recv(answer) -> result => match result {
                Ok(result) => result.map_err(failed),
                Err(_) if self.released() => Err(failed(Self::stopping())),
                Err(_) => Err(failed(FleetError::Internal(
                    "the router thread failed while running the command and was restarted"
                        .into(),
                ))),
            },
            recv(self.released) -> _ => Err(failed(Self::stopping())),
            default(deadline.saturating_duration_since(Instant::now())) => {
                Err(WriteError::Unanswered(Unanswered {
                    answer,
                    wait_until: deadline + self.late_answer_grace + Duration::from_secs(1),
                }))
            }
        }
    }

    /// Sends a batch of changes and waits for every result. Nothing is written after
    /// `send_until` (those changes answer `NotSent`); a command written by then gets the
    /// usual command timeout, so the wait ends at most that long after `send_until`.
    /// `Err` is the whole batch's: refused, offline, or (`Timeout`) no answer at all.
    pub fn batch(
        &self,
        writes: Vec<BatchWrite>,
        send_until: Instant,
    ) -> Result<BatchOutcome, FleetError> {
        let snapshot = self.snapshot();
        if snapshot.unavailable {
            return Err(FleetError::Offline(
                snapshot
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not connected".into()),
            ));
        }
        if self.released() {
            return Err(Self::stopping());
        }
        let Some(_slot) = self.waiter_slot() else {
            return Err(FleetError::QueueFull);
        };
        let (reply, answer) = bounded(1);
        let job = Job {
            deadline: send_until,
            reply,
        };
        match self.commands.try_send(Command::Batch(job, writes)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(FleetError::QueueFull),
            Err(TrySendError::Disconnected(_)) => {
                return Err(FleetError::Offline("router is being stopped".into()))
            }
        }
        let wait_until =
            send_until + self.command_timeout + self.late_answer_grace + Duration::from_secs(1);
        select! {
            recv(answer) -> result => match result {
                Ok(result) => result,
                Err(_) if self.released() => Err(Self::stopping()),
                Err(_) => Err(FleetError::Internal(
                    "the router thread failed while running the batch and was restarted".into(),
                )),
            },
            recv(self.released) -> _ => Err(Self::stopping()),
            default(wait_until.saturating_duration_since(Instant::now())) => Err(FleetError::Timeout),
        }
    }

    /// `/system/resource/print` now (also refreshes the cached copy).
    pub fn live_resource(&self) -> Result<Resource, FleetError> {
        self.call(Command::LiveResource)
    }

    /// Live bits/s of `user` (smart detection). Calls for the same user while one runs, or
    /// within the share window after it answered, get that one's answer (its `sampled_at`
    /// says when the router gave it): many viewers cost the router one command.
    pub fn traffic(&self, user: &str) -> Result<TrafficReading, FleetError> {
        // A watched customer: the stream's latest reading, no router round trip.
        if let Some(reading) = self.live_traffic.latest(user) {
            return Ok(reading);
        }
        let deadline = Instant::now() + self.command_timeout;
        self.traffic_share.get(
            user,
            deadline,
            |wait| {
                // A follower holds an HTTP thread like any waiter, within the same budget.
                let Some(_slot) = self.waiter_slot() else {
                    return Err(FleetError::QueueFull);
                };
                wait()
            },
            || self.call(|job| Command::Traffic(job, user.to_owned())),
        )
    }

    /// Polls the router now and returns what it read.
    pub fn refresh(&self) -> Result<RefreshOutcome, FleetError> {
        self.call(Command::Refresh)
    }

    pub fn profiles(&self) -> Result<Vec<Profile>, FleetError> {
        self.call(Command::Profiles)
    }

    /// Adds a PPP secret; returns its `.id`.
    pub fn add_secret(&self, secret: NewSecret) -> Result<String, FleetError> {
        self.call(|job| Command::AddSecret(job, secret))
    }

    pub fn update_secret(
        &self,
        user: &str,
        changes: SecretChanges,
        kick: bool,
    ) -> Result<UpdateOutcome, FleetError> {
        self.call(|job| Command::UpdateSecret(job, user.to_owned(), changes, kick))
    }

    /// Removes a secret; returns how many live sessions were kicked.
    pub fn delete_secret(&self, user: &str, kick: bool) -> Result<usize, FleetError> {
        self.call(|job| Command::DeleteSecret(job, user.to_owned(), kick))
    }

    /// Removes every live session of `user`; returns how many.
    pub fn kick(&self, user: &str) -> Result<usize, FleetError> {
        self.call(|job| Command::Kick(job, user.to_owned()))
    }

    pub fn isolate(&self, request: IsolateRequest) -> Result<IsolateOutcome, FleetError> {
        self.call(|job| Command::Isolate(job, request))
    }

    /// Saves a backup on the router; returns the file name.
    pub fn backup(&self) -> Result<String, FleetError> {
        self.call(Command::Backup)
    }
}

#[cfg(test)]
mod tests {
    use super::RouterLoad;
    use std::time::Duration;

    #[test]
    fn expected_wait_follows_the_router() {
        let load = RouterLoad::default();
        assert_eq!(
            load.expected_wait(10),
            Duration::ZERO,
            "nothing measured yet"
        );
        load.record(Duration::from_millis(200));
        assert_eq!(load.expected_wait(0), Duration::ZERO, "nothing ahead");
        assert_eq!(load.expected_wait(4), Duration::from_millis(1000));
        for _ in 0..40 {
            load.record(Duration::from_millis(1));
        }
        assert!(load.expected_wait(63) < Duration::from_millis(100));
        load.begin();
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            load.per_command() >= Duration::from_millis(30),
            "a hang counts"
        );
        assert!(load.expected_wait(2) >= Duration::from_millis(60));
        load.end(false);
        assert!(load.per_command() < Duration::from_millis(10));
        load.reset();
        assert_eq!(load.expected_wait(5), Duration::ZERO);
    }

    #[test]
    fn a_poll_counts_once_in_the_wait_and_not_as_a_command() {
        let load = RouterLoad::default();
        load.record(Duration::from_millis(10));
        load.begin_poll();
        std::thread::sleep(Duration::from_millis(40));
        load.end(true);
        assert!(
            load.per_command() < Duration::from_millis(15),
            "a poll is not one slow command"
        );
        // 3 ahead + itself at 10 ms, and one poll of ≥ 40 ms.
        let wait = load.expected_wait(3);
        assert!(
            wait >= Duration::from_millis(80) && wait < Duration::from_millis(200),
            "{wait:?}"
        );
        // While a poll runs, only what is left of it is waited for.
        load.begin_poll();
        std::thread::sleep(Duration::from_millis(40));
        assert!(load.expected_wait(3) < wait, "{:?}", load.expected_wait(3));
        assert!(load.per_command() < Duration::from_millis(15));
        load.end(true);
    }
}
