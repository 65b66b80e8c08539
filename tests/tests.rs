//! net-engine's integration tests: one binary, one module per area.

mod notify;
mod ops;
mod support;
mod webhook;
