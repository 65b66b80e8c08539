//! What HTTP threads can ask a router thread to do: a closed set of commands, each with its
//! own typed one-slot reply channel and a deadline.

use super::FleetError;
use crate::model::{ActiveSession, Profile, Resource, Secret};
use crate::model::{NewSecret, SecretChanges};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// A caller's deadline and where its answer goes.
pub struct Job<T> {
    pub deadline: Instant,
    pub reply: Sender<Result<T, FleetError>>,
}

impl<T> Job<T> {
    /// Sends the answer; a caller that gave up is not an error.
    pub fn finish(self, result: Result<T, FleetError>) {
        let _ = self.reply.send(result);
    }
}

/// A write whose caller stopped waiting at its deadline. The router thread still answers
/// here: the change's result when the router answered late (within the fleet's
/// `late_answer_grace`), `Err(NotSent)` when it expired in the queue and never reached the
/// router, or nothing at all when the router never answered.
pub struct Unanswered<T> {
    pub(crate) answer: Receiver<Result<T, FleetError>>,
    /// When the router thread gives up on the answer itself (plus a margin).
    pub(crate) wait_until: Instant,
}

impl<T> Unanswered<T> {
    /// Waits for the late answer; `None` when the router never gave one.
    pub fn wait(self) -> Option<Result<T, FleetError>> {
        self.answer.recv_deadline(self.wait_until).ok()
    }
}

/// Why a write returned without its result.
pub enum WriteError<T> {
    /// The fleet answered (refused, offline, the router said no, …).
    Failed(FleetError),
    /// The caller's deadline passed first; the outcome may still arrive.
    Unanswered(Unanswered<T>),
}

/// Where a traffic reading came from, in detection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrafficSource {
    /// A simple queue named exactly as the user.
    Queue,
    /// The dynamic `<pppoe-USER>` queue of the live session.
    PppoeQueue,
    /// A simple queue whose target is the session's address `/32`.
    TargetQueue,
    /// `/interface/monitor-traffic` on `<pppoe-USER>`.
    MonitorTraffic,
}

impl TrafficSource {
    pub const DETECTION_ORDER: [TrafficSource; 4] = [
        TrafficSource::Queue,
        TrafficSource::PppoeQueue,
        TrafficSource::TargetQueue,
        TrafficSource::MonitorTraffic,
    ];
}

/// Live bits/s of one customer, from the customer's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficReading {
    pub user: String,
    pub source: TrafficSource,
    pub queue: Option<String>,
    pub upload_bps: u64,
    pub download_bps: u64,
    pub sampled_at: SystemTime,
}

/// What a refresh (sync) read from the router.
#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    pub secrets: Arc<Vec<Secret>>,
    pub sessions: Arc<Vec<ActiveSession>>,
}

/// Result of changing a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub updated: Vec<&'static str>,
    pub kicked: usize,
}

/// Add an address to, or remove it from, a firewall address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolateRequest {
    pub add: bool,
    pub list: String,
    /// Either an address or a user whose address is looked up.
    pub ip: Option<String>,
    pub user: Option<String>,
    pub comment: Option<String>,
}

/// What isolate did: `changed` is false when the list already was as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolateOutcome {
    pub address: String,
    pub changed: bool,
}

/// One change of a batch (a bulk item) for one router, resolved by the router thread from
/// its cached lists and pipelined with the batch's other changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchWrite {
    /// Isolation by user on the isolation list (`ISOLATED`), as `Isolate` with a user.
    Isolate {
        user: String,
        comment: Option<String>,
    },
    Unisolate {
        user: String,
    },
    Kick {
        user: String,
    },
    UpdateSecret {
        user: String,
        changes: SecretChanges,
    },
    DeleteSecret {
        user: String,
    },
}

impl BatchWrite {
    /// The user the change is for (changes for one user keep their order).
    pub fn user(&self) -> &str {
        match self {
            BatchWrite::Isolate { user, .. }
            | BatchWrite::Unisolate { user }
            | BatchWrite::Kick { user }
            | BatchWrite::UpdateSecret { user, .. }
            | BatchWrite::DeleteSecret { user } => user,
        }
    }
}

/// Each change's own result, in the batch's order.
pub type BatchOutcome = Vec<Result<(), FleetError>>;

/// One request to a router thread.
pub enum Command {
    LiveResource(Job<Resource>),
    Traffic(Job<TrafficReading>, String),
    Refresh(Job<RefreshOutcome>),
    Profiles(Job<Vec<Profile>>),
    AddSecret(Job<String>, NewSecret),
    UpdateSecret(Job<UpdateOutcome>, String, SecretChanges, bool),
    DeleteSecret(Job<usize>, String, bool),
    Kick(Job<usize>, String),
    Isolate(Job<IsolateOutcome>, IsolateRequest),
    Backup(Job<String>),
    /// Many changes, up to `bulk_in_flight` commands in flight; the job's deadline is the
    /// last moment a command may be written (what was not written by then is `NotSent`).
    Batch(Job<BatchOutcome>, Vec<BatchWrite>),
}

impl Command {
    pub fn deadline(&self) -> Instant {
        match self {
            Command::LiveResource(j) => j.deadline,
            Command::Traffic(j, _) => j.deadline,
            Command::Refresh(j) => j.deadline,
            Command::Profiles(j) => j.deadline,
            Command::AddSecret(j, _) => j.deadline,
            Command::UpdateSecret(j, ..) => j.deadline,
            Command::DeleteSecret(j, ..) => j.deadline,
            Command::Kick(j, _) => j.deadline,
            Command::Isolate(j, _) => j.deadline,
            Command::Backup(j) => j.deadline,
            Command::Batch(j, _) => j.deadline,
        }
    }

    /// True for commands that change the router (never run after their deadline).
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            Command::AddSecret(..)
                | Command::UpdateSecret(..)
                | Command::DeleteSecret(..)
                | Command::Kick(..)
                | Command::Isolate(..)
                | Command::Backup(..)
                | Command::Batch(..)
        )
    }

    /// True for commands after which the cached secret or session list is out of date.
    pub fn changes_secrets_or_sessions(&self) -> bool {
        matches!(
            self,
            Command::AddSecret(..)
                | Command::UpdateSecret(..)
                | Command::DeleteSecret(..)
                | Command::Kick(..)
                | Command::Isolate(..)
                | Command::Batch(..)
        )
    }

    /// Answers the command with `error` without running it.
    pub fn fail(self, error: FleetError) {
        match self {
            Command::LiveResource(j) => j.finish(Err(error)),
            Command::Traffic(j, _) => j.finish(Err(error)),
            Command::Refresh(j) => j.finish(Err(error)),
            Command::Profiles(j) => j.finish(Err(error)),
            Command::AddSecret(j, _) => j.finish(Err(error)),
            Command::UpdateSecret(j, ..) => j.finish(Err(error)),
            Command::DeleteSecret(j, ..) => j.finish(Err(error)),
            Command::Kick(j, _) => j.finish(Err(error)),
            Command::Isolate(j, _) => j.finish(Err(error)),
            Command::Backup(j) => j.finish(Err(error)),
            Command::Batch(j, _) => j.finish(Err(error)),
        }
    }
}
