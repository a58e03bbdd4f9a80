//! The lake's object storage: a local directory or an S3 bucket, behind one API.
//!
//! Keys are always relative to the lake root (`raw/full/...`, `state/...`); the warehouse for the
//! Iceberg tables sits under `warehouse/`.

use std::{path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, StaticCredentialProvider,
    aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut, S3CopyIfNotExists},
    local::LocalFileSystem,
    path::Path,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Error, Result,
    config::{self, CatalogSettings, S3Settings},
};

/// Where the lake is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// An absolute directory.
    Local(PathBuf),
    /// A bucket and a key prefix (without slashes at either end; may be empty).
    S3 {
        bucket: String,
        prefix: String,
        settings: S3Settings,
    },
}

impl LakeLocation {
    /// Parses `s3://bucket/prefix` or a filesystem path (created if missing).
    pub fn parse(location: &str, settings: S3Settings) -> Result<Self> {
        let location = location.trim();
        if location.is_empty() {
            return Err(Error::Config("the lake location is empty".into()));
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Config(format!(
                    "{location:?} names no bucket: use s3://<bucket>/<prefix>"
                )));
            }
            return Ok(LakeLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                settings,
            });
        }
        if location.contains("://") {
            return Err(Error::Config(format!(
                "{location:?}: only a directory or s3://bucket/prefix is supported"
            )));
        }
        let path = PathBuf::from(location);
        std::fs::create_dir_all(&path).map_err(|e| {
            Error::Config(format!("cannot create lake directory {location:?}: {e}"))
        })?;
        let abs = path.canonicalize().map_err(|e| {
            Error::Config(format!("cannot resolve lake directory {location:?}: {e}"))
        })?;
        Ok(LakeLocation::Local(abs))
    }

    /// The lake location from `LAKEHOUSE_LAKE` (default `./lake`) and the AWS environment.
    pub fn from_env() -> Result<Self> {
        let location =
            config::env_var(config::ENV_LAKE).unwrap_or_else(|| config::DEFAULT_LAKE.into());
        Self::parse(&location, S3Settings::from_env()?)
    }

    /// The URI of a key under the lake, as other engines name it.
    pub fn uri(&self, key: &str) -> String {
        match self {
            LakeLocation::Local(root) => format!("{}/{key}", root.display()),
            LakeLocation::S3 { bucket, prefix, .. } if prefix.is_empty() => {
                format!("s3://{bucket}/{key}")
            }
            LakeLocation::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}/{key}"),
        }
    }

    /// An S3 client builder with the lake's endpoint and the conditional-write settings that
    /// make create-if-absent and Iceberg commits atomic.
    pub fn s3_builder(&self) -> Option<AmazonS3Builder> {
        let LakeLocation::S3 {
            bucket, settings, ..
        } = self
        else {
            return None;
        };
        Some(settings.s3_builder(bucket))
    }
}

impl S3Settings {
    /// An S3 client builder for `bucket` with these settings and the conditional-write
    /// settings that make create-if-absent and Iceberg commits atomic: the lake's bucket, or
    /// the table bucket of a REST catalog.
    pub fn s3_builder(&self, bucket: &str) -> AmazonS3Builder {
        let connection = self.connection();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
            .with_region(connection.region);
        if let Some(endpoint) = connection.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(connection.allow_http)
                .with_virtual_hosted_style_request(false);
        }
        if let Some(keys) = connection.keys {
            // A provider of its own: `from_env` would add the environment's session token.
            builder =
                builder.with_credentials(Arc::new(StaticCredentialProvider::new(AwsCredential {
                    key_id: keys.access_key_id.clone(),
                    secret_key: keys.secret_access_key.clone(),
                    token: None,
                })));
        }
        builder
    }
}

/// The lake: an object store plus the prefix every key lives under.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// `store` itself when the lake is a directory, whose files [`Lake::get`] maps.
    local: Option<Arc<LocalFileSystem>>,
    location: LakeLocation,
    /// The catalog its Iceberg tables are in.
    catalog: CatalogSettings,
}

