//! The pipeline as a schedule runs it: hundreds of rounds on one lake, processes killed at any
//! moment and followed only by the next ordinary run, and runs that overlap. Every campaign
//! ends with PyIceberg checking the lake against the source's truth, every table read through
//! its version hint.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use lakehouse_cli::{
    pipeline::Pipeline,
    soak::{Maintenance, soak},
    source::LocalSource,
};
use lakehouse_core::{
    Lake,
    config::S3Settings,
    contracts::{ExtractInput, GoldOutput, LeaseHolder, Mode, TableCommit, TransformOutput},
    layout, ledger,
    store::LakeLocation,
    watermark,
};
use lakehouse_tables::Warehouse;
use mock_api::{StoreConfig, SyntheticStore};

use crate::e2e::{check_with_pyiceberg, quick_lease};

/// A small source that takes every path often: many updates, a fifth of them moving their
/// order's date, customers and products changing attributes, bad records, and more customers
/// and products than the history reaches, so rounds keep bringing new ones.
fn busy_source() -> StoreConfig {
    StoreConfig {
        seed: 11,
        orders: 4_000,
        history_days: 20,
        customers: 6_000,
        products: 2_000,
        update_share: 0.3,
        date_move_share: 0.2,
        change_share: 0.3,
        bad_share: 0.05,
        ..StoreConfig::default()
    }
}

fn lake_at(path: &Path) -> Lake {
    Lake::open(LakeLocation::parse(path.to_str().unwrap(), S3Settings::default()).unwrap()).unwrap()
}

/// The lake against the source's truth at its watermark, through PyIceberg.
async fn check_lake(lake: &Lake, config: &StoreConfig) {
    let high_water = watermark::current(lake)
        .await
        .unwrap()
        .expect("a watermark")
        .watermark
        .high_water;
    let truth = SyntheticStore::new(config.clone())
        .unwrap()
        .truth(high_water);
    let warehouse = Warehouse::open(lake).await.unwrap();
    check_with_pyiceberg(warehouse.location(), &truth, &[]);
    assert!(
        ledger::open_runs(lake).await.unwrap().is_empty(),
        "a run was left unfinished"
    );
}

/// Every run's silver and gold records in the ledger.
async fn ledger_records(lake: &Lake) -> (Vec<TransformOutput>, Vec<GoldOutput>) {
    let (mut silver, mut gold) = (Vec::new(), Vec::new());
    for key in lake.list(layout::LEDGER_RUNS).await.unwrap() {
        if key.ends_with("/silver.json") {
            silver.push(lake.get_json(&key).await.unwrap().unwrap());
        } else if key.ends_with("/gold.json") {
            gold.push(lake.get_json(&key).await.unwrap().unwrap());
        }
    }
    (silver, gold)
}

