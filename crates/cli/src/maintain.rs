//! `lakehouse maintain`: compaction, snapshot expiry and file cleanup of every table, under the
//! lake's lease (`lakehouse_tables::maintain`).

use anyhow::{Context, Result, bail};
use chrono::Duration;
use clap::Args;
use lakehouse_core::{Lake, layout, lease::LeaseConfig};
use lakehouse_tables::{
    Warehouse,
    maintain::{self, Maintenance, Options, TableReport},
};

#[derive(Args, Clone)]
pub struct MaintainArgs {
    /// Expire snapshots older than this (e.g. 7d, 12h, 30m, 0s).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub older_than: Duration,
    /// Keep at least this many of the latest snapshots of each table.
    #[arg(long, default_value_t = 10)]
    pub keep_last: usize,
    /// Delete no file younger than this, reachable or not (a writer's files not yet committed).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub margin: Duration,
    /// Compact and expire, but delete no table file: for a catalog that removes unreferenced
    /// files itself (Glue's orphan-file optimizer). An S3 Tables warehouse is never cleaned.
    #[arg(long)]
    pub keep_files: bool,
    /// Say what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl MaintainArgs {
    pub fn options(&self) -> Options {
        Options {
            older_than: self.older_than,
            keep_last: self.keep_last,
            margin: self.margin,
            remove_files: !self.keep_files,
            dry_run: self.dry_run,
            ..Options::default()
        }
    }
}

/// `7d`, `12h`, `30m`, `45s`, `0s`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 7d, 12h, 30m or 0s"))?;
    match unit {
        "d" => Ok(Duration::days(n)),
        "h" => Ok(Duration::hours(n)),
        "m" => Ok(Duration::minutes(n)),
        "s" => Ok(Duration::seconds(n)),
        _ => Err(format!("{text:?}: the unit is one of d, h, m, s")),
    }
}

/// Maintains every table of `lake` under its lease (waiting for a run that holds it).
pub async fn maintain_lake(
    lake: &Lake,
    options: &Options,
    lease: &LeaseConfig,
) -> Result<Maintenance> {
    let warehouse = Warehouse::open(lake).await?;
    maintain::maintain_lake(&warehouse, lease, options)
        .await
        .context("maintenance failed; what it committed stands")
}

pub fn print(reports: &[TableReport], dry_run: bool) {
    let mut grid = crate::inspect::grid(&[
        "table",
        "snapshots expired",
        "kept",
        "files compacted",
        "files deleted",
        "MB deleted",
        "metadata deleted",
    ]);
    for r in reports {
        grid.add_row(vec![
            r.table.clone(),
            r.snapshots_expired.to_string(),
            r.snapshots_kept.to_string(),
            r.files_compacted.to_string(),
            r.files_deleted.to_string(),
            format!("{:.1}", r.bytes_deleted as f64 / 1_048_576.0),
            r.metadata_deleted.to_string(),
        ]);
    }
    if dry_run {
        println!("dry run: nothing was changed; this is what maintenance would do");
    }
    println!("{grid}");
}

pub async fn run(lake: &Lake, args: &MaintainArgs) -> Result<()> {
    if args.keep_last == 0 {
        bail!("--keep-last must be at least 1: the current snapshot is always kept");
    }
    let done = maintain_lake(lake, &args.options(), &crate::pipeline::cli_lease()?).await?;
    print(&done.tables, args.dry_run);
    if done.files_left_to_catalog {
        println!("table files: none deleted, the catalog removes unreferenced files itself");
    }
    if !args.dry_run {
        println!(
            "lake state: {} old lease generations, the markers of {} closed runs and {} staging \
             files of killed writers deleted",
            done.lease_generations_deleted,
            done.closed_run_markers_deleted,
            done.staging_files_deleted
        );
        println!("saved as {}/{}/maintenance.json", layout::RUNS, done.run_id);
    }
    Ok(())
}
