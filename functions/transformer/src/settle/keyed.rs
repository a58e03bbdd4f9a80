//! Passes over the rows of a batch grouped by a string key (an order, customer or product id),
//! on every core.
//!
//! The rows are scattered by the hash of their key into partitions, so that each partition's
//! hash table stays in cache, and the partitions are passed over in parallel ([`partitioned`]). A million
//! ids in one table made each lookup a cache miss (most of the pass waited on them); in polars
//! the same questions were sorts, `unique`s and group-bys whose tables grew as they went. A key
//! of few values (a thousand products in a million orders) needs no scattering: each core's
//! table of them stays in cache on its own ([`per_core`]).

use std::hash::BuildHasher;

use hashbrown::{HashTable, hash_table::Entry};
use polars::prelude::*;

use crate::settle::cores::on_each_core;

/// Partitions by key hash: enough that a partition of a million-row batch fits in cache.
const PARTITIONS: usize = 64;

/// Keys a core's share of the rows may name for [`per_core`] to fold it in one table: about
/// 300 KB of entries, which stay in a core's cache.
const FEW_KEYS: usize = 4_096;

/// One row as a pass sees it: its key, the key's hash, its number, and what the pass reads of
/// the row.
pub(crate) struct Keyed<'a, R> {
    pub hash: u64,
    pub key: &'a str,
    pub row: IdxSize,
    pub value: R,
}

/// Groups the rows of `keys` by key and runs `per_partition` on each partition of them.
///
/// `read(offset, len, keep)` is called once per core for a contiguous share of the rows; it
/// calls `keep` once per row of the share, in order, with what the pass needs of it, or `None`
/// to leave the row out. A row with a null key is left out too. `per_partition` gets a partition's
/// rows in row order (a key's rows all fall in one partition) and their number.
pub(crate) fn partitioned<'a, R, T>(
    keys: &'a StringChunked,
    read: impl Fn(i64, usize, &mut dyn FnMut(Option<R>)) + Sync,
    per_partition: impl Fn(&mut dyn Iterator<Item = &Keyed<'a, R>>, usize) -> T + Sync,
) -> PolarsResult<Vec<T>>
where
    R: Send + Sync,
    T: Send,
{
    let scattered = on_each_share(
        keys,
        read,
        |rows| -> Vec<Vec<Keyed<'a, R>>> {
            (0..PARTITIONS)
                .map(|_| Vec::with_capacity(partition_capacity(rows)))
                .collect()
        },
        |partitions, row| partitions[partition_of(row.hash)].push(row),
    )?;
    let results = on_each_core(|worker, workers| {
        (worker..PARTITIONS)
            .step_by(workers)
            .map(|partition| {
                let mut rows = scattered.iter().flat_map(|pieces| &pieces[partition]);
                let count = scattered.iter().map(|pieces| pieces[partition].len()).sum();
                per_partition(&mut rows, count)
            })
            .collect::<Vec<T>>()
    })?;
    Ok(results.into_iter().flatten().collect())
}

/// The partition of a key's hash: bits neither a table's bucket index (low) nor its tag (top
/// 7) uses, so the keys of one partition still spread over its table.
fn partition_of(hash: u64) -> usize {
    (hash >> 48) as usize % PARTITIONS
}

/// Room for one partition's share of `rows` scattered by hash: the mean and five standard
/// deviations more, so that no partition grows: at exactly the mean, about half the partitions
/// outgrew it by a few rows and were copied whole into one twice the size.
fn partition_capacity(rows: usize) -> usize {
    let mean = rows / PARTITIONS + 1;
    mean + 5 * mean.isqrt() + 16
}

