//! The RouterOS API protocol, sans-IO: framing, sentences, replies, commands, text, login maths.
//!
//! No sockets, threads or serde here; the blocking client in `router` and the simulator in
//! `sim` both sit on top of this module.

pub mod codec;
pub mod command;
pub mod login;
pub mod reply;
pub mod text;

pub use codec::{CodecError, Decoder, Sentence, Word};
pub use command::{CommandBuilder, ParsedCommand};
pub use reply::{Reply, ReplyKind};
