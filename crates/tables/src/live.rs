//! What a table holds now: the live data files of its current snapshot, and the snapshots its
//! runs made. The bottom of the crate: it reads Iceberg metadata and nothing of ours but the
//! schemas.

use std::{collections::HashMap, sync::Arc};

use chrono::NaiveDate;
use iceberg_rust::{
    spec::{
        manifest::DataFile, manifest_list::ManifestListEntry, schema::Schema, snapshot::Snapshot,
        table_metadata::TableMetadata, values::Value,
    },
    table::Table,
};
use lakehouse_core::{dates, runid::RunId};

use crate::{Result, schemas::DAY_PARTITION_FIELD};

/// The table's current schema: the one its metadata names current. iceberg-rust's own
/// `current_schema` returns the schema of the current *snapshot*, which after a schema
/// evolution (no snapshot of its own) is the old one, and an append would then record the old
/// one again, for ever.
pub fn table_schema(metadata: &TableMetadata) -> Result<&Schema> {
    metadata
        .schemas
        .get(&metadata.current_schema_id)
        .ok_or_else(|| crate::TablesError::MissingColumn {
            table: metadata.location.clone(),
            column: format!("(schema {})", metadata.current_schema_id),
        })
}

/// The snapshot summary key that carries the run id.
pub const RUN_ID_KEY: &str = "lakehouse.run-id";
/// The snapshot summary key that lists the day partitions a run's commit wrote
/// (`2026-01-01,2026-01-02`), for a re-run that finds its commit already made.
pub const PARTITIONS_KEY: &str = "lakehouse.partitions";

/// A live data file of a table's current snapshot.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub manifest: String,
    pub path: String,
    /// Days since 1970-01-01 of the file's partition, for day-partitioned tables.
    pub day: Option<i32>,
    pub records: i64,
    pub bytes: i64,
    /// The least and greatest value of the table's key column in the file, from the manifest's
    /// column statistics (`None` where there are none).
    pub key_range: Option<(String, String)>,
}

impl LiveFile {
    /// Whether the file may hold any of `keys` (sorted): false only where its key statistics
    /// rule it out.
    pub fn may_hold_any(&self, keys: &[&str]) -> bool {
        let Some((least, greatest)) = &self.key_range else {
            return true;
        };
        let from = keys.partition_point(|k| *k < least.as_str());
        keys.get(from).is_some_and(|k| *k <= greatest.as_str())
    }
}

/// The live data files of the table's current snapshot; `key` names the column whose bounds
/// each file's [`LiveFile::key_range`] carries.
pub async fn live_files(table: &Table, key: Option<&str>) -> Result<Vec<LiveFile>> {
    let key_id = match key {
        Some(name) => table_schema(table.metadata())?
            .fields()
            .get_name(name)
            .map(|f| f.id),
        None => None,
    };
    let manifests = table.manifests(None, None).await?;
    let decoded = live_data_files(table, &manifests).await?;
    Ok(manifests
        .iter()
        .zip(&decoded)
        .flat_map(|(manifest, files)| files.iter().map(move |file| (manifest, file)))
        .map(|(manifest, file)| {
            let day = file
                .partition()
                .get(DAY_PARTITION_FIELD)
                .and_then(|v| v.as_ref())
                .and_then(|v| match v {
                    Value::Int(d) | Value::Date(d) => Some(*d),
                    _ => None,
                });
            let bound = |bounds: &Option<HashMap<i32, Value>>| match bounds
                .as_ref()
                .and_then(|b| b.get(&key_id?))
            {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            let key_range = bound(file.lower_bounds()).zip(bound(file.upper_bounds()));
            LiveFile {
                manifest: manifest.manifest_path.clone(),
                path: file.file_path().to_string(),
                day,
                records: *file.record_count(),
                bytes: *file.file_size_in_bytes(),
                key_range,
            }
        })
        .collect())
}

/// The data files each of `manifests` lists as live (not deleted), in the order of
/// `manifests`. Shared with the manifest cache, not copied: a round asks for the big tables'
/// files several times, and a data file's column statistics are a dozen maps.
pub(crate) async fn live_data_files(
    table: &Table,
    manifests: &[ManifestListEntry],
) -> Result<Vec<Arc<[DataFile]>>> {
    futures::future::try_join_all(
        manifests
            .iter()
            .map(|manifest| crate::manifest_cache::live_entries(table, manifest)),
    )
    .await
}

/// The `files_to_overwrite` map of an overwrite that replaces `files`.
pub(crate) fn removal_map<'a>(
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

/// A snapshot a run made, as its summary records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSnapshot {
    pub snapshot_id: i64,
    pub partitions: Vec<NaiveDate>,
}

