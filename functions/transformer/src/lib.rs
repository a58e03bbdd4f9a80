//! transformer: raw -> silver.
//!
//! Reads the NDJSON parts a manifest names (checking each checksum), classifies every record
//! (typed, or quarantined with its reason: none dropped), keeps the latest version of each
//! order, enriches it with order_year/order_month, and merges the batch into
//! the silver Iceberg tables: `orders_transformed` is rewritten only in the order_date
//! partitions the batch touches (copy-on-write overwrite), so deduplication holds across
//! batches; `customers_transformed` and `products_transformed` keep the latest attributes;
//! `orders_quarantine` gets the refused records appended.
//!
//! The modules, in the order a batch goes through them:
//! - [`read`]: a part's lines into columns (every field's text, the typed fields parsed once);
//! - [`rules`]: the rules a record keeps on its own, the first one broken named;
//! - [`settle`]: the rules across records (repeated versions, the latest of each order);
//! - [`silver`]: the outcomes shaped for their tables, and the table writes.
//!
//! The side columns they pass each other are named in one place (`side`). A plain statement
//! of the reader and of the whole batch transform (`reference`, for tests) holds the fast code
//! to its contract.

mod error;
pub mod read;
#[cfg(test)]
mod reference;
pub mod rules;
pub mod settle;
mod side;
pub mod silver;

use std::{collections::BTreeMap, time::Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use lakehouse_core::{
    Lake,
    checksum::Checksum,
    config,
    contracts::{ExtractOutput, Manifest, TableCommit, TransformOutput},
    dates, lease, ledger,
    report::{self, StageReport},
};
use lakehouse_tables::schemas::ORDERS;
use polars::prelude::*;
use tracing::{debug, info};

pub use error::{Result, TransformError};

/// The earliest plausible `order_date` (`YYYY-MM-DD`, default 2000-01-01); the latest is the
/// day after the run.
pub const ENV_EARLIEST_ORDER_DATE: &str = "LAKEHOUSE_EARLIEST_ORDER_DATE";
/// How far ahead of the run's clock an `updated_at` may be (seconds, default 300).
pub const ENV_FUTURE_SKEW_SECONDS: &str = "LAKEHOUSE_FUTURE_SKEW_SECONDS";

/// The settings of the plausibility rules ([`rules::Plausible`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub earliest_order_date: NaiveDate,
    pub future_skew: chrono::Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            earliest_order_date: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
            future_skew: chrono::Duration::minutes(5),
        }
    }
}

impl Rules {
    /// The defaults, with `LAKEHOUSE_EARLIEST_ORDER_DATE` and `LAKEHOUSE_FUTURE_SKEW_SECONDS`
    /// where they are set.
    pub fn from_env() -> Result<Self> {
        let mut rules = Rules::default();
        if let Some(day) = config::env_var(ENV_EARLIEST_ORDER_DATE) {
            rules.earliest_order_date = day.trim().parse().map_err(|_| {
                lakehouse_core::Error::Config(format!(
                    "{ENV_EARLIEST_ORDER_DATE}={day:?} is not a date (YYYY-MM-DD)"
                ))
            })?;
        }
        if let Some(seconds) = config::env_parse::<u32>(ENV_FUTURE_SKEW_SECONDS)? {
            rules.future_skew = chrono::Duration::seconds(i64::from(seconds));
        }
        Ok(rules)
    }

    /// The bounds for a batch extracted up to `now`: order dates from the earliest to the day
    /// after, updates up to the skew ahead of it.
    pub fn plausible_at(&self, now: DateTime<Utc>) -> rules::Plausible {
        let latest = now + self.future_skew;
        rules::Plausible {
            first_day: dates::to_days(self.earliest_order_date),
            last_day: dates::to_days(now.date_naive()) + 1,
            latest_update: latest.timestamp_micros(),
        }
    }
}

/// What the stage needs, built once (at cold start in Lambda): the tables and the rules.
#[derive(Debug, Clone)]
pub struct Deps {
    pub tables: lakehouse_tables::StageDeps,
    pub rules: Rules,
}

impl Deps {
    /// The tables on `lake`, and the rules from the environment.
    pub async fn new(lake: Lake, lease: lakehouse_core::lease::LeaseConfig) -> Result<Self> {
        Ok(Deps {
            tables: lakehouse_tables::StageDeps::new(lake, lease).await?,
            rules: Rules::from_env()?,
        })
    }
}

