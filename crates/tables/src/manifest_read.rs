//! The live data files of one manifest file, decoded here rather than by iceberg-rust's
//! manifest reader, for two reasons:
//! - that reader converts each column bound with an eager `ok_or(format!("{schema:?}"))`, so it
//!   formats the whole table schema for every bound of every entry: a decode costs files ×
//!   columns², and on a table of a thousand files it was most of a round's manifest reading;
//! - `Table::datafiles` skips an entry it cannot decode without a word; here that is an error.
//!
//! The conversion is the one iceberg-rust makes for a format-version 2 manifest (the schema and
//! partition spec the manifest was written with, from its own metadata; partition values cast to
//! their transform's type; bounds typed by their column), so the files are equal to what it
//! returns: the tests compare the two on manifests of every shape the pipeline writes.

use std::collections::HashMap;

use apache_avro::Reader;
use iceberg_rust::spec::{
    manifest::{AvroMap, DataFile, ManifestEntryV2, Status},
    partition::PartitionField,
    schema::{Schema, SchemaV2},
    types::{StructType, Type},
    values::{Struct, Value},
};

use crate::{Result, TablesError};

/// The data files `bytes` (a manifest file at `path`) lists as live, or `None` for a manifest
/// of another format version than 2, which the caller decodes with iceberg-rust.
pub(crate) fn live_data_files(path: &str, bytes: &[u8]) -> Result<Option<Vec<DataFile>>> {
    let Some(reader) = open_v2(path, bytes)? else {
        return Ok(None);
    };
    let metadata = reader.user_metadata();
    let field = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| unreadable(path, format!("no {key:?} in its metadata")))
    };
    let schema: SchemaV2 =
        serde_json::from_slice(field("schema")?).map_err(|e| unreadable(path, e))?;
    let schema = Schema::try_from(schema)?;
    let spec: Vec<PartitionField> =
        serde_json::from_slice(field("partition-spec")?).map_err(|e| unreadable(path, e))?;
    let partition_types = partition_types(schema.fields(), &spec)?;
    let mut files = Vec::new();
    for value in reader {
        let entry = decode_entry(path, value)?;
        if entry.status == Status::Deleted {
            continue;
        }
        let file = entry.data_file;
        let bounds = |map: Option<AvroMap<_>>| {
            map.map(|m| typed_bounds(m, schema.fields()))
                .transpose()
                .map_err(|e| unreadable(path, e))
        };
        files.push(
            DataFile::builder()
                .with_content(file.content)
                .with_file_path(file.file_path)
                .with_file_format(file.file_format)
                .with_partition(cast_partition(file.partition, &partition_types)?)
                .with_record_count(file.record_count)
                .with_file_size_in_bytes(file.file_size_in_bytes)
                .with_column_sizes(file.column_sizes)
                .with_value_counts(file.value_counts)
                .with_null_value_counts(file.null_value_counts)
                .with_nan_value_counts(file.nan_value_counts)
                .with_lower_bounds(bounds(file.lower_bounds)?)
                .with_upper_bounds(bounds(file.upper_bounds)?)
                .with_key_metadata(file.key_metadata)
                .with_split_offsets(file.split_offsets)
                .with_equality_ids(file.equality_ids)
                .with_sort_order_id(file.sort_order_id)
                .build()?,
        );
    }
    Ok(Some(files))
}

/// A reader of the manifest `bytes` (at `path`), or `None` for a manifest of another format
/// version than 2.
pub(crate) fn open_v2<'a>(path: &str, bytes: &'a [u8]) -> Result<Option<Reader<'a, &'a [u8]>>> {
    let reader = Reader::new(bytes).map_err(|e| unreadable(path, e))?;
    let version = reader.user_metadata().get("format-version");
    Ok((version.map(Vec::as_slice) == Some(b"2")).then_some(reader))
}

/// One entry of a format-version 2 manifest at `path`, as its reader yields it.
pub(crate) fn decode_entry(
    path: &str,
    value: std::result::Result<apache_avro::types::Value, apache_avro::Error>,
) -> Result<ManifestEntryV2> {
    value
        .and_then(|value| apache_avro::from_value(&value))
        .map_err(|e| unreadable(path, e))
}

/// The error of a manifest at `path` that cannot be read as it should be; `what` says why.
pub(crate) fn unreadable(path: &str, what: impl std::fmt::Display) -> TablesError {
    TablesError::Unreadable(format!("manifest {path}: {what}"))
}

/// The type of each partition field's values: its source column's type after the transform.
fn partition_types(columns: &StructType, spec: &[PartitionField]) -> Result<HashMap<String, Type>> {
    spec.iter()
        .map(|field| {
            let source = columns.get(*field.source_id() as usize).ok_or_else(|| {
                TablesError::Unreadable(format!(
                    "partition field {} names column id {}, which the schema does not have",
                    field.name(),
                    field.source_id()
                ))
            })?;
            Ok((
                field.name().to_owned(),
                source.field_type.tranform(field.transform())?,
            ))
        })
        .collect()
}

/// The partition tuple with each value cast to its field's type (Avro stores a day as an int;
/// the table's type for it is a date).
fn cast_partition(partition: Struct, types: &HashMap<String, Type>) -> Result<Struct> {
    let mut names: Vec<(usize, String)> = partition
        .lookup
        .into_iter()
        .map(|(name, index)| (index, name))
        .collect();
    names.sort_unstable();
    names
        .into_iter()
        .zip(partition.fields)
        .map(|((_, name), value)| {
            let ty = types.get(&name).ok_or_else(|| {
                TablesError::Unreadable(format!("partition value {name} has no partition field"))
            })?;
            Ok((name, value.map(|v| v.cast(ty)).transpose()?))
        })
        .collect()
}

