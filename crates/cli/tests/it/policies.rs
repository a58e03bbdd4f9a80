//! Least privilege, proved against what the stages do: each stage runs against SeaweedFS
//! through a recording proxy, as the state machine chains them (full load, two incremental
//! rounds, maintenance), and every S3 request a stage makes is checked against that function's
//! policy in template.yaml and the bucket's policy (tests/check_policies.py), as are requests
//! outside its prefixes, which must be refused.

use lakehouse_cli::source::LocalSource;
use lakehouse_core::{
    Lake,
    contracts::{ExtractInput, LeaseHolder, Mode},
    lease::LeaseConfig,
    store::LakeLocation,
};

use crate::harness::{self, Proxy, runtime};

#[test]
fn every_s3_request_of_a_stage_is_allowed_by_its_policy_and_no_more() {
    let server = harness::start_s3("lake");
    let seen = runtime().block_on(async {
        let (proxy, endpoint) = Proxy::start(&server.endpoint).await;
        let settings = harness::s3_settings(&endpoint, harness::SECRET_KEY);
        // The lake where the stack keeps it: under `lake/` in its bucket.
        let lake = Lake::open(LakeLocation::parse("s3://lake/lake", settings).unwrap()).unwrap();
        let config = mock_api::StoreConfig {
            seed: 5,
            orders: 3_000,
            history_days: 10,
            ..mock_api::StoreConfig::default()
        };
        let source = LocalSource::start(config.clone(), config.day0_end())
            .await
            .unwrap();
        let lease = LeaseConfig {
            ttl: std::time::Duration::from_secs(30),
            wait: std::time::Duration::ZERO,
        };
        let extract = extractor::Deps::new(
            lake.clone(),
            extractor::Config::new(source.url.clone()),
            lease.clone(),
        )
        .await
        .unwrap();
        let transform = transformer::Deps::new(lake.clone(), lease.clone())
            .await
            .unwrap();
        let tables = lakehouse_tables::StageDeps::new(lake.clone(), lease.clone())
            .await
            .unwrap();
        for (round, mode) in [Mode::Full, Mode::Incremental, Mode::Incremental]
            .into_iter()
            .enumerate()
        {
            let input = ExtractInput {
                mode,
                run_id: None,
                lease: Some(LeaseHolder {
                    owner: format!("execution-{round}"),
                }),
            };
            proxy.label("extractor");
            let landed = extractor::run(input, &extract).await.unwrap();
            assert!(landed.records > 0, "round {round} landed nothing");
            source.set_now(landed.window.until + chrono::Duration::hours(6));
            proxy.label("transformer");
            let silver = transformer::run(landed, &transform).await.unwrap();
            proxy.label("gold-builder");
            gold_builder::run(silver, &tables).await.unwrap();
        }
        proxy.label("maintainer");
        let input = maintainer::MaintainInput {
            older_than_hours: Some(0),
            keep_last: Some(1),
            margin_minutes: Some(0),
            ..maintainer::MaintainInput::default()
        };
        let done = maintainer::run(input, &tables).await.unwrap();
        assert!(
            done.tables.iter().any(|t| t.files_deleted > 0) && done.lease_generations_deleted > 0,
            "maintenance deleted nothing; its deletes go unchecked: {done:?}"
        );
        proxy.seen()
    });
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("requests.json");
    std::fs::write(&requests, serde_json::to_string(&seen).unwrap()).unwrap();
    let out = harness::python(
        &[
            "tests/check_policies.py",
            requests.to_str().unwrap(),
            "lake",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "policy check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
