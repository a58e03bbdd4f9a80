//! Entity tables (one row per key, not partitioned: customers, products and their dimensions),
//! written as the changes they take instead of whole.
//!
//! Every order carries its customer's and product's attributes, so an incremental batch names
//! a tenth of all customers again, nearly always with the attributes the table already holds.
//! Rewriting the table each time moved every row twice a round (silver, then the gold
//! dimension) to change almost none: a third of an incremental round. Here a key counts only
//! when its row differs on the compared columns. No such key: nothing is committed. Only new
//! keys: they are appended as one more file. A key whose row changed: the table is rewritten,
//! as one file, which also folds the appended files back in; so does an append that would make
//! more than [`MAX_FILES`].

use polars::prelude::*;

use crate::{Result, TableDef};

/// Files an entity table grows to by appending new keys before the next write compacts it.
pub const MAX_FILES: usize = 8;

/// What an entity table needs to hold `wanted` ([`upsert`]).
#[derive(Debug)]
pub enum EntityChange {
    /// Every key of `wanted` already has its row.
    Nothing,
    /// Only new keys: these rows, added as a file of their own.
    Append(DataFrame),
    /// The whole table's new rows, replacing every live file.
    Rewrite(DataFrame),
}

/// What brings a table that holds `have` (in `files` live files) up to date with `wanted` (at
/// most one row per key, [`TableDef::key`]; both frames in the table's schema). A key of
/// `wanted` is new or changed when no row of `have` equals its row on every column but
/// `updated_at` and `run_id`; every other row of the table stays as it is, keys missing from
/// `wanted` included.
pub fn upsert(
    def: &TableDef,
    have: &DataFrame,
    wanted: &DataFrame,
    files: usize,
) -> Result<EntityChange> {
    let key = def.require_key()?;
    let changes = changed_rows(have, wanted, key, &attributes(def))?;
    if changes.height() == 0 {
        return Ok(EntityChange::Nothing);
    }
    let by_changed = |how| by_key(have.clone().lazy(), changes.clone().lazy(), key, how);
    if by_changed(JoinType::Semi).collect()?.height() == 0 && files < MAX_FILES {
        return Ok(EntityChange::Append(changes));
    }
    let kept = by_changed(JoinType::Anti);
    let merged = concat([kept, changes.lazy()], UnionArgs::default())?.collect()?;
    Ok(EntityChange::Rewrite(merged))
}

/// The rows of `wanted` (at most one per `key`) that no row of `have` equals on every
/// `compared` column (nulls equal). Only the rows of `have` with a key of `wanted` are
/// compared, so a batch that names a few keys of a large table costs a lookup of those keys,
/// not a comparison of every row.
pub fn changed_rows(
    have: &DataFrame,
    wanted: &DataFrame,
    key: &str,
    compared: &[&str],
) -> PolarsResult<DataFrame> {
    // A first write (day 0) compares nothing: every row is new.
    if have.height() == 0 {
        return Ok(wanted.clone());
    }
    let on: Vec<Expr> = compared.iter().map(|c| col(*c)).collect();
    let same_keys = by_key(
        have.clone().lazy().select(&on),
        wanted.clone().lazy(),
        key,
        JoinType::Semi,
    );
    let mut args = JoinArgs::new(JoinType::Anti);
    args.nulls_equal = true;
    wanted
        .clone()
        .lazy()
        .join(same_keys, &on, &on, args)
        .collect()
}

/// The rows of `rows` whose `key` is among the keys of `keys` (`JoinType::Semi`), or is not
/// (`JoinType::Anti`).
pub fn by_key(rows: LazyFrame, keys: LazyFrame, key: &str, how: JoinType) -> LazyFrame {
    rows.join(
        keys.select([col(key)]),
        [col(key)],
        [col(key)],
        JoinArgs::new(how),
    )
}

/// The columns of an entity table that say what a row is, without those that say when and by
/// which run it was written (`updated_at`, `run_id`): a row that differs only in those is the
/// same row again.
fn attributes(def: &TableDef) -> Vec<&'static str> {
    def.column_names()
        .filter(|name| !matches!(*name, "updated_at" | "run_id"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_differing_only_outside_the_compared_columns_are_unchanged() {
        let have = df!(
            "id" => ["a", "b", "c"],
            "name" => [Some("A"), None, Some("C")],
            "price" => [1.5, 2.0, 3.0],
            "updated_at" => [1i64, 1, 1],
        )
        .unwrap();
        let wanted = df!(
            "id" => ["a", "b", "c", "d"],
            "name" => [Some("A"), None, Some("C2"), Some("D")],
            "price" => [1.5, 2.0, 3.0, 4.0],
            "updated_at" => [9i64, 9, 9, 9],
        )
        .unwrap();
        let changed = changed_rows(&have, &wanted, "id", &["id", "name", "price"]).unwrap();
        let ids = changed.column("id").unwrap().as_materialized_series();
        let ids = ids.sort(SortOptions::default()).unwrap();
        // a: only updated_at differs; b: a null name equals a null name; c: renamed; d: new.
        assert!(ids.equals(&Series::new("id".into(), ["c", "d"])), "{ids}");
        let price_only = changed_rows(&have, &wanted, "id", &["id", "price"]).unwrap();
        assert_eq!(price_only.height(), 1, "only d is new on (id, price)");
    }
}
