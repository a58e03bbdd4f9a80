//! Declarative table writes: a stage says what a table should receive, this module does the
//! rest inside the commit retry loop.
//!
//! Every attempt loads the table afresh, reads what is live (and any other table a change
//! reads from), conforms every frame to the table's schema by name, computes the change and
//! commits it tagged with the run id. A conflict reloads and recomputes, so no change is ever
//! computed from a state another writer has moved past, and the stages never hold an Iceberg
//! type or a read across a retry.

use lakehouse_core::{contracts::TableCommit, runid::RunId};
use polars::prelude::*;

use crate::{
    Result, TablesError, Warehouse,
    bridge::{conform, conform_read, read_each, read_live},
    commit::{Plan, RetryPolicy, commit_run, rewrite},
    entity::{self, EntityChange},
    live::{LiveFile, live_files},
    mirror,
    schemas::TableDef,
};

/// Keeps one row per key: the latest by `updated_at`, and of equal timestamps the one that
/// comes last (the incoming rows come after the table's). The stage supplies it, since which
/// row wins is its rule.
pub type LatestFn = fn(&DataFrame, &str) -> PolarsResult<DataFrame>;
/// Folds rows of an entity (the table's rows of some keys, then incoming rows of those and
/// other keys) into one row per key.
pub type ReduceFn = fn(&DataFrame) -> PolarsResult<DataFrame>;
/// A frame made from the first and last day partition (days since 1970-01-01) of a table.
pub type SpanFn = fn(i32, i32) -> PolarsResult<DataFrame>;

/// Rows a change brings to a table.
#[derive(Debug, Clone)]
pub enum Rows {
    /// Rows the stage computed.
    Frame(DataFrame),
    /// Another table's rows as the attempt finds them: all of them, or those of some day
    /// partitions.
    Table {
        def: &'static TableDef,
        days: Option<Vec<i32>>,
    },
    /// A frame made from the span of day partitions another table's live files cover, as the
    /// attempt finds them (nothing when that table has none).
    DaySpan {
        def: &'static TableDef,
        make: SpanFn,
    },
}

/// What a table should receive.
#[derive(Debug, Clone)]
pub enum Change {
    /// Rows of a keyed, day-partitioned table, merged in: each key keeps its latest row
    /// ([`LatestFn`]). The partitions of the incoming rows are rewritten, and so is any other
    /// partition that holds an incoming key (an order whose date moved), found by the key
    /// statistics of every live file.
    Merge { rows: DataFrame, latest: LatestFn },
    /// Rows appended unless a row equal on the `on` columns (nulls equal) is already there.
    AppendNew {
        rows: DataFrame,
        on: &'static [&'static str],
    },
    /// Entity rows, one per key: only new and changed keys are written ([`entity::upsert`]).
    /// With `reduce`, the table's rows of the incoming keys are folded with the incoming rows
    /// first.
    Upsert {
        rows: Rows,
        reduce: Option<ReduceFn>,
    },
    /// Entity rows mirrored from another entity table, as the new and changed keys they take
    /// ([`crate::mirror`]): read from what that table gained since it was last mirrored where
    /// it only gained files, or from all of it.
    Mirror { source: &'static TableDef },
    /// The table's day partitions `days` replaced by the rows (which lie in those days).
    ReplacePartitions { days: Vec<i32>, rows: Rows },
    /// The whole table replaced by the rows, unless it holds the same keys already.
    ReplaceIfChanged { rows: Rows },
    /// The same rows in fewer files: an unpartitioned table of several files as one, each day
    /// partition of several files as one (maintenance).
    Compact,
    /// The whole table replaced by the rows (a table moved in from another catalog).
    ReplaceAll { rows: DataFrame },
}

/// One table's write for one run.
#[derive(Debug, Clone)]
pub struct TableWrite {
    pub table: &'static TableDef,
    pub change: Change,
    /// Snapshot summary fields the commit carries besides the run's own.
    pub stamps: Vec<(&'static str, String)>,
}

impl TableWrite {
    pub fn new(table: &'static TableDef, change: Change) -> Self {
        TableWrite {
            table,
            change,
            stamps: Vec::new(),
        }
    }

    /// The write with `key = value` in its snapshot's summary.
    pub fn with_stamp(mut self, key: &'static str, value: String) -> Self {
        self.stamps.push((key, value));
        self
    }

