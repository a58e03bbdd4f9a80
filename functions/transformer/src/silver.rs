//! Merging one classified batch into the silver tables, each commit tagged with the run id.

use lakehouse_core::{contracts::TableCommit, runid::RunId};
use lakehouse_tables::{
    bridge::{conform, read_live},
    commit::{LiveFile, commit_run, live_files, rewrite},
    entity::{by_key, upsert},
    schemas::{CUSTOMERS, ORDERS, PRODUCTS, QUARANTINE, TableDef},
};
use polars::prelude::*;

use crate::{Deps, Result, TransformError, transform};

/// Commits the batch to the four silver tables. The commits are independent (each is
/// exactly-once on its own table) and run concurrently: while one waits on its Parquet encoding
/// (on the blocking pool) or on storage, another does its polars work. All four run to the end
/// before the first error, if any, is returned, so no commit is abandoned half way.
pub(crate) async fn write(
    deps: &Deps,
    run_id: &RunId,
    batch: &DataFrame,
    bad: DataFrame,
    days: &[i32],
) -> Result<Vec<TableCommit>> {
    let has_orders = batch.height() > 0;
    let (orders, customers, products, quarantine) = futures::join!(
        when(has_orders, orders(deps, run_id, batch, days)),
        when(
            has_orders,
            merge_entities(
                deps,
                run_id,
                &CUSTOMERS,
                customer_rows(batch),
                transform::customers
            )
        ),
        when(
            has_orders,
            merge_entities(
                deps,
                run_id,
                &PRODUCTS,
                product_rows(batch),
                transform::products
            )
        ),
        when(bad.height() > 0, quarantine(deps, run_id, bad)),
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

/// Orders: only the partitions the batch touches are read and rewritten.
async fn orders(
    deps: &Deps,
    run_id: &RunId,
    batch: &DataFrame,
    days: &[i32],
) -> Result<TableCommit> {
    commit_run::<TransformError>(
        &deps.warehouse,
        &ORDERS,
        run_id,
        &deps.retry,
        async |table| {
            let live = live_files(table).await?;
            let touched: Vec<&LiveFile> = live
                .iter()
                .filter(|f| f.day.is_some_and(|d| days.binary_search(&d).is_ok()))
                .collect();
            let fresh = conform(batch.clone().lazy(), &ORDERS);
            if touched.is_empty() {
                // The batch already holds one row per order (`versions::settle`): with
                // nothing to merge it is written as is (day 0, or only new days).
                return Ok(rewrite(table, &ORDERS, fresh, &[]).await?);
            }
            let existing = read_live(table, &ORDERS, &touched).await?;
            let both = concat([existing, fresh], UnionArgs::default())?.collect()?;
            let merged = transform::latest_by(&both, "order_id")?;
            Ok(rewrite(table, &ORDERS, merged.lazy(), &touched).await?)
        },
    )
    .await
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

async fn quarantine(deps: &Deps, run_id: &RunId, bad: DataFrame) -> Result<TableCommit> {
    commit_run::<TransformError>(
        &deps.warehouse,
        &QUARANTINE,
        run_id,
        &deps.retry,
        async |table| {
            // An overlap window re-delivers records already seen: a bad record already in
            // quarantine (same order, version and reason) is not appended again.
            let live = live_files(table).await?;
            let all: Vec<&LiveFile> = live.iter().collect();
            let seen = read_live(table, &QUARANTINE, &all).await?;
            let fresh = transform::not_yet_quarantined(bad.clone().lazy(), seen);
            Ok(rewrite(table, &QUARANTINE, fresh, &[]).await?)
        },
    )
    .await
}

/// Customers and products: the table's rows and the batch's go through the same reduction,
/// which keeps one row per key, and only the keys whose attributes changed are written
/// ([`upsert`]). A version that repeats a row's attributes with a later `updated_at` is no
/// change: `updated_at` and `run_id` say when the row's attributes were last set, and by which
/// run.
///
/// The batch is reduced on its own first, once for all commit attempts: a day-0 batch names
/// its ~200,000 customers in a million order rows, and joining those rows with the table's
/// keys hashed every one of them. Reducing the table's rows with the reduced batch gives what
/// reducing them with the whole batch did: the latest of each key's latest versions (the
/// batch's still after the table's, so it wins ties) and the earliest of its earliest.
///
/// That first reduction runs on the blocking pool: on this task, a day-0 batch's customers
/// (a tenth of a second of both cores) held back the orders' commit, which `write` polls on the
/// same task, and the cores idled where the reduction's passes narrow to one.
async fn merge_entities(
    deps: &Deps,
    run_id: &RunId,
    def: &'static TableDef,
    rows: LazyFrame,
    reduce: fn(&DataFrame) -> PolarsResult<DataFrame>,
) -> Result<TableCommit> {
    let key = def.require_key()?;
    // Conformed twice: `reduce` needs the table's types, and may move a column (customers
    // appends first_order_date), where stacking with the table's rows needs its order.
    let batch = tokio::task::spawn_blocking(move || {
        conform(reduce(&conform(rows, def).collect()?)?.lazy(), def).collect()
    })
    .await
    .map_err(|source| TransformError::Task {
        what: format!("reducing the batch's {}", def.name),
        source,
    })??;
    commit_run::<TransformError>(&deps.warehouse, def, run_id, &deps.retry, async |table| {
        let live = live_files(table).await?;
        let all: Vec<&LiveFile> = live.iter().collect();
        let have = read_live(table, def, &all).await?.collect()?;
        // The table's rows of the batch's keys: only those can change.
        let known = by_key(
            have.clone().lazy(),
            batch.clone().lazy(),
            key,
            JoinType::Semi,
        )
        .collect()?;
        let wanted = if known.height() == 0 {
            batch.clone()
        } else {
            reduce(&known.vstack(&batch)?)?
        };
        Ok(upsert(table, def, have, wanted, &all).await?)
    })
    .await
}
