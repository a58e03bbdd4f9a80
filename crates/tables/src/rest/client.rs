//! The HTTP side of the Iceberg REST catalog: the catalog's prefix, signed requests, and
//! failures classified by status.
//!
//! A 409 is a lost race (retry on a reloaded table); a 5xx, a timeout or a broken connection
//! leaves the outcome unknown (the commit loop reloads and looks for the run's snapshot before
//! it tries again); a 404 is "not found"; any other refusal is final.

use std::{sync::Arc, time::Duration};

use lakehouse_core::{
    config::RestCatalogSettings,
    sigv4::{Signing, SigningKeys, sign_request},
};
use object_store::{CredentialProvider, aws::AwsCredential};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode, Url, header::HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long one catalog call may take before its outcome counts as unknown.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Path segments are percent-encoded except for the characters RFC 3986 leaves unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a failed catalog call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 404: the namespace or table does not exist.
    NotFound,
    /// 409: a requirement failed (another writer committed first) or the entity exists.
    Conflict,
    /// 5xx, a timeout or a lost connection: the call may or may not have taken effect.
    Unknown,
    /// Any other status: the catalog refused the request itself (authorisation, a bad body).
    Refused,
}

/// How far a failed call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The request could not be made (a URL that does not parse, a body that does not encode,
    /// an HTTP client that does not build): the same call fails the same way every time.
    Unmade,
    /// Made, but no whole answer came back: no credentials to sign with yet, a lost
    /// connection, a timeout, an answer cut short.
    Interrupted,
    /// The catalog answered with this status.
    Status(u16),
}

/// A failed call to the REST catalog.
#[derive(Debug, thiserror::Error)]
#[error("REST catalog: {method} {path}: {}{message}", answered(.reached))]
pub struct RestError {
    pub reached: Reached,
    pub method: Method,
    pub path: String,
    pub message: String,
}

/// "HTTP 409: " before the message of a call the catalog answered.
fn answered(reached: &Reached) -> String {
    match reached {
        Reached::Status(status) => format!("HTTP {status}: "),
        Reached::Unmade | Reached::Interrupted => String::new(),
    }
}

impl RestError {
    /// The status the catalog answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self.reached {
            Reached::Status(status) => Some(status),
            Reached::Unmade | Reached::Interrupted => None,
        }
    }

    pub fn failure(&self) -> Failure {
        match self.reached {
            Reached::Status(404) => Failure::NotFound,
            Reached::Status(409) => Failure::Conflict,
            Reached::Interrupted => Failure::Unknown,
            Reached::Status(status) if status >= 500 || status == 408 || status == 429 => {
                Failure::Unknown
            }
            Reached::Unmade | Reached::Status(_) => Failure::Refused,
        }
    }

    /// Whether the same call may pass later, on a reloaded table.
    pub fn may_pass(&self) -> bool {
        matches!(self.failure(), Failure::Conflict | Failure::Unknown)
    }
}

type Credentials = Arc<dyn CredentialProvider<Credential = AwsCredential>>;

/// Signs requests for a SigV4 service with credentials asked of the provider on every call,
/// so keys that rotate (a role's) are always current; the provider caches them meanwhile.
struct Signer {
    service: String,
    region: String,
    credentials: Credentials,
}

