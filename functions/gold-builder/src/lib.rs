//! gold-builder: silver -> the star schema.
//!
//! `fact_sales` is rebuilt only in the order_date partitions the run touched; `dim_customers`
//! and `dim_products` are projections of the silver entity tables (so every customer and
//! product a fact names has its row); `dim_dates` is a calendar spanning the facts, rewritten
//! only when that span grows. Every commit carries the run id, so a re-run changes nothing.

mod error;
pub mod star;

use std::time::Instant;

use chrono::Utc;
use lakehouse_core::{
    contracts::{GoldOutput, TableCommit, TransformOutput, owner_of},
    layout, lease, ledger,
    report::{self, StageReport},
};
use tracing::info;

pub use error::{GoldError, Result};

/// The lake, its warehouse and the commit retry policy.
pub type Deps = lakehouse_tables::StageDeps;

/// The gold stage of one run, under the lake's lease, which it releases when done: the run
/// ends here. A run the ledger already has through gold is not built again; its recorded output
/// is returned, every commit marked as already made.
pub async fn run(input: TransformOutput, deps: &Deps) -> Result<GoldOutput> {
    let owner = owner_of(input.lease.as_ref(), &input.run_id);
    let work = async {
        match ledger::gold(&deps.lake, &input.run_id).await? {
            Some(mut recorded) => {
                TableCommit::mark_replayed(&mut recorded.tables);
                recorded.replayed = true;
                Ok(recorded)
            }
            None => build(&input, deps).await,
        }
    };
    lease::with_lease(&deps.lake, &owner, &deps.lease, work, |_| true).await
}

async fn build(input: &TransformOutput, deps: &Deps) -> Result<GoldOutput> {
    let started = Instant::now();
    let run_id = input.run_id.clone();
    let tables = if input.touched_dates.is_empty() {
        info!(%run_id, "no silver partitions changed; gold is up to date");
        Vec::new()
    } else {
        star::build(deps, &run_id, &input.touched_dates).await?
    };
    let fact_rows = tables
        .iter()
        .find(|t| t.table == lakehouse_tables::schemas::FACT_SALES.name)
        .map_or(0, |t| t.rows_written);
    report::save_stage(
        &deps.lake,
        &run_id,
        &StageReport {
            stage: "gold".into(),
            rows_in: input.rows_valid,
            rows_out: fact_rows,
            seconds: started.elapsed().as_secs_f64(),
            quarantined_by_reason: Default::default(),
            tables: tables.clone(),
            finished_at: Utc::now(),
        },
    )
    .await?;
    report::assemble(&deps.lake, &run_id).await?;
    let out = GoldOutput {
        report_key: layout::report_key(&run_id),
        run_id,
        tables,
        replayed: false,
    };
    ledger::record_gold(&deps.lake, &out).await?;
    Ok(out)
}

/// The gold stage as its Lambda function runs it.
pub struct GoldBuilder;

impl lakehouse_runtime::Stage for GoldBuilder {
    const NAME: &'static str = "gold-builder";
    type Deps = Deps;
    type Input = TransformOutput;
    type Output = GoldOutput;
    type Error = GoldError;

    async fn deps(
        lake: lakehouse_core::Lake,
        lease: lakehouse_core::lease::LeaseConfig,
    ) -> Result<Deps, lakehouse_runtime::Error> {
        Ok(Deps::new(lake, lease).await?)
    }

    async fn run(input: TransformOutput, deps: &Deps) -> Result<GoldOutput, GoldError> {
        run(input, deps).await
    }
}
