//! Helpers shared by every integration test module: one place, one file per area, reused.
#![allow(dead_code)] // each test module uses a different subset of the helpers

pub mod browser;
pub mod engine;
pub mod mysql;
pub mod nginx_conf;
pub mod openapi;
pub mod ops;
pub mod process;
pub mod prometheus;
pub mod sim;
pub mod wait;
pub mod webdriver;
