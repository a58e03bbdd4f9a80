//! One pipeline round, stage after stage, in-process: the same chain the state machine runs
//! (extract -> the earlier runs left open, each transform -> gold -> nothing new? stop ->
//! transform -> gold), under one lease owner for the whole process.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lakehouse_core::{
    Lake,
    contracts::{ExtractInput, ExtractOutput, GoldOutput, LeaseHolder, Mode, TransformOutput},
    layout,
    lease::{Kept, Lease, LeaseConfig},
    report::{self, RunReport},
    runid::RunId,
};

/// Told (stage, started?) around each stage.
pub type StageObserver = Box<dyn Fn(&str, bool) + Send + Sync>;

pub struct Pipeline {
    pub lake: Lake,
    pub extract: extractor::Deps,
    pub transform: transformer::Deps,
    pub gold: gold_builder::Deps,
    /// Who this process's runs hold the lake's lease as.
    pub owner: String,
    pub quiet: bool,
    /// Called with (stage, started?) around each stage; the benchmark measures memory with it.
    pub observer: Option<StageObserver>,
}

#[derive(Debug)]
pub struct Round {
    /// Earlier runs that had landed and not finished, finished first (their reports).
    pub finished: Vec<RunReport>,
    pub extract: ExtractOutput,
    pub transform: Option<TransformOutput>,
    pub gold: Option<GoldOutput>,
    pub report: RunReport,
    /// Wall time of each stage as the runner saw it: extract, transform, gold.
    pub timings: [Duration; 3],
}

/// How long the CLI waits for a lease another run holds, unless `LAKEHOUSE_LEASE_WAIT_SECONDS`
/// says otherwise: long enough for a day-0 load of a few million orders to finish.
const CLI_LEASE_WAIT: Duration = Duration::from_secs(300);

/// The lease settings of a CLI command: the environment's, else waiting [`CLI_LEASE_WAIT`] for
/// a run that holds the lake.
pub fn cli_lease() -> Result<LeaseConfig> {
    Ok(LeaseConfig::from_env_or(LeaseConfig {
        wait: CLI_LEASE_WAIT,
        ..LeaseConfig::default()
    })?)
}

impl Pipeline {
    pub async fn new(lake: Lake, api_url: &str, quiet: bool) -> Result<Self> {
        let config = extractor::Config::new(api_url).with_env_overrides()?;
        let lease = cli_lease()?;
        let tables = lakehouse_tables::StageDeps::new(lake.clone(), lease.clone()).await?;
        let random = uuid::Uuid::new_v4().simple().to_string();
        Ok(Pipeline {
            extract: extractor::Deps::new(lake.clone(), config, lease).await?,
            transform: transformer::Deps {
                tables: tables.clone(),
                rules: transformer::Rules::from_env()?,
            },
            gold: tables,
            owner: format!("cli-{}-{}", std::process::id(), &random[..8]),
            lake,
            quiet,
            observer: None,
        })
    }

    /// The lake's lease for this process's owner, kept renewed until finished: for work
    /// around a round that must see the lake as the round will (the stages take the same
    /// lease again as they go).
    pub async fn hold_lake(&self) -> Result<Kept> {
        Ok(Lease::acquire(&self.lake, &self.owner, &self.extract.lease)
            .await?
            .keep())
    }

    /// The same pipeline with another lease configuration for all its stages.
    pub fn with_lease(mut self, lease: LeaseConfig) -> Self {
        self.extract.lease = lease.clone();
        self.transform.tables.lease = lease.clone();
        self.gold.lease = lease;
        self
    }

    fn observe(&self, stage: &str, started: bool) {
        if let Some(observer) = &self.observer {
            observer(stage, started);
        }
    }

