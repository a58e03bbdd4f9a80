//! lakehouse-core: what every stage shares and nothing heavy.
//!
//! The step contracts (the small JSON pointers that travel between stages and through Step
//! Functions), the source record contract ([`record`]: fields, statuses, quarantine reasons), typed configuration read once from the environment, the lake's object storage
//! (a local directory or any S3-compatible endpoint) and the key layout inside it, and the run
//! report. No polars, no iceberg: the source API and the extractor link only this.

pub mod checksum;
pub mod config;
pub mod contracts;
pub mod dates;
pub mod durable;
pub mod error;
pub mod layout;
pub mod lease;
pub mod ledger;
pub mod metrics;
pub mod record;
pub mod report;
pub mod runid;
pub mod sigv4;
pub mod store;
pub mod watermark;

pub use error::{Error, ErrorKind, Result};
pub use store::Lake;
