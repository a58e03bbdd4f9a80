//! The ledger of runs: what each run has done, kept on the lake.
//!
//! The watermark says what has *landed* in raw/; the ledger says what has been *processed*.
//! A run is recorded when its batch has landed (`landed`, with an open marker), when its four
//! silver commits are done (`silver`) and when its four gold commits are done (`gold`, with a
//! closed marker). The stages never delete: maintenance removes the markers of closed runs
//! ([`prune_closed`]). A run that died in between stays open, and the next run of the
//! pipeline, scheduled or not, finishes it before its own batch ([`open_runs`]): nobody has to
//! remember `--resume`, and a batch is never stranded behind a watermark that moved past it.
//!
//! Each record is written once the step's commits are done, so a record means the step is
//! complete; its absence means nothing more than "not known to be done", and the step is run
//! again, which the commits' run tagging makes a no-op where it had already committed.

use crate::{
    Lake, Result,
    contracts::{ExtractOutput, GoldOutput, TableCommit, TransformOutput},
    layout,
    runid::RunId,
};

const LANDED: &str = "landed";
const SILVER: &str = "silver";
const GOLD: &str = "gold";

/// The pointer as the ledger keeps it: what any later run needs to finish it, without the
/// fields that belong to the run that carried it (its lease, its list of pending runs).
fn stored(landed: &ExtractOutput) -> ExtractOutput {
    ExtractOutput {
        lease: None,
        pending: Vec::new(),
        extracted: false,
        ..landed.clone()
    }
}

/// Records that a run's batch has landed. A batch with records stays open until its gold step
/// is recorded; a run already through gold is not opened again.
pub async fn record_landed(lake: &Lake, landed: &ExtractOutput) -> Result<()> {
    let pointer = stored(landed);
    lake.put_json(&layout::ledger_key(&landed.run_id, LANDED), &pointer)
        .await?;
    if landed.records > 0 && gold(lake, &landed.run_id).await?.is_none() {
        lake.put_json(&layout::ledger_open_key(&landed.run_id), &pointer)
            .await?;
    }
    Ok(())
}

/// The run ids of the markers under `prefix`.
async fn marked(lake: &Lake, prefix: &str) -> Result<std::collections::BTreeMap<String, String>> {
    Ok(lake
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|key| {
            let id = key.rsplit('/').next()?.strip_suffix(".json")?.to_owned();
            Some((id, key))
        })
        .collect())
}

/// Runs that landed a batch and are not through gold, oldest first: open markers without a
/// closed one. A run that did finish without its closed marker (a crash between the gold
/// record and the marker) gets it here.
pub async fn open_runs(lake: &Lake) -> Result<Vec<ExtractOutput>> {
    let closed = marked(lake, layout::LEDGER_CLOSED).await?;
    let mut open = Vec::new();
    for (id, key) in marked(lake, layout::LEDGER_OPEN).await? {
        if closed.contains_key(&id) {
            continue;
        }
        let Some(pointer) = lake.get_json::<ExtractOutput>(&key).await? else {
            continue;
        };
        if gold(lake, &pointer.run_id).await?.is_some() {
            lake.put_json(&layout::ledger_closed_key(&pointer.run_id), &pointer.run_id)
                .await?;
            continue;
        }
        open.push(pointer);
    }
    // Run ids start with their UTC start time.
    open.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(open)
}

/// The commit a run made to a table, if the ledger has it: the record that makes a re-run of a
/// step a no-op even after maintenance expired the snapshot the commit made.
pub async fn table_commit(lake: &Lake, run_id: &RunId, table: &str) -> Result<Option<TableCommit>> {
    lake.get_json(&layout::ledger_key(run_id, &format!("tables/{table}")))
        .await
}

pub async fn record_table_commit(lake: &Lake, run_id: &RunId, commit: &TableCommit) -> Result<()> {
    let key = layout::ledger_key(run_id, &format!("tables/{}", commit.table));
    lake.put_json(&key, commit).await
}

pub async fn silver(lake: &Lake, run_id: &RunId) -> Result<Option<TransformOutput>> {
    lake.get_json(&layout::ledger_key(run_id, SILVER)).await
}

pub async fn record_silver(lake: &Lake, done: &TransformOutput) -> Result<()> {
    let done = TransformOutput {
        lease: None,
        replayed: false,
        ..done.clone()
    };
    lake.put_json(&layout::ledger_key(&done.run_id, SILVER), &done)
        .await
}

