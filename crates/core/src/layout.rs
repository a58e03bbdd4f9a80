//! The key layout of the lake. Every key any stage reads or writes is built here.
//!
//! ```text
//! raw/full/<YYYY-MM-DD>/<run_id>/part-00000.json     NDJSON as the API returned it
//! raw/full/<YYYY-MM-DD>/<run_id>/_manifest.json      written after the parts
//! raw/increment/<YYYY-MM-DD>/<run_id>/...
//! state/watermark/<seq>.json                         versioned; advanced by create-if-absent
//! state/watermark/latest.json                         the newest version's seq as last written (a hint)
//! state/ledger/runs/<run_id>/{landed,silver,gold}.json  each run's progress (`ledger`)
//! state/ledger/open/<run_id>.json                    a run landed ...
//! state/ledger/closed/<run_id>.json                  ... and through gold (both pruned by maintenance)
//! state/lease/<generation>.json                      who works on the lake (`lease`)
//! runs/<run_id>/report.json                          the run report
//! warehouse/lakehouse_db/<table>/                    Iceberg tables (file catalog)
//! ```

use crate::{contracts::Mode, runid::RunId};

pub const RAW: &str = "raw";
pub const WATERMARK_PREFIX: &str = "state/watermark";
pub const WATERMARK_HINT: &str = "state/watermark/latest.json";
pub const RUNS: &str = "runs";
pub const LEDGER_RUNS: &str = "state/ledger/runs";
pub const LEDGER_OPEN: &str = "state/ledger/open";
pub const LEDGER_CLOSED: &str = "state/ledger/closed";
pub const WAREHOUSE: &str = "warehouse";
pub const NAMESPACE: &str = "lakehouse_db";

pub fn run_prefix(mode: Mode, run_id: &RunId) -> String {
    format!(
        "{RAW}/{}/{}/{run_id}",
        mode.raw_dir(),
        run_id.date().format("%Y-%m-%d")
    )
}

pub fn part_key(mode: Mode, run_id: &RunId, part: usize) -> String {
    format!("{}/part-{part:05}.json", run_prefix(mode, run_id))
}

pub fn manifest_key(mode: Mode, run_id: &RunId) -> String {
    format!("{}/_manifest.json", run_prefix(mode, run_id))
}

pub fn watermark_key(seq: u64) -> String {
    format!("{WATERMARK_PREFIX}/{seq:010}.json")
}

/// The sequence number of a watermark key, if it is one.
pub fn watermark_seq(key: &str) -> Option<u64> {
    key.strip_prefix(WATERMARK_PREFIX)?
        .strip_prefix('/')?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// A run's record of one step in the ledger: `landed`, `silver` or `gold`.
pub fn ledger_key(run_id: &RunId, step: &str) -> String {
    format!("{LEDGER_RUNS}/{run_id}/{step}.json")
}

pub fn ledger_open_key(run_id: &RunId) -> String {
    format!("{LEDGER_OPEN}/{run_id}.json")
}

pub fn ledger_closed_key(run_id: &RunId) -> String {
    format!("{LEDGER_CLOSED}/{run_id}.json")
}

pub fn report_key(run_id: &RunId) -> String {
    format!("{RUNS}/{run_id}/report.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let id = RunId::parse("20261124T081500Z-abc123").unwrap();
        assert_eq!(
            part_key(Mode::Full, &id, 3),
            "raw/full/2026-11-24/20261124T081500Z-abc123/part-00003.json"
        );
        assert_eq!(
            manifest_key(Mode::Incremental, &id),
            "raw/increment/2026-11-24/20261124T081500Z-abc123/_manifest.json"
        );
        assert_eq!(watermark_seq(&watermark_key(42)), Some(42));
        assert_eq!(watermark_seq("state/watermark/x.json"), None);
    }
}
