//! Commands after login: the menu table, argument checks, `print` (queries, `.proplist`,
//! `count-only`, `!empty`), `add`/`set`/`remove` and monitors (the traps themselves are built in `trap`).
//!
//! Pure logic over a `SimState`: no sockets, no tags, no timing. The connection code
//! in `server` adds tags, latency and faults, and runs subscriptions by calling [`tick`]:
//! monitors and `print =interval=` on a timer, `listen` and `print =follow=` whenever the data
//! changed (`push`).

use std::time::Duration;

use super::query::Query;
use super::state::{Row, SimState, Want};
use super::trap::SimTrap;
use super::values::{parse_bool_arg, parse_item_refs, parse_version, ItemRef};
use crate::routeros::ParsedCommand;

/// One reply sentence before tagging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Re(Row),
    Empty,
    Done(Option<Vec<u8>>),
    Trap(SimTrap),
}

/// What running a command produced.
#[derive(Debug)]
pub enum Execution {
    /// Every reply, ending with `!done`.
    Replies(Vec<Out>),
    /// Replies to send now (no `!done`), then a subscription the connection keeps ticking.
    Subscription(Vec<Out>, Subscription),
}

/// A command that keeps answering until cancelled (or until its `duration` ends).
#[derive(Debug)]
pub struct Subscription {
    kind: SubscriptionKind,
    pub interval: Duration,
    /// Ticks left before the subscription ends by itself with `!done`; `None` runs until `/cancel`.
    ticks_left: Option<u64>,
    proplist: Option<Vec<Vec<u8>>>,
    query: Query,
}

#[derive(Debug)]
enum SubscriptionKind {
    Monitor(Vec<Vec<u8>>),
    /// `print =follow=`, `=follow-only=` and `listen`: changed rows, `.dead` for removed ones.
    Follow {
        menu: Menu,
        last: Vec<Row>,
        /// `.dead=` value: `yes` before RouterOS 7.23, `true` from then on.
        dead: &'static [u8],
    },
    /// `print =interval=`: every row again each interval.
    Repeat(Menu),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Menu {
    Resource,
    Identity,
    Active,
    Secret,
    Profile,
    Queue,
    Interface,
    AddressList,
    Backup,
    File,
}

const MENUS: &[(&str, Menu, &[&str])] = &[
    ("/system/resource", Menu::Resource, &["print", "getall"]),
    (
        "/system/identity",
        Menu::Identity,
        &["print", "getall", "set"],
    ),
    (
        "/ppp/active",
        Menu::Active,
        &["print", "getall", "remove", "listen"],
    ),
    (
        "/ppp/secret",
        Menu::Secret,
        &["print", "getall", "add", "set", "remove", "listen"],
    ),
    (
        "/ppp/profile",
        Menu::Profile,
        &["print", "getall", "listen"],
    ),
    (
        "/queue/simple",
        Menu::Queue,
        &["print", "getall", "add", "set", "remove", "listen"],
    ),
    (
        "/interface",
        Menu::Interface,
        &["print", "getall", "monitor-traffic", "listen"],
    ),
    (
        "/ip/firewall/address-list",
        Menu::AddressList,
        &["print", "getall", "add", "set", "remove", "listen"],
    ),
    ("/system/backup", Menu::Backup, &["save"]),
    (
        "/file",
        Menu::File,
        &["print", "getall", "remove", "listen"],
    ),
];

/// Directories that exist but hold no command the simulator knows (so `/ppp/print` is
/// `no such command` while `/pp/print` is `no such command prefix`).
const DIRECTORIES: &[&str] = &["", "/system", "/ppp", "/queue", "/ip", "/ip/firewall"];

const PRINT_ARGS: &[&str] = &[
    ".proplist",
    "count-only",
    "detail",
    "stats",
    "without-paging",
    "terse",
    "brief",
    "follow",
    "follow-only",
    "interval",
    "from",
    "as-value",
];

/// Properties that change by themselves; a `follow` subscription does not report them alone.
const VOLATILE: &[&str] = &[
    "uptime",
    "rate",
    "packet-rate",
    "bytes",
    "packets",
    "total-bytes",
    "total-packets",
    "cpu-load",
    "free-memory",
    "write-sect-since-reboot",
    "write-sect-total",
    "timeout",
];

/// Who is asking: settings of the router the command runs on.
pub struct Context {
    /// `!empty` before `!done` on zero-row prints (RouterOS 7.18 and later).
    pub sends_empty: bool,
    /// What a removed item's `.dead` says in a `listen` or `follow`: `yes`, or `true` from
    /// RouterOS 7.23 on (issue 14; clients accept both).
    pub dead: &'static [u8],
}

impl Context {
    pub fn for_version(version: &str) -> Context {
        let version = parse_version(version);
        Context {
            sends_empty: version >= (7, 18, 0),
            dead: if version >= (7, 23, 0) {
                b"true"
            } else {
                b"yes"
            },
        }
    }
}

impl Subscription {
    /// True for `listen`, `print =follow=` and `=follow-only=`: they report changes as they
    /// happen (the connection calls [`tick`] whenever the router's data changed), not on a timer.
    pub fn pushes_changes(&self) -> bool {
        matches!(self.kind, SubscriptionKind::Follow { .. })
    }

