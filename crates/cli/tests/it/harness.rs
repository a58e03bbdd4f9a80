//! Real parts for the end-to-end tests: an S3 server (SeaweedFS, in MinIO's role) started for
//! the test, and PyIceberg as the independent reader. Both come from `scripts/setup.sh`.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const ACCESS_KEY: &str = "lakehouse";
pub const SECRET_KEY: &str = "lakehouse-secret";

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
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("s3.json");
    std::fs::write(
        &creds,
        serde_json::json!({"identities": [{"name": "lakehouse",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]})
        .to_string(),
    )
    .unwrap();
    // Ports clear of a SeaweedFS on its defaults (the LocalStack test's lake, which may run at
    // the same time) and of the gRPC ports every weed service also opens at port + 10000:
    // 18333 was that server's S3 gRPC port, and a bucket request got HTTP/2 back.
    let s3_port = 20333;
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
    let child = Command::new(venv_tool("weed"))
        .arg("mini")
        .arg(format!("-dir={}", dir.path().join("data").display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
        .arg(format!("-s3.config={}", creds.display()))
        .arg(format!("-s3.port={s3_port}"))
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
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting weed");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{s3_port}"),
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
}

pub fn python(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    Command::new(venv_tool("python"))
        .args(args)
        .current_dir(repo_root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("running python")
}
