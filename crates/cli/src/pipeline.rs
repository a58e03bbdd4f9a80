//! One pipeline round, stage after stage, in-process: the same chain the state machine runs
//! (extract -> nothing new? stop -> transform -> gold).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lakehouse_core::{
    Lake,
    contracts::{ExtractInput, ExtractOutput, GoldOutput, Mode, TransformOutput},
    layout,
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
    pub quiet: bool,
    /// Called with (stage, started?) around each stage; the benchmark measures memory with it.
    pub observer: Option<StageObserver>,
}

#[derive(Debug)]
pub struct Round {
    pub extract: ExtractOutput,
    pub transform: Option<TransformOutput>,
    pub gold: Option<GoldOutput>,
    pub report: RunReport,
    /// Wall time of each stage as the runner saw it: extract, transform, gold.
    pub timings: [Duration; 3],
}

impl Pipeline {
    pub async fn new(lake: Lake, api_url: &str, quiet: bool) -> Result<Self> {
        let config = extractor::Config::new(api_url).with_env_overrides()?;
        let tables = lakehouse_tables::StageDeps::new(lake.clone()).await?;
        Ok(Pipeline {
            extract: extractor::Deps::new(lake.clone(), config).await?,
            transform: tables.clone(),
            gold: tables,
            lake,
            quiet,
            observer: None,
        })
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

    pub async fn round(&self, mode: Mode, run_id: Option<RunId>) -> Result<Round> {
        let mut timings = [Duration::ZERO; 3];

        let bar = self.spinner(format!("extract ({mode})"));
        let t = Instant::now();
        self.observe("extract", true);
        let extract = extractor::run(ExtractInput { mode, run_id }, &self.extract)
            .await
            .context("extract stage failed")?;
        self.observe("extract", false);
        timings[0] = t.elapsed();
        bar.finish_and_clear();
        let run_id = extract.run_id.clone();

        let (mut transform, mut gold) = (None, None);
        if extract.records > 0 {
            let bar = self.spinner(format!("transform {} records", extract.records));
            let t = Instant::now();
            self.observe("transform", true);
            let out = transformer::run(extract.clone(), &self.transform)
                .await
                .with_context(|| {
                    format!(
                        "transform stage of run {run_id} failed; re-run it with --resume {run_id}"
                    )
                })?;
            self.observe("transform", false);
            timings[1] = t.elapsed();
            bar.finish_and_clear();

            let bar = self.spinner("build gold".into());
            let t = Instant::now();
            self.observe("gold", true);
            gold = Some(
                gold_builder::run(out.clone(), &self.gold)
                    .await
                    .with_context(|| {
                        format!(
                            "gold stage of run {run_id} failed; re-run it with --resume {run_id}"
                        )
                    })?,
            );
            self.observe("gold", false);
            timings[2] = t.elapsed();
            bar.finish_and_clear();
            transform = Some(out);
        }
        // The gold stage assembles the report as its last step; without it, the runner does.
        let report = match &gold {
            Some(out) => self.lake.get_json(&out.report_key).await?,
            None => None,
        };
        let report = match report {
            Some(report) => report,
            None => report::assemble(&self.lake, &run_id).await?,
        };
        Ok(Round {
            extract,
            transform,
            gold,
            report,
            timings,
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