/// A client of one catalog: base URL, prefix and signing.
pub struct RestClient {
    http: reqwest::Client,
    /// `{base}/v1` and the prefix, without a trailing slash.
    root: String,
    signer: Option<Signer>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("root", &self.root)
            .field("signed_for", &self.signer.as_ref().map(|s| &s.service))
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// Connects to the catalog and resolves its prefix for the warehouse: the server's
    /// `GET /v1/config?warehouse=` names it (`overrides.prefix`) where it offers one, already in
    /// URL form (Glue's `catalogs/<account>` keeps its slash). A catalog without that endpoint
    /// gets the warehouse itself as one encoded path segment (S3 Tables' bucket ARN).
    pub async fn connect(
        settings: &RestCatalogSettings,
        credentials: Credentials,
    ) -> Result<(Self, Option<String>), RestError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| RestError {
                reached: Reached::Unmade,
                method: Method::GET,
                path: settings.uri.clone(),
                message: e.to_string(),
            })?;
        let signer = settings.signing_name.as_ref().map(|service| Signer {
            service: service.clone(),
            region: settings.s3.region().to_owned(),
            credentials,
        });
        let mut client = RestClient {
            http,
            root: format!("{}/v1", settings.uri),
            signer,
        };
        let mut url = Url::parse(&format!("{}/config", client.root)).map_err(|e| RestError {
            reached: Reached::Unmade,
            method: Method::GET,
            path: settings.uri.clone(),
            message: format!("not a URL: {e}"),
        })?;
        url.query_pairs_mut()
            .append_pair("warehouse", &settings.warehouse);
        let config: Option<Value> = match client.call(Method::GET, url, None).await {
            Ok(config) => Some(config),
            Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 501)) => None,
            Err(e) => return Err(e),
        };
        let setting = |name: &str| {
            config.as_ref().and_then(|c| {
                c.pointer(&format!("/overrides/{name}"))
                    .or_else(|| c.pointer(&format!("/defaults/{name}")))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        };
        let prefix = setting("prefix")
            .unwrap_or_else(|| utf8_percent_encode(&settings.warehouse, SEGMENT).to_string());
        client.root = format!("{}/{}", client.root, prefix.trim_matches('/'));
        Ok((client, setting("warehouse")))
    }

    /// The URL of a path under the prefix, each segment encoded.
    pub fn url(&self, segments: &[&str]) -> Result<Url, RestError> {
        let mut url = self.root.clone();
        for segment in segments {
            url.push('/');
            url.extend(utf8_percent_encode(segment, SEGMENT));
        }
        Url::parse(&url).map_err(|e| RestError {
            reached: Reached::Unmade,
            method: Method::GET,
            path: url,
            message: format!("not a URL: {e}"),
        })
    }

    /// Sends a request and reads its JSON answer (`null` for an empty one).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, RestError> {
        let path = url.path().to_owned();
        let failed = |reached: Reached, message: String| RestError {
            reached,
            method: method.clone(),
            path: path.clone(),
            message,
        };
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| failed(Reached::Unmade, e.to_string()))?
            .unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), url)
            .build()
            .map_err(|e| failed(Reached::Unmade, e.to_string()))?;
        if !body.is_empty() {
            request
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        }
        self.sign(&mut request, &body)
            .await
            .map_err(|e| failed(Reached::Interrupted, e))?;
        *request.body_mut() = Some(body.into());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| failed(Reached::Interrupted, format!("{e} (outcome unknown)")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(Reached::Interrupted, format!("{e} (outcome unknown)")))?;
        if !status.is_success() {
            return Err(failed(
                Reached::Status(status.as_u16()),
                error_message(status, &bytes),
            ));
        }
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| {
            failed(
                Reached::Status(status.as_u16()),
                format!("unexpected answer: {e}"),
            )
        })
    }

    async fn sign(&self, request: &mut reqwest::Request, body: &[u8]) -> Result<(), String> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        let keys = signer
            .credentials
            .get_credential()
            .await
            .map_err(|e| format!("no credentials to sign with: {e}"))?;
        let signing = Signing {
            keys: SigningKeys {
                access_key_id: &keys.key_id,
                secret_access_key: &keys.secret_key,
                session_token: keys.token.as_deref(),
            },
            region: &signer.region,
            service: &signer.service,
            time: std::time::SystemTime::now(),
        };
        let (method, url) = (request.method().clone(), request.url().to_string());
        sign_request(method.as_str(), &url, request.headers_mut(), body, &signing)
            .map_err(|e| e.to_string())
    }
}

/// The server's own words for a failure: the REST protocol's `{"error": {"message", "type"}}`
/// where it sends one, else the body as text.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    match (field("type"), field("message")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ if body.is_empty() => status.canonical_reason().unwrap_or("no body").to_owned(),
        _ => String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(reached: Reached) -> RestError {
        RestError {
            reached,
            method: Method::POST,
            path: "/v1/b/namespaces/ns/tables/t".into(),
            message: String::new(),
        }
    }

    #[test]
    fn statuses_are_classified_by_what_a_retry_can_change() {
        use Reached::*;
        assert_eq!(error(Status(404)).failure(), Failure::NotFound);
        assert_eq!(error(Status(409)).failure(), Failure::Conflict);
        let unknown = [
            Interrupted,
            Status(500),
            Status(502),
            Status(503),
            Status(429),
        ];
        for reached in unknown {
            assert_eq!(error(reached).failure(), Failure::Unknown, "{reached:?}");
            assert!(error(reached).may_pass());
        }
        // A request that cannot be made is not retried: a misconfigured catalog URI surfaces
        // at once instead of after the state machine's retries.
        let refused = [Unmade, Status(400), Status(401), Status(403), Status(422)];
        for reached in refused {
            assert_eq!(error(reached).failure(), Failure::Refused, "{reached:?}");
            assert!(!error(reached).may_pass());
        }
        assert!(error(Status(409)).may_pass());
        assert!(!error(Status(404)).may_pass());
        assert_eq!(error(Status(403)).status(), Some(403));
        assert_eq!(error(Interrupted).status(), None);
    }

    #[test]
    fn the_server_s_error_is_quoted() {
        let body = br#"{"error":{"message":"branch main has changed","type":"CommitFailedException","code":409}}"#;
        assert_eq!(
            error_message(StatusCode::CONFLICT, body),
            "CommitFailedException: branch main has changed"
        );
        assert_eq!(error_message(StatusCode::FORBIDDEN, b""), "Forbidden");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b"<html>"), "<html>");
    }
}
