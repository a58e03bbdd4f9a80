//! Commits against a real file catalog on a local directory: run-id idempotency, conflicts
//! between two writers, partition-scoped overwrites, and entity tables that take only their new
//! and changed keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::atomic::{AtomicUsize, Ordering};

use lakehouse_core::{Lake, config::S3Settings, runid::RunId, store::LakeLocation};
use lakehouse_tables::{
    TablesError, Warehouse,
    bridge::read_live,
    commit::{LiveFile, RetryPolicy, commit_run, live_files, rewrite},
    entity::{MAX_FILES, upsert},
    schemas::{DIM_PRODUCTS, FACT_SALES, TableDef},
};
use polars::prelude::*;

fn lake(dir: &tempfile::TempDir) -> Lake {
    Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default()).unwrap())
        .unwrap()
}

fn products(ids: &[&str]) -> LazyFrame {
    df!(
        "product_id" => ids,
        "product_name" => ids,
        "product_category" => ids.iter().map(|_| "home").collect::<Vec<_>>(),
        "unit_price" => ids.iter().map(|_| 9.5).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
}

fn run(n: u32) -> RunId {
    RunId::parse(&format!("20260101T00000{n}Z-test{n}")).unwrap()
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

async fn ids(warehouse: &Warehouse) -> Vec<String> {
    let df = sorted_rows(warehouse, &DIM_PRODUCTS, "product_id").await;
    df.column("product_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_commit_is_reapplied_on_the_new_state_and_a_rerun_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(&dir);
    // Two writers with catalogs of their own, as two Lambda invocations would have.
    let first = Warehouse::open(&lake).await.unwrap();
    let second = Warehouse::open(&lake).await.unwrap();
    let policy = RetryPolicy {
        first_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    commit_run::<TablesError>(&first, &DIM_PRODUCTS, &run(0), &policy, async |table| {
        rewrite(table, &DIM_PRODUCTS, products(&["P0"]), &[]).await
    })
    .await
    .unwrap();

    let attempts = AtomicUsize::new(0);
    let result =
        commit_run::<TablesError>(&first, &DIM_PRODUCTS, &run(1), &policy, async |table| {
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                // The other writer commits between our read and our commit.
                commit_run::<TablesError>(&second, &DIM_PRODUCTS, &run(2), &policy, async |t| {
                    rewrite(t, &DIM_PRODUCTS, products(&["P2"]), &[]).await
                })
                .await
                .unwrap();
            }
            rewrite(table, &DIM_PRODUCTS, products(&["P1"]), &[]).await
        })
        .await
        .unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the first attempt must have lost the race"
    );
    assert!(!result.already_committed);
    assert_eq!(
        ids(&first).await,
        ["P0", "P1", "P2"],
        "no commit may be lost"
    );

    let snapshots = |w: &Warehouse| {
        let w = w.clone();
        async move {
            w.require(DIM_PRODUCTS.name)
                .await
                .unwrap()
                .metadata()
                .snapshots
                .len()
        }
    };
    assert_eq!(snapshots(&first).await, 3);
    let again =
        commit_run::<TablesError>(&second, &DIM_PRODUCTS, &run(1), &policy, async |table| {
            rewrite(table, &DIM_PRODUCTS, products(&["P1"]), &[]).await
        })
        .await
        .unwrap();
    assert!(again.already_committed);
    assert_eq!(again.snapshot_id, result.snapshot_id);
    assert_eq!(snapshots(&first).await, 3, "a re-run adds no snapshot");
    assert_eq!(ids(&first).await, ["P0", "P1", "P2"]);
}

fn facts(dates: &[&str], ids: &[&str], amount: f64) -> LazyFrame {
    let n = ids.len();
    df!(
        "order_id" => ids,
        "customer_id" => vec!["C"; n],
        "product_id" => vec!["P"; n],
        "order_date" => dates,
        "quantity" => vec![1i64; n],
        "unit_price" => vec![amount; n],
        "amount" => vec![amount; n],
        "status" => vec!["placed"; n],
        "order_year" => vec![2026i32; n],
        "order_month" => vec![1i32; n],
        "updated_at" => vec![0i64; n],
    )
    .unwrap()
    .lazy()
    .with_columns([
        col("order_date").str().to_date(StrptimeOptions::default()),
        col("updated_at").cast(DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        )),
    ])
}

/// fact_sales' amounts in order_id order, as a reader of the table sees them.
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

/// Commits `first` as fact_sales' first run; the live files that result.
async fn first_facts(warehouse: &Warehouse, first: LazyFrame) -> Vec<LiveFile> {
    commit_run::<TablesError>(
        warehouse,
        &FACT_SALES,
        &run(1),
        &RetryPolicy::default(),
        async |table| rewrite(table, &FACT_SALES, first.clone(), &[]).await,
    )
    .await
    .unwrap();
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    live_files(&table).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_replaces_only_the_partitions_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let policy = RetryPolicy::default();
    let first = facts(
        &["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-01"],
        &["a", "b", "c", "d"],
        5.0,
    );
    let before = first_facts(&warehouse, first).await;
    assert_eq!(before.len(), 3, "one file per day partition: {before:?}");

    let day2 = before
        .iter()
        .find(|f| f.day == Some(20_455))
        .unwrap()
        .clone();
    commit_run::<TablesError>(&warehouse, &FACT_SALES, &run(2), &policy, async |table| {
        rewrite(
            table,
            &FACT_SALES,
            facts(&["2026-01-02"], &["c"], 7.0),
            &[&day2],
        )
        .await
    })
    .await
    .unwrap();
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let after = live_files(&table).await.unwrap();
    assert_eq!(after.len(), 3);
    for f in &before {
        let kept = after.iter().any(|a| a.path == f.path);
        assert_eq!(kept, f.day != Some(20_455), "{f:?}");
    }
    let amounts = fact_amounts(&warehouse).await;
    assert_eq!(amounts, [5.0, 5.0, 7.0, 5.0]);
}

/// iceberg-rust 0.10's overwrite panics once the files to drop span two manifests; the commit
/// must still land, with exactly the rows the plan describes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_across_several_manifests_lands() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let policy = RetryPolicy::default();
    // Eight day partitions in one append: iceberg-rust splits them over two manifests.
    let days: Vec<String> = (1..=8).map(|d| format!("2026-01-0{d}")).collect();
    let ids: Vec<String> = (1..=8).map(|d| format!("o{d}")).collect();
    let day_refs: Vec<&str> = days.iter().map(String::as_str).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let first = facts(&day_refs, &id_refs, 5.0);
    let before = first_facts(&warehouse, first).await;
    let manifests: std::collections::HashSet<_> = before.iter().map(|f| &f.manifest).collect();
    assert!(
        manifests.len() > 1,
        "the scenario needs several manifests: {before:?}"
    );

    // Rewrite the first and the last day, whose files sit in different manifests.
    let (first_day, last_day) = (20_454, 20_461);
    let replaced: Vec<LiveFile> = before
        .iter()
        .filter(|f| f.day == Some(first_day) || f.day == Some(last_day))
        .cloned()
        .collect();
    assert_ne!(replaced[0].manifest, replaced[1].manifest, "{replaced:?}");
    for round in 2..=3 {
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        let live = live_files(&table).await.unwrap();
        let replaced: Vec<&LiveFile> = live
            .iter()
            .filter(|f| f.day == Some(first_day) || f.day == Some(last_day))
            .collect();
        let update = facts(&["2026-01-01", "2026-01-08"], &["o1", "o8"], round as f64);
        commit_run::<TablesError>(
            &warehouse,
            &FACT_SALES,
            &run(round),
            &policy,
            async |table| rewrite(table, &FACT_SALES, update.clone(), &replaced).await,
        )
        .await
        .unwrap();
    }
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    assert_eq!(live_files(&table).await.unwrap().len(), 8);
    let amounts = fact_amounts(&warehouse).await;
    assert_eq!(amounts, [3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 3.0]);
}

/// A product catalogue of (id, price).
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_table_takes_only_its_new_and_changed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&lake(&dir)).await.unwrap();
    let policy = RetryPolicy::default();
    let mut round = 0;
    let mut upsert_round = async |wanted: DataFrame| {
        round += 1;
        let run = RunId::parse(&format!("20260102T0000{round:02}Z-entity{round}")).unwrap();
        commit_run::<TablesError>(&warehouse, &DIM_PRODUCTS, &run, &policy, async |table| {
            let live = live_files(table).await?;
            let all: Vec<&LiveFile> = live.iter().collect();
            let have = read_live(table, &DIM_PRODUCTS, &all).await?.collect()?;
            upsert(table, &DIM_PRODUCTS, have, wanted.clone(), &all).await
        })
        .await
        .unwrap()
    };
    let state = async || {
        let table = warehouse.require(DIM_PRODUCTS.name).await.unwrap();
        let files = live_files(&table).await.unwrap().len();
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
