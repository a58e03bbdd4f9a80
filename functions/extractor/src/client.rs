//! The source API client: paged GETs with bounded retries and exponential backoff on server
//! errors, throttling and transport failures.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use lakehouse_core::contracts::Mode;
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::warn;

use crate::{Config, ExtractError, Result, auth::IamSigner};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.first_backoff.saturating_mul(1 << attempt.min(16));
        exp.min(self.max_backoff)
    }
}

/// One page as the API sends it; records stay raw JSON so they land byte for byte.
#[derive(Debug, Deserialize)]
pub struct ApiPage {
    pub records: Vec<Box<RawValue>>,
    pub next_cursor: Option<String>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    signer: Option<IamSigner>,
    max_response_bytes: usize,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl ApiClient {
    /// A response's body, read up to the size cap: a body past it fails the run (it is not a
    /// page of this API), a transport error mid-body is for the retry loop (`Ok(Err)`).
    async fn body(
        &self,
        mut response: reqwest::Response,
        url: &str,
    ) -> Result<std::result::Result<Vec<u8>, reqwest::Error>> {
        let cap = self.max_response_bytes;
        let too_big = || {
            ExtractError::LimitReached(format!("a response of more than {cap} bytes from {url}"))
        };
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(too_big());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(Ok(body)),
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    /// A client for the API at `config.api_url`; with a signer, every request is SigV4-signed.
    pub fn new(config: &Config, signer: Option<IamSigner>) -> Result<Self> {
        let base_url = &config.api_url;
        let retry = config.retry.clone();
        let base = base_url.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        let Some(url) = url else {
            return Err(ExtractError::Config(format!(
                "source API URL {base_url:?} must be an http:// or https:// URL"
            )));
        };
        let mut http = reqwest::Client::builder().timeout(retry.request_timeout);
        if let (Some(ip), Some(host)) = (config.resolve, url.host_str()) {
            // Port 0: keep the URL's port.
            http = http.resolve(host, std::net::SocketAddr::new(ip, 0));
        }
        let http = http
            .build()
            .map_err(|e| ExtractError::Config(format!("HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base,
            retry,
            signer,
            max_response_bytes: config.limits.max_response_bytes,
        })
    }

    pub async fn page(
        &self,
        mode: Mode,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ApiPage> {
        let path = match mode {
            Mode::Full => "extract/full",
            Mode::Incremental => "extract/incremental",
        };
        let url = format!("{}/{path}", self.base);
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(s) = since {
            query.push(("since", ts(s)));
        }
        if let Some(u) = until {
            query.push(("until", ts(u)));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let mut attempt = 0;
        loop {
            // Built and signed per attempt: a signature carries its time.
            let mut request = self
                .http
                .get(&url)
                .query(&query)
                .build()
                .map_err(|e| ExtractError::Config(format!("request to {url}: {e}")))?;
            if let Some(signer) = &self.signer {
                signer.sign(&mut request).await?;
            }
            let last = match self.http.execute(request).await {
                Ok(response) if response.status().is_success() => {
                    match self.body(response, &url).await? {
                        Ok(bytes) => {
                            return serde_json::from_slice(&bytes)
                                .map_err(|e| ExtractError::Malformed(format!("{url}: {e}")));
                        }
                        Err(e) => e.to_string(),
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                    {
                        return Err(ExtractError::Rejected {
                            status: status.as_u16(),
                            url,
                            body,
                        });
                    }
                    format!("HTTP {status}: {body}")
                }
                Err(e) => e.to_string(),
            };
            attempt += 1;
            if attempt >= self.retry.max_attempts {
                return Err(ExtractError::Unavailable {
                    attempts: attempt,
                    url,
                    last,
                });
            }
            let wait = self.retry.backoff(attempt - 1);
            warn!(%url, attempt, ?wait, error = %last, "source API call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}
