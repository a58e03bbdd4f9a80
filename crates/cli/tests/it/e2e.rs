//! The whole pipeline, full load + incremental rounds + a crash between stages + a re-run,
//! checked by PyIceberg reading the tables back: on a local directory and on an S3 server.

use std::collections::BTreeMap;

use chrono::Duration;
use lakehouse_cli::{pipeline::Pipeline, source::LocalSource};
use lakehouse_core::{
    ErrorKind, Lake,
    checksum::Checksum,
    config::{self, S3Settings},
    contracts::{ExtractInput, Mode},
    lease::LeaseConfig,
    store::LakeLocation,
};
use lakehouse_tables::{Warehouse, maintain, schemas::ALL};
use mock_api::{StoreConfig, Truth};

use crate::harness::{self, runtime};

fn source_config() -> StoreConfig {
    StoreConfig {
        seed: 7,
        orders: 20_000,
        history_days: 30,
        // More customers than day 0 reaches, so every round brings new ones to append.
        customers: 30_000,
        products: 300,
        bad_share: 0.03,
        ..StoreConfig::default()
    }
}

async fn snapshot_counts(warehouse: &Warehouse) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for def in ALL {
        if let Some(table) = warehouse.load(def.name).await.unwrap() {
            counts.insert(def.name, table.metadata().snapshots.len());
        }
    }
    counts
}

/// An incremental extraction by a run that dies right after it (it never transforms).
async fn extract_then_die(pipeline: &Pipeline) -> lakehouse_core::contracts::ExtractOutput {
    let input = ExtractInput {
        mode: Mode::Incremental,
        run_id: None,
        lease: None,
    };
    extractor::run(input, &pipeline.extract).await.unwrap()
}

