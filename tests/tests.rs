//! All integration tests, as modules of one test binary.

mod support;

mod browser;
mod openapi;
