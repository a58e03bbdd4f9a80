//! `lakehouse soak`: many incremental rounds on one lake, as a schedule would run them, with
//! the round's time and the lake's size printed every few rounds, so a figure that grows with
//! the lake's age shows.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use lakehouse_core::{
    Lake,
    config::{CatalogSettings, S3Settings},
    contracts::Mode,
    store::LakeLocation,
    watermark,
};

use lakehouse_tables::{
    Warehouse,
    maintain::{self, Options},
};

use crate::{
    pipeline::Pipeline,
    source::{self, LocalSource, SourceArgs},
};

#[derive(Args)]
pub struct SoakArgs {
    /// Incremental rounds to run.
    #[arg(long, default_value_t = 200)]
    pub rounds: u32,
    /// Print a line every this many rounds.
    #[arg(long, default_value_t = 10)]
    pub every: u32,
    /// Simulated hours between rounds (an hourly schedule by default).
    #[arg(long, default_value_t = 1.0)]
    pub round_hours: f64,
    /// Lake to soak [default: a temporary directory, removed afterwards]. A lake that exists
    /// is continued.
    #[arg(long = "soak-lake")]
    pub soak_lake: Option<String>,
    /// Run `lakehouse maintain` every this many rounds (0: never), keeping the last
    /// `--keep-last` snapshots of each table whatever their age, and deleting what nothing
    /// reaches at once (the soak is the only writer, and its simulated days pass in seconds).
    #[arg(long, default_value_t = 0)]
    pub maintain_every: u32,
    /// Snapshots of each table a maintenance keeps.
    #[arg(long, default_value_t = 10)]
    pub keep_last: usize,
    /// When done, write the source's truth at the lake's watermark to this file, for
    /// `tests/check_tables.py <lake>/warehouse <file>` to check the lake against.
    #[arg(long)]
    pub expected: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Files and bytes of one kind in the lake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// What the lake holds, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LakeSize {
    /// Parquet data files of the tables, live or not.
    pub data: Tally,
    /// The data files the tables' current snapshots hold.
    pub live: Tally,
    /// Everything under the tables' `metadata/`: metadata versions, manifests, manifest lists.
    pub metadata: Tally,
    /// The largest newest `vN.metadata.json` of any table: every commit rewrites it whole.
    pub newest_metadata_bytes: u64,
    pub raw: Tally,
    /// State, ledger, lease and run reports.
    pub other: Tally,
}

impl LakeSize {
    pub async fn of(lake: &Lake) -> Result<LakeSize> {
        let mut size = LakeSize::default();
        let (files, bytes) = maintain::live_data(&Warehouse::open(lake).await?).await?;
        size.live = Tally { files, bytes };
        // Table directory -> (newest metadata version, its size).
        let mut newest: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (key, bytes) in lake.list_sizes("").await? {
            if let Some((table, rest)) = key.split_once("/metadata/") {
                size.metadata.add(bytes);
                let version = rest
                    .strip_prefix('v')
                    .and_then(|v| v.strip_suffix(".metadata.json"))
                    .and_then(|v| v.parse::<u64>().ok());
                if let Some(version) = version {
                    let entry = newest.entry(table.to_owned()).or_default();
                    if version >= entry.0 {
                        *entry = (version, bytes);
                    }
                }
            } else if key.contains("/data/") && key.starts_with(lakehouse_core::layout::WAREHOUSE) {
                size.data.add(bytes);
            } else if key.starts_with(lakehouse_core::layout::RAW) {
                size.raw.add(bytes);
            } else {
                size.other.add(bytes);
            }
        }
        size.newest_metadata_bytes = newest.values().map(|(_, b)| *b).max().unwrap_or(0);
        Ok(size)
    }

    pub fn total_bytes(&self) -> u64 {
        self.data.bytes + self.metadata.bytes + self.raw.bytes + self.other.bytes
    }
}

/// The figures of one checkpoint of a soak.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub round: u32,
    /// This round's wall time.
    pub round_seconds: f64,
    /// The mean over the rounds since the last checkpoint.
    pub mean_seconds: f64,
    /// The last maintenance's wall time, if one ran since the last checkpoint.
    pub maintain_seconds: Option<f64>,
    pub lake: LakeSize,
    /// What the lake has loaded: the source's truth at this instant is what it must hold.
    pub high_water: DateTime<Utc>,
}

pub const HEADER: &str = "  round  round ms  mean ms  maint ms  data files  data MB  live MB  metadata files  metadata MB  newest metadata KB  raw files  lake MB";

impl Checkpoint {
    pub fn line(&self) -> String {
        let mb = |b: u64| b as f64 / 1_048_576.0;
        let maintain = self
            .maintain_seconds
            .map_or("-".to_owned(), |s| format!("{:.0}", s * 1e3));
        format!(
            "{:>7}  {:>8.0}  {:>7.0}  {:>8}  {:>10}  {:>7.1}  {:>7.1}  {:>14}  {:>11.1}  {:>18.1}  {:>9}  {:>7.1}",
            self.round,
            self.round_seconds * 1e3,
            self.mean_seconds * 1e3,
            maintain,
            self.lake.data.files,
            mb(self.lake.data.bytes),
            mb(self.lake.live.bytes),
            self.lake.metadata.files,
            mb(self.lake.metadata.bytes),
            self.lake.newest_metadata_bytes as f64 / 1024.0,
            self.lake.raw.files,
            mb(self.lake.total_bytes()),
        )
    }
}

/// How often a soak maintains the lake, and how.
#[derive(Debug, Clone)]
pub struct Maintenance {
    pub every: u32,
    pub options: Options,
}

