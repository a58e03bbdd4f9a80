//! Commits to the tables of a local-directory lake, durable against a power loss.
//!
//! iceberg-file-catalog publishes a metadata version by hard-linking a file it has just
//! written, unsynced, over files (manifests, the manifest list) that are unsynced too. Its
//! compare-and-swap is sound; its durability is the page cache's. For a lake on a local disk the
//! commit is made here instead, with the same protocol and file names: the newest
//! `vN.metadata.json` is read, the commit's requirements are checked against it, its updates
//! applied, the manifests and manifest list of the new snapshot synced, and `v{N+1}` published
//! create-if-absent once its own bytes are on disk ([`lakehouse_core::durable`]). Data files
//! are synced as they are written ([`crate::datafile`]). Object stores (S3) publish atomically
//! and durably by themselves and keep the catalog's own commit.

use std::{path::PathBuf, sync::Arc};

use iceberg_rust::{
    catalog::{
        Catalog,
        commit::{CommitTable, apply_table_updates, check_table_requirements},
    },
    error::Error,
    spec::{table_metadata::TableMetadata, util::strip_prefix},
    table::Table,
};
use lakehouse_core::durable;
use object_store::local::LocalFileSystem;

/// The newest metadata version in `dir`, and the metadata it holds.
fn newest(dir: &std::path::Path) -> Result<(u64, TableMetadata), Error> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let version = name
            .to_str()
            .and_then(|n| n.strip_prefix('v')?.strip_suffix(".metadata.json"))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(v) = version {
            newest = newest.max(Some(v));
        }
    }
    let version =
        newest.ok_or_else(|| Error::NotFound(format!("metadata in {}", dir.display())))?;
    let bytes = std::fs::read(dir.join(format!("v{version}.metadata.json")))?;
    Ok((version, serde_json::from_slice(&bytes)?))
}

/// Commits `commit` to the table under `warehouse` (a local directory), returning the table
/// as committed; `catalog` is the catalog the returned table belongs to.
pub(crate) async fn commit(
    warehouse: &str,
    catalog: Arc<dyn Catalog>,
    commit: CommitTable,
) -> Result<Table, Error> {
    let CommitTable {
        identifier,
        requirements,
        updates,
    } = commit;
    let namespace = identifier.namespace().first().cloned().unwrap_or_default();
    let dir = PathBuf::from(format!(
        "{warehouse}/{namespace}/{}/metadata",
        identifier.name()
    ));
    let (version, mut metadata) = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || newest(&dir))
            .await
            .map_err(|e| Error::External(Box::new(e)))??
    };
    if !check_table_requirements(&requirements, &metadata) {
        // The wording iceberg-file-catalog uses for a lost race (`error::transient`).
        return Err(Error::InvalidFormat("Table requirements not valid".into()));
    }
    apply_table_updates(&mut metadata, updates)?;
    let store = Arc::new(LocalFileSystem::new());
    let table = Table::new(identifier, catalog, store, metadata).await?;
    // The new snapshot's manifest list and manifests (those of earlier snapshots were synced
    // by their commits; syncing a clean file costs a system call).
    let mut synced: Vec<String> = table
        .manifests(None, None)
        .await?
        .into_iter()
        .map(|m| m.manifest_path)
        .collect();
    if let Some(snapshot) = table.metadata().current_snapshot(None)? {
        synced.push(snapshot.manifest_list().to_string());
    }
    let json = serde_json::to_vec(table.metadata())?;
    tokio::task::spawn_blocking(move || {
        for path in &synced {
            durable::sync_file(std::path::Path::new(strip_prefix(path).as_str()))?;
        }
        let next = dir.join(format!("v{}.metadata.json", version + 1));
        durable::write(&next, &[&json], true)
    })
    .await
    .map_err(|e| Error::External(Box::new(e)))?
    .map_err(|e| match e.kind() {
        // Another writer published this version first: a lost compare-and-swap, as the
        // catalog's copy-if-not-exists reports it.
        std::io::ErrorKind::AlreadyExists => {
            Error::ObjectStore(object_store::Error::AlreadyExists {
                path: format!("v{}.metadata.json", version + 1),
                source: Box::new(e),
            })
        }
        _ => Error::IO(e),
    })?;
    Ok(table)
}
