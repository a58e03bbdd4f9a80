//! The live data files of each manifest file, decoded once per process.
//!
//! A manifest file never changes once written: every commit attempt writes its manifests under
//! names of its own (a fresh UUID), and maintenance deletes only files no retained snapshot
//! reaches. So what a manifest lists can be kept by its path. A round reads the big tables'
//! manifests several times (the silver merge plans from them and its commit lists the files it
//! keeps; gold reads silver's partitions and its span of days, then its own table twice), and
//! decoding is what costs: iceberg-rust formats the table's whole schema for every column bound
//! of every entry it converts, so its decode grows with files × columns² (ours,
//! [`crate::manifest_read`], does not).
//!
//! The cache holds at most [`MAX_ENTRIES`] data files (a few kilobytes each); past that, the
//! manifests cached first are dropped first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, LazyLock, Mutex, PoisonError},
};

use iceberg_rust::{
    spec::{
        manifest::{DataFile, Status},
        manifest_list::ManifestListEntry,
        util::strip_prefix,
    },
    table::Table,
};
use object_store::{ObjectStoreExt, path::Path};

use crate::Result;

/// Data files the cache holds at most, over all the manifests it keeps.
pub const MAX_ENTRIES: usize = 50_000;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

/// The data files `manifest` lists as live (not deleted), from the cache or decoded.
pub(crate) async fn live_entries(
    table: &Table,
    manifest: &ManifestListEntry,
) -> Result<Arc<[DataFile]>> {
    let path = &manifest.manifest_path;
    if let Some(files) = lock().get(path) {
        return Ok(files);
    }
    let bytes = manifest_bytes(table, path).await?;
    let files = match crate::manifest_read::live_data_files(path, bytes.as_ref())? {
        Some(files) => files,
        None => upstream_decode(table, manifest).await?,
    };
    let files: Arc<[DataFile]> = files.into();
    lock().insert(path.clone(), files.clone(), MAX_ENTRIES);
    Ok(files)
}

/// The manifest file at `path` (a location as a manifest list names it).
pub(crate) async fn manifest_bytes(table: &Table, path: &str) -> Result<impl AsRef<[u8]> + use<>> {
    Ok(table
        .object_store()
        .get(&Path::from(strip_prefix(path).as_str()))
        .await?
        .bytes()
        .await?)
}

/// The live data files of a manifest our reader does not take (format version 1), as
/// iceberg-rust decodes them.
pub(crate) async fn upstream_decode(
    table: &Table,
    manifest: &ManifestListEntry,
) -> Result<Vec<DataFile>> {
    let mut files = Vec::new();
    for entry in table
        .datafiles(std::slice::from_ref(manifest), None, (None, None))
        .await?
    {
        let (_, entry) = entry?;
        if *entry.status() != Status::Deleted {
            files.push(entry.data_file().clone());
        }
    }
    Ok(files)
}

/// A panic while holding the lock leaves the map as consistent as any insert leaves it.
fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Manifests' live files by manifest path, first cached first dropped.
#[derive(Default)]
struct Cache {
    by_path: HashMap<String, Arc<[DataFile]>>,
    order: VecDeque<String>,
    entries: usize,
}

impl Cache {
    fn get(&self, path: &str) -> Option<Arc<[DataFile]>> {
        self.by_path.get(path).cloned()
    }

    fn insert(&mut self, path: String, files: Arc<[DataFile]>, max_entries: usize) {
        if files.len() > max_entries || self.by_path.contains_key(&path) {
            return;
        }
        self.entries += files.len();
        self.order.push_back(path.clone());
        self.by_path.insert(path, files);
        while self.entries > max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(dropped) = self.by_path.remove(&oldest) {
                self.entries -= dropped.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: usize) -> Arc<[DataFile]> {
        let file = DataFile::builder()
            .with_content(iceberg_rust::spec::manifest::Content::Data)
            .with_file_path("s3://b/t/data/f.parquet".to_string())
            .with_file_format(iceberg_rust::spec::manifest::FileFormat::Parquet)
            .with_partition(
                std::iter::empty::<(String, Option<iceberg_rust::spec::values::Value>)>().collect(),
            )
            .with_record_count(1)
            .with_file_size_in_bytes(1)
            .with_column_sizes(None)
            .with_value_counts(None)
            .with_null_value_counts(None)
            .with_nan_value_counts(None)
            .with_lower_bounds(None)
            .with_upper_bounds(None)
            .build()
            .unwrap();
        vec![file; files].into()
    }

    #[test]
    fn the_cache_keeps_to_its_bound_by_dropping_the_first_cached() {
        let mut cache = Cache::default();
        cache.insert("a".into(), manifest(3), 6);
        cache.insert("b".into(), manifest(2), 6);
        cache.insert("a".into(), manifest(5), 6);
        assert_eq!(
            cache.get("a").unwrap().len(),
            3,
            "a path's files never change"
        );
        assert_eq!(cache.entries, 5);
        cache.insert("c".into(), manifest(4), 6);
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        assert_eq!((cache.entries, cache.by_path.len()), (6, 2));
        cache.insert("e".into(), manifest(1), 6);
        assert!(cache.get("b").is_none() && cache.get("e").is_some());
        assert_eq!((cache.entries, cache.by_path.len()), (5, 2));
        cache.insert("d".into(), manifest(7), 6);
        assert!(
            cache.get("d").is_none(),
            "a manifest larger than the bound is not kept"
        );
        assert_eq!(cache.get("c").unwrap().len(), 4);
    }
}
