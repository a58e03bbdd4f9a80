//! Declarative writes against a real file catalog on a local directory: run-id idempotency,
//! concurrent writers, partition-scoped replacement, merges that find a key in another
//! partition, entity tables that take only their new and changed keys, dimensions that mirror
//! them from what they gained, and frames whose columns come in any order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lakehouse_core::{Lake, config::S3Settings, layout, runid::RunId, store::LakeLocation};
use lakehouse_tables::{
    Change, Rows, TableWrite, Warehouse,
    bridge::conform_read,
    commit::RetryPolicy,
    entity::MAX_FILES,
    live::{LiveFile, live_files},
    schemas::{
        CUSTOMERS, Col, DIM_CUSTOMERS, DIM_PRODUCTS, FACT_SALES, ORDERS, QUARANTINE, TableDef,
    },
};
use polars::prelude::*;

fn lake(dir: &tempfile::TempDir) -> Lake {
    Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default()).unwrap())
        .unwrap()
}

fn run(n: u32) -> RunId {
    RunId::parse(&format!("20260101T000000Z-test{n}")).unwrap()
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 20,
        first_backoff: std::time::Duration::from_millis(1),
        max_backoff: std::time::Duration::from_millis(50),
    }
}

/// A product catalogue of (id, price), in the dimension's columns.
fn catalogue(rows: &[(&str, f64)]) -> DataFrame {
    let ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
    df!(
        "product_id" => &ids,
        "product_name" => &ids,
        "product_category" => ids.iter().map(|_| "home").collect::<Vec<_>>(),
        "unit_price" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn upsert(rows: DataFrame) -> TableWrite {
    TableWrite::new(
        &DIM_PRODUCTS,
        Change::Upsert {
            rows: Rows::Frame(rows),
            reduce: None,
        },
    )
}

/// A table's rows sorted by `key`, as a reader of the table sees them.
async fn sorted_rows(warehouse: &Warehouse, def: &TableDef, key: &str) -> DataFrame {
    warehouse
        .read_table(def)
        .await
        .unwrap()
        .unwrap()
        .sort([key], Default::default())
        .collect()
        .unwrap()
}

fn strings(df: &DataFrame, column: &str) -> Vec<String> {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("<null>").to_owned())
        .collect()
}

async fn snapshots(warehouse: &Warehouse, def: &TableDef) -> usize {
    warehouse
        .require(def.name)
        .await
        .unwrap()
        .metadata()
        .snapshots
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing_and_a_rerun_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(&dir);
    let first = Warehouse::open(&lake).await.unwrap();
    upsert(catalogue(&[("P00", 1.0)]))
        .apply(&first, &run(0), &quick())
        .await
        .unwrap();
    // Eight writers with catalogs of their own, as eight Lambda invocations would have, each
    // adding a key at the same time: every commit but one per round loses the race and must be
    // recomputed from the table the winner left.
    let writers = (1..=8u32).map(|n| {
        let lake = lake.clone();
        async move {
            let warehouse = Warehouse::open(&lake).await.unwrap();
            let key = format!("P{n:02}");
            upsert(catalogue(&[(&key, f64::from(n))]))
                .apply(&warehouse, &run(n), &quick())
                .await
                .unwrap()
        }
    });
    let mut attempts = 0;
    for commit in futures::future::join_all(writers).await {
        assert!(!commit.already_committed);
        attempts += commit.attempts;
    }
    assert!(
        attempts > 8,
        "no writer ever lost a race ({attempts} attempts): the test proves nothing"
    );
    let rows = sorted_rows(&first, &DIM_PRODUCTS, "product_id").await;
    let want: Vec<String> = (0..=8).map(|n| format!("P{n:02}")).collect();
    assert_eq!(strings(&rows, "product_id"), want, "no commit may be lost");
    assert_eq!(snapshots(&first, &DIM_PRODUCTS).await, 9);

    // Run 3 again, from a writer that knows nothing of the first time.
    let again = upsert(catalogue(&[("P03", 99.0)]))
        .apply(&first, &run(3), &quick())
        .await
        .unwrap();
    assert!(again.already_committed);
    assert_eq!(
        snapshots(&first, &DIM_PRODUCTS).await,
        9,
        "a re-run adds no snapshot"
    );
}

/// `order_date` from its text and `updated_at` from microseconds, as the tables type them.
fn typed_dates(rows: DataFrame) -> DataFrame {
    rows.lazy()
        .with_columns([
            col("order_date").str().to_date(StrptimeOptions::default()),
            col("updated_at").cast(DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            )),
        ])
        .collect()
        .unwrap()
}

