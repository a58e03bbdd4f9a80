//! The silver layer: a resolved batch shaped for its tables ([`orders`], [`entities`]), and
//! what it asks of them: each a declarative write ([`TableWrite`]) that `lakehouse-tables`
//! carries out inside its commit retry loop, tagged with the run id.

pub mod entities;
pub mod orders;

use lakehouse_core::{contracts::TableCommit, runid::RunId};
use lakehouse_tables::{
    Change, Rows, TableDef, TableWrite,
    bridge::conform,
    schemas::{CUSTOMERS, ORDERS, PRODUCTS, QUARANTINE},
};
use polars::prelude::*;

use crate::{Deps, Result, TransformError};

/// What says a bad record was already quarantined: the hash of its line, the same when an
/// overlap window delivers the same record again, and another for any other record, whatever
/// its order id and time.
pub(crate) const QUARANTINE_IDENTITY: &[&str] = &["raw_hash"];

/// Commits the batch to the four silver tables. The commits are independent (each is
/// exactly-once on its own table) and run concurrently: while one waits on its Parquet encoding
/// (on the blocking pool) or on storage, another does its polars work. All four run to the end
/// before the first error, if any, is returned, so no commit is abandoned half way.
pub(crate) async fn write(
    deps: &Deps,
    run_id: &RunId,
    batch: &DataFrame,
    bad: DataFrame,
) -> Result<Vec<TableCommit>> {
    let has_orders = batch.height() > 0;
    let apply = |write: TableWrite| async move {
        Ok::<_, TransformError>(
            write
                .apply(&deps.tables.warehouse, run_id, &deps.tables.retry)
                .await?,
        )
    };
    let orders = TableWrite::new(
        &ORDERS,
        Change::Merge {
            rows: batch.clone(),
            latest: entities::latest_by,
        },
    );
    let quarantine = TableWrite::new(
        &QUARANTINE,
        Change::AppendNew {
            rows: bad.clone(),
            on: QUARANTINE_IDENTITY,
        },
    );
    let (orders, customers, products, quarantine) = futures::join!(
        when(has_orders, apply(orders)),
        when(
            has_orders,
            merge_entities(
                deps,
                run_id,
                &CUSTOMERS,
                customer_rows(batch),
                entities::customers
            )
        ),
        when(
            has_orders,
            merge_entities(
                deps,
                run_id,
                &PRODUCTS,
                product_rows(batch),
                entities::products
            )
        ),
        when(bad.height() > 0, apply(quarantine)),
    );
    [orders, customers, products, quarantine]
        .into_iter()
        .filter_map(Result::transpose)
        .collect()
}

/// The commit's outcome if `needed`, without starting it otherwise.
async fn when(
    needed: bool,
    commit: impl Future<Output = Result<TableCommit>>,
) -> Result<Option<TableCommit>> {
    if needed {
        commit.await.map(Some)
    } else {
        Ok(None)
    }
}

fn customer_rows(batch: &DataFrame) -> LazyFrame {
    batch.clone().lazy().select([
        col("customer_id"),
        col("customer_name"),
        col("customer_email"),
        col("customer_country"),
        col("customer_segment"),
        col("order_date").alias("first_order_date"),
        col("updated_at"),
        col("run_id"),
    ])
}

fn product_rows(batch: &DataFrame) -> LazyFrame {
    batch.clone().lazy().select([
        col("product_id"),
        col("product_name"),
        col("product_category"),
        col("unit_price"),
        col("updated_at"),
        col("run_id"),
    ])
}

/// Customers and products: the table's rows and the batch's go through the same reduction,
/// which keeps one row per key, and only the keys whose attributes changed are written
/// ([`Change::Upsert`]). A version that repeats a row's attributes with a later `updated_at` is
/// no change: `updated_at` and `run_id` say when the row's attributes were last set, and by
/// which run.
///
/// The batch is reduced on its own first, once for all commit attempts: a day-0 batch names
/// its ~200,000 customers in a million order rows, and joining those rows with the table's
/// keys hashed every one of them. Reducing the table's rows with the reduced batch gives what
/// reducing them with the whole batch did: the latest of each key's latest versions (the
/// batch's still after the table's, so it wins ties) and the earliest of its earliest.
///
/// That first reduction runs on the blocking pool: on this task, a day-0 batch's customers
/// held back the orders' commit, which `write` polls on the same task.
async fn merge_entities(
    deps: &Deps,
    run_id: &RunId,
    def: &'static TableDef,
    rows: LazyFrame,
    reduce: fn(&DataFrame) -> PolarsResult<DataFrame>,
) -> Result<TableCommit> {
    // `reduce` reads the table's types.
    let batch = tokio::task::spawn_blocking(move || reduce(&conform(rows, def).collect()?))
        .await
        .map_err(|source| TransformError::Task {
            what: format!("reducing the batch's {}", def.name),
            source,
        })??;
    let write = TableWrite::new(
        def,
        Change::Upsert {
            rows: Rows::Frame(batch),
            reduce: Some(reduce),
        },
    );
    Ok(write
        .apply(&deps.tables.warehouse, run_id, &deps.tables.retry)
        .await?)
}