impl Lake {
    pub fn open(location: LakeLocation) -> Result<Self> {
        let mut local = None;
        let store: Arc<dyn ObjectStore> = match &location {
            LakeLocation::Local(root) => {
                let fs = Arc::new(LocalFileSystem::new_with_prefix(root).map_err(|e| {
                    Error::Config(format!("lake directory {}: {e}", root.display()))
                })?);
                local = Some(fs.clone());
                Arc::new(crate::durable::DurableLocal::new(fs))
            }
            LakeLocation::S3 { .. } => {
                let builder = location
                    .s3_builder()
                    .ok_or_else(|| Error::Config("not an S3 location".into()))?;
                Arc::new(
                    builder
                        .build()
                        .map_err(|e| Error::Config(format!("S3 lake: {e}")))?,
                )
            }
        };
        Ok(Lake {
            store,
            local,
            location,
            catalog: CatalogSettings::File,
        })
    }

    /// The lake, and the catalog, the environment names (`LAKEHOUSE_LAKE`,
    /// `LAKEHOUSE_CATALOG_*`).
    pub fn from_env() -> Result<Self> {
        Ok(Self::open(LakeLocation::from_env()?)?.with_catalog(CatalogSettings::from_env()?))
    }

    /// The lake with its tables in `catalog` (the file catalog under `warehouse/` otherwise).
    pub fn with_catalog(mut self, catalog: CatalogSettings) -> Self {
        self.catalog = catalog;
        self
    }

    pub fn catalog(&self) -> &CatalogSettings {
        &self.catalog
    }

    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The object path of a lake key.
    pub fn path(&self, key: &str) -> Path {
        match &self.location {
            LakeLocation::S3 { prefix, .. } if !prefix.is_empty() => {
                Path::from(format!("{prefix}/{key}"))
            }
            _ => Path::from(key),
        }
    }

    fn store_err(key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        move |source| match source {
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => {
                Error::Conflict(format!("{key} was written by somebody else first"))
            }
            source => Error::Store {
                key: key.to_owned(),
                source,
            },
        }
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map_err(Self::store_err(key))?;
        Ok(())
    }

    /// Writes `key` only if nothing is there yet (If-None-Match on S3, a hard link locally).
    /// Returns [`Error::Conflict`] if the key exists.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<()> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.store
            .put_opts(&self.path(key), PutPayload::from(bytes), opts)
            .await
            .map_err(Self::store_err(key))?;
        Ok(())
    }

    /// Reads `key`, or `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(fs) = &self.local {
            return Self::map_file(fs, &self.path(key)).map_err(Self::store_err(key));
        }
        match self.store.get(&self.path(key)).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(Self::store_err(key))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::store_err(key)(e)),
        }
    }

    /// A file of a directory lake, mapped into memory; `None` if there is none (a directory
    /// is not an object, as `object_store` has it).
    ///
    /// `object_store` reads a local file into a buffer it zeroes first: reading a day-0
    /// batch's 406 MB of raw parts that way was a fifth of the transform's page faults, plus
    /// the copy. A mapping reads the page cache in place, and the bytes are read where they
    /// are used (the transformer checks and parses parts on the blocking pool); opening and
    /// mapping read no data, so they stay on the calling task.
    fn map_file(
        fs: &LocalFileSystem,
        path: &Path,
    ) -> std::result::Result<Option<Bytes>, object_store::Error> {
        let io_error = |source: std::io::Error| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        };
        let file = match std::fs::File::open(fs.path_to_filesystem(path)?) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        if file.metadata().map_err(io_error)?.is_dir() {
            return Ok(None);
        }
        // SAFETY: a mapped file must not change while it is mapped. `LocalFileSystem` never
        // writes a file in place: a put writes a staging file and renames it over the key
        // (or hard-links it, for put-if-absent), and a delete unlinks it, so a mapping keeps
        // the contents it was made with (`a_mapped_read_keeps_its_contents_when_the_key_is_rewritten`).
        // Only a program outside the lake that rewrote or truncated a lake file in place could
        // break that; the lake's files are written through the lake.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?;
        Ok(Some(Bytes::from_owner(map)))
    }

    /// Deletes `key`; a key that is not there is no error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::store_err(key)(e)),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Self::store_err(key)(e)),
        }
    }

    /// Lake keys under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .list_sizes(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Lake keys under `prefix` with their sizes in bytes, sorted by key.
    pub async fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let root = self.path("");
        let strip = if root.as_ref().is_empty() {
            String::new()
        } else {
            format!("{}/", root.as_ref())
        };
        let mut keys: Vec<(String, u64)> = self
            .store
            .list(Some(&self.path(prefix)))
            .map_ok(|meta| {
                let full = meta.location.as_ref();
                let key = full.strip_prefix(strip.as_str()).unwrap_or(full).to_owned();
                (key, meta.size)
            })
            .try_collect()
            .await
            .map_err(Self::store_err(prefix))?;
        keys.sort();
        Ok(keys)
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put(key, to_json(key, value)?).await
    }

    pub async fn put_json_if_absent<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put_if_absent(key, to_json(key, value)?).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Json {
                key: key.to_owned(),
                source,
            })
    }
}

