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

fn bare(address: &str) -> &str {
    address.strip_suffix("/32").unwrap_or(address)
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
                    id: entry.id.clone(),
                    user: user.to_owned(),
                    address: (*address).to_owned(),
                    disabled: false,
                })
            }
            Some(_) => {}
            None if !entry.disabled => fixes.push(Fix {
                id: entry.id.clone(),
                user: user.to_owned(),
                address: entry.address.clone(),
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
            id: format!("*{name}"),
            name: name.into(),
            address: address.into(),
            ..ActiveSession::default()
        }
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
