//! The integration tests, compiled as one binary: the engine driven over loopback against
//! the simulator, the client against the simulator, the built binary's commands, webhooks,
//! metrics and systemd integration.

mod support;

mod api;
mod audit;
mod bench_smoke;
mod browser;
mod bulk;
mod cli;
mod client;
mod events;
mod faults;
mod front;
mod go_compat;
mod listen;
mod metrics;
mod mysql;
mod nginx;
mod notify;
mod openapi;
mod ops;
mod roundtrip;
mod serve;
mod serve_file;
mod sim;
mod sim_push;
mod sim_streams;
mod tidy;
mod traffic;
mod webhook;
