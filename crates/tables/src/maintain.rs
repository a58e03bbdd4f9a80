//! Lake maintenance: what keeps a table that commits every hour from growing without end.
//!
//! For each table, in this order:
//! 1. **compaction**: the small files of an entity table, the quarantine or a day partition
//!    that has several, rewritten as files of the table's target size (one snapshot,
//!    run-tagged like any commit);
//! 2. **snapshot expiry**: snapshots older than the retention are dropped from the metadata,
//!    keeping at least the last N ancestors of the current one (and the current one always);
//! 3. **file cleanup**: every data file, manifest and manifest list that no retained snapshot
//!    reaches, metadata versions beyond a bounded history, and temporary metadata files left by
//!    failed commits, once older than a safety margin. Left out for a catalog that removes
//!    unreferenced files itself (S3 Tables), or when the operator says so (`remove_files`).
//!
//! It runs under the lake's lease (the caller takes it), so no run commits meanwhile; the safety
//! margin keeps it from deleting what a writer that holds no lease may have just written and not
//! yet committed. Exactly-once does not rest on snapshots maintenance may expire: every run's
//! commits are recorded in the ledger too (`commit`), and a commit whose record a crash cut off
//! is recorded from its snapshot before that snapshot is expired.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use iceberg_rust::{
    catalog::commit::{TableRequirement, TableUpdate},
    spec::{manifest::Status, manifest_list::ManifestListEntry, util::strip_prefix},
    table::Table,
};
use lakehouse_core::{
    Lake, layout,
    lease::{Lease, LeaseConfig},
    metrics::{Figured, Figures, Unit},
    runid::RunId,
    store::LakeLocation,
};
use object_store::{ObjectStoreExt, path::Path};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{
    Result, TablesError, Warehouse,
    commit::RetryPolicy,
    live::live_files,
    schemas::{ALL, TableDef},
    write::{Change, TableWrite},
};

/// What maintenance keeps and how careful it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Snapshots younger than this are kept.
    pub older_than: Duration,
    /// At least this many of the current snapshot's ancestors (itself included) are kept.
    pub keep_last: usize,
    /// Files younger than this are never deleted, reachable or not.
    pub margin: Duration,
    /// Metadata versions (`vN.metadata.json`) kept, newest first.
    pub metadata_versions: usize,
    /// Delete the table files no retained snapshot reaches. Off for a catalog with its own
    /// unreferenced-file removal (Glue's orphan-file optimizer); an S3 Tables warehouse is
    /// never cleaned, whatever this says.
    pub remove_files: bool,
    /// Report what would be done, and do nothing.
    pub dry_run: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            older_than: Duration::days(7),
            keep_last: 10,
            margin: Duration::hours(1),
            metadata_versions: 20,
            remove_files: true,
            dry_run: false,
        }
    }
}

/// What maintenance did (or, in a dry run, would do) to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub snapshots_expired: usize,
    pub snapshots_kept: usize,
    pub files_compacted: usize,
    /// Data files deleted.
    pub files_deleted: usize,
    /// Metadata files deleted: manifests, manifest lists, metadata versions, temporary ones.
    pub metadata_deleted: usize,
    /// Bytes of both.
    pub bytes_deleted: u64,
}

/// One maintenance of a lake, as saved under `runs/<run_id>/maintenance.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub run_id: RunId,
    pub dry_run: bool,
    pub tables: Vec<TableReport>,
    /// The lake's bookkeeping the runs leave for maintenance to delete: old lease generations
    /// and the markers of closed runs ([`tidy_state`]).
    #[serde(default)]
    pub lease_generations_deleted: usize,
    #[serde(default)]
    pub closed_run_markers_deleted: usize,
    /// Staging files a killed writer left in a local lake (`durable::remove_stale_staging`).
    #[serde(default)]
    pub staging_files_deleted: usize,
    /// The table files were left to the catalog ([`removes_files`] was false).
    #[serde(default)]
    pub files_left_to_catalog: bool,
}

