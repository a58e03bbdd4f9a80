//! The rules that look across records ([`resolve`]): a version of an order delivered twice is
//! refused (`duplicate_record`), and of the valid versions only the latest of each order is
//! kept.
//!
//! Both are answered by one pass over the order ids, scattered by hash into partitions that
//! stay in cache ([`keyed`], on every core: [`cores`]), and the latest rows are taken in one
//! copy ([`take`]). In polars the same questions were a row-encoded `is_first_distinct` on
//! (order_id, updated_at), a sort and a `unique` on order_id, whose hash tables grew as they
//! went, and a filter that copied every column of the valid rows before the latest ones were
//! taken from that copy (docs/benchmarks.md).

use lakehouse_core::record::Reason;
use polars::prelude::*;

pub(crate) mod cores;
pub(crate) mod keyed;
pub(crate) mod take;

use self::{
    keyed::{Keyed, Table},
    take::take_rows,
};
use crate::{
    read::typed,
    side::{REASON_CODE, parsed},
};

/// A classified batch split by the rules across records.
pub struct Resolved {
    /// [`REASON_CODE`] of every record, `duplicate_record` included.
    pub codes: Int32Chunked,
    /// The rows of the latest valid version of each order, in order_date order (then in
    /// arrival order, so a partition's rows come together).
    pub latest: IdxCa,
}

impl Resolved {
    /// The refused records of `classified`, with their final reason codes and every field's
    /// text as it was sent ([`typed::restore`]).
    pub fn refused(&self, classified: &DataFrame) -> PolarsResult<DataFrame> {
        let mut with_codes = classified.clone();
        with_codes.with_column(self.codes.clone().into_column())?;
        typed::restore(&with_codes.filter(&self.codes.is_not_null())?)
    }

    /// `columns` of the latest valid versions, taken from `classified` in one copy.
    pub fn latest(&self, classified: &DataFrame, columns: &[String]) -> PolarsResult<DataFrame> {
        let picked = classified.select(columns.iter().map(String::as_str))?;
        take_rows(&picked, &self.latest)
    }
}

/// What the rules across records read of a record besides its order_id.
struct Version {
    stamp: i64,
    /// order_date of a valid record; `None` for a record [`classify`] refused.
    ///
    /// [`classify`]: crate::rules::classify
    valid_day: Option<i32>,
}

/// What a partition's pass knows of one order_id.
struct Order {
    first_row: IdxSize,
    /// updated_at of its first record: entered in `versions` only once a second one comes.
    first_stamp: i64,
    repeated: bool,
    /// Its latest valid version so far: row, updated_at and order_date.
    latest: Option<(IdxSize, i64, i32)>,
}

/// What a partition's pass finds: rows that repeat an earlier record, and (order_date, row)
/// of each order's latest valid version.
#[derive(Default)]
struct Found {
    repeats: Vec<IdxSize>,
    latest: Vec<(i32, IdxSize)>,
}

/// Applies the rules across records to a batch [`crate::rules::classify`] has classified.
///
/// A record repeats an earlier one when both have the same order_id and updated_at, whatever
/// the earlier one's verdict; the latest version is the valid record with the latest
/// updated_at (two valid records of an order never share one: the later is a repeat). A record
/// without an order_id or an updated_at is already refused, so takes no part.
pub fn resolve(classified: &DataFrame) -> PolarsResult<Resolved> {
    let ids = classified.column("order_id")?.str()?;
    let stamps = classified
        .column(&parsed("updated_at"))?
        .datetime()?
        .physical();
    let days = classified.column(&parsed("order_date"))?.date()?.physical();
    let codes = classified.column(REASON_CODE)?.i32()?;

    let read = |offset: i64, len: usize, keep: &mut dyn FnMut(Option<Version>)| {
        let (stamps, days) = (stamps.slice(offset, len), days.slice(offset, len));
        let codes = codes.slice(offset, len);
        for ((stamp, day), code) in stamps.iter().zip(days.iter()).zip(codes.iter()) {
            keep(stamp.map(|stamp| Version {
                stamp,
                valid_day: if code.is_none() { day } else { None },
            }));
        }
    };
    let found = keyed::partitioned(ids, read, resolve_partition)?;

    let mut resolved: Vec<Option<i32>> = codes.iter().collect();
    let duplicate = Reason::DuplicateRecord.code();
    let mut latest = Vec::new();
    for found in found {
        for row in found.repeats {
            resolved[row as usize].get_or_insert(duplicate);
        }
        latest.extend(found.latest);
    }
    Ok(Resolved {
        codes: Int32Chunked::new(REASON_CODE.into(), resolved),
        latest: IdxCa::from_vec("row".into(), in_day_order(latest, classified.height())),
    })
}

