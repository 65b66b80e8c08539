//! Isolation by user: the router's address list is the state. An entry the engine adds for a
//! user carries `net-engine:user=NAME` in its comment (plus the caller's comment after `; `),
//! so any engine can read back whom it isolates; [`plan`] says which entries must move to the
//! user's live address, or be disabled while the user is offline (so the old address is never
//! listed for whoever gets it next).

use crate::model::{ActiveSession, AddressListEntry};
use std::collections::HashMap;

/// What an engine-made entry's comment starts with.
pub const TAG_PREFIX: &str = "net-engine:user=";

/// The comment of an entry isolating `user`, with the caller's comment kept after `; `.
pub fn tagged_comment(user: &str, comment: Option<&str>) -> String {
    match comment.filter(|c| !c.is_empty()) {
        Some(comment) => format!("{TAG_PREFIX}{user}; {comment}"),
        None => format!("{TAG_PREFIX}{user}"),
    }
}

/// The user an entry's comment names, when the engine made it.
pub fn tagged_user(comment: &str) -> Option<&str> {
    let rest = comment.strip_prefix(TAG_PREFIX)?;
    let user = rest.split_once("; ").map_or(rest, |(user, _)| user);
    (!user.is_empty()).then_some(user)
}

/// One change to one entry: point it at `address`, enabled or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub id: String,
    pub user: String,
    pub address: String,
    pub disabled: bool,
}

/// An address as an isolation-list entry may hold it: `10.0.0.5` and `10.0.0.5/32` alike.
pub(crate) fn bare(address: &str) -> &str {
    address.strip_suffix("/32").unwrap_or(address)
}

/// One router command that isolates or restores a user, planned from the cached session and
/// isolation lists instead of reading them live. A plan is tried once; when the router
/// answers that the entry is gone or already there, the caller falls back on the live path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedStep {
    /// No entry names the user: add one on this address.
    Add { address: String },
    /// The user's entry exists: point it at this address, enabled (`changed` when it did not
    /// already say so).
    Set {
        id: String,
        address: String,
        changed: bool,
    },
    /// Restore: remove the one entry naming the user (at `address`).
    Remove { id: String, address: String },
}

/// The one-command plan for isolating (`add`) or restoring `user`, when the cache is enough:
/// the user is online in `sessions` (so the address is theirs now) and at most one entry
/// concerns them. `None` means: do it live.
pub fn cached_step(
    user: &str,
    add: bool,
    entries: &[AddressListEntry],
    sessions: &[ActiveSession],
) -> Option<CachedStep> {
    let address = sessions
        .iter()
        .find(|s| s.name == user && !s.address.is_empty())?
        .address
        .to_string();
    let mut tagged = entries
        .iter()
        .filter(|e| !e.dynamic && tagged_user(&e.comment) == Some(user));
    let entry = tagged.next();
    if tagged.next().is_some() {
        return None;
    }
    // An untagged entry on the address (added by ip) is the live path's business.
    let by_address = entries
        .iter()
        .any(|e| !e.dynamic && bare(&e.address) == address && tagged_user(&e.comment).is_none());
    if by_address {
        return None;
    }
    match (add, entry) {
        (true, None) => Some(CachedStep::Add { address }),
        (true, Some(entry)) => Some(CachedStep::Set {
            id: entry.id.to_string(),
            changed: bare(&entry.address) != address || entry.disabled,
            address,
        }),
        (false, Some(entry)) => Some(CachedStep::Remove {
            id: entry.id.to_string(),
            address: bare(&entry.address).to_owned(),
        }),
        (false, None) => None,
    }
}