/// Fetches every part of the manifest, verifies its checksum, parses it
/// ([`read::parse_part`]) and applies the rules on each record ([`rules::classify`]);
/// parts go through this in parallel on the blocking pool, and are stacked. Classifying a part
/// while the next one is read keeps both cores busy, where classifying the stacked batch ran
/// after the last part, mostly on one.
async fn read_classified(
    lake: &Lake,
    manifest: &Manifest,
    plausible: rules::Plausible,
) -> Result<(DataFrame, rules::RawLines)> {
    let read: Vec<(DataFrame, rules::RawLines)> = stream::iter(manifest.parts.iter().enumerate())
        .map(|(index, part)| async move {
            let bytes = lake.get(&part.key).await?.ok_or_else(|| {
                TransformError::DataQuality(format!(
                    "part {} named by the manifest is missing",
                    part.key
                ))
            })?;
            let expected = (part.bytes, part.checksum.clone(), part.records as usize);
            let key = part.key.clone();
            tokio::task::spawn_blocking(move || {
                let records = verified_part(&bytes, expected)
                    .map_err(|why| TransformError::DataQuality(format!("part {key}: {why}")))?;
                Ok::<_, TransformError>(classify_part(records, &bytes, index, plausible)?)
            })
            .await
            .map_err(|source| TransformError::Task {
                what: format!("reading {}", part.key),
                source,
            })?
        })
        .buffered(4)
        .try_collect()
        .await?;
    stack(read, plausible)
}

/// A part's records ([`read::parse_part`]) classified ([`rules::classify`]), with their
/// lines as sent where refused ([`with_lines`]); `index` is the part's place in the manifest.
pub(crate) fn classify_part(
    records: DataFrame,
    bytes: &[u8],
    index: usize,
    plausible: rules::Plausible,
) -> PolarsResult<(DataFrame, rules::RawLines)> {
    let classified = rules::classify(records.lazy(), plausible).collect()?;
    with_lines(classified, bytes, index)
}

/// The classified parts as one batch, in manifest order.
pub(crate) fn stack(
    read: Vec<(DataFrame, rules::RawLines)>,
    plausible: rules::Plausible,
) -> Result<(DataFrame, rules::RawLines)> {
    if read.is_empty() {
        let empty = read::parse_part(&[], 0)
            .map_err(|e| TransformError::DataQuality(format!("empty batch: {e}")))?;
        return Ok(classify_part(empty, &[], 0, plausible)?);
    }
    let mut lines = rules::RawLines::new();
    let mut frames = Vec::with_capacity(read.len());
    for (frame, part_lines) in read {
        lines.extend(part_lines);
        frames.push(frame.lazy());
    }
    let stacked = concat(
        frames,
        UnionArgs {
            rechunk: false,
            ..Default::default()
        },
    )?;
    Ok((stacked.collect()?, lines))
}

/// A classified part with its place in the manifest ([`side::PART`]), and the line as sent of
/// each record its rules refused, found again by its line number while the part's bytes are at
/// hand (the malformed flag is done with).
pub(crate) fn with_lines(
    classified: DataFrame,
    bytes: &[u8],
    part: usize,
) -> PolarsResult<(DataFrame, rules::RawLines)> {
    let part = u32::try_from(part).unwrap_or(u32::MAX);
    let codes = classified.column(side::REASON_CODE)?.i32()?;
    let numbers = classified.column(side::LINE)?.u32()?;
    let mut wanted: Vec<u32> = codes
        .iter()
        .zip(numbers.iter())
        .filter_map(|(code, line)| code.and(line))
        .collect();
    wanted.sort_unstable();
    let mut lines = rules::RawLines::with_capacity(wanted.len());
    if !wanted.is_empty() {
        let mut wanted = wanted.into_iter().peekable();
        for (i, (start, end)) in read::line_spans(bytes).enumerate() {
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if wanted.peek() == Some(&number) {
                wanted.next();
                let line = String::from_utf8_lossy(&bytes[start..end]).into_owned();
                lines.insert((part, number), line);
            }
            if wanted.peek().is_none() {
                break;
            }
        }
    }
    let height = classified.height();
    let mut out = classified.drop(side::MALFORMED)?;
    out.with_column(UInt32Chunked::full(side::PART.into(), part, height).into_column())?;
    Ok((out, lines))
}

/// A part's records, if its size, checksum and record count are the manifest's.
fn verified_part(
    bytes: &[u8],
    (size, checksum, records): (u64, Checksum, usize),
) -> std::result::Result<DataFrame, String> {
    if bytes.len() as u64 != size || !checksum.matches(bytes) {
        return Err("does not match its manifest checksum".into());
    }
    let df = read::parse_part(bytes, records).map_err(|e| e.to_string())?;
    if df.height() != records {
        return Err(format!(
            "holds {} records, its manifest says {records}",
            df.height()
        ));
    }
    Ok(df)
}

/// The rules across records applied to a classified batch, in one hash pass over the order ids
/// ([`settle::resolve`]): the silver orders (the latest valid version of each order, typed
/// and enriched) and the quarantine's rows. The latest versions are taken once, narrowed to
/// the columns they keep.
pub(crate) fn settle_batch(
    classified: DataFrame,
    lines: &rules::RawLines,
    parts: &[String],
    run_id: &str,
) -> PolarsResult<(DataFrame, DataFrame)> {
    let resolved = settle::resolve(&classified)?;
    let bad = silver::orders::quarantined(&resolved.refused(&classified)?, run_id, parts, lines)?;
    let valid = resolved.latest(&classified, &silver::orders::silver_sources())?;
    drop(classified);
    let batch = silver::orders::valid_orders(valid.lazy(), run_id).collect()?;
    Ok((batch, bad))
}

