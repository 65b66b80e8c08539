//! Fleet-wide read bodies (`/monitoring/targets`, `/routers`), built once per poll generation.
//!
//! Each router's target rows are serialised once per published session list and kept, keyed
//! by the list's `Arc` (the router thread publishes a new one only when the list changed).
//! The whole body is kept too, keyed by every router's list (or snapshot) `Arc`: a read that
//! finds the same generation as the last one is answered with the same shared bytes.

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

/// A body and the generation (one key per router, compared by pointer) it was built from.
type Generation<K> = Mutex<Option<(Vec<K>, Arc<[u8]>)>>;

/// The body of `slot` when `keys` are the same generation, else `build`'s, kept for next time.
/// A failed build is not kept.
fn generation<K, E>(
    slot: &Generation<K>,
    keys: Vec<K>,
    same: fn(&K, &K) -> bool,
    build: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Arc<[u8]>, E> {
    // Held while building, so concurrent readers of a new generation build it once.
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((cached, body)) = slot.as_ref() {
        if cached.len() == keys.len() && cached.iter().zip(&keys).all(|(a, b)| same(a, b)) {
            return Ok(Arc::clone(body));
        }
    }
    let body: Arc<[u8]> = Arc::from(build()?);
    *slot = Some((keys, Arc::clone(&body)));
    Ok(body)
}

/// Serialised rows per router, rebuilt when that router's session list changes, and the
/// last whole bodies.
#[derive(Default)]
pub struct TargetsCache {
    rows: Mutex<HashMap<RouterId, CachedRows>>,
    targets: Generation<(RouterId, Arc<Vec<ActiveSession>>)>,
    routers: Generation<Arc<RouterSnapshot>>,
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

    /// The whole `/monitoring/targets` body for these snapshots, shared while no router's
    /// session list changed.
    pub fn body(&self, snapshots: &[Arc<RouterSnapshot>]) -> Arc<[u8]> {
        let keys = snapshots
            .iter()
            .map(|s| (s.id, Arc::clone(&s.sessions)))
            .collect();
        let built = generation(
            &self.targets,
            keys,
            |a, b| a.0 == b.0 && Arc::ptr_eq(&a.1, &b.1),
            || Ok::<_, std::convert::Infallible>(self.build(snapshots).into_bytes()),
        );
        match built {
            Ok(body) => body,
            Err(never) => match never {},
        }
    }

    /// The whole `/routers` body for these snapshots, shared while no snapshot changed;
    /// `build` serialises it.
    pub fn routers_body<E>(
        &self,
        snapshots: &[Arc<RouterSnapshot>],
        build: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        generation(&self.routers, snapshots.to_vec(), Arc::ptr_eq, build)
    }

    /// A bare array of rows as the Go engine answered, for these snapshots.
    /// Routers that left the fleet are dropped from the row cache.
    fn build(&self, snapshots: &[Arc<RouterSnapshot>]) -> String {
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
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            Arc::ptr_eq(&body, &cache.body(&[Arc::clone(&one), Arc::clone(&two)])),
            "same generation: the same shared body"
        );
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
        let changed = Arc::new(changed);
        let next = cache.body(&[Arc::clone(&changed), Arc::clone(&two)]);
        assert!(!Arc::ptr_eq(&body, &next), "a new session list: a new body");
        assert!(String::from_utf8_lossy(&next).contains("bob"));
        cache.body(&[Arc::clone(&two)]);
        assert_eq!(cache.rows.lock().unwrap().len(), 1);
    }

    #[test]
    fn routers_body_is_built_once_per_generation() {
        let cache = TargetsCache::default();
        let one = Arc::new(RouterSnapshot::new(RouterId(1), "r1", "127.0.0.1", 1));
        let mut builds = 0;
        let mut build = |bytes: &[u8]| {
            builds += 1;
            Ok::<_, ()>(bytes.to_vec())
        };
        let first = cache.routers_body(&[Arc::clone(&one)], || build(b"[1]"));
        let again = cache.routers_body(&[Arc::clone(&one)], || build(b"[2]"));
        assert!(Arc::ptr_eq(&first.unwrap(), &again.unwrap()));
        let polled = Arc::new((*one).clone());
        assert!(cache
            .routers_body(&[Arc::clone(&polled)], || Err(()))
            .is_err());
        let next = cache.routers_body(&[polled], || build(b"[3]"));
        assert_eq!(&*next.unwrap(), b"[3]");
        assert_eq!(builds, 2);
    }
}
