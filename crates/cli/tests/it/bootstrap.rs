//! The built Lambda artifacts (`scripts/build-lambdas.sh`, zips under `<target>/lambda/`), each
//! unpacked and run by AWS's Runtime Interface Emulator (shipped with aws-sam-cli) the way Lambda
//! runs a `provided.al2023` function, and invoked with the events/ fixtures. The three stages are
//! chained as the state machine chains them: each output is the next input.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use mock_api::{Clock, SourceState, StoreConfig, SyntheticStore, serve_on_loopback};
use serde_json::Value;

use crate::harness::{python, repo_root};

/// Where build-lambdas.sh put the zips.
fn lambda_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("lambda")
}

/// The emulator binary inside the aws-sam-cli package of the project's virtualenv.
fn emulator() -> PathBuf {
    let out = python(
        &[
            "-c",
            "import os, samcli; print(os.path.join(os.path.dirname(samcli.__file__), 'local', 'rapid', 'aws-lambda-rie-x86_64'))",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "aws-sam-cli is missing from .venv: run scripts/setup.sh"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One function: its unpacked bootstrap under the emulator, on ports of its own.
struct Emulated {
    child: Child,
    invoke_url: String,
    dir: tempfile::TempDir,
}

impl Drop for Emulated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulated {
    fn start(function: &str, env: &[(&str, String)]) -> Emulated {
        let zip = lambda_dir().join(function).join("bootstrap.zip");
        assert!(
            zip.exists(),
            "{} is missing: build the artifacts with scripts/build-lambdas.sh (make lambdas)",
            zip.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let task = dir.path().join("task");
        let out = python(
            &[
                "-m",
                "zipfile",
                "-e",
                zip.to_str().unwrap(),
                task.to_str().unwrap(),
            ],
            &[],
        );
        assert!(out.status.success(), "unzip {}", zip.display());
        let bootstrap = task.join("bootstrap");
        // zipfile does not restore modes; Lambda runs the bootstrap as an executable.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();

        let port = free_port();
        let log = std::fs::File::create(dir.path().join("emulator.log")).unwrap();
        let child = Command::new(emulator())
            .arg(format!(
                "--runtime-interface-emulator-address=127.0.0.1:{port}"
            ))
            .arg(format!("--runtime-api-address=127.0.0.1:{}", free_port()))
            .arg(&bootstrap)
            .current_dir(&task)
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_LAMBDA_LOG_LEVEL", "info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting the runtime interface emulator");
        let emulated = Emulated {
            child,
            invoke_url: format!(
                "http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
            ),
            dir,
        };
        emulated.wait_until_listening(port);
        emulated
    }

    fn wait_until_listening(&self, port: u16) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("emulator did not listen:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
    }

    /// Invokes the function once, as the Lambda Invoke API would, and returns its JSON answer.
    async fn invoke(&self, payload: &str) -> Value {
        let response = reqwest::Client::new()
            .post(&self.invoke_url)
            .body(payload.to_owned())
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoke failed: {e}\n{}", self.log()));
        let body = response.text().await.unwrap();
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {body}\n{}", self.log()))
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()
}

fn assert_error_type(answer: &Value, error_type: &str) {
    assert_eq!(answer["errorType"], error_type, "{answer}");
    assert!(
        answer["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_api_bootstrap_serves_function_url_events() {
    let api = Emulated::start(
        "mock-api",
        &[
            ("MOCK_ORDERS", "1000".into()),
            ("MOCK_NOW", "2026-02-01T00:00:00Z".into()),
        ],
    );
    let page = api.invoke(&fixture("mock-api-extract-full.json")).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let body: Value = serde_json::from_str(page["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), 50, "{body}");

    let refused = api.invoke(&fixture("mock-api-bad-since.json")).await;
    assert_eq!(refused["statusCode"], 400, "{refused}");
    assert!(
        refused["body"].as_str().unwrap().contains("since"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_bootstraps_chain_like_the_state_machine() {
    // The source on loopback, as the extractor reaches the mock-api Function URL on AWS.
    let store = SyntheticStore::new(StoreConfig {
        orders: 3_000,
        ..StoreConfig::default()
    })
    .unwrap();
    let clock = Clock::fixed(store.config().day0_end());
    let state = std::sync::Arc::new(SourceState { store, clock });
    let (api_url, _server) = serve_on_loopback(state).await.unwrap();
    let lake = tempfile::tempdir().unwrap();
    let lake_env = ("LAKEHOUSE_LAKE", lake.path().to_str().unwrap().to_owned());

    let extractor = Emulated::start(
        "extractor",
        &[lake_env.clone(), ("LAKEHOUSE_API_URL", api_url)],
    );
    let transformer = Emulated::start("transformer", std::slice::from_ref(&lake_env));
    let gold = Emulated::start("gold-builder", std::slice::from_ref(&lake_env));

    // Before any full load an incremental run is refused with the type Catch matches.
    assert_error_type(
        &extractor
            .invoke(&fixture("extractor-incremental.json"))
            .await,
        "InvalidInput",
    );
    // A pointer to a manifest that is not in the lake: the transformer says so, typed.
    assert_error_type(
        &transformer.invoke(&fixture("transformer.json")).await,
        "InvalidInput",
    );

    let extracted = extractor.invoke(&fixture("extractor-full.json")).await;
    assert!(
        extracted["records"].as_u64().unwrap() > 2_900,
        "{extracted}"
    );
    let transformed = transformer.invoke(&extracted.to_string()).await;
    assert_eq!(
        transformed["rows_in"], extracted["records"],
        "{transformed}"
    );
    assert!(
        transformed["quarantined"].as_u64().unwrap() > 0,
        "{transformed}"
    );
    let built = gold.invoke(&transformed.to_string()).await;
    let report_key = built["report_key"]
        .as_str()
        .unwrap_or_else(|| panic!("{built}"));
    assert!(
        Path::new(lake.path()).join(report_key).exists(),
        "{report_key} not in the lake: {built}"
    );
    for table in ["orders_transformed", "fact_sales", "dim_dates"] {
        let metadata = lake
            .path()
            .join("warehouse/lakehouse_db")
            .join(table)
            .join("metadata");
        assert!(metadata.is_dir(), "{} missing", metadata.display());
    }
    // Logs go through the Lambda runtime's tracing subscriber to the function's stdout.
    assert!(extractor.log().contains("extracted"), "{}", extractor.log());
}
