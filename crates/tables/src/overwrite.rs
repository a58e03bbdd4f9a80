//! Overwrite snapshots written here rather than by iceberg-rust, whose `overwrite` panics once
//! a table's files span two manifests (the test pinned in `commit` says when that changes).
//!
//! The new snapshot lists the current snapshot's manifests as they are, except the ones that
//! hold a removed file: each of those is written again without it (its other entries marked
//! existing, with the snapshot and sequence number they inherited made explicit), or left out
//! when nothing in it remains; the added files go into one new manifest. So a commit costs what
//! it changes, not what the table holds. A removed file is left out rather than kept as a
//! `deleted` entry, as iceberg-rust's own overwrite does: its append marks every entry of the
//! manifest it extends `existing`, which would bring a deleted entry back to life.
//!
//! Each commit adds a manifest, and a rewrite keeps the files of partitions nobody writes again
//! in small ones; past [`max_manifests`] the caller commits a `replace`, which rewrites them
//! all into about √files manifests of about √files files each (`commit`).

use std::collections::{HashMap, HashSet};

use apache_avro::Writer;
use iceberg_rust::{
    catalog::commit::{CommitTable, TableRequirement, TableUpdate},
    spec::{
        manifest::{DataFile, ManifestEntry, ManifestEntryV2, Status, partition_value_schema},
        manifest_list::{Content, FieldSummary, ManifestListEntry, manifest_list_schema_v2},
        schema::SchemaV2,
        snapshot::{
            Operation, Snapshot, SnapshotBuilder, SnapshotReference, SnapshotRetention, Summary,
            generate_snapshot_id,
        },
        table_metadata::FormatVersion,
        util::strip_prefix,
    },
    table::Table,
};
use object_store::{ObjectStoreExt, PutPayload, path::Path};

use crate::{
    Result, TablesError,
    live::table_schema,
    manifest_cache::manifest_bytes,
    manifest_read::{decode_entry, open_v2, unreadable},
};

/// The manifests an overwrite may leave a snapshot of `files` live data files with; past it the
/// commit is a replace. Several times what a replace leaves, so that many overwrites come
/// between two replaces: a manifest that does not change costs a line in the list and one
/// decode per process.
pub(crate) fn max_manifests(files: usize) -> usize {
    64 + 4 * (files as f64).sqrt() as usize
}

const MAIN: &str = "main";

