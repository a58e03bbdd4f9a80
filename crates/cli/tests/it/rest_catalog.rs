//! The REST catalog keeps the file catalog's guarantees, each checked against SeaweedFS's
//! Iceberg REST catalog: a lost race is a 409 and retried, a table's first commit is guarded,
//! a refused load is an error and not a missing table, a commit whose answer is lost is found
//! rather than made twice, and signing keys are read on every call, so rotated keys are used.

use std::sync::{Arc, Mutex, atomic::Ordering};

use iceberg_rust::catalog::{Catalog, namespace::Namespace};
use lakehouse_core::{
    Lake,
    config::{CatalogSettings, RestCatalogSettings},
    runid::RunId,
    store::LakeLocation,
};
use lakehouse_tables::{
    Change, Rows, TableDef, TableWrite, TablesError, Warehouse,
    commit::RetryPolicy,
    datafile::write_frame,
    live::live_files,
    rest::{Failure, RestCatalog, RestError},
    schemas::FACT_SALES,
};
use object_store::{CredentialProvider, aws::AwsCredential};
use polars::prelude::*;

use crate::harness::{self, Fault, Proxy, S3Server, runtime};

fn settings(server: &S3Server, uri: &str, secret: &str) -> RestCatalogSettings {
    RestCatalogSettings {
        uri: uri.to_owned(),
        warehouse: format!("s3://{}", harness::TABLE_BUCKET),
        signing_name: Some("s3tables".into()),
        s3: harness::s3_settings(&server.endpoint, secret),
    }
}

/// A warehouse in the server's REST catalog reached at `uri` (the catalog, or a proxy of it),
/// the lake (ledger, lease) in its regular bucket.
async fn warehouse_at(server: &S3Server, uri: &str) -> Warehouse {
    let settings = settings(server, uri, harness::SECRET_KEY);
    let location = LakeLocation::parse("s3://lake/rest", settings.s3.clone()).unwrap();
    let lake = Lake::open(location)
        .unwrap()
        .with_catalog(CatalogSettings::Rest(settings));
    Warehouse::open(&lake).await.unwrap()
}

/// One row per day of a table's columns, each value derived from its day (days since the
/// epoch, cast to the column's type): distinct keys, one partition per day.
fn rows_of(def: &TableDef, days: &[i32]) -> DataFrame {
    let columns: Vec<Column> = def
        .columns
        .iter()
        .map(|(name, ty, _)| {
            Series::new((*name).into(), days)
                .cast(&ty.polars())
                .unwrap()
                .into()
        })
        .collect();
    DataFrame::new(days.len(), columns).unwrap()
}

fn append(days: &[i32]) -> TableWrite {
    TableWrite::new(
        &FACT_SALES,
        Change::ReplacePartitions {
            days: Vec::new(),
            rows: Rows::Frame(rows_of(&FACT_SALES, days)),
        },
    )
}

async fn rows_in(warehouse: &Warehouse, def: &TableDef) -> i64 {
    let table = warehouse.require(def.name).await.unwrap();
    live_files(&table, None)
        .await
        .unwrap()
        .iter()
        .map(|f| f.records)
        .sum()
}

fn run(n: u32) -> RunId {
    RunId::parse(&format!("20260101T00000{n}Z-rest")).unwrap()
}

fn rest_failure(error: &iceberg_rust::error::Error) -> Option<Failure> {
    match error {
        iceberg_rust::error::Error::External(e) => {
            e.downcast_ref::<RestError>().map(|e| e.failure())
        }
        _ => None,
    }
}

/// Appends rows of `days` through `table` as it was loaded, without the commit loop: the
/// catalog's answer to a table that may have moved on since.
async fn append_through(
    table: &mut iceberg_rust::table::Table,
    days: &[i32],
) -> Result<(), iceberg_rust::error::Error> {
    let files = write_frame(table, &FACT_SALES, rows_of(&FACT_SALES, days))
        .await
        .unwrap();
    table
        .new_transaction(None)
        .append_data(files)
        .commit()
        .await
}

