//! lakehouse-tables: the Iceberg side of the lakehouse.
//!
//! - [`write`]: what a stage asks of a table ([`write::TableWrite`]: merge, append what is new,
//!   upsert an entity, replace partitions, replace if changed), carried out inside the commit
//!   retry loop from a fresh load, every frame conformed to the table's schema by name;
//! - [`schemas`]: every table's schema and partitioning, in one place;
//! - [`warehouse`]: the catalog, chosen once: the file catalog on the lake (local directory or
//!   S3) with the version hint other engines read by, or an Iceberg REST catalog ([`rest`]);
//! - [`commit`]: commits tagged with the run id in the snapshot summary, idempotent per run,
//!   retried on conflict after reloading the table; a commit that removes files is an
//!   overwrite written here (`overwrite`), which rewrites only the manifests it changes;
//! - [`datafile`]: frames written as Parquet data files, one per partition, with the dictionary
//!   only where values repeat;
//! - [`entity`]: tables of one row per key, written as the new and changed keys they take;
//! - [`mirror`]: entity tables that mirror another, from what it gained since last mirrored;
//! - [`live`]: the live data files of a table and the snapshots its runs made, each manifest
//!   decoded once per process ([`manifest_cache`]) by a reader of our own ([`manifest_read`]);
//! - [`maintain`]: compaction, snapshot expiry and file cleanup;
//! - [`migrate`]: the tables moved from the file catalog into a REST catalog;
//! - [`bridge`]: polars frames to arrow record batches (zero-copy through the C Data Interface)
//!   and Iceberg data files back into polars.

pub mod bridge;
pub mod commit;
pub mod datafile;
pub mod entity;
pub mod error;
pub mod live;
mod local_commit;
pub mod maintain;
mod manifest_cache;
mod manifest_read;
pub mod migrate;
pub mod mirror;
mod overwrite;
pub mod rest;
pub mod schemas;
mod tagging;
pub mod warehouse;
pub mod write;

pub use error::{Result, TablesError};
pub use schemas::TableDef;
pub use warehouse::{StageDeps, Warehouse};
pub use write::{Change, Rows, TableWrite};