/// Runs `fold` on the rows of `keys` in one table per core, each over a contiguous share of
/// the rows in row order, and returns the tables in row order of their shares; `None` if a
/// share names more than [`FEW_KEYS`] keys. `read` is as for [`partitioned`].
///
/// A core stops folding at the first key beyond the limit (its `read` still runs to the end
/// of the share, doing nothing more), so a key of many values costs this little before
/// [`partitioned`] takes over.
pub(crate) fn per_core<'a, R, S>(
    keys: &'a StringChunked,
    read: impl Fn(i64, usize, &mut dyn FnMut(Option<R>)) + Sync,
    fold: impl Fn(&mut Table<'a, S>, &Keyed<'a, R>) + Sync,
) -> PolarsResult<Option<Vec<Table<'a, S>>>>
where
    S: Send,
{
    let tables = on_each_share(
        keys,
        read,
        |_| (Table::with_capacity(FEW_KEYS), true),
        |(table, few), row| {
            if *few {
                fold(table, &row);
                *few = table.entries.len() <= FEW_KEYS;
            }
        },
    )?;
    Ok(tables
        .into_iter()
        .map(|(table, few)| few.then_some(table))
        .collect())
}

/// Runs `read` (as for [`partitioned`]) on each core's contiguous share of the rows and hands every
/// row with a key and a value, in row order, to `visit` with that core's state, which `start`
/// makes from the share's length. The states come back in row order of their shares. One
/// hasher serves every core, so equal keys have equal hashes wherever they are.
fn on_each_share<'a, R, S: Send>(
    keys: &'a StringChunked,
    read: impl Fn(i64, usize, &mut dyn FnMut(Option<R>)) + Sync,
    start: impl Fn(usize) -> S + Sync,
    visit: impl Fn(&mut S, Keyed<'a, R>) + Sync,
) -> PolarsResult<Vec<S>> {
    let hasher = PlRandomState::default();
    let rows = keys.len();
    on_each_core(|worker, workers| {
        let (first, end) = (rows * worker / workers, rows * (worker + 1) / workers);
        let mut state = start(end - first);
        let mut keys = keys_from(keys, first);
        let mut row = first;
        read(first as i64, end - first, &mut |value| {
            // The key is read for every row, taken or not, to stay at the row `read` is at.
            if let (Some(Some(key)), Some(value)) = (keys.next(), value) {
                let hash = hasher.hash_one(key);
                let row = row as IdxSize;
                visit(
                    &mut state,
                    Keyed {
                        hash,
                        key,
                        row,
                        value,
                    },
                );
            }
            row += 1;
        });
        state
    })
}

/// The keys of rows `first..` of `keys`, across its chunks (one per raw part). Read where they
/// lie: rechunking a batch's order ids first copied a million views.
fn keys_from(keys: &StringChunked, first: usize) -> impl Iterator<Item = Option<&str>> {
    let mut skip = first;
    keys.downcast_iter().flat_map(move |chunk| {
        let from = skip.min(chunk.len());
        skip -= from;
        (from..chunk.len()).map(move |i| chunk.get(i))
    })
}

/// A hash table of one partition's keys, each with the pass's state for it.
///
/// An entry keeps the head of its key beside it ([`KeyPrefix`]): ids are short enough for it to hold
/// them whole, so comparing a probe with an entry stays in the table, where following the
/// entry's `&str` to the batch's string data (an earlier row, anywhere in it) missed the cache
/// on every lookup.
pub(crate) struct Table<'a, S> {
    entries: HashTable<Stored<'a, S>>,
}

/// A table entry: the key's hash, length, head and text, and the pass's state.
struct Stored<'a, S> {
    hash: u64,
    head: KeyPrefix,
    key: &'a str,
    state: S,
}

/// A key's length and its first 16 bytes, read as two words. For a key of up to 16 bytes the
/// words overlap where it is shorter, so they cover every byte: equal heads of such keys are
/// equal keys. Fixed-size loads, because copying the bytes into a zeroed array is a
/// variable-length `memcpy` per lookup.
#[derive(PartialEq, Eq, Clone, Copy)]
struct KeyPrefix(usize, u64, u64);

