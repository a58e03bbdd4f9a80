//! The Iceberg warehouse: by default a file catalog under the lake's `warehouse/`, readable by
//! any engine from the table metadata (`metadata/vN.metadata.json`, `version-hint.text`); or,
//! configured, an Iceberg REST catalog ([`crate::rest`]). The catalog is chosen here, once;
//! nothing else in the stages knows which it is.

use std::sync::Arc;

use iceberg_file_catalog::FileCatalog;
use iceberg_rust::{
    catalog::{Catalog, identifier::Identifier, tabular::Tabular},
    error::Error as IcebergError,
    object_store::ObjectStoreBuilder,
    table::Table,
};
use lakehouse_core::{
    Lake, config::CatalogSettings, layout, lease::LeaseConfig, store::LakeLocation,
};
use object_store::local::LocalFileSystem;
use tracing::debug;

use crate::{Result, TablesError, rest::RestCatalog, schemas::TableDef};

#[derive(Debug, Clone)]
pub struct Warehouse {
    catalog: Arc<dyn Catalog>,
    location: String,
    /// The lake the warehouse is in: its ledger records every run's table commits.
    lake: Lake,
    /// Whether the warehouse is a local directory (its commits are made durable by us).
    local: bool,
}

impl Warehouse {
    /// The warehouse of the lake's catalog ([`Lake::catalog`]).
    pub async fn open(lake: &Lake) -> Result<Self> {
        let CatalogSettings::Rest(settings) = lake.catalog() else {
            return Self::open_file_catalog(lake).await;
        };
        let catalog = RestCatalog::connect(settings).await?;
        let location = catalog
            .warehouse()
            .unwrap_or(&settings.warehouse)
            .to_owned();
        Ok(Warehouse {
            catalog: Arc::new(catalog),
            location,
            lake: lake.clone(),
            local: false,
        })
    }

