//! polars <-> Iceberg data.
//!
//! Out: polars arrays go to arrow-rs through the Arrow C Data Interface (zero-copy) and take the
//! table's field names and ids; a column is cast only where its Parquet form would differ.
//! In: data files are Parquet; polars reads them straight from the bytes.

use std::{io::Cursor, sync::Arc};

use arrow::{
    array::{ArrayRef, make_array},
    compute::cast,
    datatypes::{DataType, Field, Schema as ArrowSchema},
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
    let schema = crate::live::table_schema(table.metadata())?;
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

/// Record batches with the table's columns, names, nullability and field ids, ready for the
/// Parquet writer. A column keeps its exported arrow type when it is stored the same way in
/// Parquet (`Utf8View` for `Utf8`, a time zone spelt differently): casting those would copy
/// every string for nothing. Any other difference is cast to the table's type.
pub fn to_record_batches(df: &DataFrame, target: &Arc<ArrowSchema>) -> Result<Vec<RecordBatch>> {
    let names: Vec<&str> = target.fields().iter().map(|f| f.name().as_str()).collect();
    let mut df = df.select(names)?;
    df.align_chunks_par();
    let mut batches = Vec::new();
    for chunk in df.iter_chunks(CompatLevel::newest(), false) {
        let fields: Vec<_> = chunk.schema().iter_values().cloned().collect();
        let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = chunk
            .into_arrays()
            .into_iter()
            .zip(fields.iter())
            .zip(target.fields().iter())
            .map(|((array, field), want)| {
                let array = polars_array_to_arrow(array, field)?;
                let array = if stored_alike(array.data_type(), want.data_type()) {
                    array
                } else {
                    cast(&array, want.data_type())?
                };
                let field = want
                    .as_ref()
                    .clone()
                    .with_data_type(array.data_type().clone());
                Ok((field, array))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let schema = Arc::new(ArrowSchema::new_with_metadata(
            fields,
            target.metadata().clone(),
        ));
        batches.push(RecordBatch::try_new(schema, columns)?);
    }
    Ok(batches)
}

/// Whether an array of type `have` is written to Parquet exactly as one of type `want`.
fn stored_alike(have: &DataType, want: &DataType) -> bool {
    match (have, want) {
        (DataType::Utf8View, DataType::Utf8) => true,
        (DataType::Timestamp(unit, Some(_)), DataType::Timestamp(want_unit, Some(_))) => {
            unit == want_unit
        }
        _ => have == want,
    }
}

/// Reads Parquet data files, a frame each, in the order given.
pub async fn read_each(table: &Table, paths: &[String]) -> Result<Vec<DataFrame>> {
    read_projected(table, paths, None).await
}

/// One column of Parquet data files, read alone, as one frame.
pub async fn read_column(table: &Table, paths: &[String], column: &str) -> Result<DataFrame> {
    let frames = read_projected(table, paths, Some(column)).await?;
    let lazy: Vec<_> = frames.into_iter().map(DataFrame::lazy).collect();
    if lazy.is_empty() {
        return Ok(DataFrame::empty());
    }
    Ok(concat(lazy, UnionArgs::default())?.collect()?)
}

async fn read_projected(
    table: &Table,
    paths: &[String],
    column: Option<&str>,
) -> Result<Vec<DataFrame>> {
    let store = table.object_store();
    let columns = column.map(|c| vec![c.to_string()]);
    stream::iter(paths.iter().cloned())
        .map(|path| {
            let store = store.clone();
            let columns = columns.clone();
            async move {
                let key = Path::from(iceberg_rust::spec::util::strip_prefix(&path));
                let bytes = store.get(&key).await?.bytes().await?;
                let df = ParquetReader::new(Cursor::new(bytes))
                    .with_columns(columns)
                    .finish()?;
                Ok::<_, TablesError>(df)
            }
        })
        .buffered(8)
        .try_collect()
        .await
}

/// Reads Parquet data files into one frame in the table's schema ([`conform_read`]), even if
/// there are none.
pub async fn read_files(table: &Table, def: &TableDef, paths: &[String]) -> Result<DataFrame> {
    let frames = read_each(table, paths).await?;
    if frames.is_empty() {
        return Ok(DataFrame::empty_with_schema(&def.polars_schema()));
    }
    let lazy: Vec<_> = frames.into_iter().map(|df| conform_read(df, def)).collect();
    Ok(concat(lazy, UnionArgs::default())?.collect()?)
}

/// The frame sorted by the table's partition column and cut into one zero-copy slice per
/// partition value (the whole frame for an unpartitioned table). The Iceberg writer splits any
/// batch it gets by partition with one filtered copy per value; a batch that holds a single
/// value passes through as a slice instead.
pub fn partition_slices(df: DataFrame, def: &TableDef) -> Result<Vec<DataFrame>> {
    let Some(column) = def.day_partition else {
        return Ok(vec![df]);
    };
    let in_order = df
        .column(column)?
        .to_physical_repr()
        .i32()?
        .iter()
        .is_sorted();
    // Sorting copies every column: a frame that arrives in partition order is cut as it is.
    let df = if in_order {
        df
    } else {
        df.sort([column], SortMultipleOptions::default())?
    };
    let days = df.column(column)?.to_physical_repr();
    let days = days.i32()?;
    let mut slices = Vec::new();
    let mut start = 0;
    let mut current = days.get(0);
    for (row, day) in days.iter().enumerate() {
        if day != current {
            slices.push(df.slice(start as i64, row - start));
            start = row;
            current = day;
        }
    }
    slices.push(df.slice(start as i64, df.height() - start));
    Ok(slices)
}

/// The table's columns, by name, in its order, cast to its types; other columns are dropped.
/// Every frame that reaches a table goes through this first ([`crate::write`]), so frames from
/// different sources (a fresh batch, a stage's reduction, files read back) line up before they
/// are concatenated, whatever order their columns came in.
pub fn conform(frame: polars::prelude::LazyFrame, def: &TableDef) -> polars::prelude::LazyFrame {
    use polars::prelude::col;
    frame.select(
        def.columns
            .iter()
            .map(|(name, ty, _)| col(*name).cast(ty.polars()))
            .collect::<Vec<_>>(),
    )
}

/// A data file's rows in the table's schema: as [`conform`], with the optional columns that
/// schema evolution added after the file was written read as null.
pub fn conform_read(frame: DataFrame, def: &TableDef) -> polars::prelude::LazyFrame {
    use polars::prelude::{NULL, col, lit};
    let columns: Vec<_> = def
        .columns
        .iter()
        .map(|(name, ty, required)| {
            if *required || frame.column(name).is_ok() {
                col(*name).cast(ty.polars())
            } else {
                lit(NULL).cast(ty.polars()).alias(*name)
            }
        })
        .collect();
    frame.lazy().select(columns)
}

/// The given live files of a table, read back as one frame in the table's schema.
pub async fn read_live(
    table: &Table,
    def: &TableDef,
    files: &[&crate::live::LiveFile],
) -> Result<polars::prelude::LazyFrame> {
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    Ok(read_files(table, def, &paths).await?.lazy())
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::partition_slices;
    use crate::schemas::{CUSTOMERS, ORDERS};

    #[test]
    fn slices_hold_one_partition_each_and_every_row_once() {
        let days = [Some(3), None, Some(1), Some(3), Some(2), Some(1), Some(3)];
        let df = df!(
            "order_date" => Series::new("order_date".into(), days).cast(&DataType::Date).unwrap(),
            "row" => (0..days.len() as u32).collect::<Vec<_>>(),
        )
        .unwrap();
        let slices = partition_slices(df.clone(), &ORDERS).unwrap();
        let heights: Vec<usize> = slices.iter().map(DataFrame::height).collect();
        assert_eq!(heights, [1, 2, 1, 3], "null, day 1, day 2, day 3");
        let mut seen = Vec::new();
        for slice in &slices {
            assert_eq!(slice.column("order_date").unwrap().n_unique().unwrap(), 1);
            seen.extend(
                slice
                    .column("row")
                    .unwrap()
                    .u32()
                    .unwrap()
                    .into_no_null_iter(),
            );
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..days.len() as u32).collect::<Vec<_>>());

        let whole = partition_slices(df, &CUSTOMERS).unwrap();
        assert_eq!(
            whole.len(),
            1,
            "an unpartitioned table is written as one frame"
        );
    }
}