/// The commit that adds `files` to the table's current snapshot and removes the data files
/// `remove` names (by manifest path), or `None` when it would leave more manifests than `limit`
/// allows for its live files ([`max_manifests`]; nothing is written then). The manifests it
/// needs are written.
pub(crate) async fn prepare(
    table: &Table,
    manifests: &[ManifestListEntry],
    files: &[DataFile],
    remove: &HashMap<String, Vec<String>>,
    limit: fn(usize) -> usize,
) -> Result<Option<CommitTable>> {
    let metadata = table.metadata();
    let parent = metadata.current_snapshot(None)?.ok_or_else(|| {
        TablesError::Unreadable(format!("{}: no snapshot to overwrite", metadata.location))
    })?;
    let new = NewSnapshot {
        id: generate_snapshot_id(),
        sequence_number: metadata.last_sequence_number + 1,
    };
    let commit_uuid = uuid::Uuid::new_v4();
    let manifest_location =
        |i: usize| format!("{}/metadata/{commit_uuid}-m{i}.avro", metadata.location);

    let listed: HashSet<&str> = manifests.iter().map(|m| m.manifest_path.as_str()).collect();
    if let Some(missing) = remove.keys().find(|path| !listed.contains(path.as_str())) {
        return Err(TablesError::Unreadable(format!(
            "{}: manifest {missing} is not in the current snapshot",
            metadata.location
        )));
    }
    let mut list = Vec::new();
    let mut writes = Vec::new();
    let mut removed = Totals::default();
    for manifest in manifests {
        let Some(paths) = remove.get(&manifest.manifest_path) else {
            list.push(manifest.clone());
            continue;
        };
        let bytes = manifest_bytes(table, &manifest.manifest_path).await?;
        let location = manifest_location(writes.len());
        let filtered = filter(
            &manifest.manifest_path,
            bytes.as_ref(),
            paths,
            manifest,
            new,
            &location,
        )?;
        removed.add(&filtered.removed);
        if let Some((entry, bytes)) = filtered.kept {
            list.push(entry);
            writes.push((location, bytes));
        }
    }
    let mut added = Totals::default();
    if !files.is_empty() {
        let location = manifest_location(writes.len());
        for file in files {
            added.count(file);
        }
        let (entry, bytes) = new_manifest(table, files, added, new, &location)?;
        list.push(entry);
        writes.push((location, bytes));
    }
    let live: i64 = list
        .iter()
        .map(|m| i64::from(m.added_files_count.unwrap_or(0) + m.existing_files_count.unwrap_or(0)))
        .sum();
    if list.len() > limit(live.max(0) as usize) {
        return Ok(None);
    }

    let list_location = format!(
        "{}/metadata/snap-{}-0-{commit_uuid}.avro",
        metadata.location, new.id
    );
    writes.push((list_location.clone(), manifest_list(new, parent, &list)?));
    let store = table.object_store();
    futures::future::try_join_all(writes.into_iter().map(|(location, bytes)| {
        let store = store.clone();
        async move {
            store
                .put(
                    &Path::from(strip_prefix(&location).as_str()),
                    PutPayload::from(bytes),
                )
                .await
        }
    }))
    .await?;

    let snapshot = SnapshotBuilder::default()
        .with_snapshot_id(new.id)
        .with_parent_snapshot_id(*parent.snapshot_id())
        .with_sequence_number(new.sequence_number)
        .with_manifest_list(list_location)
        .with_schema_id(metadata.current_schema_id)
        .with_summary(Summary {
            operation: Operation::Overwrite,
            other: summary(&parent.summary().other, &added, &removed),
        })
        .build()?;
    Ok(Some(CommitTable {
        identifier: table.identifier().clone(),
        requirements: vec![TableRequirement::AssertRefSnapshotId {
            r#ref: MAIN.into(),
            snapshot_id: *parent.snapshot_id(),
        }],
        updates: vec![
            TableUpdate::AddSnapshot { snapshot },
            TableUpdate::SetSnapshotRef {
                ref_name: MAIN.into(),
                snapshot_reference: SnapshotReference {
                    snapshot_id: new.id,
                    retention: SnapshotRetention::default(),
                },
            },
        ],
    }))
}

/// The manifest list of the new snapshot: `list`, with the header fields the spec asks for.
fn manifest_list(
    new: NewSnapshot,
    parent: &Snapshot,
    list: &[ManifestListEntry],
) -> Result<Vec<u8>> {
    let mut writer = Writer::new(manifest_list_schema_v2(), Vec::new());
    for (key, value) in [
        ("format-version", "2".to_owned()),
        ("snapshot-id", new.id.to_string()),
        ("parent-snapshot-id", parent.snapshot_id().to_string()),
        ("sequence-number", new.sequence_number.to_string()),
    ] {
        writer.add_user_metadata(key.into(), value)?;
    }
    for entry in list {
        writer.append_ser(entry)?;
    }
    Ok(writer.into_inner()?)
}

/// The snapshot an overwrite makes.
#[derive(Debug, Clone, Copy)]
struct NewSnapshot {
    id: i64,
    sequence_number: i64,
}