fn to_json<T: Serialize>(key: &str, value: &T) -> Result<Bytes> {
    serde_json::to_vec_pretty(value)
        .map(Bytes::from)
        .map_err(|source| Error::Json {
            key: key.to_owned(),
            source,
        })
}

/// A lake in a new temporary directory, which lives as long as the returned guard.
#[cfg(test)]
pub(crate) fn temp_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let location = LakeLocation::parse(dir.path().to_str().unwrap(), S3Settings::default());
    let lake = Lake::open(location.unwrap()).unwrap();
    (dir, lake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_locations() {
        let loc = LakeLocation::parse("s3://bucket/some/prefix/", S3Settings::default()).unwrap();
        assert_eq!(loc.uri("raw/x.json"), "s3://bucket/some/prefix/raw/x.json");
        let bare = LakeLocation::parse("s3://bucket", S3Settings::default()).unwrap();
        assert_eq!(bare.uri("k"), "s3://bucket/k");
        assert!(LakeLocation::parse("s3:///x", S3Settings::default()).is_err());
        assert!(LakeLocation::parse("gs://bucket", S3Settings::default()).is_err());
        assert!(LakeLocation::parse("  ", S3Settings::default()).is_err());
    }

    #[tokio::test]
    async fn a_mapped_read_keeps_its_contents_when_the_key_is_rewritten() {
        let (_dir, lake) = temp_lake();
        let first = vec![b'a'; 100_000];
        lake.put("raw/part.json", Bytes::from(first.clone()))
            .await
            .unwrap();
        let read = lake.get("raw/part.json").await.unwrap().unwrap();
        // Shorter and different: rewriting the mapped file in place would change `read`, and
        // truncating it would make reading its tail fault.
        lake.put("raw/part.json", Bytes::from_static(b"b"))
            .await
            .unwrap();
        assert_eq!(read, first);
        assert_eq!(lake.get("raw/part.json").await.unwrap().unwrap(), "b");
        lake.object_store()
            .delete(&lake.path("raw/part.json"))
            .await
            .unwrap();
        assert_eq!(read, first);
        assert!(lake.get("raw/part.json").await.unwrap().is_none());

        lake.put("raw/empty.json", Bytes::new()).await.unwrap();
        assert!(
            lake.get("raw/empty.json")
                .await
                .unwrap()
                .unwrap()
                .is_empty()
        );
        assert!(
            lake.get("raw").await.unwrap().is_none(),
            "a directory is not an object"
        );
    }

    #[tokio::test]
    async fn put_if_absent_refuses_a_second_writer() {
        let (_dir, lake) = temp_lake();
        lake.put_if_absent("state/a.json", Bytes::from_static(b"1"))
            .await
            .unwrap();
        let second = lake
            .put_if_absent("state/a.json", Bytes::from_static(b"2"))
            .await;
        assert!(matches!(second, Err(Error::Conflict(_))), "{second:?}");
        assert_eq!(lake.get("state/a.json").await.unwrap().unwrap(), "1");
        assert_eq!(lake.list("state").await.unwrap(), vec!["state/a.json"]);
        assert!(lake.get("missing").await.unwrap().is_none());
    }
}