    /// Carries the write out for `run_id`: at most one commit per table and run, retried on
    /// conflict under `policy`, each attempt from a fresh load.
    pub async fn apply(
        &self,
        warehouse: &Warehouse,
        run_id: &RunId,
        policy: &RetryPolicy,
    ) -> Result<TableCommit> {
        let def = self.table;
        commit_run(
            warehouse,
            def,
            run_id,
            &self.stamps,
            policy,
            async |table| {
                let live = live_files(table, def.key).await?;
                match &self.change {
                    Change::Merge { rows, latest } => {
                        merge(table, def, &live, conformed(rows, def)?, *latest).await
                    }
                    Change::AppendNew { rows, on } => {
                        let seen = read_live(table, def, &live.iter().collect::<Vec<_>>()).await?;
                        let fresh = not_in(conformed(rows, def)?.lazy(), seen, on).collect()?;
                        rewrite(table, def, fresh, &[]).await
                    }
                    Change::Upsert { rows, reduce } => {
                        let incoming = resolve(warehouse, rows, def).await?;
                        upsert(table, def, &live, incoming, *reduce).await
                    }
                    Change::Mirror { source } => {
                        mirror::plan(warehouse, table, def, &live, source, async |rows| {
                            upsert(table, def, &live, rows, None).await
                        })
                        .await
                    }
                    Change::ReplacePartitions { days, rows } => {
                        let rows = resolve(warehouse, rows, def).await?;
                        let replaced: Vec<&LiveFile> = live
                            .iter()
                            .filter(|f| f.day.is_some_and(|d| days.contains(&d)))
                            .collect();
                        let mut plan = rewrite(table, def, rows, &replaced).await?;
                        // An emptied partition was changed too: a reader of this run's commit must
                        // rebuild it.
                        plan.partitions.extend(days);
                        plan.partitions.sort_unstable();
                        plan.partitions.dedup();
                        Ok(plan)
                    }
                    Change::Compact => {
                        let scattered =
                            scattered(def, &live, crate::datafile::target_file_size(table));
                        if scattered.is_empty() {
                            return Ok(Plan::default());
                        }
                        let rows = read_live(table, def, &scattered).await?.collect()?;
                        rewrite(table, def, rows, &scattered).await
                    }
                    Change::ReplaceAll { rows } => {
                        let all: Vec<&LiveFile> = live.iter().collect();
                        rewrite(table, def, conformed(rows, def)?, &all).await
                    }
                    Change::ReplaceIfChanged { rows } => {
                        let wanted = resolve(warehouse, rows, def).await?;
                        let all: Vec<&LiveFile> = live.iter().collect();
                        let have = read_live(table, def, &all).await?.collect()?;
                        let key = def.require_key()?;
                        if have.height() == wanted.height()
                            && have.column(key)?.equals_missing(wanted.column(key)?)
                        {
                            return Ok(Plan::default());
                        }
                        rewrite(table, def, wanted, &all).await
                    }
                }
            },
        )
        .await
    }
}

/// The files a compaction folds together: the small ones (under half the table's target file
/// size) of an unpartitioned table, or of a day partition, that has several. A file the writer
/// cut to the target is never small ([`crate::datafile`]), so compacting it again is no
/// endless loop.
pub(crate) fn scattered<'a>(
    def: &TableDef,
    live: &'a [LiveFile],
    target_bytes: u64,
) -> Vec<&'a LiveFile> {
    let small = |f: &LiveFile| (f.bytes.max(0) as u64) < target_bytes / 2;
    let group = |f: &LiveFile| def.day_partition.and(f.day);
    let mut per_group: std::collections::HashMap<Option<i32>, usize> = Default::default();
    for file in live.iter().filter(|f| small(f)) {
        *per_group.entry(group(file)).or_default() += 1;
    }
    live.iter()
        .filter(|f| small(f) && per_group[&group(f)] > 1)
        .collect()
}

/// `rows` in the table's schema, by name.
fn conformed(rows: &DataFrame, def: &TableDef) -> Result<DataFrame> {
    Ok(conform(rows.clone().lazy(), def).collect()?)
}

/// The rows as the attempt finds them, in `def`'s schema.
async fn resolve(warehouse: &Warehouse, rows: &Rows, def: &TableDef) -> Result<DataFrame> {
    let frame = match rows {
        Rows::Frame(frame) => frame.clone(),
        Rows::Table { def: source, days } => {
            let Some(table) = warehouse.load(source.name).await? else {
                return Err(TablesError::NoSuchTable(source.name.into()));
            };
            let live = live_files(&table, source.key).await?;
            let wanted: Vec<&LiveFile> = live
                .iter()
                .filter(|f| match days {
                    None => true,
                    Some(days) => f.day.is_some_and(|d| days.contains(&d)),
                })
                .collect();
            read_live(&table, source, &wanted).await?.collect()?
        }
        Rows::DaySpan { def: source, make } => {
            let table = warehouse.require(source.name).await?;
            let live = live_files(&table, None).await?;
            let days = live.iter().filter_map(|f| f.day);
            match (days.clone().min(), days.max()) {
                (Some(first), Some(last)) => make(first, last)?,
                _ => DataFrame::empty_with_schema(&def.polars_schema()),
            }
        }
    };
    conformed(&frame, def)
}

/// The rows of `rows` with no row of `seen` equal on `on` (nulls equal): what
/// [`Change::AppendNew`] appends.
pub fn not_in(rows: LazyFrame, seen: LazyFrame, on: &[&str]) -> LazyFrame {
    let keys = || on.iter().map(|c| col(*c)).collect::<Vec<_>>();
    let mut args = JoinArgs::new(JoinType::Anti);
    args.nulls_equal = true;
    rows.join(
        seen.select(keys()).unique(None, UniqueKeepStrategy::Any),
        keys(),
        keys(),
        args,
    )
}

