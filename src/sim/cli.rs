//! `net-engine sim`'s command line: its usage text and the parser from arguments to a
//! [`SimConfig`]. Running it (signals, printing the addresses) is the binary's job.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Fault, SimConfig};

/// The `net-engine sim --help` text.
pub const USAGE: &str = "\
usage: net-engine sim [--listen ADDR] [--routers N] [--users N] [--legacy-login]
                      [--version X.Y[.Z]] [--latency-ms N] [--rtt-ms N] [--seed S]
                      [--fault KIND] [--fault K:KIND] [--login USER:PASSWORD] [--no-churn]
                      [--redial-ms N]

Runs simulated RouterOS API routers until SIGTERM or SIGINT.

  --listen ADDR        where router 1 listens; router K listens on port+K-1
                       (port 0: each router on its own free port) [127.0.0.1:8728]
  --routers N          how many routers [1]
  --users N            PPP secrets per router [50]
  --legacy-login       answer logins like RouterOS before 6.43 (MD5 challenge)
  --version X.Y[.Z]    RouterOS version to claim; 7.18+ sends !empty [7.18.2]
  --latency-ms N       processing time per command: a connection's commands are
                       answered one after another, N ms each [0]
  --rtt-ms N           the link's round trip: every reply leaves N ms after its command
                       was processed, pipelined commands overlapping as over a WAN
                       (listen pushes and monitor readings take N/2) [0]
  --seed S             data seed [1]
  --fault KIND         fault on every router; --fault K:KIND only on router K (1-based).
                       KIND: silent, hang-after=N, drop-after=N, garbage, refuse-login.
                       N counts every sentence of a connection, logins included.
  --login USER:PASS    accepted credentials [admin with an empty password]
  --no-churn           sessions never drop by themselves
  --redial-ms N        a kicked customer (/ppp/active/remove) dials again after N ms,
                       with a new pool address unless the secret fixes one; also with
                       --no-churn [2000]

Prints one line per router, `router K: ADDR`, then serves.";

/// Why the command line was refused.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The next argument's value as text, for `flag`.
fn value_of(parser: &mut lexopt::Parser, flag: &str) -> Result<String, UsageError> {
    let value = parser
        .value()
        .map_err(|_| UsageError(format!("{flag} needs a value")))?;
    value
        .into_string()
        .map_err(|raw| UsageError(format!("{flag}: not valid UTF-8: {raw:?}")))
}

/// Says what lexopt refused, in this command's words.
fn usage_error(error: lexopt::Error) -> UsageError {
    match error {
        lexopt::Error::MissingValue {
            option: Some(option),
        } => UsageError(format!("{option} needs a value")),
        lexopt::Error::UnexpectedValue { option, .. } => {
            UsageError(format!("{option} takes no value"))
        }
        lexopt::Error::UnexpectedArgument(value) => {
            UsageError(format!("unknown argument {:?}", value.to_string_lossy()))
        }
        lexopt::Error::UnexpectedOption(option) => {
            UsageError(format!("unknown argument {option:?}"))
        }
        other => UsageError(other.to_string()),
    }
}

/// The simulator's configuration from the arguments after `sim`; `None` when `--help` was asked.
pub fn parse_args(args: &[String]) -> Result<Option<SimConfig>, UsageError> {
    use lexopt::Arg::{Long, Short};

    let mut config = SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 8728)),
        ..SimConfig::default()
    };
    let mut faults: Vec<(Option<usize>, Fault)> = Vec::new();
    // `--flag=value` and `--flag value` both work.
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(usage_error)? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("listen") => {
                let text = value_of(&mut parser, "--listen")?;
                config.listen = text
                    .parse()
                    .map_err(|_| UsageError(format!("--listen: not an address: {text:?}")))?;
            }
            Long("routers") => {
                config.routers = number("--routers", &value_of(&mut parser, "--routers")?)?
            }
            Long("users") => config.users = number("--users", &value_of(&mut parser, "--users")?)?,
            Long("legacy-login") => config.legacy_login = true,
            Long("version") => {
                let text = value_of(&mut parser, "--version")?;
                if !text.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(UsageError(format!("--version: not a version: {text:?}")));
                }
                config.version = text;
            }
            Long("latency-ms") => {
                let text = value_of(&mut parser, "--latency-ms")?;
                config.latency = Duration::from_millis(number("--latency-ms", &text)?);
            }
            Long("rtt-ms") => {
                let text = value_of(&mut parser, "--rtt-ms")?;
                config.rtt = Duration::from_millis(number("--rtt-ms", &text)?);
            }
            Long("redial-ms") => {
                let text = value_of(&mut parser, "--redial-ms")?;
                config.redial = Duration::from_millis(number("--redial-ms", &text)?);
            }
            Long("seed") => config.seed = number("--seed", &value_of(&mut parser, "--seed")?)?,
            Long("fault") => faults.push(parse_fault(&value_of(&mut parser, "--fault")?)?),
            Long("login") => {
                let text = value_of(&mut parser, "--login")?;
                let (user, password) = text
                    .split_once(':')
                    .ok_or_else(|| UsageError("--login: expected USER:PASSWORD".to_owned()))?;
                if user.is_empty() {
                    return Err(UsageError("--login: empty user name".to_owned()));
                }
                config.login = (user.to_owned(), password.to_owned());
            }
            Long("no-churn") => config.churn = false,
            other => return Err(usage_error(other.unexpected())),
        }
    }
    if config.routers == 0 {
        return Err(UsageError("--routers must be at least 1".to_owned()));
    }
    for (router, _) in &faults {
        if let Some(k) = router {
            if *k >= config.routers {
                return Err(UsageError(format!("--fault: no router {}", k + 1)));
            }
        }
    }
    config.faults = faults;
    Ok(Some(config))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| UsageError(format!("{flag}: not a number: {text:?}")))
}

