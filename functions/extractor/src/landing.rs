//! Where raw parts land, and who checks them on the way.
//!
//! On S3 a part goes up with `PutObject` carrying the CRC-64/NVME its manifest records
//! (`x-amz-checksum-crc64nvme`). S3 computes the checksum of the body it received and refuses the
//! part (`BadDigest`) when the two differ, so a part damaged between the extractor's memory and
//! the bucket is never stored; and S3 keeps that same checksum with the object, where any tool
//! can ask for it (`HeadObject` with `ChecksumMode=ENABLED`). object_store, through which the
//! lake reads and writes everything else, can only send SHA-256, so parts on S3 go through
//! aws-sdk-s3. A local directory has nobody to check on the way: the part is written through the
//! lake's object store and its checksum is verified when the transformer reads it, as on S3.

use aws_config::Region;
use aws_sdk_s3::{
    config::Credentials, error::DisplayErrorContext, error::SdkError, primitives::ByteStream,
};
use bytes::Bytes;
use lakehouse_core::{Lake, checksum::Checksum, store::LakeLocation};

use crate::{ExtractError, Result, sdk};

/// How parts are written to the lake.
#[derive(Debug, Clone)]
pub enum Landing {
    /// Through the lake's object store (a local directory).
    Lake,
    /// `PutObject` with the part's checksum, for S3 to verify.
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

impl Landing {
    /// The landing for the lake at `location`: on S3, a client that connects as the lake's
    /// object store does ([`lakehouse_core::config::S3Connection`]).
    pub async fn for_lake(location: &LakeLocation) -> Self {
        let LakeLocation::S3 {
            bucket, settings, ..
        } = location
        else {
            return Landing::Lake;
        };
        let connection = settings.connection();
        let sdk = sdk::loader()
            .region(Region::new(connection.region.to_owned()))
            .load()
            .await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk);
        if let Some(endpoint) = connection.endpoint {
            // The SDK speaks plain HTTP to an http:// endpoint by itself.
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        if let Some(keys) = connection.keys {
            config = config.credentials_provider(Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                None,
                None,
                "lakehouse-lake-keys",
            ));
        }
        Landing::S3 {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.clone(),
        }
    }

    /// Writes a part under the lake key `key`; on S3 the write fails unless the body S3 received
    /// has `checksum`.
    pub async fn put(
        &self,
        lake: &Lake,
        key: &str,
        body: Bytes,
        checksum: &Checksum,
    ) -> Result<()> {
        let (client, bucket) = match self {
            Landing::Lake => return Ok(lake.put(key, body).await?),
            Landing::S3 { client, bucket } => (client, bucket),
        };
        let mut request = client
            .put_object()
            .bucket(bucket)
            .key(lake.path(key).to_string())
            .body(ByteStream::from(body));
        if let Some(crc) = checksum.crc64nvme() {
            request = request.checksum_crc64_nvme(crc);
        }
        request.send().await.map_err(|e| refused(bucket, key, e))?;
        Ok(())
    }
}

/// S3 codes that a later attempt of the same upload may get past: the body was damaged on the
/// way (`BadDigest`), throttling, or the server's own trouble.
const TRANSIENT: [&str; 5] = [
    "BadDigest",
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
];

fn refused<E, R>(bucket: &str, key: &str, error: SdkError<E, R>) -> ExtractError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, retryable) = match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("").to_owned();
            let retryable = TRANSIENT.contains(&code.as_str());
            (code, retryable)
        }
        // Not sent, or no answer: a timeout or a broken connection may pass.
        SdkError::ConstructionFailure(_) => (String::new(), false),
        _ => (String::new(), true),
    };
    let hint = match code.as_str() {
        "NoSuchBucket" => format!(": create bucket {bucket:?} first, the lake does not create it"),
        "BadDigest" => ": the part S3 received does not have the checksum sent with it".into(),
        _ => String::new(),
    };
    ExtractError::Landing {
        key: key.to_owned(),
        message: format!("{}{hint}", DisplayErrorContext(&error)),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::{error::ErrorMetadata, operation::put_object::PutObjectError};
    use lakehouse_core::ErrorKind;

    use super::*;

    fn answered(code: &str) -> SdkError<PutObjectError, ()> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("as S3 says")
            .build();
        SdkError::service_error(PutObjectError::generic(meta), ())
    }

    #[test]
    fn s3_answers_choose_the_error_kind_and_a_missing_bucket_says_what_to_do() {
        let missing = refused("lake", "raw/p.json", answered("NoSuchBucket"));
        assert_eq!(missing.kind(), ErrorKind::InvalidInput);
        let text = missing.to_string();
        assert!(
            text.contains("raw/p.json") && text.contains("create bucket \"lake\" first"),
            "{text}"
        );
        for (error, kind) in [
            (answered("AccessDenied"), ErrorKind::InvalidInput),
            (answered("BadDigest"), ErrorKind::Retryable),
            (answered("SlowDown"), ErrorKind::Retryable),
            (answered("InternalError"), ErrorKind::Retryable),
            (SdkError::timeout_error("no answer"), ErrorKind::Retryable),
            (
                SdkError::construction_failure("bad key"),
                ErrorKind::InvalidInput,
            ),
        ] {
            let err = refused("lake", "raw/p.json", error);
            assert_eq!(err.kind(), kind, "{err}");
        }
    }
}
