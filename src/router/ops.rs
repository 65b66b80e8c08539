//! Typed RouterOS operations for the menus net-engine uses, built on `Connection::run`.
//!
//! Every print sends `.proplist` so the router computes only what we read.

use super::conn::{encode_text, Connection, Fingerprinted, Print, Printed, Record, Stream};
use super::error::RouterError;
use super::requests;
use crate::model::{
    ActiveSession, AddressListEntry, Identity, InterfaceTraffic, NewSecret, Profile, Resource,
    Secret, SecretChanges, SimpleQueue,
};
use crate::routeros::{text, CommandBuilder};
use std::time::{Duration, Instant};

/// What a list print found, against the fingerprint of the reply that built the last list.
#[derive(Debug)]
pub enum Listing<T> {
    /// The reply's words hash as the last one did: nothing was parsed.
    Same,
    /// A different reply, parsed, with the fingerprint to pass next time.
    Changed { rows: Vec<T>, fingerprint: u64 },
}

/// What one poll read ([`Connection::poll_reading`]): each part with its own result and
/// its time from write to answer (`None` when it was not answered).
#[derive(Debug)]
pub struct PollReading {
    /// Only when asked for.
    pub resource: Option<Timed<Resource>>,
    pub sessions: Timed<Listing<ActiveSession>>,
    pub secrets: Timed<Listing<Secret>>,
    pub isolation: Timed<Vec<AddressListEntry>>,
}

/// A result and how long its command took.
pub type Timed<T> = (Result<T, RouterError>, Option<Duration>);

/// The listing of a print run fingerprinted: its rows parsed only when they changed.
fn listing_of<T>(printed: Printed, parse: fn(&Record) -> T) -> Result<Listing<T>, RouterError> {
    match printed {
        Printed::Fingerprinted(Fingerprinted::Same) => Ok(Listing::Same),
        Printed::Fingerprinted(Fingerprinted::Changed { rows, fingerprint }) => {
            Ok(Listing::Changed {
                rows: rows.parse(parse),
                fingerprint,
            })
        }
        Printed::Rows(_) => Err(RouterError::UnexpectedReply(
            "a fingerprinted print came back plain".into(),
        )),
    }
}

const RESOURCE_PROPS: &[&str] = &[
    "uptime",
    "version",
    "board-name",
    "architecture-name",
    "cpu-load",
    "cpu-count",
    "free-memory",
    "total-memory",
];
pub(super) const ACTIVE_PROPS: &[&str] = &[
    ".id",
    "name",
    "service",
    "caller-id",
    "address",
    "uptime",
    "session-id",
];
pub(super) const SECRET_PROPS: &[&str] = &[
    ".id",
    "name",
    "service",
    "profile",
    "local-address",
    "remote-address",
    "disabled",
    "comment",
    "last-logged-out",
    "last-disconnect-reason",
];
const QUEUE_PROPS: &[&str] = &[
    ".id",
    "name",
    "target",
    "max-limit",
    "rate",
    "dynamic",
    "disabled",
];
pub(super) const ADDRESS_LIST_PROPS: &[&str] =
    &[".id", "list", "address", "comment", "dynamic", "disabled"];

pub(super) fn bool_word(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

fn single<T>(mut rows: Vec<T>, what: &str) -> Result<T, RouterError> {
    if rows.is_empty() {
        return Err(RouterError::UnexpectedReply(format!(
            "{what} returned no row"
        )));
    }
    Ok(rows.swap_remove(0))
}

fn to_resource(r: &Record) -> Resource {
    Resource {
        uptime: r.text("uptime"),
        version: r.text("version"),
        board_name: r.text("board-name"),
        architecture_name: r.text("architecture-name"),
        cpu_load: r.number("cpu-load") as u32,
        cpu_count: r.number("cpu-count") as u32,
        free_memory: r.number("free-memory"),
        total_memory: r.number("total-memory"),
    }
}

pub(super) fn to_active(r: &Record) -> ActiveSession {
    ActiveSession {
        id: r.compact(".id"),
        name: r.compact("name"),
        service: r.compact("service"),
        caller_id: r.compact("caller-id"),
        address: r.compact("address"),
        uptime: r.compact("uptime"),
        session_id: r.compact("session-id"),
    }
}

/// What one row of `/ppp/active/listen` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// A session was added or changed (the full row).
    Upsert(ActiveSession),
    /// A session ended: only its `.id` (`=.dead=yes`, or `=.dead=true` from 7.23).
    Removed(String),
}

