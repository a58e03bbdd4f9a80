//! The Lambda handler with the events/ fixtures, against the real source API on loopback and a
//! lake in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use extractor::{Config, Deps, Extractor, RetryPolicy};
use lakehouse_core::{Lake, contracts::ExtractInput, lease::LeaseConfig, store::LakeLocation};
use lakehouse_runtime::{Context, LambdaEvent, invoke};
use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, serve_on_loopback};

fn event(json: &str) -> LambdaEvent<ExtractInput> {
    LambdaEvent::new(serde_json::from_str(json).unwrap(), Context::default())
}

async fn deps(api_url: &str, dir: &tempfile::TempDir) -> Deps {
    let lake =
        Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), Default::default()).unwrap())
            .unwrap();
    let mut config = Config::new(api_url);
    config.retry = RetryPolicy {
        max_attempts: 2,
        first_backoff: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    // A short lease, so a test can outwait a run that keeps it for its next stage.
    let lease = LeaseConfig {
        ttl: Duration::from_millis(1_500),
        wait: Duration::ZERO,
    };
    Deps::new(lake, config, lease).await.unwrap()
}

async fn source() -> (Arc<SourceState>, String) {
    let store = SyntheticStore::new(StoreConfig {
        orders: 2_000,
        ..StoreConfig::default()
    })
    .unwrap();
    let clock = Clock::fixed(store.config().day0_end());
    let state = Arc::new(SourceState { store, clock });
    let (url, _server) = serve_on_loopback(state.clone()).await.unwrap();
    (state, url)
}

#[tokio::test]
async fn the_full_then_the_incremental_event_land_raw_data() {
    let (state, url) = source().await;
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(&url, &dir).await;
    let full = invoke::<Extractor>(
        event(include_str!("../../../events/extractor-full.json")),
        &deps,
    )
    .await
    .unwrap();
    assert!(full.records > 1_900 && full.extracted, "{full:?}");
    assert!(
        full.manifest_key.starts_with("raw/full/"),
        "{}",
        full.manifest_key
    );
    state
        .clock
        .set(full.window.until + chrono::Duration::hours(12));
    // The full run keeps the lake's lease for its transform stage: a run of another owner is
    // turned away, naming the holder, until the claim expires.
    let busy = invoke::<Extractor>(
        event(include_str!("../../../events/extractor-incremental.json")),
        &deps,
    )
    .await
    .unwrap_err();
    assert_eq!(busy.error_type, "LakeBusy", "{}", busy.error_message);
    assert!(
        busy.error_message.contains(full.run_id.as_str()),
        "{}",
        busy.error_message
    );
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let incr = invoke::<Extractor>(
        event(include_str!("../../../events/extractor-incremental.json")),
        &deps,
    )
    .await
    .unwrap();
    assert!(
        incr.records > 0 && incr.manifest_key.starts_with("raw/increment/"),
        "{incr:?}"
    );
    // The full run never went through transform and gold: the incremental run names it as
    // pending, to be finished first.
    let pending: Vec<_> = incr.pending.iter().map(|p| &p.run_id).collect();
    assert_eq!(pending, [&full.run_id]);
    assert_eq!(
        incr.window.since,
        Some(full.window.until - chrono::Duration::minutes(15))
    );
}

#[tokio::test]
async fn failures_carry_the_error_type_the_state_machine_matches() {
    let (_state, url) = source().await;
    let dir = tempfile::tempdir().unwrap();
    let no_watermark = invoke::<Extractor>(
        event(include_str!("../../../events/extractor-incremental.json")),
        &deps(&url, &dir).await,
    )
    .await
    .unwrap_err();
    assert_eq!(no_watermark.error_type, "InvalidInput");
    assert!(
        no_watermark.error_message.contains("full load"),
        "{}",
        no_watermark.error_message
    );

    // Nothing listens on port 9 of loopback: the API is down.
    let down = invoke::<Extractor>(
        event(include_str!("../../../events/extractor-full.json")),
        &deps("http://127.0.0.1:9", &dir).await,
    )
    .await
    .unwrap_err();
    assert_eq!(down.error_type, "Retryable", "{}", down.error_message);

    let bad_mode: Result<ExtractInput, _> = serde_json::from_str(r#"{"mode": "sometimes"}"#);
    assert!(bad_mode.is_err());
}