    /// True for a `listen` of the live sessions: only session changes concern it.
    pub fn follows_sessions(&self) -> bool {
        matches!(
            self.kind,
            SubscriptionKind::Follow {
                menu: Menu::Active,
                ..
            }
        )
    }
}

/// Verbs that may change the router's data (a `listen` then has something to report).
const CHANGING_VERBS: &[&[u8]] = &[b"add", b"set", b"remove", b"save"];

/// RouterOS reads a word without a value (`=once`, `=password`) as that attribute with an
/// empty value; the `routeros-api` Python library and mktxp send them so.
pub fn with_empty_values(mut command: ParsedCommand) -> ParsedCommand {
    let (bare, other): (Vec<Vec<u8>>, Vec<Vec<u8>>) = std::mem::take(&mut command.other_words)
        .into_iter()
        .partition(|word| word.len() > 1 && word[0] == b'=' && !word[1..].contains(&b'='));
    command.other_words = other;
    for word in bare {
        command.attributes.push((word[1..].to_vec(), Vec::new()));
    }
    command
}

/// Runs one command (not `/login`, `/cancel` or `/quit`) on a logged-in connection.
pub fn execute(state: &mut SimState, command: &ParsedCommand, context: &Context) -> Execution {
    state.advance();
    let verb = command
        .path
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or_default();
    if CHANGING_VERBS.contains(&verb) {
        if command.path.starts_with(b"/ppp/active/") {
            state.touch_sessions();
        } else {
            state.touch();
        }
    }
    match run(state, command, context) {
        Ok(execution) => execution,
        Err(trap) => Execution::Replies(vec![Out::Trap(trap), Out::Done(None)]),
    }
}

fn run(
    state: &mut SimState,
    command: &ParsedCommand,
    context: &Context,
) -> Result<Execution, SimTrap> {
    let path = &command.path;
    let split = path
        .iter()
        .rposition(|&b| b == b'/')
        .ok_or_else(SimTrap::no_such_prefix)?;
    let (menu_path, verb) = (&path[..split], &path[split + 1..]);
    let Some(&(_, menu, verbs)) = MENUS.iter().find(|(p, _, _)| p.as_bytes() == menu_path) else {
        return Err(if DIRECTORIES.iter().any(|d| d.as_bytes() == menu_path) {
            SimTrap::no_such_command()
        } else {
            SimTrap::no_such_prefix()
        });
    };
    let verb = std::str::from_utf8(verb).map_err(|_| SimTrap::no_such_command())?;
    if !verbs.contains(&verb) {
        return Err(SimTrap::no_such_command());
    }
    match verb {
        "print" | "getall" => print(state, menu, command, context),
        "listen" => listen(state, menu, command, context),
        "add" => add(state, menu, command),
        "set" => set(state, menu, command),
        "remove" => remove(state, menu, command),
        "monitor-traffic" => monitor_traffic(state, command),
        "save" => backup_save(state, command),
        _ => Err(SimTrap::no_such_command()),
    }
}

fn only_args(command: &ParsedCommand, allowed: &[&str]) -> Result<(), SimTrap> {
    let unknown = command
        .attributes
        .iter()
        .any(|(name, _)| !allowed.iter().any(|a| a.as_bytes() == name.as_slice()));
    if unknown || !command.other_words.is_empty() {
        Err(SimTrap::unknown_parameter())
    } else {
        Ok(())
    }
}

fn rows(state: &SimState, menu: Menu, want: &Want) -> Vec<Row> {
    match menu {
        Menu::Resource => vec![state.resource_row()],
        Menu::Identity => vec![state.identity_row()],
        Menu::Active => state.active_rows(),
        Menu::Secret => state.secret_rows(want),
        Menu::Profile => state.profile_rows(want),
        Menu::Queue => state.queue_rows(want),
        Menu::Interface => state.interface_rows(want),
        Menu::AddressList => state.address_list_rows(want),
        Menu::File => state.file_rows(want),
        Menu::Backup => Vec::new(),
    }
}

fn get<'a>(row: &'a Row, name: &[u8]) -> Option<&'a [u8]> {
    row.iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|(_, v)| v.as_slice())
}

