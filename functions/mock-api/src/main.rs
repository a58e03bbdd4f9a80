//! Lambda adapter of the source API: the same axum router, behind a Function URL.

use std::sync::Arc;

use lambda_http::{Error, run, tracing};
use mock_api::{SourceState, router};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let state = Arc::new(SourceState::from_env()?);
    run(router(state)).await
}
