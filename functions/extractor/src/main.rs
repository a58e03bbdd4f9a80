//! Lambda adapter of the extract stage: configuration and clients once per cold start, then
//! the runtime loop over [`extractor::handler`].

// The handler's future (the signed HTTP client, the landing, the metrics wrapper) nests deeper
// than the compiler's default query depth when it computes the runtime loop's layout.
#![recursion_limit = "256"]

use lakehouse_core::{Lake, lease::LeaseConfig};
use lambda_runtime::{Error, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let lease = LeaseConfig::from_env_or(LeaseConfig::default())?;
    let deps =
        extractor::Deps::new(Lake::from_env()?, extractor::Config::from_env()?, lease).await?;
    run(service_fn(|event| extractor::handler(event, &deps))).await
}
