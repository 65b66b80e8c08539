//! The integration tests, compiled as one binary: the engine driven over loopback against
//! the simulator, the client against the simulator, and the built binary's commands.

mod support;

mod api;
mod cli;
mod client;
mod faults;
mod traffic;
