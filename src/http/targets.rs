//! The `/monitoring/targets` body: every live session of the fleet, built from snapshots.
//!
//! Each router's rows are serialised once per published session list and kept, keyed by the
//! list's `Arc` (the router thread publishes a new one only when the list changed), so a
//! fleet-wide read is a concatenation of cached strings.

use super::dto::TargetRow;
use crate::fleet::RouterSnapshot;
use crate::model::{ActiveSession, RouterId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One router's rows, and the session list they were built from.
struct CachedRows {
    sessions: Arc<Vec<ActiveSession>>,
    /// The rows as JSON objects joined by commas, without brackets.
    json: Arc<String>,
}

/// Serialised rows per router, rebuilt when that router's session list changes.
#[derive(Default)]
pub struct TargetsCache {
    rows: Mutex<HashMap<RouterId, CachedRows>>,
}

impl TargetsCache {
    /// The rows of one router, from the cache when its session list is the same `Arc`.
    fn rows(&self, snapshot: &RouterSnapshot) -> Arc<String> {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = rows.get(&snapshot.id) {
            if Arc::ptr_eq(&cached.sessions, &snapshot.sessions) {
                return Arc::clone(&cached.json);
            }
        }
        let json = Arc::new(rows_json(snapshot.id, &snapshot.sessions));
        rows.insert(
            snapshot.id,
            CachedRows {
                sessions: Arc::clone(&snapshot.sessions),
                json: Arc::clone(&json),
            },
        );
        json
    }

    /// The whole body, a bare array of rows as the Go engine answered, for these snapshots.
    /// Routers that left the fleet are dropped from the cache.
    pub fn body(&self, snapshots: &[Arc<RouterSnapshot>]) -> String {
        let parts: Vec<Arc<String>> = snapshots.iter().map(|s| self.rows(s)).collect();
        self.rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| snapshots.iter().any(|s| s.id == *id));
        let bytes: usize = parts.iter().map(|p| p.len() + 1).sum();
        let mut out = String::with_capacity(bytes + 2);
        out.push('[');
        let mut first = true;
        for part in parts.iter().filter(|p| !p.is_empty()) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(part);
        }
        out.push(']');
        out
    }
}

/// Serialises sessions as comma-joined `/monitoring/targets` rows.
fn rows_json(router: RouterId, sessions: &[ActiveSession]) -> String {
    let mut out = String::with_capacity(sessions.len() * 140);
    for (i, s) in sessions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let row = TargetRow {
            router_id: router.0,
            name: &s.name,
            address: &s.address,
            caller_id: &s.caller_id,
            uptime: &s.uptime,
            service: &s.service,
        };
        // Serialising plain strings and numbers cannot fail.
        if let Ok(json) = serde_json::to_string(&row) {
            out.push_str(&json);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str) -> ActiveSession {
        ActiveSession {
            name: name.into(),
            address: "10.0.0.1".into(),
            ..ActiveSession::default()
        }
    }

    #[test]
    fn rows_are_rebuilt_only_for_a_new_list_and_gone_routers_are_dropped() {
        let cache = TargetsCache::default();
        let mut one = RouterSnapshot::new(RouterId(1), "r1", "127.0.0.1", 1);
        one.sessions = Arc::new(vec![session("alice")]);
        let two = RouterSnapshot::new(RouterId(2), "r2", "127.0.0.1", 2);
        let (one, two) = (Arc::new(one), Arc::new(two));
        let body = cache.body(&[Arc::clone(&one), Arc::clone(&two)]);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(1));
        assert_eq!(parsed[0]["name"], "alice");
        assert_eq!(parsed[0]["router_id"], 1);
        let first = cache.rows(&one);
        assert!(
            Arc::ptr_eq(&first, &cache.rows(&one)),
            "same list: cached rows"
        );
        let mut changed = (*one).clone();
        changed.sessions = Arc::new(vec![session("bob")]);
        assert!(cache.rows(&changed).contains("bob"));
        cache.body(&[Arc::clone(&two)]);
        assert_eq!(cache.rows.lock().unwrap().len(), 1);
    }
}