impl KeyPrefix {
    fn of(key: &str) -> Self {
        let b = key.as_bytes();
        let n = b.len();
        let word = |at: usize| b[at..at + 8].try_into().map_or(0, u64::from_le_bytes);
        let half = |at: usize| b[at..at + 4].try_into().map_or(0, u32::from_le_bytes);
        match n {
            16.. => KeyPrefix(n, word(0), word(8)),
            8.. => KeyPrefix(n, word(0), word(n - 8)),
            4.. => KeyPrefix(n, u64::from(half(0)), u64::from(half(n - 4))),
            1.. => KeyPrefix(
                n,
                u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
                0,
            ),
            0 => KeyPrefix(0, 0, 0),
        }
    }

    /// Whether two keys with these heads are equal, looking at the keys only when the heads
    /// cannot tell.
    fn same(self, key: &str, other: KeyPrefix, other_key: &str) -> bool {
        self == other && (self.0 <= 16 || key == other_key)
    }
}

impl<'a, S> Table<'a, S> {
    pub fn with_capacity(capacity: usize) -> Self {
        Table {
            entries: HashTable::with_capacity(capacity),
        }
    }

    /// The state of `row`'s key: `Ok` with it if the key was seen before, else `Err` with a
    /// slot to fill with the key's first state.
    pub fn state<R>(
        &mut self,
        row: &Keyed<'a, R>,
    ) -> std::result::Result<&mut S, NewKey<'_, 'a, S>> {
        let head = KeyPrefix::of(row.key);
        let entry = self.entries.entry(
            row.hash,
            |e| e.hash == row.hash && e.head.same(e.key, head, row.key),
            |e| e.hash,
        );
        match entry {
            Entry::Occupied(seen) => Ok(&mut seen.into_mut().state),
            Entry::Vacant(slot) => Err(NewKey {
                slot,
                hash: row.hash,
                head,
                key: row.key,
            }),
        }
    }

    pub fn into_states(self) -> impl Iterator<Item = S> {
        self.entries.into_iter().map(|e| e.state)
    }

    /// Every key with its hash and state.
    pub fn into_entries(self) -> impl Iterator<Item = (u64, &'a str, S)> {
        self.entries.into_iter().map(|e| (e.hash, e.key, e.state))
    }
}

/// Where a key not yet in a [`Table`] goes.
pub(crate) struct NewKey<'t, 'a, S> {
    slot: hashbrown::hash_table::VacantEntry<'t, Stored<'a, S>>,
    hash: u64,
    head: KeyPrefix,
    key: &'a str,
}

impl<'t, S> NewKey<'t, '_, S> {
    pub fn insert(self, state: S) -> &'t mut S {
        let entry = Stored {
            hash: self.hash,
            head: self.head,
            key: self.key,
            state,
        };
        &mut self.slot.insert(entry).into_mut().state
    }
}

/// The latest row of each key: the one with the greatest `stamps` value, and of rows with equal
/// stamps the later one (so rows appended after older data win ties). With `least`, each also
/// carries the smallest `least` value over its key's rows. Rows come out in row order; a row
/// with a null key or stamp takes no part (silver keys and timestamps are never null).
pub(crate) fn latest_rows(
    keys: &StringChunked,
    stamps: &Int64Chunked,
    least: Option<&Int32Chunked>,
) -> PolarsResult<Vec<(IdxSize, Option<i32>)>> {
    let read = |offset: i64, len: usize, keep: &mut dyn FnMut(Option<(i64, Option<i32>)>)| {
        let stamps = stamps.slice(offset, len);
        match least.map(|l| l.slice(offset, len)) {
            Some(least) => stamps
                .iter()
                .zip(least.iter())
                .for_each(|(stamp, least)| keep(stamp.map(|s| (s, least)))),
            None => stamps
                .iter()
                .for_each(|stamp| keep(stamp.map(|s| (s, None)))),
        }
    };
    let found: Vec<Latest> = match per_core(keys, read, take_version)? {
        // Each core's latest versions, merged in row order of the shares: a later share's
        // version of a key still comes after an earlier share's, so it wins a tie.
        Some(tables) => {
            let mut merged = Table::with_capacity(FEW_KEYS);
            for table in tables {
                for (hash, key, (row, stamp, least)) in table.into_entries() {
                    let value = (stamp, least);
                    take_version(
                        &mut merged,
                        &Keyed {
                            hash,
                            key,
                            row,
                            value,
                        },
                    );
                }
            }
            merged.into_states().collect()
        }
        None => partitioned(keys, read, |rows, count| {
            let mut table = Table::with_capacity(count);
            rows.for_each(|row| take_version(&mut table, row));
            table.into_states().collect::<Vec<_>>()
        })?
        .into_iter()
        .flatten()
        .collect(),
    };
    let mut latest: Vec<(IdxSize, Option<i32>)> = found
        .into_iter()
        .map(|(row, _, least)| (row, least))
        .collect();
    latest.sort_unstable_by_key(|(row, _)| *row);
    Ok(latest)
}

