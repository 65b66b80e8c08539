//! A blocking client for ONE RouterOS router: connect, log in, run tagged commands, typed menus.
//!
//! Knows nothing of HTTP, threads or the fleet. Generic over the byte stream so API-SSL can
//! slot in later and tests can script bytes.

pub mod conn;
pub mod error;
pub mod ops;
pub mod probe;
pub mod requests;

pub use conn::{encode_text, Connection, Pipelined, Record, Response, Stream, StreamEvent};
pub use error::{RouterError, Trap};
pub use requests::{Answer, Request, RequestOutcome};

/// A connection to a router over plain TCP (API port 8728).
pub type Client = Connection<std::net::TcpStream>;
