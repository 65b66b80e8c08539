//! Faults a simulated router can be told to show, and their text form for the command line.
//!
//! Counting rule for `hang-after=N` and `drop-after=N`: every sentence a connection receives
//! counts as one command, the `/login` sentences included (a legacy login is two). The first
//! N are answered normally; command N+1 and later are never answered (`hang-after`, the
//! connection stays open and is read) or make the router close the socket at once without
//! an answer (`drop-after`). Faults are looked up for each command as it arrives, so a fault
//! changed at run time applies from the next command on.

use std::fmt;
use std::str::FromStr;

/// One misbehaviour of a simulated router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accept TCP connections, then never read or answer anything.
    Silent,
    /// Answer the first N commands of a connection (login included), then nothing.
    HangAfter(u32),
    /// Answer the first N commands of a connection (login included), then close the socket
    /// when the next one arrives.
    DropAfter(u32),
    /// Answer every command with random bytes that no RouterOS reader can decode
    /// (the first byte is a reserved length prefix, 0xF8 or above).
    Garbage,
    /// Answer every login with the invalid-credentials trap.
    RefuseLogin,
}

/// A fault name that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFaultError(pub String);

impl fmt::Display for ParseFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown fault {:?} (expected silent, hang-after=N, drop-after=N, garbage or refuse-login)",
            self.0
        )
    }
}

impl std::error::Error for ParseFaultError {}

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(text: &str) -> Result<Fault, ParseFaultError> {
        let error = || ParseFaultError(text.to_owned());
        let (name, argument) = match text.split_once('=') {
            Some((name, argument)) => (name, Some(argument)),
            None => (text, None),
        };
        let count = || -> Result<u32, ParseFaultError> {
            argument.and_then(|a| a.parse().ok()).ok_or_else(error)
        };
        match (name, argument) {
            ("silent", None) => Ok(Fault::Silent),
            ("garbage", None) => Ok(Fault::Garbage),
            ("refuse-login", None) => Ok(Fault::RefuseLogin),
            ("hang-after", Some(_)) => Ok(Fault::HangAfter(count()?)),
            ("drop-after", Some(_)) => Ok(Fault::DropAfter(count()?)),
            _ => Err(error()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Silent => write!(f, "silent"),
            Fault::HangAfter(n) => write!(f, "hang-after={n}"),
            Fault::DropAfter(n) => write!(f, "drop-after={n}"),
            Fault::Garbage => write!(f, "garbage"),
            Fault::RefuseLogin => write!(f, "refuse-login"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let table = [
            ("silent", Fault::Silent),
            ("hang-after=3", Fault::HangAfter(3)),
            ("drop-after=0", Fault::DropAfter(0)),
            ("garbage", Fault::Garbage),
            ("refuse-login", Fault::RefuseLogin),
        ];
        for (text, fault) in table {
            assert_eq!(text.parse::<Fault>(), Ok(fault));
            assert_eq!(fault.to_string(), text);
        }
        for bad in [
            "",
            "hang-after",
            "hang-after=",
            "hang-after=x",
            "silent=1",
            "loud",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }
}
