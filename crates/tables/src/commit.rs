//! Commits with an exactly-once effect per run.
//!
//! Each table has one committing writer per run. Every attempt starts by reloading the table and
//! looking for a snapshot whose summary carries this run's id: if there is one (a re-run, or an
//! earlier attempt whose answer was lost), nothing is written. Otherwise the caller's plan is
//! built against the fresh table (so a conflicting commit is re-applied on the new state, not
//! replayed blindly) and committed as a compare-and-swap; on failure the loop backs off and tries
//! again, a bounded number of times, well inside a Lambda timeout.
//!
//! How a plan is committed: an append (iceberg-rust's) when it removes nothing; otherwise an
//! overwrite written by [`crate::overwrite`], which rewrites only the manifests that hold a
//! removed file. When that would leave the snapshot with too many manifests
//! ([`crate::overwrite::max_manifests`]), the plan goes as a `replace` with the complete
//! new file list, which rewrites every manifest into few. iceberg-rust 0.10's own overwrite
//! panics once a table's files span two manifests (the pinned test below), and its replace
//! leaves the snapshot's parent out; the tagging adapter puts it back (`tagging`), so every
//! snapshot's ancestors reach back through the runs.

use std::{collections::HashMap, sync::Arc, time::Duration};

use iceberg_rust::{
    catalog::Catalog,
    spec::{manifest::DataFile, manifest_list::ManifestListEntry},
    table::Table,
};
use lakehouse_core::{Lake, contracts::TableCommit, dates, ledger, runid::RunId};
use polars::prelude::DataFrame;
use tracing::{info, warn};

use crate::{
    Result, TablesError, Warehouse,
    datafile::write_frame,
    live::{
        LiveFile, PARTITIONS_KEY, RUN_ID_KEY, RunSnapshot, format_days, live_data_files,
        removal_map, run_snapshot, snapshot_of_run,
    },
    schemas::TableDef,
    tagging::TaggingCatalog,
};

/// What one commit does: data files to add and, per manifest, the data files they replace.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub files: Vec<DataFile>,
    pub remove: HashMap<String, Vec<String>>,
    pub rows: u64,
    /// The day partitions written, sorted (recorded in the snapshot summary).
    pub partitions: Vec<i32>,
    /// Snapshot summary fields that depend on what the attempt found.
    pub stamps: Vec<(&'static str, String)>,
}

