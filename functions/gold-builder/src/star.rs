//! Building the star schema from silver.

use chrono::{Datelike, NaiveDate, Weekday};
use lakehouse_core::{
    contracts::TableCommit,
    dates::{from_days, to_days},
    runid::RunId,
};
use lakehouse_tables::{
    Change, Rows, TableWrite,
    schemas::{CUSTOMERS, DIM_CUSTOMERS, DIM_DATES, DIM_PRODUCTS, FACT_SALES, ORDERS, PRODUCTS},
};
use polars::prelude::*;

use crate::{Deps, Result};

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

/// The calendar of the days from `first` to `last` (days since 1970-01-01).
fn calendar_of_span(first: i32, last: i32) -> PolarsResult<DataFrame> {
    calendar(from_days(first), from_days(last))
}

/// What the run asks of the four gold tables, each read from silver as the commit attempt
/// finds it:
/// - `fact_sales`: the touched day partitions, rebuilt from silver's same partitions;
/// - `dim_customers`, `dim_products`: mirrors of the silver entity tables, written as the new
///   and changed keys they take (a round in which no customer changed reads and writes none);
/// - `dim_dates`: a calendar spanning the facts, rewritten only when the span changes.
pub fn writes(touched: &[NaiveDate]) -> [TableWrite; 4] {
    let days: Vec<i32> = touched.iter().map(|d| to_days(*d)).collect();
    [
        TableWrite::new(
            &FACT_SALES,
            Change::ReplacePartitions {
                rows: Rows::Table {
                    def: &ORDERS,
                    days: Some(days.clone()),
                },
                days,
            },
        ),
        TableWrite::new(&DIM_CUSTOMERS, Change::Mirror { source: &CUSTOMERS }),
        TableWrite::new(&DIM_PRODUCTS, Change::Mirror { source: &PRODUCTS }),
        TableWrite::new(
            &DIM_DATES,
            Change::ReplaceIfChanged {
                rows: Rows::DaySpan {
                    def: &ORDERS,
                    make: calendar_of_span,
                },
            },
        ),
    ]
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
    let [fact, customers, products, dates] = writes(touched)
        .map(|write| async move { write.apply(&deps.warehouse, run_id, &deps.retry).await });
    // Boxed: side by side, the four commits' futures made a state too large for a 2 MiB
    // thread stack (a test thread's) in debug builds.
    let (fact, customers, products, dates) = futures::join!(
        Box::pin(fact),
        Box::pin(customers),
        Box::pin(products),
        Box::pin(dates),
    );
    Ok(vec![fact?, customers?, products?, dates?])
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
