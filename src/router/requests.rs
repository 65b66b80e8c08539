//! Typed requests that can share one pipelined wave ([`Connection::pipeline`]): the reads
//! a change needs (a user's sessions, secret, the isolation list) and the changes
//! themselves, each built here once (the one-at-a-time operations in `ops` send the same
//! commands) and each answer parsed back into model types.

use super::conn::{encode_text, Connection, Response, Stream};
use super::error::RouterError;
use super::ops::{
    bool_word, to_active, to_address_entry, to_secret, ACTIVE_PROPS, ADDRESS_LIST_PROPS,
    SECRET_PROPS,
};
use crate::model::{ActiveSession, AddressListEntry, NewSecret, Secret, SecretChanges};
use crate::routeros::{text, CommandBuilder};
use std::time::{Duration, Instant};

/// One command of a pipelined wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Live sessions of exactly this user name.
    SessionsOf(String),
    /// The secret named exactly this.
    SecretNamed(String),
    /// Every entry of this address list.
    ListEntries(String),
    AddEntry {
        list: String,
        address: String,
        comment: Option<String>,
    },
    /// Points an address-list entry at `address`, enabled or not.
    SetEntry {
        id: String,
        address: String,
        disabled: bool,
    },
    RemoveEntry(String),
    /// Removes a live session (kicks it).
    RemoveActive(String),
    SetSecret {
        id: String,
        changes: SecretChanges,
    },
    RemoveSecret(String),
}

/// What a request answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Sessions(Vec<ActiveSession>),
    Secret(Option<Secret>),
    Entries(Vec<AddressListEntry>),
    /// A change was done; `=ret=` (an added entry's `.id`) when the router gave one.
    Done(Option<String>),
}

/// One request's result, and whether its command was written at all (a command never
/// written certainly changed nothing).
#[derive(Debug)]
pub struct RequestOutcome {
    pub written: bool,
    pub result: Result<Answer, RouterError>,
}

pub(super) fn sessions_of_command(user: &str) -> Result<CommandBuilder, RouterError> {
    Ok(CommandBuilder::new("/ppp/active/print")
        .proplist(ACTIVE_PROPS)
        .query_eq("name", encode_text(user)?))
}

pub(super) fn secret_named_command(user: &str) -> Result<CommandBuilder, RouterError> {
    Ok(CommandBuilder::new("/ppp/secret/print")
        .proplist(SECRET_PROPS)
        .query_eq("name", encode_text(user)?))
}

pub(super) fn list_entries_command(list: &str) -> Result<CommandBuilder, RouterError> {
    Ok(CommandBuilder::new("/ip/firewall/address-list/print")
        .proplist(ADDRESS_LIST_PROPS)
        .query_eq("list", encode_text(list)?))
}

pub(super) fn add_entry_command(
    list: &str,
    address: &str,
    comment: Option<&str>,
) -> Result<CommandBuilder, RouterError> {
    let mut command = CommandBuilder::new("/ip/firewall/address-list/add")
        .attr("list", encode_text(list)?)
        .attr("address", encode_text(address)?);
    if let Some(comment) = comment {
        command = command.attr("comment", encode_text(comment)?);
    }
    Ok(command)
}

pub(super) fn set_entry_command(
    id: &str,
    address: &str,
    disabled: bool,
) -> Result<CommandBuilder, RouterError> {
    Ok(CommandBuilder::new("/ip/firewall/address-list/set")
        .attr(".id", id.as_bytes())
        .attr("address", encode_text(address)?)
        .attr("disabled", if disabled { "yes" } else { "no" }))
}

pub(super) fn remove_command(menu: &str, id: &str) -> CommandBuilder {
    CommandBuilder::new(&format!("{menu}/remove")).attr(".id", id.as_bytes())
}

/// Every live session, with the attributes the engine reads.
pub(super) fn sessions_print_command() -> CommandBuilder {
    CommandBuilder::new("/ppp/active/print").proplist(super::ops::ACTIVE_PROPS)
}

/// Every secret, with the attributes the engine reads.
pub(super) fn secrets_print_command() -> CommandBuilder {
    CommandBuilder::new("/ppp/secret/print").proplist(super::ops::SECRET_PROPS)
}

