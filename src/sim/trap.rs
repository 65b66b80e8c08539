//! The `!trap` replies the simulator sends: one constructor per RouterOS message it imitates.

use super::query::QueryError;

/// A `!trap` the simulator sends: its message and optional category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTrap {
    pub message: Vec<u8>,
    pub category: Option<u8>,
}

impl SimTrap {
    fn new(message: impl Into<Vec<u8>>, category: Option<u8>) -> SimTrap {
        SimTrap {
            message: message.into(),
            category,
        }
    }
    pub fn no_such_item() -> SimTrap {
        SimTrap::new("no such item (4)", Some(0))
    }
    pub fn invalid_id() -> SimTrap {
        SimTrap::new("invalid internal item number", None)
    }
    pub fn no_such_prefix() -> SimTrap {
        SimTrap::new("no such command prefix", Some(0))
    }
    pub fn no_such_command() -> SimTrap {
        SimTrap::new("no such command", Some(0))
    }
    pub fn unknown_parameter() -> SimTrap {
        SimTrap::new("unknown parameter", None)
    }
    pub fn no_match(name: &str) -> SimTrap {
        SimTrap::new(format!("input does not match any value of {name}"), Some(1))
    }
    pub fn invalid_value(name: &str) -> SimTrap {
        SimTrap::new(format!("invalid value for argument {name}"), Some(1))
    }
    pub fn ambiguous(name: &str) -> SimTrap {
        SimTrap::new(
            format!("ambiguous value of {name}, more than one possible value matches input"),
            Some(1),
        )
    }
    pub fn missing_value(name: &str) -> SimTrap {
        SimTrap::new(format!("missing value for {name}"), Some(1))
    }
    pub fn failure(text: &str) -> SimTrap {
        SimTrap::new(format!("failure: {text}"), None)
    }
    pub fn interrupted() -> SimTrap {
        SimTrap::new("interrupted", Some(2))
    }
    pub(super) fn bad_query(error: QueryError) -> SimTrap {
        SimTrap::new(format!("invalid query: {error}"), Some(1))
    }
}
