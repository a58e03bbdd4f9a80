//! The step contracts: small JSON pointers passed between stages (and through Step Functions,
//! whose state is capped at 256 KB), never the data itself.

use std::{collections::BTreeMap, fmt, str::FromStr};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, checksum::Checksum, runid::RunId};

/// Full (day-0) or incremental load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Full,
    Incremental,
}

impl Mode {
    /// The directory under `raw/` that this mode lands in.
    pub fn raw_dir(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "increment",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        })
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "full" => Ok(Mode::Full),
            "incremental" => Ok(Mode::Incremental),
            other => Err(Error::InvalidInput(format!(
                "mode {other:?} is not one of \"full\", \"incremental\""
            ))),
        }
    }
}

/// Who the stages of one run of the pipeline work for, as the lake's lease names it
/// ([`crate::lease`]): a Step Functions execution, a CLI process. The stages of one owner
/// pass the lease on to each other; a stage called without one works for its run id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub owner: String,
}

/// Input of the extract stage. Without a run id a new one is made; with one, a run whose
/// manifest already exists is not extracted again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractInput {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHolder>,
}

/// The updated_at window a run extracted: (since, until].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

/// One NDJSON part of a run's raw landing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub key: String,
    pub records: u64,
    pub bytes: u64,
    /// `"crc64nvme": ...` (or `"sha256": ...` in manifests written before it).
    #[serde(flatten)]
    pub checksum: Checksum,
}

/// Written after every part of a run has landed; its presence means the landing is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: RunId,
    pub mode: Mode,
    pub window: Window,
    pub parts: Vec<PartInfo>,
    pub records: u64,
    pub created_at: DateTime<Utc>,
}

/// Output of the extract stage and input of the transform stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractOutput {
    pub run_id: RunId,
    pub mode: Mode,
    pub manifest_key: String,
    pub records: u64,
    pub parts: usize,
    pub window: Window,
    /// False when the run's manifest already existed and nothing was fetched.
    pub extracted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHolder>,
    /// Earlier runs that landed a batch and did not finish (`ledger`), oldest first: their
    /// transform and gold steps come before this run's. Always present, even empty: the state
    /// machine's Map reads it by path.
    #[serde(default)]
    pub pending: Vec<ExtractOutput>,
}

impl ExtractOutput {
    /// Who this run works for: the lease holder it was given, else its own run id.
    pub fn owner(&self) -> String {
        owner_of(self.lease.as_ref(), &self.run_id)
    }
}

/// The lease owner of a stage: its holder if it was given one, else the run id itself.
pub fn owner_of(lease: Option<&LeaseHolder>, run_id: &RunId) -> String {
    lease.map_or_else(|| run_id.to_string(), |l| l.owner.clone())
}

/// What one stage did to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCommit {
    pub table: String,
    pub rows_written: u64,
    pub files_added: u64,
    pub files_removed: u64,
    /// The snapshot this run's commit made, or found already made by this run.
    pub snapshot_id: Option<i64>,
    /// True when a snapshot of this run was already there and nothing was written.
    pub already_committed: bool,
    /// The day partitions (of a day-partitioned table) the commit replaced or added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<NaiveDate>,
    /// Commit attempts made: more than one when another writer committed in between.
    #[serde(default)]
    pub attempts: u32,
}

impl TableCommit {
    /// Marks commits recorded by an earlier attempt of a step, returned again without writing.
    pub fn mark_replayed(tables: &mut [TableCommit]) {
        for table in tables {
            table.already_committed = true;
        }
    }

    /// A commit that wrote nothing.
    pub fn nothing(table: &str) -> Self {
        TableCommit {
            table: table.into(),
            rows_written: 0,
            files_added: 0,
            files_removed: 0,
            snapshot_id: None,
            already_committed: false,
            partitions: Vec::new(),
            attempts: 0,
        }
    }
}

/// Output of the transform stage and input of the gold stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformOutput {
    pub run_id: RunId,
    pub mode: Mode,
    pub rows_in: u64,
    pub rows_valid: u64,
    pub quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Order dates (partitions) this batch changed in silver: the days of its orders and the
    /// days an order moved away from. Gold rebuilds only these.
    pub touched_dates: Vec<NaiveDate>,
    pub tables: Vec<TableCommit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHolder>,
    /// The ledger's record of an earlier invocation, returned again: its figures were counted
    /// when it was made, so this one reports none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// Output of the gold stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldOutput {
    pub run_id: RunId,
    pub tables: Vec<TableCommit>,
    pub report_key: String,
    /// As [`TransformOutput::replayed`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_names_its_checksum_algorithm_and_old_manifests_still_read() {
        let part = PartInfo {
            key: "raw/full/2026-01-01/r/part-00000.json".into(),
            records: 2,
            bytes: 9,
            checksum: Checksum::of(b"123456789"),
        };
        let json = serde_json::to_value(&part).unwrap();
        assert_eq!(json["crc64nvme"], "rosUhgp5mIg=");
        assert_eq!(serde_json::from_value::<PartInfo>(json).unwrap(), part);

        let before = serde_json::json!({
            "key": "k", "records": 1, "bytes": 3,
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        });
        let old: PartInfo = serde_json::from_value(before).unwrap();
        assert!(old.checksum.matches(b"abc"));
        assert!(!old.checksum.matches(b"abd"));
    }
}
