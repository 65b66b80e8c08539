//! Shared helpers for the integration tests, one file per area.

pub mod ops;