impl Figured for Maintenance {
    fn figures(&self, stage: &'static str) -> Figures {
        let sum = |f: fn(&TableReport) -> u64| self.tables.iter().map(f).sum::<u64>();
        Figures::new(stage, &self.run_id)
            .count("SnapshotsExpired", sum(|t| t.snapshots_expired as u64))
            .count("FilesCompacted", sum(|t| t.files_compacted as u64))
            .count("FilesDeleted", sum(|t| t.files_deleted as u64))
            .count("MetadataFilesDeleted", sum(|t| t.metadata_deleted as u64))
            .with("BytesDeleted", sum(|t| t.bytes_deleted) as f64, Unit::Bytes)
    }
}

/// Maintains every table of the warehouse under the lake's lease (waiting for it as `lease`
/// says), and saves the report under `runs/<run_id>/maintenance.json` (not for a dry run).
pub async fn maintain_lake(
    warehouse: &Warehouse,
    lease: &LeaseConfig,
    options: &Options,
) -> Result<Maintenance> {
    let lake = warehouse.lake();
    let run_id = RunId::new(Utc::now());
    let owner = format!("maintain-{run_id}");
    let held = Lease::acquire(lake, &owner, lease).await?.keep();
    let done = maintain(warehouse, &run_id, &RetryPolicy::default(), options).await;
    let tidied = match (&done, options.dry_run) {
        (Ok(_), false) => tidy_lake(lake, options.margin).await,
        _ => Ok((0, 0, 0)),
    };
    held.finish(true).await?;
    let (lease_generations_deleted, closed_run_markers_deleted, staging_files_deleted) = tidied?;
    let maintenance = Maintenance {
        run_id,
        dry_run: options.dry_run,
        tables: done?,
        lease_generations_deleted,
        closed_run_markers_deleted,
        staging_files_deleted,
        files_left_to_catalog: !removes_files(warehouse, options),
    };
    if !options.dry_run {
        let key = format!("{}/{}/maintenance.json", layout::RUNS, maintenance.run_id);
        lake.put_json(&key, &maintenance).await?;
    }
    Ok(maintenance)
}

/// Deletes what the runs leave behind in the lake's state instead of deleting it themselves
/// (their roles may not delete): old lease generations and the markers of closed runs. Returns
/// how many of each.
pub async fn tidy_state(lake: &Lake) -> Result<(usize, usize)> {
    Ok((
        lakehouse_core::lease::prune(lake).await?,
        lakehouse_core::ledger::prune_closed(lake).await?,
    ))
}

/// [`tidy_state`], and on a local lake the staging files of killed writers older than
/// `margin` (`durable::remove_stale_staging`): how many of each.
async fn tidy_lake(lake: &Lake, margin: Duration) -> Result<(usize, usize, usize)> {
    let (generations, markers) = tidy_state(lake).await?;
    let staging = match lake.location() {
        LakeLocation::Local(root) => {
            let before = (Utc::now() - margin).into();
            lakehouse_core::durable::remove_stale_staging(root, before).map_err(|e| {
                lakehouse_core::Error::Config(format!("lake {}: {e}", root.display()))
            })?
        }
        LakeLocation::S3 { .. } => 0,
    };
    Ok((generations, markers, staging))
}

/// Whether maintenance deletes the table files no retained snapshot reaches: unless the
/// operator leaves that to the catalog, or the catalog cannot be asked to (S3 Tables).
pub fn removes_files(warehouse: &Warehouse, options: &Options) -> bool {
    options.remove_files && !warehouse.lake().catalog().removes_unreferenced_files()
}

/// Maintains every table of the warehouse, one after another.
pub async fn maintain(
    warehouse: &Warehouse,
    run_id: &RunId,
    policy: &RetryPolicy,
    options: &Options,
) -> Result<Vec<TableReport>> {
    let mut reports = Vec::new();
    for def in ALL {
        if let Some(report) = maintain_table(warehouse, def, run_id, policy, options).await? {
            reports.push(report);
        }
    }
    Ok(reports)
}

