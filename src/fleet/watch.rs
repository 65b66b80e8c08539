//! The latest reading of each watched customer's traffic stream, shared between the router
//! thread (which writes it as the stream sends it) and the callers (which answer from it
//! without queueing behind the router thread, and mark when they last asked).

use super::TrafficReading;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

struct Entry {
    reading: Option<TrafficReading>,
    last_asked: Instant,
}

/// Watched users' latest readings, by user.
#[derive(Default)]
pub struct LiveTraffic {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LiveTraffic {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream's latest reading of `user`, when watched and a reading arrived; counts
    /// as asking (keeps the stream alive).
    pub fn latest(&self, user: &str) -> Option<TrafficReading> {
        let mut entries = self.lock();
        let entry = entries.get_mut(user)?;
        entry.last_asked = Instant::now();
        entry.reading.clone()
    }

    /// `user` is watched from now on (no reading yet).
    pub(crate) fn watch(&self, user: &str) {
        self.lock().insert(
            user.to_owned(),
            Entry {
                reading: None,
                last_asked: Instant::now(),
            },
        );
    }

    /// A caller asked about `user` (through the router thread).
    pub(crate) fn asked(&self, user: &str) {
        if let Some(entry) = self.lock().get_mut(user) {
            entry.last_asked = Instant::now();
        }
    }

    /// The stream's newest reading (ignored when `user` is no longer watched).
    pub(crate) fn publish(&self, user: &str, reading: Option<TrafficReading>) {
        if let Some(entry) = self.lock().get_mut(user) {
            entry.reading = reading;
        }
    }

    pub(crate) fn last_asked(&self, user: &str) -> Option<Instant> {
        self.lock().get(user).map(|e| e.last_asked)
    }

    pub(crate) fn forget(&self, user: &str) {
        self.lock().remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::TrafficSource;
    use std::time::SystemTime;

    #[test]
    fn only_watched_users_with_a_reading_answer() {
        let live = LiveTraffic::default();
        assert!(live.latest("alice").is_none());
        live.watch("alice");
        assert!(live.latest("alice").is_none());
        let reading = TrafficReading {
            user: "alice".into(),
            source: TrafficSource::MonitorTraffic,
            queue: None,
            upload_bps: 1,
            download_bps: 2,
            sampled_at: SystemTime::now(),
        };
        live.publish("alice", Some(reading.clone()));
        live.publish("bob", Some(reading.clone()));
        assert_eq!(live.latest("alice"), Some(reading));
        assert!(live.latest("bob").is_none());
        live.forget("alice");
        assert!(live.latest("alice").is_none());
    }
}