/// Reads one `/ppp/active/listen` row.
pub fn session_change(r: &Record) -> SessionChange {
    if r.flag(".dead") {
        SessionChange::Removed(r.text(".id"))
    } else {
        SessionChange::Upsert(to_active(r))
    }
}

/// Reads one `/interface/monitor-traffic` row (of a stream or of `once`).
pub fn interface_traffic(r: &Record, interface: &str) -> InterfaceTraffic {
    InterfaceTraffic {
        name: r.opt_text("name").unwrap_or_else(|| interface.to_owned()),
        rx_bps: r.number("rx-bits-per-second"),
        tx_bps: r.number("tx-bits-per-second"),
    }
}

pub(super) fn to_secret(r: &Record) -> Secret {
    Secret {
        id: r.compact(".id"),
        name: r.compact("name"),
        service: r.compact("service"),
        profile: r.compact("profile"),
        local_address: r.compact("local-address"),
        remote_address: r.compact("remote-address"),
        disabled: r.flag("disabled"),
        comment: r.compact("comment"),
        last_logged_out: r.compact("last-logged-out"),
        last_disconnect_reason: r.compact("last-disconnect-reason"),
    }
}

fn to_queue(r: &Record) -> SimpleQueue {
    let (upload_bps, download_bps) = parse_pair(&r.text("rate"));
    SimpleQueue {
        id: r.text(".id"),
        name: r.text("name"),
        target: r.text("target"),
        max_limit: r.text("max-limit"),
        upload_bps,
        download_bps,
        dynamic: r.flag("dynamic"),
        disabled: r.flag("disabled"),
    }
}

pub(super) fn to_address_entry(r: &Record) -> AddressListEntry {
    AddressListEntry {
        id: r.compact(".id"),
        list: r.compact("list"),
        address: r.compact("address"),
        comment: r.compact("comment"),
        dynamic: r.flag("dynamic"),
        disabled: r.flag("disabled"),
    }
}