    async fn open_file_catalog(lake: &Lake) -> Result<Self> {
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
            lake: lake.clone(),
        })
    }

    /// Where the tables are: the file catalog's directory, or the REST catalog's warehouse.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Which catalog the tables are in, and where.
    pub fn describe(&self) -> String {
        match self.lake.catalog() {
            CatalogSettings::File => format!("file catalog at {}", self.location),
            CatalogSettings::Rest(rest) => {
                format!("REST catalog {} (warehouse {})", rest.uri, rest.warehouse)
            }
        }
    }

    pub(crate) fn lake(&self) -> &Lake {
        &self.lake
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
            Ok(Tabular::Table(table)) => {
                self.require_in_lake(&table, name)?;
                Ok(Some(table))
            }
            Ok(_) => Err(TablesError::NoSuchTable(format!("{name} (not a table)"))),
            Err(IcebergError::CatalogNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A file-catalog table must lie where this lake keeps it. Iceberg metadata holds absolute
    /// locations, so a copy of a lake at another path still names the original's directories:
    /// a run on the copy would write its files there, and maintenance of the copy would delete
    /// the original's newer files as unreferenced. A REST catalog places its tables itself.
    fn require_in_lake(&self, table: &Table, name: &str) -> Result<()> {
        if !matches!(self.lake.catalog(), CatalogSettings::File) {
            return Ok(());
        }
        let expected = self.table_location(name);
        let found = &table.metadata().location;
        let same_directory = || {
            let resolve = |p: &str| std::fs::canonicalize(p).ok();
            self.local && resolve(found).is_some_and(|dir| Some(dir) == resolve(&expected))
        };
        if found.trim_end_matches('/') == expected.trim_end_matches('/') || same_directory() {
            return Ok(());
        }
        Err(TablesError::Moved {
            table: format!("{}.{name}", layout::NAMESPACE),
            found: found.clone(),
            expected,
        })
    }

    pub async fn require(&self, name: &str) -> Result<Table> {
        self.load(name)
            .await?
            .ok_or_else(|| TablesError::NoSuchTable(format!("{}.{name}", layout::NAMESPACE)))
    }

    /// The table, created if it does not exist, and with the columns `def` has added since it
    /// was created ([`Warehouse::evolve`]).
    pub async fn load_or_create(&self, def: &TableDef) -> Result<Table> {
        if let Some(table) = self.load(def.name).await? {
            return self.evolve(table, def).await;
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
    /// Adds to the table's schema the columns of `def` it lacks, as optional columns with new
    /// field ids after its last (an Iceberg schema evolution: older data files read them as
    /// null, and every snapshot and its history stay). A table's columns may only grow at the
    /// end; a column of the table that `def` does not have is kept. Two writers evolving at once
    /// are a compare-and-swap on the current schema id: the loser reloads and finds it done.
    async fn evolve(&self, table: Table, def: &TableDef) -> Result<Table> {
        use iceberg_rust::{
            catalog::commit::{TableRequirement, TableUpdate},
            spec::{schema::Schema, types::StructField},
        };
        let current = crate::live::table_schema(table.metadata())?;
        let missing: Vec<_> = def
            .columns
            .iter()
            .filter(|(name, _, _)| current.fields().get_name(name).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(table);
        }
        let metadata = table.metadata();
        let mut builder = Schema::builder();
        for field in current.fields().iter() {
            builder.with_struct_field(field.clone());
        }
        let mut id = metadata.last_column_id;
        for (name, col, _) in &missing {
            id += 1;
            builder.with_struct_field(StructField {
                id,
                name: (*name).to_owned(),
                required: false,
                field_type: iceberg_rust::spec::types::Type::Primitive(col.iceberg()),
                doc: None,
            });
        }
        let schema_id = metadata.schemas.keys().max().map_or(0, |max| max + 1);
        builder.with_schema_id(schema_id);
        let schema = builder.build()?;
        let added: Vec<&str> = missing.iter().map(|(name, _, _)| *name).collect();
        tracing::info!(
            table = def.name,
            ?added,
            schema_id,
            "evolving the table's schema"
        );
        let mut requirements = vec![TableRequirement::AssertCurrentSchemaId {
            current_schema_id: *current.schema_id(),
        }];
        let mut updates = vec![
            TableUpdate::AddSchema {
                schema,
                last_column_id: Some(id),
            },
            TableUpdate::SetCurrentSchema { schema_id: -1 },
        ];
        // iceberg-rust writes a commit's manifests under its current *snapshot's* schema, and
        // its reader drops, without a word, the entries it cannot read back with a manifest's
        // schema: a file whose statistics name the new columns, appended under the old schema,
        // would vanish from every later read. So the evolution also makes a snapshot of the same
        // files (the same manifest list) that records the new schema.
        if let Some(snapshot) = metadata.current_snapshot(None)? {
            let parent = *snapshot.snapshot_id();
            requirements.push(TableRequirement::AssertRefSnapshotId {
                r#ref: "main".into(),
                snapshot_id: parent,
            });
            let same_files = schema_snapshot(snapshot, schema_id, metadata.last_sequence_number)?;
            let snapshot_id = *same_files.snapshot_id();
            updates.push(TableUpdate::AddSnapshot {
                snapshot: same_files,
            });
            updates.push(TableUpdate::SetSnapshotRef {
                ref_name: "main".into(),
                snapshot_reference: iceberg_rust::spec::snapshot::SnapshotReference {
                    snapshot_id,
                    retention: iceberg_rust::spec::snapshot::SnapshotRetention::Branch {
                        min_snapshots_to_keep: None,
                        max_snapshot_age_ms: None,
                        max_ref_age_ms: None,
                    },
                },
            });
        }
        match self.commit_metadata(&table, requirements, updates).await {
            Ok(evolved) => Ok(evolved),
            // Another writer evolved it first: theirs has the columns.
            Err(TablesError::Iceberg(e)) if crate::error::transient(&e) => {
                self.require(def.name).await
            }
            Err(e) => Err(e),
        }
    }

    /// Commits metadata updates to `table` (no data): a schema evolution, an expiry. Through
    /// the same adapter as data commits, so a local lake's commit is durable too.
    pub(crate) async fn commit_metadata(
        &self,
        table: &Table,
        requirements: Vec<iceberg_rust::catalog::commit::TableRequirement>,
        updates: Vec<iceberg_rust::catalog::commit::TableUpdate>,
    ) -> Result<Table> {
        let commit = iceberg_rust::catalog::commit::CommitTable {
            identifier: table.identifier().clone(),
            requirements,
            updates,
        };
        let catalog = Arc::new(crate::tagging::TaggingCatalog {
            inner: self.catalog(),
            stamps: Vec::new(),
            schema_id: None,
            parent: None,
            local_warehouse: self.local_location().map(str::to_owned),
        });
        let committed = catalog.update_table(commit).await?;
        self.repair_hint(&committed).await;
        Ok(committed)
    }

    /// Makes the table's `version-hint.text` name its newest metadata version, which readers
    /// that go by the hint (PyIceberg's `StaticTable`, DuckDB, Spark's Hadoop catalog) load.
    ///
    /// iceberg-file-catalog writes the hint after its compare-and-swap with the error ignored,
    /// so a failed write, a crash in between or two committers finishing in the other order
    /// leave it behind. Every commit of this crate calls this after committing and before its
    /// first attempt, so the next run that opens the table repairs it. Failures are retried a
    /// few times, then left for the next commit (the table itself is sound either way).
    pub async fn repair_hint(&self, table: &Table) {
        if !matches!(self.lake.catalog(), CatalogSettings::File) {
            // A REST catalog keeps its own pointer to the current metadata.
            return;
        }
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

/// A snapshot of `current`'s files that records `schema_id`: its manifest list, a new id, the
/// next sequence number, `current` as its parent, and a `replace` summary (no data changed).
fn schema_snapshot(
    current: &iceberg_rust::spec::snapshot::Snapshot,
    schema_id: i32,
    last_sequence_number: i64,
) -> Result<iceberg_rust::spec::snapshot::Snapshot> {
    // Snapshot's fields are private; its serde form is the Iceberg JSON.
    let mut json = serde_json::to_value(current).map_err(iceberg_rust::error::Error::from)?;
    let id = uuid::Uuid::new_v4().as_u64_pair().0 as i64 & i64::MAX;
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(fields) = json.as_object_mut() {
        fields.insert("parent-snapshot-id".into(), (*current.snapshot_id()).into());
        fields.insert("snapshot-id".into(), id.into());
        fields.insert("sequence-number".into(), (last_sequence_number + 1).into());
        fields.insert("timestamp-ms".into(), now.into());
        fields.insert("schema-id".into(), schema_id.into());
        if let Some(summary) = fields.get_mut("summary").and_then(|s| s.as_object_mut()) {
            summary.insert("operation".into(), "replace".into());
            summary.retain(|k, _| k == "operation" || k.starts_with("total-"));
        }
    }
    Ok(serde_json::from_value(json).map_err(iceberg_rust::error::Error::from)?)
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