/// `env` is what PyIceberg needs to read the tables: S3 settings, catalog settings.
async fn scenario(lake: Lake, env: &[(&'static str, String)]) {
    let config = source_config();
    let source = LocalSource::start(config.clone(), config.day0_end())
        .await
        .unwrap();
    // A short lease: the run that "dies" below leaves its claim to expire.
    let pipeline = Pipeline::new(lake.clone(), &source.url, true)
        .await
        .unwrap()
        .with_lease(quick_lease());
    let step = Duration::hours(12);

    // Day 0.
    let full = pipeline.round(Mode::Full, None).await.unwrap();
    assert!(full.extract.records > 19_000, "{}", full.extract.records);
    let tf = full.transform.as_ref().unwrap();
    // Every record is either valid or quarantined: none dropped.
    assert_eq!(tf.rows_in, tf.rows_valid + tf.quarantined);

    // Round 1: the process dies after extraction; nothing is lost and a resume completes it.
    source.set_now(full.extract.window.until + step);
    let landed = extract_then_die(&pipeline).await;
    assert!(landed.records > 0);
    let resumed = pipeline
        .round(Mode::Incremental, Some(landed.run_id.clone()))
        .await
        .unwrap();
    assert!(
        !resumed.extract.extracted,
        "a resumed run must not fetch again"
    );
    assert_eq!(resumed.extract.records, landed.records);
    assert!(
        resumed
            .transform
            .unwrap()
            .tables
            .iter()
            .all(|t| !t.already_committed)
    );

    // Round 2 dies after extraction too, and nobody resumes it: the next ordinary run
    // finishes it first, then lands its own batch.
    source.set_now(landed.window.until + step);
    let stranded = extract_then_die(&pipeline).await;
    assert!(stranded.records > 0);

    // Round 3, an ordinary run.
    source.set_now(stranded.window.until + step);
    let last = pipeline.round(Mode::Incremental, None).await.unwrap();
    let finished: Vec<_> = last.finished.iter().map(|r| &r.run_id).collect();
    assert_eq!(
        finished,
        [&stranded.run_id],
        "the stranded run is finished first"
    );
    assert!(
        lakehouse_core::ledger::open_runs(&lake)
            .await
            .unwrap()
            .is_empty()
    );
    let last_tf = last.transform.as_ref().unwrap();
    assert!(last_tf.rows_in > 0);
    // The incremental batch touches only a few partitions of the 30+ days of history.
    assert!(
        last_tf.touched_dates.len() < 10,
        "{:?}",
        last_tf.touched_dates
    );

    // Re-running the last run changes nothing.
    let warehouse = Warehouse::open(&lake).await.unwrap();
    let before = snapshot_counts(&warehouse).await;
    let again = pipeline
        .round(Mode::Incremental, Some(last.extract.run_id.clone()))
        .await
        .unwrap();
    assert!(!again.extract.extracted);
    let commits: Vec<_> = again
        .transform
        .iter()
        .flat_map(|t| t.tables.iter())
        .chain(again.gold.iter().flat_map(|g| g.tables.iter()))
        .collect();
    assert!(!commits.is_empty());
    for commit in commits {
        assert!(
            commit.already_committed || commit.snapshot_id.is_none(),
            "{commit:?}"
        );
    }
    assert_eq!(
        snapshot_counts(&warehouse).await,
        before,
        "a re-run added snapshots"
    );
    assert_eq!(before.len(), ALL.len(), "every table exists: {before:?}");

    // Maintenance keeps the last three snapshots of each table (silver's are the full load's,
    // rounds 1, 2 and 3): the full load's goes, round 1's stays, and nothing the tables hold
    // now changes.
    let options = maintain::Options {
        older_than: Duration::zero(),
        keep_last: 3,
        margin: Duration::zero(),
        ..maintain::Options::default()
    };
    let done = maintain::maintain_lake(&warehouse, &quick_lease(), &options)
        .await
        .unwrap();
    let silver = done
        .tables
        .iter()
        .find(|t| t.table == "orders_transformed")
        .unwrap();
    assert!(silver.snapshots_expired > 0, "{silver:?}");
    assert!(silver.files_deleted > 0, "{silver:?}");

    // What the source says the lake must now hold, for the independent reader; and what it
    // held when round 1 committed, for a time-travel read of that run's snapshots.
    let truth = source.state.store.truth(last.extract.window.until);
    let then = source.state.store.truth(landed.window.until);
    // The file catalog's warehouse directory, whose parent holds the raw parts; the tables are
    // read from there or from the REST catalog that `env` names.
    check_with_pyiceberg_as_of(
        &lake.location().uri(lakehouse_core::layout::WAREHOUSE),
        &truth,
        Some((&landed.run_id.to_string(), &then)),
        env,
    );
}

/// A lease that a test's simulated crash leaves to expire soon.
pub fn quick_lease() -> LeaseConfig {
    LeaseConfig {
        ttl: std::time::Duration::from_millis(1_500),
        wait: std::time::Duration::from_secs(60),
    }
}

/// PyIceberg reads every table of the warehouse at `warehouse_uri` and checks it against the
/// source's truth (tests/check_tables.py); `env` carries the S3 settings when it is on S3.
pub fn check_with_pyiceberg(warehouse_uri: &str, truth: &Truth, env: &[(&str, String)]) {
    check_with_pyiceberg_as_of(warehouse_uri, truth, None, env);
}

/// The same, and, with `as_of` (a run id and the source's truth when it committed), a
/// time-travel read of the snapshots that run made in silver and `fact_sales`.
pub fn check_with_pyiceberg_as_of(
    warehouse_uri: &str,
    truth: &Truth,
    as_of: Option<(&str, &Truth)>,
    env: &[(&str, String)],
) {
    let mut expected = truth.expected_json();
    if let Some((run_id, then)) = as_of {
        expected["as_of"] = serde_json::json!({
            "run_id": run_id,
            "valid_orders": then.valid_orders,
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let out = harness::python(
        &[
            "tests/check_tables.py",
            warehouse_uri,
            expected_path.to_str().unwrap(),
        ],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "PyIceberg checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all pyiceberg checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_end_to_end_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let location =
        LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default()).unwrap();
    scenario(Lake::open(location).unwrap(), &[]).await;
}

/// The lake reaches S3 through the standard AWS environment, as in Lambda, but with the keys of
/// a role session the S3 server does not know (a Lambda's, on LocalStack with MinIO): only the
/// lake-specific keys open it. Each test runs in its own process under nextest, and sets the
/// variables before any thread starts.
fn set_lake_env(server: &harness::S3Server, more: &[(&'static str, String)]) {
    let lake_env = [
        ("AWS_ENDPOINT_URL", server.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "ASIA-ROLE-SESSION".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "role-secret".to_owned()),
        ("AWS_SESSION_TOKEN", "role-session-token".to_owned()),
        (config::ENV_S3_ACCESS_KEY_ID, harness::ACCESS_KEY.to_owned()),
        (
            config::ENV_S3_SECRET_ACCESS_KEY,
            harness::SECRET_KEY.to_owned(),
        ),
    ];
    for (key, value) in lake_env.iter().chain(more) {
        // SAFETY: single-threaded at this point; no runtime has been built yet.
        unsafe { std::env::set_var(key, value) };
    }
}

/// The same pipeline with the tables in SeaweedFS's Iceberg REST catalog (a table bucket),
/// and raw data and state in the regular bucket; PyIceberg's `RestCatalog` loads every table by
/// name.
#[test]
fn pipeline_end_to_end_on_a_rest_catalog() {
    let server = harness::start_s3_with_catalog("lake");
    let mut more = server.catalog_env();
    more.push((config::ENV_LAKE, "s3://lake/rest".to_owned()));
    set_lake_env(&server, &more);
    let lake = Lake::from_env().unwrap();
    assert!(
        matches!(lake.catalog(), config::CatalogSettings::Rest(_)),
        "{:?}",
        lake.catalog()
    );
    let reader_env = [server.env(), server.catalog_env()].concat();
    let runtime = runtime();
    runtime.block_on(scenario(lake.clone(), &reader_env));
    // Raw data and state are in the lake's bucket; no table is.
    let in_lake = runtime
        .block_on(lake.list(lakehouse_core::layout::WAREHOUSE))
        .unwrap();
    assert!(in_lake.is_empty(), "{in_lake:?}");
    assert!(!runtime.block_on(lake.list("raw")).unwrap().is_empty());
}

#[test]
fn pipeline_end_to_end_on_an_s3_server() {
    let server = harness::start_s3("lake");
    set_lake_env(&server, &[]);
    let location = LakeLocation::parse("s3://lake/e2e", S3Settings::from_env().unwrap()).unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        // Without the lake keys the role session's are used, and the server refuses them.
        let role_only = LakeLocation::parse(
            "s3://lake/e2e",
            S3Settings {
                credentials: None,
                ..S3Settings::from_env().unwrap()
            },
        )
        .unwrap();
        let refused = Lake::open(role_only)
            .unwrap()
            .get("probe")
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("403 Forbidden"), "{refused}");
        let lake = Lake::open(location.clone()).unwrap();
        lake.put("probe", "ok".into()).await.unwrap();
        assert_eq!(lake.get("probe").await.unwrap().unwrap(), "ok");
    });
    // PyIceberg, the independent reader, gets the server's keys the standard way.
    runtime.block_on(scenario(
        Lake::open(location.clone()).unwrap(),
        &server.env(),
    ));

    // boto3 finds every raw part on S3 with the checksum its manifest records, which S3 kept.
    let out = harness::python(
        &["tests/check_part_checksums.py", "s3://lake/e2e"],
        &server.env(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "part checksums:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    assert!(stdout.contains("parts in"), "{stdout}");

    // And S3 does check: a body that is not the one the checksum was made of is refused, as
    // a retryable failure, and nothing is stored.
    runtime.block_on(async {
        let lake = Lake::open(location).unwrap();
        let landing = extractor::Landing::for_lake(lake.location()).await;
        let key = "raw/probe/part-00000.json";
        let sent = "{\"order_id\":\"A\"}\n";
        let err = landing
            .put(
                &lake,
                key,
                sent.into(),
                &Checksum::of(b"{\"order_id\":\"B\"}\n"),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("BadDigest"), "{err}");
        assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
        assert!(!lake.exists(key).await.unwrap());
        landing
            .put(&lake, key, sent.into(), &Checksum::of(sent.as_bytes()))
            .await
            .unwrap();
        assert_eq!(lake.get(key).await.unwrap().unwrap(), sent);
    });
}