/// The snapshot of `run_id` in the table's history, if this run already committed.
pub fn snapshot_of_run(table: &Table, run_id: &RunId) -> Option<RunSnapshot> {
    table
        .metadata()
        .snapshots
        .values()
        .filter_map(run_snapshot)
        .find_map(|(id, snapshot)| (id == run_id.as_str()).then_some(snapshot))
}

/// The run a snapshot's summary names, with what it records of the commit; `None` for a
/// snapshot no run of the pipeline made.
pub(crate) fn run_snapshot(snapshot: &Snapshot) -> Option<(&str, RunSnapshot)> {
    let summary = &snapshot.summary().other;
    let run_id = summary.get(RUN_ID_KEY)?;
    Some((
        run_id.as_str(),
        RunSnapshot {
            snapshot_id: *snapshot.snapshot_id(),
            partitions: summary
                .get(PARTITIONS_KEY)
                .map(|days| parse_days(days))
                .unwrap_or_default(),
        },
    ))
}

/// A field of the summary of the table's current snapshot (`None` without a snapshot or field).
pub fn snapshot_stamp(table: &Table, key: &str) -> Result<Option<String>> {
    Ok(table
        .metadata()
        .current_snapshot(None)?
        .and_then(|s| s.summary().other.get(key).cloned()))
}

/// The summary value of [`PARTITIONS_KEY`].
pub(crate) fn format_days(days: &[i32]) -> String {
    days.iter()
        .map(|d| dates::from_days(*d).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_days(days: &str) -> Vec<NaiveDate> {
    days.split(',')
        .filter_map(|d| d.parse::<NaiveDate>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(range: Option<(&str, &str)>) -> LiveFile {
        LiveFile {
            manifest: "m".into(),
            path: "p".into(),
            day: None,
            records: 1,
            bytes: 1,
            key_range: range.map(|(a, b)| (a.into(), b.into())),
        }
    }

    #[test]
    fn key_ranges_rule_out_only_files_whose_bounds_miss_every_key() {
        let keys = ["ORD-03", "ORD-07", "ORD-12"];
        assert!(file(Some(("ORD-01", "ORD-03"))).may_hold_any(&keys));
        assert!(file(Some(("ORD-04", "ORD-09"))).may_hold_any(&keys));
        assert!(file(Some(("ORD-12", "ORD-99"))).may_hold_any(&keys));
        assert!(!file(Some(("ORD-04", "ORD-06"))).may_hold_any(&keys));
        assert!(!file(Some(("ORD-13", "ORD-20"))).may_hold_any(&keys));
        assert!(!file(Some(("ORD-00", "ORD-02"))).may_hold_any(&keys));
        assert!(
            file(None).may_hold_any(&keys),
            "no statistics: may hold any"
        );
        assert!(!file(Some(("a", "z"))).may_hold_any(&[]));
    }

    #[test]
    fn partition_lists_round_trip() {
        let days = [20_454, 20_455];
        assert_eq!(format_days(&days), "2026-01-01,2026-01-02");
        let parsed = parse_days(&format_days(&days));
        let back: Vec<i32> = parsed.into_iter().map(dates::to_days).collect();
        assert_eq!(back, days);
    }
}
