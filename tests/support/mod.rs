//! Helpers shared by every integration test module: one place, reused.
#![allow(dead_code)] // each test module uses a different subset of the helpers

pub mod mysql;
