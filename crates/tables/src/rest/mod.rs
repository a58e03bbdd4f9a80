//! The tables in an Iceberg REST catalog (S3 Tables, Glue's Iceberg endpoint, SeaweedFS,
//! Polaris, ...), with the file catalog's guarantees.
//!
//! Our own client of the protocol's few endpoints the pipeline uses, rather than the
//! `iceberg-rest-catalog` crate: each of that crate's gaps is in how it sends a request or reads
//! an answer (every status but 404 becomes one string, a failed load reads as "not found", a
//! table's first commit asserts nothing, SigV4 keys are fixed when it is built, a prefix's "/"
//! is encoded), so an adapter around it would re-implement its loads and commits anyway.
//!
//! - A 409 is a lost race, retried by the commit loop on a reloaded table; a 5xx or a timeout
//!   leaves the outcome unknown, and the loop's next attempt looks for the run's snapshot
//!   before it commits again ([`client::Failure`]).
//! - A commit that moves `main` without asserting where it is (iceberg-rust's first commit to
//!   an empty table) asserts that `main` does not exist yet, so of two concurrent first
//!   commits one fails and retries instead of both succeeding with one's rows lost.
//! - The namespace is created with the first table; "already exists" is success.
//! - Data files and manifests are written by us to the table's location, with the lake's S3
//!   settings; the server writes the metadata files.

mod client;

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
    error::Error as IcebergError,
    materialized_view::MaterializedView,
    object_store::{Bucket, ObjectStoreBuilder},
    spec::table_metadata::TableMetadata,
    table::Table,
    view::View,
};
use lakehouse_core::config::RestCatalogSettings;
use object_store::{CredentialProvider, aws::AwsCredential};
use reqwest::Method;
use serde_json::{Value, json};

use client::RestClient;
pub use client::{Failure, RestError};

#[derive(Debug)]
pub struct RestCatalog {
    client: RestClient,
    /// Builds the store of a table's bucket (its location's), with the lake's S3 settings.
    store: ObjectStoreBuilder,
    /// The stores built, by bucket: every load of a table would otherwise build a client (and
    /// a connection pool) of its own.
    stores: std::sync::Mutex<HashMap<String, Arc<dyn object_store::ObjectStore>>>,
    /// The warehouse as the server names it (e.g. `s3://table-bucket`), if it says.
    warehouse: Option<String>,
}

impl RestCatalog {
    /// The catalog, its requests signed (if at all) with the credentials the table bucket's S3
    /// client finds: the lake's own keys if set, else the AWS chain, refreshed as they rotate.
    pub async fn connect(settings: &RestCatalogSettings) -> Result<Self, IcebergError> {
        let credentials = settings
            .s3
            .s3_builder("credentials")
            .build()?
            .credentials()
            .clone();
        Self::connect_with(settings, credentials).await
    }

    /// The catalog, its requests signed with keys asked of `credentials` on every call.
    pub async fn connect_with(
        settings: &RestCatalogSettings,
        credentials: Arc<dyn CredentialProvider<Credential = AwsCredential>>,
    ) -> Result<Self, IcebergError> {
        let (client, warehouse) = RestClient::connect(settings, credentials)
            .await
            .map_err(into_iceberg)?;
        Ok(RestCatalog {
            client,
            store: ObjectStoreBuilder::S3(Box::new(settings.s3.s3_builder(""))),
            stores: Default::default(),
            warehouse,
        })
    }

    pub fn warehouse(&self) -> Option<&str> {
        self.warehouse.as_deref()
    }

    fn namespace(namespace: &Namespace) -> Result<&str, IcebergError> {
        match &namespace[..] {
            [one] => Ok(one),
            levels => Err(IcebergError::NotSupported(format!(
                "nested namespace {levels:?} in the REST catalog"
            ))),
        }
    }

    fn table_url(&self, identifier: &Identifier) -> Result<reqwest::Url, IcebergError> {
        let namespace = Self::namespace(identifier.namespace())?;
        self.client
            .url(&["namespaces", namespace, "tables", identifier.name()])
            .map_err(into_iceberg)
    }

    /// A table from a LoadTable answer, committing through this catalog.
    async fn table(
        self: Arc<Self>,
        identifier: Identifier,
        loaded: Value,
    ) -> Result<Table, IcebergError> {
        let metadata: TableMetadata =
            serde_json::from_value(loaded.get("metadata").cloned().ok_or_else(|| {
                IcebergError::InvalidFormat("LoadTable answer without metadata".into())
            })?)?;
        let store = self.store_of(&metadata.location)?;
        Table::new(identifier, self, store, metadata).await
    }

