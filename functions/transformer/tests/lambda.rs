//! The Lambda handler with the events/ fixture and with a real extraction in a temporary lake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lakehouse_core::{
    Lake,
    contracts::{ExtractInput, ExtractOutput, Manifest, Mode},
    store::LakeLocation,
};
use lakehouse_runtime::{Context, LambdaEvent, invoke};
use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, serve_on_loopback};
use transformer::{Deps, Transformer};

fn event(payload: ExtractOutput) -> LambdaEvent<ExtractOutput> {
    LambdaEvent::new(payload, Context::default())
}

async fn extracted(dir: &tempfile::TempDir) -> (Lake, ExtractOutput) {
    let lake =
        Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), Default::default()).unwrap())
            .unwrap();
    let store = SyntheticStore::new(StoreConfig {
        orders: 2_000,
        ..StoreConfig::default()
    })
    .unwrap();
    let clock = Clock::fixed(store.config().day0_end());
    let (url, _server) = serve_on_loopback(Arc::new(SourceState { store, clock }))
        .await
        .unwrap();
    let deps = extractor::Deps::new(
        lake.clone(),
        extractor::Config::new(url),
        Default::default(),
    )
    .await
    .unwrap();
    let out = extractor::run(
        ExtractInput {
            mode: Mode::Full,
            run_id: None,
            lease: None,
        },
        &deps,
    )
    .await
    .unwrap();
    (lake, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landed_run_becomes_silver() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, landed) = extracted(&dir).await;
    let deps = Deps::new(lake, Default::default()).await.unwrap();
    let out = invoke::<Transformer>(event(landed.clone()), &deps)
        .await
        .unwrap();
    assert_eq!(out.rows_in, landed.records);
    assert_eq!(out.rows_in, out.rows_valid + out.quarantined);
    assert!(
        out.quarantined > 0 && !out.touched_dates.is_empty(),
        "{out:?}"
    );
    let names: Vec<&str> = out.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(
        names,
        [
            "orders_transformed",
            "customers_transformed",
            "products_transformed",
            "orders_quarantine"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_the_error_type_the_state_machine_matches() {
    let dir = tempfile::tempdir().unwrap();
    let fixture: ExtractOutput =
        serde_json::from_str(include_str!("../../../events/transformer.json")).unwrap();
    let empty =
        Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), Default::default()).unwrap())
            .unwrap();
    let missing = invoke::<Transformer>(
        event(fixture),
        &Deps::new(empty, Default::default()).await.unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type, "InvalidInput");
    assert!(
        missing.error_message.contains("no manifest"),
        "{}",
        missing.error_message
    );

    // A part altered after landing no longer matches its manifest checksum.
    let dir = tempfile::tempdir().unwrap();
    let (lake, landed) = extracted(&dir).await;
    let manifest: Manifest = lake.get_json(&landed.manifest_key).await.unwrap().unwrap();
    lake.put(
        &manifest.parts[0].key,
        bytes_of("{\"order_id\": \"tampered\"}\n"),
    )
    .await
    .unwrap();
    let corrupt = invoke::<Transformer>(
        event(landed),
        &Deps::new(lake, Default::default()).await.unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        corrupt.error_type, "DataQuality",
        "{}",
        corrupt.error_message
    );
}

fn bytes_of(s: &'static str) -> bytes::Bytes {
    bytes::Bytes::from_static(s.as_bytes())
}
