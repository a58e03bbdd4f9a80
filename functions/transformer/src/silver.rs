//! Merging one classified batch into the silver tables, each commit tagged with the run id.

use lakehouse_core::{contracts::TableCommit, runid::RunId};
use lakehouse_tables::{
    bridge::{conform, read_live},
    commit::{LiveFile, commit_run, live_files, rewrite},
    schemas::{CUSTOMERS, ORDERS, PRODUCTS, QUARANTINE, TableDef},
};
use polars::prelude::*;

use crate::{Deps, Result, TransformError, transform};

pub(crate) async fn write(
    deps: &Deps,
    run_id: &RunId,
    batch: &DataFrame,
    bad: DataFrame,
    days: &[i32],
) -> Result<Vec<TableCommit>> {
    let wh = &deps.warehouse;
    let policy = &deps.retry;
    let mut commits = Vec::new();
    if batch.height() > 0 {
        // Orders: only the partitions the batch touches are read and rewritten.
        commits.push(
            commit_run::<TransformError>(wh, &ORDERS, run_id, policy, async |table| {
                let live = live_files(table).await?;
                let touched: Vec<&LiveFile> = live
                    .iter()
                    .filter(|f| f.day.is_some_and(|d| days.binary_search(&d).is_ok()))
                    .collect();
                let fresh = conform(batch.clone().lazy(), &ORDERS);
                if touched.is_empty() {
                    // The batch already holds one row per order (latest_by in `run`): with
                    // nothing to merge it is written as is (day 0, or only new days).
                    return Ok(rewrite(table, &ORDERS, fresh, &[]).await?);
                }
                let existing = read_live(table, &ORDERS, &touched).await?;
                let merged = transform::latest_by(
                    concat([existing, fresh], UnionArgs::default())?,
                    "order_id",
                );
                Ok(rewrite(table, &ORDERS, merged, &touched).await?)
            })
            .await?,
        );
        let customer_rows = batch.clone().lazy().select([
            col("customer_id"),
            col("customer_name"),
            col("customer_email"),
            col("customer_country"),
            col("customer_segment"),
            col("order_date").alias("first_order_date"),
            col("updated_at"),
            col("run_id"),
        ]);
        commits.push(
            merge_small(
                deps,
                run_id,
                &CUSTOMERS,
                customer_rows,
                transform::customers,
            )
            .await?,
        );
        let product_rows = batch.clone().lazy().select([
            col("product_id"),
            col("product_name"),
            col("product_category"),
            col("unit_price"),
            col("updated_at"),
            col("run_id"),
        ]);
        commits
            .push(merge_small(deps, run_id, &PRODUCTS, product_rows, transform::products).await?);
    }
    if bad.height() > 0 {
        commits.push(
            commit_run::<TransformError>(wh, &QUARANTINE, run_id, policy, async |table| {
                // An overlap window re-delivers records already seen: a bad record already in
                // quarantine (same order, version and reason) is not appended again.
                let live = live_files(table).await?;
                let all: Vec<&LiveFile> = live.iter().collect();
                let seen = read_live(table, &QUARANTINE, &all).await?;
                let fresh = transform::not_yet_quarantined(bad.clone().lazy(), seen);
                Ok(rewrite(table, &QUARANTINE, fresh, &[]).await?)
            })
            .await?,
        );
    }
    Ok(commits)
}

/// Small tables (customers, products) are rewritten whole: existing rows and the batch's rows
/// go through the same reduction, which keeps one row per key.
async fn merge_small(
    deps: &Deps,
    run_id: &RunId,
    def: &TableDef,
    rows: LazyFrame,
    reduce: fn(LazyFrame) -> LazyFrame,
) -> Result<TableCommit> {
    commit_run::<TransformError>(&deps.warehouse, def, run_id, &deps.retry, async |table| {
        let live = live_files(table).await?;
        let all: Vec<&LiveFile> = live.iter().collect();
        let existing = read_live(table, def, &all).await?;
        let merged = reduce(concat(
            [existing, conform(rows.clone(), def)],
            UnionArgs::default(),
        )?);
        Ok(rewrite(table, def, merged, &all).await?)
    })
    .await
}
