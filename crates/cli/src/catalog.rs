//! `lakehouse catalog migrate`: the lake's tables moved from its file catalog into the REST
//! catalog the flags name (`lakehouse_tables::migrate`).

use anyhow::{Context, Result, bail};
use lakehouse_core::{Lake, config::CatalogSettings, lease::LeaseConfig};
use lakehouse_tables::{
    Warehouse,
    migrate::{self, MigratedTable, Outcome},
};

/// Moves the tables of `lake`'s file catalog into its REST catalog, under the lake's lease.
pub async fn migrate(lake: &Lake, lease: &LeaseConfig) -> Result<Vec<MigratedTable>> {
    let CatalogSettings::Rest(_) = lake.catalog() else {
        bail!(
            "`catalog migrate` moves the tables into a REST catalog: name it with --catalog-uri \
             and --catalog-warehouse (or LAKEHOUSE_CATALOG_URI and LAKEHOUSE_CATALOG_WAREHOUSE)"
        );
    };
    let from = Warehouse::open(&lake.clone().with_catalog(CatalogSettings::File)).await?;
    let to = Warehouse::open(lake).await?;
    migrate::migrate(&from, &to, lease)
        .await
        .with_context(|| format!("moving the tables to the {} failed; what it moved stands, and running it again finishes it", to.describe()))
}

pub fn print(moved: &[MigratedTable]) {
    let mut grid = crate::inspect::grid(&["table", "rows moved", "outcome"]);
    for table in moved {
        let outcome = match table.outcome {
            Outcome::Moved => "moved",
            Outcome::UpToDate => "up to date",
            Outcome::NotInSource => "not in the file catalog",
        };
        grid.add_row(vec![
            table.table.clone(),
            table.rows.to_string(),
            outcome.to_owned(),
        ]);
    }
    println!("{grid}");
}
