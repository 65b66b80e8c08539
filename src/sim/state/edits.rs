//! Changes made through the API: `add`, `set` and `remove` on secrets, active sessions,
//! queues and address-list entries, and `/system/backup/save`.

use super::sessions::REDIAL_SECS;
use super::{text, SimState};
use crate::sim::table::Table;
use crate::sim::trap::SimTrap;
use crate::sim::values::{unix_now, DateTime, ItemRef};

impl SimState {
    pub(crate) fn profile_names(&self) -> Vec<Vec<u8>> {
        let at = self.profiles.prop_index("name").unwrap_or(0);
        self.profiles
            .items
            .iter()
            .filter_map(|item| item.values[at].clone())
            .collect()
    }

    /// Resolves `=.id=`/`=numbers=` references in a table; names are looked up in `name`.
    pub(crate) fn resolve(table: &Table, refs: &[ItemRef]) -> Result<Vec<u32>, SimTrap> {
        refs.iter()
            .map(|r| match r {
                ItemRef::Id(id) if table.position(*id).is_some() => Ok(*id),
                ItemRef::Id(_) => Err(SimTrap::no_such_item()),
                ItemRef::Name(name) => table.find_by_name(name).ok_or_else(SimTrap::no_such_item),
            })
            .collect()
    }

    pub(crate) fn secret_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let profiles = self.profile_names();
        let changes = self
            .secrets
            .check_args(args, &["copy-from", "place-before"], &profiles)?;
        let mut values = self.secrets.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let Some(name) = values[0].clone() else {
            return Err(SimTrap::missing_value("name"));
        };
        if self.secrets.find_by_name(&name).is_some() {
            return Err(SimTrap::failure("secret with the same name already exists"));
        }
        let disabled_at = self.secrets.prop_index("disabled").unwrap_or(0);
        let disabled = values[disabled_at].as_deref() == Some(b"true");
        let id = self.secrets.insert(values);
        if self.churn && !disabled {
            // A new customer's CPE dials in soon after the secret appears.
            let at = self.now() + REDIAL_SECS.0 + self.rng.below(REDIAL_SECS.1);
            self.reconnect_at.insert(name, at);
        }
        Ok(id)
    }

    pub(crate) fn secret_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let profiles = self.profile_names();
        let changes = self
            .secrets
            .check_args(args, &[".id", "numbers"], &profiles)?;
        for (at, value) in &changes {
            if *at == 0 {
                let clash = self
                    .secrets
                    .find_by_name(value)
                    .is_some_and(|other| !ids.contains(&other));
                if clash || ids.len() > 1 {
                    return Err(SimTrap::failure("secret with the same name already exists"));
                }
            }
        }
        for &id in ids {
            if let Some(row) = self.secrets.position(id) {
                for (at, value) in &changes {
                    self.secrets.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn secret_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            if let Some(item) = self.secrets.remove(id) {
                if let Some(name) = item.values[0].as_ref() {
                    self.reconnect_at.remove(name);
                }
            }
        }
    }

    pub(crate) fn active_resolve(&self, refs: &[ItemRef]) -> Result<Vec<u32>, SimTrap> {
        refs.iter()
            .map(|r| {
                let found = match r {
                    ItemRef::Id(id) => self.sessions.iter().find(|s| s.id == *id),
                    ItemRef::Name(name) => self.sessions.iter().find(|s| &s.name == name),
                };
                found.map(|s| s.id).ok_or_else(SimTrap::no_such_item)
            })
            .collect()
    }

    /// Kicks sessions (`/ppp/active/remove`): each ends with its dynamic queue.
    pub(crate) fn active_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            if let Some(at) = self.sessions.iter().position(|s| s.id == id) {
                self.kick_session(at);
            }
        }
    }

    pub(crate) fn queue_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let changes = self
            .queues
            .check_args(args, &["copy-from", "place-before"], &[])?;
        let mut values = self.queues.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let name = match values[0].clone() {
            Some(name) => name,
            None => {
                let mut n = 1;
                while self
                    .queues
                    .find_by_name(format!("queue{n}").as_bytes())
                    .is_some()
                {
                    n += 1;
                }
                format!("queue{n}").into_bytes()
            }
        };
        if self.queues.find_by_name(&name).is_some() {
            return Err(SimTrap::failure("already have such name"));
        }
        values[0] = Some(name);
        let created = self.queues.prop_index("created").unwrap_or(0);
        values[created] = Some(self.now().to_string().into_bytes());
        Ok(self.queues.insert(values))
    }

    fn refuse_dynamic_queues(&self, ids: &[u32], what: &str) -> Result<(), SimTrap> {
        let dynamic = ids
            .iter()
            .any(|&id| self.queues.value(id, "dynamic") == Some(b"true"));
        if dynamic {
            Err(SimTrap::failure(&format!("can not {what} dynamic queue")))
        } else {
            Ok(())
        }
    }

    pub(crate) fn queue_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let changes = self.queues.check_args(args, &[".id", "numbers"], &[])?;
        self.refuse_dynamic_queues(ids, "change")?;
        for (at, value) in &changes {
            if *at == 0 {
                let clash = self
                    .queues
                    .find_by_name(value)
                    .is_some_and(|other| !ids.contains(&other));
                if clash || ids.len() > 1 {
                    return Err(SimTrap::failure("already have such name"));
                }
            }
        }
        for &id in ids {
            if let Some(row) = self.queues.position(id) {
                for (at, value) in &changes {
                    self.queues.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn queue_remove(&mut self, ids: &[u32]) -> Result<(), SimTrap> {
        self.refuse_dynamic_queues(ids, "remove")?;
        for &id in ids {
            self.queues.remove(id);
        }
        Ok(())
    }

    pub(crate) fn address_add(&mut self, args: &[(Vec<u8>, Vec<u8>)]) -> Result<u32, SimTrap> {
        let changes = self.address_list.check_args(args, &["place-before"], &[])?;
        let mut values = self.address_list.blank();
        for (at, value) in changes {
            values[at] = Some(value);
        }
        let (Some(list), Some(address)) = (values[0].clone(), values[1].clone()) else {
            let missing = if values[0].is_none() {
                "list"
            } else {
                "address"
            };
            return Err(SimTrap::missing_value(missing));
        };
        let duplicate = self.address_list.items.iter().any(|item| {
            item.values[0].as_deref() == Some(list.as_slice())
                && item.values[1].as_deref() == Some(address.as_slice())
        });
        if duplicate {
            return Err(SimTrap::failure("already have such entry"));
        }
        values[3] = Some(DateTime::from_unix(unix_now()).format().into_bytes());
        let timeout = values[2]
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(crate::model::parse_duration_secs);
        if timeout.is_some() {
            values[4] = Some(b"true".to_vec());
        }
        let id = self.address_list.insert(values);
        if let Some(secs) = timeout {
            self.address_expiry.insert(id, self.now() + secs.max(1));
        }
        Ok(id)
    }

    pub(crate) fn address_set(
        &mut self,
        ids: &[u32],
        args: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SimTrap> {
        let changes = self
            .address_list
            .check_args(args, &[".id", "numbers"], &[])?;
        for &id in ids {
            if let Some(row) = self.address_list.position(id) {
                for (at, value) in &changes {
                    self.address_list.items[row].values[*at] = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn address_remove(&mut self, ids: &[u32]) {
        for &id in ids {
            self.address_list.remove(id);
            self.address_expiry.remove(&id);
        }
    }

    /// `/system/backup/save`: adds `<name>.backup` to `/file` and returns the file name.
    pub(crate) fn backup_save(&mut self, name: Option<&[u8]>) -> Vec<u8> {
        let mut file = match name {
            Some(name) if !name.is_empty() => name.to_vec(),
            _ => {
                let mut n = self.identity.clone();
                n.push(b'-');
                n.extend_from_slice(DateTime::from_unix(unix_now()).format_compact().as_bytes());
                n
            }
        };
        if !file.ends_with(b".backup") {
            file.extend_from_slice(b".backup");
        }
        let stamp = DateTime::from_unix(unix_now()).format().into_bytes();
        let size = 20_000 + 120 * self.secrets.items.len() as u64 + self.rng.below(4096);
        if let Some(existing) = self.files.find_by_name(&file) {
            self.files.remove(existing);
        }
        let mut values = self.files.blank();
        values[0] = Some(file.clone());
        values[1] = text("backup");
        values[2] = Some(size.to_string().into_bytes());
        values[3] = Some(stamp.clone());
        values[4] = Some(stamp);
        self.files.insert(values);
        file
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_state as state;

    #[test]
    fn address_list_timeouts_expire() {
        let mut s = state(3, false);
        let args = vec![
            (b"list".to_vec(), b"ISOLATED".to_vec()),
            (b"address".to_vec(), b"10.9.9.9".to_vec()),
            (b"timeout".to_vec(), b"1m".to_vec()),
        ];
        s.address_add(&args).unwrap();
        assert!(s
            .address_list_entries()
            .contains(&("ISOLATED".into(), "10.9.9.9".into())));
        s.advance_clock(Duration::from_secs(61));
        assert!(!s
            .address_list_entries()
            .contains(&("ISOLATED".into(), "10.9.9.9".into())));
    }
}
