//! The PPPoE user sync: one router's secrets written to `pppoe_users` in one transaction,
//! in multi-row statements, unchanged rows not written at all.

use super::*;

/// A `pppoe_users` row as the sync compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserRow {
    profile: Option<String>,
    remote_address: Option<String>,
    enabled: bool,
}

impl UserRow {
    pub(super) fn from_secret(secret: &Secret) -> UserRow {
        let clip = |text: &str, max: usize| -> Option<String> {
            let text = text.trim();
            (!text.is_empty()).then(|| text.chars().take(max).collect())
        };
        UserRow {
            profile: clip(&secret.profile, MAX_PROFILE),
            remote_address: clip(&secret.remote_address, MAX_REMOTE_ADDRESS),
            enabled: !secret.disabled,
        }
    }
}

pub(super) fn sync_in_transaction(
    session: &mut Session<'_>,
    router: RouterId,
    wanted: &HashMap<&str, UserRow>,
    connected: &[String],
    counts: &mut SyncCounts,
) -> Result<(), StoreError> {
    type ExistingRow = (String, Option<String>, Option<String>, Option<i64>, i64);
    let rows: Vec<ExistingRow> = session.exec_rows(
        "SELECT username, profile, remote_address, is_enabled, deleted_at IS NULL \
         FROM pppoe_users WHERE router_id = ?",
        vec![Value::from(router.0)],
    )?;
    // name -> (row, still present on the router at the last sync)
    let existing: HashMap<String, (UserRow, bool)> = rows
        .into_iter()
        .map(|(name, profile, remote_address, enabled, present)| {
            let row = UserRow {
                profile,
                remote_address,
                enabled: enabled.unwrap_or(1) != 0,
            };
            (name, (row, present != 0))
        })
        .collect();

    let mut upserts: Vec<(&str, &UserRow)> = Vec::new();
    for (&name, row) in wanted {
        match existing.get(name) {
            None => {
                counts.inserted += 1;
                upserts.push((name, row));
            }
            Some((current, true)) if current == row => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                upserts.push((name, row));
            }
        }
    }
    // Sorted so that concurrent syncs lock rows in the same order.
    upserts.sort_unstable_by_key(|(name, _)| *name);
    for chunk in upserts.chunks(SYNC_CHUNK_ROWS) {
        let sql = format!(
            "INSERT INTO pppoe_users (router_id, username, profile, remote_address, is_enabled, deleted_at) \
             VALUES {} ON DUPLICATE KEY UPDATE profile = VALUES(profile), \
             remote_address = VALUES(remote_address), is_enabled = VALUES(is_enabled), deleted_at = NULL",
            placeholders(chunk.len(), 5, "NULL")
        );
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (name, row) in chunk {
            params.push(Value::from(router.0));
            params.push(Value::from(*name));
            params.push(Value::from(row.profile.as_deref()));
            params.push(Value::from(row.remote_address.as_deref()));
            params.push(Value::from(u8::from(row.enabled)));
        }
        session.exec_drop(&sql, params)?;
    }

    let mut missing: Vec<&str> = existing
        .iter()
        .filter(|(name, (_, present))| *present && !wanted.contains_key(name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    missing.sort_unstable();
    counts.marked_missing = missing.len() as u64;
    for chunk in missing.chunks(SYNC_CHUNK_ROWS) {
        let sql = format!(
            "UPDATE pppoe_users SET is_enabled = 0, deleted_at = NOW() \
             WHERE router_id = ? AND deleted_at IS NULL AND username IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut params = vec![Value::from(router.0)];
        params.extend(chunk.iter().map(|name| Value::from(*name)));
        session.exec_drop(&sql, params)?;
    }

    // A live session whose secret is gone (not kicked yet) still counts as seen.
    let mut seen: Vec<&str> = connected
        .iter()
        .map(String::as_str)
        .filter(|name| wanted.contains_key(name) || existing.contains_key(*name))
        .collect::<HashSet<&str>>()
        .into_iter()
        .collect();
    seen.sort_unstable();
    counts.seen = seen.len() as u64;
    for chunk in seen.chunks(SYNC_CHUNK_ROWS) {
        // `updated_at = updated_at`: being online is not a change to the row.
        let sql = format!(
            "UPDATE pppoe_users SET last_seen_at = NOW(), updated_at = updated_at \
             WHERE router_id = ? AND username IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut params = vec![Value::from(router.0)];
        params.extend(chunk.iter().map(|name| Value::from(*name)));
        session.exec_drop(&sql, params)?;
    }
    Ok(())
}

/// `(?, ?, ?, tail), (?, ?, ?, tail)` for `rows` rows of `columns` placeholders each.
pub(super) fn placeholders(rows: usize, columns: usize, tail: &str) -> String {
    let mut one = vec!["?"; columns].join(", ");
    if !tail.is_empty() {
        one = format!("{one}, {tail}");
    }
    vec![format!("({one})"); rows].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_shape() {
        assert_eq!(
            placeholders(2, 3, "NULL"),
            "(?, ?, ?, NULL), (?, ?, ?, NULL)"
        );
        assert_eq!(placeholders(1, 2, ""), "(?, ?)");
    }
}
