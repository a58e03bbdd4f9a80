//! `lakehouse bench`: a day-0 load of N orders and one incremental round on a fresh lake, with
//! each stage's throughput, the end-to-end time and each stage's peak memory.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use clap::Args;
use lakehouse_core::{Lake, config::S3Settings, contracts::Mode, store::LakeLocation, watermark};
use serde::Serialize;

use crate::{
    pipeline::Pipeline,
    source::{LocalSource, SourceArgs},
};

#[derive(Args)]
pub struct BenchArgs {
    /// Write the figures as JSON to this file as well.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Lake for the benchmark [default: a temporary directory, removed afterwards].
    #[arg(long = "bench-lake")]
    bench_lake: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
}

/// Peak resident memory of this process since the last reset, in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system, all threads) this process has used, in seconds: with the wall
/// time it shows how well a stage keeps the cores busy, and it varies less from run to run on a
/// noisy machine than the wall time does.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux the project runs on (it is fixed in the kernel ABI).
    Some(ticks as f64 / 100.0)
}

/// Starts a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// What the observer records of one stage of the day-0 round.
#[derive(Debug, Clone, Default)]
struct Measured {
    cpu_at_start: Option<f64>,
    /// Set when the stage ends.
    peak_rss: Option<u64>,
    cpu_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct StageFigure {
    seconds: f64,
    cpu_seconds: f64,
    orders_per_second: f64,
    peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct Figures {
    orders: u64,
    full: BTreeMap<String, StageFigure>,
    full_end_to_end_seconds: f64,
    incremental_records: u64,
    incremental_end_to_end_seconds: f64,
    incremental_share_of_full: f64,
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let mut source = args.source.clone();
    source.orders = Some(source.orders.unwrap_or(1_000_000));
    let config = source.config();
    let orders = config.orders;
    let tmp = tempfile::tempdir().context("temporary lake directory")?;
    let location = match &args.bench_lake {
        Some(l) => l.clone(),
        None => tmp.path().to_string_lossy().into_owned(),
    };
    let lake = Lake::open(LakeLocation::parse(&location, S3Settings::from_env()?)?)?;
    if watermark::current(&lake).await?.is_some() {
        anyhow::bail!("the benchmark needs an empty lake; {location} already holds a load");
    }
    let local = LocalSource::start(config.clone(), config.day0_end()).await?;
    let measured: Arc<Mutex<BTreeMap<String, Measured>>> = Arc::default();
    let mut pipeline = Pipeline::new(lake.clone(), &local.url, true).await?;
    let recorder = measured.clone();
    pipeline.observer = Some(Box::new(move |stage, started| {
        let Ok(mut measured) = recorder.lock() else {
            return;
        };
        if started {
            reset_peak_rss();
        }
        // The day-0 round's figures: the incremental round runs the same stages afterwards
        // and must not overwrite them.
        let window = measured.entry(stage.to_owned()).or_default();
        if window.peak_rss.is_some() {
            return;
        }
        match (started, cpu_seconds()) {
            (true, cpu) => window.cpu_at_start = cpu,
            (false, cpu) => {
                window.peak_rss = Some(peak_rss().unwrap_or(0));
                window.cpu_seconds = cpu.zip(window.cpu_at_start).map(|(end, start)| end - start);
            }
        }
    }));

    eprintln!("bench: day-0 load of {orders} orders into {location}");
    let full = pipeline.round(Mode::Full, None).await?;
    let seconds = |d: Duration| d.as_secs_f64();
    let full_total: f64 = full.timings.iter().map(|d| seconds(*d)).sum();

    // One incremental round that brings about 1% new or updated orders.
    let step =
        chrono::Duration::seconds((f64::from(config.history_days) * 86_400.0 / 100.0) as i64);
    local.set_now(full.extract.window.until + step);
    let incr = pipeline.round(Mode::Incremental, None).await?;
    let incr_total: f64 = incr.timings.iter().map(|d| seconds(*d)).sum();

    let measured = measured.lock().map(|m| m.clone()).unwrap_or_default();
    let mut stages = BTreeMap::new();
    for (i, stage) in ["extract", "transform", "gold"].iter().enumerate() {
        let s = seconds(full.timings[i]);
        stages.insert(
            (*stage).to_owned(),
            StageFigure {
                seconds: s,
                cpu_seconds: measured
                    .get(*stage)
                    .and_then(|m| m.cpu_seconds)
                    .unwrap_or(0.0),
                orders_per_second: if s > 0.0 {
                    full.extract.records as f64 / s
                } else {
                    0.0
                },
                peak_rss_mb: measured
                    .get(*stage)
                    .and_then(|m| m.peak_rss)
                    .map_or(0.0, |b| b as f64 / 1_048_576.0),
            },
        );
    }
    let figures = Figures {
        orders: full.extract.records,
        full: stages,
        full_end_to_end_seconds: full_total,
        incremental_records: incr.extract.records,
        incremental_end_to_end_seconds: incr_total,
        incremental_share_of_full: incr_total / full_total,
    };

    let mut grid = crate::inspect::grid(&[
        "stage (day 0)",
        "seconds",
        "CPU s",
        "orders/s",
        "peak RSS MB",
    ]);
    for (stage, f) in &figures.full {
        grid.add_row(vec![
            stage.clone(),
            format!("{:.2}", f.seconds),
            format!("{:.2}", f.cpu_seconds),
            format!("{:.0}", f.orders_per_second),
            format!("{:.0}", f.peak_rss_mb),
        ]);
    }
    println!("{grid}");
    println!(
        "day 0: {} source records end to end in {:.2} s",
        figures.orders, figures.full_end_to_end_seconds
    );
    println!(
        "incremental round: {} records in {:.2} s = {:.1}% of the day-0 run",
        figures.incremental_records,
        figures.incremental_end_to_end_seconds,
        figures.incremental_share_of_full * 100.0
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
