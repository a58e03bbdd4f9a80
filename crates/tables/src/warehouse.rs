//! The Iceberg warehouse on the lake: a file catalog under `warehouse/`, readable by any engine
//! from the table metadata (`metadata/vN.metadata.json`, `version-hint.text`).

use std::sync::Arc;

use iceberg_file_catalog::FileCatalog;
use iceberg_rust::{
    catalog::{Catalog, identifier::Identifier, tabular::Tabular},
    error::Error as IcebergError,
    object_store::ObjectStoreBuilder,
    table::Table,
};
use lakehouse_core::{Lake, layout, lease::LeaseConfig, store::LakeLocation};
use object_store::local::LocalFileSystem;
use tracing::debug;

use crate::{Result, TablesError, schemas::TableDef};

#[derive(Debug, Clone)]
pub struct Warehouse {
    catalog: Arc<dyn Catalog>,
    location: String,
    /// Whether the warehouse is a local directory (its commits are made durable by us).
    local: bool,
}

impl Warehouse {
    pub async fn open(lake: &Lake) -> Result<Self> {
        let location = lake.location().uri(layout::WAREHOUSE);
        let builder = match lake.location() {
            // Table paths are absolute, so the store is rooted at `/`.
            LakeLocation::Local(_) => {
                ObjectStoreBuilder::Filesystem(Arc::new(LocalFileSystem::new()))
            }
            s3 @ LakeLocation::S3 { .. } => ObjectStoreBuilder::S3(Box::new(
                s3.s3_builder()
                    .ok_or_else(|| lakehouse_core::Error::Config("not an S3 lake".into()))?,
            )),
        };
        let catalog = FileCatalog::new(&location, builder)
            .await
            .map_err(|e| lakehouse_core::Error::Config(format!("warehouse {location}: {e}")))?;
        Ok(Warehouse {
            catalog: Arc::new(catalog),
            local: matches!(lake.location(), LakeLocation::Local(_)),
            location,
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The warehouse directory, if it is on a local disk.
    pub(crate) fn local_location(&self) -> Option<&str> {
        self.local.then_some(self.location.as_str())
    }

    pub(crate) fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    pub fn identifier(name: &str) -> Identifier {
        Identifier::new(&[layout::NAMESPACE.to_owned()], name)
    }

    /// The table's directory, e.g. for PyIceberg's `StaticTable.from_metadata`.
    pub fn table_location(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.location, layout::NAMESPACE)
    }

    /// The table as of its newest metadata, or `None` if it was never created.
    pub async fn load(&self, name: &str) -> Result<Option<Table>> {
        match self
            .catalog
            .clone()
            .load_tabular(&Self::identifier(name))
            .await
        {
            Ok(Tabular::Table(table)) => Ok(Some(table)),
            Ok(_) => Err(TablesError::NoSuchTable(format!("{name} (not a table)"))),
            Err(IcebergError::CatalogNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn require(&self, name: &str) -> Result<Table> {
        self.load(name)
            .await?
            .ok_or_else(|| TablesError::NoSuchTable(format!("{}.{name}", layout::NAMESPACE)))
    }

    pub async fn load_or_create(&self, def: &TableDef) -> Result<Table> {
        if let Some(table) = self.load(def.name).await? {
            return Ok(table);
        }
        debug!(table = def.name, "creating table");
        let created = Table::builder()
            .with_name(def.name)
            .with_schema(def.schema()?)
            .with_partition_spec(def.partition_spec()?)
            .build(&[layout::NAMESPACE.to_owned()], self.catalog.clone())
            .await;
        match created {
            Ok(table) => Ok(table),
            // Another writer created it first: use theirs.
            Err(e) => self.load(def.name).await?.ok_or(TablesError::Iceberg(e)),
        }
    }
}

impl Warehouse {
    /// Makes the table's `version-hint.text` name its newest metadata version, which readers
    /// that go by the hint (PyIceberg's `StaticTable`, DuckDB, Spark's Hadoop catalog) load.
    ///
    /// iceberg-file-catalog writes the hint after its compare-and-swap with the error ignored,
    /// so a failed write, a crash in between or two committers finishing in the other order
    /// leave it behind. Every commit of this crate calls this after committing and before its
    /// first attempt, so the next run that opens the table repairs it. Failures are retried a
    /// few times, then left for the next commit (the table itself is sound either way).
    pub async fn repair_hint(&self, table: &Table) {
        for attempt in 0..3u32 {
            match self.write_hint_if_behind(table).await {
                Ok(()) => return,
                Err(e) => {
                    debug!(table = %table.identifier(), attempt, error = %e, "version hint not repaired");
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        tracing::warn!(table = %table.identifier(), "version hint left behind; the next commit repairs it");
    }

    async fn write_hint_if_behind(&self, table: &Table) -> Result<()> {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let store = table.object_store();
        let dir = format!(
            "{}/metadata",
            iceberg_rust::spec::util::strip_prefix(&table.metadata().location)
        );
        let newest = store
            .list(Some(&dir.as_str().into()))
            .try_filter_map(|meta| {
                let version = meta
                    .location
                    .filename()
                    .and_then(|name| name.strip_prefix('v')?.strip_suffix(".metadata.json"))
                    .and_then(|v| v.parse::<u64>().ok());
                futures::future::ready(Ok(version))
            })
            .try_fold(None, |max: Option<u64>, v| {
                futures::future::ready(Ok(Some(max.map_or(v, |m| m.max(v)))))
            })
            .await?;
        let Some(newest) = newest else {
            return Ok(());
        };
        let hint_path: object_store::path::Path = format!("{dir}/version-hint.text").into();
        let hinted = match store.get(&hint_path).await {
            Ok(found) => String::from_utf8_lossy(&found.bytes().await?)
                .trim()
                .parse::<u64>()
                .ok(),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if hinted != Some(newest) {
            debug!(table = %table.identifier(), ?hinted, newest, "repairing version hint");
            store
                .put(&hint_path, newest.to_string().into_bytes().into())
                .await?;
        }
        Ok(())
    }

    /// A whole table as a frame, or `None` if it was never created.
    pub async fn read_table(&self, def: &TableDef) -> Result<Option<polars::prelude::LazyFrame>> {
        let Some(table) = self.load(def.name).await? else {
            return Ok(None);
        };
        let files = crate::live::live_files(&table, def.key).await?;
        let all: Vec<_> = files.iter().collect();
        Ok(Some(crate::bridge::read_live(&table, def, &all).await?))
    }
}

/// What a stage that writes tables needs, built once (at cold start in Lambda): the transformer
/// and the gold builder share it.
#[derive(Debug, Clone)]
pub struct StageDeps {
    pub lake: Lake,
    pub warehouse: Warehouse,
    pub retry: crate::commit::RetryPolicy,
    pub lease: LeaseConfig,
}

impl StageDeps {
    pub async fn new(lake: Lake, lease: LeaseConfig) -> Result<Self> {
        let warehouse = Warehouse::open(&lake).await?;
        Ok(StageDeps {
            lake,
            warehouse,
            retry: Default::default(),
            lease,
        })
    }
}
