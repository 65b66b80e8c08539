//! A RouterOS API simulator: routers that real client libraries cannot tell from the real
//! thing for the commands net-engine uses, for demos, tests and benchmarks.
//!
//! Reading order: [`Simulator::start`] builds one [`SimRouter`] per configured router
//! (`server`: listener, connection threads, login, tags, `/cancel`, faults; `push`: the
//! outboxes behind the link's round trip and the `listen` pushers; `link`: the controls and
//! the count of commands in flight), each owning a [`SimState`] (`state`: seeded tables and
//! the values that move) that `menu` runs commands against; `query` evaluates `print`
//! queries; `values` and `table` hold value formats and generic menu tables; `trap` builds
//! the `!trap` replies; `cli` is `net-engine sim`.
//!
//! Written against routeros-api.md §1-§6, §9-§11, not against our own client. Imports only
//! `crate::routeros`, `crate::model` and `crate::rng` (plus std and log).
//!
//! Menus: `/system/resource` print; `/system/identity` print, set; `/ppp/active` print,
//! remove, listen; `/ppp/secret` print, add, set, remove, listen; `/ppp/profile` print;
//! `/queue/simple` print, add, set, remove; `/interface` print, monitor-traffic;
//! `/ip/firewall/address-list` print, add, set, remove; `/system/backup` save; `/file` print,
//! remove (`getall` = `print` everywhere). Any other menu answers `no such command prefix`.
//!
//! Choices the reference leaves open (routeros-api.md marks them `[inf]`) and how they are made
//! here: `!empty` is not sent for `=count-only=`; `/cancel =tag=X` for a tag that is not running
//! answers a bare `!done`; a bare `/login` (no password) gets a challenge on every version;
//! a missing required argument traps `missing value for NAME`; a bad query traps
//! `invalid query: ...`; dynamic queues refuse set/remove with `failure: can not change|remove
//! dynamic queue`; a kicked session redials after `SimConfig::redial` (churn or not) with a
//! new pool address unless its secret fixes one; `.dead=` says `yes` before 7.23 and `true`
//! from 7.23 on; a word without a value (`=once`) is that attribute with an empty value.
//!
//! Invariants: every reply to a tagged command carries its tag, `!fatal` never does; a
//! `!trap` that ends a command is followed by `!done`; `!empty` is sent only for a `print`
//! or `getall` with zero rows on version 7.18 or later; ids only grow; values are bytes,
//! returned exactly as stored.

pub mod cli;
mod fault;
mod link;
mod menu;
mod push;
mod query;
mod server;
mod state;
mod table;
mod trap;
mod values;

pub use fault::{Fault, ParseFaultError};
pub use server::SimRouter;
pub use state::SimState;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How to build a simulated fleet.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port 0: every router gets its own ephemeral port. Otherwise router k (0-based)
    /// listens on `port + k`.
    pub listen: SocketAddr,
    pub routers: usize,
    /// PPP secrets per router.
    pub users: usize,
    /// Behave like RouterOS before 6.43: every `/login` gets an MD5 challenge.
    pub legacy_login: bool,
    /// RouterOS version, e.g. `7.18.2` (`!empty` from 7.18 on).
    pub version: String,
    /// Processing time per command: commands on one connection are answered one after
    /// another, each this much later than the one before (`--latency-ms`).
    pub latency: Duration,
    /// The link's round trip (`--rtt-ms`): every reply leaves this long after its command
    /// was processed, replies to pipelined commands overlapping as over a WAN link;
    /// `listen` pushes and monitor readings take half of it.
    pub rtt: Duration,
    /// How long a kicked customer (`/ppp/active/remove`, `SimState::kick_user`) waits
    /// before dialling again, churn or not (`--redial-ms`).
    pub redial: Duration,
    pub seed: u64,
    /// Faults at start: `(None, f)` for every router, `(Some(k), f)` for router k (0-based).
    pub faults: Vec<(Option<usize>, Fault)>,
    /// User name and password the routers accept.
    pub login: (String, String),
    /// Sessions drop and come back over minutes.
    pub churn: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            routers: 1,
            users: 50,
            legacy_login: false,
            version: "7.18.2".to_owned(),
            latency: Duration::ZERO,
            rtt: Duration::ZERO,
            redial: Duration::from_millis(2000),
            seed: 1,
            faults: Vec::new(),
            login: ("admin".to_owned(), String::new()),
            churn: true,
        }
    }
}

/// A running simulated fleet. Dropping it stops every router.
pub struct Simulator {
    routers: Vec<SimRouter>,
}

impl Simulator {
    /// Generates every router's data and starts listening.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        for (router, _) in &config.faults {
            if let Some(k) = router {
                if *k >= config.routers {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("fault for router {k} but only {} routers", config.routers),
                    ));
                }
            }
        }
        let mut simulator = Simulator {
            routers: Vec::with_capacity(config.routers),
        };
        for index in 0..config.routers {
            let mut bind = config.listen;
            if bind.port() != 0 {
                let port = u16::try_from(usize::from(bind.port()) + index).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "router ports run past 65535")
                })?;
                bind.set_port(port);
            }
            let fault = config
                .faults
                .iter()
                .rev()
                .find(|(router, _)| router.is_none_or(|k| k == index))
                .map(|(_, fault)| *fault);
            let state = SimState::generate(state::StateParams {
                index,
                seed: config.seed,
                users: config.users,
                version: config.version.clone(),
                churn: config.churn,
                redial: config.redial,
            });
            let router = SimRouter::start(server::RouterSetup {
                index,
                bind,
                seed: config.seed ^ index as u64,
                login: config.login.clone(),
                legacy_login: config.legacy_login,
                latency: config.latency,
                rtt: config.rtt,
                fault,
                state,
            })?;
            simulator.routers.push(router);
        }
        Ok(simulator)
    }

    pub fn routers(&self) -> &[SimRouter] {
        &self.routers
    }

    /// Stops every router and waits briefly for connection threads to end.
    pub fn shutdown(self) {
        // Drop does the work.
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for router in &self.routers {
            router.stop();
        }
        for router in &self.routers {
            router.wait_for_threads(Duration::from_secs(2));
        }
    }
}