impl Maintenance {
    /// Every `every` rounds (0: never): the last `keep_last` snapshots kept whatever their
    /// age, and no safety margin (the soak is the only writer, and its days pass in seconds).
    pub fn every(every: u32, keep_last: usize) -> Option<Self> {
        (every > 0).then(|| Maintenance {
            every,
            options: Options {
                older_than: chrono::Duration::zero(),
                keep_last: keep_last.max(1),
                margin: chrono::Duration::zero(),
                ..Options::default()
            },
        })
    }
}

/// Runs `rounds` incremental rounds on the pipeline's lake (a full load first if it has none),
/// the source's clock `step` further each round, maintaining the lake as `maintenance` says;
/// every `every` rounds (and after the last) measures the lake and hands the checkpoint to
/// `checkpoint`, which may check the lake.
pub async fn soak(
    pipeline: &Pipeline,
    source: &LocalSource,
    rounds: u32,
    every: u32,
    step: chrono::Duration,
    maintenance: Option<&Maintenance>,
    mut checkpoint: impl AsyncFnMut(&Checkpoint) -> Result<()>,
) -> Result<Vec<Checkpoint>> {
    let lake = &pipeline.lake;
    if watermark::current(lake).await?.is_none() {
        source.advance_for(lake, Mode::Full, step).await?;
        pipeline.round(Mode::Full, None).await?;
    }
    let every = every.max(1);
    let (mut since_last, mut seconds) = (0u32, 0.0);
    let mut maintain_seconds = None;
    let mut checkpoints = Vec::new();
    for round in 1..=rounds {
        source.advance_for(lake, Mode::Incremental, step).await?;
        let started = Instant::now();
        pipeline
            .round(Mode::Incremental, None)
            .await
            .with_context(|| format!("soak round {round}"))?;
        let round_seconds = started.elapsed().as_secs_f64();
        since_last += 1;
        seconds += round_seconds;
        if let Some(maintenance) = maintenance.filter(|m| round % m.every == 0) {
            let started = Instant::now();
            crate::maintain::maintain_lake(lake, &maintenance.options, &pipeline.extract.lease)
                .await
                .with_context(|| format!("maintenance after soak round {round}"))?;
            maintain_seconds = Some(started.elapsed().as_secs_f64());
        }
        if round % every == 0 || round == rounds {
            let high_water = watermark::current(lake)
                .await?
                .map(|v| v.watermark.high_water)
                .context("a soaked lake has a watermark")?;
            let point = Checkpoint {
                round,
                round_seconds,
                mean_seconds: seconds / f64::from(since_last),
                maintain_seconds: maintain_seconds.take(),
                lake: LakeSize::of(lake).await?,
                high_water,
            };
            checkpoint(&point).await?;
            checkpoints.push(point);
            (since_last, seconds) = (0, 0.0);
        }
    }
    Ok(checkpoints)
}

/// `lakehouse soak`, with the tables in `catalog` (the global `--catalog-*` flags).
pub async fn run(args: SoakArgs, catalog: CatalogSettings) -> Result<()> {
    if args.round_hours.is_nan() || args.round_hours <= 0.0 {
        anyhow::bail!("--round-hours must be positive");
    }
    let tmp = tempfile::tempdir().context("temporary lake directory")?;
    let location = match &args.soak_lake {
        Some(l) => l.clone(),
        None => tmp.path().to_string_lossy().into_owned(),
    };
    let lake =
        Lake::open(LakeLocation::parse(&location, S3Settings::from_env()?)?)?.with_catalog(catalog);
    let config = source::settings(&lake, args.source.config(), args.source.given()).await?;
    let local = LocalSource::start(config.clone(), config.day0_end()).await?;
    let mut pipeline = Pipeline::new(lake, &local.url, true).await?;
    let step = chrono::Duration::seconds((args.round_hours * 3600.0) as i64);
    // The source's clock may run ahead of the wall clock (a long history, many rounds): the
    // extractor, which refuses a window ending ahead of its own clock, is told how far.
    let from = match watermark::current(&pipeline.lake).await? {
        Some(w) => w.watermark.high_water.max(config.day0_end()),
        None => config.day0_end(),
    };
    let end = from + step * i32::try_from(args.rounds).unwrap_or(i32::MAX);
    let ahead = end - Utc::now() + chrono::Duration::days(1);
    let limits = &mut pipeline.extract.config.limits;
    limits.clock_skew = limits.clock_skew.max(ahead);
    eprintln!(
        "soak: {} incremental rounds of {} simulated hours on {location} ({} orders of history)",
        args.rounds, args.round_hours, config.orders
    );
    println!("{HEADER}");
    let started = Instant::now();
    let maintenance = Maintenance::every(args.maintain_every, args.keep_last);
    let points = soak(
        &pipeline,
        &local,
        args.rounds,
        args.every,
        step,
        maintenance.as_ref(),
        async |point| {
            println!("{}", point.line());
            Ok(())
        },
    )
    .await?;
    if let (Some(path), Some(last)) = (&args.expected, points.last()) {
        let truth = local.state.store.truth(last.high_water).expected_json();
        std::fs::write(path, truth.to_string())
            .with_context(|| format!("writing the source's truth to {}", path.display()))?;
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        println!(
            "{} rounds in {:.0} s, 0 failures; mean round {:.0} ms in the first {} rounds, {:.0} ms in the last {}",
            args.rounds,
            started.elapsed().as_secs_f64(),
            first.mean_seconds * 1e3,
            args.every.min(args.rounds),
            last.mean_seconds * 1e3,
            args.every.min(args.rounds),
        );
    }
    Ok(())
}