/// Rows of orders_transformed: (order id, order date, status, updated_at seconds).
fn orders(rows: &[(&str, &str, &str, i64)]) -> DataFrame {
    let n = rows.len();
    let text = |i: usize| rows.iter().map(|r| [r.0, r.1, r.2][i]).collect::<Vec<_>>();
    let rows = df!(
        "order_id" => text(0),
        "customer_id" => vec!["C"; n],
        "product_id" => vec!["P"; n],
        "quantity" => vec![1i64; n],
        "unit_price" => vec![2.5; n],
        "amount" => vec![2.5; n],
        "currency" => vec!["EUR"; n],
        "status" => text(2),
        "order_date" => text(1),
        "updated_at" => rows.iter().map(|r| r.3 * 1_000_000).collect::<Vec<_>>(),
        "order_year" => vec![2026i32; n],
        "order_month" => vec![1i32; n],
        "customer_name" => vec!["Ada"; n],
        "customer_email" => vec!["ada@example.com"; n],
        "customer_country" => vec!["DE"; n],
        "customer_segment" => vec!["consumer"; n],
        "product_name" => vec!["Lamp"; n],
        "product_category" => vec!["home"; n],
        "run_id" => vec!["r"; n],
    )
    .unwrap();
    typed_dates(rows)
}

/// The latest row per key, later rows winning ties: the rule the transformer supplies.
fn latest(frame: &DataFrame, key: &str) -> PolarsResult<DataFrame> {
    frame
        .clone()
        .lazy()
        .with_row_index("row", None)
        .sort_by_exprs(
            [col("updated_at"), col("row")],
            SortMultipleOptions::default(),
        )
        .group_by([col(key)])
        .agg([all().exclude_cols(["row", key]).as_expr().last()])
        .collect()
}

fn merge(rows: DataFrame) -> TableWrite {
    TableWrite::new(&ORDERS, Change::Merge { rows, latest })
}

async fn days_of(warehouse: &Warehouse, def: &TableDef) -> Vec<Option<i32>> {
    let table = warehouse.require(def.name).await.unwrap();
    let mut days: Vec<_> = live_files(&table, def.key)
        .await
        .unwrap()
        .iter()
        .map(|f| f.day)
        .collect();
    days.sort();
    days
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_finds_an_order_whose_date_moved_and_reports_both_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let day0 = orders(&[
        ("O1", "2026-01-01", "placed", 10),
        ("O2", "2026-01-01", "placed", 11),
        ("O3", "2026-01-02", "placed", 12),
        ("O4", "2026-01-03", "placed", 13),
    ]);
    merge(day0)
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();

    // O1's new version moves it to the 5th; O4 gets a new status where it is.
    let moved = merge(orders(&[
        ("O1", "2026-01-05", "shipped", 20),
        ("O4", "2026-01-03", "delivered", 21),
    ]))
    .apply(&warehouse, &run(2), &quick())
    .await
    .unwrap();
    let partitions: Vec<String> = moved.partitions.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        partitions,
        ["2026-01-01", "2026-01-03", "2026-01-05"],
        "the day O1 left, and the days the batch wrote"
    );
    assert_eq!(
        moved.files_removed, 2,
        "the 1st and the 3rd; the 2nd untouched"
    );

    let rows = sorted_rows(&warehouse, &ORDERS, "order_id").await;
    assert_eq!(
        strings(&rows, "order_id"),
        ["O1", "O2", "O3", "O4"],
        "no order twice"
    );
    assert_eq!(
        strings(&rows, "status"),
        ["shipped", "placed", "placed", "delivered"]
    );
    let dates: Vec<String> = rows
        .column("order_date")
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|d| d.unwrap().to_owned())
        .collect();
    assert_eq!(
        dates,
        ["2026-01-05", "2026-01-01", "2026-01-02", "2026-01-03"]
    );

    // An older version arriving late changes nothing: the latest row wins wherever it lives.
    merge(orders(&[("O1", "2026-01-01", "placed", 10)]))
        .apply(&warehouse, &run(3), &quick())
        .await
        .unwrap();
    let rows = sorted_rows(&warehouse, &ORDERS, "order_id").await;
    assert_eq!(strings(&rows, "status")[0], "shipped");
    assert_eq!(rows.height(), 4);

    // The only order of a day moving away empties that day: the replacement still commits.
    let before = days_of(&warehouse, &ORDERS).await.len();
    merge(orders(&[("O3", "2026-01-05", "shipped", 30)]))
        .apply(&warehouse, &run(4), &quick())
        .await
        .unwrap();
    let after = days_of(&warehouse, &ORDERS).await;
    assert_eq!(after.len(), before - 1, "the 2nd is gone: {after:?}");
}