/// The rules across records within one partition: `count` records, in row order.
fn resolve_partition<'a>(
    records: &mut dyn Iterator<Item = &Keyed<'a, Version>>,
    count: usize,
) -> Found {
    let mut found = Found::default();
    let mut orders: Table<Order> = Table::with_capacity(count);
    let mut versions: PlHashSet<(IdxSize, i64)> = PlHashSet::default();
    for record in records {
        let Version { stamp, valid_day } = record.value;
        let order = match orders.state(record) {
            Err(new) => new.insert(Order {
                first_row: record.row,
                first_stamp: stamp,
                repeated: false,
                latest: None,
            }),
            Ok(order) => {
                if !order.repeated {
                    order.repeated = true;
                    versions.insert((order.first_row, order.first_stamp));
                }
                if !versions.insert((order.first_row, stamp)) {
                    found.repeats.push(record.row);
                    continue;
                }
                order
            }
        };
        if let Some(day) = valid_day
            && order.latest.is_none_or(|(_, latest, _)| stamp > latest)
        {
            order.latest = Some((record.row, stamp, day));
        }
    }
    found.latest.extend(
        orders
            .into_states()
            .filter_map(|o| o.latest.map(|(row, _, day)| (day, row))),
    );
    found
}

/// The rows of `(day, row)` pairs (each row once, every row below `rows`) sorted by day, then
/// row. Days span little (a batch covers days to months of orders), so a counting sort over
/// the span does it in two linear passes, where a comparison sort costs n log n. A span wider
/// than the batch (dates far apart) falls back to that sort.
fn in_day_order(mut pairs: Vec<(i32, IdxSize)>, rows: usize) -> Vec<IdxSize> {
    let (Some(first), Some(last)) = (
        pairs.iter().map(|p| p.0).min(),
        pairs.iter().map(|p| p.0).max(),
    ) else {
        return Vec::new();
    };
    let span = (i64::from(last) - i64::from(first) + 1) as usize;
    if span > rows.max(1 << 16) {
        pairs.sort_unstable();
        return pairs.into_iter().map(|(_, row)| row).collect();
    }
    // Per row, its day's place in the span (plus one; zero for a row not taken).
    let mut slot_of = vec![0u32; rows];
    let mut starts = vec![0usize; span + 1];
    for &(day, row) in &pairs {
        let slot = (day - first) as usize;
        slot_of[row as usize] = slot as u32 + 1;
        starts[slot + 1] += 1;
    }
    for slot in 1..=span {
        starts[slot] += starts[slot - 1];
    }
    let mut sorted = vec![0; pairs.len()];
    for (row, slot) in slot_of.into_iter().enumerate() {
        if let Some(slot) = slot.checked_sub(1) {
            let at = &mut starts[slot as usize];
            sorted[*at] = row as IdxSize;
            *at += 1;
        }
    }
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        rules::tests::{raw, resolved, row},
        silver::orders::silver_sources,
    };

    fn text(df: &DataFrame, name: &str) -> Vec<String> {
        let column = df.column(name).unwrap().str().unwrap().clone();
        column.iter().map(|v| v.unwrap_or("-").to_owned()).collect()
    }

    #[test]
    fn the_latest_valid_version_of_each_order_is_taken_in_day_order() {
        let (classified, resolved) = resolved(raw(&[
            row("A", "1", "2026-01-03", "2026-01-01T00:00:01Z", "placed"),
            row("B", "1", "2026-01-01", "2026-01-01T00:00:05Z", "placed"),
            row("A", "2", "2026-01-03", "2026-01-01T00:00:04Z", "shipped"),
            row("C", "1", "2026-01-02", "2026-01-01T00:00:02Z", "placed"),
            row("B", "3", "2026-01-01", "2026-01-01T00:00:04Z", "shipped"),
            row("A", "3", "2026-01-02", "2026-01-01T00:00:03Z", "delivered"),
            row("C", "1", "2026-01-02", "2026-01-01T00:00:09Z", "lost"),
            row("D", "1", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
        ]));
        let latest = resolved.latest(&classified, &silver_sources()).unwrap();
        let names: Vec<String> = latest
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, silver_sources());
        // Versions arrive out of order: B's later row is older. C's newest version is
        // refused, so its valid one stays.
        assert_eq!(text(&latest, "order_id"), ["B", "D", "C", "A"]);
        assert_eq!(
            text(&latest, "status"),
            ["placed", "placed", "placed", "shipped"]
        );
        let days: Vec<i32> = latest
            .column("_order_date")
            .unwrap()
            .date()
            .unwrap()
            .physical()
            .into_no_null_iter()
            .collect();
        assert!(days.is_sorted(), "partition order, then arrival: {days:?}");
        let refused = resolved.refused(&classified).unwrap();
        assert_eq!(text(&refused, "status"), ["lost"]);
    }

    #[test]
    fn a_version_delivered_again_is_refused_whatever_the_first_verdict() {
        let (classified, resolved) = resolved(raw(&[
            row("A", "1", "2026-01-01", "2026-01-01T00:00:01Z", "lost"),
            row("A", "1", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
            row("B", "1", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
            row("B", "1", "2026-01-01", "2026-01-01T00:00:02Z", "shipped"),
            row("B", "1", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
            row("B", "1", "2026-01-01", "2026-01-01T00:00:02Z", "delivered"),
            row("C", "0", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
            row("C", "0", "2026-01-01", "2026-01-01T00:00:01Z", "placed"),
        ]));
        let code = |reason: &str| Reason::named(reason).unwrap().code();
        let duplicate = code("duplicate_record");
        let codes: Vec<Option<i32>> = resolved.codes.iter().collect();
        let non_positive = code("non_positive_quantity");
        assert_eq!(
            codes,
            [
                Some(code("invalid_status")),
                Some(duplicate),
                None,
                None,
                Some(duplicate),
                Some(duplicate),
                Some(non_positive),
                // A record already refused keeps its first reason.
                Some(non_positive),
            ]
        );
        let latest = resolved.latest(&classified, &["status".into()]).unwrap();
        assert_eq!(text(&latest, "status"), ["shipped"]);
        assert_eq!(resolved.refused(&classified).unwrap().height(), 6);
    }

    #[test]
    fn a_large_batch_settles_as_the_plain_definition_does() {
        // Enough orders to fill every partition, with repeats, refusals and versions out of
        // order; the expected outcome is computed record by record, as the rules read.
        let mut next = crate::settle::keyed::tests::numbers(7);
        let rows: Vec<_> = (0..6000)
            .map(|_| {
                let id = format!("O{}", next(1500));
                let stamp = format!("2026-01-01T00:00:{:02}Z", next(6));
                let day = format!("2026-01-{:02}", 1 + next(28));
                let status = if next(10) == 0 { "lost" } else { "placed" };
                row(&id, "1", &day, &stamp, status)
            })
            .collect();
        let (classified, resolved) = resolved(raw(&rows));

        let codes: Vec<Option<i32>> = classified
            .column(REASON_CODE)
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .collect();
        let mut expected = codes.clone();
        let mut seen = std::collections::HashSet::new();
        let mut best: std::collections::HashMap<&str, (&str, usize)> = Default::default();
        for (i, r) in rows.iter().enumerate() {
            let (id, stamp) = (r[0].unwrap(), r[15].unwrap());
            if !seen.insert((id, stamp)) {
                expected[i].get_or_insert(Reason::DuplicateRecord.code());
            } else if codes[i].is_none() && best.get(id).is_none_or(|(s, _)| stamp > *s) {
                best.insert(id, (stamp, i));
            }
        }
        let got: Vec<Option<i32>> = resolved.codes.iter().collect();
        assert_eq!(got, expected);
        assert!(
            got.iter()
                .filter(|c| **c == Some(Reason::DuplicateRecord.code()))
                .count()
                > 100
        );
        let mut want: Vec<(&str, usize)> = best
            .values()
            .map(|(_, i)| (rows[*i][14].unwrap(), *i))
            .collect();
        want.sort_unstable();
        let rows_taken: Vec<usize> = resolved
            .latest
            .into_no_null_iter()
            .map(|r| r as usize)
            .collect();
        assert_eq!(rows_taken, want.iter().map(|(_, i)| *i).collect::<Vec<_>>());
    }

    #[test]
    fn rows_come_in_day_then_row_order_whatever_the_span() {
        let pairs = vec![(5, 7), (3, 2), (5, 1), (3, 9), (4, 0), (3, 4)];
        assert_eq!(in_day_order(pairs.clone(), 10), [2, 4, 9, 0, 1, 7]);
        // Days further apart than the batch is long: the comparison sort.
        let far = vec![(2_000_000, 0), (-2_000_000, 2), (0, 1), (2_000_000, 3)];
        assert_eq!(in_day_order(far, 4), [2, 1, 0, 3]);
        assert!(in_day_order(Vec::new(), 0).is_empty());
    }

    #[test]
    fn an_empty_batch_settles_to_nothing() {
        let (classified, resolved) = resolved(raw(&[]));
        assert_eq!(resolved.codes.len(), 0);
        let latest = resolved.latest(&classified, &silver_sources()).unwrap();
        assert_eq!((latest.height(), latest.width()), (0, 16));
    }
}
