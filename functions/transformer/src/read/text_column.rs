//! A string column built value by value, as the reader of raw parts needs one per field.
//!
//! polars' `StringChunkedBuilder` checks, for every value, whether its in-progress buffer has
//! room, and grows its buffers block by block. Values here go to one growing buffer and their
//! views to one vector.

use polars::prelude::*;
use polars_arrow::{
    array::{Utf8ViewArray, View},
    bitmap::MutableBitmap,
    datatypes::ArrowDataType,
};

/// The most bytes a data buffer holds: views address their bytes with 32-bit offsets, and
/// arrow's readers take a buffer's length as a signed one.
const BUFFER_LIMIT: usize = i32::MAX as usize;

pub struct TextColumn {
    name: PlSmallStr,
    views: Vec<View>,
    validity: MutableBitmap,
    /// Buffers closed because the next value would have taken them past [`BUFFER_LIMIT`].
    full: Vec<Vec<u8>>,
    /// The bytes of the values too long to be held in their views (over 12 bytes).
    data: Vec<u8>,
    /// [`BUFFER_LIMIT`], but in tests.
    limit: usize,
    /// The rows the column is expected to hold, from which [`TextColumn::reserve_projected`]
    /// sizes `data`.
    rows: usize,
}

impl TextColumn {
    pub fn new(name: PlSmallStr, rows: usize) -> Self {
        TextColumn {
            name,
            views: Vec::with_capacity(rows),
            validity: MutableBitmap::with_capacity(rows),
            full: Vec::new(),
            data: Vec::new(),
            limit: BUFFER_LIMIT,
            rows,
        }
    }

    #[inline]
    pub fn push(&mut self, value: Option<&str>) {
        let Some(value) = value else {
            self.views.push(View::default());
            self.validity.push(false);
            return;
        };
        let bytes = value.as_bytes();
        let view = if bytes.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(bytes)
        } else {
            if self.data.len() + bytes.len() > self.limit && !self.data.is_empty() {
                self.full.push(std::mem::take(&mut self.data));
            }
            if self.data.len() + bytes.len() > self.data.capacity() {
                self.reserve_projected(bytes.len());
            }
            let at = (self.full.len() as u32, self.data.len() as u32);
            self.data.extend_from_slice(bytes);
            View::new_from_bytes(bytes, at.0, at.1)
        };
        self.views.push(view);
        self.validity.push(true);
    }

    /// Makes room in `data` for `more` bytes and, once a few rows are in, for the rest of the
    /// expected rows at the bytes per row so far plus an eighth, rounded up to a power of two.
    ///
    /// Grown by doubling, a part's buffer was copied at every doubling and each new block was
    /// faulted in afresh: an eighth of a day-0 transform's page faults. Projected, it grows a
    /// few times while small and then once. The power of two keeps the buffers in the few
    /// allocator size classes doubling used: sized to the byte, a hundred parts' buffers spread
    /// over many classes, whose partly used pages raised the transform's peak RSS by ~50 MB.
    /// An untouched tail costs no memory (a page is only backed once written).
    #[cold]
    fn reserve_projected(&mut self, more: usize) {
        const SEEN_ENOUGH: usize = 32;
        let (used, seen) = (self.data.len(), self.views.len());
        let rest = if seen >= SEEN_ENOUGH && self.rows > seen {
            used.div_ceil(seen) * (self.rows - seen) * 9 / 8
        } else {
            0
        };
        let capacity = (used + rest.max(more))
            .max(2 * self.data.capacity())
            .max(128)
            .next_power_of_two();
        self.data
            .reserve_exact(capacity.min(self.limit).max(used + more) - used);
    }

    pub fn finish(self) -> StringChunked {
        let mut buffers = self.full;
        if !self.data.is_empty() {
            buffers.push(self.data);
        }
        let buffers: Vec<_> = buffers.into_iter().map(Into::into).collect();
        let validity = (self.validity.unset_bits() > 0).then(|| self.validity.into());
        // SAFETY: each view was made by `View` from a `str` (valid UTF-8): inline, or naming
        // the buffer (its place in `buffers`) and offset its bytes were copied to. Validity,
        // if any, has one bit per view.
        let array = unsafe {
            Utf8ViewArray::new_unchecked_unknown_md(
                ArrowDataType::Utf8View,
                self.views.into(),
                buffers.into(),
                validity,
                None,
            )
        };
        StringChunked::with_chunk(self.name, array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_sized_from_the_rows_seen_not_doubled() {
        let rows = 1000;
        let mut column = TextColumn::new("ids".into(), rows);
        let values: Vec<String> = (0..rows).map(|i| format!("ORD-{i:016}")).collect();
        for value in &values[..60] {
            column.push(Some(value));
        }
        // Doubling would hold 2048 bytes by now.
        let projected = column.data.capacity();
        assert!(
            projected >= rows * 20 && projected.is_power_of_two(),
            "{projected} bytes after 60 rows"
        );
        for value in &values[60..] {
            column.push(Some(value));
        }
        assert_eq!(column.data.len(), rows * 20);
        assert_eq!(
            column.data.capacity(),
            projected,
            "no growth after the projection"
        );
        let column = column.finish();
        assert!(column.iter().eq(values.iter().map(|v| Some(v.as_str()))));

        // Fewer rows than expected, or more: the same values either way.
        for expected in [1, 10, 5000] {
            let mut column = TextColumn::new("ids".into(), expected);
            for value in &values {
                column.push(Some(value));
            }
            let column = column.finish();
            assert!(column.iter().eq(values.iter().map(|v| Some(v.as_str()))));
        }
    }

    #[test]
    fn values_short_long_and_missing_come_back_as_pushed() {
        let long = "a value longer than the twelve bytes a view holds, é and all";
        let values = [
            Some("short"),
            None,
            Some(long),
            Some(""),
            Some(&long[..13]),
            Some(&long[..30]),
        ];
        let mut column = TextColumn::new("text".into(), 2);
        for value in values {
            column.push(value);
        }
        let column = column.finish();
        assert_eq!(column.name().as_str(), "text");
        assert_eq!(column.null_count(), 1);
        assert_eq!(column.iter().collect::<Vec<_>>(), values);
        // Equal, nulls included, to what polars builds from the same values.
        let built = StringChunked::new("text".into(), values);
        assert!(
            column
                .into_series()
                .equals_missing(&built.clone().into_series())
        );
        // Buffers of 40 bytes at most, but for a value longer on its own: the three long
        // values take three.
        let mut small = TextColumn::new("small".into(), 0);
        small.limit = 40;
        for value in values {
            small.push(value);
        }
        let small = small.finish();
        let buffers = small
            .downcast_iter()
            .map(|a| a.data_buffers().len())
            .sum::<usize>();
        assert_eq!(
            buffers, 3,
            "the 61-byte value alone, then 13 bytes, then 30"
        );
        assert!(small.into_series().equals_missing(&built.into_series()));
        let mut all = TextColumn::new("all".into(), 0);
        all.push(Some(long));
        assert_eq!(all.finish().null_count(), 0);
    }
}
