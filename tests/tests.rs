//! The integration tests, compiled as one binary.

mod support;

mod mysql;