async fn merge(
    table: &iceberg_rust::table::Table,
    def: &TableDef,
    live: &[LiveFile],
    fresh: DataFrame,
    latest: LatestFn,
) -> Result<Plan> {
    let key = def.require_key()?;
    let partition = def
        .day_partition
        .ok_or_else(|| TablesError::MissingColumn {
            table: def.name.into(),
            column: "a day partition column (merges rewrite partitions)".into(),
        })?;
    let days: Vec<i32> = {
        let days = fresh.column(partition)?.to_physical_repr();
        let mut days: Vec<i32> = days.i32()?.iter().flatten().collect();
        days.sort_unstable();
        days.dedup();
        days
    };
    let keys_column = fresh.column(key)?.str()?.clone();
    let mut keys: Vec<&str> = keys_column.iter().flatten().collect();
    keys.sort_unstable();
    // The files of the incoming rows' partitions are rewritten whatever they hold; a file of
    // another partition only if it holds an incoming key, which its key range can rule out
    // without reading it.
    let (touched, elsewhere): (Vec<&LiveFile>, Vec<&LiveFile>) = live
        .iter()
        .partition(|f| f.day.is_some_and(|d| days.binary_search(&d).is_ok()));
    let suspects: Vec<&LiveFile> = elsewhere
        .into_iter()
        .filter(|f| f.may_hold_any(&keys))
        .collect();
    let mut replace = touched;
    let mut existing = Vec::new();
    if !replace.is_empty() {
        existing.push(read_live(table, def, &replace).await?);
    }
    if !suspects.is_empty() {
        let paths: Vec<String> = suspects.iter().map(|f| f.path.clone()).collect();
        let incoming = DataFrame::new_infer_height(vec![keys_column.clone().into_column()])?;
        for (file, rows) in suspects.iter().zip(read_each(table, &paths).await?) {
            let held = entity::by_key(
                rows.clone().lazy(),
                incoming.clone().lazy(),
                key,
                JoinType::Semi,
            )
            .collect()?
            .height();
            if held > 0 {
                replace.push(file);
                existing.push(conform_read(rows, def));
            }
        }
    }
    if replace.is_empty() {
        // Nothing to merge with (day 0, or only new days): the rows are written as they are,
        // one per key already.
        return rewrite(table, def, fresh, &[]).await;
    }
    existing.push(fresh.lazy());
    let both = concat(existing, UnionArgs::default())?.collect()?;
    let merged = latest(&both, key)?;
    rewrite(table, def, merged, &replace).await
}

async fn upsert(
    table: &iceberg_rust::table::Table,
    def: &TableDef,
    live: &[LiveFile],
    incoming: DataFrame,
    reduce: Option<ReduceFn>,
) -> Result<Plan> {
    let key = def.require_key()?;
    let all: Vec<&LiveFile> = live.iter().collect();
    let have = read_live(table, def, &all).await?.collect()?;
    let wanted = match reduce {
        Some(reduce) => {
            // The table's rows of the incoming keys: only those can change.
            let known = entity::by_key(
                have.clone().lazy(),
                incoming.clone().lazy(),
                key,
                JoinType::Semi,
            )
            .collect()?;
            if known.height() == 0 {
                incoming
            } else {
                conformed(&reduce(&known.vstack(&incoming)?)?, def)?
            }
        }
        None => incoming,
    };
    match entity::upsert(def, &have, &wanted, all.len())? {
        EntityChange::Nothing => Ok(Plan::default()),
        EntityChange::Append(rows) => rewrite(table, def, rows, &[]).await,
        EntityChange::Rewrite(rows) => rewrite(table, def, rows, &all).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::{CUSTOMERS, FACT_SALES};

    fn file(name: &str, day: Option<i32>, bytes: i64) -> LiveFile {
        LiveFile {
            manifest: String::new(),
            path: name.into(),
            day,
            records: 1,
            bytes,
            key_range: None,
        }
    }

    fn names(files: Vec<&LiveFile>) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn a_compaction_takes_the_small_files_of_a_group_that_has_several() {
        let target = 1_000;
        let live = [
            file("a1", Some(1), 100),
            file("a2", Some(1), 499),
            file("a3", Some(1), 500),
            file("b1", Some(2), 100),
            file("b2", Some(2), 900),
            file("c1", Some(3), 600),
            file("c2", Some(3), 1_400),
        ];
        assert_eq!(names(scattered(&FACT_SALES, &live, target)), ["a1", "a2"]);
        // An unpartitioned table is one group, whatever days its files carry.
        assert_eq!(
            names(scattered(&CUSTOMERS, &live, target)),
            ["a1", "a2", "b1"]
        );
        assert!(scattered(&CUSTOMERS, &live[..1], target).is_empty());
    }
}