pub async fn gold(lake: &Lake, run_id: &RunId) -> Result<Option<GoldOutput>> {
    lake.get_json(&layout::ledger_key(run_id, GOLD)).await
}

/// Records a run's gold step and closes it.
pub async fn record_gold(lake: &Lake, done: &GoldOutput) -> Result<()> {
    lake.put_json(&layout::ledger_key(&done.run_id, GOLD), done)
        .await?;
    lake.put_json(&layout::ledger_closed_key(&done.run_id), &done.run_id)
        .await
}

/// Deletes the open and closed markers of closed runs (the open one first: a crash in between
/// leaves a closed marker alone, which the next prune removes), returning how many runs. For
/// maintenance, the one role allowed to delete; the runs' records stay.
pub async fn prune_closed(lake: &Lake) -> Result<usize> {
    let closed = marked(lake, layout::LEDGER_CLOSED).await?;
    for (id, key) in &closed {
        lake.delete(&layout::ledger_open_key(&RunId::parse(id)?))
            .await?;
        lake.delete(key).await?;
    }
    Ok(closed.len())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{
        contracts::{Mode, Window},
        store::temp_lake,
    };

    fn landed(id: &str, records: u64) -> ExtractOutput {
        let run_id = RunId::parse(id).unwrap();
        ExtractOutput {
            manifest_key: layout::manifest_key(Mode::Incremental, &run_id),
            run_id,
            mode: Mode::Incremental,
            records,
            parts: 1,
            window: Window {
                since: None,
                until: Utc::now(),
            },
            extracted: true,
            lease: None,
            pending: Vec::new(),
        }
    }

    fn gold_of(run: &ExtractOutput) -> GoldOutput {
        GoldOutput {
            run_id: run.run_id.clone(),
            tables: Vec::new(),
            report_key: layout::report_key(&run.run_id),
            replayed: false,
        }
    }

    #[tokio::test]
    async fn landed_runs_stay_open_until_gold_oldest_first() {
        let (_dir, lake) = temp_lake();
        let later = landed("20260102T000000Z-bbbbbb", 5);
        let earlier = landed("20260101T000000Z-aaaaaa", 7);
        let empty = landed("20260103T000000Z-cccccc", 0);
        for run in [&later, &earlier, &empty] {
            record_landed(&lake, run).await.unwrap();
        }
        let open = open_runs(&lake).await.unwrap();
        let ids: Vec<&str> = open.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, [earlier.run_id.as_str(), later.run_id.as_str()]);
        assert!(
            !open[0].extracted,
            "a pointer from the ledger fetched nothing"
        );

        record_gold(&lake, &gold_of(&earlier)).await.unwrap();
        let open = open_runs(&lake).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].run_id, later.run_id);
        // A finished run landed again (a re-run) is not reopened.
        record_landed(&lake, &earlier).await.unwrap();
        assert_eq!(open_runs(&lake).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_run_through_gold_is_closed_even_after_a_crash_and_pruned_later() {
        let (_dir, lake) = temp_lake();
        let run = landed("20260101T000000Z-aaaaaa", 7);
        let other = landed("20260102T000000Z-bbbbbb", 3);
        record_landed(&lake, &run).await.unwrap();
        record_landed(&lake, &other).await.unwrap();
        // The gold record is written, then the process dies before the closed marker.
        lake.put_json(&layout::ledger_key(&run.run_id, GOLD), &gold_of(&run))
            .await
            .unwrap();
        let open = open_runs(&lake).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].run_id, other.run_id);
        assert_eq!(lake.list(layout::LEDGER_CLOSED).await.unwrap().len(), 1);
        // Nothing was deleted; maintenance's prune removes the closed run's markers only.
        assert_eq!(lake.list(layout::LEDGER_OPEN).await.unwrap().len(), 2);
        assert_eq!(prune_closed(&lake).await.unwrap(), 1);
        assert!(lake.list(layout::LEDGER_CLOSED).await.unwrap().is_empty());
        let left = lake.list(layout::LEDGER_OPEN).await.unwrap();
        assert_eq!(left, [layout::ledger_open_key(&other.run_id)]);
        assert_eq!(open_runs(&lake).await.unwrap().len(), 1);
        assert!(
            gold(&lake, &run.run_id).await.unwrap().is_some(),
            "records stay"
        );
    }
}
