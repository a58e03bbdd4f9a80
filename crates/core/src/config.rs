//! Typed configuration, read once from the environment at start-up.
//!
//! The AWS SDKs' own variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials) select LocalStack,
//! an S3 server or AWS: no stage branches on "local". The names below are the ones documented
//! in the README's configuration table.

use std::time::Duration;

use crate::{Error, Result};

/// Where the lake lives: a directory (`./lake`) or `s3://bucket/prefix`.
pub const ENV_LAKE: &str = "LAKEHOUSE_LAKE";
/// An S3 endpoint for the lake only, overriding `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`.
pub const ENV_S3_ENDPOINT: &str = "LAKEHOUSE_S3_ENDPOINT";
/// Credentials for the lake's S3 server only, used instead of the AWS credential chain. For an S3
/// server outside AWS (MinIO, SeaweedFS) whose keys differ from those the process gets from AWS
/// or LocalStack (a Lambda's role credentials, say). Both or neither.
pub const ENV_S3_ACCESS_KEY_ID: &str = "LAKEHOUSE_S3_ACCESS_KEY_ID";
pub const ENV_S3_SECRET_ACCESS_KEY: &str = "LAKEHOUSE_S3_SECRET_ACCESS_KEY";
/// The base URL of an Iceberg REST catalog for the tables (S3 Tables, Glue, SeaweedFS, Polaris,
/// ...). Unset, the tables stay in the file catalog under the lake's `warehouse/`.
pub const ENV_CATALOG_URI: &str = "LAKEHOUSE_CATALOG_URI";
/// The REST catalog's warehouse: a table bucket `s3://name`, an S3 Tables bucket ARN or a Glue
/// catalog id, resolved to the catalog's prefix through its `GET /v1/config`.
pub const ENV_CATALOG_WAREHOUSE: &str = "LAKEHOUSE_CATALOG_WAREHOUSE";
/// The SigV4 service name the REST catalog's requests are signed for (`s3tables`, `glue`), or
/// `none` (the default) for unsigned requests.
pub const ENV_CATALOG_SIGV4: &str = "LAKEHOUSE_CATALOG_SIGV4";
/// Standard AWS variables read when the lake is on S3.
pub const ENV_AWS_ENDPOINT_S3: &str = "AWS_ENDPOINT_URL_S3";
pub const ENV_AWS_ENDPOINT: &str = "AWS_ENDPOINT_URL";
pub const ENV_AWS_REGION: &str = "AWS_REGION";
pub const ENV_AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Base URL of the source API the extractor reads.
pub const ENV_API_URL: &str = "LAKEHOUSE_API_URL";
/// `none` (default) or `iam`: SigV4-sign calls to the source API (an AWS_IAM Function URL).
pub const ENV_API_AUTH: &str = "LAKEHOUSE_API_AUTH";
/// An IP address the source API's host name resolves to, bypassing DNS (LocalStack's Function
/// URLs are `*.localhost.localstack.cloud` names that need public DNS).
pub const ENV_API_RESOLVE: &str = "LAKEHOUSE_API_RESOLVE";
/// Seconds re-read before the watermark on incremental loads, for late updates.
pub const ENV_OVERLAP_SECONDS: &str = "LAKEHOUSE_OVERLAP_SECONDS";
/// Records requested per API page.
pub const ENV_PAGE_SIZE: &str = "LAKEHOUSE_PAGE_SIZE";

/// Seconds a run's claim on the lake's lease lasts unless renewed (the holder renews it every
/// third of that while it works).
pub const ENV_LEASE_SECONDS: &str = "LAKEHOUSE_LEASE_SECONDS";
/// Seconds a run waits for a lease another run holds before it ends with `LakeBusy`.
pub const ENV_LEASE_WAIT_SECONDS: &str = "LAKEHOUSE_LEASE_WAIT_SECONDS";

pub const DEFAULT_LAKE: &str = "./lake";
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_PAGE_SIZE: usize = 10_000;
/// The region S3 requests are signed for when none is set: S3 servers other than AWS accept
/// any, and AWS S3 redirects a request signed for the wrong one.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// Reads an environment variable, treating an empty value as absent.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Parses an optional numeric variable, naming it in the error.
pub fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    env_var(name)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| Error::Config(format!("{name}={v:?} is not a valid number")))
        })
        .transpose()
}

/// The S3 connection settings the lake needs beyond the AWS SDK defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Lake-specific keys; `None` means the standard AWS credential chain.
    pub credentials: Option<LakeCredentials>,
}

/// A static key pair for the lake's S3 server. Debug output hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct LakeCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for LakeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// How a client reaches the lake's S3 server: the rules decided once, here, and applied by
/// each client library the project uses (object_store for the lake and the tables, aws-sdk-s3
/// for the extractor's checksummed parts), so the two never address or sign differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Connection<'a> {
    /// The region requests are signed for.
    pub region: &'a str,
    /// A server other than AWS (SeaweedFS, MinIO, LocalStack): they want path-style URLs, so
    /// a client given an endpoint never puts the bucket in the host name.
    pub endpoint: Option<&'a str>,
    /// Plain HTTP is allowed only to an `http://` endpoint.
    pub allow_http: bool,
    /// Keys of the lake's own server, sent without a session token: a Lambda's role session
    /// (`AWS_SESSION_TOKEN`) belongs to AWS, not to that server. `None`: the standard chain.
    pub keys: Option<&'a LakeCredentials>,
}