impl Plan {
    fn removed(&self) -> u64 {
        self.remove.values().map(|v| v.len() as u64).sum()
    }
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
pub(crate) async fn commit_run(
    warehouse: &Warehouse,
    def: &TableDef,
    run_id: &RunId,
    extra_stamps: &[(&'static str, String)],
    policy: &RetryPolicy,
    plan: impl AsyncFn(&Table) -> Result<Plan>,
) -> Result<TableCommit> {
    let lake = warehouse.lake();
    if let Some(mut done) = ledger::table_commit(lake, run_id, def.name).await? {
        info!(table = def.name, %run_id, "the ledger has this run's commit; nothing to do");
        done.already_committed = true;
        return Ok(done);
    }
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
        // A load or create whose failure may pass (a catalog's 5xx, a lost race to create
        // the table or its namespace) costs an attempt, like a lost commit.
        let table = match warehouse.load_or_create(def).await {
            Ok(table) => table,
            Err(TablesError::Iceberg(e)) if crate::error::transient(&e) => {
                last_error = e.to_string();
                continue;
            }
            Err(e) => return Err(e),
        };
        if attempt == 0 {
            warehouse.repair_hint(&table).await;
        }
        if let Some(done) = snapshot_of_run(&table, run_id) {
            info!(table = def.name, %run_id, snapshot_id = done.snapshot_id, "run already committed; nothing to do");
            let found = found_commit(def.name, done, attempt + 1);
            // A crash between the commit and its ledger record: record it now, before
            // maintenance can expire the snapshot that witnesses it.
            ledger::record_table_commit(lake, run_id, &found).await?;
            return Ok(found);
        }
        let plan = plan(&table).await?;
        let mut summary = TableCommit {
            table: def.name.into(),
            rows_written: plan.rows,
            files_added: plan.files.len() as u64,
            files_removed: plan.removed(),
            snapshot_id: None,
            already_committed: false,
            partitions: plan
                .partitions
                .iter()
                .map(|d| dates::from_days(*d))
                .collect(),
            attempts: attempt + 1,
        };
        if plan.files.is_empty() && plan.remove.is_empty() {
            summary.partitions.clear();
            return Ok(summary);
        }
        let has_snapshot = table.metadata().current_snapshot(None)?.is_some();
        let shape = if plan.remove.is_empty() || !has_snapshot {
            // Overwrite needs a snapshot to start from; the first write of a table is an append.
            Shape::Append
        } else {
            let manifests = table.manifests(None, None).await?;
            let limit = crate::overwrite::max_manifests;
            match crate::overwrite::prepare(&table, &manifests, &plan.files, &plan.remove, limit)
                .await
            {
                Ok(Some(commit)) => Shape::Overwrite(commit),
                Ok(None) => Shape::Replace(kept_files(&table, &manifests, &plan.remove).await?),
                // Writing its manifests failed: an attempt lost, as a failed commit's would be.
                Err(TablesError::Store(e)) => {
                    last_error = e.to_string();
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let identifier = table.identifier().clone();
        let store = table.object_store();
        let mut stamps = vec![(RUN_ID_KEY, run_id.to_string())];
        if !plan.partitions.is_empty() {
            stamps.push((PARTITIONS_KEY, format_days(&plan.partitions)));
        }
        stamps.extend(extra_stamps.iter().cloned());
        stamps.extend(plan.stamps.iter().cloned());
        let catalog = Arc::new(TaggingCatalog {
            inner: warehouse.catalog(),
            stamps,
            schema_id: Some(table.metadata().current_schema_id),
            parent: table.metadata().current_snapshot_id,
            local_warehouse: warehouse.local_location().map(str::to_owned),
        });
        let committed = match shape {
            Shape::Overwrite(commit) => catalog.update_table(commit).await,
            Shape::Append | Shape::Replace(_) => {
                let mut tagged =
                    Table::new(identifier, catalog, store, table.into_metadata()).await?;
                let tx = tagged.new_transaction(None);
                let tx = match shape {
                    Shape::Replace(mut files) => {
                        files.extend(plan.files);
                        tx.replace(files)
                    }
                    _ => tx.append_data(plan.files),
                };
                tx.commit().await.map(|()| tagged)
            }
        };
        match committed {
            Ok(tagged) => {
                summary.snapshot_id = tagged
                    .metadata()
                    .current_snapshot(None)?
                    .map(|s| *s.snapshot_id());
                info!(table = def.name, %run_id, rows = summary.rows_written, files = summary.files_added, "committed");
                warehouse.repair_hint(&tagged).await;
                ledger::record_table_commit(lake, run_id, &summary).await?;
                return Ok(summary);
            }
            Err(e) if crate::error::transient(&e) => last_error = e.to_string(),
            // Retrying a commit the catalog refused for its content would fail the same way on
            // every attempt the policy allows, and hide the cause behind "kept conflicting".
            Err(e) => return Err(TablesError::from(e)),
        }
    }
    Err(TablesError::CommitConflict {
        table: def.name.into(),
        attempts: policy.attempts,
        last: last_error,
    })
}

/// A run's commit as its snapshot witnesses it: found in the table's history, not made now.
fn found_commit(table: &str, found: RunSnapshot, attempts: u32) -> TableCommit {
    TableCommit {
        snapshot_id: Some(found.snapshot_id),
        already_committed: true,
        partitions: found.partitions,
        attempts,
        ..TableCommit::nothing(table)
    }
}

/// Records in the ledger every run commit among `snapshots` that only its snapshot witnesses
/// (the run crashed between its commit and the record, and no run has finished it since):
/// called before those snapshots are expired, so that a re-run of such a run still finds its
/// commit after the snapshot is gone.
pub(crate) async fn record_witnessed(
    lake: &Lake,
    table: &Table,
    def: &TableDef,
    snapshots: &[i64],
) -> Result<()> {
    let metadata = table.metadata();
    let witnessed = snapshots
        .iter()
        .filter_map(|id| metadata.snapshots.get(id).and_then(run_snapshot))
        .filter_map(|(id, found)| Some((RunId::parse(id).ok()?, found)));
    for (run_id, found) in witnessed {
        if ledger::table_commit(lake, &run_id, def.name)
            .await?
            .is_none()
        {
            warn!(table = def.name, %run_id, snapshot_id = found.snapshot_id, "a run's commit was witnessed only by a snapshot about to expire; recorded in the ledger");
            ledger::record_table_commit(lake, &run_id, &found_commit(def.name, found, 1)).await?;
        }
    }
    Ok(())
}

/// How a plan reaches the table (see the module documentation).
enum Shape {
    Append,
    /// Written by [`crate::overwrite`], ready for the catalog.
    Overwrite(iceberg_rust::catalog::commit::CommitTable),
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
        .iter()
        .flat_map(|files| files.iter())
        .filter(|file| !removed.contains(file.file_path().as_str()))
        .cloned()
        .collect())
}

/// The plan that replaces the files `replace` with `rows` (in the table's schema): the one
/// shape of every commit the pipeline makes (an append when `replace` is empty).
pub(crate) async fn rewrite(
    table: &Table,
    def: &TableDef,
    rows: DataFrame,
    replace: &[&LiveFile],
) -> Result<Plan> {
    let mut partitions: Vec<i32> = replace.iter().filter_map(|f| f.day).collect();
    if let Some(column) = def.day_partition {
        let days = rows.column(column)?.to_physical_repr();
        partitions.extend(days.i32()?.iter().flatten());
    }
    partitions.sort_unstable();
    partitions.dedup();
    let count = rows.height() as u64;
    let files = write_frame(table, def, rows).await?;
    Ok(Plan {
        files,
        remove: removal_map(replace.iter().copied()),
        rows: count,
        partitions,
        stamps: Vec::new(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use futures::FutureExt;
    use lakehouse_core::{Lake, config::S3Settings, store::LakeLocation};
    use polars::prelude::*;

    use super::*;
    use crate::{Change, Rows, TableWrite, live::live_files, schemas::FACT_SALES};

    /// A warehouse on a fresh temporary lake (kept while the directory lives).
    pub(crate) async fn temp_warehouse() -> (tempfile::TempDir, Warehouse) {
        let dir = tempfile::tempdir().unwrap();
        let location = LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default());
        let warehouse = Warehouse::open(&Lake::open(location.unwrap()).unwrap())
            .await
            .unwrap();
        (dir, warehouse)
    }

    /// One fact a day for the days given (days of January 2026).
    pub(crate) fn facts(days: &[u32]) -> DataFrame {
        let n = days.len();
        df!(
            "order_id" => days.iter().map(|d| format!("o{d}")).collect::<Vec<_>>(),
            "customer_id" => vec!["C"; n],
            "product_id" => vec!["P"; n],
            "order_date" => days.iter().map(|d| 20_453 + *d as i32).collect::<Vec<_>>(),
            "quantity" => vec![1i64; n],
            "unit_price" => vec![1.0; n],
            "amount" => vec![1.0; n],
            "status" => vec!["placed"; n],
            "order_year" => vec![2026i32; n],
            "order_month" => vec![1i32; n],
            "updated_at" => vec![0i64; n],
        )
        .unwrap()
        .lazy()
        .with_columns([
            col("order_date").cast(DataType::Date),
            col("updated_at").cast(DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            )),
        ])
        .collect()
        .unwrap()
    }

    /// Pins the upstream bug our own overwrite (`crate::overwrite`) exists for. The day a fixed
    /// iceberg-rust is pinned this test fails: then its `overwrite` could serve every plan
    /// that removes files, and ours could go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn iceberg_rust_overwrite_still_panics_once_files_span_two_manifests() {
        let (_dir, warehouse) = temp_warehouse().await;
        let all: Vec<u32> = (1..=8).collect();
        let first = TableWrite::new(
            &FACT_SALES,
            Change::ReplacePartitions {
                days: Vec::new(),
                rows: Rows::Frame(facts(&all)),
            },
        );
        let run = RunId::parse("20260101T000000Z-pin").unwrap();
        first
            .apply(&warehouse, &run, &RetryPolicy::default())
            .await
            .unwrap();
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        let live = live_files(&table, None).await.unwrap();
        let (first_day, last_day) = (Some(20_454), Some(20_461));
        let replaced: Vec<&LiveFile> = live
            .iter()
            .filter(|f| f.day == first_day || f.day == last_day)
            .collect();
        assert_ne!(
            replaced[0].manifest, replaced[1].manifest,
            "the scenario needs the replaced files in two manifests"
        );
        let plan = rewrite(&table, &FACT_SALES, facts(&[1, 8]), &replaced)
            .await
            .unwrap();
        let mut table = table;
        let overwrite = async move {
            table
                .new_transaction(None)
                .overwrite(plan.files, plan.remove)
                .commit()
                .await
        };
        let outcome = std::panic::AssertUnwindSafe(overwrite).catch_unwind().await;
        assert!(
            outcome.is_err(),
            "iceberg-rust's overwrite no longer panics across manifests ({:?}): it could replace \
             crate::overwrite",
            outcome.map(|r| r.is_ok())
        );
    }
}