    fn store_of(&self, location: &str) -> Result<Arc<dyn object_store::ObjectStore>, IcebergError> {
        let bucket = Bucket::from_path(location)?;
        let name = bucket.to_string();
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| IcebergError::InvalidFormat("a poisoned store cache".into()))?;
        if let Some(store) = stores.get(&name) {
            return Ok(store.clone());
        }
        let store = self.store.build(bucket)?;
        stores.insert(name, store.clone());
        Ok(store)
    }

    /// A field of the JSON the catalog answers a GET of `segments` with (default if absent).
    async fn get_field<T: serde::de::DeserializeOwned + Default>(
        &self,
        segments: &[&str],
        field: &str,
    ) -> Result<T, IcebergError> {
        let url = self.client.url(segments).map_err(into_iceberg)?;
        let answer: Value = self
            .client
            .call(Method::GET, url, None)
            .await
            .map_err(into_iceberg)?;
        Ok(answer
            .get(field)
            .cloned()
            .map(serde_json::from_value)
            .transpose()?
            .unwrap_or_default())
    }

    async fn create_namespace_if_absent(&self, namespace: &str) -> Result<(), IcebergError> {
        let url = self.client.url(&["namespaces"]).map_err(into_iceberg)?;
        let body = json!({"namespace": [namespace], "properties": {}});
        match self
            .client
            .call::<Value>(Method::POST, url, Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.failure() == Failure::Conflict => Ok(()),
            Err(e) => Err(into_iceberg(e)),
        }
    }
}

/// A failure as iceberg-rust carries it: "not found" as its own variant (what a load of a
/// missing table means to every caller), the rest as our error, which `error::transient` reads.
fn into_iceberg(error: RestError) -> IcebergError {
    match error.failure() {
        Failure::NotFound => IcebergError::CatalogNotFound,
        _ => IcebergError::External(Box::new(error)),
    }
}

