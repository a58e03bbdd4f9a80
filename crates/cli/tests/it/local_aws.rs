//! The real deployment, fully local and without Docker: LocalStack and the S3 server started
//! by `localstack/host/up.sh`, the built artifacts deployed from template.yaml by
//! `localstack/deploy.sh` (samlocal), Step Functions executions driving the Lambda binaries,
//! the EventBridge schedule starting one on its own, a failure path, and PyIceberg checking the
//! tables on the S3 server against the source's truth.

use std::{
    process::{Command, Output},
    time::{Duration, Instant},
};

use chrono::{DateTime, SubsecRound, Utc};
use lakehouse_core::{
    Lake,
    config::{self, S3Settings},
    layout, ledger,
    store::LakeLocation,
    watermark,
};
use mock_api::{StoreConfig, SyntheticStore};
use serde_json::Value;

use crate::{
    e2e::check_with_pyiceberg,
    harness::{python, repo_root, runtime},
};

const LAKE_S3: &str = "http://127.0.0.1:8333";
const LAKE_URI: &str = "s3://lakehouse/lake";
/// The tables' Iceberg REST catalog and warehouse, as samconfig.toml's `local` environment
/// deploys the functions with (localstack/host/up.sh serves them).
const CATALOG_URI: &str = "http://127.0.0.1:8181";
const CATALOG_WAREHOUSE: &str = "s3://lakehouse-tables";

/// The local stack for one test, its state in a temporary directory; torn down on drop.
struct Stack {
    state: tempfile::TempDir,
}

impl Stack {
    fn up() -> Stack {
        let stack = Stack {
            state: tempfile::tempdir().unwrap(),
        };
        let out = stack.script("localstack/host/up.sh", &[]);
        assert!(out.status.success(), "up.sh failed:\n{}", text(&out));
        stack
    }

