//! Run reports: each stage records what it did under `runs/<run_id>/`, and the last stage (or
//! the CLI) assembles them into one report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Lake, Result, contracts::TableCommit, layout, runid::RunId};

pub const STAGES: [&str; 3] = ["extract", "transform", "gold"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    pub stage: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub seconds: f64,
    #[serde(default)]
    pub quarantined_by_reason: BTreeMap<String, u64>,
    #[serde(default)]
    pub tables: Vec<TableCommit>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: RunId,
    pub stages: Vec<StageReport>,
}

fn stage_key(run_id: &RunId, stage: &str) -> String {
    format!("{}/{run_id}/{stage}.json", layout::RUNS)
}

pub async fn save_stage(lake: &Lake, run_id: &RunId, report: &StageReport) -> Result<()> {
    lake.put_json(&stage_key(run_id, &report.stage), report)
        .await
}

/// Gathers the stage reports of a run that exist and writes `runs/<run_id>/report.json`.
pub async fn assemble(lake: &Lake, run_id: &RunId) -> Result<RunReport> {
    let mut stages = Vec::new();
    for stage in STAGES {
        if let Some(report) = lake.get_json(&stage_key(run_id, stage)).await? {
            stages.push(report);
        }
    }
    let report = RunReport {
        run_id: run_id.clone(),
        stages,
    };
    lake.put_json(&layout::report_key(run_id), &report).await?;
    Ok(report)
}
