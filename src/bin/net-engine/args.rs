//! What every subcommand shares: parsing its flags with `lexopt`, reading the configuration,
//! printing to a stdout that may be a closed pipe, and how a failure becomes an exit code.

use net_engine::config::Config;
use std::io::Write;

/// Why a subcommand did not succeed: bad usage or configuration (exit 2), or a failure while
/// running (exit 1). The message is printed as it is.
#[derive(Debug)]
pub enum Outcome {
    Usage(String),
    Failed(String),
}

pub type CommandResult = Result<(), Outcome>;

/// Prints a line to stdout. A reader that went away (`| head`) is not an error worth a panic:
/// the line is dropped and the command goes on to exit normally.
pub fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// The flags of one subcommand, as `lexopt` reads them.
#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(&'static str, String)>,
    pub help: bool,
}

impl Flags {
    /// Reads `args`: `--name value` or `--name=value` for each of `with_value`, `-h`/`--help`,
    /// nothing else. `command` and `usage` go into the error message.
    pub fn parse(
        args: &[String],
        with_value: &[&'static str],
        command: &str,
        usage: &str,
    ) -> Result<Flags, Outcome> {
        let bad = |message: String| Outcome::Usage(format!("{command}: {message}\n{usage}"));
        let mut flags = Flags::default();
        let mut parser = lexopt::Parser::from_args(args.iter());
        while let Some(arg) = parser.next().map_err(|e| bad(e.to_string()))? {
            match arg {
                lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => flags.help = true,
                lexopt::Arg::Long(name) => {
                    let Some(known) = with_value.iter().find(|known| **known == name) else {
                        return Err(bad(format!("unknown argument \"--{name}\"")));
                    };
                    let value = parser
                        .value()
                        .map_err(|_| bad(format!("--{known} needs a value")))?
                        .into_string()
                        .map_err(|_| bad(format!("--{known}: not valid UTF-8")))?;
                    flags.values.push((known, value));
                }
                other => return Err(bad(other.unexpected().to_string())),
            }
        }
        Ok(flags)
    }

    /// The last value given for `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The configuration from the environment (after `.env`); a bad value is a usage error.
pub fn load_config() -> Result<Config, Outcome> {
    Config::from_lookup(|name| std::env::var(name).ok())
        .map_err(|e| Outcome::Usage(format!("net-engine: {e}")))
}

/// One environment variable, for the few a subcommand reads beside `Config`.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
