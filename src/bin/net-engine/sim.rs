//! `net-engine sim`: the library's simulator from the command line, until SIGTERM or SIGINT.

use crate::args::{say, CommandResult, Outcome};
use net_engine::sim::cli::{parse_args, USAGE};
use net_engine::sim::Simulator;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub fn sim(args: &[String]) -> CommandResult {
    let config = match parse_args(args) {
        Ok(Some(config)) => config,
        Ok(None) => {
            say(USAGE);
            return Ok(());
        }
        Err(error) => {
            return Err(Outcome::Usage(format!(
                "net-engine sim: {error}\ntry `net-engine sim --help`"
            )))
        }
    };
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Outcome::Failed(format!("net-engine sim: cannot handle signals: {e}")))?;
    let simulator = Simulator::start(config)
        .map_err(|e| Outcome::Failed(format!("net-engine sim: cannot start: {e}")))?;
    // Nobody reading the addresses any more (`| head`) is fine: the routers serve all the same.
    for router in simulator.routers() {
        say(&format!("router {}: {}", router.index() + 1, router.addr()));
    }
    signals.forever().next();
    simulator.shutdown();
    Ok(())
}
