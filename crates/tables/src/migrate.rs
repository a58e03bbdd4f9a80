//! Moving a lake's tables from its file catalog into a REST catalog (`lakehouse catalog
//! migrate`).
//!
//! Each table is created in the target and given the source's current rows as one snapshot,
//! stamped with where they came from ([`MIGRATED_FROM_KEY`]: the source table's uuid and
//! snapshot id). A target that already carries the source's current stamp is left alone, so the
//! migration is safe to re-run at any point: after a crash half-way, or after more runs on the
//! file catalog, whose new state it then moves again. The rows are rewritten into the target's
//! own location (a table bucket takes files only under its tables); SeaweedFS's `register`,
//! which would adopt the source's metadata file, loses the schema and snapshots (4.48).
//!
//! The migration holds the lake's lease, so no run commits to the source meanwhile. Runs that
//! committed to the file catalog keep their ledger records: after the move, a re-run of one
//! finds its commits recorded and changes nothing.

use chrono::Utc;
use lakehouse_core::{
    lease::{Lease, LeaseConfig},
    runid::RunId,
};
use serde::Serialize;

use crate::{
    Change, Result, TableWrite, TablesError, Warehouse, commit::RetryPolicy, live::snapshot_stamp,
    schemas::ALL,
};

/// The snapshot summary key of a migrated table: `<source table uuid>/<source snapshot id>`.
pub const MIGRATED_FROM_KEY: &str = "lakehouse.migrated-from";

/// What the migration did to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The source's rows are now the target's.
    Moved,
    /// The target already holds the source's current state.
    UpToDate,
    /// The file catalog has no such table.
    NotInSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigratedTable {
    pub table: String,
    pub rows: u64,
    pub outcome: Outcome,
}

/// Whether a target table that exists takes the source's state `stamp`: not if one of its
/// snapshots already came from it (the target may have taken runs since), yes if it is empty or
/// its current snapshot is an earlier migration's (the source took runs since). A target whose
/// current snapshot is its own run's, with the source's state not moved, has a history of its
/// own: overwriting it would lose that, so the migration stops and says so.
fn should_move(target: &iceberg_rust::table::Table, stamp: &str, name: &str) -> Result<bool> {
    let metadata = target.metadata();
    let moved_before = metadata
        .snapshots
        .values()
        .any(|s| s.summary().other.get(MIGRATED_FROM_KEY).map(String::as_str) == Some(stamp));
    if moved_before {
        return Ok(false);
    }
    if metadata.current_snapshot_id.is_none()
        || snapshot_stamp(target, MIGRATED_FROM_KEY)?.is_some()
    {
        return Ok(true);
    }
    Err(TablesError::Diverged(name.to_owned()))
}

/// Moves every table of `from` (a file catalog) into `to` (a REST catalog on the same lake),
/// under the lake's lease.
pub async fn migrate(
    from: &Warehouse,
    to: &Warehouse,
    lease: &LeaseConfig,
) -> Result<Vec<MigratedTable>> {
    let run_id = RunId::new(Utc::now());
    let held = Lease::acquire(from.lake(), &format!("migrate-{run_id}"), lease)
        .await?
        .keep();
    let moved = migrate_tables(from, to, &run_id).await;
    held.finish(true).await?;
    moved
}

/// First what each table needs, so that a table that cannot move stops the migration before
/// anything moves (silver and gold would disagree otherwise); then the moves.
async fn migrate_tables(
    from: &Warehouse,
    to: &Warehouse,
    run_id: &RunId,
) -> Result<Vec<MigratedTable>> {
    let mut plan = Vec::new();
    for def in ALL {
        let Some(source) = from.load(def.name).await? else {
            plan.push((def, Outcome::NotInSource, String::new()));
            continue;
        };
        let stamp = format!(
            "{}/{}",
            source.metadata().table_uuid,
            source
                .metadata()
                .current_snapshot_id
                .map_or("empty".to_owned(), |id| id.to_string())
        );
        let outcome = match to.load(def.name).await? {
            Some(target) if !should_move(&target, &stamp, def.name)? => Outcome::UpToDate,
            _ => Outcome::Moved,
        };
        plan.push((def, outcome, stamp));
    }
    let mut done = Vec::new();
    for (def, outcome, stamp) in plan {
        let mut rows_moved = 0;
        if outcome == Outcome::Moved {
            let Some(rows) = from.read_table(def).await? else {
                continue;
            };
            let commit = TableWrite::new(
                def,
                Change::ReplaceAll {
                    rows: rows.collect()?,
                },
            )
            .with_stamp(MIGRATED_FROM_KEY, stamp)
            .apply(to, run_id, &RetryPolicy::default())
            .await?;
            rows_moved = commit.rows_written;
        }
        done.push(MigratedTable {
            table: def.name.into(),
            rows: rows_moved,
            outcome,
        });
    }
    Ok(done)
}