async fn maintain_table(
    warehouse: &Warehouse,
    def: &'static TableDef,
    run_id: &RunId,
    policy: &RetryPolicy,
    options: &Options,
) -> Result<Option<TableReport>> {
    let Some(table) = warehouse.load(def.name).await? else {
        return Ok(None);
    };
    let mut report = TableReport {
        table: def.name.into(),
        ..TableReport::default()
    };
    let scattered = scattered_files(&table, def).await?;
    report.files_compacted = scattered;
    if scattered > 0 && !options.dry_run {
        TableWrite::new(def, Change::Compact)
            .apply(warehouse, run_id, policy)
            .await?;
    }
    let table = warehouse.require(def.name).await?;
    let (kept, expired) = retention(&table, options, Utc::now());
    report.snapshots_kept = kept.len();
    report.snapshots_expired = expired.len();
    let table = if expired.is_empty() || options.dry_run {
        table
    } else {
        crate::commit::record_witnessed(warehouse.lake(), &table, def, &expired).await?;
        let current = table.metadata().current_snapshot_id;
        let requirements = current
            .map(|snapshot_id| TableRequirement::AssertRefSnapshotId {
                r#ref: "main".into(),
                snapshot_id,
            })
            .into_iter()
            .collect();
        let updates = vec![TableUpdate::RemoveSnapshots {
            snapshot_ids: expired.clone(),
        }];
        warehouse
            .commit_metadata(&table, requirements, updates)
            .await?
    };
    if removes_files(warehouse, options) {
        clean_files(&table, &kept, options, &mut report).await?;
    }
    info!(
        table = def.name,
        expired = report.snapshots_expired,
        deleted = report.files_deleted,
        dry_run = options.dry_run,
        "maintained"
    );
    Ok(Some(report))
}

/// The data files (count, bytes) the current snapshots of all tables hold: what the lake's
/// table storage would be with no history at all.
pub async fn live_data(warehouse: &Warehouse) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for def in ALL {
        if let Some(table) = warehouse.load(def.name).await? {
            for file in live_files(&table, None).await? {
                files += 1;
                bytes += u64::try_from(file.bytes).unwrap_or(0);
            }
        }
    }
    Ok((files, bytes))
}

/// Files a compaction would fold together: every file of an unpartitioned table of several,
/// and every file of a day partition of several.
async fn scattered_files(table: &Table, def: &TableDef) -> Result<usize> {
    let live = live_files(table, None).await?;
    let target = crate::datafile::target_file_size(table);
    Ok(crate::write::scattered(def, &live, target).len())
}

/// The snapshots to keep and to expire: kept are the current one, the last `keep_last` of its
/// ancestors, those younger than the retention, and those a reference names.
fn retention(table: &Table, options: &Options, now: DateTime<Utc>) -> (Vec<i64>, Vec<i64>) {
    let metadata = table.metadata();
    let mut keep: HashSet<i64> = HashSet::new();
    let mut at = metadata.current_snapshot_id;
    let mut ancestors = 0;
    while let Some(id) = at {
        let Some(snapshot) = metadata.snapshots.get(&id) else {
            break;
        };
        if ancestors < options.keep_last.max(1) {
            keep.insert(id);
        }
        ancestors += 1;
        at = *snapshot.parent_snapshot_id();
    }
    let cutoff = (now - options.older_than).timestamp_millis();
    for (id, snapshot) in &metadata.snapshots {
        if *snapshot.timestamp_ms() >= cutoff {
            keep.insert(*id);
        }
    }
    keep.extend(metadata.refs.values().map(|r| r.snapshot_id));
    let mut kept: Vec<i64> = keep.iter().copied().collect();
    kept.sort_unstable();
    let mut expired: Vec<i64> = metadata
        .snapshots
        .keys()
        .filter(|id| !keep.contains(id))
        .copied()
        .collect();
    expired.sort_unstable();
    (kept, expired)
}

