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

pub const DEFAULT_LAKE: &str = "./lake";
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_PAGE_SIZE: usize = 10_000;

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
}

impl S3Settings {
    pub fn from_env() -> Self {
        S3Settings {
            endpoint: env_var(ENV_S3_ENDPOINT)
                .or_else(|| env_var(ENV_AWS_ENDPOINT_S3))
                .or_else(|| env_var(ENV_AWS_ENDPOINT)),
            region: env_var(ENV_AWS_REGION).or_else(|| env_var(ENV_AWS_DEFAULT_REGION)),
        }
    }
}
