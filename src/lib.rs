//! net-engine: one persistent RouterOS API session per MikroTik router, behind a REST API.
//!
//! Reading order: `routeros` (the wire protocol, sans-IO) → `router` (a blocking client for
//! one router) → `fleet` (one thread per router, snapshots) → `http` (the REST edge).
//! `sim` is a RouterOS simulator for demos, tests and benchmarks; `model` is plain data.
#![forbid(unsafe_code)]

pub mod model;
pub mod rng;
pub mod routeros;

// TEMPORARY (ui branch only): the lead owns src/http/mod.rs and declares `pub mod assets;` there.
pub mod http {
    pub mod assets;
}
