//! Building the star schema from silver.

use chrono::{Datelike, NaiveDate, Weekday};
use lakehouse_core::{
    contracts::TableCommit,
    dates::{from_days, to_days},
    runid::RunId,
};
use lakehouse_tables::{
    Table,
    bridge::{conform, read_live},
    commit::{LiveFile, Plan, commit_run, live_files, rewrite},
    entity::upsert,
    schemas::{
        CUSTOMERS, DIM_CUSTOMERS, DIM_DATES, DIM_PRODUCTS, FACT_SALES, ORDERS, PRODUCTS, TableDef,
    },
};
use polars::prelude::*;

use crate::{Deps, GoldError, Result};

/// One row per day from `first` to `last`, inclusive.
pub fn calendar(first: NaiveDate, last: NaiveDate) -> PolarsResult<DataFrame> {
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let ints = |f: fn(&NaiveDate) -> i32| days.iter().map(f).collect::<Vec<i32>>();
    DataFrame::new_infer_height(vec![
        Column::new("date_key".into(), ints(|d| to_days(*d))).cast(&DataType::Date)?,
        Column::new("year".into(), ints(|d| d.year())),
        Column::new("quarter".into(), ints(|d| d.month0() as i32 / 3 + 1)),
        Column::new("month".into(), ints(|d| d.month() as i32)),
        Column::new("day".into(), ints(|d| d.day() as i32)),
        Column::new(
            "day_of_week".into(),
            ints(|d| d.weekday().number_from_monday() as i32),
        ),
        Column::new("week_of_year".into(), ints(|d| d.iso_week().week() as i32)),
        Column::new(
            "is_weekend".into(),
            days.iter()
                .map(|d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                .collect::<Vec<bool>>(),
        ),
    ])
}

/// A dimension that mirrors a silver entity table: its new and changed rows are written
/// ([`upsert`]), so a round in which no customer changed writes none.
async fn mirror(
    deps: &Deps,
    run_id: &RunId,
    source: &TableDef,
    dim: &TableDef,
) -> Result<TableCommit> {
    let silver = deps.warehouse.require(source.name).await?;
    let files = live_files(&silver).await?;
    let rows = read_live(&silver, source, &files.iter().collect::<Vec<_>>()).await?;
    let wanted = conform(rows, dim).collect()?;
    commit_run::<GoldError>(&deps.warehouse, dim, run_id, &deps.retry, async |table| {
        let live = live_files(table).await?;
        let all: Vec<&LiveFile> = live.iter().collect();
        let have = read_live(table, dim, &all).await?.collect()?;
        Ok(upsert(table, dim, have, wanted.clone(), &all).await?)
    })
    .await
}

async fn dates(deps: &Deps, run_id: &RunId, silver_orders: &[LiveFile]) -> Result<TableCommit> {
    let span = silver_orders.iter().filter_map(|f| f.day);
    let (Some(first), Some(last)) = (span.clone().min(), span.max()) else {
        return Ok(TableCommit {
            table: DIM_DATES.name.into(),
            rows_written: 0,
            files_added: 0,
            files_removed: 0,
            snapshot_id: None,
            already_committed: false,
        });
    };
    let wanted = calendar(from_days(first), from_days(last))?;
    commit_run::<GoldError>(
        &deps.warehouse,
        &DIM_DATES,
        run_id,
        &deps.retry,
        async |table| {
            let live = live_files(table).await?;
            let all: Vec<&LiveFile> = live.iter().collect();
            let have = read_live(table, &DIM_DATES, &all).await?.collect()?;
            if have.height() == wanted.height()
                && have.column("date_key")?.equals(wanted.column("date_key")?)
            {
                return Ok(Plan::default());
            }
            Ok(rewrite(table, &DIM_DATES, wanted.clone().lazy(), &all).await?)
        },
    )
    .await
}

/// Commits the four gold tables. They are independent (each commit is exactly-once on its own
/// table) and run concurrently, as the silver commits do: while one waits on its Parquet
/// encoding (on the blocking pool) or on storage, another does its polars work. All four run to
/// the end before the first error, if any, is returned.
pub(crate) async fn build(
    deps: &Deps,
    run_id: &RunId,
    touched: &[NaiveDate],
) -> Result<Vec<TableCommit>> {
    let silver = deps.warehouse.require(ORDERS.name).await?;
    let silver_files = live_files(&silver).await?;
    // Boxed: side by side, the four commits' futures made a state too large for a 2 MiB
    // thread stack (a test thread's) in debug builds.
    let (fact, customers, products, dates) = futures::join!(
        Box::pin(facts(deps, run_id, &silver, &silver_files, touched)),
        Box::pin(mirror(deps, run_id, &CUSTOMERS, &DIM_CUSTOMERS)),
        Box::pin(mirror(deps, run_id, &PRODUCTS, &DIM_PRODUCTS)),
        Box::pin(dates(deps, run_id, &silver_files)),
    );
    Ok(vec![fact?, customers?, products?, dates?])
}

/// `fact_sales`, rebuilt from silver in the touched partitions only.
async fn facts(
    deps: &Deps,
    run_id: &RunId,
    silver: &Table,
    silver_files: &[LiveFile],
    touched: &[NaiveDate],
) -> Result<TableCommit> {
    let days: Vec<i32> = touched.iter().map(|d| to_days(*d)).collect();
    let in_touched = |f: &&LiveFile| f.day.is_some_and(|d| days.contains(&d));
    let source: Vec<&LiveFile> = silver_files.iter().filter(in_touched).collect();
    let facts = read_live(silver, &ORDERS, &source).await?;
    commit_run::<GoldError>(
        &deps.warehouse,
        &FACT_SALES,
        run_id,
        &deps.retry,
        async |table| {
            let live = live_files(table).await?;
            let replace: Vec<&LiveFile> = live.iter().filter(in_touched).collect();
            Ok(rewrite(table, &FACT_SALES, facts.clone(), &replace).await?)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_covers_the_span_with_iso_attributes() {
        let first = NaiveDate::from_ymd_opt(2025, 12, 30).unwrap();
        let last = NaiveDate::from_ymd_opt(2026, 1, 4).unwrap();
        let cal = calendar(first, last).unwrap();
        assert_eq!(cal.height(), 6);
        let col_i32 = |n: &str| -> Vec<i32> {
            cal.column(n)
                .unwrap()
                .i32()
                .unwrap()
                .iter()
                .flatten()
                .collect()
        };
        assert_eq!(col_i32("year"), [2025, 2025, 2026, 2026, 2026, 2026]);
        assert_eq!(col_i32("quarter"), [4, 4, 1, 1, 1, 1]);
        assert_eq!(col_i32("day_of_week"), [2, 3, 4, 5, 6, 7]);
        assert_eq!(col_i32("week_of_year"), [1, 1, 1, 1, 1, 1]);
        let weekend: Vec<bool> = cal
            .column("is_weekend")
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(weekend, [false, false, false, false, true, true]);
        assert_eq!(cal.column("date_key").unwrap().dtype(), &DataType::Date);
    }
}
