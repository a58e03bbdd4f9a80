//! The router behind a Lambda Function URL: the events/ fixtures as Lambda delivers them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use http_body_util::BodyExt;
use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, router};
use tower::ServiceExt;

async fn invoke(event: &str) -> (u16, serde_json::Value) {
    let store = SyntheticStore::new(StoreConfig {
        orders: 1_000,
        ..StoreConfig::default()
    })
    .unwrap();
    let clock = Clock::fixed(store.config().day0_end());
    let request = lambda_http::request::from_str(event).unwrap();
    let response = router(Arc::new(SourceState { store, clock }))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_function_url_request_gets_a_page() {
    let (status, page) = invoke(include_str!("../../../events/mock-api-extract-full.json")).await;
    assert_eq!(status, 200);
    assert_eq!(page["count"], 50);
    assert_eq!(page["records"].as_array().unwrap().len(), 50);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn a_bad_parameter_gets_a_400() {
    let (status, body) = invoke(include_str!("../../../events/mock-api-bad-since.json")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request");
}
