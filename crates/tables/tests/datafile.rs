//! Data files written by `datafile::write_frame` on a local lake: one file per day, statistics
//! and partition values true to the rows (and no bounds where they would prune nothing), field
//! ids in the Parquet schema, the dictionary only on columns whose values repeat, and every row
//! read back unchanged; and files cut to the table's target size, which compaction keeps to.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use iceberg_rust::spec::{util::strip_prefix, values::Value};
use lakehouse_core::runid::RunId;
use lakehouse_core::{Lake, config::S3Settings, store::LakeLocation};
use lakehouse_tables::{
    Change, Rows, TableWrite, Warehouse,
    bridge::{conform, read_files},
    commit::RetryPolicy,
    datafile::{TARGET_FILE_SIZE, write_frame},
    live::{LiveFile, live_files},
    maintain::{Options, maintain},
    schemas::FACT_SALES,
};
use object_store::{ObjectStoreExt, path::Path};
use parquet::{basic::Encoding, file::metadata::ParquetMetaDataReader};
use polars::prelude::*;

/// 30,000 facts over two days: unique order ids, five statuses, amounts 0.5 apart, a thousand
/// products in no order, unit prices drawn from 300,000, and timestamps four to a value in
/// each file's first rows and unique after them.
fn facts() -> DataFrame {
    let n = 30_000;
    let statuses = ["placed", "shipped", "delivered", "cancelled", "returned"];
    // One of `values`, spread over the rows by a multiplicative hash.
    let scattered =
        |i: usize, values: u64| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % values;
    let rows = df!(
        "order_id" => (0..n).map(|i| format!("ORD-{i:06}")).collect::<Vec<_>>(),
        "customer_id" => (0..n).map(|i| format!("C{}", i % 7)).collect::<Vec<_>>(),
        "product_id" => (0..n).map(|i| format!("P{}", scattered(i, 1_000))).collect::<Vec<_>>(),
        "order_date" => (0..n).map(|i| if i % 3 == 0 { "2026-01-02" } else { "2026-01-01" }).collect::<Vec<_>>(),
        "quantity" => vec![1i64; n],
        "unit_price" => (0..n).map(|i| scattered(i, 300_000) as f64 / 100.0).collect::<Vec<_>>(),
        "amount" => (0..n).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
        "status" => (0..n).map(|i| statuses[i % 5]).collect::<Vec<_>>(),
        "order_year" => vec![2026i32; n],
        "order_month" => vec![1i32; n],
        "updated_at" => (0..n as i64).map(|i| 1_767_225_600_000_000 + if i < 4_000 { i / 4 } else { i }).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_column(col("order_date").str().to_date(StrptimeOptions::default()));
    conform(rows, &FACT_SALES).collect().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hold_their_partitions_rows_with_true_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = local_warehouse(&dir).await;
    let table = warehouse.load_or_create(&FACT_SALES).await.unwrap();
    let input = facts();
    let files = write_frame(&table, &FACT_SALES, input.clone())
        .await
        .unwrap();
    assert_eq!(files.len(), 2, "one file per day");

    let schema = table.current_schema(None).unwrap();
    let id = |name: &str| schema.get_name(name).unwrap().id;
    for file in &files {
        let day = match file.partition().get("order_date_day") {
            Some(Some(Value::Int(d))) => *d,
            other => panic!("partition value {other:?}"),
        };
        let rows = input
            .clone()
            .lazy()
            .filter(col("order_date").cast(DataType::Int32).eq(lit(day)))
            .collect()
            .unwrap();
        assert!(day == 20_454 || day == 20_455, "{day}");
        assert_eq!(*file.record_count(), rows.height() as i64);
        let amounts = rows.column("amount").unwrap().f64().unwrap();
        let bound = |bounds: &Option<std::collections::HashMap<i32, Value>>| {
            bounds.as_ref().unwrap().get(&id("amount")).cloned()
        };
        assert_eq!(
            bound(file.lower_bounds()),
            Some(Value::Double(amounts.min().unwrap().into()))
        );
        assert_eq!(
            bound(file.upper_bounds()),
            Some(Value::Double(amounts.max().unwrap().into()))
        );

        // Columns whose bounds would prune nothing have none; the others keep theirs.
        let bounded = |name: &str| {
            let lower = file.lower_bounds().as_ref().unwrap();
            let upper = file.upper_bounds().as_ref().unwrap();
            match (lower.contains_key(&id(name)), upper.contains_key(&id(name))) {
                (true, true) => true,
                (false, false) => false,
                _ => panic!("{name} has one bound"),
            }
        };
        for name in FACT_SALES.column_names() {
            let expected = !FACT_SALES.unbounded().contains(&name);
            assert_eq!(bounded(name), expected, "{name}");
        }
        assert!(!bounded("customer_id") && bounded("order_id") && bounded("order_date"));

        let key = Path::from(strip_prefix(file.file_path()));
        let bytes = table
            .object_store()
            .get(&key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as i64, *file.file_size_in_bytes());
        let footer = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        let parquet_schema = footer.file_metadata().schema_descr();
        let row_group = footer.row_group(0);
        for (i, column) in parquet_schema.columns().iter().enumerate() {
            let name = column.name();
            assert_eq!(column.self_type().get_basic_info().id(), id(name), "{name}");
            let dictionary = row_group
                .column(i)
                .encodings()
                .any(|e| e == Encoding::RLE_DICTIONARY);
            // Unique or nearly unique per row: no dictionary. Values that repeat: dictionary,
            // product ids too, though a thousand sampled rows show them mostly distinct.
            match name {
                "order_id" | "amount" | "updated_at" | "unit_price" => {
                    assert!(!dictionary, "{name}")
                }
                "status" | "customer_id" | "product_id" | "order_date" => {
                    assert!(dictionary, "{name}")
                }
                _ => {}
            }
        }
    }

    let paths: Vec<String> = files.iter().map(|f| f.file_path().clone()).collect();
    let back = read_files(&table, &FACT_SALES, &paths).await.unwrap();
    let back = conform(back.lazy(), &FACT_SALES)
        .sort(["order_id"], Default::default())
        .collect()
        .unwrap();
    assert!(back.equals_missing(&input), "{back}\n{input}");
}

async fn local_warehouse(dir: &tempfile::TempDir) -> Warehouse {
    let location = LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default());
    Warehouse::open(&Lake::open(location.unwrap()).unwrap())
        .await
        .unwrap()
}

