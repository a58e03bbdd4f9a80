//! Commits with an exactly-once effect per run.
//!
//! Each table has one committing writer per run. Every attempt starts by reloading the table and
//! looking for a snapshot whose summary carries this run's id: if there is one (a re-run, or an
//! earlier attempt whose answer was lost), nothing is written. Otherwise the caller's plan is
//! built against the fresh table (so a conflicting commit is re-applied on the new state, not
//! replayed blindly) and committed as a compare-and-swap; on failure the loop backs off and tries
//! again, a bounded number of times, well inside a Lambda timeout.
//!
//! How a plan is committed: an append when it removes nothing; an `overwrite` naming the files
//! it removes when the table has a single manifest; otherwise a `replace` with the complete new
//! file list. iceberg-rust 0.10's overwrite panics (`Option::unwrap` on a `None` file count in
//! `ManifestListEntryV2::from`) whenever a manifest other than the one it picks for the new files
//! must drop entries, which happens as soon as a table's files span two manifests. The replace
//! snapshot has the same content an overwrite would have had, but no parent snapshot.

use std::{collections::HashMap, sync::Arc, time::Duration};

use iceberg_rust::{
    spec::{
        manifest::{DataFile, Status},
        manifest_list::ManifestListEntry,
        values::Value,
    },
    table::Table,
};
use lakehouse_core::{contracts::TableCommit, runid::RunId};
use tracing::{info, warn};

use crate::{
    Result, TablesError, Warehouse,
    datafile::write_frame,
    schemas::{DAY_PARTITION_FIELD, TableDef},
    tagging::TaggingCatalog,
};

pub use crate::tagging::RUN_ID_KEY;

/// What one commit does: data files to add and, per manifest, the data files they replace.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<DataFile>,
    pub remove: HashMap<String, Vec<String>>,
    pub rows: u64,
}

impl Plan {
    fn removed(&self) -> u64 {
        self.remove.values().map(|v| v.len() as u64).sum()
    }
}

/// A live data file of a table's current snapshot.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub manifest: String,
    pub path: String,
    /// Days since 1970-01-01 of the file's partition, for day-partitioned tables.
    pub day: Option<i32>,
    pub records: i64,
    pub bytes: i64,
}

pub async fn live_files(table: &Table) -> Result<Vec<LiveFile>> {
    let manifests = table.manifests(None, None).await?;
    let files = live_data_files(table, &manifests).await?;
    Ok(files
        .into_iter()
        .map(|(manifest, file)| {
            let day = file
                .partition()
                .get(DAY_PARTITION_FIELD)
                .and_then(|v| v.as_ref())
                .and_then(|v| match v {
                    Value::Int(d) | Value::Date(d) => Some(*d),
                    _ => None,
                });
            LiveFile {
                manifest,
                path: file.file_path().to_string(),
                day,
                records: *file.record_count(),
                bytes: *file.file_size_in_bytes(),
            }
        })
        .collect())
}

/// The data files `manifests` list as live (not deleted), each with its manifest's path.
async fn live_data_files(
    table: &Table,
    manifests: &[ManifestListEntry],
) -> Result<Vec<(String, DataFile)>> {
    let mut files = Vec::new();
    for entry in table.datafiles(manifests, None, (None, None)).await? {
        let (manifest, entry) = entry?;
        if *entry.status() != Status::Deleted {
            files.push((manifest.to_string(), entry.data_file().clone()));
        }
    }
    Ok(files)
}

/// The `files_to_overwrite` map of an overwrite that replaces `files`.
pub fn removal_map<'a>(
    files: impl IntoIterator<Item = &'a LiveFile>,
) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for file in files {
        map.entry(file.manifest.clone())
            .or_default()
            .push(file.path.clone());
    }
    map
}

/// The snapshot of `run_id` in the table's history, if this run already committed.
pub fn snapshot_of_run(table: &Table, run_id: &RunId) -> Option<i64> {
    table
        .metadata()
        .snapshots
        .values()
        .find(|s| s.summary().other.get(RUN_ID_KEY).map(String::as_str) == Some(run_id.as_str()))
        .map(|s| *s.snapshot_id())
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
        }
    }
}