/// Facts of (order id, order date, amount).
fn facts(rows: &[(&str, &str, f64)]) -> DataFrame {
    let n = rows.len();
    let rows = df!(
        "order_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "customer_id" => vec!["C"; n],
        "product_id" => vec!["P"; n],
        "order_date" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "quantity" => vec![1i64; n],
        "unit_price" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "amount" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "status" => vec!["placed"; n],
        "order_year" => vec![2026i32; n],
        "order_month" => vec![1i32; n],
        "updated_at" => vec![0i64; n],
    )
    .unwrap();
    typed_dates(rows)
}

fn replace(days: &[i32], rows: DataFrame) -> TableWrite {
    TableWrite::new(
        &FACT_SALES,
        Change::ReplacePartitions {
            days: days.to_vec(),
            rows: Rows::Frame(rows),
        },
    )
}

async fn fact_amounts(warehouse: &Warehouse) -> Vec<f64> {
    let df = sorted_rows(warehouse, &FACT_SALES, "order_id").await;
    df.column("amount")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .flatten()
        .collect()
}

async fn fact_files(warehouse: &Warehouse) -> Vec<LiveFile> {
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    live_files(&table, FACT_SALES.key).await.unwrap()
}

const JAN_2: i32 = 20_455;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_replaces_only_the_partitions_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let first = facts(&[
        ("a", "2026-01-03", 5.0),
        ("b", "2026-01-01", 5.0),
        ("c", "2026-01-02", 5.0),
        ("d", "2026-01-01", 5.0),
    ]);
    replace(&[], first)
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();
    let before = fact_files(&warehouse).await;
    assert_eq!(before.len(), 3, "one file per day partition: {before:?}");

    replace(&[JAN_2], facts(&[("c", "2026-01-02", 7.0)]))
        .apply(&warehouse, &run(2), &quick())
        .await
        .unwrap();
    let after = fact_files(&warehouse).await;
    assert_eq!(after.len(), 3);
    for f in &before {
        let kept = after.iter().any(|a| a.path == f.path);
        assert_eq!(kept, f.day != Some(JAN_2), "{f:?}");
    }
    assert_eq!(fact_amounts(&warehouse).await, [5.0, 5.0, 7.0, 5.0]);
}

/// iceberg-rust 0.10's overwrite panics once the files to drop span two manifests; the commit
/// must still land, with exactly the rows the write describes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_across_several_manifests_lands() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    // Eight day partitions in one append: iceberg-rust splits them over two manifests.
    let days: Vec<String> = (1..=8).map(|d| format!("2026-01-0{d}")).collect();
    let ids: Vec<String> = (1..=8).map(|d| format!("o{d}")).collect();
    let rows: Vec<(&str, &str, f64)> = ids
        .iter()
        .zip(&days)
        .map(|(id, day)| (id.as_str(), day.as_str(), 5.0))
        .collect();
    replace(&[], facts(&rows))
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();
    let before = fact_files(&warehouse).await;
    let manifests: std::collections::HashSet<_> = before.iter().map(|f| &f.manifest).collect();
    assert!(
        manifests.len() > 1,
        "the scenario needs several manifests: {before:?}"
    );
    // Rewrite the first and the last day, whose files sit in different manifests.
    let (first_day, last_day) = (20_454, 20_461);
    let replaced: Vec<&LiveFile> = before
        .iter()
        .filter(|f| f.day == Some(first_day) || f.day == Some(last_day))
        .collect();
    assert_ne!(replaced[0].manifest, replaced[1].manifest, "{replaced:?}");
    for round in 2..=3u32 {
        let update = facts(&[
            ("o1", "2026-01-01", f64::from(round)),
            ("o8", "2026-01-08", f64::from(round)),
        ]);
        replace(&[first_day, last_day], update)
            .apply(&warehouse, &run(round), &quick())
            .await
            .unwrap();
    }
    assert_eq!(fact_files(&warehouse).await.len(), 8);
    assert_eq!(
        fact_amounts(&warehouse).await,
        [3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 3.0]
    );
}

