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

/// The runtime a test that sets its environment first builds afterwards.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