/// The changes that make every tagged entry follow its user: enabled on the user's live
/// address while online, disabled (address kept) while offline.
pub fn plan(entries: &[AddressListEntry], sessions: &[ActiveSession]) -> Vec<Fix> {
    let live: HashMap<&str, &str> = sessions
        .iter()
        .filter(|s| !s.address.is_empty())
        .map(|s| (s.name.as_str(), s.address.as_str()))
        .collect();
    let mut fixes = Vec::new();
    for entry in entries.iter().filter(|e| !e.dynamic) {
        let Some(user) = tagged_user(&entry.comment) else {
            continue;
        };
        match live.get(user) {
            Some(address) if bare(&entry.address) != *address || entry.disabled => {
                fixes.push(Fix {
                    id: entry.id.to_string(),
                    user: user.to_owned(),
                    address: (*address).to_owned(),
                    disabled: false,
                })
            }
            Some(_) => {}
            None if !entry.disabled => fixes.push(Fix {
                id: entry.id.to_string(),
                user: user.to_owned(),
                address: entry.address.to_string(),
                disabled: true,
            }),
            None => {}
        }
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, address: &str, comment: &str, disabled: bool) -> AddressListEntry {
        AddressListEntry {
            id: id.into(),
            list: "ISOLATED".into(),
            address: address.into(),
            comment: comment.into(),
            dynamic: false,
            disabled,
        }
    }

    fn session(name: &str, address: &str) -> ActiveSession {
        ActiveSession {
            id: compact_str::format_compact!("*{name}"),
            name: name.into(),
            address: address.into(),
            ..ActiveSession::default()
        }
    }

    #[test]
    fn the_cache_plans_one_command_only_when_it_knows_enough() {
        let online = [session("alice", "10.0.0.5")];
        let tag = "net-engine:user=alice";
        assert_eq!(
            cached_step("alice", true, &[], &online),
            Some(CachedStep::Add {
                address: "10.0.0.5".into()
            })
        );
        assert_eq!(cached_step("alice", true, &[], &[]), None, "offline: live");
        let moved = [entry("*1", "10.0.0.9", tag, false)];
        assert_eq!(
            cached_step("alice", true, &moved, &online),
            Some(CachedStep::Set {
                id: "*1".into(),
                address: "10.0.0.5".into(),
                changed: true
            })
        );
        let same = [entry("*1", "10.0.0.5/32", tag, false)];
        assert!(matches!(
            cached_step("alice", true, &same, &online),
            Some(CachedStep::Set { changed: false, .. })
        ));
        assert_eq!(
            cached_step("alice", false, &same, &online),
            Some(CachedStep::Remove {
                id: "*1".into(),
                address: "10.0.0.5".into()
            })
        );
        assert_eq!(cached_step("alice", false, &[], &online), None);
        let by_ip = [entry("*2", "10.0.0.5", "", false)];
        assert_eq!(cached_step("alice", true, &by_ip, &online), None);
        let twice = [
            entry("*1", "10.0.0.5", tag, false),
            entry("*3", "10.0.0.7", tag, true),
        ];
        assert_eq!(cached_step("alice", false, &twice, &online), None);
    }

    #[test]
    fn comments_name_the_user() {
        assert_eq!(tagged_comment("alice", None), "net-engine:user=alice");
        assert_eq!(
            tagged_comment("alice", Some("unpaid")),
            "net-engine:user=alice; unpaid"
        );
        assert_eq!(tagged_user("net-engine:user=alice; unpaid"), Some("alice"));
        assert_eq!(tagged_user("net-engine:user=bob"), Some("bob"));
        assert_eq!(tagged_user("net-engine:user="), None);
        assert_eq!(tagged_user("manual block"), None);
    }

    #[test]
    fn entries_follow_the_user() {
        let entries = [
            entry("*1", "10.0.0.5", "net-engine:user=alice", false),
            entry("*2", "10.0.0.6", "net-engine:user=bob; x", false),
            entry("*3", "10.0.0.7", "net-engine:user=carol", true),
            entry("*4", "10.0.0.8", "net-engine:user=dave", false),
            entry("*5", "10.0.0.9", "by hand", false),
        ];
        let sessions = [
            session("alice", "10.0.0.50"),
            session("carol", "10.0.0.7"),
            session("dave", "10.0.0.8"),
        ];
        let fixes = plan(&entries, &sessions);
        let summary: Vec<(&str, &str, bool)> = fixes
            .iter()
            .map(|f| (f.id.as_str(), f.address.as_str(), f.disabled))
            .collect();
        assert_eq!(
            summary,
            [
                ("*1", "10.0.0.50", false),
                ("*2", "10.0.0.6", true),
                ("*3", "10.0.0.7", false),
            ]
        );
    }
}