impl NewSnapshot {
    /// The manifest list's entry for a manifest this snapshot writes at `location` (of
    /// `length` bytes), holding the `(added, existing)` files.
    fn list_entry(
        self,
        (location, length): (&str, usize),
        partition_spec_id: i32,
        min_sequence_number: i64,
        (added, existing): (Totals, Totals),
        partitions: Option<Vec<FieldSummary>>,
    ) -> ManifestListEntry {
        ManifestListEntry {
            format_version: FormatVersion::V2,
            manifest_path: location.to_owned(),
            manifest_length: length as i64,
            partition_spec_id,
            content: Content::Data,
            sequence_number: self.sequence_number,
            min_sequence_number,
            added_snapshot_id: self.id,
            added_files_count: Some(added.files as i32),
            existing_files_count: Some(existing.files as i32),
            deleted_files_count: Some(0),
            added_rows_count: Some(added.records),
            existing_rows_count: Some(existing.records),
            deleted_rows_count: Some(0),
            partitions,
            key_metadata: None,
        }
    }
}

/// Files, records and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    files: i64,
    records: i64,
    bytes: i64,
}

impl Totals {
    fn count(&mut self, file: &DataFile) {
        self.files += 1;
        self.records += file.record_count();
        self.bytes += file.file_size_in_bytes();
    }

    fn add(&mut self, other: &Totals) {
        self.files += other.files;
        self.records += other.records;
        self.bytes += other.bytes;
    }
}

/// A manifest without the files a commit removes.
struct Filtered {
    /// Its new entry in the manifest list and its bytes, `None` when no file remains.
    kept: Option<(ManifestListEntry, Vec<u8>)>,
    removed: Totals,
}

/// The manifest `bytes` (at `path`, listed as `manifest`) written again without the entries
/// of `paths`, its other live entries marked existing. Every path must be a live entry of it.
fn filter(
    path: &str,
    bytes: &[u8],
    paths: &[String],
    manifest: &ManifestListEntry,
    new: NewSnapshot,
    location: &str,
) -> Result<Filtered> {
    let Some(reader) = open_v2(path, bytes)? else {
        return Err(unreadable(
            path,
            "an overwrite rewrites format-version 2 manifests only",
        ));
    };
    let schema = reader.writer_schema().clone();
    let user_metadata = reader.user_metadata().clone();
    let mut writer = Writer::new(&schema, Vec::new());
    for (key, value) in user_metadata {
        if !key.starts_with("avro.") {
            writer.add_user_metadata(key, value)?;
        }
    }
    let mut wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
    let mut removed = Totals::default();
    let mut kept = Totals::default();
    let mut min_sequence_number = new.sequence_number;
    for value in reader {
        let mut entry = decode_entry(path, value)?;
        if entry.status == Status::Deleted {
            continue;
        }
        let file = &entry.data_file;
        if wanted.remove(file.file_path.as_str()) {
            removed.files += 1;
            removed.records += file.record_count;
            removed.bytes += file.file_size_in_bytes;
            continue;
        }
        kept.files += 1;
        kept.records += file.record_count;
        entry.status = Status::Existing;
        let entry_sequence = *entry
            .sequence_number
            .get_or_insert(manifest.sequence_number);
        entry.snapshot_id.get_or_insert(manifest.added_snapshot_id);
        min_sequence_number = min_sequence_number.min(entry_sequence);
        writer.append_ser(entry)?;
    }
    if let Some(missing) = wanted.into_iter().next() {
        return Err(unreadable(
            path,
            format!("it does not list {missing} as live, which the commit removes"),
        ));
    }
    if kept.files == 0 {
        return Ok(Filtered {
            kept: None,
            removed,
        });
    }
    let bytes = writer.into_inner()?;
    // The old manifest's partition bounds hold for what is left of it.
    let entry = new.list_entry(
        (location, bytes.len()),
        manifest.partition_spec_id,
        min_sequence_number,
        (Totals::default(), kept),
        manifest.partitions.clone(),
    );
    Ok(Filtered {
        kept: Some((entry, bytes)),
        removed,
    })
}

