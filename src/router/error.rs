//! Errors of the blocking RouterOS client, and which of them mean "the connection is gone".

use crate::routeros::CodecError;
use std::fmt;
use std::io;

/// One `!trap` the router sent: its optional category and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    pub category: Option<u32>,
    pub message: String,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.category {
            Some(category) => write!(f, "{} (category {category})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What can go wrong talking to one router.
#[derive(Debug)]
pub enum RouterError {
    /// TCP connect failed or timed out.
    Connect(io::Error),
    /// The router refused our credentials; the message is the router's.
    LoginRefused(String),
    /// No complete reply before the deadline.
    Timeout,
    /// A read or write failed mid-session.
    Io(io::Error),
    /// The router closed the connection.
    Closed,
    /// The byte stream broke the framing rules (garbage, oversize words).
    Protocol(CodecError),
    /// The router sent `!fatal` with this reason and closed the session.
    Fatal(String),
    /// The router answered the command with one or more `!trap`s (the session is fine).
    Trap(Vec<Trap>),
    /// The reply did not have the shape the typed operation expects (the session is fine).
    UnexpectedReply(String),
    /// Our input cannot be sent (e.g. a character Windows-1252 cannot encode).
    InvalidInput(String),
}

impl RouterError {
    /// True when the connection cannot be used any more and must be recycled.
    pub fn is_connectivity_error(&self) -> bool {
        matches!(
            self,
            RouterError::Connect(_)
                | RouterError::LoginRefused(_)
                | RouterError::Timeout
                | RouterError::Io(_)
                | RouterError::Closed
                | RouterError::Protocol(_)
                | RouterError::Fatal(_)
        )
    }

    /// The same error again, for each of several commands it fails (`io::Error` has no
    /// `Clone`: its kind and message are kept).
    pub fn copied(&self) -> RouterError {
        let io_copy = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            RouterError::Connect(e) => RouterError::Connect(io_copy(e)),
            RouterError::Io(e) => RouterError::Io(io_copy(e)),
            RouterError::LoginRefused(m) => RouterError::LoginRefused(m.clone()),
            RouterError::Timeout => RouterError::Timeout,
            RouterError::Closed => RouterError::Closed,
            RouterError::Protocol(e) => RouterError::Protocol(e.clone()),
            RouterError::Fatal(m) => RouterError::Fatal(m.clone()),
            RouterError::Trap(t) => RouterError::Trap(t.clone()),
            RouterError::UnexpectedReply(m) => RouterError::UnexpectedReply(m.clone()),
            RouterError::InvalidInput(m) => RouterError::InvalidInput(m.clone()),
        }
    }

    /// The first trap's message, when this is a trap.
    pub fn trap_message(&self) -> Option<&str> {
        match self {
            RouterError::Trap(traps) => traps.first().map(|t| t.message.as_str()),
            _ => None,
        }
    }

    /// True when a trap message starts with `prefix` (the ` (N)` suffix varies by version).
    pub fn trap_starts_with(&self, prefix: &str) -> bool {
        match self {
            RouterError::Trap(traps) => traps.iter().any(|t| t.message.starts_with(prefix)),
            _ => false,
        }
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterError::Connect(e) => write!(f, "connect failed: {e}"),
            RouterError::LoginRefused(m) => write!(f, "login refused: {m}"),
            RouterError::Timeout => f.write_str("router did not answer in time"),
            RouterError::Io(e) => write!(f, "connection error: {e}"),
            RouterError::Closed => f.write_str("router closed the connection"),
            RouterError::Protocol(e) => write!(f, "protocol error: {e}"),
            RouterError::Fatal(reason) => write!(f, "router ended the session: {reason}"),
            RouterError::Trap(traps) => {
                let messages: Vec<String> = traps.iter().map(Trap::to_string).collect();
                write!(f, "router error: {}", messages.join("; "))
            }
            RouterError::UnexpectedReply(m) => write!(f, "unexpected reply: {m}"),
            RouterError::InvalidInput(m) => write!(f, "invalid input: {m}"),
        }
    }
}

impl std::error::Error for RouterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RouterError::Connect(e) | RouterError::Io(e) => Some(e),
            RouterError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

/// Maps an I/O error from a read or write: timeouts become [`RouterError::Timeout`].
pub(crate) fn from_io(error: io::Error) -> RouterError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RouterError::Timeout,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => RouterError::Closed,
        _ => RouterError::Io(error),
    }
}