/// What [`latest_rows`] keeps of a key: its latest row, that row's stamp, and the smallest
/// `least` value so far.
type Latest = (IdxSize, i64, Option<i32>);

/// Folds one row (its stamp and `least` value) into its key's [`Latest`].
fn take_version<'a>(table: &mut Table<'a, Latest>, row: &Keyed<'a, (i64, Option<i32>)>) {
    let (stamp, least) = row.value;
    match table.state(row) {
        Err(new) => {
            new.insert((row.row, stamp, least));
        }
        Ok((latest, latest_stamp, smallest)) => {
            if stamp >= *latest_stamp {
                (*latest, *latest_stamp) = (row.row, stamp);
            }
            *smallest = match (*smallest, least) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Repeatable pseudo-random numbers below `n` (a linear congruential generator), for tests
    /// over many generated rows.
    pub(crate) fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        }
    }

    fn latest(
        keys: &[Option<&str>],
        stamps: &[Option<i64>],
        least: Option<&[i32]>,
    ) -> Vec<(IdxSize, Option<i32>)> {
        latest_of(
            &StringChunked::from_iter(keys.iter().copied()),
            stamps,
            least,
        )
    }

    /// `keys` as a column of four chunks of uneven lengths, as a batch stacks its parts; one
    /// chunk ends a few rows after the second core's share begins.
    fn in_chunks(keys: &[Option<&str>]) -> StringChunked {
        let ends = [0, 1, 8, keys.len() / 2 + 3, keys.len()];
        let mut chunks = ends
            .windows(2)
            .map(|w| StringChunked::from_iter(keys[w[0]..w[1]].iter().copied()));
        let mut column = chunks.next().unwrap();
        chunks.for_each(|chunk| column.append(&chunk).unwrap());
        assert_eq!(column.chunks().len(), 4);
        column
    }

    fn latest_of(
        keys: &StringChunked,
        stamps: &[Option<i64>],
        least: Option<&[i32]>,
    ) -> Vec<(IdxSize, Option<i32>)> {
        let stamps = Int64Chunked::from_iter(stamps.iter().copied());
        let least = least.map(|l| Int32Chunked::from_slice("least".into(), l));
        latest_rows(keys, &stamps, least.as_ref()).unwrap()
    }

    #[test]
    fn heads_of_keys_up_to_16_bytes_tell_every_byte() {
        for n in 0..=20usize {
            let key: String = (0..n).map(|i| char::from(b'a' + i as u8)).collect();
            assert!(KeyPrefix::of(&key) == KeyPrefix::of(&key.clone()));
            for i in 0..n {
                let mut other = key.clone().into_bytes();
                other[i] = b'Z';
                let other = String::from_utf8(other).unwrap();
                let (a, b) = (KeyPrefix::of(&key), KeyPrefix::of(&other));
                assert_eq!(a == b, i >= 16, "length {n}, byte {i}");
                assert!(!a.same(&key, b, &other), "length {n}, byte {i}");
            }
            // A key is not equal to a longer one that starts the same.
            let longer = format!("{key}a");
            assert!(!KeyPrefix::of(&key).same(&key, KeyPrefix::of(&longer), &longer));
        }
    }

    #[test]
    fn the_latest_row_of_each_key_wins_ties_by_coming_later() {
        let got = latest(
            &[
                Some("a"),
                Some("b"),
                Some("a"),
                Some("c"),
                Some("b"),
                None,
                Some("c"),
            ],
            &[Some(2), Some(1), Some(2), Some(5), Some(0), Some(9), None],
            Some(&[7, 3, 9, 4, 1, 0, 2]),
        );
        // a: rows 0 and 2 tie, the later wins; b@1 beats b@0; c's row without a stamp takes
        // no part, nor does the row without a key.
        assert_eq!(got, [(1, Some(1)), (2, Some(7)), (3, Some(4))]);
        let without = latest(&[Some("a"), Some("a")], &[Some(5), Some(4)], None);
        assert_eq!(without, [(0, None)]);
    }

    #[test]
    fn no_partition_outgrows_its_room() {
        let hasher = PlRandomState::default();
        for rows in [1_000, 50_000, 500_000] {
            let mut counts = [0; PARTITIONS];
            for i in 0..rows {
                let hash = hasher.hash_one(format!("ORD-{i:09}").as_str());
                counts[partition_of(hash)] += 1;
            }
            let most = counts.into_iter().max().unwrap();
            assert!(most <= partition_capacity(rows), "{most} of {rows} rows");
        }
        // And the room is not bought with much memory: a core's share of a day-0 batch gets
        // less than an eighth more than its mean.
        let (rows, room) = (500_000, partition_capacity(500_000));
        assert!(room < rows / PARTITIONS * 9 / 8, "{room} for {rows} rows");
    }

    fn count_key<'a>(table: &mut Table<'a, ()>, row: &Keyed<'a, ()>) {
        if let Err(new) = table.state(row) {
            new.insert(());
        }
    }

    #[test]
    fn few_and_many_keys_settle_as_the_plain_definition_does() {
        // A thousand keys: one table per core. Twenty thousand: more than a core's table
        // takes, so the rows are scattered, into every partition, on both cores.
        for (rows, keys) in [(20_000, 1_000), (60_000, 20_000)] {
            let mut next = numbers(11);
            let rows: Vec<(String, i64, i32)> = (0..rows)
                .map(|_| {
                    // Short keys, and long ones whose first 16 bytes are all alike.
                    let n = next(keys);
                    let key = if n.is_multiple_of(2) {
                        format!("K{n}")
                    } else {
                        format!("customer-with-a-long-id-{n}")
                    };
                    (key, next(8) as i64, next(100) as i32)
                })
                .collect();
            let column = StringChunked::from_iter(rows.iter().map(|r| Some(r.0.as_str())));
            let read = |_: i64, len: usize, keep: &mut dyn FnMut(Option<()>)| {
                (0..len).for_each(|_| keep(Some(())))
            };
            let per_core = per_core(&column, read, count_key).unwrap();
            assert_eq!(per_core.is_some(), keys < FEW_KEYS as u64, "{keys} keys");

            let keys: Vec<Option<&str>> = rows.iter().map(|r| Some(r.0.as_str())).collect();
            let stamps: Vec<Option<i64>> = rows.iter().map(|r| Some(r.1)).collect();
            let least: Vec<i32> = rows.iter().map(|r| r.2).collect();
            let got = latest(&keys, &stamps, Some(&least));
            // Read across chunks, the keys give the same rows.
            assert_eq!(latest_of(&in_chunks(&keys), &stamps, Some(&least)), got);

            let mut want: std::collections::BTreeMap<&str, (usize, i64, i32)> = Default::default();
            for (i, (key, stamp, day)) in rows.iter().enumerate() {
                let entry = want.entry(key).or_insert((i, *stamp, *day));
                if *stamp >= entry.1 {
                    (entry.0, entry.1) = (i, *stamp);
                }
                entry.2 = entry.2.min(*day);
            }
            let mut want: Vec<(IdxSize, Option<i32>)> = want
                .values()
                .map(|(row, _, least)| (*row as IdxSize, Some(*least)))
                .collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }
}