fn reason_counts(bad: &DataFrame) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for reason in bad.column("reason")?.str()?.iter().flatten() {
        *counts.entry(reason.to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

fn touched_days(batch: &DataFrame) -> Result<Vec<i32>> {
    let days = batch
        .column("order_date")?
        .unique()?
        .cast(&DataType::Int32)?;
    let mut days: Vec<i32> = days.i32()?.iter().flatten().collect();
    days.sort_unstable();
    Ok(days)
}

/// The transform stage of one run, under the lake's lease (which it passes on to the gold
/// stage, or releases if it fails). A run the ledger already has through silver is not
/// transformed again: its recorded output is returned, every commit marked as already made.
pub async fn run(input: ExtractOutput, deps: &Deps) -> Result<TransformOutput> {
    let work = async {
        let mut out = match ledger::silver(&deps.tables.lake, &input.run_id).await? {
            Some(mut recorded) => {
                TableCommit::mark_replayed(&mut recorded.tables);
                recorded.replayed = true;
                recorded
            }
            None => transform(&input, deps).await?,
        };
        out.lease = input.lease.clone();
        Ok(out)
    };
    let tables = &deps.tables;
    lease::with_lease(&tables.lake, &input.owner(), &tables.lease, work, |_| false).await
}

async fn transform(input: &ExtractOutput, deps: &Deps) -> Result<TransformOutput> {
    let started = Instant::now();
    let run_id = input.run_id.clone();
    let lake = &deps.tables.lake;
    let manifest: Manifest = lake
        .get_json(&input.manifest_key)
        .await?
        .ok_or_else(|| TransformError::MissingManifest(input.manifest_key.clone()))?;
    if manifest.run_id != run_id {
        return Err(TransformError::DataQuality(format!(
            "manifest {} belongs to run {}, not {run_id}",
            input.manifest_key, manifest.run_id
        )));
    }
    // Plausible as of the end of the window the run extracted: the source's "now", which the
    // extractor held to its own clock, and the same on every re-run.
    let plausible = deps.rules.plausible_at(manifest.window.until);
    let (classified, lines) = read_classified(lake, &manifest, plausible).await?;
    let rows_in = manifest.records;
    debug!(%run_id, ms = started.elapsed().as_millis() as u64, "parts read, parsed and classified");

    let parts: Vec<String> = manifest.parts.iter().map(|p| p.key.clone()).collect();
    let (batch, bad) = settle_batch(classified, &lines, &parts, run_id.as_str())?;
    debug!(%run_id, ms = started.elapsed().as_millis() as u64, "classified");
    let mut days = touched_days(&batch)?;
    let quarantined_by_reason = reason_counts(&bad)?;
    info!(%run_id, rows_in, valid = batch.height(), quarantined = bad.height(), partitions = days.len(), "classified");

    let tables = silver::write(deps, &run_id, &batch, bad).await?;
    // The orders' commit knows every partition it changed: besides the batch's days, those an
    // order moved away from.
    if let Some(orders) = tables.iter().find(|t| t.table == ORDERS.name) {
        days.extend(orders.partitions.iter().map(|d| dates::to_days(*d)));
        days.sort_unstable();
        days.dedup();
    }

    let out = TransformOutput {
        run_id: run_id.clone(),
        mode: input.mode,
        rows_in,
        rows_valid: batch.height() as u64,
        quarantined: quarantined_by_reason.values().sum(),
        quarantined_by_reason,
        touched_dates: days.iter().map(|d| dates::from_days(*d)).collect(),
        tables,
        lease: None,
        replayed: false,
    };
    report::save_stage(
        lake,
        &run_id,
        &StageReport {
            stage: "transform".into(),
            rows_in,
            rows_out: out.rows_valid,
            seconds: started.elapsed().as_secs_f64(),
            quarantined_by_reason: out.quarantined_by_reason.clone(),
            tables: out.tables.clone(),
            finished_at: Utc::now(),
        },
    )
    .await?;
    ledger::record_silver(lake, &out).await?;
    Ok(out)
}

/// The transform stage as its Lambda function runs it.
pub struct Transformer;

impl lakehouse_runtime::Stage for Transformer {
    const NAME: &'static str = "transformer";
    type Deps = Deps;
    type Input = ExtractOutput;
    type Output = TransformOutput;
    type Error = TransformError;

    async fn deps(
        lake: lakehouse_core::Lake,
        lease: lakehouse_core::lease::LeaseConfig,
    ) -> Result<Deps, lakehouse_runtime::Error> {
        Ok(Deps::new(lake, lease).await?)
    }

    async fn run(input: ExtractOutput, deps: &Deps) -> Result<TransformOutput, TransformError> {
        run(input, deps).await
    }
}