/// Whether the commit moves `main` without asserting where it points.
fn moves_main_unguarded(commit: &CommitTable) -> bool {
    use iceberg_rust::catalog::commit::TableRequirement;
    let moves = commit
        .updates
        .iter()
        .any(|u| matches!(u, TableUpdate::SetSnapshotRef { ref_name, .. } if ref_name == "main"));
    let asserted = commit.requirements.iter().any(
        |r| matches!(r, TableRequirement::AssertRefSnapshotId { r#ref, .. } if r#ref == "main"),
    );
    moves && !asserted
}

/// The commit request's body: iceberg-rust's, plus, for a commit that moves `main` unguarded,
/// the requirement that `main` does not exist (iceberg-rust's requirement type cannot say
/// that: its snapshot id is not optional).
fn commit_body(commit: &CommitTable) -> Result<Value, IcebergError> {
    let mut body = serde_json::to_value(commit)?;
    if moves_main_unguarded(commit)
        && let Some(requirements) = body.get_mut("requirements").and_then(Value::as_array_mut)
    {
        requirements
            .push(json!({"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": null}));
    }
    Ok(body)
}

fn unsupported<T>(what: &str) -> Result<T, IcebergError> {
    Err(IcebergError::NotSupported(format!(
        "{what} in the lakehouse's REST catalog client"
    )))
}

#[async_trait]
impl Catalog for RestCatalog {
    fn name(&self) -> &str {
        "rest"
    }
    async fn create_namespace(
        &self,
        namespace: &Namespace,
        _properties: Option<HashMap<String, String>>,
    ) -> Result<HashMap<String, String>, IcebergError> {
        self.create_namespace_if_absent(Self::namespace(namespace)?)
            .await?;
        Ok(HashMap::new())
    }
    async fn drop_namespace(&self, _namespace: &Namespace) -> Result<(), IcebergError> {
        unsupported("dropping a namespace")
    }
    async fn load_namespace(
        &self,
        namespace: &Namespace,
    ) -> Result<HashMap<String, String>, IcebergError> {
        self.get_field(&["namespaces", Self::namespace(namespace)?], "properties")
            .await
    }
    async fn update_namespace(
        &self,
        _namespace: &Namespace,
        _updates: Option<HashMap<String, String>>,
        _removals: Option<Vec<String>>,
    ) -> Result<(), IcebergError> {
        unsupported("updating a namespace")
    }
    async fn namespace_exists(&self, namespace: &Namespace) -> Result<bool, IcebergError> {
        match self.load_namespace(namespace).await {
            Ok(_) => Ok(true),
            Err(IcebergError::CatalogNotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
    async fn list_tabulars(&self, namespace: &Namespace) -> Result<Vec<Identifier>, IcebergError> {
        self.get_field(
            &["namespaces", Self::namespace(namespace)?, "tables"],
            "identifiers",
        )
        .await
    }
    async fn list_namespaces(&self, _parent: Option<&str>) -> Result<Vec<Namespace>, IcebergError> {
        self.get_field(&["namespaces"], "namespaces").await
    }
    async fn tabular_exists(&self, identifier: &Identifier) -> Result<bool, IcebergError> {
        let url = self.table_url(identifier)?;
        match self.client.call::<Value>(Method::GET, url, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.failure() == Failure::NotFound => Ok(false),
            Err(e) => Err(into_iceberg(e)),
        }
    }
    async fn drop_table(&self, identifier: &Identifier) -> Result<(), IcebergError> {
        let url = self.table_url(identifier)?;
        self.client
            .call::<Value>(Method::DELETE, url, None)
            .await
            .map_err(into_iceberg)?;
        Ok(())
    }
    async fn drop_view(&self, _identifier: &Identifier) -> Result<(), IcebergError> {
        unsupported("views")
    }
    async fn drop_materialized_view(&self, _identifier: &Identifier) -> Result<(), IcebergError> {
        unsupported("materialized views")
    }
    /// Only the table endpoint: the pipeline has no views, and a view lookup first (as other
    /// clients do) would turn any answer but 404 from it into a failed load.
    async fn load_tabular(
        self: Arc<Self>,
        identifier: &Identifier,
    ) -> Result<Tabular, IcebergError> {
        let url = self.table_url(identifier)?;
        let loaded: Value = self
            .client
            .call(Method::GET, url, None)
            .await
            .map_err(into_iceberg)?;
        Ok(Tabular::Table(
            self.table(identifier.clone(), loaded).await?,
        ))
    }
    async fn create_table(
        self: Arc<Self>,
        identifier: Identifier,
        mut create_table: CreateTable,
    ) -> Result<Table, IcebergError> {
        let namespace = Self::namespace(identifier.namespace())?.to_owned();
        self.create_namespace_if_absent(&namespace).await?;
        // The server places the table (a table bucket takes files only at its own layout).
        create_table.location = None;
        let url = self
            .client
            .url(&["namespaces", &namespace, "tables"])
            .map_err(into_iceberg)?;
        let body = serde_json::to_value(&create_table)?;
        let created: Value = self
            .client
            .call(Method::POST, url, Some(&body))
            .await
            .map_err(into_iceberg)?;
        self.table(identifier, created).await
    }
    async fn create_view(
        self: Arc<Self>,
        _identifier: Identifier,
        _create_view: CreateView<Option<()>>,
    ) -> Result<View, IcebergError> {
        unsupported("views")
    }
    async fn create_materialized_view(
        self: Arc<Self>,
        _identifier: Identifier,
        _create_view: CreateMaterializedView,
    ) -> Result<MaterializedView, IcebergError> {
        unsupported("materialized views")
    }
    async fn update_table(self: Arc<Self>, commit: CommitTable) -> Result<Table, IcebergError> {
        let url = self.table_url(&commit.identifier)?;
        let body = commit_body(&commit)?;
        let committed: Value = self
            .client
            .call(Method::POST, url, Some(&body))
            .await
            .map_err(into_iceberg)?;
        self.table(commit.identifier, committed).await
    }
    async fn update_view(
        self: Arc<Self>,
        _commit: CommitView<Option<()>>,
    ) -> Result<View, IcebergError> {
        unsupported("views")
    }
    async fn update_materialized_view(
        self: Arc<Self>,
        _commit: CommitView<Identifier>,
    ) -> Result<MaterializedView, IcebergError> {
        unsupported("materialized views")
    }
    /// Not offered: SeaweedFS's `register` loses the table's schema and snapshots; moving a
    /// table in is `lakehouse catalog migrate`'s work.
    async fn register_table(
        self: Arc<Self>,
        _identifier: Identifier,
        _metadata_location: &str,
    ) -> Result<Table, IcebergError> {
        unsupported("registering a metadata file")
    }
}

#[cfg(test)]
mod tests {
    use iceberg_rust::catalog::commit::TableRequirement;

    use super::*;

    fn commit(requirements: Vec<TableRequirement>, moves_main: bool) -> CommitTable {
        let mut updates = vec![TableUpdate::SetProperties {
            updates: HashMap::from([("k".to_owned(), "v".to_owned())]),
        }];
        if moves_main {
            updates.push(TableUpdate::SetSnapshotRef {
                ref_name: "main".into(),
                snapshot_reference: iceberg_rust::spec::snapshot::SnapshotReference {
                    snapshot_id: 7,
                    retention: iceberg_rust::spec::snapshot::SnapshotRetention::Branch {
                        min_snapshots_to_keep: None,
                        max_snapshot_age_ms: None,
                        max_ref_age_ms: None,
                    },
                },
            });
        }
        CommitTable {
            identifier: Identifier::new(&["ns".to_owned()], "t"),
            requirements,
            updates,
        }
    }

    #[test]
    fn a_first_commit_asserts_that_main_does_not_exist() {
        let body = commit_body(&commit(Vec::new(), true)).unwrap();
        assert_eq!(
            body["requirements"],
            json!([{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": null}])
        );
        assert_eq!(
            body["identifier"],
            json!({"namespace": ["ns"], "name": "t"})
        );
        let guarded = vec![TableRequirement::AssertRefSnapshotId {
            r#ref: "main".into(),
            snapshot_id: 3,
        }];
        let body = commit_body(&commit(guarded, true)).unwrap();
        assert_eq!(
            body["requirements"],
            json!([{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 3}])
        );
        // A commit that leaves main alone (properties, an expiry) gains nothing.
        let body = commit_body(&commit(Vec::new(), false)).unwrap();
        assert_eq!(body["requirements"], json!([]));
    }
}