/// Every file the `kept` snapshots reach: their manifest lists, their manifests, and the data
/// files their manifests hold as live (a deleted entry is a tombstone: the file is no part of
/// that snapshot). iceberg-rust's manifest reader skips entries it cannot decode without a word,
/// and the counts it writes into manifest lists are not reliable, so each manifest's entries are
/// counted again by a plain Avro reader: if the two disagree, nothing is deleted.
async fn reachable(table: &Table, kept: &[i64]) -> Result<HashSet<String>> {
    let mut files = HashSet::new();
    let mut manifests: BTreeMap<String, ManifestListEntry> = BTreeMap::new();
    for id in kept {
        let Some(snapshot) = table.metadata().snapshots.get(id) else {
            continue;
        };
        files.insert(strip_prefix(snapshot.manifest_list()));
        for manifest in table.manifests(None, Some(*id)).await? {
            manifests.insert(manifest.manifest_path.clone(), manifest);
        }
    }
    let manifests: Vec<ManifestListEntry> = manifests.into_values().collect();
    let mut read: BTreeMap<String, usize> = BTreeMap::new();
    for entry in table.datafiles(&manifests, None, (None, None)).await? {
        let (manifest, entry) = entry?;
        *read.entry(manifest).or_default() += 1;
        if *entry.status() != Status::Deleted {
            files.insert(strip_prefix(entry.data_file().file_path()));
        }
    }
    for manifest in &manifests {
        let path = strip_prefix(&manifest.manifest_path);
        let bytes = crate::manifest_cache::manifest_bytes(table, &manifest.manifest_path).await?;
        let stored = avro_records(bytes.as_ref()).map_err(|e| {
            TablesError::Unreadable(format!("{}: manifest {path}: {e}", table.identifier()))
        })?;
        let decoded = read.get(&manifest.manifest_path).copied().unwrap_or(0);
        if decoded != stored {
            return Err(TablesError::Unreadable(format!(
                "{}: manifest {path} holds {stored} entries and iceberg-rust reads back {decoded}; \
                 nothing deleted",
                table.identifier()
            )));
        }
        files.insert(path);
    }
    Ok(files)
}

/// The number of records in an Avro container file.
fn avro_records(bytes: &[u8]) -> std::result::Result<usize, apache_avro::Error> {
    let mut records = 0;
    for record in apache_avro::Reader::new(bytes)? {
        record?;
        records += 1;
    }
    Ok(records)
}

/// Deletes what no kept snapshot reaches, metadata versions past the bounded history and
/// temporary metadata files, each older than the margin.
async fn clean_files(
    table: &Table,
    kept: &[i64],
    options: &Options,
    report: &mut TableReport,
) -> Result<()> {
    let reachable = reachable(table, kept).await?;
    let store = table.object_store();
    let location = strip_prefix(&table.metadata().location);
    let cutoff = Utc::now() - options.margin;
    let mut versions: Vec<(u64, Path, u64, DateTime<Utc>)> = Vec::new();
    // (path, bytes, whether it is metadata rather than a data file)
    let mut doomed: Vec<(Path, u64, bool)> = Vec::new();
    for dir in ["data", "metadata"] {
        let prefix = Path::from(format!("{location}/{dir}"));
        let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
        for meta in listed {
            let name = meta.location.filename().unwrap_or_default().to_owned();
            let path = format!("/{}", meta.location);
            let version = name
                .strip_prefix('v')
                .and_then(|v| v.strip_suffix(".metadata.json"))
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(version) = version {
                versions.push((version, meta.location, meta.size, meta.last_modified));
                continue;
            }
            if meta.last_modified > cutoff || name == "version-hint.text" {
                continue;
            }
            let unreachable =
                !reachable.contains(&path) && !reachable.contains(meta.location.as_ref());
            let temporary_metadata = name.ends_with(".metadata.json");
            let avro = name.ends_with(".avro");
            if temporary_metadata || ((avro || name.ends_with(".parquet")) && unreachable) {
                doomed.push((meta.location, meta.size, temporary_metadata || avro));
            }
        }
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (_, path, size, modified) in versions.into_iter().skip(options.metadata_versions.max(1)) {
        if modified <= cutoff {
            doomed.push((path, size, true));
        }
    }
    for (path, size, metadata) in doomed {
        if metadata {
            report.metadata_deleted += 1;
        } else {
            report.files_deleted += 1;
        }
        report.bytes_deleted += size;
        if options.dry_run {
            continue;
        }
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                warn!(path = %path, error = %e, "could not delete; the next maintenance tries again")
            }
        }
    }
    Ok(())
}
