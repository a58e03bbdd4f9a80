//! mock-api: the source system.
//!
//! A synthetic but realistic order store ([`store`]): deterministic from a seed, orders created
//! over time, some updated later (the same order_id again with a later updated_at), and a share
//! of bad records. [`http`] serves it as `GET /health`, `GET /extract/full`,
//! `GET /extract/incremental?since=`, paged, with an OpenAPI document. The same router runs in
//! the `lakehouse` CLI and behind the Lambda adapter.

pub mod config;
pub mod http;
pub mod openapi;
pub mod record;
pub mod store;

pub use http::{Clock, SourceState, router, serve_on_loopback};
pub use store::{StoreConfig, SyntheticStore, Truth};
