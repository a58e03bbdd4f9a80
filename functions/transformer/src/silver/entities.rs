//! The entity tables' rows from order rows: one row per key, its latest version.

use polars::prelude::*;

use crate::settle::{keyed, take::take_rows};

/// One row per key, its latest version ([`keyed::latest_rows`]: the latest `updated_at`, and
/// among equal timestamps the row that comes last, so newer batches appended after older data
/// win ties), in row order.
///
/// Eager, unlike the transforms above: the latest rows are found by a hash pass over the key
/// and timestamp alone, then taken from the frame in one copy, where sorting and deduplicating
/// in polars moved every column of every row (a day-0 batch is a million rows, of which a
/// thousand products are kept).
pub fn latest_by(frame: &DataFrame, key: &str) -> PolarsResult<DataFrame> {
    let latest = latest_rows(frame, key, None)?;
    take_rows(frame, &numbers(&latest))
}

/// Customer rows from order rows (or from earlier customer rows, which have the same columns):
/// the attributes of the latest version (as [`latest_by`] picks it), first_order_date the
/// earliest over all versions.
pub fn customers(rows: &DataFrame) -> PolarsResult<DataFrame> {
    let first = rows.column("first_order_date")?.to_physical_repr();
    let latest = latest_rows(rows, "customer_id", Some(first.i32()?))?;
    let mut picked = take_rows(&rows.drop("first_order_date")?, &numbers(&latest))?;
    let first: Int32Chunked = latest.iter().map(|(_, first)| *first).collect();
    picked.with_column(
        first
            .into_date()
            .into_column()
            .with_name("first_order_date".into()),
    )?;
    Ok(picked)
}

/// Latest attributes of every product.
pub fn products(rows: &DataFrame) -> PolarsResult<DataFrame> {
    latest_by(rows, "product_id")
}

fn latest_rows(
    frame: &DataFrame,
    key: &str,
    least: Option<&Int32Chunked>,
) -> PolarsResult<Vec<(IdxSize, Option<i32>)>> {
    let keys = frame.column(key)?.str()?;
    let stamps = frame.column("updated_at")?.to_physical_repr();
    keyed::latest_rows(keys, stamps.i64()?, least)
}

fn numbers(latest: &[(IdxSize, Option<i32>)]) -> IdxCa {
    IdxCa::from_vec("row".into(), latest.iter().map(|(row, _)| *row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn among_equal_timestamps_the_later_row_wins() {
        let frame = df!(
            "id" => ["a", "b", "a", "c", "b"],
            "updated_at" => [2i64, 1, 2, 5, 0],
            "v" => [1, 2, 3, 4, 5],
        )
        .unwrap();
        let latest = latest_by(&frame, "id").unwrap();
        let v: Vec<i32> = latest
            .column("v")
            .unwrap()
            .i32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(
            v,
            [2, 3, 4],
            "b@1 beats b@0; a's tie goes to the later row; c; in row order"
        );
        assert_eq!(latest.get_column_names(), ["id", "updated_at", "v"]);
    }

    /// `count` customer rows over `keys` customers, with few timestamps (so many ties) and
    /// names that tell the rows apart.
    fn customer_versions(seed: u64, count: usize, keys: u64) -> DataFrame {
        let mut next = crate::settle::keyed::tests::numbers(seed);
        let rows: Vec<(String, String, i32, i64)> = (0..count)
            .map(|i| {
                let key = format!("C{}", next(keys));
                (
                    key,
                    format!("name-{seed}-{i}"),
                    next(60) as i32,
                    next(4) as i64,
                )
            })
            .collect();
        df!(
            "customer_id" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            "customer_name" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            "first_order_date" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "updated_at" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_column(col("first_order_date").cast(DataType::Date))
        .collect()
        .unwrap()
    }

    #[test]
    fn reducing_the_batch_first_changes_no_entity() {
        // What `silver::merge_entities` relies on: the table's rows followed by the batch's
        // reduce to what they reduce to when the batch was reduced on its own first.
        let columns = [
            "customer_id",
            "customer_name",
            "first_order_date",
            "updated_at",
        ];
        let in_order = |df: DataFrame| df.select(columns).unwrap();
        let have = in_order(customers(&customer_versions(1, 400, 300)).unwrap());
        let batch = customer_versions(2, 3_000, 500);
        let whole = customers(&have.vstack(&batch).unwrap()).unwrap();
        let reduced = in_order(customers(&batch).unwrap());
        let first = customers(&have.vstack(&reduced).unwrap()).unwrap();
        assert!(whole.equals_missing(&first), "{whole}\n{first}");
        assert!(
            whole.height() > 400,
            "keys only the batch names are kept too"
        );

        let products = |df: &DataFrame| {
            df.select(["customer_id", "customer_name", "updated_at"])
                .unwrap()
        };
        let whole = latest_by(
            &products(&have).vstack(&products(&batch)).unwrap(),
            "customer_id",
        );
        let reduced = latest_by(&products(&batch), "customer_id").unwrap();
        let first = latest_by(&products(&have).vstack(&reduced).unwrap(), "customer_id");
        assert!(whole.unwrap().equals_missing(&first.unwrap()));
    }

    #[test]
    fn a_customer_keeps_its_latest_attributes_and_first_order_date() {
        let rows = df!(
            "customer_id" => ["c1", "c2", "c1", "c1"],
            "customer_name" => ["old", "solo", "new", "tie"],
            "customer_email" => ["e", "e", "e", "e"],
            "customer_country" => ["DE", "FR", "DE", "NL"],
            "customer_segment" => ["s", "s", "s", "s"],
            "first_order_date" => [5i32, 3, 1, 9],
            "updated_at" => [10i64, 1, 20, 20],
            "run_id" => ["r1", "r1", "r2", "r2"],
        )
        .unwrap();
        let got = customers(&rows).unwrap();
        let names: Vec<_> = got
            .column("customer_name")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            names,
            [Some("solo"), Some("tie")],
            "c1's tie at 20 goes to the later row"
        );
        let first = got.column("first_order_date").unwrap();
        assert_eq!(first.dtype(), &DataType::Date);
        let first: Vec<_> = first.to_physical_repr().i32().unwrap().iter().collect();
        assert_eq!(first, [Some(3), Some(1)], "earliest over all versions");
        assert_eq!(got.width(), 8);
    }
}