/// `KIND` or `K:KIND` with K 1-based.
fn parse_fault(text: &str) -> Result<(Option<usize>, Fault), UsageError> {
    let (router, kind) = match text.split_once(':') {
        Some((k, kind)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => {
            let k: usize = number("--fault", k)?;
            if k == 0 {
                return Err(UsageError(
                    "--fault: routers are numbered from 1".to_owned(),
                ));
            }
            (Some(k - 1), kind)
        }
        _ => (None, text),
    };
    let fault = kind
        .parse::<Fault>()
        .map_err(|e| UsageError(format!("--fault: {e}")))?;
    Ok((router, fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_flag() {
        let config = parse_args(&args(&[
            "--listen",
            "127.0.0.1:0",
            "--routers=3",
            "--users",
            "7",
            "--legacy-login",
            "--version",
            "7.17",
            "--latency-ms",
            "25",
            "--seed",
            "9",
            "--fault",
            "garbage",
            "--fault",
            "2:hang-after=3",
            "--login",
            "api:s3:cret",
            "--no-churn",
            "--rtt-ms",
            "30",
            "--redial-ms=500",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!((config.routers, config.users, config.seed), (3, 7, 9));
        assert!(config.legacy_login && !config.churn);
        assert_eq!(config.version, "7.17");
        assert_eq!(config.latency, Duration::from_millis(25));
        assert_eq!(config.rtt, Duration::from_millis(30));
        assert_eq!(config.redial, Duration::from_millis(500));
        assert_eq!(
            config.faults,
            vec![(None, Fault::Garbage), (Some(1), Fault::HangAfter(3))]
        );
        assert_eq!(config.login, ("api".to_owned(), "s3:cret".to_owned()));
    }

    #[test]
    fn refuses_bad_usage() {
        for bad in [
            &["--routers"][..],
            &["--routers", "x"],
            &["--routers", "0"],
            &["--fault", "loud"],
            &["--fault", "0:silent"],
            &["--fault", "5:silent"],
            &["--login", "nocolon"],
            &["--listen", "nowhere"],
            &["--frobnicate"],
            &["--rtt-ms", "-1"],
            &["--redial-ms", "soon"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
        assert!(parse_args(&args(&["-h"])).unwrap().is_none());
    }

    #[test]
    fn says_what_is_wrong() {
        let message = |list: &[&str]| match parse_args(&args(list)) {
            Err(UsageError(message)) => message,
            Ok(_) => panic!("{list:?} was accepted"),
        };
        assert_eq!(message(&["--routers"]), "--routers needs a value");
        assert_eq!(message(&["--seed="]), "--seed: not a number: \"\"");
        assert_eq!(
            message(&["--frobnicate"]),
            "unknown argument \"--frobnicate\""
        );
        assert_eq!(message(&["-x"]), "unknown argument \"-x\"");
        assert_eq!(message(&["stray"]), "unknown argument \"stray\"");
        assert_eq!(message(&["--no-churn=yes"]), "--no-churn takes no value");
        assert_eq!(message(&["--fault", "9:silent"]), "--fault: no router 9");
        // A value may start with a dash.
        let config = parse_args(&args(&["--login", "-me:-pw"])).unwrap().unwrap();
        assert_eq!(config.login, ("-me".to_owned(), "-pw".to_owned()));
    }
}
