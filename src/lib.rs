//! net-engine: one persistent RouterOS API session per MikroTik router, behind a REST API.
//!
//! Reading order: `routeros` (the wire protocol, sans-IO) → `router` (a blocking client for
//! one router) → `fleet` (one thread per router, snapshots) → `http` (the REST edge).
//! `sim` is a RouterOS simulator for demos, tests and benchmarks; `model` is plain data.
#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod fleet;
pub mod http;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod rng;
pub mod router;
pub mod routeros;
pub mod sim;
pub mod store;
pub mod webhook;