/// A replacement rewrites only the manifest that holds the file it drops and keeps the others
/// as they are, its snapshot's parent is the snapshot it replaced, and an append after it
/// (iceberg-rust's, which rewrites a manifest it extends) brings no dropped file back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_rewrites_only_the_manifest_it_changes_and_a_later_append_keeps_its_removals()
{
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let day = |d: u32| format!("2026-01-{d:02}");
    let ids: Vec<String> = (1..=21).map(|d| format!("o{d:02}")).collect();
    let days: Vec<String> = (1..=21).map(day).collect();
    let rows = |n: usize, amount: f64| -> Vec<(&str, &str, f64)> {
        (0..n)
            .map(|i| (ids[i].as_str(), days[i].as_str(), amount))
            .collect()
    };
    replace(&[], facts(&rows(20, 5.0)))
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();
    let before = fact_files(&warehouse).await;
    let manifests_before: std::collections::BTreeSet<String> =
        before.iter().map(|f| f.manifest.clone()).collect();
    assert!(manifests_before.len() > 2, "{manifests_before:?}");
    let first_day = 20_454;
    let dropped = before.iter().find(|f| f.day == Some(first_day)).unwrap();
    let parent = warehouse
        .require(FACT_SALES.name)
        .await
        .unwrap()
        .metadata()
        .current_snapshot_id;

    replace(&[first_day], facts(&[("o01", "2026-01-01", 7.0)]))
        .apply(&warehouse, &run(2), &quick())
        .await
        .unwrap();
    let after = fact_files(&warehouse).await;
    let manifests_after: std::collections::BTreeSet<String> =
        after.iter().map(|f| f.manifest.clone()).collect();
    let untouched: Vec<&String> = manifests_before
        .iter()
        .filter(|m| **m != dropped.manifest)
        .collect();
    assert!(
        untouched.iter().all(|m| manifests_after.contains(*m)),
        "the manifests without the dropped file are kept as they are: {manifests_before:?} -> {manifests_after:?}"
    );
    assert!(!manifests_after.contains(&dropped.manifest));
    assert_eq!(after.len(), 20);
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let snapshot = table.metadata().current_snapshot(None).unwrap().unwrap();
    assert_eq!(snapshot.parent_snapshot_id(), &parent);
    assert_eq!(
        snapshot
            .summary()
            .other
            .get("deleted-data-files")
            .map(String::as_str),
        Some("1")
    );

    replace(&[], facts(&rows(21, 5.0)[20..]))
        .apply(&warehouse, &run(3), &quick())
        .await
        .unwrap();
    let last = fact_files(&warehouse).await;
    assert_eq!(last.len(), 21);
    assert!(last.iter().all(|f| f.path != dropped.path), "{last:?}");
    let mut expected = vec![5.0; 21];
    expected[0] = 7.0;
    assert_eq!(fact_amounts(&warehouse).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_derived_from_another_reads_it_as_the_attempt_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    merge(orders(&[
        ("O1", "2026-01-01", "placed", 10),
        ("O2", "2026-01-02", "placed", 11),
    ]))
    .apply(&warehouse, &run(1), &quick())
    .await
    .unwrap();
    // The gold facts of the 1st and 2nd, built from silver as it is when the commit is made.
    let facts_of = |days: Vec<i32>| {
        TableWrite::new(
            &FACT_SALES,
            Change::ReplacePartitions {
                rows: Rows::Table {
                    def: &ORDERS,
                    days: Some(days.clone()),
                },
                days,
            },
        )
    };
    let write = facts_of(vec![20_454, JAN_2]);
    write.apply(&warehouse, &run(1), &quick()).await.unwrap();
    let statuses = |df: DataFrame| strings(&df, "status");
    assert_eq!(
        statuses(sorted_rows(&warehouse, &FACT_SALES, "order_id").await),
        ["placed", "placed"]
    );
    // Silver moves on; the same write object, applied for the next run, reads it afresh.
    merge(orders(&[("O2", "2026-01-02", "shipped", 20)]))
        .apply(&warehouse, &run(2), &quick())
        .await
        .unwrap();
    write.apply(&warehouse, &run(2), &quick()).await.unwrap();
    assert_eq!(
        statuses(sorted_rows(&warehouse, &FACT_SALES, "order_id").await),
        ["placed", "shipped"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_table_takes_only_its_new_and_changed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let mut round = 0;
    let mut upsert_round = async |wanted: DataFrame| {
        round += 1;
        upsert(wanted)
            .apply(&warehouse, &run(round), &quick())
            .await
            .unwrap()
    };
    let state = async || {
        let table = warehouse.require(DIM_PRODUCTS.name).await.unwrap();
        let files = live_files(&table, None).await.unwrap().len();
        let rows = sorted_rows(&warehouse, &DIM_PRODUCTS, "product_id").await;
        let prices: Vec<f64> = rows
            .column("unit_price")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        (files, prices, table.metadata().snapshots.len())
    };

    let first = upsert_round(catalogue(&[("P0", 1.0), ("P1", 2.0)])).await;
    assert_eq!((first.rows_written, first.files_added), (2, 1));
    // The same rows again: no write and no snapshot.
    let same = upsert_round(catalogue(&[("P1", 2.0), ("P0", 1.0)])).await;
    assert_eq!((same.rows_written, same.snapshot_id), (0, None));
    assert_eq!(state().await, (1, vec![1.0, 2.0], 1));
    // A new key is appended as a file of its own.
    let added = upsert_round(catalogue(&[("P0", 1.0), ("P1", 2.0), ("P2", 3.0)])).await;
    assert_eq!(
        (added.rows_written, added.files_added, added.files_removed),
        (1, 1, 0)
    );
    assert_eq!(state().await, (2, vec![1.0, 2.0, 3.0], 2));
    // A changed key rewrites the table as one file; a key missing from the wanted rows stays.
    let changed = upsert_round(catalogue(&[("P1", 2.5), ("P2", 3.0)])).await;
    assert_eq!(
        (
            changed.rows_written,
            changed.files_added,
            changed.files_removed
        ),
        (3, 1, 2)
    );
    assert_eq!(state().await, (1, vec![1.0, 2.5, 3.0], 3));

    // New keys one at a time: appended up to MAX_FILES files, then the next write compacts.
    let mut rows = vec![("P0", 1.0), ("P1", 2.5), ("P2", 3.0)];
    let names: Vec<String> = (3..3 + MAX_FILES).map(|i| format!("P{i}")).collect();
    for (n, name) in names.iter().enumerate() {
        rows.push((name, 4.0));
        let commit = upsert_round(catalogue(&rows)).await;
        let (files, prices, _) = state().await;
        assert_eq!(prices.len(), rows.len(), "every key once");
        if n + 1 < MAX_FILES {
            assert_eq!(
                (commit.files_added, commit.files_removed, files),
                (1, 0, n + 2)
            );
        } else {
            assert_eq!((commit.files_added, files), (1, 1), "compacted: {commit:?}");
            assert_eq!(commit.rows_written, rows.len() as u64);
        }
    }
}

/// Customers as a stage's reduction leaves them: `first_order_date` moved to the end, as the
/// transformer's did when the pipeline wedged on its 7th round.
fn customers_out_of_order(ids: &[&str], segment: &str) -> DataFrame {
    let n = ids.len();
    df!(
        "customer_id" => ids,
        "customer_name" => vec!["Ada"; n],
        "customer_email" => vec!["ada@example.com"; n],
        "customer_country" => vec!["DE"; n],
        "customer_segment" => vec![segment; n],
        "updated_at" => vec![1_000_000i64; n],
        "run_id" => vec!["r"; n],
        "first_order_date" => vec![20_454i32; n],
    )
    .unwrap()
    .lazy()
    .with_columns([
        col("first_order_date").cast(DataType::Date),
        col("updated_at").cast(DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        )),
    ])
    .collect()
    .unwrap()
}

/// A stage's reduction that puts the columns in an order of its own.
fn reorder(rows: &DataFrame) -> PolarsResult<DataFrame> {
    let mut names: Vec<String> = rows
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.reverse();
    let latest = latest(rows, "customer_id")?;
    latest.select(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_whose_columns_come_in_any_order_are_written_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let write = |rows: DataFrame| {
        TableWrite::new(
            &CUSTOMERS,
            Change::Upsert {
                rows: Rows::Frame(rows),
                reduce: Some(reorder),
            },
        )
    };
    // New keys, past MAX_FILES appends (a compaction concatenates the table's rows with the
    // batch's), then a changed key (a rewrite does too).
    for n in 0..=MAX_FILES as u32 {
        let id = format!("C{n}");
        write(customers_out_of_order(&[&id], "consumer"))
            .apply(&warehouse, &run(n), &quick())
            .await
            .unwrap();
    }
    let changed = write(customers_out_of_order(&["C0"], "premium"))
        .apply(&warehouse, &run(100), &quick())
        .await
        .unwrap();
    assert!(changed.files_removed > 0, "{changed:?}");
    let rows = sorted_rows(&warehouse, &CUSTOMERS, "customer_id").await;
    assert_eq!(rows.height(), MAX_FILES + 1);
    let names: Vec<&str> = rows.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(names, CUSTOMERS.column_names().collect::<Vec<_>>());
    assert_eq!(strings(&rows, "customer_segment")[0], "premium");
}

/// A dimension mirroring `customers_transformed` takes the files its source appended since the
/// last mirror as they are (two appends in one go: nothing of its own rewritten), compares the
/// whole tables after the source rewrote a changed key, commits nothing when the source has not
/// moved, and holds the source's rows after every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_takes_what_its_source_gained_and_holds_the_source_rows() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let source = |ids: &[&str], segment: &str| {
        TableWrite::new(
            &CUSTOMERS,
            Change::Upsert {
                rows: Rows::Frame(customers_out_of_order(ids, segment)),
                reduce: None,
            },
        )
    };
    let mirror = TableWrite::new(&DIM_CUSTOMERS, Change::Mirror { source: &CUSTOMERS });
    let apply = async |write: &TableWrite, n: u32| {
        write.apply(&warehouse, &run(n), &quick()).await.unwrap()
    };
    let agree = async || {
        let want = sorted_rows(&warehouse, &CUSTOMERS, "customer_id").await;
        let have = sorted_rows(&warehouse, &DIM_CUSTOMERS, "customer_id").await;
        for column in ["customer_id", "customer_segment"] {
            assert_eq!(strings(&have, column), strings(&want, column), "{column}");
        }
    };

    apply(&source(&["C1", "C2"], "consumer"), 1).await;
    apply(&mirror, 2).await;
    agree().await;

    let appended = apply(&source(&["C3"], "consumer"), 3).await;
    assert_eq!(appended.files_removed, 0, "{appended:?}");
    apply(&source(&["C4", "C5"], "consumer"), 4).await;
    let gained = apply(&mirror, 5).await;
    assert_eq!(
        (
            gained.files_added,
            gained.files_removed,
            gained.rows_written
        ),
        (1, 0, 3),
        "{gained:?}"
    );
    agree().await;

    let idle = apply(&mirror, 6).await;
    assert_eq!((idle.snapshot_id, idle.rows_written), (None, 0), "{idle:?}");

    let changed = apply(&source(&["C1"], "premium"), 7).await;
    assert!(changed.files_removed > 0, "{changed:?}");
    let compared = apply(&mirror, 8).await;
    assert!(compared.files_removed > 0, "{compared:?}");
    agree().await;
    let have = sorted_rows(&warehouse, &DIM_CUSTOMERS, "customer_id").await;
    assert_eq!(strings(&have, "customer_segment")[0], "premium");
}

/// The quarantine as lakes created before its later columns have it.
const OLD_QUARANTINE: TableDef = TableDef {
    columns: &[
        ("reason", Col::Str, true),
        ("order_id", Col::Str, false),
        ("customer_id", Col::Str, false),
        ("product_id", Col::Str, false),
        ("quantity", Col::Str, false),
        ("unit_price", Col::Str, false),
        ("amount", Col::Str, false),
        ("status", Col::Str, false),
        ("order_date", Col::Str, false),
        ("updated_at", Col::Str, false),
        ("run_id", Col::Str, true),
    ],
    ..QUARANTINE
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_gains_its_new_columns_by_schema_evolution_keeping_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let old_rows = df!(
        "reason" => ["invalid_quantity", "missing_order_id"],
        "order_id" => [Some("A"), None],
        "quantity" => [Some("two"), Some("1")],
        "run_id" => ["r1", "r1"],
    )
    .unwrap();
    let old_rows = conform_read(old_rows, &OLD_QUARANTINE).collect().unwrap();
    let append = |def: &'static TableDef, rows: DataFrame| {
        TableWrite::new(
            def,
            Change::AppendNew {
                rows,
                on: &["reason", "order_id"],
            },
        )
    };
    append(&OLD_QUARANTINE, old_rows)
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();
    let before = warehouse.require(QUARANTINE.name).await.unwrap();
    let first_snapshot = *before
        .metadata()
        .current_snapshot(None)
        .unwrap()
        .unwrap()
        .snapshot_id();

    // The same table under today's definition: the missing columns are added, optional, with
    // new field ids, and the new rows carry them.
    let row = df!(
        "reason" => ["malformed_record"],
        "raw" => ["[1, 2]"],
        "part" => ["raw/p.json"],
        "line" => [7i64],
        "raw_hash" => ["h"],
        "run_id" => ["r2"],
    )
    .unwrap();
    // The columns it does not name are null.
    let new_rows = conform_read(row, &QUARANTINE).collect().unwrap();
    let added = append(&QUARANTINE, new_rows)
        .apply(&warehouse, &run(2), &quick())
        .await
        .unwrap();
    assert_eq!(
        (added.rows_written, added.already_committed),
        (1, false),
        "{added:?}"
    );

    let table = warehouse.require(QUARANTINE.name).await.unwrap();
    let schema = lakehouse_tables::live::table_schema(table.metadata()).unwrap();
    // The new snapshot records the schema it was written with.
    let current = table.metadata().current_snapshot(None).unwrap().unwrap();
    assert_eq!(
        *current.schema_id(),
        Some(table.metadata().current_schema_id)
    );
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, QUARANTINE.column_names().collect::<Vec<_>>());
    let ids: Vec<i32> = schema.fields().iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        (1..=QUARANTINE.columns.len() as i32).collect::<Vec<_>>()
    );
    // History kept: the first snapshot is still there; the evolution made one of the same
    // files under the new schema, and the append its own.
    assert!(table.metadata().snapshots.contains_key(&first_snapshot));
    assert_eq!(table.metadata().snapshots.len(), 3);
    assert_eq!(table.metadata().schemas.len(), 2);
    assert_eq!(
        live_files(&table, None).await.unwrap().len(),
        2,
        "no file dropped"
    );
    let rows = sorted_rows(&warehouse, &QUARANTINE, "reason").await;
    assert_eq!(
        strings(&rows, "reason"),
        ["invalid_quantity", "malformed_record", "missing_order_id"]
    );
    assert_eq!(strings(&rows, "raw"), ["<null>", "[1, 2]", "<null>"]);
    assert_eq!(strings(&rows, "order_id"), ["A", "<null>", "<null>"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_keeps_the_rows_drops_the_rest_and_a_rerun_of_an_expired_run_is_a_no_op() {
    use lakehouse_tables::maintain::{Options, maintain};
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    // Five runs replace the same two days: every run leaves two files behind.
    let days = [20_454, JAN_2];
    let write = |amount: f64| {
        replace(
            &days,
            facts(&[("a", "2026-01-01", amount), ("b", "2026-01-02", amount)]),
        )
    };
    for n in 1..=5u32 {
        write(f64::from(n))
            .apply(&warehouse, &run(n), &quick())
            .await
            .unwrap();
    }
    // Plus a stray file of a failed commit, which nothing references.
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let location = table.metadata().location.clone();
    std::fs::write(format!("{location}/data/orphan.parquet"), b"not committed").unwrap();
    let files_on_disk = || {
        walk(std::path::Path::new(&format!("{location}/data")))
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .count()
    };
    assert_eq!(files_on_disk(), 11);

    let options = Options {
        older_than: chrono::Duration::zero(),
        keep_last: 2,
        margin: chrono::Duration::zero(),
        ..Options::default()
    };
    let dry = maintain(
        &warehouse,
        &run(90),
        &quick(),
        &Options {
            dry_run: true,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (dry[0].snapshots_expired, dry[0].files_deleted),
        (3, 7),
        "{dry:?}"
    );
    assert_eq!(files_on_disk(), 11, "a dry run deletes nothing");

    // Run 3 crashed between its commit and its ledger record, and nothing finished it since:
    // only its snapshot, which this maintenance expires, knows it committed.
    let lake = lake(&dir);
    let record = layout::ledger_key(&run(3), &format!("tables/{}", FACT_SALES.name));
    assert!(lake.exists(&record).await.unwrap());
    lake.delete(&record).await.unwrap();

    let reports = maintain(&warehouse, &run(91), &quick(), &options)
        .await
        .unwrap();
    let report = &reports[0];
    assert_eq!(report.table, FACT_SALES.name);
    assert_eq!(
        (report.snapshots_expired, report.snapshots_kept),
        (3, 2),
        "{report:?}"
    );
    // Kept: the two files of each of the two retained snapshots; the orphan is gone.
    assert_eq!(files_on_disk(), 4, "{report:?}");
    assert_eq!(fact_amounts(&warehouse).await, [5.0, 5.0]);

    // The snapshots of runs 2 and 3 are gone; their re-runs still commit nothing: the ledger
    // knows run 2 from its commit, and run 3 from what maintenance recorded before expiring.
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let snapshots = table.metadata().snapshots.len();
    for n in [2, 3] {
        let again = write(99.0)
            .apply(&warehouse, &run(n), &quick())
            .await
            .unwrap();
        assert!(again.already_committed, "run {n}: {again:?}");
    }
    assert!(lake.exists(&record).await.unwrap());
    assert_eq!(
        warehouse
            .require(FACT_SALES.name)
            .await
            .unwrap()
            .metadata()
            .snapshots
            .len(),
        snapshots
    );
    assert_eq!(fact_amounts(&warehouse).await, [5.0, 5.0]);
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_lake_at_another_path_refuses_to_touch_the_tables_it_names() {
    use lakehouse_tables::{
        TablesError,
        maintain::{Options, maintain},
    };
    let original = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&original)).await.unwrap();
    replace(&[20_454], facts(&[("a", "2026-01-01", 1.0)]))
        .apply(&warehouse, &run(1), &quick())
        .await
        .unwrap();
    let copy = tempfile::tempdir().unwrap();
    for file in walk(original.path()) {
        let to = copy.path().join(
            std::path::Path::new(&file)
                .strip_prefix(original.path())
                .unwrap(),
        );
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    let files = || {
        let mut files = walk(original.path());
        files.sort();
        files
    };
    let before = files();

    let copied = Warehouse::open(&lake(&copy)).await.unwrap();
    let refused = |e: TablesError| {
        assert!(matches!(e, TablesError::Moved { .. }), "{e}");
        assert!(e.to_string().contains("copied or moved"), "{e}");
    };
    refused(copied.load(FACT_SALES.name).await.unwrap_err());
    refused(
        replace(&[20_454], facts(&[("a", "2026-01-01", 2.0)]))
            .apply(&copied, &run(2), &quick())
            .await
            .unwrap_err(),
    );
    let eager = Options {
        older_than: chrono::Duration::zero(),
        margin: chrono::Duration::zero(),
        ..Options::default()
    };
    refused(
        maintain(&copied, &run(3), &quick(), &eager)
            .await
            .unwrap_err(),
    );

    assert_eq!(files(), before, "the original lake is untouched");
    assert_eq!(fact_amounts(&warehouse).await, [1.0]);
}
