//! Taking rows from a frame whose columns come in many chunks (one per raw part), in one copy
//! of the taken rows.
//!
//! From a string column of many chunks polars copies every string it gathers (from one chunk,
//! only the 16-byte views that point at them); rechunking first, to avoid that, copied every
//! view of every row, taken or not. Here a string column's chunks lend their data buffers to
//! the result, and only the taken views are copied, each pointed at its buffer's new place.

use polars::prelude::*;
use polars_arrow::{
    array::{Array, Utf8ViewArray},
    bitmap::MutableBitmap,
    datatypes::ArrowDataType,
};

use crate::settle::cores::on_each_core;

/// `rows` of `frame`, in that order. Every row number must be below the frame's height.
pub fn take_rows(frame: &DataFrame, rows: &IdxCa) -> PolarsResult<DataFrame> {
    let numbers = rows.rechunk();
    let numbers = numbers.cont_slice()?;
    if let Some(&beyond) = numbers.iter().find(|&&row| row as usize >= frame.height()) {
        polars_bail!(OutOfBounds: "row {beyond} of a frame of {} rows", frame.height());
    }
    // The string columns of a batch share their chunks' lengths (one chunk per part): where a
    // row lies is worked out once for all of them.
    let shared = frame
        .columns()
        .iter()
        .find(|c| c.dtype() == &DataType::String)
        .map(|c| Places::of(&chunk_lengths(c), numbers));
    let take = |column: &Column| match (column.dtype(), &shared) {
        (DataType::String, Some(shared)) => {
            let strings = column.str()?;
            let lengths = chunk_lengths(column);
            let places = if lengths == shared.lengths {
                shared
            } else {
                &Places::of(&lengths, numbers)
            };
            Ok(take_strings(strings, places).into_column())
        }
        _ => column.take(rows),
    };
    // Each column on its own: one per core at a time.
    let columns = frame.columns();
    let mut taken: Vec<(usize, PolarsResult<Column>)> = on_each_core(|worker, workers| {
        (worker..columns.len())
            .step_by(workers)
            .map(|i| (i, take(&columns[i])))
            .collect::<Vec<_>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    taken.sort_unstable_by_key(|(i, _)| *i);
    let columns = taken
        .into_iter()
        .map(|(_, column)| column)
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(numbers.len(), columns)
}

fn chunk_lengths(column: &Column) -> Vec<usize> {
    column.as_materialized_series().chunk_lengths().collect()
}

/// Where each taken row lies in a column of chunks of the given `lengths`.
struct Places {
    lengths: Vec<usize>,
    /// (chunk, row within the chunk) of each taken row.
    at: Vec<(u32, u32)>,
}

impl Places {
    fn of(lengths: &[usize], rows: &[IdxSize]) -> Self {
        let starts: Vec<usize> = lengths
            .iter()
            .scan(0, |start, len| {
                let this = *start;
                *start += len;
                Some(this)
            })
            .collect();
        let at = rows
            .iter()
            .map(|&row| {
                let row = row as usize;
                let chunk = starts.partition_point(|&s| s <= row).saturating_sub(1);
                (chunk as u32, (row - starts[chunk]) as u32)
            })
            .collect();
        Places {
            lengths: lengths.to_vec(),
            at,
        }
    }
}

/// The strings at `places`, their bytes shared with `column`.
fn take_strings(column: &StringChunked, places: &Places) -> StringChunked {
    let chunks: Vec<&Utf8ViewArray> = column.downcast_iter().collect();
    // Where each chunk's buffers start in the joined buffer list.
    let mut first_buffers = Vec::with_capacity(chunks.len());
    let mut buffers = Vec::new();
    for chunk in &chunks {
        first_buffers.push(buffers.len() as u32);
        buffers.extend(chunk.data_buffers().iter().cloned());
    }
    let rows = places.at.len();
    let mut validity = (column.null_count() > 0).then(|| MutableBitmap::with_capacity(rows));
    let mut views = Vec::with_capacity(rows);
    for &(chunk, local) in &places.at {
        let (array, local) = (chunks[chunk as usize], local as usize);
        let mut view = array.views()[local];
        if !view.is_inline() {
            view.buffer_idx += first_buffers[chunk as usize];
        }
        views.push(view);
        if let Some(validity) = validity.as_mut() {
            validity.push(array.is_valid(local));
        }
    }
    // SAFETY: every view is one of a valid UTF-8 view array's, unchanged but for the index of
    // an out-of-line view's buffer, which now names the same buffer in the joined list (the
    // chunks' buffer lists, in chunk order). Validity, if any, has one bit per view.
    let array = unsafe {
        Utf8ViewArray::new_unchecked_unknown_md(
            ArrowDataType::Utf8View,
            views.into(),
            buffers.into(),
            validity.map(Into::into),
            None,
        )
    };
    StringChunked::with_chunk(column.name().clone(), array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_every_chunk_in_the_order_asked() {
        let long = |s: &str| format!("{s} is longer than twelve bytes");
        let mut frame = df!(
            "text" => [Some(long("a")), None, Some("b".to_owned())],
            "n" => [1i64, 2, 3],
        )
        .unwrap();
        frame
            .vstack_mut(
                &df!(
                    "text" => [Some("c".to_owned()), Some(long("d"))],
                    "n" => [4i64, 5],
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(frame.column("text").unwrap().n_chunks(), 2);
        // A string column chunked differently from the others finds its own rows.
        let other = Column::new("other".into(), ["v", "w", "x", "y", "z"]);
        frame.with_column(other).unwrap();
        assert_eq!(frame.column("other").unwrap().n_chunks(), 1);

        let rows = IdxCa::from_vec("rows".into(), vec![4, 0, 1, 3, 4]);
        let taken = take_rows(&frame, &rows).unwrap();
        let text: Vec<Option<String>> = taken
            .column("text")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect();
        assert_eq!(
            text,
            [
                Some(long("d")),
                Some(long("a")),
                None,
                Some("c".into()),
                Some(long("d"))
            ]
        );
        let n: Vec<i64> = taken
            .column("n")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(n, [5, 1, 2, 4, 5]);
        let other: Vec<&str> = taken
            .column("other")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(other, ["z", "v", "w", "y", "z"]);
        assert_eq!(taken.column("text").unwrap().n_chunks(), 1);
    }

    #[test]
    fn a_row_beyond_the_frame_is_an_error() {
        let frame = df!("text" => ["a"]).unwrap();
        let rows = IdxCa::from_vec("rows".into(), vec![1]);
        assert!(take_rows(&frame, &rows).is_err());
    }
}
