//! How the extractor authenticates to the source API.
//!
//! On AWS the mock-api Function URL uses `AuthType: AWS_IAM`, so every call must carry a SigV4
//! signature for the `lambda` service made with the caller's credentials. Locally (the in-process
//! API, LocalStack) the API is open and requests go unsigned.

use std::{str::FromStr, sync::Arc, time::SystemTime};

use aws_config::Region;
use aws_credential_types::{
    Credentials,
    provider::{ProvideCredentials, SharedCredentialsProvider},
};
use lakehouse_core::sigv4::{Signing, SigningKeys, sign_request};
use tokio::sync::Mutex;

use crate::{ExtractError, Result};

/// The signing name of Lambda Function URLs.
const SERVICE: &str = "lambda";
/// Credentials this close to expiry are refreshed before signing.
const REFRESH_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

/// `LAKEHOUSE_API_AUTH`: `none` (default) or `iam`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiAuth {
    #[default]
    None,
    Iam,
}

impl FromStr for ApiAuth {
    type Err = ExtractError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ApiAuth::None),
            "iam" | "aws_iam" => Ok(ApiAuth::Iam),
            other => Err(ExtractError::Config(format!(
                "source API auth {other:?} is unknown: use \"none\" or \"iam\" (SigV4 for an AWS_IAM Function URL)"
            ))),
        }
    }
}

/// Signs requests with SigV4, resolving credentials from the standard AWS chain (environment,
/// profile files, web identity, container and instance metadata) and caching them until they
/// near expiry.
#[derive(Clone)]
pub struct IamSigner {
    provider: SharedCredentialsProvider,
    region: Region,
    cached: Arc<Mutex<Option<Credentials>>>,
}

impl std::fmt::Debug for IamSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamSigner")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamSigner {
    pub fn new(provider: SharedCredentialsProvider, region: Region) -> Self {
        IamSigner {
            provider,
            region,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// Credentials and region as any AWS SDK would find them.
    pub async fn from_environment() -> Result<Self> {
        let sdk = crate::sdk::loader().load().await;
        let region = sdk.region().cloned().ok_or_else(|| {
            ExtractError::Config(
                "LAKEHOUSE_API_AUTH=iam needs a region: set AWS_REGION (the Function URL's region)"
                    .into(),
            )
        })?;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            ExtractError::Config("LAKEHOUSE_API_AUTH=iam: no AWS credentials provider".into())
        })?;
        Ok(IamSigner::new(provider, region))
    }

    async fn credentials(&self) -> Result<Credentials> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_MARGIN)
        };
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let c = self.provider.provide_credentials().await.map_err(|e| {
            ExtractError::Config(format!(
                "LAKEHOUSE_API_AUTH=iam: no AWS credentials found ({e}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
            ))
        })?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Adds the SigV4 headers (`authorization`, `x-amz-date`, and `x-amz-security-token` for
    /// temporary credentials) to a bodiless request.
    pub async fn sign(&self, request: &mut reqwest::Request) -> Result<()> {
        self.sign_at(request, SystemTime::now()).await
    }

    async fn sign_at(&self, request: &mut reqwest::Request, time: SystemTime) -> Result<()> {
        let credentials = self.credentials().await?;
        let signing = Signing {
            keys: SigningKeys {
                access_key_id: credentials.access_key_id(),
                secret_access_key: credentials.secret_access_key(),
                session_token: credentials.session_token(),
            },
            region: self.region.as_ref(),
            service: SERVICE,
            time,
        };
        // Bodiless requests: the copy is empty.
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let (method, url) = (request.method().clone(), request.url().to_string());
        Ok(sign_request(
            method.as_str(),
            &url,
            request.headers_mut(),
            &body,
            &signing,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_names_parse_and_unknown_ones_are_refused() {
        assert_eq!("IAM".parse::<ApiAuth>().unwrap(), ApiAuth::Iam);
        assert_eq!("none".parse::<ApiAuth>().unwrap(), ApiAuth::None);
        let err = "sigv2".parse::<ApiAuth>().unwrap_err();
        assert!(err.to_string().contains("\"iam\""), "{err}");
    }

    #[tokio::test]
    async fn the_signature_covers_host_date_and_session_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let signer = IamSigner::new(
            SharedCredentialsProvider::new(creds),
            Region::new("eu-west-1"),
        );
        let client = reqwest::Client::new();
        let mut request = client
            .get("https://abc.lambda-url.eu-west-1.on.aws/extract/full?limit=5")
            .build()
            .unwrap();
        signer.sign(&mut request).await.unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(request.headers()["x-amz-security-token"], "token");
    }
}
