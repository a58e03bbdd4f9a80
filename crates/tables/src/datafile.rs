//! Writing a frame as Parquet data files of a table (not yet committed).
//!
//! iceberg-rust's `write_parquet_partitioned` fixes its writer properties, with dictionary
//! encoding on every column. For a column whose values are nearly all distinct (order ids,
//! e-mails, timestamps) the dictionary is pure cost: interning every value took about a third of
//! the `orders_transformed` write, and the writer then falls back to plain pages anyway. Here
//! each partition slice becomes one file, encoded on the blocking pool with the dictionary only
//! for columns whose values repeat. The manifest entry (partition value, sizes, bounds) comes
//! from the file's footer through iceberg-rust's own `parquet_to_datafile`, as its writer does.
//!
//! A slice whose file would pass the table's target size (`write.target-file-size-bytes`, the
//! Iceberg property, 512 MiB unless set) is cut into equal row ranges, one file each
//! ([`encode_in_pieces`]).

use std::sync::Arc;

use arrow::datatypes::Schema as ArrowSchema;
use futures::{StreamExt, TryStreamExt, stream};
use iceberg_rust::{
    arrow::write::{generate_file_path, generate_partition_path},
    file_format::parquet::parquet_to_datafile,
    object_store::Bucket,
    spec::{manifest::DataFile, table_metadata::WRITE_DATA_PATH, values::Value},
    table::Table,
};
use object_store::{ObjectStoreExt, PutPayload, path::Path};
use parquet::{
    arrow::{ArrowWriter, arrow_writer::ArrowWriterOptions},
    basic::{Compression, ZstdLevel},
    file::{
        metadata::ParquetMetaData,
        properties::{EnabledStatistics, WriterProperties},
    },
    schema::types::ColumnPath,
};
use polars::prelude::{DataFrame, DataType};

use crate::{
    Result, TablesError,
    bridge::{arrow_schema, partition_slices, to_record_batches},
    schemas::TableDef,
};

/// Rows sampled from a file to decide whether a column's values repeat ([`distinct_columns`]).
const SAMPLE_ROWS: usize = 1024;

/// The Iceberg table property for the size data files are written at, and its default.
pub const TARGET_FILE_SIZE: &str = "write.target-file-size-bytes";
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 512 * 1024 * 1024;

/// The size the table's data files are written at ([`TARGET_FILE_SIZE`]).
pub fn target_file_size(table: &Table) -> u64 {
    table
        .metadata()
        .properties
        .get(TARGET_FILE_SIZE)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&bytes| bytes > 0)
        .unwrap_or(DEFAULT_TARGET_FILE_SIZE)
}

/// Writes a frame as Parquet data files of the table: one per partition value, or several
/// where one would pass the target size.
pub async fn write_frame(table: &Table, def: &TableDef, df: DataFrame) -> Result<Vec<DataFile>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let metadata = table.metadata();
    let schema = crate::live::table_schema(metadata)?;
    let partition_fields = metadata.current_partition_fields(None)?;
    let data_location = metadata
        .properties
        .get(WRITE_DATA_PATH)
        .cloned()
        .unwrap_or_else(|| format!("{}/data/", metadata.location));
    let bucket = Bucket::from_path(&data_location)?;
    // A local disk gets its files synced before any metadata names them (`local_commit`); an
    // object store's put is durable when it returns.
    let local = matches!(bucket, Bucket::Local);
    let bucket = bucket.to_string();
    let target = arrow_schema(table)?;
    let store = table.object_store();
    let partition_column = def.day_partition;
    let unbounded = def.unbounded();
    let target_bytes = target_file_size(table);
    // Encoding is CPU-bound: as many files at once as there are cores.
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    stream::iter(partition_slices(df, def)?)
        .map(|slice| {
            let target = target.clone();
            let store = store.clone();
            let unbounded = unbounded.clone();
            let partition_path = match partition_column.and_then(|c| day_of(&slice, c)) {
                Some(day) => Some(generate_partition_path(
                    &partition_fields,
                    &[Value::Int(day)],
                )?),
                None => None,
            };
            let data_location = data_location.clone();
            Ok::<_, TablesError>(async move {
                let files = tokio::task::spawn_blocking(move || {
                    let pieces = encode_in_pieces(&slice, &target, &unbounded, target_bytes)?;
                    let mut files = Vec::with_capacity(pieces.len());
                    for (bytes, footer) in pieces {
                        let path = generate_file_path(&data_location, partition_path.clone());
                        if local {
                            lakehouse_core::durable::write(
                                std::path::Path::new(&path),
                                &[&bytes],
                                false,
                            )
                            .map_err(|e| {
                                TablesError::Store(object_store::Error::Generic {
                                    store: "data file",
                                    source: Box::new(e),
                                })
                            })?;
                        }
                        files.push((path, bytes, footer));
                    }
                    Ok::<_, TablesError>(files)
                })
                .await??;
                let mut written = Vec::with_capacity(files.len());
                for (path, bytes, footer) in files {
                    let size = bytes.len() as u64;
                    if !local {
                        store
                            .put(&Path::from(path.as_str()), PutPayload::from(bytes))
                            .await?;
                    }
                    written.push((path, size, footer));
                }
                Ok::<_, TablesError>(written)
            })
        })
        .try_buffered(parallel)
        .map_ok(|written| stream::iter(written.into_iter().map(Ok::<_, TablesError>)))
        .try_flatten()
        .map(|written| {
            let (path, size, footer) = written?;
            Ok(parquet_to_datafile(
                &format!("{bucket}{path}"),
                size,
                &footer,
                schema,
                &partition_fields,
                None,
            )?)
        })
        .try_collect()
        .await
}