impl S3Settings {
    /// The region to sign the lake's requests for.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_S3_REGION)
    }

    /// How every client of the lake's S3 server connects.
    pub fn connection(&self) -> S3Connection<'_> {
        let endpoint = self.endpoint.as_deref();
        S3Connection {
            region: self.region(),
            endpoint,
            allow_http: endpoint.is_some_and(|e| e.starts_with("http://")),
            keys: self.credentials.as_ref(),
        }
    }

    pub fn from_env() -> Result<Self> {
        Ok(S3Settings {
            endpoint: env_var(ENV_S3_ENDPOINT)
                .or_else(|| env_var(ENV_AWS_ENDPOINT_S3))
                .or_else(|| env_var(ENV_AWS_ENDPOINT)),
            region: env_var(ENV_AWS_REGION).or_else(|| env_var(ENV_AWS_DEFAULT_REGION)),
            credentials: LakeCredentials::pair(
                env_var(ENV_S3_ACCESS_KEY_ID),
                env_var(ENV_S3_SECRET_ACCESS_KEY),
            )?,
        })
    }
}

/// Which catalog the Iceberg tables are in: chosen once, when the warehouse is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CatalogSettings {
    /// Metadata files and `version-hint.text` under the lake's `warehouse/`.
    #[default]
    File,
    Rest(RestCatalogSettings),
}

/// An Iceberg REST catalog, and the S3 settings its tables' files are read and written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestCatalogSettings {
    /// The base URL, without the `/v1` the protocol's paths start with.
    pub uri: String,
    pub warehouse: String,
    /// The SigV4 service name, or `None` for unsigned requests.
    pub signing_name: Option<String>,
    /// Endpoint, region (also the signing region) and credentials: the lake's own S3 settings.
    pub s3: S3Settings,
}

impl CatalogSettings {
    /// Whether the catalog removes its tables' unreferenced files itself, so maintenance must
    /// not try: an S3 Tables table bucket (warehouse `arn:<partition>:s3tables:...`) serves no
    /// object listing or deletion through the S3 API, and its own unreferenced-file removal
    /// deletes what no snapshot reaches.
    pub fn removes_unreferenced_files(&self) -> bool {
        let CatalogSettings::Rest(rest) = self else {
            return false;
        };
        let mut arn = rest.warehouse.trim().split(':');
        arn.next() == Some("arn") && arn.nth(1) == Some("s3tables")
    }

    pub fn from_env() -> Result<Self> {
        Self::from_parts(
            env_var(ENV_CATALOG_URI),
            env_var(ENV_CATALOG_WAREHOUSE),
            env_var(ENV_CATALOG_SIGV4),
            S3Settings::from_env()?,
        )
    }

    /// The settings from their three values (variables or CLI flags): no URI means the file
    /// catalog, and the other two without one are a mistake, not something to ignore.
    pub fn from_parts(
        uri: Option<String>,
        warehouse: Option<String>,
        sigv4: Option<String>,
        s3: S3Settings,
    ) -> Result<Self> {
        let Some(uri) = uri.map(|u| u.trim().trim_end_matches('/').to_owned()) else {
            if warehouse.is_some() || sigv4.is_some() {
                return Err(Error::Config(format!(
                    "{ENV_CATALOG_WAREHOUSE} or {ENV_CATALOG_SIGV4} is set without {ENV_CATALOG_URI}: \
                     set the REST catalog's URL too, or neither for the file catalog"
                )));
            }
            return Ok(CatalogSettings::File);
        };
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(Error::Config(format!(
                "{ENV_CATALOG_URI}={uri:?} is not an http(s) URL"
            )));
        }
        let warehouse = warehouse.map(|w| w.trim().to_owned()).ok_or_else(|| {
            Error::Config(format!(
                "{ENV_CATALOG_URI} is set but {ENV_CATALOG_WAREHOUSE} is not: name the warehouse \
                 (a table bucket s3://name, an S3 Tables bucket ARN, a Glue catalog id)"
            ))
        })?;
        let signing_name = match sigv4.map(|s| s.trim().to_ascii_lowercase()) {
            None => None,
            Some(none) if none == "none" => None,
            Some(name)
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Some(name)
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "{ENV_CATALOG_SIGV4}={other:?} is not a SigV4 service name (s3tables, glue) or \"none\""
                )));
            }
        };
        Ok(CatalogSettings::Rest(RestCatalogSettings {
            uri,
            warehouse,
            signing_name,
            s3,
        }))
    }
}