/// Two writers hold the same empty table. The first commit lands; the second, built on the
/// empty table, is refused with a 409 (without the guard it would land too and replace the
/// first one's snapshot), which the commit loop reads as a race to retry.
#[test]
fn a_stale_first_commit_is_refused_as_a_conflict() {
    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let warehouse = warehouse_at(&server, &server.catalog).await;
        let mut first = warehouse.load_or_create(&FACT_SALES).await.unwrap();
        let mut second = warehouse.require(FACT_SALES.name).await.unwrap();
        append_through(&mut first, &[20_454, 20_455]).await.unwrap();
        let refused = append_through(&mut second, &[20_456]).await.unwrap_err();
        assert_eq!(rest_failure(&refused), Some(Failure::Conflict), "{refused}");
        assert!(refused.to_string().contains("409"), "{refused}");
        assert!(TablesError::Iceberg(refused).is_retryable());
        assert_eq!(
            rows_in(&warehouse, &FACT_SALES).await,
            2,
            "the first commit's rows stay"
        );

        // A stale commit on a table with snapshots is refused the same way.
        let mut stale = warehouse.require(FACT_SALES.name).await.unwrap();
        append(&[20_457])
            .apply(&warehouse, &run(1), &RetryPolicy::default())
            .await
            .unwrap();
        let refused = append_through(&mut stale, &[20_458]).await.unwrap_err();
        assert_eq!(rest_failure(&refused), Some(Failure::Conflict), "{refused}");
        assert_eq!(rows_in(&warehouse, &FACT_SALES).await, 3);
    });
}

/// Writers that start together on a table that does not exist yet: they race to create it
/// (one wins, the others use it) and to make its first snapshot (one wins, the others retry
/// on the reloaded table). Every writer's rows are there afterwards.
#[test]
fn concurrent_first_writes_to_a_new_table_lose_no_rows() {
    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let warehouse = warehouse_at(&server, &server.catalog).await;
        let writers = 4;
        let commits = futures::future::join_all((0..writers).map(|w| {
            let warehouse = warehouse.clone();
            async move {
                append(&[20_454 + w as i32])
                    .apply(&warehouse, &run(w), &RetryPolicy::default())
                    .await
                    .unwrap()
            }
        }))
        .await;
        assert_eq!(rows_in(&warehouse, &FACT_SALES).await, i64::from(writers));
        let attempts: u32 = commits.iter().map(|c| c.attempts).sum();
        assert!(
            attempts > writers,
            "no writer lost a race ({attempts} attempts): the test proved nothing"
        );
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        assert_eq!(table.metadata().snapshots.len(), writers as usize);
    });
}

/// A catalog that refuses the request (here: a wrong secret, 403) fails the load; only a 404
/// means the table does not exist. A catalog nobody answers for is an outcome unknown, worth
/// retrying.
#[test]
fn a_refused_load_is_an_error_and_not_a_missing_table() {
    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let warehouse = warehouse_at(&server, &server.catalog).await;
        assert!(warehouse.load(FACT_SALES.name).await.unwrap().is_none());

        let wrong = settings(&server, &server.catalog, "not-the-secret");
        let lake = Lake::open(LakeLocation::parse("s3://lake/rest", wrong.s3.clone()).unwrap())
            .unwrap()
            .with_catalog(CatalogSettings::Rest(wrong));
        let refused = Warehouse::open(&lake)
            .await
            .unwrap()
            .load(FACT_SALES.name)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("HTTP 403"), "{refused}");
        assert!(!refused.is_retryable(), "{refused}");

        let nobody = settings(&server, "http://127.0.0.1:9", harness::SECRET_KEY);
        let lake = Lake::open(LakeLocation::parse("s3://lake/rest", nobody.s3.clone()).unwrap())
            .unwrap()
            .with_catalog(CatalogSettings::Rest(nobody));
        let unanswered = Warehouse::open(&lake).await.unwrap_err();
        assert!(unanswered.is_retryable(), "{unanswered}");
    });
}

/// A commit answered with a 5xx may or may not have been made. The commit loop's next attempt
/// reloads the table and looks for the run's snapshot: one that was made is found (and not
/// made twice), one that was not is made.
#[test]
fn a_commit_whose_outcome_is_unknown_is_made_exactly_once() {
    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let (proxy, uri) = Proxy::start(&server.catalog).await;
        let warehouse = warehouse_at(&server, &uri).await;
        let policy = RetryPolicy {
            first_backoff: std::time::Duration::from_millis(10),
            ..RetryPolicy::default()
        };

        let mut expected_rows = 0;
        for (n, fault) in [Fault::LoseAnswer, Fault::FailBefore, Fault::LoseAnswer]
            .into_iter()
            .enumerate()
        {
            proxy.fail_next("POST", "/tables/fact_sales", fault);
            let days: Vec<i32> = (0..3).map(|d| 20_454 + 10 * n as i32 + d).collect();
            let commit = append(&days)
                .apply(&warehouse, &run(n as u32), &policy)
                .await
                .unwrap();
            expected_rows += days.len() as i64;
            assert_eq!(commit.attempts, 2, "{fault:?}: {commit:?}");
            assert_eq!(
                commit.already_committed,
                fault == Fault::LoseAnswer,
                "{fault:?}: {commit:?}"
            );
            assert_eq!(
                rows_in(&warehouse, &FACT_SALES).await,
                expected_rows,
                "{fault:?}"
            );
            let table = warehouse.require(FACT_SALES.name).await.unwrap();
            assert_eq!(
                table.metadata().snapshots.len(),
                n + 1,
                "{fault:?}: one snapshot per run"
            );
        }
        assert_eq!(proxy.faults.load(Ordering::SeqCst), 3);
    });
}

