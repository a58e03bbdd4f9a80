//! The Lambda handler with the events/ fixture and after a real extract and transform.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gold_builder::{Deps, GoldBuilder};
use lakehouse_core::{
    Lake,
    contracts::{ExtractInput, Mode, TransformOutput},
    store::LakeLocation,
};
use lakehouse_runtime::{Context, LambdaEvent, invoke};
use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, serve_on_loopback};

fn lake(dir: &tempfile::TempDir) -> Lake {
    Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), Default::default()).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silver_becomes_a_star_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(&dir);
    let store = SyntheticStore::new(StoreConfig {
        orders: 2_000,
        ..StoreConfig::default()
    })
    .unwrap();
    let clock = Clock::fixed(store.config().day0_end());
    let (url, _server) = serve_on_loopback(Arc::new(SourceState { store, clock }))
        .await
        .unwrap();
    let extract = extractor::Deps::new(
        lake.clone(),
        extractor::Config::new(url),
        Default::default(),
    )
    .await
    .unwrap();
    let landed = extractor::run(
        ExtractInput {
            mode: Mode::Full,
            run_id: None,
            lease: None,
        },
        &extract,
    )
    .await
    .unwrap();
    let silver_deps = transformer::Deps::new(lake.clone(), Default::default())
        .await
        .unwrap();
    let silver = transformer::run(landed, &silver_deps).await.unwrap();
    let deps = Deps::new(lake.clone(), Default::default()).await.unwrap();

    let out = invoke::<GoldBuilder>(LambdaEvent::new(silver.clone(), Context::default()), &deps)
        .await
        .unwrap();
    let names: Vec<&str> = out.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(
        names,
        ["fact_sales", "dim_customers", "dim_products", "dim_dates"]
    );
    assert_eq!(out.tables[0].rows_written, silver.rows_valid);
    assert!(
        lake.exists(&out.report_key).await.unwrap(),
        "{}",
        out.report_key
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_without_silver_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let fixture: TransformOutput =
        serde_json::from_str(include_str!("../../../events/gold-builder.json")).unwrap();
    let deps = Deps::new(lake(&dir), Default::default()).await.unwrap();
    let err = invoke::<GoldBuilder>(LambdaEvent::new(fixture, Context::default()), &deps)
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "InvalidInput");
    assert!(
        err.error_message.contains("does not exist yet"),
        "{}",
        err.error_message
    );
}
