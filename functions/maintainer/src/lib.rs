//! maintainer: lake maintenance as a Lambda on its own schedule.
//!
//! Compacts small files, expires old snapshots and deletes the files no retained snapshot
//! reaches (`lakehouse_tables::maintain`), under the lake's lease: a pipeline run that holds
//! the lake makes it end with `LakeBusy` (the schedule tries again the next day, or an
//! operator re-invokes it).

use serde::{Deserialize, Serialize};

use lakehouse_core::ErrorKind;
use lakehouse_tables::{
    TablesError,
    maintain::{self, Maintenance, Options},
};

/// The lake, its warehouse and the lease settings.
pub type Deps = lakehouse_tables::StageDeps;

/// What a scheduled (or hand-made) invocation asks; every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintainInput {
    /// Expire snapshots older than this many hours (default 168, a week).
    #[serde(default)]
    pub older_than_hours: Option<u32>,
    /// Keep at least this many of each table's latest snapshots (default 10).
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Delete no file younger than this many minutes (default 60): files a writer may have
    /// written and not yet committed.
    #[serde(default)]
    pub margin_minutes: Option<u32>,
    /// Compact and expire, but delete no table file: the catalog removes unreferenced files
    /// itself (an S3 Tables warehouse is never cleaned, whatever this says).
    #[serde(default)]
    pub keep_files: bool,
    /// Say what would be done, and do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl MaintainInput {
    pub fn options(&self) -> Options {
        let defaults = Options::default();
        Options {
            older_than: self.older_than_hours.map_or(defaults.older_than, |h| {
                chrono::Duration::hours(i64::from(h))
            }),
            keep_last: self.keep_last.unwrap_or(defaults.keep_last).max(1),
            margin: self
                .margin_minutes
                .map_or(defaults.margin, |m| chrono::Duration::minutes(i64::from(m))),
            remove_files: !self.keep_files,
            dry_run: self.dry_run,
            ..defaults
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    #[error(transparent)]
    Tables(#[from] TablesError),
}

impl MaintainError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MaintainError::Tables(e) => e.kind(),
        }
    }
}

pub async fn run(input: MaintainInput, deps: &Deps) -> Result<Maintenance, MaintainError> {
    Ok(maintain::maintain_lake(&deps.warehouse, &deps.lease, &input.options()).await?)
}

/// Maintenance as its Lambda function runs it.
pub struct Maintainer;

impl lakehouse_runtime::Stage for Maintainer {
    const NAME: &'static str = "maintainer";
    type Deps = Deps;
    type Input = MaintainInput;
    type Output = Maintenance;
    type Error = MaintainError;

    async fn deps(
        lake: lakehouse_core::Lake,
        lease: lakehouse_core::lease::LeaseConfig,
    ) -> Result<Deps, lakehouse_runtime::Error> {
        Ok(Deps::new(lake, lease).await?)
    }

    async fn run(input: MaintainInput, deps: &Deps) -> Result<Maintenance, MaintainError> {
        run(input, deps).await
    }
}

impl lakehouse_core::metrics::StageFailure for MaintainError {
    fn kind(&self) -> lakehouse_core::ErrorKind {
        MaintainError::kind(self)
    }
}
