//! `RouterHandle`: what the rest of the program holds to talk to one router thread.
//!
//! Every call is `try_send` (a full queue is `queue_full` at once, never a blocked HTTP
//! thread) then `recv_timeout` (the caller waits at most the command timeout).

use super::command::{
    Command, IsolateOutcome, IsolateRequest, Job, RefreshOutcome, TrafficReading, UpdateOutcome,
};
use super::snapshot::{RouterSnapshot, SnapshotCell};
use super::FleetError;
use crate::model::{NewSecret, SecretChanges};
use crate::model::{Profile, Resource, RouterId};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cheap, shareable handle to one router thread.
pub struct RouterHandle {
    pub id: RouterId,
    pub(crate) commands: Sender<Command>,
    pub(crate) cell: Arc<SnapshotCell>,
    pub(crate) command_timeout: Duration,
    pub(crate) waiters: AtomicUsize,
    pub(crate) max_waiters: usize,
    pub(crate) waiters_total: Arc<AtomicUsize>,
    pub(crate) max_waiters_total: usize,
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

    fn call<T>(&self, make: impl FnOnce(Job<T>) -> Command) -> Result<T, FleetError> {
        let snapshot = self.snapshot();
        if snapshot.unavailable {
            return Err(FleetError::Offline(
                snapshot
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not connected".into()),
            ));
        }
        // Every waiter holds an HTTP thread: past the limits, busy at once rather than a
        // pool whose threads all wait on one slow router.
        let Some(_slot) = WaiterSlot::take(
            &self.waiters,
            self.max_waiters,
            &self.waiters_total,
            self.max_waiters_total,
        ) else {
            return Err(FleetError::QueueFull);
        };
        let (reply, answer) = bounded(1);
        let deadline = Instant::now() + self.command_timeout;
        match self.commands.try_send(make(Job { deadline, reply })) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(FleetError::QueueFull),
            Err(TrySendError::Disconnected(_)) => {
                return Err(FleetError::Offline("router is being stopped".into()))
            }
        }
        match answer.recv_timeout(self.command_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(FleetError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(FleetError::Internal(
                "the router thread failed while running the command and was restarted".into(),
            )),
        }
    }

    /// `/system/resource/print` now (also refreshes the cached copy).
    pub fn live_resource(&self) -> Result<Resource, FleetError> {
        self.call(Command::LiveResource)
    }

    /// Live bits/s of `user` (smart detection).
    pub fn traffic(&self, user: &str) -> Result<TrafficReading, FleetError> {
        self.call(|job| Command::Traffic(job, user.to_owned()))
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