/// Keys that change between calls, as a role's do when they are refreshed.
#[derive(Debug)]
struct Rotating(Mutex<(String, String)>);

#[async_trait::async_trait]
impl CredentialProvider for Rotating {
    type Credential = AwsCredential;
    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let (key_id, secret_key) = self.0.lock().unwrap().clone();
        Ok(Arc::new(AwsCredential {
            key_id,
            secret_key,
            token: None,
        }))
    }
}

#[test]
fn signing_keys_are_read_on_every_call() {
    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let keys = Arc::new(Rotating(Mutex::new((
            harness::ACCESS_KEY.into(),
            harness::SECRET_KEY.into(),
        ))));
        let settings = settings(&server, &server.catalog, harness::SECRET_KEY);
        let catalog = RestCatalog::connect_with(&settings, keys.clone())
            .await
            .unwrap();
        let namespace = Namespace::try_new(&["rotation".to_owned()]).unwrap();
        catalog.create_namespace(&namespace, None).await.unwrap();
        // Created twice: "already exists" is success.
        catalog.create_namespace(&namespace, None).await.unwrap();

        *keys.0.lock().unwrap() = (harness::ACCESS_KEY.into(), "revoked".into());
        let refused = catalog.namespace_exists(&namespace).await.unwrap_err();
        assert_eq!(rest_failure(&refused), Some(Failure::Refused), "{refused}");

        *keys.0.lock().unwrap() = (
            harness::ROTATED_ACCESS_KEY.into(),
            harness::ROTATED_SECRET_KEY.into(),
        );
        assert!(catalog.namespace_exists(&namespace).await.unwrap());
        let missing = Namespace::try_new(&["never-created".to_owned()]).unwrap();
        assert!(!catalog.namespace_exists(&missing).await.unwrap());
    });
}

/// Every object in the server's table bucket.
async fn table_bucket_objects(server: &S3Server) -> std::collections::BTreeSet<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let store = harness::s3_settings(&server.endpoint, harness::SECRET_KEY)
        .s3_builder(harness::TABLE_BUCKET)
        .build()
        .unwrap();
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    listed.into_iter().map(|o| o.location.to_string()).collect()
}

/// Maintenance told to leave the table files to the catalog (as it always does for an S3
/// Tables warehouse, whose S3 API can neither list nor delete) still expires snapshots by a
/// commit, and deletes no object of the table bucket; the same maintenance with file cleanup
/// deletes what the expired snapshots alone reached.
#[test]
fn maintenance_that_leaves_files_to_the_catalog_expires_and_deletes_nothing() {
    use chrono::Duration;
    use lakehouse_tables::maintain::{self, Options};

    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let warehouse = warehouse_at(&server, &server.catalog).await;
        for n in 0..4 {
            append(&[20_454 + n as i32])
                .apply(&warehouse, &run(n), &RetryPolicy::default())
                .await
                .unwrap();
        }
        let before = table_bucket_objects(&server).await;
        let options = Options {
            older_than: Duration::zero(),
            keep_last: 1,
            margin: Duration::zero(),
            remove_files: false,
            ..Options::default()
        };
        let lease = crate::e2e::quick_lease();
        let kept = maintain::maintain_lake(&warehouse, &lease, &options)
            .await
            .unwrap();
        assert!(kept.files_left_to_catalog);
        let report = &kept.tables[0];
        assert_eq!(report.snapshots_expired, 3, "{report:?}");
        assert_eq!((report.files_deleted, report.metadata_deleted), (0, 0));
        let after = table_bucket_objects(&server).await;
        assert!(
            before.is_subset(&after),
            "objects gone: {:?}",
            before.difference(&after).collect::<Vec<_>>()
        );
        let table = warehouse.require(FACT_SALES.name).await.unwrap();
        assert_eq!(table.metadata().snapshots.len(), 1);
        assert_eq!(rows_in(&warehouse, &FACT_SALES).await, 4);

        let cleaned = maintain::maintain_lake(
            &warehouse,
            &lease,
            &Options {
                remove_files: true,
                ..options
            },
        )
        .await
        .unwrap();
        assert!(!cleaned.files_left_to_catalog);
        assert!(cleaned.tables[0].metadata_deleted > 0, "{cleaned:?}");
        assert!(table_bucket_objects(&server).await.len() < after.len());
        assert_eq!(rows_in(&warehouse, &FACT_SALES).await, 4);
    });
}