    fn spinner(&self, message: String) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner().with_message(message);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Extracts a batch (or finds the landed batch of `run_id`), finishes the earlier runs
    /// the ledger has open, then takes the batch through transform and gold.
    pub async fn round(&self, mode: Mode, run_id: Option<RunId>) -> Result<Round> {
        let mut timings = [Duration::ZERO; 3];

        let bar = self.spinner(format!("extract ({mode})"));
        let t = Instant::now();
        self.observe("extract", true);
        let input = ExtractInput {
            mode,
            run_id,
            lease: Some(LeaseHolder {
                owner: self.owner.clone(),
            }),
        };
        let extract = extractor::run(input, &self.extract)
            .await
            .context("extract stage failed")?;
        self.observe("extract", false);
        timings[0] = t.elapsed();
        bar.finish_and_clear();

        let mut finished = Vec::new();
        for pending in &extract.pending {
            let bar = self.spinner(format!("finish earlier run {}", pending.run_id));
            let (_, gold) = self.finish(pending.clone(), None).await?;
            finished.push(self.report_of(&pending.run_id, gold.as_ref()).await?);
            bar.finish_and_clear();
        }

        let (mut transform, mut gold) = (None, None);
        if extract.records > 0 {
            (transform, gold) = self.finish(extract.clone(), Some(&mut timings)).await?;
        }
        let report = self.report_of(&extract.run_id, gold.as_ref()).await?;
        // The Lambdas' roles may not delete, and leave the lake's bookkeeping to the maintainer;
        // the CLI has the rights and tidies after each round, so a lake that is never
        // maintained keeps short listings.
        lakehouse_tables::maintain::tidy_state(&self.lake)
            .await
            .context("tidying the lake's lease and ledger markers")?;
        Ok(Round {
            finished,
            extract,
            transform,
            gold,
            report,
            timings,
        })
    }

    /// Transform then gold for a landed batch; `timings` gets their wall times.
    async fn finish(
        &self,
        landed: ExtractOutput,
        mut timings: Option<&mut [Duration; 3]>,
    ) -> Result<(Option<TransformOutput>, Option<GoldOutput>)> {
        let run_id = landed.run_id.clone();
        let bar = self.spinner(format!("transform {} records", landed.records));
        let t = Instant::now();
        self.observe("transform", true);
        let out = transformer::run(landed, &self.transform)
            .await
            .with_context(|| {
                format!("transform stage of run {run_id} failed; the next run finishes it (or --resume {run_id})")
            })?;
        self.observe("transform", false);
        if let Some(timings) = timings.as_deref_mut() {
            timings[1] = t.elapsed();
        }
        bar.finish_and_clear();

        let bar = self.spinner("build gold".into());
        let t = Instant::now();
        self.observe("gold", true);
        let gold = gold_builder::run(out.clone(), &self.gold)
            .await
            .with_context(|| {
                format!("gold stage of run {run_id} failed; the next run finishes it (or --resume {run_id})")
            })?;
        self.observe("gold", false);
        if let Some(timings) = timings {
            timings[2] = t.elapsed();
        }
        bar.finish_and_clear();
        Ok((Some(out), Some(gold)))
    }

    /// The run's report: the one its gold stage assembled, else assembled now.
    async fn report_of(&self, run_id: &RunId, gold: Option<&GoldOutput>) -> Result<RunReport> {
        let report = match gold {
            Some(out) => self.lake.get_json(&out.report_key).await?,
            None => None,
        };
        Ok(match report {
            Some(report) => report,
            None => report::assemble(&self.lake, run_id).await?,
        })
    }
}

/// The mode a run id was extracted in, from where its manifest is.
pub async fn mode_of(lake: &Lake, run_id: &RunId) -> Result<Mode> {
    for mode in [Mode::Full, Mode::Incremental] {
        if lake.exists(&layout::manifest_key(mode, run_id)).await? {
            return Ok(mode);
        }
    }
    anyhow::bail!(
        "run {run_id} has no manifest in this lake (looked under raw/full/ and raw/increment/ for {}); \
         only runs whose extraction finished can be resumed",
        run_id.date()
    )
}
