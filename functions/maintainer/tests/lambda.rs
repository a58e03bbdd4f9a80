//! The Lambda handler with the events/ fixture: an empty lake has nothing to maintain, a lake
//! another run holds is LakeBusy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lakehouse_core::{
    Lake,
    lease::{Lease, LeaseConfig},
    store::LakeLocation,
};
use lakehouse_runtime::{Context, LambdaEvent, invoke};
use maintainer::{Deps, MaintainInput, Maintainer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_maintains_and_a_held_lake_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let lake =
        Lake::open(LakeLocation::parse(dir.path().to_str().unwrap(), Default::default()).unwrap())
            .unwrap();
    let deps = Deps::new(lake.clone(), LeaseConfig::default())
        .await
        .unwrap();
    let fixture: MaintainInput =
        serde_json::from_str(include_str!("../../../events/maintainer.json")).unwrap();
    assert!(fixture.dry_run, "the fixture changes nothing");
    let done = invoke::<Maintainer>(LambdaEvent::new(fixture.clone(), Context::default()), &deps)
        .await
        .unwrap();
    assert!(done.tables.is_empty(), "an empty lake has no table");

    let held = Lease::acquire(
        &lake,
        "a pipeline run",
        &LeaseConfig {
            ttl: Duration::from_secs(60),
            wait: Duration::ZERO,
        },
    )
    .await
    .unwrap();
    let busy = invoke::<Maintainer>(LambdaEvent::new(fixture, Context::default()), &deps)
        .await
        .unwrap_err();
    assert_eq!(busy.error_type, "LakeBusy", "{}", busy.error_message);
    held.release().await.unwrap();
}
