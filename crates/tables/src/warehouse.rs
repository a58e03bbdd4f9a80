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
use lakehouse_core::{Lake, layout, store::LakeLocation};
use object_store::local::LocalFileSystem;
use tracing::debug;

use crate::{Result, TablesError, schemas::TableDef};

#[derive(Debug, Clone)]
pub struct Warehouse {
    catalog: Arc<dyn Catalog>,
    location: String,
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
            location,
        })
    }

    pub fn location(&self) -> &str {
        &self.location
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
    /// A whole table as a frame, or `None` if it was never created.
    pub async fn read_table(&self, def: &TableDef) -> Result<Option<polars::prelude::LazyFrame>> {
        let Some(table) = self.load(def.name).await? else {
            return Ok(None);
        };
        let files = crate::commit::live_files(&table).await?;
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
}

impl StageDeps {
    pub async fn new(lake: Lake) -> Result<Self> {
        let warehouse = Warehouse::open(&lake).await?;
        Ok(StageDeps {
            lake,
            warehouse,
            retry: Default::default(),
        })
    }
}
