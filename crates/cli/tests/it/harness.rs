//! Real parts for the end-to-end tests: an S3 server (SeaweedFS, in MinIO's role) started for
//! the test, and PyIceberg as the independent reader. Both come from `scripts/setup.sh`.

use lakehouse_core::config;
use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const ACCESS_KEY: &str = "lakehouse";
pub const SECRET_KEY: &str = "lakehouse-secret";
/// A second identity of the server, for a signer whose keys rotate.
pub const ROTATED_ACCESS_KEY: &str = "lakehouse-rotated";
pub const ROTATED_SECRET_KEY: &str = "lakehouse-rotated-secret";
/// The table bucket the server's Iceberg REST catalog serves, with [`start_s3_with_catalog`].
pub const TABLE_BUCKET: &str = "lakehouse-tables";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool from the project's virtualenv, with a clear message if setup has not run.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it installs PyIceberg and SeaweedFS into .venv)",
        path.display()
    );
    path
}

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// The Iceberg REST catalog's base URL.
    pub catalog: String,
    _dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Starts SeaweedFS on loopback ports of its own with the test credentials, and creates `bucket`.
pub fn start_s3(bucket: &str) -> S3Server {
    start_s3_with(bucket, None)
}

/// The same, with [`TABLE_BUCKET`] served by its Iceberg REST catalog ([`S3Server::catalog`]).
pub fn start_s3_with_catalog(bucket: &str) -> S3Server {
    start_s3_with(bucket, Some(TABLE_BUCKET))
}

fn start_s3_with(bucket: &str, table_bucket: Option<&str>) -> S3Server {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("s3.json");
    let actions = ["Admin", "Read", "Write", "List", "Tagging"];
    std::fs::write(
        &creds,
        serde_json::json!({"identities": [
            {"name": "lakehouse", "actions": actions,
             "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]},
            {"name": "rotated", "actions": actions,
             "credentials": [{"accessKey": ROTATED_ACCESS_KEY, "secretKey": ROTATED_SECRET_KEY}]},
        ]})
        .to_string(),
    )
    .unwrap();
    // Ports clear of a SeaweedFS on its defaults (the LocalStack test's lake, which may run at
    // the same time) and of the gRPC ports every weed service also opens at port + 10000:
    // 18333 was that server's S3 gRPC port, and a bucket request got HTTP/2 back.
    let s3_port = 20333;
    let catalog_port = 20181;
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
    let child = Command::new(venv_tool("weed"))
        .arg("mini")
        .arg(format!("-dir={}", dir.path().join("data").display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
        .arg(format!("-s3.config={}", creds.display()))
        .arg(format!("-s3.port={s3_port}"))
        .arg(format!("-s3.port.iceberg={catalog_port}"))
        .args(table_bucket.map(|b| format!("-tableBucket={b}")))
        .args([
            "-master.port=21333",
            "-volume.port=20080",
            "-filer.port=20888",
        ])
        .args([
            "-admin.port=23647",
            "-debug.port=16060",
            "-webdav.port=17333",
        ])
        .args([
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
        ])
        // Keys in weed's own environment would add an identity of their own.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting weed");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        catalog: format!("http://127.0.0.1:{catalog_port}"),
        _dir: dir,
    };
    assert!(
        wait_for_port(s3_port, Duration::from_secs(60)),
        "SeaweedFS did not open its S3 port in 60 s"
    );
    // The port opens before the filer behind it is ready: retry bucket creation for a while.
    let start = Instant::now();
    loop {
        let out = python(&["tests/s3_bucket.py", bucket], &server.env());
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "could not create bucket: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    if let Some(table_bucket) = table_bucket {
        // The table bucket appears a moment after the ports answer.
        let listed = "import boto3, os, sys; s3t = boto3.client('s3tables', \
            endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name=os.environ['AWS_REGION']); \
            names = [b['name'] for b in s3t.list_table_buckets()['tableBuckets']]; \
            sys.exit(0 if sys.argv[1] in names else 1)";
        let start = Instant::now();
        while !python(&["-c", listed, table_bucket], &server.env())
            .status
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "SeaweedFS did not serve table bucket {table_bucket} in 60 s"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    server
}

impl S3Server {
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// The catalog settings for the table bucket, signed with the server's keys.
    pub fn catalog_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (config::ENV_CATALOG_URI, self.catalog.clone()),
            (
                config::ENV_CATALOG_WAREHOUSE,
                format!("s3://{TABLE_BUCKET}"),
            ),
            (config::ENV_CATALOG_SIGV4, "s3tables".into()),
        ]
    }
}

pub fn python(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    Command::new(venv_tool("python"))
        .args(args)
        .current_dir(repo_root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("running python")
}

/// A lake's S3 settings for the test server reached at `endpoint` (the server, or a proxy of
/// it), with its keys (`secret` may be a wrong one).
pub fn s3_settings(endpoint: &str, secret: &str) -> config::S3Settings {
    config::S3Settings {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        credentials: Some(config::LakeCredentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: secret.into(),
        }),
    }
}

/// The runtime a test that sets its environment first builds afterwards.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What a [`Proxy`] does to the next request that matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// Answers 503 without passing the request on: it was not made.
    FailBefore,
    /// Passes the request on and answers 502: it was made, and the client cannot know.
    LoseAnswer,
}