/// A bounds map (column id to the bound's binary form) with each bound typed by its column.
fn typed_bounds<B: AsRef<[u8]> + serde::Serialize + Clone>(
    bounds: AvroMap<B>,
    columns: &StructType,
) -> std::result::Result<HashMap<i32, Value>, String> {
    bounds
        .0
        .into_iter()
        .map(|(id, bytes)| {
            let column = columns.get(id as usize).ok_or_else(|| {
                format!("a bound of column id {id}, which the schema does not have")
            })?;
            let value = Value::try_from_bytes(bytes.as_ref(), &column.field_type)
                .map_err(|e| format!("the bound of column {}: {e}", column.name))?;
            Ok((id, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lakehouse_core::runid::RunId;
    use polars::prelude::*;

    use super::*;
    use crate::{
        Change, Rows, TableWrite,
        commit::{
            RetryPolicy,
            tests::{facts, temp_warehouse},
        },
        schemas::{DIM_PRODUCTS, FACT_SALES},
    };

    /// Products named after the facts of the days given, in `category`.
    fn products(days: &[u32], category: &str) -> DataFrame {
        facts(days)
            .lazy()
            .select([
                col("order_id").alias("product_id"),
                col("order_id").alias("product_name"),
                lit(category).alias("product_category"),
                col("unit_price"),
            ])
            .collect()
            .unwrap()
    }

    /// Every manifest of every snapshot of a day-partitioned table and an entity table, written
    /// by each commit shape the pipeline uses (append, overwrite with deleted entries, a replace
    /// split into several manifests, entity appends and rewrites): decoded here and by
    /// iceberg-rust, the live files are equal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_live_files_are_those_iceberg_rust_decodes_from_every_manifest_shape() {
        let (_dir, warehouse) = temp_warehouse().await;
        let january = |days: &[u32]| days.iter().map(|d| 20_453 + *d as i32).collect::<Vec<_>>();
        let month: Vec<u32> = (1..=31).collect();
        let writes = [
            (Vec::new(), month.clone()),
            (january(&[1, 31]), vec![1, 31]),
            (january(&[2, 3, 4]), vec![2, 3]),
            (january(&month[5..25]), month[5..25].to_vec()),
        ];
        for (n, (days, rows)) in writes.into_iter().enumerate() {
            let write = TableWrite::new(
                &FACT_SALES,
                Change::ReplacePartitions {
                    days,
                    rows: Rows::Frame(facts(&rows)),
                },
            );
            let run = RunId::parse(&format!("20260101T000000Z-fact{n}")).unwrap();
            write
                .apply(&warehouse, &run, &RetryPolicy::default())
                .await
                .unwrap();
        }
        // New keys appended twice, then changed keys rewriting the table.
        let catalogues = [
            products(&[1, 2], "home"),
            products(&[3], "home"),
            products(&[1, 4], "garden"),
        ];
        for (n, rows) in catalogues.into_iter().enumerate() {
            let write = TableWrite::new(
                &DIM_PRODUCTS,
                Change::Upsert {
                    rows: Rows::Frame(rows),
                    reduce: None,
                },
            );
            let run = RunId::parse(&format!("20260101T000000Z-dim{n}")).unwrap();
            write
                .apply(&warehouse, &run, &RetryPolicy::default())
                .await
                .unwrap();
        }

        let (mut manifests, mut with_deleted, mut most_in_a_snapshot) = (0, 0, 0);
        for def in [&FACT_SALES, &DIM_PRODUCTS] {
            let table = warehouse.require(def.name).await.unwrap();
            for id in table.metadata().snapshots.keys() {
                let listed = table.manifests(None, Some(*id)).await.unwrap();
                most_in_a_snapshot = most_in_a_snapshot.max(listed.len());
                for manifest in &listed {
                    let path = &manifest.manifest_path;
                    let bytes = crate::manifest_cache::manifest_bytes(&table, path)
                        .await
                        .unwrap();
                    let bytes = bytes.as_ref();
                    let ours = live_data_files(path, bytes).unwrap().unwrap();
                    let theirs = crate::manifest_cache::upstream_decode(&table, manifest)
                        .await
                        .unwrap();
                    assert_eq!(ours, theirs, "{path}");
                    manifests += 1;
                    // iceberg-rust writes no deleted entries in these shapes; another writer
                    // may, so the same manifest with its first entry marked deleted is read too.
                    if theirs.len() >= 2 {
                        let marked = live_data_files(path, &first_marked_deleted(bytes)).unwrap();
                        assert_eq!(marked.unwrap(), theirs[1..], "{path}");
                        with_deleted += 1;
                    }
                }
            }
        }
        assert!(
            manifests >= 10 && with_deleted >= 1 && most_in_a_snapshot >= 2,
            "the shapes were not all there: {manifests} manifests, {with_deleted} with deleted \
             entries, at most {most_in_a_snapshot} in a snapshot"
        );
    }

    /// The manifest with its first entry's status set to deleted (2), all else as it was.
    fn first_marked_deleted(bytes: &[u8]) -> Vec<u8> {
        use apache_avro::types::Value as Avro;
        let reader = Reader::new(bytes).unwrap();
        let schema = reader.writer_schema().clone();
        let metadata = reader.user_metadata().clone();
        let mut writer = apache_avro::Writer::new(&schema, Vec::new());
        for (key, value) in metadata {
            writer.add_user_metadata(key, value).unwrap();
        }
        for (n, record) in reader.enumerate() {
            let mut record = record.unwrap();
            if let (0, Avro::Record(fields)) = (n, &mut record) {
                fields[0] = ("status".into(), Avro::Int(2));
            }
            writer.append(record).unwrap();
        }
        writer.into_inner().unwrap()
    }
}