/// A new lake in a temporary directory, and the busy source on loopback.
async fn busy_lake() -> (tempfile::TempDir, Lake, StoreConfig, LocalSource) {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_at(dir.path());
    let config = busy_source();
    let source = LocalSource::start(config.clone(), config.day0_end())
        .await
        .unwrap();
    (dir, lake, config, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rounds_on_one_lake_hold_every_invariant() {
    let (_dir, lake, _, source) = busy_lake().await;
    let pipeline = Pipeline::new(lake.clone(), &source.url, true)
        .await
        .unwrap();
    let warehouse = Warehouse::open(&lake).await.unwrap();
    let rounds = 200;
    let points = soak(
        &pipeline,
        &source,
        rounds,
        25,
        chrono::Duration::hours(2),
        Maintenance::every(20, 10).as_ref(),
        async |point| {
            println!("{}", point.line());
            let truth = source.state.store.truth(point.high_water);
            check_with_pyiceberg(warehouse.location(), &truth, &[]);
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(points.len(), 8);
    assert!(ledger::open_runs(&lake).await.unwrap().is_empty());
    // Maintained every 20 rounds, the lake stops growing where it does not hold more data:
    // measured right after a maintenance (rounds 100 and 200), the files under `data/` and
    // `metadata/` and the newest metadata file stay near their level at the first such point
    // (without maintenance they grow with every round).
    let maintained: Vec<_> = points
        .iter()
        .filter(|p| p.round % 20 == 0)
        .map(|p| &p.lake)
        .collect();
    assert_eq!(maintained.len(), 2);
    let (first, last) = (maintained[0], maintained[1]);
    assert!(
        last.metadata.files <= 2 * first.metadata.files
            && last.newest_metadata_bytes <= 2 * first.newest_metadata_bytes
            && last.data.files <= 2 * first.data.files,
        "the lake grew from {first:?} to {last:?}"
    );

    // Every path was taken, and often.
    let (silver, gold) = ledger_records(&lake).await;
    assert_eq!(silver.len(), rounds as usize + 1, "one record per run");
    let commits = |table: &str| {
        silver
            .iter()
            .flat_map(|s| s.tables.iter())
            .chain(gold.iter().flat_map(|g| g.tables.iter()))
            .filter(|t| t.table == table && t.snapshot_id.is_some())
            .cloned()
            .collect::<Vec<_>>()
    };
    for entity in [
        "customers_transformed",
        "products_transformed",
        "dim_customers",
    ] {
        let written = commits(entity);
        let appends = written.iter().filter(|c| c.files_removed == 0).count();
        let rewrites = written.iter().filter(|c| c.files_removed > 0).count();
        assert!(
            appends >= 20 && rewrites >= 10,
            "{entity}: {appends} appends of new keys, {rewrites} rewrites (changed keys or past 8 files)"
        );
    }
    let quarantined = commits("orders_quarantine").len();
    assert!(
        quarantined >= 50,
        "the quarantine grew in {quarantined} rounds"
    );
    let calendars = commits("dim_dates").len();
    assert!(calendars >= 10, "dim_dates grew in {calendars} rounds");
    let truth = source
        .state
        .store
        .truth(points[points.len() - 1].high_water);
    assert!(
        truth.moved_orders.len() >= 100 && truth.changed_customers >= 100,
        "{} moved orders, {} changed customers",
        truth.moved_orders.len(),
        truth.changed_customers
    );
}

/// The `lakehouse` binary on a lake, with a short lease so a killed run's claim expires soon.
fn lakehouse(lake: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lakehouse"));
    command
        .arg("--lake")
        .arg(lake)
        .args(args)
        .env_remove("LAKEHOUSE_LAKE")
        .env_remove("LAKEHOUSE_API_URL")
        .env("LAKEHOUSE_LEASE_SECONDS", "1")
        .env("LAKEHOUSE_LEASE_WAIT_SECONDS", "120")
        .env("LAKEHOUSE_LOG", "info");
    command
}

/// `lakehouse` started with its output captured, for `succeeded` to read.
fn spawn(lake: &Path, args: &[&str]) -> Child {
    lakehouse(lake, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

const ROUND: &[&str] = &[
    "run",
    "--mode",
    "incremental",
    "--round-hours",
    "3",
    "--quiet",
];

/// Maintenance that keeps no more history than it must: every snapshot but the current one
/// expired, every unreferenced file deleted however new.
const MAINTAIN_EAGERLY: &[&str] = &[
    "maintain",
    "--older-than",
    "0s",
    "--keep-last",
    "1",
    "--margin",
    "0s",
];

fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A new lake with its day-0 load from the busy source.
fn day0(lake: &Path) {
    let config = busy_source();
    let numbers = [
        ("--orders", config.orders.to_string()),
        ("--days", config.history_days.to_string()),
        ("--seed", config.seed.to_string()),
        ("--update-share", config.update_share.to_string()),
        ("--date-move-share", config.date_move_share.to_string()),
        ("--change-share", config.change_share.to_string()),
        ("--bad-share", config.bad_share.to_string()),
    ];
    let mut args = vec!["run", "--rounds", "0", "--quiet"];
    for (flag, value) in &numbers {
        args.extend([*flag, value.as_str()]);
    }
    succeeded(lakehouse(lake, &args).output().unwrap());
}

/// The source settings the CLI stored in the lake (`customers` follows from `--orders`).
async fn stored_source(lake: &Lake) -> StoreConfig {
    lake.get_json(lakehouse_cli::source::SETTINGS_KEY)
        .await
        .unwrap()
        .unwrap()
}

/// Where a killed run got to, from its log: the last step it reported.
fn reached(log: &str) -> &'static str {
    let gold_tables = ["fact_sales", "dim_customers", "dim_products", "dim_dates"];
    let mut stage = "start or extract";
    for line in log.lines() {
        if line.contains("extracted") || line.contains("manifest exists") {
            stage = "transform: reading";
        } else if line.contains("classified") {
            stage = "transform: silver commits";
        } else if line.contains(" committed") && gold_tables.iter().any(|t| line.contains(t)) {
            stage = "gold commits";
        }
    }
    stage
}

/// A seeded xorshift: the kill moments differ from kill to kill, the same in every run.
struct Moments(u64);

impl Moments {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_at_any_moment_is_finished_by_the_next_ordinary_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lake");
    day0(&path);
    // An ordinary round's time, process start to exit: the kills fall anywhere in it.
    let started = Instant::now();
    succeeded(lakehouse(&path, ROUND).output().unwrap());
    let round_ms = started.elapsed().as_millis() as u64;

    let mut moments = Moments(0x5eed_1e55_c0ff_ee42);
    let mut stages = std::collections::BTreeMap::<&str, u32>::new();
    let logs = tempfile::tempdir().unwrap();
    for kill in 0..40 {
        let log_path = logs.path().join(format!("kill-{kill}.log"));
        let mut victim: Child = lakehouse(&path, ROUND)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(moments.next_below(round_ms * 3 / 2)));
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        let log = std::fs::read_to_string(&log_path).unwrap();
        *stages.entry(reached(&log)).or_default() += 1;
        // Every fourth kill, maintenance comes first and expires all history but the current
        // snapshot: a run killed between a commit and its ledger record must still be found
        // committed once its snapshot is gone.
        if kill % 4 == 3 {
            succeeded(lakehouse(&path, MAINTAIN_EAGERLY).output().unwrap());
        }
        // Only the next ordinary run follows: no --resume.
        succeeded(lakehouse(&path, ROUND).output().unwrap());
    }
    println!("killed runs by the stage they had reached: {stages:?}");
    assert!(
        stages.len() >= 3,
        "the kills should land in several stages: {stages:?}"
    );

    let lake = lake_at(&path);
    check_lake(&lake, &stored_source(&lake).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_alongside_runs_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lake");
    day0(&path);
    let maintain = MAINTAIN_EAGERLY;
    for _ in 0..3 {
        let mut processes: Vec<Child> = (0..3).map(|_| spawn(&path, ROUND)).collect();
        processes.insert(1, spawn(&path, maintain));
        for process in processes {
            succeeded(process.wait_with_output().unwrap());
        }
    }
    let out = succeeded(lakehouse(&path, maintain).output().unwrap());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("snapshots expired"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lake = lake_at(&path);
    check_lake(&lake, &stored_source(&lake).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_queue_on_the_lease_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lake");
    day0(&path);
    for _ in 0..4 {
        let runs: Vec<Child> = (0..4).map(|_| spawn(&path, ROUND)).collect();
        for run in runs {
            succeeded(run.wait_with_output().unwrap());
        }
    }
    let lake = lake_at(&path);
    check_lake(&lake, &stored_source(&lake).await).await;
}

/// The lease aside: runs at once under one owner (as if the lease were lost or never taken).
/// Every table change is computed in its commit attempt from the tables as that attempt loads
/// them, so a commit that loses a race is recomputed, not replayed. Four times: four whole
/// rounds at once (most lose the race to advance the watermark and leave their landed run open
/// for the next one), then four landed batches transformed and built into gold at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_without_the_lease_lose_nothing() {
    let (_dir, lake, config, source) = busy_lake().await;
    let mut pipelines = Vec::new();
    for _ in 0..4 {
        let mut pipeline = Pipeline::new(lake.clone(), &source.url, true)
            .await
            .unwrap()
            .with_lease(quick_lease());
        pipeline.owner = "one-owner-for-all".into();
        pipelines.push(pipeline);
    }
    let first = &pipelines[0];
    first.round(Mode::Full, None).await.unwrap();
    let step = chrono::Duration::hours(3);
    let recomputed = |tables: &[TableCommit]| tables.iter().filter(|t| t.attempts > 1).count();
    let (mut failed, mut retried) = (0, 0);
    for _ in 0..4 {
        source
            .advance_for(&lake, Mode::Incremental, step)
            .await
            .unwrap();
        let rounds = pipelines.iter().map(|p| p.round(Mode::Incremental, None));
        for round in futures::future::join_all(rounds).await {
            match round {
                Ok(round) => {
                    retried += round.transform.map_or(0, |t| recomputed(&t.tables));
                    retried += round.gold.map_or(0, |g| recomputed(&g.tables));
                }
                Err(e) => {
                    println!("a concurrent round failed: {e:#}");
                    failed += 1;
                }
            }
        }

        let mut landed = Vec::new();
        for _ in 0..4 {
            source
                .advance_for(&lake, Mode::Incremental, step)
                .await
                .unwrap();
            let input = ExtractInput {
                mode: Mode::Incremental,
                run_id: None,
                lease: Some(LeaseHolder {
                    owner: first.owner.clone(),
                }),
            };
            landed.push(extractor::run(input, &first.extract).await.unwrap());
        }
        let finished = pipelines.iter().zip(landed).map(|(p, run)| async move {
            let silver = transformer::run(run, &p.transform).await?;
            let gold = gold_builder::run(silver.clone(), &p.gold).await?;
            Ok::<_, anyhow::Error>(recomputed(&silver.tables) + recomputed(&gold.tables))
        });
        for outcome in futures::future::join_all(finished).await {
            match outcome {
                Ok(n) => retried += n,
                Err(e) => {
                    println!("a concurrent run failed: {e:#}");
                    failed += 1;
                }
            }
        }
    }
    println!("{failed} of 32 concurrent runs failed; {retried} commits were recomputed");
    assert!(
        retried > 0,
        "no commit ever lost a race: the test proves nothing"
    );
    // The next ordinary run finishes what the failed ones left.
    source
        .advance_for(&lake, Mode::Incremental, chrono::Duration::hours(3))
        .await
        .unwrap();
    pipelines[0].round(Mode::Incremental, None).await.unwrap();
    check_lake(&lake, &config).await;
}