/// The rows of a menu that match `query`, with at least the properties in `proplist`.
fn filtered(
    state: &SimState,
    menu: Menu,
    query: &Query,
    proplist: &Option<Vec<Vec<u8>>>,
) -> Vec<Row> {
    let want = match proplist {
        None => Want::all(),
        Some(names) => {
            let mut wanted: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            wanted.extend(query.names());
            Want::only(wanted)
        }
    };
    let mut all = rows(state, menu, &want);
    if !query.is_empty() {
        all.retain(|row| query.matches(|name| get(row, name)));
    }
    all
}

fn parse_proplist(command: &ParsedCommand) -> Option<Vec<Vec<u8>>> {
    command.get(".proplist").map(|list| {
        list.split(|&b| b == b',')
            .filter(|name| !name.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// Keeps only the listed properties, in the listed order; absent ones are left out.
fn project(row: Row, proplist: &Option<Vec<Vec<u8>>>) -> Row {
    match proplist {
        None => row,
        Some(names) => {
            let mut row = row;
            names
                .iter()
                .enumerate()
                // A name listed twice comes back once.
                .filter(|(k, name)| !names[..*k].contains(name))
                .filter_map(|(_, name)| {
                    let at = row
                        .iter()
                        .position(|(n, _)| n.as_bytes() == name.as_slice())?;
                    let (n, value) = &mut row[at];
                    Some((*n, std::mem::take(value)))
                })
                .collect()
        }
    }
}

fn parse_interval(command: &ParsedCommand, name: &str) -> Result<Option<Duration>, SimTrap> {
    match command.get(name) {
        None => Ok(None),
        Some(value) => {
            let text = std::str::from_utf8(value).map_err(|_| SimTrap::invalid_value(name))?;
            let secs = crate::model::parse_duration_secs(text)
                .ok_or_else(|| SimTrap::invalid_value(name))?;
            Ok(Some(Duration::from_secs(secs.max(1))))
        }
    }
}

fn print(
    state: &mut SimState,
    menu: Menu,
    command: &ParsedCommand,
    context: &Context,
) -> Result<Execution, SimTrap> {
    only_args(command, PRINT_ARGS)?;
    let query = Query::parse(&command.queries).map_err(SimTrap::bad_query)?;
    let proplist = parse_proplist(command);
    let matching = filtered(state, menu, &query, &proplist);
    if command.get("count-only").is_some() {
        let count = matching.len().to_string().into_bytes();
        return Ok(Execution::Replies(vec![Out::Done(Some(count))]));
    }
    let follow = command.get("follow").is_some();
    let follow_only = command.get("follow-only").is_some();
    if follow || follow_only {
        let initial = if follow_only {
            Vec::new()
        } else {
            matching
                .iter()
                .cloned()
                .map(|row| Out::Re(project(row, &proplist)))
                .collect()
        };
        let subscription = Subscription {
            kind: SubscriptionKind::Follow {
                menu,
                last: matching,
                dead: context.dead,
            },
            interval: Duration::from_secs(1),
            ticks_left: None,
            proplist,
            query,
        };
        return Ok(Execution::Subscription(initial, subscription));
    }
    let mut out: Vec<Out> = matching
        .into_iter()
        .map(|row| Out::Re(project(row, &proplist)))
        .collect();
    if let Some(interval) = parse_interval(command, "interval")? {
        let subscription = Subscription {
            kind: SubscriptionKind::Repeat(menu),
            interval,
            ticks_left: None,
            proplist,
            query,
        };
        return Ok(Execution::Subscription(out, subscription));
    }
    if out.is_empty() && context.sends_empty {
        out.push(Out::Empty);
    }
    out.push(Out::Done(None));
    Ok(Execution::Replies(out))
}

fn listen(
    state: &mut SimState,
    menu: Menu,
    command: &ParsedCommand,
    context: &Context,
) -> Result<Execution, SimTrap> {
    only_args(command, &[".proplist"])?;
    let query = Query::parse(&command.queries).map_err(SimTrap::bad_query)?;
    let proplist = parse_proplist(command);
    let last = filtered(state, menu, &query, &proplist);
    let subscription = Subscription {
        kind: SubscriptionKind::Follow {
            menu,
            last,
            dead: context.dead,
        },
        interval: Duration::from_secs(1),
        ticks_left: None,
        proplist,
        query,
    };
    Ok(Execution::Subscription(Vec::new(), subscription))
}

/// The `=.id=` (or `=numbers=`) references of a set/remove.
fn item_refs(command: &ParsedCommand) -> Result<Vec<ItemRef>, SimTrap> {
    let value = command
        .get(".id")
        .or_else(|| command.get("numbers"))
        .ok_or_else(|| SimTrap::missing_value("numbers"))?;
    parse_item_refs(value).ok_or_else(SimTrap::invalid_id)
}

/// Arguments other than the item reference.
fn settings(command: &ParsedCommand) -> Vec<(Vec<u8>, Vec<u8>)> {
    command
        .attributes
        .iter()
        .filter(|(name, _)| name != b".id" && name != b"numbers")
        .cloned()
        .collect()
}

fn done_with_id(id: u32) -> Execution {
    Execution::Replies(vec![Out::Done(Some(super::values::format_id(id)))])
}

fn done() -> Execution {
    Execution::Replies(vec![Out::Done(None)])
}

fn add(state: &mut SimState, menu: Menu, command: &ParsedCommand) -> Result<Execution, SimTrap> {
    if !command.other_words.is_empty() {
        return Err(SimTrap::unknown_parameter());
    }
    let args = command.attributes.clone();
    let id = match menu {
        Menu::Secret => state.secret_add(&args)?,
        Menu::Queue => state.queue_add(&args)?,
        Menu::AddressList => state.address_add(&args)?,
        _ => return Err(SimTrap::no_such_command()),
    };
    Ok(done_with_id(id))
}

fn set(state: &mut SimState, menu: Menu, command: &ParsedCommand) -> Result<Execution, SimTrap> {
    if !command.other_words.is_empty() {
        return Err(SimTrap::unknown_parameter());
    }
    if menu == Menu::Identity {
        only_args(command, &["name"])?;
        if let Some(name) = command.get("name") {
            if name.is_empty() {
                return Err(SimTrap::invalid_value("name"));
            }
            state.identity = name.to_vec();
        }
        return Ok(done());
    }
    let refs = item_refs(command)?;
    let args = settings(command);
    match menu {
        Menu::Secret => {
            let ids = SimState::resolve(&state.secrets, &refs)?;
            state.secret_set(&ids, &args)?;
        }
        Menu::Queue => {
            let ids = SimState::resolve(&state.queues, &refs)?;
            state.queue_set(&ids, &args)?;
        }
        Menu::AddressList => {
            let ids = SimState::resolve(&state.address_list, &refs)?;
            state.address_set(&ids, &args)?;
        }
        _ => return Err(SimTrap::no_such_command()),
    }
    Ok(done())
}

fn remove(state: &mut SimState, menu: Menu, command: &ParsedCommand) -> Result<Execution, SimTrap> {
    only_args(command, &[".id", "numbers"])?;
    let refs = item_refs(command)?;
    match menu {
        Menu::Secret => {
            let ids = SimState::resolve(&state.secrets, &refs)?;
            state.secret_remove(&ids);
        }
        Menu::Active => {
            let ids = state.active_resolve(&refs)?;
            state.active_remove(&ids);
        }
        Menu::Queue => {
            let ids = SimState::resolve(&state.queues, &refs)?;
            state.queue_remove(&ids)?;
        }
        Menu::AddressList => {
            let ids = SimState::resolve(&state.address_list, &refs)?;
            state.address_remove(&ids);
        }
        Menu::File => {
            let ids = SimState::resolve(&state.files, &refs)?;
            for id in ids {
                state.files.remove(id);
            }
        }
        _ => return Err(SimTrap::no_such_command()),
    }
    Ok(done())
}

fn monitor_rows(
    state: &SimState,
    interfaces: &[Vec<u8>],
    proplist: &Option<Vec<Vec<u8>>>,
) -> Vec<Out> {
    interfaces
        .iter()
        .filter_map(|name| {
            let (rx, tx) = state.interface_traffic(name)?;
            // Average packet sizes: small upstream packets, full-size downstream ones.
            let rx_packets = rx / 8 / 600;
            let tx_packets = tx / 8 / 1200;
            let fast_path = |v: u64| (v / 10 * 9).to_string().into_bytes();
            let number = |v: u64| v.to_string().into_bytes();
            let row: Row = vec![
                ("name", name.clone()),
                ("rx-packets-per-second", number(rx_packets)),
                ("rx-bits-per-second", number(rx)),
                ("fp-rx-packets-per-second", fast_path(rx_packets)),
                ("fp-rx-bits-per-second", fast_path(rx)),
                ("rx-drops-per-second", number(0)),
                ("rx-errors-per-second", number(0)),
                ("tx-packets-per-second", number(tx_packets)),
                ("tx-bits-per-second", number(tx)),
                ("fp-tx-packets-per-second", fast_path(tx_packets)),
                ("fp-tx-bits-per-second", fast_path(tx)),
                ("tx-drops-per-second", number(0)),
                ("tx-queue-drops-per-second", number(0)),
                ("tx-errors-per-second", number(0)),
            ];
            Some(Out::Re(project(row, proplist)))
        })
        .collect()
}

fn monitor_traffic(state: &mut SimState, command: &ParsedCommand) -> Result<Execution, SimTrap> {
    only_args(
        command,
        &[
            "interface",
            "once",
            "interval",
            "duration",
            ".proplist",
            "without-paging",
            "as-value",
        ],
    )?;
    let value = command
        .get("interface")
        .ok_or_else(|| SimTrap::missing_value("interface"))?;
    let interfaces: Vec<Vec<u8>> = value.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
    if interfaces
        .iter()
        .any(|name| state.interface_traffic(name).is_none())
    {
        return Err(SimTrap::no_match("interface"));
    }
    let proplist = parse_proplist(command);
    let mut out = monitor_rows(state, &interfaces, &proplist);
    let once = command
        .get("once")
        .is_some_and(|v| parse_bool_arg(v) != Some(false));
    if once {
        out.push(Out::Done(None));
        return Ok(Execution::Replies(out));
    }
    let interval = parse_interval(command, "interval")?.unwrap_or(Duration::from_secs(1));
    let ticks_left = parse_interval(command, "duration")?
        .map(|duration| (duration.as_secs() / interval.as_secs().max(1)).saturating_sub(1));
    let subscription = Subscription {
        kind: SubscriptionKind::Monitor(interfaces),
        interval,
        ticks_left,
        proplist,
        query: Query::default(),
    };
    if ticks_left == Some(0) {
        out.push(Out::Done(None));
        return Ok(Execution::Replies(out));
    }
    Ok(Execution::Subscription(out, subscription))
}

fn backup_save(state: &mut SimState, command: &ParsedCommand) -> Result<Execution, SimTrap> {
    only_args(command, &["name", "password", "dont-encrypt", "encryption"])?;
    if let Some(value) = command.get("dont-encrypt") {
        parse_bool_arg(value).ok_or_else(|| SimTrap::invalid_value("dont-encrypt"))?;
    }
    if let Some(value) = command.get("encryption") {
        let choices = vec![b"aes-sha256".to_vec(), b"rc4".to_vec()];
        super::table::pick_choice("encryption", value, &choices)?;
    }
    state.backup_save(command.get("name"));
    Ok(done())
}

/// Advances a subscription by one interval: the rows to send, and `true` when it has ended
/// (the caller then sends `!done`).
pub fn tick(state: &mut SimState, subscription: &mut Subscription) -> (Vec<Out>, bool) {
    state.advance();
    let out = match &mut subscription.kind {
        SubscriptionKind::Monitor(interfaces) => {
            monitor_rows(state, interfaces, &subscription.proplist)
        }
        SubscriptionKind::Repeat(menu) => {
            filtered(state, *menu, &subscription.query, &subscription.proplist)
                .into_iter()
                .map(|row| Out::Re(project(row, &subscription.proplist)))
                .collect()
        }
        SubscriptionKind::Follow { menu, last, dead } => {
            let now = filtered(state, *menu, &subscription.query, &subscription.proplist);
            let changes = follow_changes(last, &now, &subscription.proplist, dead);
            *last = now;
            changes
        }
    };
    let finished = match &mut subscription.ticks_left {
        Some(0) => true,
        Some(left) => {
            *left -= 1;
            *left == 0
        }
        None => false,
    };
    (out, finished)
}

fn stable_part(row: &Row) -> Vec<&(&'static str, Vec<u8>)> {
    row.iter()
        .filter(|(name, _)| !VOLATILE.contains(name))
        .collect()
}

/// Rows that are new or changed (ignoring volatile counters), and `.dead` rows for removed ones.
fn follow_changes(
    before: &[Row],
    after: &[Row],
    proplist: &Option<Vec<Vec<u8>>>,
    dead: &[u8],
) -> Vec<Out> {
    let id_of = |row: &Row| get(row, b".id").map(<[u8]>::to_vec);
    let mut out = Vec::new();
    for row in after {
        let id = id_of(row);
        let old = before.iter().find(|old| id_of(old) == id);
        if old.is_none_or(|old| stable_part(old) != stable_part(row)) {
            out.push(Out::Re(project(row.clone(), proplist)));
        }
    }
    for row in before {
        let id = id_of(row);
        if id.is_some() && !after.iter().any(|new| id_of(new) == id) {
            let id = id.unwrap_or_default();
            out.push(Out::Re(vec![(".id", id), (".dead", dead.to_vec())]));
        }
    }
    out
}
