//! Files published on a local disk only once their bytes are on it.
//!
//! A file becomes visible under its name by a rename (overwrite) or a hard link
//! (create-if-absent). object_store's local backend does both without syncing, so after a power
//! loss a name can survive whose bytes did not: a manifest naming parts that are empty, a
//! metadata version pointing at a manifest list of zeros. Here the bytes are written to a
//! staging file next to the name and synced, then published, then the directory is synced so
//! the name itself survives. A killed process is safe either way (the page cache outlives it);
//! this is for the machine that loses power.

use std::{
    fmt,
    fs::{File, OpenOptions},
    io::{self, Write},
    ops::Range,
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result as StoreResult,
    local::LocalFileSystem, path::Path,
};

/// Writes `bytes` to `path` durably: staged, synced, published (a hard link when
/// `create_only`, failing with `AlreadyExists` if the name is taken; else a rename), and the
/// directory synced. The staging name, `{path}#{n}`, is one object_store's local listing skips,
/// so a crash in between leaves no object behind.
pub fn write(path: &FsPath, bytes: &[&[u8]], create_only: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no directory", path.display())))?;
    let (mut file, staging) = staged(path, dir)?;
    let published = (|| {
        for chunk in bytes {
            file.write_all(chunk)?;
        }
        file.sync_all()?;
        drop(file);
        if create_only {
            std::fs::hard_link(&staging, path)
        } else {
            std::fs::rename(&staging, path)
        }
    })();
    // After a rename the staging name is gone already; after a link (or a failure) it is
    // still there.
    let _ = std::fs::remove_file(&staging);
    published?;
    sync_dir(dir)
}

/// Deletes the staging files (names with `#`: ours and object_store's) under `root` last
/// modified before `before`, returning how many: a process killed between staging and
/// publishing leaves one, which no listing shows and nothing else removes. For maintenance, with
/// a margin that spares the staging files of writers at work.
pub fn remove_stale_staging(root: &FsPath, before: std::time::SystemTime) -> io::Result<usize> {
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file()
                && entry.file_name().to_string_lossy().contains('#')
                && entry.metadata()?.modified()? < before
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

/// Syncs a directory, so the names created or removed in it survive a power loss.
pub fn sync_dir(dir: &FsPath) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Syncs a file's bytes to disk.
pub fn sync_file(path: &FsPath) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn staged(path: &FsPath, dir: &FsPath) -> io::Result<(File, PathBuf)> {
    for attempt in 1u32.. {
        let mut name = path.as_os_str().to_owned();
        name.push(format!("#durable{attempt}"));
        let staging = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 1 => {
                std::fs::create_dir_all(dir)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free staging name"))
}

/// A local directory as an object store whose puts are [`write`]: object_store's
/// `LocalFileSystem` for everything else.
#[derive(Debug)]
pub struct DurableLocal {
    inner: Arc<LocalFileSystem>,
}

impl DurableLocal {
    pub fn new(inner: Arc<LocalFileSystem>) -> Self {
        DurableLocal { inner }
    }
}

impl fmt::Display for DurableLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLocal({})", self.inner)
    }
}

fn store_error(path: &Path, source: io::Error) -> object_store::Error {
    match source.kind() {
        io::ErrorKind::AlreadyExists => object_store::Error::AlreadyExists {
            path: path.to_string(),
            source: Box::new(source),
        },
        _ => object_store::Error::Generic {
            store: "DurableLocal",
            source: Box::new(source),
        },
    }
}

#[async_trait]
impl ObjectStore for DurableLocal {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> StoreResult<PutResult> {
        let create_only = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            // The local backend has no versions to compare either.
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        let path = self.inner.path_to_filesystem(location)?;
        let location = location.clone();
        tokio::task::spawn_blocking(move || {
            let chunks: Vec<&[u8]> = payload.iter().map(|b| b.as_ref()).collect();
            write(&path, &chunks, create_only).map_err(|e| store_error(&location, e))
        })
        .await
        .map_err(|e| object_store::Error::Generic {
            store: "DurableLocal",
            source: Box::new(e),
        })??;
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> StoreResult<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> StoreResult<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> StoreResult<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, StoreResult<Path>>,
    ) -> BoxStream<'static, StoreResult<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> StoreResult<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> StoreResult<()> {
        // A copy links (or copies) a file this store already synced; the new name is synced.
        self.inner.copy_opts(from, to, options).await?;
        let path = self.inner.path_to_filesystem(to)?;
        if let Some(dir) = path.parent() {
            sync_dir(dir).map_err(|e| store_error(to, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;

    use super::*;

    #[test]
    fn stale_staging_files_are_removed_and_fresh_ones_and_objects_kept() {
        let dir = tempfile::tempdir().unwrap();
        let parts = dir.path().join("raw/full/2026-01-01/run");
        std::fs::create_dir_all(&parts).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3_600);
        let plant = |name: &str, modified| {
            let path = parts.join(name);
            std::fs::write(&path, b"x").unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        };
        plant("part-00000.json#durable1", hour_ago);
        plant("part-00001.json#3", hour_ago);
        plant("part-00002.json#durable1", std::time::SystemTime::now());
        plant("part-00000.json", hour_ago);
        let margin = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        assert_eq!(remove_stale_staging(dir.path(), margin).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(&parts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["part-00000.json", "part-00002.json#durable1"]);
    }

    #[tokio::test]
    async fn puts_publish_whole_files_and_leave_no_staging_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableLocal::new(Arc::new(
            LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
        ));
        let key = Path::from("state/ledger/open/a.json");
        store
            .put(&key, PutPayload::from_static(b"one"))
            .await
            .unwrap();
        store
            .put(&key, PutPayload::from_static(b"two"))
            .await
            .unwrap();
        let read = store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(read, "two");

        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let taken = store
            .put_opts(&key, PutPayload::from_static(b"three"), create.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(taken, object_store::Error::AlreadyExists { .. }),
            "{taken:?}"
        );
        let fresh = Path::from("state/watermark/1.json");
        store
            .put_opts(&fresh, PutPayload::from_static(b"w"), create)
            .await
            .unwrap();
        // Only the published names are objects: no staging file is left or listed.
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("state/ledger/open"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json"]);
        use futures::TryStreamExt;
        let listed: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 2);
    }
}