/// Parses an `upload/download` pair of bit rates; missing halves are 0.
pub fn parse_pair(value: &str) -> (u64, u64) {
    let mut parts = value
        .split('/')
        .map(|p| p.trim().parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

impl<S: Stream> Connection<S> {
    /// `/system/resource/print`.
    pub fn resource(&mut self, deadline: Instant) -> Result<Resource, RouterError> {
        let rows = self.run(
            CommandBuilder::new("/system/resource/print").proplist(RESOURCE_PROPS),
            deadline,
        )?;
        single(rows, "/system/resource/print").map(|r| to_resource(&r))
    }

    /// A poll's prints in one round trip: the resource (when `with_resource`), sessions and
    /// secrets (both fingerprinted against the prints that built the last lists, `uptime`
    /// left out of the sessions'), and the entries of address list `list`.
    pub fn poll_reading(
        &mut self,
        with_resource: bool,
        sessions_last: Option<u64>,
        secrets_last: Option<u64>,
        list: &str,
        deadline: Instant,
    ) -> Result<PollReading, RouterError> {
        let resource_print = Print {
            command: CommandBuilder::new("/system/resource/print").proplist(RESOURCE_PROPS),
            fingerprint: None,
        };
        let prints = with_resource.then_some(resource_print).into_iter().chain([
            Print {
                command: requests::sessions_print_command(),
                fingerprint: Some((&["uptime"], sessions_last)),
            },
            Print {
                command: requests::secrets_print_command(),
                fingerprint: Some((&[], secrets_last)),
            },
            Print {
                command: requests::list_entries_command(list)?,
                fingerprint: None,
            },
        ]);
        let mut answers = self.prints(prints.collect(), deadline).into_iter();
        let mut next = || answers.next().unwrap_or((Err(RouterError::Closed), None));
        let rows = |printed: Printed| match printed {
            Printed::Rows(response) => Ok(response.records),
            Printed::Fingerprinted(_) => Err(RouterError::UnexpectedReply(
                "a plain print came back fingerprinted".into(),
            )),
        };
        let resource = with_resource.then(&mut next);
        let (sessions, sessions_time) = next();
        let (secrets, secrets_time) = next();
        let (isolation, isolation_time) = next();
        Ok(PollReading {
            resource: resource.map(|(resource, time)| {
                let resource = resource
                    .and_then(rows)
                    .and_then(|r| single(r, "/system/resource/print"))
                    .map(|r| to_resource(&r));
                (resource, time)
            }),
            sessions: (
                sessions.and_then(|p| listing_of(p, to_active)),
                sessions_time,
            ),
            secrets: (secrets.and_then(|p| listing_of(p, to_secret)), secrets_time),
            isolation: (
                isolation
                    .and_then(rows)
                    .map(|r| r.iter().map(to_address_entry).collect()),
                isolation_time,
            ),
        })
    }

    /// `/system/identity/print`.
    pub fn identity(&mut self, deadline: Instant) -> Result<Identity, RouterError> {
        let rows = self.run(
            CommandBuilder::new("/system/identity/print").proplist(&["name"]),
            deadline,
        )?;
        single(rows, "/system/identity/print").map(|r| Identity {
            name: r.text("name"),
        })
    }

    /// Every live PPP session.
    pub fn active_sessions(
        &mut self,
        deadline: Instant,
    ) -> Result<Vec<ActiveSession>, RouterError> {
        let rows = self.run(requests::sessions_print_command(), deadline)?;
        Ok(rows.iter().map(to_active).collect())
    }

    /// Live sessions of exactly this user name.
    pub fn active_sessions_of(
        &mut self,
        user: &str,
        deadline: Instant,
    ) -> Result<Vec<ActiveSession>, RouterError> {
        let command = requests::sessions_of_command(user)?;
        Ok(self.run(command, deadline)?.iter().map(to_active).collect())
    }

    /// Removes a live session (kicks the customer).
    pub fn remove_active(&mut self, id: &str, deadline: Instant) -> Result<(), RouterError> {
        self.run(requests::remove_command("/ppp/active", id), deadline)
            .map(|_| ())
    }

    /// Every PPP secret.
    pub fn secrets(&mut self, deadline: Instant) -> Result<Vec<Secret>, RouterError> {
        let rows = self.run(requests::secrets_print_command(), deadline)?;
        Ok(rows.iter().map(to_secret).collect())
    }

    /// The secret named exactly `user`, if any.
    pub fn secret_named(
        &mut self,
        user: &str,
        deadline: Instant,
    ) -> Result<Option<Secret>, RouterError> {
        let command = requests::secret_named_command(user)?;
        Ok(self.run(command, deadline)?.first().map(to_secret))
    }

    /// Adds a secret and returns its new `.id`.
    pub fn add_secret(
        &mut self,
        secret: &NewSecret,
        deadline: Instant,
    ) -> Result<String, RouterError> {
        let command = requests::add_secret_command(secret)?;
        let response = self.execute(command, deadline)?;
        response
            .ret
            .map(|id| text::decode(&id))
            .ok_or_else(|| RouterError::UnexpectedReply("add returned no id".into()))
    }

    /// Changes fields of the secret with `.id` `id`.
    pub fn set_secret(
        &mut self,
        id: &str,
        changes: &SecretChanges,
        deadline: Instant,
    ) -> Result<(), RouterError> {
        let command = requests::set_secret_command(id, changes)?;
        self.run(command, deadline).map(|_| ())
    }

    /// Removes the secret with `.id` `id`.
    pub fn remove_secret(&mut self, id: &str, deadline: Instant) -> Result<(), RouterError> {
        self.run(requests::remove_command("/ppp/secret", id), deadline)
            .map(|_| ())
    }

    /// Every PPP profile.
    pub fn profiles(&mut self, deadline: Instant) -> Result<Vec<Profile>, RouterError> {
        let rows = self.run(
            CommandBuilder::new("/ppp/profile/print").proplist(&[".id", "name", "rate-limit"]),
            deadline,
        )?;
        Ok(rows
            .iter()
            .map(|r| Profile {
                id: r.text(".id"),
                name: r.text("name"),
                rate_limit: r.opt_text("rate-limit").filter(|s| !s.is_empty()),
            })
            .collect())
    }

    /// Simple queues named exactly `name`.
    pub fn queues_named(
        &mut self,
        name: &str,
        deadline: Instant,
    ) -> Result<Vec<SimpleQueue>, RouterError> {
        let command = CommandBuilder::new("/queue/simple/print")
            .proplist(QUEUE_PROPS)
            .query_eq("name", encode_text(name)?);
        Ok(self.run(command, deadline)?.iter().map(to_queue).collect())
    }

    /// Simple queues whose target is exactly `target` (e.g. `10.10.0.25/32`).
    pub fn queues_targeting(
        &mut self,
        target: &str,
        deadline: Instant,
    ) -> Result<Vec<SimpleQueue>, RouterError> {
        let command = CommandBuilder::new("/queue/simple/print")
            .proplist(QUEUE_PROPS)
            .query_eq("target", encode_text(target)?);
        Ok(self.run(command, deadline)?.iter().map(to_queue).collect())
    }

    /// `/interface/monitor-traffic =interface=X =once=`.
    pub fn monitor_traffic_once(
        &mut self,
        interface: &str,
        deadline: Instant,
    ) -> Result<InterfaceTraffic, RouterError> {
        let command = CommandBuilder::new("/interface/monitor-traffic")
            .attr("interface", encode_text(interface)?)
            .flag("once")
            .proplist(&["name", "rx-bits-per-second", "tx-bits-per-second"]);
        let row = single(self.run(command, deadline)?, "/interface/monitor-traffic")?;
        Ok(interface_traffic(&row, interface))
    }

    /// Starts `/ppp/active/listen` (a stream: each added, changed or removed session).
    /// Read its rows with [`session_change`].
    pub fn listen_active(&mut self) -> Result<String, RouterError> {
        // A session's attributes, as the print asks for them, and the removal mark.
        let props: Vec<&str> = ACTIVE_PROPS.iter().copied().chain([".dead"]).collect();
        self.start_stream(CommandBuilder::new("/ppp/active/listen").proplist(&props))
    }

    /// Starts `/interface/monitor-traffic` on `interface` without `once`: a reading a
    /// second until cancelled. Read its rows with [`interface_traffic`].
    pub fn monitor_traffic_stream(&mut self, interface: &str) -> Result<String, RouterError> {
        self.start_stream(
            CommandBuilder::new("/interface/monitor-traffic")
                .attr("interface", encode_text(interface)?)
                .proplist(&["name", "rx-bits-per-second", "tx-bits-per-second"]),
        )
    }

    /// Points an address-list entry at `address` and enables or disables it.
    pub fn address_list_set(
        &mut self,
        id: &str,
        address: &str,
        disabled: bool,
        deadline: Instant,
    ) -> Result<(), RouterError> {
        let command = requests::set_entry_command(id, address, disabled)?;
        self.run(command, deadline).map(|_| ())
    }

    /// Address-list entries with exactly this list and address.
    pub fn address_list_find(
        &mut self,
        list: &str,
        address: &str,
        deadline: Instant,
    ) -> Result<Vec<AddressListEntry>, RouterError> {
        let command = CommandBuilder::new("/ip/firewall/address-list/print")
            .proplist(ADDRESS_LIST_PROPS)
            .query_eq("list", encode_text(list)?)
            .query_eq("address", encode_text(address)?);
        Ok(self
            .run(command, deadline)?
            .iter()
            .map(to_address_entry)
            .collect())
    }

    /// Every entry of one address list (`?list=NAME`), e.g. the isolation list.
    pub fn address_list_entries(
        &mut self,
        list: &str,
        deadline: Instant,
    ) -> Result<Vec<AddressListEntry>, RouterError> {
        let command = requests::list_entries_command(list)?;
        Ok(self
            .run(command, deadline)?
            .iter()
            .map(to_address_entry)
            .collect())
    }

    /// Adds an address-list entry and returns its `.id`.
    pub fn address_list_add(
        &mut self,
        list: &str,
        address: &str,
        comment: Option<&str>,
        deadline: Instant,
    ) -> Result<String, RouterError> {
        let command = requests::add_entry_command(list, address, comment)?;
        let response = self.execute(command, deadline)?;
        Ok(response.ret.map(|id| text::decode(&id)).unwrap_or_default())
    }

    /// Removes the address-list entry with `.id` `id`.
    pub fn address_list_remove(&mut self, id: &str, deadline: Instant) -> Result<(), RouterError> {
        self.run(
            requests::remove_command("/ip/firewall/address-list", id),
            deadline,
        )
        .map(|_| ())
    }

    /// `/system/backup/save =name=NAME`; returns the file name the router writes.
    pub fn backup_save(&mut self, name: &str, deadline: Instant) -> Result<String, RouterError> {
        self.run(
            CommandBuilder::new("/system/backup/save").attr("name", encode_text(name)?),
            deadline,
        )?;
        Ok(format!("{name}.backup"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_upload_then_download() {
        assert_eq!(parse_pair("1203000/15400000"), (1_203_000, 15_400_000));
        assert_eq!(parse_pair("7"), (7, 0));
        assert_eq!(parse_pair(""), (0, 0));
    }
}