/// Every table of `def`s in both warehouses, sorted by all its columns, is the same.
async fn agree(file: &Warehouse, rest: &Warehouse) {
    for def in lakehouse_tables::schemas::ALL {
        let read = async |w: &Warehouse| {
            let rows = w.read_table(def).await.unwrap().unwrap().collect().unwrap();
            let by: Vec<PlSmallStr> = rows.get_column_names_owned();
            rows.sort(by, SortMultipleOptions::default()).unwrap()
        };
        let (a, b) = (read(file).await, read(rest).await);
        assert!(a.height() > 0, "{}: no rows to compare", def.name);
        assert!(a.equals_missing(&b), "{}: the catalogs disagree", def.name);
    }
}

/// A lake whose tables are in its file catalog, moved into the REST catalog: every table's rows
/// agree afterwards (and PyIceberg checks the moved tables against the source), a second move
/// does nothing, a move after more runs on the file catalog moves them again, the move does
/// not undo runs made on the REST catalog since, and a table both catalogs took runs on since
/// stops it with a clear error.
#[test]
fn a_file_catalog_lake_moves_into_the_rest_catalog() {
    use lakehouse_cli::{catalog, pipeline::Pipeline, source::LocalSource};
    use lakehouse_core::contracts::Mode;
    use lakehouse_tables::migrate::Outcome;

    let server = harness::start_s3_with_catalog("lake");
    runtime().block_on(async {
        let settings = settings(&server, &server.catalog, harness::SECRET_KEY);
        let location = LakeLocation::parse("s3://lake/moving", settings.s3.clone()).unwrap();
        let file_lake = Lake::open(location).unwrap();
        let rest_lake = file_lake
            .clone()
            .with_catalog(CatalogSettings::Rest(settings));
        let config = mock_api::StoreConfig {
            seed: 11,
            orders: 4_000,
            history_days: 10,
            ..mock_api::StoreConfig::default()
        };
        let source = LocalSource::start(config.clone(), config.day0_end())
            .await
            .unwrap();
        let lease = crate::e2e::quick_lease();
        let on = async |lake: &Lake| {
            Pipeline::new(lake.clone(), &source.url, true)
                .await
                .unwrap()
                .with_lease(lease.clone())
        };
        let round = async |lake: &Lake, mode| {
            let round = on(lake).await.round(mode, None).await.unwrap();
            source.set_now(round.extract.window.until + chrono::Duration::hours(6));
            round.extract.window.until
        };
        round(&file_lake, Mode::Full).await;
        let until = round(&file_lake, Mode::Incremental).await;

        let moved = catalog::migrate(&rest_lake, &lease).await.unwrap();
        assert!(
            moved
                .iter()
                .all(|t| t.outcome == Outcome::Moved && t.rows > 0),
            "{moved:?}"
        );
        let file = Warehouse::open(&file_lake).await.unwrap();
        let rest = Warehouse::open(&rest_lake).await.unwrap();
        agree(&file, &rest).await;
        crate::e2e::check_with_pyiceberg(
            &file_lake.location().uri(lakehouse_core::layout::WAREHOUSE),
            &source.state.store.truth(until),
            &[server.env(), server.catalog_env()].concat(),
        );

        let again = catalog::migrate(&rest_lake, &lease).await.unwrap();
        assert!(
            again.iter().all(|t| t.outcome == Outcome::UpToDate),
            "{again:?}"
        );

        // More runs on the file catalog: the changed tables move again.
        round(&file_lake, Mode::Incremental).await;
        let later = catalog::migrate(&rest_lake, &lease).await.unwrap();
        let fact = later.iter().find(|t| t.table == "fact_sales").unwrap();
        assert_eq!(fact.outcome, Outcome::Moved, "{later:?}");
        agree(&file, &rest).await;

        // A run on the REST catalog: moving again leaves it alone (the source did not change).
        round(&rest_lake, Mode::Incremental).await;
        let fact_rows = rows_in(&rest, &FACT_SALES).await;
        let kept = catalog::migrate(&rest_lake, &lease).await.unwrap();
        assert!(
            kept.iter().all(|t| t.outcome == Outcome::UpToDate),
            "{kept:?}"
        );
        assert_eq!(rows_in(&rest, &FACT_SALES).await, fact_rows);

        // Both took runs since: the move stops rather than lose the REST catalog's.
        round(&file_lake, Mode::Incremental).await;
        let diverged = catalog::migrate(&rest_lake, &lease).await.unwrap_err();
        assert!(
            format!("{diverged:#}").contains("commits of its own"),
            "{diverged:#}"
        );
        assert_eq!(rows_in(&rest, &FACT_SALES).await, fact_rows);
    });
}