/// A manifest of `files` (`added` their totals), added by the snapshot, in the table's current schema and partition
/// spec, and its entry in the manifest list.
fn new_manifest(
    table: &Table,
    files: &[DataFile],
    added: Totals,
    new: NewSnapshot,
    location: &str,
) -> Result<(ManifestListEntry, Vec<u8>)> {
    let metadata = table.metadata();
    let partition_fields = metadata.current_partition_fields(None)?;
    let schema = ManifestEntry::schema(
        &partition_value_schema(&partition_fields)?,
        &FormatVersion::V2,
    )?;
    let spec = metadata.default_partition_spec()?;
    let mut writer = Writer::new(&schema, Vec::new());
    for (key, value) in [
        ("format-version", "2".to_owned()),
        (
            "schema",
            serde_json::to_string(&SchemaV2::from(table_schema(metadata)?.clone()))
                .map_err(|e| TablesError::Unreadable(e.to_string()))?,
        ),
        ("schema-id", metadata.current_schema_id.to_string()),
        (
            "partition-spec",
            serde_json::to_string(spec.fields())
                .map_err(|e| TablesError::Unreadable(e.to_string()))?,
        ),
        ("partition-spec-id", metadata.default_spec_id.to_string()),
        ("content", "data".to_owned()),
    ] {
        writer.add_user_metadata(key.into(), value)?;
    }
    for file in files {
        writer.append_ser(ManifestEntryV2 {
            status: Status::Added,
            snapshot_id: Some(new.id),
            sequence_number: None,
            data_file: file.clone().into(),
        })?;
    }
    let bytes = writer.into_inner()?;
    let partitions = spec
        .fields()
        .iter()
        .map(|field| {
            let values = files
                .iter()
                .map(|file| file.partition().get(field.name()).and_then(Option::as_ref));
            FieldSummary {
                contains_null: values.clone().any(|v| v.is_none()),
                contains_nan: None,
                lower_bound: values.clone().flatten().min().cloned(),
                upper_bound: values.flatten().max().cloned(),
            }
        })
        .collect();
    let entry = new.list_entry(
        (location, bytes.len()),
        metadata.default_spec_id,
        new.sequence_number,
        (added, Totals::default()),
        Some(partitions),
    );
    Ok((entry, bytes))
}

