//! polars <-> Iceberg data.
//!
//! Out: polars arrays go to arrow-rs through the Arrow C Data Interface (zero-copy), then each
//! column is cast to the table's arrow type (`Utf8View` -> `Utf8`, time zone spelling), because
//! the Iceberg writer wants the table's exact schema.
//! In: data files are Parquet; polars reads them straight from the bytes.

use std::{io::Cursor, sync::Arc};

use arrow::{
    array::{ArrayRef, make_array},
    compute::cast,
    datatypes::Schema as ArrowSchema,
    ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi},
    record_batch::RecordBatch,
};
use futures::{StreamExt, TryStreamExt, stream};
use iceberg_rust::table::Table;
use object_store::{ObjectStoreExt, path::Path};
use polars::prelude::{
    CompatLevel, DataFrame, IntoLazy, ParquetReader, SerReader, SortMultipleOptions, UnionArgs,
    concat,
};

use crate::{Result, TablesError, schemas::TableDef};

/// The arrow schema of the table's current Iceberg schema.
pub fn arrow_schema(table: &Table) -> Result<Arc<ArrowSchema>> {
    let schema = table.current_schema(None)?;
    let arrow: ArrowSchema = schema.fields().try_into()?;
    Ok(Arc::new(arrow))
}

fn polars_array_to_arrow(
    array: Box<dyn polars_arrow::array::Array>,
    field: &polars_arrow::datatypes::Field,
) -> Result<ArrayRef> {
    let c_array = polars_arrow::ffi::export_array_to_c(array);
    let c_schema = polars_arrow::ffi::export_field_to_c(field);
    // SAFETY: polars-arrow and arrow-rs both implement the Arrow C Data Interface; their
    // ArrowArray/ArrowSchema are the same #[repr(C)] structs (transmute checks the sizes), and
    // ownership of the buffers moves with the release callbacks.
    let (ffi_array, ffi_schema) = unsafe {
        (
            std::mem::transmute::<polars_arrow::ffi::ArrowArray, FFI_ArrowArray>(c_array),
            std::mem::transmute::<polars_arrow::ffi::ArrowSchema, FFI_ArrowSchema>(c_schema),
        )
    };
    // SAFETY: the structs were just produced by a conforming exporter.
    let data = unsafe { from_ffi(ffi_array, &ffi_schema) }?;
    Ok(make_array(data))
}

/// Record batches with exactly the table's schema, from a frame holding (at least) its columns.
pub fn to_record_batches(df: &DataFrame, target: &Arc<ArrowSchema>) -> Result<Vec<RecordBatch>> {
    let names: Vec<&str> = target.fields().iter().map(|f| f.name().as_str()).collect();
    let mut df = df.select(names)?;
    df.align_chunks_par();
    let mut batches = Vec::new();
    for chunk in df.iter_chunks(CompatLevel::newest(), false) {
        let fields: Vec<_> = chunk.schema().iter_values().cloned().collect();
        let columns = chunk
            .into_arrays()
            .into_iter()
            .zip(fields.iter())
            .zip(target.fields().iter())
            .map(|((array, field), want)| {
                let array = polars_array_to_arrow(array, field)?;
                Ok(cast(&array, want.data_type())?)
            })
            .collect::<Result<Vec<_>>>()?;
        batches.push(RecordBatch::try_new(target.clone(), columns)?);
    }
    Ok(batches)
}

/// Reads Parquet data files into one frame (with the table's columns, even if there are none).
pub async fn read_files(table: &Table, def: &TableDef, paths: &[String]) -> Result<DataFrame> {
    let store = table.object_store();
    let frames: Vec<DataFrame> = stream::iter(paths.iter().cloned())
        .map(|path| {
            let store = store.clone();
            async move {
                let key = Path::from(iceberg_rust::spec::util::strip_prefix(&path));
                let bytes = store.get(&key).await?.bytes().await?;
                let df = ParquetReader::new(Cursor::new(bytes)).finish()?;
                Ok::<_, TablesError>(df)
            }
        })
        .buffered(8)
        .try_collect()
        .await?;
    if frames.is_empty() {
        return Ok(DataFrame::empty_with_schema(&def.polars_schema()));
    }
    let lazy: Vec<_> = frames.into_iter().map(|df| df.lazy()).collect();
    Ok(concat(lazy, UnionArgs::default())?.collect()?)
}

/// Sorts by the table's partition column so the writer makes one file per partition.
pub fn sort_for_write(df: DataFrame, def: &TableDef) -> Result<DataFrame> {
    match def.day_partition {
        Some(column) => Ok(df.sort([column], SortMultipleOptions::default())?),
        None => Ok(df),
    }
}

/// The table's columns, in order, cast to its types: frames from different sources (a fresh
/// batch, files read back) line up before they are concatenated.
pub fn conform(frame: polars::prelude::LazyFrame, def: &TableDef) -> polars::prelude::LazyFrame {
    use polars::prelude::col;
    frame.select(
        def.columns
            .iter()
            .map(|(name, ty, _)| col(*name).cast(ty.polars()))
            .collect::<Vec<_>>(),
    )
}

/// The given live files of a table, read back as one frame in the table's schema.
pub async fn read_live(
    table: &Table,
    def: &TableDef,
    files: &[&crate::commit::LiveFile],
) -> Result<polars::prelude::LazyFrame> {
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    Ok(conform(read_files(table, def, &paths).await?.lazy(), def))
}
