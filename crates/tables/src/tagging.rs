//! A catalog that stamps the run id (and the partitions the run wrote) into the summary of
//! every snapshot it commits, with the table's current schema and the snapshot's parent.
//!
//! iceberg-rust 0.10 offers no public way to add fields to a snapshot summary on append or
//! overwrite, and the run id there is what makes a re-run recognisable. So the commit goes
//! through this adapter, which rewrites the `AddSnapshot` update on its way to the real catalog
//! and delegates everything else unchanged.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use iceberg_rust::{
    catalog::{
        Catalog,
        commit::{CommitTable, CommitView, TableUpdate},
        create::{CreateMaterializedView, CreateTable, CreateView},
        identifier::Identifier,
        namespace::Namespace,
        tabular::Tabular,
    },
    error::Error,
    materialized_view::MaterializedView,
    spec::snapshot::Snapshot,
    table::Table,
    view::View,
};

#[derive(Debug)]
pub(crate) struct TaggingCatalog {
    pub inner: Arc<dyn Catalog>,
    /// Summary fields added to the snapshot.
    pub stamps: Vec<(&'static str, String)>,
    /// The table's current schema, which the snapshot records as its own: iceberg-rust records
    /// its current snapshot's, the old one after a schema evolution (`live::table_schema`).
    pub schema_id: Option<i32>,
    /// The table's current snapshot, the new one's parent: iceberg-rust's `replace` leaves the
    /// parent out, which breaks the chain of ancestors every reader walks back through runs.
    pub parent: Option<i64>,
    /// The warehouse directory of a local lake, whose commits are made durable here
    /// ([`crate::local_commit`]); `None` on an object store.
    pub local_warehouse: Option<String>,
}

fn tag(snapshot: Snapshot, catalog: &TaggingCatalog) -> Result<Snapshot, Error> {
    // Snapshot's fields are private; its serde form is the stable Iceberg JSON, where the
    // summary is a flat string map.
    let mut json = serde_json::to_value(&snapshot)?;
    if let Some(fields) = json.as_object_mut() {
        if let Some(id) = catalog.schema_id {
            fields.insert("schema-id".into(), id.into());
        }
        if let Some(parent) = catalog.parent {
            fields.entry("parent-snapshot-id").or_insert(parent.into());
        }
    }
    if let Some(summary) = json.get_mut("summary").and_then(|s| s.as_object_mut()) {
        for (key, value) in &catalog.stamps {
            summary.insert((*key).into(), value.as_str().into());
        }
    }
    Ok(serde_json::from_value(json)?)
}

#[async_trait]
impl Catalog for TaggingCatalog {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn create_namespace(
        &self,
        namespace: &Namespace,
        properties: Option<HashMap<String, String>>,
    ) -> Result<HashMap<String, String>, Error> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &Namespace) -> Result<(), Error> {
        self.inner.drop_namespace(namespace).await
    }
    async fn load_namespace(
        &self,
        namespace: &Namespace,
    ) -> Result<HashMap<String, String>, Error> {
        self.inner.load_namespace(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &Namespace,
        updates: Option<HashMap<String, String>>,
        removals: Option<Vec<String>>,
    ) -> Result<(), Error> {
        self.inner
            .update_namespace(namespace, updates, removals)
            .await
    }
    async fn namespace_exists(&self, namespace: &Namespace) -> Result<bool, Error> {
        self.inner.namespace_exists(namespace).await
    }
    async fn list_tabulars(&self, namespace: &Namespace) -> Result<Vec<Identifier>, Error> {
        self.inner.list_tabulars(namespace).await
    }
    async fn list_namespaces(&self, parent: Option<&str>) -> Result<Vec<Namespace>, Error> {
        self.inner.list_namespaces(parent).await
    }
    async fn tabular_exists(&self, identifier: &Identifier) -> Result<bool, Error> {
        self.inner.tabular_exists(identifier).await
    }
    async fn drop_table(&self, identifier: &Identifier) -> Result<(), Error> {
        self.inner.drop_table(identifier).await
    }
    async fn drop_view(&self, identifier: &Identifier) -> Result<(), Error> {
        self.inner.drop_view(identifier).await
    }
    async fn drop_materialized_view(&self, identifier: &Identifier) -> Result<(), Error> {
        self.inner.drop_materialized_view(identifier).await
    }
    async fn load_tabular(self: Arc<Self>, identifier: &Identifier) -> Result<Tabular, Error> {
        self.inner.clone().load_tabular(identifier).await
    }
    async fn create_table(
        self: Arc<Self>,
        identifier: Identifier,
        create_table: CreateTable,
    ) -> Result<Table, Error> {
        self.inner
            .clone()
            .create_table(identifier, create_table)
            .await
    }
    async fn create_view(
        self: Arc<Self>,
        identifier: Identifier,
        create_view: CreateView<Option<()>>,
    ) -> Result<View, Error> {
        self.inner
            .clone()
            .create_view(identifier, create_view)
            .await
    }
    async fn create_materialized_view(
        self: Arc<Self>,
        identifier: Identifier,
        create_view: CreateMaterializedView,
    ) -> Result<MaterializedView, Error> {
        self.inner
            .clone()
            .create_materialized_view(identifier, create_view)
            .await
    }
    async fn update_table(self: Arc<Self>, mut commit: CommitTable) -> Result<Table, Error> {
        commit.updates = commit
            .updates
            .into_iter()
            .map(|update| match update {
                TableUpdate::AddSnapshot { snapshot } => Ok(TableUpdate::AddSnapshot {
                    snapshot: tag(snapshot, &self)?,
                }),
                other => Ok(other),
            })
            .collect::<Result<_, Error>>()?;
        match &self.local_warehouse {
            Some(warehouse) => {
                let catalog: Arc<dyn Catalog> = self.clone();
                crate::local_commit::commit(warehouse, catalog, commit).await
            }
            None => self.inner.clone().update_table(commit).await,
        }
    }
    async fn update_view(self: Arc<Self>, commit: CommitView<Option<()>>) -> Result<View, Error> {
        self.inner.clone().update_view(commit).await
    }
    async fn update_materialized_view(
        self: Arc<Self>,
        commit: CommitView<Identifier>,
    ) -> Result<MaterializedView, Error> {
        self.inner.clone().update_materialized_view(commit).await
    }
    async fn register_table(
        self: Arc<Self>,
        identifier: Identifier,
        metadata_location: &str,
    ) -> Result<Table, Error> {
        self.inner
            .clone()
            .register_table(identifier, metadata_location)
            .await
    }
}