    fn script(&self, script: &str, args: &[&str]) -> Output {
        Command::new(repo_root().join(script))
            .args(args)
            .current_dir(repo_root())
            .env("LAKEHOUSE_LOCAL_STATE", self.state.path())
            .output()
            .unwrap()
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.state.path().join("localstack.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.script("localstack/host/down.sh", &[]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One `localstack/aws_ops.py` command; its JSON answer.
fn ops(stack: &Stack, args: &[&str]) -> Value {
    let mut argv = vec!["localstack/aws_ops.py"];
    argv.extend_from_slice(args);
    let out = python(&argv, &[]);
    assert!(
        out.status.success(),
        "aws_ops {args:?} failed:\n{}\nLocalStack log:\n{}",
        text(&out),
        stack.log_tail()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_succeeded(stack: &Stack, execution: &Value) {
    assert_eq!(
        execution["status"],
        "SUCCEEDED",
        "{execution:#}\nLocalStack log:\n{}",
        stack.log_tail()
    );
}

/// The lake's S3 server with its own keys (localstack/lake.env): the deployed functions reach it
/// only through their LakeAccessKeyId/LakeSecretAccessKey, since LocalStack's credentials are
/// not the server's.
fn s3_env() -> Vec<(&'static str, String)> {
    let lake_env = std::fs::read_to_string(repo_root().join("localstack/lake.env")).unwrap();
    let value = |name: &str| {
        lake_env
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} missing from localstack/lake.env"))
            .to_owned()
    };
    vec![
        ("AWS_ENDPOINT_URL", LAKE_S3.into()),
        ("AWS_ACCESS_KEY_ID", value("LAKE_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", value("LAKE_SECRET_ACCESS_KEY")),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

#[test]
fn the_deployed_stack_runs_on_localstack() {
    for (key, value) in s3_env() {
        // SAFETY: nextest runs each test in its own process; no other thread exists yet.
        unsafe { std::env::set_var(key, value) };
    }
    let stack = Stack::up();

    // A live source: three days of orders (several order_date partitions, updates to earlier
    // orders) that keep arriving for another day, so every incremental load finds new ones.
    let start: DateTime<Utc> = (Utc::now() - chrono::Duration::days(3)).trunc_subsecs(0);
    let source = StoreConfig {
        orders: 20_000,
        history_days: 4,
        start,
        ..StoreConfig::default()
    };
    let start_param = format!(
        "SourceStart={}",
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // A short lease, so an execution after a crash waits less for the dead one's claim.
    let deployed = stack.script(
        "localstack/deploy.sh",
        &[
            &start_param,
            "SourceHistoryDays=4",
            "SourceOrders=20000",
            "LeaseSeconds=15",
        ],
    );
    assert!(
        deployed.status.success(),
        "deploy failed:\n{}",
        text(&deployed)
    );

    // An operator's subscription to the alerts topic, as a queue the test can read.
    let alerts = ops(&stack, &["subscribe-alerts", "e2e-alerts"]);
    let alerts_queue = alerts["queue_url"].as_str().unwrap().to_owned();

    let full = ops(&stack, &["run", "full"]);
    assert_succeeded(&stack, &full);
    assert!(full["output"]["report_key"].is_string(), "{full:#}");
    let incremental = ops(&stack, &["run", "incremental"]);
    assert_succeeded(&stack, &incremental);
    // Each stage logged its run's figures as an EMF line, which CloudWatch makes metrics of.
    for (function, metric) in [
        ("ExtractorFunction", "RecordsLanded"),
        ("TransformerFunction", "QuarantineShare"),
        ("GoldBuilderFunction", "RowsWritten"),
    ] {
        let lines = ops(&stack, &["metrics", function]);
        let line = lines
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line[metric].is_number())
            .unwrap_or_else(|| panic!("no EMF line with {metric} from {function}: {lines:#}"));
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Lakehouse",
            "{line:#}"
        );
    }

    // The source API goes down (its Lambda cannot start): the run retries, then ends in the
    // failure path with the cause; after the API is back, a re-run succeeds.
    ops(&stack, &["schedule", "disable"]);
    ops(&stack, &["set-env", "MockApiFunction", "MOCK_ORDERS=0"]);
    let failed = ops(&stack, &["run", "incremental"]);
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(failed["error"], "Retryable", "{failed:#}");
    let cause = failed["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("source API unavailable"), "{failed:#}");
    // The failure reached the alerts topic, naming the execution and its error.
    let alerted = ops(&stack, &["alerts", &alerts_queue]);
    let alert = alerted
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["detail"]["name"] == failed["name"])
        .unwrap_or_else(|| panic!("no alert for {}: {alerted:#}", failed["name"]));
    assert_eq!(alert["detail"]["status"], "FAILED", "{alert:#}");
    assert_eq!(alert["detail"]["error"], "Retryable", "{alert:#}");
    ops(&stack, &["set-env", "MockApiFunction", "MOCK_ORDERS=20000"]);
    let rerun = ops(&stack, &["run", "incremental"]);
    assert_succeeded(&stack, &rerun);

    // A Lambda crashes in the middle of a run: the gold builder cannot start (a broken
    // configuration), so the execution fails after the run's silver commits, its batch landed
    // and past the watermark. Nobody resumes it: the next scheduled execution must finish it.
    let runtime = runtime();
    let lake = Lake::open(LakeLocation::parse(LAKE_URI, S3Settings::from_env().unwrap()).unwrap())
        .unwrap();
    let open_runs = || runtime.block_on(ledger::open_runs(&lake)).unwrap();
    ops(
        &stack,
        &[
            "set-env",
            "GoldBuilderFunction",
            "LAKEHOUSE_LAKE=gs://broken",
        ],
    );
    let crashed = ops(&stack, &["run", "incremental"]);
    assert_eq!(crashed["status"], "FAILED", "{crashed:#}");
    let stranded = open_runs();
    assert_eq!(stranded.len(), 1, "{stranded:?}");
    let lake_param = format!("LAKEHOUSE_LAKE={LAKE_URI}");
    ops(&stack, &["set-env", "GoldBuilderFunction", &lake_param]);
    ops(&stack, &["schedule", "enable"]);

    // The schedule (rate(1 minute) in samconfig's local environment) starts one on its own.
    let since = crashed["stop"].as_f64().unwrap();
    let waited = Instant::now();
    let scheduled = loop {
        let all = ops(&stack, &["executions"]);
        let found = all.as_array().unwrap().iter().find(|e| {
            !e["name"].as_str().unwrap().starts_with("e2e-")
                && e["start"].as_f64().unwrap() > since
                && e["status"] != "RUNNING"
        });
        if let Some(found) = found {
            break found.clone();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(180),
            "no scheduled execution within 3 minutes: {all:#}"
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    assert_succeeded(&stack, &scheduled);
    assert_eq!(scheduled["input"]["mode"], "incremental", "{scheduled:#}");

    // Freeze the lake, then check it against what the source holds up to the watermark.
    ops(&stack, &["schedule", "disable"]);
    ops(&stack, &["quiesce"]);
    let left = open_runs();
    assert!(
        left.is_empty(),
        "the crashed run was not finished: {left:?}"
    );
    // The deployed maintainer (its schedule is daily; invoked here), keeping two snapshots of
    // each table: what it removes must leave every table whole.
    let maintained = ops(
        &stack,
        &[
            "invoke",
            "MaintainerFunction",
            r#"{"older_than_hours": 0, "keep_last": 2, "margin_minutes": 0}"#,
        ],
    );
    assert!(maintained["error"].is_null(), "{maintained:#}");
    let silver = maintained["payload"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders_transformed")
        .cloned()
        .unwrap_or_default();
    assert!(
        silver["snapshots_expired"].as_u64().unwrap_or(0) > 0
            && silver["files_deleted"].as_u64().unwrap_or(0) > 0,
        "{maintained:#}"
    );
    let (high_water, in_lake) = runtime.block_on(async {
        let wm = watermark::current(&lake)
            .await
            .unwrap()
            .expect("a watermark");
        (
            wm.watermark.high_water,
            lake.list(layout::WAREHOUSE).await.unwrap(),
        )
    });
    // The deployed stack keeps its tables in the REST catalog, none in the lake.
    assert!(in_lake.is_empty(), "{in_lake:?}");
    let truth = SyntheticStore::new(source).unwrap().truth(high_water);
    assert!(
        truth.valid_orders.len() > 500,
        "{}",
        truth.valid_orders.len()
    );
    let catalog = [
        (config::ENV_CATALOG_URI, CATALOG_URI.to_owned()),
        (config::ENV_CATALOG_WAREHOUSE, CATALOG_WAREHOUSE.to_owned()),
        (config::ENV_CATALOG_SIGV4, "s3tables".to_owned()),
    ];
    check_with_pyiceberg(
        &lake.location().uri(layout::WAREHOUSE),
        &truth,
        &[s3_env(), catalog.to_vec()].concat(),
    );
}
