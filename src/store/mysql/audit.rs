//! The audit trail and idempotency keys in MySQL (`audit_log`, `idempotency_keys`, migration
//! 003): multi-row upserts, so a completed entry replaces its first row in place.

use super::*;
use crate::store::audit::{AuditBackend, AuditEntry, Outcome, StoredAnswer, KEY_LIFETIME};

/// Rows per multi-row statement (13 placeholders each).
const AUDIT_CHUNK_ROWS: usize = 200;

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl AuditBackend for MysqlStore {
    fn save_entries(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut session = self.session()?;
        for chunk in entries.chunks(AUDIT_CHUNK_ROWS) {
            let sql = format!(
                "INSERT INTO audit_log (id, at_ms, request_id, client, route, router_id, \
                 username, address, action, change_json, outcome, status, error) VALUES {} \
                 ON DUPLICATE KEY UPDATE outcome = VALUES(outcome), error = VALUES(error), \
                 status = VALUES(status)",
                sync::placeholders(chunk.len(), 13, "")
            );
            let mut params = Vec::with_capacity(chunk.len() * 13);
            for e in chunk {
                params.extend([
                    Value::from(&e.id),
                    Value::from(e.at_ms),
                    Value::from(e.request_id),
                    Value::from(clip(&e.client, 64)),
                    Value::from(clip(&e.route, 100)),
                    Value::from(e.router_id),
                    Value::from(e.user.as_deref().map(|u| clip(u, 100))),
                    Value::from(e.address.as_deref().map(|a| clip(a, 64))),
                    Value::from(clip(&e.action, 32)),
                    Value::from(e.change.to_string()),
                    Value::from(e.outcome.as_str()),
                    Value::from(e.status),
                    Value::from(e.error.as_deref()),
                ]);
            }
            session.exec_drop(&sql, params)?;
        }
        Ok(())
    }

    fn save_answers(&self, answers: &[StoredAnswer]) -> Result<(), StoreError> {
        let mut session = self.session()?;
        for chunk in answers.chunks(AUDIT_CHUNK_ROWS) {
            let sql = format!(
                "INSERT INTO idempotency_keys (idem_key, fingerprint, created_ms, status, body, \
                 retry_after) VALUES {} ON DUPLICATE KEY UPDATE fingerprint = VALUES(fingerprint), \
                 created_ms = VALUES(created_ms), status = VALUES(status), body = VALUES(body), \
                 retry_after = VALUES(retry_after)",
                sync::placeholders(chunk.len(), 6, "")
            );
            let mut params = Vec::with_capacity(chunk.len() * 6);
            for a in chunk {
                params.extend([
                    Value::from(&a.key),
                    Value::from(&a.fingerprint),
                    Value::from(a.created_ms),
                    Value::from(a.status),
                    Value::from(&a.body),
                    Value::from(a.retry_after),
                ]);
            }
            session.exec_drop(&sql, params)?;
        }
        let expired = crate::store::audit::now_ms()
            .saturating_sub(u64::try_from(KEY_LIFETIME.as_millis()).unwrap_or(u64::MAX));
        session.exec_drop(
            "DELETE FROM idempotency_keys WHERE created_ms < ?",
            vec![Value::from(expired)],
        )?;
        Ok(())
    }

    fn load_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<mysql::Row> = self.session()?.exec_rows(
            "SELECT id, at_ms, request_id, client, route, router_id, username, address, action, \
             change_json, outcome, status, error FROM audit_log ORDER BY at_ms DESC, id DESC \
             LIMIT ?",
            vec![Value::from(limit as u64)],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let change: String = row.get(9)?;
                let outcome: String = row.get(10)?;
                Some(AuditEntry {
                    id: row.get(0)?,
                    at_ms: row.get(1)?,
                    request_id: row.get(2)?,
                    client: row.get(3)?,
                    route: row.get(4)?,
                    router_id: row.get(5)?,
                    user: row.get(6)?,
                    address: row.get(7)?,
                    action: row.get(8)?,
                    change: serde_json::from_str(&change).unwrap_or_default(),
                    outcome: Outcome::parse(&outcome)?,
                    status: row.get(11)?,
                    error: row.get(12)?,
                })
            })
            .collect())
    }

    fn load_answers(&self, since_ms: u64) -> Result<Vec<StoredAnswer>, StoreError> {
        type Row = (String, String, u64, u16, String, Option<u32>);
        let rows: Vec<Row> = self.session()?.exec_rows(
            "SELECT idem_key, fingerprint, created_ms, status, body, retry_after \
             FROM idempotency_keys WHERE created_ms >= ?",
            vec![Value::from(since_ms)],
        )?;
        Ok(rows
            .into_iter()
            .map(
                |(key, fingerprint, created_ms, status, body, retry_after)| StoredAnswer {
                    key,
                    fingerprint,
                    created_ms,
                    status,
                    body,
                    retry_after,
                },
            )
            .collect())
    }
}