/// A request as a [`Proxy`] saw it, with the label it was given meanwhile (who sent it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Seen {
    pub label: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// `x-amz-copy-source`: the object a copy reads.
    pub copy_source: Option<String>,
    /// The keys a bulk delete (`POST ?delete`) names.
    pub deleted_keys: Vec<String>,
}

/// An HTTP proxy on loopback in front of a server (SeaweedFS's S3 or its catalog): it records
/// every request and can fail chosen ones. SigV4 signatures cover the host the client
/// addressed, so requests are passed on with their `host` header unchanged.
pub struct Proxy {
    upstream: String,
    http: reqwest::Client,
    label: std::sync::Mutex<String>,
    seen: std::sync::Mutex<Vec<Seen>>,
    /// (method, path suffix, fault) for the next matching request.
    fault: std::sync::Mutex<Option<(String, String, Fault)>>,
    pub faults: std::sync::atomic::AtomicUsize,
}

impl Proxy {
    /// Starts a proxy of `upstream` on the current runtime; returns it and its URL.
    pub async fn start(upstream: &str) -> (std::sync::Arc<Proxy>, String) {
        let proxy = std::sync::Arc::new(Proxy {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            label: Default::default(),
            seen: Default::default(),
            fault: Default::default(),
            faults: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (proxy, url)
    }

    /// Requests from now on are recorded under `label`.
    pub fn label(&self, label: &str) {
        *self.label.lock().unwrap() = label.to_owned();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The next request with `method` whose path ends with `suffix` gets `fault`.
    pub fn fail_next(&self, method: &str, suffix: &str, fault: Fault) {
        *self.fault.lock().unwrap() = Some((method.to_owned(), suffix.to_owned(), fault));
    }
}

async fn forward(
    axum::extract::State(proxy): axum::extract::State<std::sync::Arc<Proxy>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let deleted_keys = if parts.uri.query() == Some("delete") {
        String::from_utf8_lossy(&body)
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    proxy.seen.lock().unwrap().push(Seen {
        label: proxy.label.lock().unwrap().clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        copy_source: parts
            .headers
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        deleted_keys,
    });
    let fault = {
        let mut armed = proxy.fault.lock().unwrap();
        match armed.as_ref() {
            Some((method, suffix, fault))
                if parts.method.as_str() == method
                    && parts.uri.path().ends_with(suffix.as_str()) =>
            {
                let fault = *fault;
                *armed = None;
                Some(fault)
            }
            _ => None,
        }
    };
    if fault.is_some() {
        proxy
            .faults
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    if fault == Some(Fault::FailBefore) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "").into_response();
    }
    let mut upstream = proxy.http.request(
        parts.method,
        format!("{}{}", proxy.upstream, parts.uri.path_and_query().unwrap()),
    );
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let answer = upstream.body(body).send().await.unwrap();
    if fault == Some(Fault::LoseAnswer) {
        return (axum::http::StatusCode::BAD_GATEWAY, "").into_response();
    }
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut response = (status, answer.bytes().await.unwrap()).into_response();
    // Its own headers too: ETags, and a HEAD's content-length (the object's size).
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "connection" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}