/// The live files of the first day, and their bytes.
async fn first_day(warehouse: &Warehouse) -> (Vec<LiveFile>, i64) {
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let files: Vec<LiveFile> = live_files(&table, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.day == Some(20_454))
        .collect();
    let bytes = files.iter().map(|f| f.bytes).sum();
    (files, bytes)
}

/// Ten appends of 3,000 facts leave ten small files in each day. With the table's target
/// file size (`write.target-file-size-bytes`) set to two fifths of the first day's bytes,
/// maintenance folds each day's files into files of about the target (the first day into
/// several, none under half the target), keeps every row, and finds nothing to compact the
/// next time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_cut_to_the_tables_target_size_and_compaction_keeps_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = local_warehouse(&dir).await;
    let input = facts();
    for n in 0..10 {
        let rows = input.slice(n * 3_000, 3_000);
        let run = RunId::parse(&format!("20260101T00000{n}Z-target")).unwrap();
        let append = Change::ReplacePartitions {
            days: Vec::new(),
            rows: Rows::Frame(rows),
        };
        TableWrite::new(&FACT_SALES, append)
            .apply(&warehouse, &run, &RetryPolicy::default())
            .await
            .unwrap();
    }
    let (small, bytes) = first_day(&warehouse).await;
    assert_eq!(small.len(), 10);
    let target = bytes * 2 / 5;
    warehouse
        .require(FACT_SALES.name)
        .await
        .unwrap()
        .new_transaction(None)
        .update_properties(vec![(TARGET_FILE_SIZE.into(), target.to_string())])
        .commit()
        .await
        .unwrap();

    let run = RunId::parse("20260102T000000Z-maintain").unwrap();
    let options = Options::default();
    let reports = maintain(&warehouse, &run, &RetryPolicy::default(), &options)
        .await
        .unwrap();
    assert_eq!(reports[0].files_compacted, 20, "{reports:?}");
    let (cut, _) = first_day(&warehouse).await;
    assert!(
        cut.len() >= 2,
        "one day of {bytes} bytes, target {target}: {cut:?}"
    );
    for file in &cut {
        assert!(
            file.bytes >= target / 2 && file.bytes <= target * 3 / 2,
            "a file of {} bytes for a target of {target}",
            file.bytes
        );
    }
    let table = warehouse.require(FACT_SALES.name).await.unwrap();
    let live = live_files(&table, None).await.unwrap();
    let paths: Vec<String> = live.iter().map(|f| f.path.clone()).collect();
    let back = read_files(&table, &FACT_SALES, &paths).await.unwrap();
    let back = conform(back.lazy(), &FACT_SALES)
        .sort(["order_id"], Default::default())
        .collect()
        .unwrap();
    assert!(
        back.equals_missing(&input),
        "rows changed by the compaction"
    );

    let again = RunId::parse("20260103T000000Z-maintain").unwrap();
    let reports = maintain(&warehouse, &again, &RetryPolicy::default(), &options)
        .await
        .unwrap();
    assert_eq!(reports[0].files_compacted, 0, "{reports:?}");
}