/// Commits the plan built by `plan` for `run_id`, at most once per table and run.
/// `plan` may fail with the caller's own error type; the table's own failures convert into it.
pub async fn commit_run<E: From<TablesError>>(
    warehouse: &Warehouse,
    def: &TableDef,
    run_id: &RunId,
    policy: &RetryPolicy,
    plan: impl AsyncFn(&Table) -> Result<Plan, E>,
) -> Result<TableCommit, E> {
    let mut last_error = String::new();
    for attempt in 0..policy.attempts {
        if attempt > 0 {
            let wait = policy
                .first_backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(policy.max_backoff);
            warn!(table = def.name, %run_id, attempt, ?wait, error = %last_error, "commit failed; reloading and retrying");
            tokio::time::sleep(wait).await;
        }
        let table = warehouse.load_or_create(def).await?;
        if let Some(snapshot_id) = snapshot_of_run(&table, run_id) {
            info!(table = def.name, %run_id, snapshot_id, "run already committed; nothing to do");
            return Ok(TableCommit {
                table: def.name.into(),
                rows_written: 0,
                files_added: 0,
                files_removed: 0,
                snapshot_id: Some(snapshot_id),
                already_committed: true,
            });
        }
        let plan = plan(&table).await?;
        let mut summary = TableCommit {
            table: def.name.into(),
            rows_written: plan.rows,
            files_added: plan.files.len() as u64,
            files_removed: plan.removed(),
            snapshot_id: None,
            already_committed: false,
        };
        if plan.files.is_empty() {
            return Ok(summary);
        }
        let has_snapshot = table
            .metadata()
            .current_snapshot(None)
            .map_err(TablesError::from)?
            .is_some();
        let shape = if plan.remove.is_empty() || !has_snapshot {
            // Overwrite needs a snapshot to start from; the first write of a table is an append.
            Shape::Append
        } else {
            let manifests = table
                .manifests(None, None)
                .await
                .map_err(TablesError::from)?;
            if manifests.len() == 1 {
                Shape::Overwrite
            } else {
                Shape::Replace(kept_files(&table, &manifests, &plan.remove).await?)
            }
        };
        let identifier = table.identifier().clone();
        let store = table.object_store();
        let catalog = Arc::new(TaggingCatalog {
            inner: warehouse.catalog(),
            run_id: run_id.to_string(),
        });
        let mut tagged = Table::new(identifier, catalog, store, table.into_metadata())
            .await
            .map_err(TablesError::from)?;
        let tx = tagged.new_transaction(None);
        let tx = match shape {
            Shape::Append => tx.append_data(plan.files),
            Shape::Overwrite => tx.overwrite(plan.files, plan.remove),
            Shape::Replace(mut files) => {
                files.extend(plan.files);
                tx.replace(files)
            }
        };
        match tx.commit().await {
            Ok(()) => {
                summary.snapshot_id = tagged
                    .metadata()
                    .current_snapshot(None)
                    .map_err(TablesError::from)?
                    .map(|s| *s.snapshot_id());
                info!(table = def.name, %run_id, rows = summary.rows_written, files = summary.files_added, "committed");
                return Ok(summary);
            }
            Err(e) if crate::error::transient(&e) => last_error = e.to_string(),
            // Retrying a commit the catalog refused for its content would fail the same way on
            // every attempt the policy allows, and hide the cause behind "kept conflicting".
            Err(e) => return Err(TablesError::from(e).into()),
        }
    }
    Err(TablesError::CommitConflict {
        table: def.name.into(),
        attempts: policy.attempts,
        last: last_error,
    }
    .into())
}

/// How a plan reaches the table (see the module documentation).
enum Shape {
    Append,
    Overwrite,
    /// The complete file list of the new snapshot.
    Replace(Vec<DataFile>),
}

/// The live data files of `manifests` that `remove` does not name.
async fn kept_files(
    table: &Table,
    manifests: &[ManifestListEntry],
    remove: &HashMap<String, Vec<String>>,
) -> Result<Vec<DataFile>> {
    let removed: std::collections::HashSet<&str> =
        remove.values().flatten().map(String::as_str).collect();
    Ok(live_data_files(table, manifests)
        .await?
        .into_iter()
        .map(|(_, file)| file)
        .filter(|file| !removed.contains(file.file_path().as_str()))
        .collect())
}

/// The plan that replaces the files `replace` with the rows of `merged`: the one shape of
/// every commit the pipeline makes (an append when `replace` is empty).
pub async fn rewrite(
    table: &Table,
    def: &TableDef,
    merged: polars::prelude::LazyFrame,
    replace: &[&LiveFile],
) -> Result<Plan> {
    let merged = crate::bridge::conform(merged, def).collect()?;
    let rows = merged.height() as u64;
    let files = write_frame(table, def, merged).await?;
    Ok(Plan {
        files,
        remove: removal_map(replace.iter().copied()),
        rows,
    })
}
