//! End-to-end tests, in one binary to keep link time down.

// Helpers outside #[test] functions may unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bootstrap;
mod cli;
mod e2e;
mod harness;
mod hostile;
mod local_aws;
mod policies;
mod rest_catalog;
mod schedule;