pub(super) fn add_secret_command(secret: &NewSecret) -> Result<CommandBuilder, RouterError> {
    let command = CommandBuilder::new("/ppp/secret/add")
        .attr("name", encode_text(&secret.name)?)
        .attr("password", encode_text(&secret.password)?);
    secret_fields(
        command,
        &[
            ("profile", &secret.profile),
            ("service", &secret.service),
            ("local-address", &secret.local_address),
            ("remote-address", &secret.remote_address),
            ("comment", &secret.comment),
        ],
        secret.disabled,
    )
}

pub(super) fn set_secret_command(
    id: &str,
    changes: &SecretChanges,
) -> Result<CommandBuilder, RouterError> {
    secret_fields(
        CommandBuilder::new("/ppp/secret/set").attr(".id", id.as_bytes()),
        &[
            ("password", &changes.password),
            ("profile", &changes.profile),
            ("remote-address", &changes.remote_address),
            ("comment", &changes.comment),
        ],
        changes.disabled,
    )
}

/// Adds the given text fields (text the router cannot take refuses the command) and
/// `disabled` to a secret's `add` or `set`.
fn secret_fields(
    mut command: CommandBuilder,
    fields: &[(&str, &Option<String>)],
    disabled: Option<bool>,
) -> Result<CommandBuilder, RouterError> {
    for (name, value) in fields {
        if let Some(value) = value {
            command = command.attr(name, encode_text(value)?);
        }
    }
    if let Some(disabled) = disabled {
        command = command.attr("disabled", bool_word(disabled));
    }
    Ok(command)
}

impl Request {
    /// The command; `Err` for text the router cannot take (never sent).
    pub fn command(&self) -> Result<CommandBuilder, RouterError> {
        match self {
            Request::SessionsOf(user) => sessions_of_command(user),
            Request::SecretNamed(user) => secret_named_command(user),
            Request::ListEntries(list) => list_entries_command(list),
            Request::AddEntry {
                list,
                address,
                comment,
            } => add_entry_command(list, address, comment.as_deref()),
            Request::SetEntry {
                id,
                address,
                disabled,
            } => set_entry_command(id, address, *disabled),
            Request::RemoveEntry(id) => Ok(remove_command("/ip/firewall/address-list", id)),
            Request::RemoveActive(id) => Ok(remove_command("/ppp/active", id)),
            Request::SetSecret { id, changes } => set_secret_command(id, changes),
            Request::RemoveSecret(id) => Ok(remove_command("/ppp/secret", id)),
        }
    }

    fn answer(&self, response: Response) -> Answer {
        match self {
            Request::SessionsOf(_) => {
                Answer::Sessions(response.records.iter().map(to_active).collect())
            }
            Request::SecretNamed(user) => Answer::Secret(
                response
                    .records
                    .iter()
                    .map(to_secret)
                    .find(|s| s.name == user),
            ),
            Request::ListEntries(_) => {
                Answer::Entries(response.records.iter().map(to_address_entry).collect())
            }
            _ => Answer::Done(response.ret.map(|id| text::decode(&id))),
        }
    }
}

impl<S: Stream> Connection<S> {
    /// Runs `requests` pipelined, at most `window` in flight (see [`Connection::pipeline`]);
    /// one outcome per request, in order.
    pub fn run_requests(
        &mut self,
        requests: &[Request],
        window: usize,
        send_until: Instant,
        timeout: Duration,
    ) -> Vec<RequestOutcome> {
        let mut outcomes: Vec<Option<RequestOutcome>> = (0..requests.len()).map(|_| None).collect();
        let mut commands = Vec::with_capacity(requests.len());
        let mut positions = Vec::with_capacity(requests.len());
        for (k, request) in requests.iter().enumerate() {
            match request.command() {
                Ok(command) => {
                    commands.push(command);
                    positions.push(k);
                }
                Err(e) => {
                    outcomes[k] = Some(RequestOutcome {
                        written: false,
                        result: Err(e),
                    })
                }
            }
        }
        let piped = self.pipeline(commands, window, send_until, timeout);
        for (n, (result, k)) in piped.results.into_iter().zip(positions).enumerate() {
            outcomes[k] = Some(RequestOutcome {
                written: n < piped.sent,
                result: result.map(|response| requests[k].answer(response)),
            });
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(RequestOutcome {
                    written: false,
                    result: Err(RouterError::Closed),
                })
            })
            .collect()
    }
}
