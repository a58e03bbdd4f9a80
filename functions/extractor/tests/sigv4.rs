//! SigV4 signing of the calls to an AWS_IAM Function URL, checked against botocore (AWS's Python
//! SDK) as an independent signer: the request the extractor actually sends is captured by a
//! loopback server and its signature recomputed from scratch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use aws_config::Region;
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use axum::{Json, Router, extract::Request, routing::get};
use chrono::{TimeZone, Utc};
use extractor::{ApiClient, Config, IamSigner};
use lakehouse_core::contracts::Mode;
use serde_json::{Value, json};

type Captured = Arc<Mutex<Vec<(String, String, BTreeMap<String, String>)>>>;

/// Answers every GET with an empty last page and remembers what it was sent.
async fn capture_server(captured: Captured) -> String {
    let app = Router::new().route(
        "/{*path}",
        get(move |request: Request| {
            let captured = captured.clone();
            async move {
                let headers = request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                    .collect();
                captured.lock().unwrap().push((
                    request.method().to_string(),
                    request.uri().to_string(),
                    headers,
                ));
                Json(json!({"records": [], "next_cursor": null, "until": "2026-11-02T00:00:00Z"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn botocore_signature(request: &Value) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("tests/check_sigv4.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn signed_requests_carry_the_signature_botocore_computes() {
    let captured = Captured::default();
    let base = capture_server(captured.clone()).await;
    let creds = Credentials::new(
        "AKIDLAKEHOUSE",
        "s3cr3t/key+x",
        Some("session-token".into()),
        None,
        "test",
    );
    let signer = IamSigner::new(
        SharedCredentialsProvider::new(creds),
        Region::new("eu-central-1"),
    );
    let client = ApiClient::new(&Config::new(&base), Some(signer)).unwrap();
    // A query string with characters SigV4 must percent-encode (':' in the timestamps).
    let since = Utc.with_ymd_and_hms(2026, 11, 1, 8, 30, 0).unwrap();
    client
        .page(Mode::Incremental, Some(since), None, Some("c/1+2"), 500)
        .await
        .unwrap();

    let (method, uri, headers) = captured.lock().unwrap().pop().unwrap();
    let auth = &headers["authorization"];
    let sent = auth.rsplit("Signature=").next().unwrap();
    let request = json!({
        "method": method,
        "url": format!("{base}{uri}"),
        "headers": headers,
        "access_key": "AKIDLAKEHOUSE",
        "secret_key": "s3cr3t/key+x",
        "token": "session-token",
        "region": "eu-central-1",
        "service": "lambda",
    });
    assert_eq!(sent, botocore_signature(&request), "{auth}");

    // And the check is not vacuous: a request altered after signing no longer matches.
    let mut tampered = request.clone();
    tampered["url"] = json!(format!("{base}{}", uri.replace("limit=500", "limit=501")));
    assert_ne!(sent, botocore_signature(&tampered));
}

#[tokio::test]
async fn unsigned_by_default() {
    let captured = Captured::default();
    let base = capture_server(captured.clone()).await;
    let client = ApiClient::new(&Config::new(&base), None).unwrap();
    client.page(Mode::Full, None, None, None, 10).await.unwrap();
    let (_, _, headers) = captured.lock().unwrap().pop().unwrap();
    assert!(!headers.contains_key("authorization"), "{headers:?}");
}

#[tokio::test]
async fn iam_auth_without_a_region_is_a_clear_configuration_error() {
    // SAFETY: nextest runs each test in its own process.
    unsafe {
        std::env::remove_var("AWS_REGION");
        std::env::remove_var("AWS_DEFAULT_REGION");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let err = IamSigner::from_environment().await.unwrap_err();
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
    assert_eq!(err.kind(), lakehouse_core::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_resolve_override_reaches_the_api_under_another_host_name() {
    let captured = Captured::default();
    let base = capture_server(captured.clone()).await;
    let port = base.rsplit(':').next().unwrap();
    // A name no DNS knows, as LocalStack's Function URLs are offline.
    let mut config = Config::new(format!(
        "http://abc.lambda-url.us-east-1.localhost.localstack.cloud:{port}"
    ));
    config.resolve = Some("127.0.0.1".parse().unwrap());
    let client = ApiClient::new(&config, None).unwrap();
    client.page(Mode::Full, None, None, None, 10).await.unwrap();
    let (_, _, headers) = captured.lock().unwrap().pop().unwrap();
    assert_eq!(
        headers["host"],
        format!("abc.lambda-url.us-east-1.localhost.localstack.cloud:{port}")
    );
}