/// The snapshot summary: what it added and removed, and the table's totals carried on from
/// the parent's where it records them.
fn summary(
    parent: &HashMap<String, String>,
    added: &Totals,
    removed: &Totals,
) -> HashMap<String, String> {
    let mut summary = HashMap::from([
        ("added-data-files".to_owned(), added.files.to_string()),
        ("added-records".to_owned(), added.records.to_string()),
        ("added-files-size".to_owned(), added.bytes.to_string()),
        ("deleted-data-files".to_owned(), removed.files.to_string()),
        ("deleted-records".to_owned(), removed.records.to_string()),
        ("removed-files-size".to_owned(), removed.bytes.to_string()),
    ]);
    for (key, delta) in [
        ("total-data-files", added.files - removed.files),
        ("total-records", added.records - removed.records),
        ("total-files-size", added.bytes - removed.bytes),
        // iceberg-rust's name for it, on the snapshots its appends make.
        ("total-file-size-bytes", added.bytes - removed.bytes),
        ("total-delete-files", 0),
    ] {
        if let Some(total) = parent.get(key).and_then(|v| v.parse::<i64>().ok()) {
            summary.insert(key.to_owned(), (total + delta).max(0).to_string());
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use lakehouse_core::runid::RunId;

    use super::*;
    use crate::{
        Change, Rows, TableWrite,
        commit::{
            RetryPolicy, rewrite,
            tests::{facts, temp_warehouse},
        },
        live::{LiveFile, live_files, removal_map},
        schemas::FACT_SALES,
    };

    /// Past its limit an overwrite writes nothing and leaves the commit to a replace; within
    /// it, the commit it prepares lands and its summary counts what it changed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_overwrite_past_its_manifest_limit_writes_nothing() {
        let (dir, warehouse) = temp_warehouse().await;
        let month: Vec<u32> = (1..=20).collect();
        TableWrite::new(
            &FACT_SALES,
            Change::ReplacePartitions {
                days: Vec::new(),
                rows: Rows::Frame(facts(&month)),
            },
        )
        .apply(
            &warehouse,
            &RunId::parse("20260101T000000Z-month").unwrap(),
            &RetryPolicy::default(),
        )
        .await
        .unwrap();
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        let live = live_files(&table, None).await.unwrap();
        let second: Vec<&LiveFile> = live.iter().filter(|f| f.day == Some(20_455)).collect();
        let plan = rewrite(&table, &FACT_SALES, facts(&[2]), &second)
            .await
            .unwrap();
        let manifests = table.manifests(None, None).await.unwrap();
        let metadata_files = || {
            std::fs::read_dir(
                dir.path()
                    .join("warehouse/lakehouse_db/fact_sales/metadata"),
            )
            .unwrap()
            .count()
        };
        let before = metadata_files();
        let refused = prepare(
            &table,
            &manifests,
            &plan.files,
            &removal_map(second.clone()),
            |_| 0,
        )
        .await
        .unwrap();
        assert!(refused.is_none());
        assert_eq!(
            metadata_files(),
            before,
            "nothing is written past the limit"
        );

        let commit = prepare(
            &table,
            &manifests,
            &plan.files,
            &removal_map(second),
            max_manifests,
        )
        .await
        .unwrap()
        .expect("within the limit");
        let TableUpdate::AddSnapshot { snapshot } = &commit.updates[0] else {
            panic!("{:?}", commit.updates);
        };
        let summary = &snapshot.summary().other;
        let field = |key: &str| summary.get(key).map(String::as_str);
        assert_eq!(
            [
                field("added-data-files"),
                field("deleted-data-files"),
                field("total-data-files")
            ],
            [Some("1"), Some("1"), Some("20")]
        );
        assert_eq!(
            snapshot.parent_snapshot_id(),
            &table.metadata().current_snapshot_id
        );
        assert!(
            metadata_files() > before,
            "its manifests and manifest list are written"
        );
    }

    /// Rewrites of one day at a time, each leaving a manifest behind (the one its new file
    /// goes into), until a replace merges them: the manifests never pass the limit, a merge
    /// happens, and every day keeps exactly its one row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rewrites_that_leave_manifests_behind_are_merged_at_the_limit() {
        let (_dir, warehouse) = temp_warehouse().await;
        let write = async |days: Vec<i32>, rows: &[u32], n: u32| {
            let run = RunId::parse(&format!("20260101T000000Z-day{n}")).unwrap();
            TableWrite::new(
                &FACT_SALES,
                Change::ReplacePartitions {
                    days,
                    rows: Rows::Frame(facts(rows)),
                },
            )
            .apply(&warehouse, &run, &RetryPolicy::default())
            .await
        };
        let all: Vec<u32> = (1..=200).collect();
        write(Vec::new(), &all, 0).await.unwrap();
        let mut counts = Vec::new();
        for round in 1..=160u32 {
            // Every day once, in an order that spreads them over the first manifests.
            let day = (round * 77) % 200 + 1;
            write(vec![20_453 + day as i32], &[day], round)
                .await
                .unwrap();
            let table = warehouse.require(FACT_SALES.name).await.unwrap();
            let manifests = table.manifests(None, None).await.unwrap().len();
            let files = live_files(&table, None).await.unwrap();
            assert_eq!(files.len(), 200, "round {round}");
            assert!(
                manifests <= max_manifests(files.len()),
                "round {round}: {manifests} manifests"
            );
            counts.push(manifests);
        }
        // An overwrite adds one manifest and drops at most the one it empties: only a
        // replace lowers the count.
        assert!(
            counts.windows(2).any(|w| w[1] < w[0]),
            "no merge in 160 rewrites: {counts:?}"
        );
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        let live = live_files(&table, None).await.unwrap();
        let rows = crate::bridge::read_live(&table, &FACT_SALES, &live.iter().collect::<Vec<_>>())
            .await
            .unwrap()
            .collect()
            .unwrap();
        let ids = rows.column("order_id").unwrap().n_unique().unwrap();
        assert_eq!((rows.height(), ids), (200, 200));
    }
}