impl LakeCredentials {
    /// Both halves or neither: half a key pair would silently fall back to other credentials.
    pub fn pair(key_id: Option<String>, secret: Option<String>) -> Result<Option<Self>> {
        match (key_id, secret) {
            (None, None) => Ok(None),
            (Some(access_key_id), Some(secret_access_key)) => Ok(Some(LakeCredentials {
                access_key_id,
                secret_access_key,
            })),
            (Some(_), None) => Err(Error::Config(format!(
                "{ENV_S3_ACCESS_KEY_ID} is set but {ENV_S3_SECRET_ACCESS_KEY} is not: set both or neither"
            ))),
            (None, Some(_)) => Err(Error::Config(format!(
                "{ENV_S3_SECRET_ACCESS_KEY} is set but {ENV_S3_ACCESS_KEY_ID} is not: set both or neither"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_connects_to_aws_or_to_an_endpoint_by_the_same_rules() {
        let aws = S3Settings::default();
        assert_eq!(
            aws.connection(),
            S3Connection {
                region: DEFAULT_S3_REGION,
                endpoint: None,
                allow_http: false,
                keys: None,
            }
        );
        let keys = LakeCredentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        let local = S3Settings {
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: Some("eu-west-1".into()),
            credentials: Some(keys.clone()),
        };
        assert_eq!(
            local.connection(),
            S3Connection {
                region: "eu-west-1",
                endpoint: Some("http://127.0.0.1:8333"),
                allow_http: true,
                keys: Some(&keys),
            }
        );
        let tls = S3Settings {
            endpoint: Some("https://s3.example".into()),
            ..S3Settings::default()
        };
        assert!(!tls.connection().allow_http);
    }

    #[test]
    fn only_an_s3_tables_warehouse_removes_its_own_files() {
        let rest = |warehouse: &str| {
            CatalogSettings::Rest(RestCatalogSettings {
                uri: "https://catalog.example".into(),
                warehouse: warehouse.into(),
                signing_name: None,
                s3: S3Settings::default(),
            })
        };
        for s3_tables in [
            "arn:aws:s3tables:eu-west-1:123456789012:bucket/lakehouse",
            "arn:aws-cn:s3tables:cn-north-1:123456789012:bucket/lakehouse",
        ] {
            assert!(rest(s3_tables).removes_unreferenced_files(), "{s3_tables}");
        }
        for other in [
            "s3://lakehouse-tables",
            "123456789012",
            "arn:aws:s3:::s3tables",
            "arn:aws:glue:eu-west-1:123456789012:catalog",
        ] {
            assert!(!rest(other).removes_unreferenced_files(), "{other}");
        }
        assert!(!CatalogSettings::File.removes_unreferenced_files());
    }

    #[test]
    fn lake_credentials_come_in_pairs() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(LakeCredentials::pair(None, None).unwrap(), None);
        let both = LakeCredentials::pair(some("k"), some("s"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (both.access_key_id.as_str(), both.secret_access_key.as_str()),
            ("k", "s")
        );
        let half = LakeCredentials::pair(some("k"), None)
            .unwrap_err()
            .to_string();
        assert!(half.contains(ENV_S3_SECRET_ACCESS_KEY), "{half}");
        let other_half = LakeCredentials::pair(None, some("s"))
            .unwrap_err()
            .to_string();
        assert!(other_half.contains(ENV_S3_ACCESS_KEY_ID), "{other_half}");
    }

    #[test]
    fn the_catalog_is_the_file_catalog_unless_a_rest_url_is_given() {
        let some = |s: &str| Some(s.to_owned());
        let parts = |uri, warehouse, sigv4| {
            CatalogSettings::from_parts(uri, warehouse, sigv4, S3Settings::default())
        };
        assert_eq!(parts(None, None, None).unwrap(), CatalogSettings::File);
        let CatalogSettings::Rest(rest) = parts(
            some("http://127.0.0.1:8181/"),
            some("s3://tables"),
            some("S3Tables"),
        )
        .unwrap() else {
            panic!("a URL selects the REST catalog")
        };
        assert_eq!(rest.uri, "http://127.0.0.1:8181");
        assert_eq!(rest.signing_name.as_deref(), Some("s3tables"));
        let unsigned = parts(some("https://c"), some("w"), some("none")).unwrap();
        assert!(matches!(unsigned, CatalogSettings::Rest(r) if r.signing_name.is_none()));
        for (uri, warehouse, sigv4, names) in [
            (None, some("s3://tables"), None, ENV_CATALOG_URI),
            (None, None, some("glue"), ENV_CATALOG_URI),
            (some("https://c"), None, None, ENV_CATALOG_WAREHOUSE),
            (some("c:8181"), some("w"), None, ENV_CATALOG_URI),
            (
                some("https://c"),
                some("w"),
                some("s3 tables"),
                ENV_CATALOG_SIGV4,
            ),
        ] {
            let err = parts(uri, warehouse, sigv4).unwrap_err().to_string();
            assert!(err.contains(names), "{err}");
        }
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let creds = LakeCredentials {
            access_key_id: "key".into(),
            secret_access_key: "hunter2".into(),
        };
        let shown = format!(
            "{:?}",
            S3Settings {
                credentials: Some(creds),
                ..Default::default()
            }
        );
        assert!(
            shown.contains("key") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
