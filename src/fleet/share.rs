//! One router command per key, however many callers ask: calls that arrive while it runs, or
//! within a short window after it answered, get that command's answer.
//!
//! Keys are one router's (each `RouterHandle` owns its own `Shared`), so an answer can only
//! reach callers that asked the same router for the same key. Only a success is kept for the
//! window; a failure goes to the callers that waited on that command and is then forgotten.

use super::FleetError;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Above this many keys, expired answers are swept out before a new key is added.
const SWEEP_AT: usize = 1024;

enum State<T> {
    Running,
    Done {
        result: Result<T, FleetError>,
        at: Instant,
    },
}

/// One command's answer, awaited by every caller that shares it.
struct Slot<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T: Clone> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept answer when it is still within `window` of when it came.
    fn fresh(&self, window: Duration) -> Option<Result<T, FleetError>> {
        match &*self.lock() {
            State::Done {
                result: Ok(value),
                at,
            } if at.elapsed() < window => Some(Ok(value.clone())),
            _ => None,
        }
    }

    fn running(&self) -> bool {
        matches!(&*self.lock(), State::Running)
    }

    fn wait(&self, deadline: Instant) -> Result<T, FleetError> {
        let mut state = self.lock();
        loop {
            if let State::Done { result, .. } = &*state {
                return result.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FleetError::Timeout);
            }
            state = match self.done.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn finish(&self, result: Result<T, FleetError>) {
        *self.lock() = State::Done {
            result,
            at: Instant::now(),
        };
        self.done.notify_all();
    }
}

/// Answers shared per key for one router.
pub struct Shared<T> {
    window: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
}

/// What a caller does: run the command itself, wait for the one running, or take an answer.
enum Role<T> {
    Lead(Arc<Slot<T>>),
    Follow(Arc<Slot<T>>),
    Answer(Result<T, FleetError>),
}

/// The leader's promise to answer its followers, even if it unwinds.
struct Lead<'a, T: Clone> {
    shared: &'a Shared<T>,
    key: &'a str,
    slot: Arc<Slot<T>>,
    finished: bool,
}

impl<T: Clone> Lead<'_, T> {
    fn finish(mut self, result: Result<T, FleetError>) -> Result<T, FleetError> {
        self.finished = true;
        self.slot.finish(result.clone());
        if result.is_err() || self.shared.window.is_zero() {
            self.shared.forget(self.key, &self.slot);
        }
        result
    }
}

impl<T: Clone> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.slot.finish(Err(FleetError::Internal(
                "the shared command was abandoned".into(),
            )));
            self.shared.forget(self.key, &self.slot);
        }
    }
}

impl<T: Clone> Shared<T> {
    /// `window`: how long after it came an answer still serves new callers (0: only the
    /// callers that arrived while it ran).
    pub fn new(window: Duration) -> Self {
        Shared {
            window,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot<T>>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, key: &str, slot: &Arc<Slot<T>>) {
        let mut slots = self.slots();
        if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }

    fn role(&self, key: &str) -> Role<T> {
        let mut slots = self.slots();
        if let Some(slot) = slots.get(key) {
            if let Some(answer) = slot.fresh(self.window) {
                return Role::Answer(answer);
            }
            if slot.running() {
                return Role::Follow(Arc::clone(slot));
            }
        }
        if slots.len() >= SWEEP_AT {
            let window = self.window;
            slots.retain(|_, slot| slot.running() || slot.fresh(window).is_some());
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Running),
            done: Condvar::new(),
        });
        slots.insert(key.to_owned(), Arc::clone(&slot));
        Role::Lead(slot)
    }

    /// The answer for `key`: a fresh kept one, the one of the command running now (waited
    /// for until `deadline`), or `run`'s, which every caller arriving meanwhile shares.
    /// `wait` runs around a follower's wait (e.g. to hold a waiter slot); it may refuse.
    pub fn get(
        &self,
        key: &str,
        deadline: Instant,
        wait: impl FnOnce(&dyn Fn() -> Result<T, FleetError>) -> Result<T, FleetError>,
        run: impl FnOnce() -> Result<T, FleetError>,
    ) -> Result<T, FleetError> {
        match self.role(key) {
            Role::Answer(answer) => answer,
            Role::Follow(slot) => wait(&|| slot.wait(deadline)),
            Role::Lead(slot) => {
                let lead = Lead {
                    shared: self,
                    key,
                    slot,
                    finished: false,
                };
                lead.finish(run())
            }
        }
    }

    /// Keys held now (tests).
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    fn no_wrap(wait: &dyn Fn() -> Result<u32, FleetError>) -> Result<u32, FleetError> {
        wait()
    }

    #[test]
    fn callers_during_a_command_share_it_and_its_failure() {
        let shared = Arc::new(Shared::<u32>::new(Duration::ZERO));
        let runs = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (shared, runs, barrier) =
                    (Arc::clone(&shared), Arc::clone(&runs), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    shared.get("u", deadline, no_wrap, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        Err(FleetError::UserOffline("u".into()))
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Err(FleetError::UserOffline("u".into())));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(shared.is_empty(), "a failure is not kept");
        // The next caller runs again.
        let again = shared.get(
            "u",
            Instant::now() + Duration::from_secs(1),
            no_wrap,
            || Ok(3),
        );
        assert_eq!(again, Ok(3));
    }

    #[test]
    fn a_success_serves_the_window_then_runs_again() {
        let shared = Shared::<u32>::new(Duration::from_millis(150));
        let deadline = || Instant::now() + Duration::from_secs(1);
        assert_eq!(shared.get("a", deadline(), no_wrap, || Ok(1)), Ok(1));
        assert_eq!(shared.get("a", deadline(), no_wrap, || Ok(2)), Ok(1));
        assert_eq!(
            shared.get("b", deadline(), no_wrap, || Ok(7)),
            Ok(7),
            "own key"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(shared.get("a", deadline(), no_wrap, || Ok(2)), Ok(2));
    }

    #[test]
    fn a_follower_stops_waiting_at_its_deadline() {
        let shared = Arc::new(Shared::<u32>::new(Duration::ZERO));
        let leader = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                shared.get(
                    "u",
                    Instant::now() + Duration::from_secs(5),
                    no_wrap,
                    || {
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(1)
                    },
                )
            })
        };
        while shared.is_empty() {
            std::thread::yield_now();
        }
        let follower = shared.get(
            "u",
            Instant::now() + Duration::from_millis(20),
            no_wrap,
            || Ok(9),
        );
        assert_eq!(follower, Err(FleetError::Timeout));
        assert_eq!(leader.join().unwrap(), Ok(1));
    }
}
