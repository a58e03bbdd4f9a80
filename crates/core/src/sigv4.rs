//! SigV4 signatures for HTTP APIs other than S3's (object_store signs those itself): the source
//! API behind an AWS_IAM Function URL (`lambda`) and an Iceberg REST catalog (`s3tables`,
//! `glue`). The signing rules of those services apply: the path is encoded twice in the
//! canonical request, as aws-sigv4's defaults do.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;

use crate::{Error, Result};

/// The keys a request is signed with; `session_token` for temporary (role) credentials.
#[derive(Clone, Copy)]
pub struct SigningKeys<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// Where and as whom a request is signed.
#[derive(Clone, Copy)]
pub struct Signing<'a> {
    pub keys: SigningKeys<'a>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

/// Adds a SigV4 signature to a request's `headers` (those of the `http` crate, which reqwest's
/// requests carry): `authorization`, `x-amz-date`, and `x-amz-security-token` for temporary
/// credentials. The signature covers the headers already there; the `host` is taken from `url`.
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &mut http::HeaderMap,
    body: &[u8],
    signing: &Signing<'_>,
) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::Config(format!("SigV4: {e}"));
    let keys = signing.keys;
    let identity: Identity = Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        keys.session_token.map(str::to_owned),
        None,
        "lakehouse",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let own = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new(method, url, own, SignableBody::Bytes(body))
        .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| failed(&e))?
        .into_parts();
    let (new_headers, _) = instructions.into_parts();
    for header in new_headers {
        let name =
            http::HeaderName::from_bytes(header.name().as_bytes()).map_err(|e| failed(&e))?;
        let value = http::HeaderValue::from_str(header.value()).map_err(|e| failed(&e))?;
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "get-vanilla" case of AWS's SigV4 test suite: its fixed keys, date and request
    /// give this exact signature.
    #[test]
    fn signs_the_aws_test_suite_request_as_aws_does() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let signing = Signing {
            keys: SigningKeys {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session_token: None,
            },
            region: "us-east-1",
            service: "service",
            time,
        };
        let mut headers = http::HeaderMap::new();
        sign_request(
            "GET",
            "https://example.amazonaws.com/",
            &mut headers,
            b"",
            &signing,
        )
        .unwrap();
        assert_eq!(
            headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
