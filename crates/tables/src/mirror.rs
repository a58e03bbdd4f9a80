//! Entity tables that mirror another entity table (the gold dimensions of silver's customers
//! and products), kept up to date from what the source gained since it was last mirrored.
//!
//! Every mirror commit records in its snapshot summary the source snapshot it mirrored
//! ([`MIRRORS_KEY`]). On the next write, when the source is still at that snapshot there is
//! nothing to read; when every file the source had then is still live, the source only gained
//! files since (silver appends new keys as a file of their own, [`crate::entity`]), and the rows
//! of those files are all the mirror can lack. They are appended as they are, once the mirror's
//! key column shows none of their keys. Anything else (the source rewrote or compacted files,
//! the snapshot was expired, the mirror was compacted, a key came back) takes the whole
//! comparison of [`crate::entity::upsert`], which reads both tables whole. Either way the
//! mirror holds every key of the source with the source's attributes.

use std::collections::HashSet;

use iceberg_rust::table::Table;
use polars::prelude::*;

use crate::{
    Result, TableDef, Warehouse,
    bridge::{read_column, read_live},
    commit::{Plan, rewrite},
    entity::{MAX_FILES, by_key},
    live::{LiveFile, live_data_files, live_files, snapshot_stamp},
};

/// The snapshot summary key that names the source snapshot a mirror commit mirrored.
pub const MIRRORS_KEY: &str = "lakehouse.mirrors-snapshot";

/// What brings `table` (live files `live`) up to date with the table `source`: the rows of
/// what the source gained since the mirrored snapshot, or, where only the whole comparison
/// will do, what `whole` makes of all the source's rows.
pub(crate) async fn plan(
    warehouse: &Warehouse,
    table: &Table,
    def: &TableDef,
    live: &[LiveFile],
    source_def: &'static TableDef,
    whole: impl AsyncFnOnce(DataFrame) -> Result<Plan>,
) -> Result<Plan> {
    let source = warehouse.require(source_def.name).await?;
    let Some(now) = source.metadata().current_snapshot_id else {
        return Ok(Plan::default());
    };
    // An empty plan commits nothing, so its stamp goes nowhere.
    let stamp = |mut plan: Plan| {
        plan.stamps.push((MIRRORS_KEY, now.to_string()));
        plan
    };
    let mirrored = snapshot_stamp(table, MIRRORS_KEY)?.and_then(|id| id.parse::<i64>().ok());
    if mirrored == Some(now) {
        return Ok(Plan::default());
    }
    let source_live = live_files(&source, source_def.key).await?;
    if let Some(then) = mirrored
        && live.len() < MAX_FILES
        && let Some(gained) = gained_since(&source, then, &source_live).await?
    {
        let key = def.require_key()?;
        let rows = read_live(&source, def, &gained).await?.collect()?;
        let paths: Vec<String> = live.iter().map(|f| f.path.clone()).collect();
        let held = read_column(table, &paths, key).await?;
        // A mirror of no files has no key column to join with.
        let known = if held.height() == 0 {
            0
        } else {
            by_key(rows.clone().lazy(), held.lazy(), key, JoinType::Semi)
                .collect()?
                .height()
        };
        if known == 0 {
            return Ok(stamp(rewrite(table, def, rows, &[]).await?));
        }
    }
    let all: Vec<&LiveFile> = source_live.iter().collect();
    let rows = read_live(&source, def, &all).await?.collect()?;
    Ok(stamp(whole(rows).await?))
}

/// The live files of `source` that its snapshot `then` did not have, if every file `then` had
/// is still live (`None` otherwise, or when `then` is no longer in the table's history).
async fn gained_since<'a>(
    source: &Table,
    then: i64,
    live: &'a [LiveFile],
) -> Result<Option<Vec<&'a LiveFile>>> {
    if !source.metadata().snapshots.contains_key(&then) {
        return Ok(None);
    }
    let manifests = source.manifests(None, Some(then)).await?;
    let before: HashSet<String> = live_data_files(source, &manifests)
        .await?
        .iter()
        .flat_map(|files| files.iter())
        .map(|file| file.file_path().clone())
        .collect();
    let now: HashSet<&str> = live.iter().map(|f| f.path.as_str()).collect();
    if !before.iter().all(|path| now.contains(path.as_str())) {
        return Ok(None);
    }
    Ok(Some(
        live.iter().filter(|f| !before.contains(&f.path)).collect(),
    ))
}
