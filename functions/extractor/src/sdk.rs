//! The AWS SDK configuration the extractor's AWS clients start from.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The standard AWS configuration chain (environment, profile files, web identity, container
/// and instance metadata), over ring-backed rustls: it is already in the build through the API
/// client, where the SDK's default HTTPS client would bring aws-lc as a second crypto library.
pub(crate) fn loader() -> ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}