/// The day (days since the epoch) of a slice that holds a single partition value.
fn day_of(slice: &DataFrame, column: &str) -> Option<i32> {
    let days = slice.column(column).ok()?.to_physical_repr();
    days.i32().ok()?.get(0)
}

/// `slice` as Parquet files of about `target_bytes`: encoded once, and if that file is larger,
/// again as the nearest whole number of equal row ranges, so each file is between two thirds
/// and one and a half of the target (a compaction takes files under half of it for small).
fn encode_in_pieces(
    slice: &DataFrame,
    target: &Arc<ArrowSchema>,
    unbounded: &[&str],
    target_bytes: u64,
) -> Result<Vec<(Vec<u8>, ParquetMetaData)>> {
    let whole = encode(slice, target, unbounded)?;
    let size = whole.0.len() as u64;
    let nearest = (size + target_bytes / 2) / target_bytes.max(1);
    let pieces = nearest.min(slice.height() as u64);
    if pieces <= 1 {
        return Ok(vec![whole]);
    }
    let rows = slice.height().div_ceil(pieces as usize);
    (0..slice.height())
        .step_by(rows)
        .map(|start| encode(&slice.slice(start as i64, rows), target, unbounded))
        .collect()
}

/// One Parquet file holding `slice`, with its footer; the `unbounded` columns without
/// statistics ([`TableDef::unbounded`]).
fn encode(
    slice: &DataFrame,
    target: &Arc<ArrowSchema>,
    unbounded: &[&str],
) -> Result<(Vec<u8>, ParquetMetaData)> {
    let batches = to_record_batches(slice, target)?;
    let Some(first) = batches.first() else {
        return Err(TablesError::Polars(polars::error::PolarsError::NoData(
            "an empty slice has no data file".into(),
        )));
    };
    let mut props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?));
    for name in distinct_columns(slice)? {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    for name in unbounded {
        let column = ColumnPath::from(*name);
        props = props.set_column_statistics_enabled(column, EnabledStatistics::None);
    }
    // Readers take the types from the Iceberg schema; the embedded arrow schema would name the
    // in-memory string views, not the table's types.
    let options = ArrowWriterOptions::new()
        .with_properties(props.build())
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), first.schema(), options)?;
    for batch in &batches {
        writer.write(batch)?;
    }
    let footer = writer.finish()?;
    // `finish` flushed everything into the buffer; `into_inner` would flush again and fail.
    Ok((std::mem::take(writer.inner_mut()), footer))
}

/// Columns with fewer than two rows per distinct value, judged from rows sampled evenly over
/// the file: a dictionary would not shrink them.
///
/// A column of `n` rows in which each value appears twice shows about `s² / 2n` repeats (rows
/// whose value came earlier in the sample) among `s` of its rows, and fewer the more distinct
/// its values are. Comparing the sample's distinct values with half the sample instead took a
/// column of a thousand products in a file of 30,000 orders for a distinct one: its values are
/// mostly distinct within a thousand rows. The sample is spread over the file because its
/// first rows are not like the rest: orders come in time order, so the first thousand
/// `updated_at` values of a day fall in its first hour and repeat more than the day's do.
fn distinct_columns(slice: &DataFrame) -> Result<Vec<String>> {
    let every = slice.height().div_ceil(SAMPLE_ROWS).max(1);
    let mut names = Vec::new();
    for column in slice.columns() {
        if matches!(column.dtype(), DataType::Boolean) {
            continue;
        }
        let sample = column.gather_every(every, 0)?;
        let sampled = sample.len() as f64;
        let repeats = (sample.len() - sample.n_unique()?) as f64;
        if repeats < sampled * sampled / (2.0 * slice.height() as f64) {
            names.push(column.name().to_string());
        }
    }
    Ok(names)
}
