//! Helpers shared by the integration tests.

pub mod browser;
pub mod openapi;
